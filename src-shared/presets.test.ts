/** @file Every preset's config list passes the config-list parser of its mode. */
import { describe, expect, it } from 'vitest';
import { parseConfigList } from './config/index.ts';
import { DISTILLATION_PRESETS, PRUNING_PRESETS, QUANTIZATION_PRESETS } from './presets.ts';

describe('presets', () => {
  it.each(PRUNING_PRESETS.map((p) => [p.id, p] as const))('pruning preset %s parses', (_id, p) => {
    expect(() => parseConfigList(p.configList, 'pruning')).not.toThrow();
  });
  it.each(QUANTIZATION_PRESETS.map((p) => [p.id, p] as const))('quantization preset %s parses', (_id, p) => {
    expect(() => parseConfigList(p.configList, 'quantization')).not.toThrow();
  });
  it.each(DISTILLATION_PRESETS.map((p) => [p.id, p] as const))('distillation preset %s parses', (_id, p) => {
    expect(() => parseConfigList(p.configList, 'distillation')).not.toThrow();
  });
});
