/**
 * @file Every name in src-shared's registries has an implementation, a label and an options schema; the step
 * dispatch, the CLI's choices and the host's capabilities are the registries' (generated, not copied). Each
 * pruner, quantizer and observer is run once on the bundled example to show the implementation is real.
 */
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import type { Option } from 'commander';
import { z } from 'zod';
import {
  FAMILIES,
  OBSERVER_REGISTRY,
  OBSERVERS,
  PRUNER_REGISTRY,
  PRUNERS,
  QUANTIZER_REGISTRY,
  QUANTIZERS,
  compressorCapabilities,
  DISTILLERS,
} from '../../../src-shared/compressors.ts';
import { DISTILLER_CLASSES } from '../../core/compress/distillation/index.ts';
import { STEP_KINDS, STEP_REGISTRY } from '../../../src-shared/experiment.ts';
import { PRUNER_CLASSES } from '../../core/compress/pruning/index.ts';
import { TRAINING_PRUNER_CLASSES } from '../../core/compress/pruning/training.ts';
import { TRAINING_PRUNERS } from '../../../src-shared/prune-options.ts';
import { trainingPrune } from '../train/prune.ts';
import { OBSERVER_FACTORIES } from '../../core/compress/quantization/observers.ts';
import { QUANTIZER_CLASSES, TRAINED_QUANTIZER_CLASSES, imageEvaluator, isTrainedQuantizer } from '../quantize/index.ts';
import { Evaluator } from '../train/index.ts';
import { buildProgram } from './main.ts';
import { loadModelFile } from '../io/model-file.ts';
import { registeredSteps } from '../jobs/registry.ts';
import { loadIdxPair } from '../train/mnist.ts';
import { STEP_EXECUTORS } from '../steps/register.ts';

const model = loadModelFile(resolve('resources/mnist-cnn.onnx'));

describe('the compressor registries', () => {
  it('give every entry a label, a description, a data need and a strict options schema', () => {
    for (const [family, { registry }] of Object.entries(FAMILIES)) {
      for (const [name, e] of Object.entries(registry)) {
        expect(e.label.length, `${family} ${name}`).toBeGreaterThan(2);
        expect(e.description.length, `${family} ${name}`).toBeGreaterThan(10);
        expect(['none', 'calibration', 'train']).toContain(e.needsData);
        expect(['element', 'out_channel', 'per_tensor']).toContain(e.defaultGranularity);
        expect(z.strictObject(e.options).safeParse({ unread: 1 }).success).toBe(false);
      }
    }
    for (const e of Object.values(OBSERVER_REGISTRY)) expect(e.label.length).toBeGreaterThan(2);
  });

  it('have an implementation behind every name, and only those', async () => {
    expect([...Object.keys(PRUNER_CLASSES), ...Object.keys(TRAINING_PRUNER_CLASSES)]).toEqual(PRUNERS);
    expect([...Object.keys(QUANTIZER_CLASSES), ...Object.keys(TRAINED_QUANTIZER_CLASSES)]).toEqual(QUANTIZERS);
    expect(Object.keys(OBSERVER_FACTORIES)).toEqual(OBSERVERS);
    expect(Object.keys(DISTILLER_CLASSES)).toEqual(DISTILLERS); // each runs in test/distill/distillers.test.ts
    for (const name of Object.keys(PRUNER_CLASSES) as (keyof typeof PRUNER_CLASSES)[]) {
      const p = new PRUNER_CLASSES[name](model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }]);
      expect(p.name).toBe(name);
      expect((await p.compress()).masks.size, name).toBeGreaterThan(0);
    }
    // the training-aware ones train a few steps on the bundled data
    const train = loadIdxPair(
      'resources/mnist/train-images-idx3-ubyte.gz',
      'resources/mnist/train-labels-idx1-ubyte.gz',
      64,
    );
    const data = train;
    for (const name of TRAINING_PRUNERS) {
      const r = await trainingPrune(model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }], data, {
        pruner: name,
        trainingSteps: 2,
        intervalSteps: 1,
        totalTimes: 2,
        warmupSteps: 1,
        cooldownBeginStep: 2,
      });
      expect(r.plan.pruner).toBe(name === 'linear' || name === 'agp' ? `${name}(l1)` : name);
      expect(r.masks.size, name).toBeGreaterThan(0);
    }
    for (const name of OBSERVERS) expect(OBSERVER_FACTORIES[name](null, {}).kind).toBe(name);
    const cal = loadIdxPair(
      'resources/mnist/t10k-images-idx3-ubyte.gz',
      'resources/mnist/t10k-labels-idx1-ubyte.gz',
      64,
    );
    const evaluator = imageEvaluator(model, { calibration: cal, batchSize: 32 });
    for (const name of QUANTIZERS) {
      if (isTrainedQuantizer(name)) {
        // two training steps on 64 images through the real Evaluator, then the export
        const train = cal;
        const ev = new Evaluator(model, {
          train,
          optimizer: { type: 'adam', lr: 1e-4 },
          batchSize: 32,
          epochs: 1,
          threads: 1,
        });
        const cfg =
          name === 'lsqplus'
            ? [{ op_types: ['Conv'], target_names: ['weight'], quant_scheme: 'affine' }]
            : [{ op_types: ['Conv'], target_names: ['weight'], quant_dtype: 'int4' }];
        const q = new TRAINED_QUANTIZER_CLASSES[name](model, cfg, ev);
        expect(q.name).toBe(name);
        const r = await q.compress({ maxSteps: 2 });
        expect(Object.keys(r.calibration).length, name).toBe(3);
        expect(r.exported.graph.nodes.filter((n) => n.opType === 'DequantizeLinear').length, name).toBe(3);
        continue;
      }
      const q = new QUANTIZER_CLASSES[name](
        model,
        [{ op_types: ['Conv'], target_names: ['_input_', 'weight'], quant_dtype: 'int8' }],
        evaluator,
      );
      expect(q.name).toBe(name);
      expect(Object.keys((await q.compress()).calibration).length, name).toBeGreaterThan(0);
    }
  });

  it('drive the step dispatch, the CLI choices and the host capabilities', () => {
    expect(STEP_KINDS).toEqual(Object.keys(STEP_REGISTRY));
    expect(Object.keys(STEP_EXECUTORS)).toEqual(STEP_KINDS);
    expect(registeredSteps()).toEqual(expect.arrayContaining(STEP_KINDS));
    const program = buildProgram();
    const choices = (cmd: string, flag: string) =>
      (program.commands.find((c) => c.name() === cmd)!.options as Option[]).find((o) => o.long === flag)!.argChoices;
    expect(choices('prune', '--pruner')).toEqual(PRUNERS);
    expect(choices('quantize', '--observer')).toEqual(OBSERVERS);
    const caps = compressorCapabilities();
    expect(caps.pruners.map((p) => [p.name, p.label])).toEqual(PRUNERS.map((n) => [n, PRUNER_REGISTRY[n].label]));
    expect(caps.quantizers.map((p) => p.name)).toEqual(Object.keys(QUANTIZER_REGISTRY));
    expect(caps.observers.map((o) => o.name)).toEqual(OBSERVERS);
  });
});
