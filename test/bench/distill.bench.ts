/**
 * @file Distillation-step benchmark (`npm run bench -- distill`): on the bundled MNIST CNN pruned 50 % with speedup
 * (the student) and the unpruned model (the teacher), batch 64, one intra-op thread, interleaved rounds on one
 * machine load:
 *   plain      the student's own training step (cross-entropy)
 *   teacher    the teacher's forward alone, in its own inference session, returning every value the links read
 *   fused      one training step holding both forwards (the teacher inside the step, frozen) — what we ship
 *   separate   the alternative: that teacher session, its values fed to a student step that takes them as inputs
 *              (the same distiller builds the same loss on them)
 *   precomputed  that student step fed teacher values stored ahead of time (NNI's DistilLabelPatcher): the
 *              teacher's cost paid once per sample, not per step
 * for logits KD and for layer-wise distillation of every Conv output (Adaptive1d projections; Dynamic with
 * kept-channel links, which gather the teacher's value at the channels the pruned student kept, no projection;
 * Dynamic on the masked student, same widths). The goal is
 * fused ≤ 1.1 × (plain + teacher); separate ÷ (plain + teacher) is what the distillation loss itself costs (its
 * projections and their gradients), which no placement of the teacher removes. Each ratio is the median over
 * rounds of the per-round medians.
 */
import type * as ort from 'onnxruntime-node';
import { cloneModel, type Model } from '../../src-main/core/ir/index.ts';
import { LOSSES } from '../../src-main/core/autodiff/index.ts';
import { TEACHER_PREFIX, type DistillLink } from '../../src-main/core/compress/distillation/index.ts';
import type { TrainingHooks } from '../../src-main/core/compress/compressor.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { ArrayDataset, Evaluator } from '../../src-main/node/train/index.ts';
import { createSession, ortTensor } from '../../src-main/node/train/ort.ts';
import type { StepRunner } from '../../src-main/node/train/step-runner.ts';
import { bundledMnist } from '../../src-main/node/train/mnist.ts';
import { makeDistiller, type DistillSpec } from '../../src-main/node/train/distill.ts';
import { maskedStudent, prunedStudent } from '../distill/side-by-side.ts';
import { formatFactor } from '../../src-shared/format.ts';

const B = 64;
const ROUNDS = 7;
const RUNS = 15;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function timeIt(runs: number, f: () => Promise<unknown>): Promise<number> {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  return median(t);
}

interface Setup {
  student: Model;
  teacher: Model;
  data: ArrayDataset;
  x: ort.Tensor;
  labels: ort.Tensor;
}

type Registers = { register(h: TrainingHooks): (() => void)[] };

/** A trainer's runner and its single step, driven directly (same batch every call). */
async function runnerOf(ev: Evaluator): Promise<{ runner: StepRunner; release: () => Promise<void> }> {
  const t = await ev.trainer();
  return { runner: t.runner, release: () => t.release() };
}

async function benchCase(s: Setup, name: string, spec: Omit<DistillSpec, 'teacher'>): Promise<Record<string, unknown>> {
  const config = {
    train: s.data,
    optimizer: { type: 'adam' as const, lr: 1e-3 },
    batchSize: B,
    epochs: 1,
    seed: 0,
    threads: 1,
    stepsPerRun: 1,
  };
  const input = s.student.graph.inputs[0]!.name;
  const plainEv = new Evaluator(s.student, config);
  const plain = await runnerOf(plainEv);
  const fusedEv = new Evaluator(s.student, config);
  const d = await makeDistiller(s.student, fusedEv, { ...spec, teacher: s.teacher });
  const reverts = (d as unknown as Registers).register(fusedEv);
  const fused = await runnerOf(fusedEv);
  for (const r of reverts) r();
  // the alternative: a teacher session that returns every linked value, fed to a student step that takes them
  // as inputs (named as the fused step names the teacher's values, so the same distiller builds the same loss)
  const outs = [...new Set((d as unknown as { links: DistillLink[] }).links.flatMap((l) => l.teacherValues))];
  const teacherModel = cloneModel(s.teacher);
  for (const o of outs)
    if (!teacherModel.graph.outputs.some((v) => v.name === o)) teacherModel.graph.addOutput(teacherModel.graph.get(o)!);
  const tOnly = await createSession(teacherModel, { threads: 1 });
  const teacherRun = () => tOnly.run({ [teacherModel.graph.inputs[0]!.name]: s.x }, outs);
  const first = await teacherRun();
  const sepEv = new Evaluator(s.student, {
    ...config,
    loss: {
      type: 'custom',
      build: (c) => {
        for (const o of outs) c.addInput(TEACHER_PREFIX + o, first[o]!.dims.map(Number), 'float32');
        return LOSSES.cross_entropy({ type: 'cross_entropy' }, c);
      },
    },
  });
  const dSep = await makeDistiller(s.student, sepEv, { ...spec, teacher: s.teacher });
  // the same registration without the teacher inside the step
  const noTeacher = new Proxy(sepEv, {
    get: (t, k) =>
      k === 'addTeacher'
        ? () => () => {}
        : typeof t[k as keyof Evaluator] === 'function'
          ? (t[k as keyof Evaluator] as (...a: unknown[]) => unknown).bind(t)
          : t[k as keyof Evaluator],
  });
  (dSep as unknown as Registers).register(noTeacher);
  const sep = await runnerOf(sepEv);
  const batch = { [input]: s.x, labels: s.labels };
  const fed = (t: Record<string, ort.Tensor>) => ({
    ...batch,
    ...Object.fromEntries(outs.map((o) => [TEACHER_PREFIX + o, t[o]!])),
  });
  const rounds: Record<string, number[]> = { plain: [], teacher: [], fused: [], separate: [], precomputed: [] };
  // precomputed: the teacher's values stored ahead of time (NNI's DistilLabelPatcher), so a step only feeds them
  const stored = fed(await teacherRun());
  const lr = { main: 1e-3 };
  for (const r of [plain, fused, sep])
    for (let i = 0; i < 3; i++) await r.runner.run(r === sep ? fed(await teacherRun()) : batch, lr, 1);
  for (let round = 0; round < ROUNDS; round++) {
    rounds.plain!.push(await timeIt(RUNS, () => plain.runner.run(batch, lr, 1)));
    rounds.teacher!.push(await timeIt(RUNS, teacherRun));
    rounds.fused!.push(await timeIt(RUNS, () => fused.runner.run(batch, lr, 1)));
    rounds.separate!.push(await timeIt(RUNS, async () => sep.runner.run(fed(await teacherRun()), lr, 1)));
    rounds.precomputed!.push(await timeIt(RUNS, () => sep.runner.run(stored, lr, 1)));
  }
  await Promise.all([plain.release(), fused.release(), sep.release(), tOnly.release()]);
  const ratio = (a: string, b: (i: number) => number) => median(rounds[a]!.map((v, i) => v / b(i)));
  const vsSum = ratio('fused', (i) => rounds.plain![i]! + rounds.teacher![i]!);
  return {
    case: name,
    plain_ms: median(rounds.plain!),
    teacher_ms: median(rounds.teacher!),
    fused_ms: median(rounds.fused!),
    separate_ms: median(rounds.separate!),
    'fused/(plain+teacher)': formatFactor(vsSum),
    'separate/(plain+teacher)': formatFactor(ratio('separate', (i) => rounds.plain![i]! + rounds.teacher![i]!)),
    'fused/separate': formatFactor(ratio('fused', (i) => rounds.separate![i]!)),
    precomputed_ms: median(rounds.precomputed!),
    'fused/precomputed': formatFactor(ratio('fused', (i) => rounds.precomputed![i]!)),
    goal: vsSum <= 1.1 ? 'met (≤ 1.1×)' : 'missed (> 1.1×)',
  };
}

export async function benchDistill(): Promise<Record<string, unknown>[]> {
  const teacher = loadModelFile('resources/mnist-cnn.onnx');
  const student = await prunedStudent(teacher);
  const set = bundledMnist('train', 1024);
  const data = set;
  const x = ortTensor('float32', set.x.subarray(0, B * 784), [B, 1, 28, 28]);
  const labels = ortTensor('int64', set.classLabels().subarray(0, B), [B]);
  const s: Setup = { student, teacher, data, x, labels };
  return [
    await benchCase(s, 'logits KD (T 4, α 0.7)', { distiller: 'logits', temperature: 4, alpha: 0.7 }),
    await benchCase(s, 'layer-wise: every Conv output (Adaptive1d, 1×1 projections)', {
      distiller: 'adaptive1d_layerwise',
      configList: [{ op_types: ['Conv'] }],
      projectKept: true,
    }),
    // the same links on the same compact student without projections: kept-channel links (the teacher's value
    // gathered at the channels the student kept, recovered from the weights), the loss is the MSE alone
    await benchCase(s, 'layer-wise: every Conv output, kept-channel links (Dynamic, no projection)', {
      distiller: 'dynamic_layerwise',
      configList: [{ op_types: ['Conv'] }],
    }),
    // the same links without projections: the 50 % student kept at full width with its masks (simulated), so
    // the loss is the MSE alone
    await benchCase(
      { ...s, student: (await maskedStudent(teacher)).model },
      'layer-wise: every Conv output, same widths (Dynamic, masked student)',
      { distiller: 'dynamic_layerwise', configList: [{ op_types: ['Conv'] }] },
    ),
  ];
}
