/**
 * @file The public speedup API: ModelSpeedup's report and verification, the CLI command, automatic dependency
 * groups and the "auto" config rewrite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Value } from '../../src-main/core/ir/index.ts';
import { PROPAGATION_RULES, registerPropagationRule } from '../../src-main/core/compress/dependency/index.ts';
import { autoDependencyGroups, resolveAutoDependencyGroups } from '../../src-main/core/compress/pruning/index.ts';
import { SpeedupVerificationError } from '../../src-main/core/compress/speedup/index.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { runModel, sampleInputs } from '../../src-main/node/runtime/index.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { speedupCommand } from '../../src-main/node/cli/speedup.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';
import { Builder, pruneChannels, randomTensorFor, shapesOf } from './helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'speedup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function smallNet(seed = 1) {
  const b = new Builder(seed);
  const r1 = b.op('Relu', 'relu1', [b.conv('conv1', b.input('input', [1, 3, 16, 16]), 16, 3)]);
  const r2 = b.op('Relu', 'relu2', [b.conv('conv2', r1, 16, 16)]);
  const flat = b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [r2])]);
  return b.output(b.gemm('fc', flat, 10, 16), [1, 10]);
}

describe('ModelSpeedup', () => {
  it('returns the compact model and a full report, leaving the input model untouched', async () => {
    const model = smallNet();
    const weight = model.graph.node('conv1')!.input(1)!.initializer;
    const masks = pruneChannels(
      pruneChannels(new Map(), model, 'conv1', [0, 1, 2, 3, 4, 5, 6, 7]),
      model,
      'conv2',
      [8, 9, 10, 11],
    );
    const input = randomTensorFor([1, 3, 16, 16]);
    const { model: compact, report } = await new ModelSpeedup(model, masks, {
      dummyInput: input,
      roundTo: 4,
      benchmark: { runs: 5, warmup: 1 },
    }).speedupModel();
    expect(model.graph.node('conv1')!.input(1)!.initializer).toBe(weight);
    expect(compact.graph.node('conv1')!.input(1)!.initializer!.dims).toEqual([8, 3, 3, 3]);
    expect(report.before.params).toBeGreaterThan(report.after.params);
    expect(report.macRatio).toBeCloseTo(report.after.macs / report.before.macs);
    expect(report.latencyRatio).toBeGreaterThan(0);
    expect(report.before.latencyMs).toBeGreaterThan(0);
    expect(report.latency!.threads).toBe(1);
    expect(report.verification).toMatchObject({ samples: 3, tolerance: 1e-4, reference: 'simulate' });
    expect(report.verification.maxRelErr).toBeLessThan(1e-4);
    expect(report.layers.find((l) => l.node === 'conv2')).toMatchObject({
      channelsBefore: 16,
      channelsAfter: 12,
      requested: 4,
      removedRequested: 4,
    });
    expect(report.roundTo).toBe(4);
    expect(report.timings.speedupMs).toBeGreaterThan(0);
  });

  it('refuses a compact model that does not match the masked one (SpeedupVerificationError)', async () => {
    const b = new Builder(2);
    const r1 = b.op('Relu', 'relu1', [b.conv('conv1', b.input('input', [1, 3, 8, 8]), 4, 3)]);
    const sm = b.op('Softmax', 'softmax', [r1], { axis: { type: 'int', value: 1 } });
    const model = b.output(
      b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [b.conv('conv2', sm, 4, 4)])]),
      [1, 4],
    );
    const masks = pruneChannels(new Map(), model, 'conv1', [1]);
    // honest rules keep the channel (Softmax normalises over it): exact
    const ok = await new ModelSpeedup(model, masks, { benchmark: false }).speedupModel();
    expect(ok.model.graph.node('conv1')!.input(1)!.initializer!.dims[0]).toBe(4);
    // a wrong custom rule that lets the channel through is caught
    const honest = PROPAGATION_RULES.Softmax!;
    registerPropagationRule('Softmax', {
      propagate: (ctx) => ctx.axes(0).forEach((atoms, axis) => ctx.setAxis(0, axis, atoms)),
      constant: (ctx) => ctx.outAxes(0).forEach((_, axis) => ctx.setConst(0, axis, ctx.consts(0, axis)!)),
    });
    try {
      await expect(new ModelSpeedup(model, masks, { benchmark: false }).speedupModel()).rejects.toBeInstanceOf(
        SpeedupVerificationError,
      );
    } finally {
      registerPropagationRule('Softmax', honest);
    }
  });
});

describe('speedupCommand', () => {
  it('writes compact.onnx and the flat JSON the CLI prints', async () => {
    const model = smallNet(3);
    const masks = pruneChannels(new Map(), model, 'conv1', [0, 2, 4, 6, 8, 10, 12, 14, 15]);
    const { json, text, path } = await speedupCommand({
      model,
      masks,
      out: tmp,
      roundTo: 8,
      benchmark: { runs: 3, warmup: 1 },
    });
    expect(path).toBe(join(tmp, 'compact.onnx'));
    for (const k of [
      'params_before',
      'params_after',
      'macs_before',
      'macs_after',
      'latency_before_ms',
      'latency_after_ms',
      'max_rel_err',
    ])
      expect(typeof (json as unknown as Record<string, unknown>)[k]).toBe('number');
    expect(json.params_after).toBeLessThan(json.params_before);
    expect(JSON.parse(JSON.stringify(json)).report.verification.maxRelErr).toBe(json.max_rel_err);
    expect(text).toMatch(/MACs .* → /);
    const reloaded = loadModelFile(path);
    const out = await runModel(reloaded, sampleInputs(reloaded, { seed: 1 }));
    expect(Object.values(out)[0]!.dims).toEqual([1, 10]);
  });
});

describe('automatic dependency groups', () => {
  it('resnet18: a stage residual stream is one aligned group; the classifier is left out of "auto" configs', async () => {
    const model = loadCorpusModel('resnet18_op17_b1', 0);
    const shapes = await shapesOf(model);
    const groups = autoDependencyGroups(model, shapes);
    const stream = groups.find((g) => g.members.some((m) => m.node === '/layer1/layer1.0/conv2/Conv'))!;
    expect(stream.members.map((m) => m.node).sort()).toEqual([
      '/conv1/Conv',
      '/layer1/layer1.0/conv2/Conv',
      '/layer1/layer1.1/conv2/Conv',
    ]);
    expect(stream).toMatchObject({ aligned: true, classes: 64, blocked: [] });
    const fc = groups.find((g) => g.members.some((m) => m.node === '/fc/Gemm'))!;
    expect(fc.blocked.length).toBe(1000);
    const { configList, diagnostics } = resolveAutoDependencyGroups(
      [{ op_types: ['Conv', 'Gemm'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
      model,
      shapes,
    );
    expect(configList).toHaveLength(20);
    const ids = new Map(configList.map((c) => [c.op_names![0]!, c.dependency_group_id]));
    expect(ids.get('/layer1/layer1.0/conv2/Conv')).toBe(ids.get('/conv1/Conv'));
    expect(ids.get('/layer1/layer1.0/conv1/Conv')).not.toBe(ids.get('/conv1/Conv'));
    expect(configList[0]).toMatchObject({ sparse_ratio: 0.5 });
    expect(diagnostics.find((d) => d.code === 'unprunable-layer')).toMatchObject({
      node: '/fc/Gemm',
      level: 'warning',
    });
    const nested = resolveAutoDependencyGroups(
      [{ op_types: ['Conv'], target_settings: { weight: { sparse_ratio: 0.5, dependency_group_id: 'auto' } } }],
      model,
      shapes,
    );
    expect(nested.configList[0]).toEqual({
      op_names: ['/conv1/Conv'],
      target_settings: { weight: { sparse_ratio: 0.5 } },
      dependency_group_id: ids.get('/conv1/Conv'),
    });
  });

  it('mobilenet_v2: a depthwise conv joins its producer; grouped convs set internal_metric_block', async () => {
    const model = loadCorpusModel('mobilenet_v2_op17_b1', 0);
    const groups = autoDependencyGroups(model, await shapesOf(model));
    const dw = groups.find((g) => g.members.some((m) => m.node === '/features/features.2/conv/conv.1/conv.1.0/Conv'))!;
    expect(dw.members.map((m) => [m.node, m.kind])).toEqual([
      ['/features/features.2/conv/conv.0/conv.0.0/Conv', 'source'],
      ['/features/features.2/conv/conv.1/conv.1.0/Conv', 'pass'],
    ]);
    const b = new Builder(4);
    const x = b.op('Relu', 'r', [b.conv('c1', b.input('input', [1, 3, 8, 8]), 8, 3)]);
    const small = b.output(
      b.op('Flatten', 'f', [b.op('GlobalAveragePool', 'p', [b.conv('g', x, 8, 8, 3, { group: 2 })]) as Value]),
      [1, 8],
    );
    const { configList } = resolveAutoDependencyGroups(
      [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
      small,
      await shapesOf(small),
    );
    expect(configList.find((c) => c.op_names![0] === 'c1')).toMatchObject({ internal_metric_block: 2 });
  });
});
