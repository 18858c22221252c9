/**
 * @file The distillers on the bundled MNIST model: the teacher's forward inside the student's step (one ORT call, the
 * same batch: the step's KL equals the one computed from two separate sessions; no teacher tensor is trained or has
 * optimizer state), Adaptive1d projecting a pruned-and-sped-up student's narrower convs to the teacher's widths (the
 * projections train and are dropped from the result), and the named errors of bad links, widths and teachers.
 */
import { describe, expect, it } from 'vitest';
import { cloneModel, type Model } from '../../src-main/core/ir/index.ts';
import { L1NormPruner } from '../../src-main/core/compress/pruning/index.ts';
import { simulate } from '../../src-main/core/compress/simulate/index.ts';
// the package's entry point: NNI's names, as users import them
import { DistillLinkError, DynamicLayerwiseDistiller, LogitsDistiller, TeacherError } from '../../src-main/index.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { trace } from '../../src-main/node/runtime/index.ts';
import { Evaluator } from '../../src-main/node/train/index.ts';
import { createSession, ortTensor } from '../../src-main/node/train/ort.ts';
import { epochOrder } from '../../src-main/node/train/trainer.ts';
import { bundledMnist } from '../../src-main/node/train/mnist.ts';
import { makeDistiller } from '../../src-main/node/train/distill.ts';

const teacher = loadModelFile('resources/mnist-cnn.onnx');
const mnist = bundledMnist('train', 2048);
const test = bundledMnist('test', 1000);
const train = mnist;
const evalSet = test;
const config = {
  train,
  eval: evalSet,
  optimizer: { type: 'adam' as const, lr: 1e-3 },
  batchSize: 32,
  epochs: 1,
  seed: 5,
  threads: 1,
};

async function pruned(ratio: number): Promise<{ masked: Model; compact: Model }> {
  const t = await trace(teacher, { dimSizes: { batch: 1 } });
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape as number[]]));
  const { masks } = await new L1NormPruner(
    teacher,
    [{ op_types: ['Conv'], sparse_ratio: ratio, dependency_group_id: 'auto' }],
    undefined,
    { shapes },
  ).compress();
  const { model: compact } = await new ModelSpeedup(teacher, masks).speedupModel();
  return { masked: simulate(teacher, masks), compact };
}

/** softmax over the last axis of [N, K] rows, at temperature T. */
function logSoftmax(z: Float32Array, k: number, T: number): Float64Array {
  const out = new Float64Array(z.length);
  for (let r = 0; r < z.length / k; r++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, z[r * k + j]! / T);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(z[r * k + j]! / T - m);
    for (let j = 0; j < k; j++) out[r * k + j] = z[r * k + j]! / T - m - Math.log(s);
  }
  return out;
}

async function logits(model: Model, x: Float32Array, n: number): Promise<Float32Array> {
  const s = await createSession(model, { threads: 1 });
  try {
    const r = await s.run({ [model.graph.inputs[0]!.name]: ortTensor('float32', x, [n, 1, 28, 28]) });
    return r[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('the teacher inside the student step', () => {
  it('one ORT call runs both forwards on the same batch: the step’s KL equals two separate sessions’, teacher weights stay constants', async () => {
    const { masked } = await pruned(0.5);
    // BN frozen on the student too, so its step forward equals its inference forward
    const ev = new Evaluator(masked, { ...config, batchNorm: 'frozen', stepsPerRun: 1 });
    const d = new LogitsDistiller(masked, null, ev, { teacher, temperature: 4, alpha: 0.7 });
    const reports: Record<string, number>[] = [];
    ev.patchOptimizerStep([], [(c) => void reports.push(c.result!.reports)]);
    // the built step: teacher tensors are neither parameters nor optimizer state
    const revert = (d as unknown as { register(h: Evaluator): (() => void)[] }).register(ev);
    const t = await ev.trainer();
    const sig = t.step.signature;
    expect(sig.params.some((p) => p.name.startsWith('teacher/'))).toBe(false);
    expect(sig.state.some((p) => p.name.startsWith('teacher/') || p.param?.startsWith('teacher/'))).toBe(false);
    expect(t.step.model.graph.nodes.filter((n) => n.name.startsWith('teacher/')).length).toBeGreaterThan(10);
    // inference-mode teacher BN: the native op, on its running statistics (initializers)
    const bn = t.step.model.graph.nodes.find(
      (n) => n.name.startsWith('teacher/') && n.opType === 'BatchNormalization',
    )!;
    expect(bn.inputs[3]!.isInitializer).toBe(true);
    await t.release();
    for (const r of revert) r();

    await d.compress({ maxSteps: 1 });
    const r = reports[0]!;
    // the same first batch through two plain sessions
    const B = 32;
    const idx = epochOrder(train.length, 5, 0).subarray(0, B);
    const x = new Float32Array(B * 784);
    const y = new BigInt64Array(B);
    train.fill(idx, x, y);
    const [zs, zt] = [await logits(masked, x, B), await logits(teacher, x, B)];
    const T = 4;
    const [ls, lt] = [logSoftmax(zs, 10, T), logSoftmax(zt, 10, T)];
    let kl = 0;
    for (let i = 0; i < ls.length; i++) kl += Math.exp(lt[i]!) * (lt[i]! - ls[i]!);
    kl *= (T * T) / B;
    let ce = 0;
    const lsm = logSoftmax(zs, 10, 1);
    for (let i = 0; i < B; i++) ce -= lsm[i * 10 + Number(y[i])]!;
    ce /= B;
    expect(r['loss.distill']!).toBeCloseTo(0.7 * kl, 4);
    expect(r['loss.task']!).toBeCloseTo(ce, 4);
    expect(reports.length).toBe(1);
  });

  it('the student’s BatchNormalization trains (batch statistics, running statistics carried as step state), the teacher’s stays in inference mode', async () => {
    const { compact } = await pruned(0.5);
    const ev = new Evaluator(compact, { ...config, stepsPerRun: 1 });
    const revert = (
      new LogitsDistiller(compact, null, ev, { teacher }) as unknown as { register(h: Evaluator): (() => void)[] }
    ).register(ev);
    const t = await ev.trainer();
    const state = t.step.signature.state.map((s) => s.name);
    const studentStats = compact.graph.nodes
      .filter((n) => n.opType === 'BatchNormalization')
      .flatMap((n) => [n.inputs[3]!.name, n.inputs[4]!.name]);
    expect(studentStats.length).toBe(6);
    for (const name of studentStats) expect(state).toContain(name);
    expect(state.some((n) => n.startsWith('teacher/'))).toBe(false);
    // the teacher's three BatchNormalization nodes normalize by their running statistics; no node of the step
    // normalizes by the student's (its training forward uses the batch's)
    const bns = t.step.model.graph.nodes.filter((n) => n.opType === 'BatchNormalization');
    const teacherBns = bns.filter((n) => n.name.startsWith('teacher/'));
    expect(teacherBns.length).toBe(3);
    for (const n of teacherBns) expect(n.inputs[3]!.isInitializer).toBe(true);
    for (const n of bns) expect(studentStats).not.toContain(n.inputs[3]?.name);
    await t.release();
    for (const r of revert) r();
  });

  it('the KD term’s gradient reaches the student’s logits at its scale: (1 − α)(p − y)/B + α·T·(q_s − q_t)/B, q = softmax(·/T)', async () => {
    const { masked } = await pruned(0.5);
    const ev = new Evaluator(masked, { ...config, batchNorm: 'frozen', stepsPerRun: 1 });
    const [T, alpha, B] = [4, 0.7, 32];
    const out = masked.graph.outputs[0]!.name;
    let grad: Float32Array | undefined;
    ev.observe(out, 'grad', (g) => void (grad ??= Float32Array.from(g.data)));
    await new LogitsDistiller(masked, null, ev, { teacher, temperature: T, alpha }).compress({ maxSteps: 1 });
    // the same first batch through two plain sessions: the gradient the fused step must have computed
    const idx = epochOrder(train.length, 5, 0).subarray(0, B);
    const x = new Float32Array(B * 784);
    const y = new BigInt64Array(B);
    train.fill(idx, x, y);
    const [zs, zt] = [await logits(masked, x, B), await logits(teacher, x, B)];
    const [p, qs, qt] = [logSoftmax(zs, 10, 1), logSoftmax(zs, 10, T), logSoftmax(zt, 10, T)].map((l) =>
      l.map(Math.exp),
    );
    const want = p!.map(
      (pi, i) =>
        ((1 - alpha) * (pi - (Number(y[Math.floor(i / 10)]) === i % 10 ? 1 : 0)) + alpha * T * (qs![i]! - qt![i]!)) / B,
    );
    expect(grad).toBeDefined();
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(grad![i]! - want[i]!)).toBeLessThan(1e-4 * scale);
  });

  it('chained distillers share one teacher copy; the result holds no teacher node', async () => {
    const ev = new Evaluator(teacher, { ...config, train: train.head(256) });
    const a = new DynamicLayerwiseDistiller(teacher, [{ op_types: ['Conv'], apply_method: 'mse', lambda: 0.1 }], ev, {
      teacher,
    });
    const b = LogitsDistiller.fromCompressor(a, null, { teacher, alpha: 0.5 });
    const r = await b.compress({ maxSteps: 4 });
    expect(r.model.graph.nodes.some((n) => n.name.startsWith('teacher/'))).toBe(false);
    expect(r.model.graph.initializers.some((v) => v.name.startsWith('teacher/'))).toBe(false);
    expect(a.result!.links.map((l) => l.node)).toEqual(
      teacher.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.name),
    );
  });
});

describe('Adaptive1d on a pruned student after speedup', () => {
  it('link "auto" pairs the compact convs with the teacher’s by name; with projectKept 1×1-conv projections bridge the widths, train, and are dropped', async () => {
    const { compact } = await pruned(0.5);
    const convs = compact.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.name);
    expect(convs).toEqual(teacher.graph.nodes.filter((n) => n.opType === 'Conv').map((n) => n.name));
    const ev = new Evaluator(compact, { ...config, train: train.head(512) });
    const d = await makeDistiller(compact, ev, {
      distiller: 'adaptive1d_layerwise',
      teacher,
      configList: [{ op_types: ['Conv'], lambda: 0.5 }],
      projectKept: true, // NNI's projections, also where the kept channels are known
    });
    const losses: number[] = [];
    const proj: number[] = [];
    ev.patchOptimizerStep(
      [],
      [
        (c) => {
          losses.push(c.result!.reports['loss.distill']!);
          proj.push(c.get(`distill.proj/${convs[0]}/_output_0.weight`)[0]!);
        },
      ],
    );
    const { model } = await d.compress({ maxSteps: 16 });
    expect(losses.length).toBe(16);
    expect(losses[15]!).toBeLessThan(losses[0]!);
    expect(new Set(proj).size).toBeGreaterThan(1); // the projection trains
    expect(model.graph.initializers.some((v) => v.name.startsWith('distill.proj/'))).toBe(false);
    expect(model.graph.nodes.length).toBe(compact.graph.nodes.length);
    const out = await logits(model, test.x.subarray(0, 784 * 4), 4);
    expect(out.length).toBe(40);
  });

  it('DynamicLayerwiseDistiller refuses differing widths its kept channels cannot explain, naming both nodes', async () => {
    const { compact } = await pruned(0.5);
    // conv1's rows reversed: no longer the teacher's rows in the teacher's order (speedup keeps the order)
    const w = compact.graph.node('/conv1/Conv')!.input(1)!.initializer!;
    const rows = w.dims[0]!;
    const per = w.size / rows;
    const data = w.data as Float32Array;
    const copy = Float32Array.from(data);
    for (let r = 0; r < rows; r++) data.set(copy.subarray((rows - 1 - r) * per, (rows - r) * per), r * per);
    const ev = new Evaluator(compact, { ...config, train: train.head(256) });
    const d = new DynamicLayerwiseDistiller(compact, [{ op_types: ['Conv'] }], ev, { teacher });
    const err = await d.compress({ maxSteps: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DistillLinkError);
    expect(String((err as Error).message)).toMatch(
      /student's _output_0 of ".*Conv.*" is \[32, 8, 28, 28\] but the teacher's .* is \[32, 16, 28, 28\].*adaptive1d_layerwise/,
    );
  });
});

describe('bad input', () => {
  it('a link to a node the teacher lacks is named at construction', () => {
    const ev = new Evaluator(teacher, config);
    const conv = teacher.graph.nodes.find((n) => n.opType === 'Conv')!.name;
    expect(
      () => new DynamicLayerwiseDistiller(teacher, [{ op_names: [conv], link: 'ghost' }], ev, { teacher }),
    ).toThrow(/\$\[0\]: the teacher has no node "ghost"/);
  });

  it('a teacher whose input differs from the student’s is named', () => {
    const other = cloneModel(teacher);
    other.graph.inputs[0]!.type = { kind: 'tensor', dtype: 'float32', shape: ['batch', 3, 32, 32] };
    const ev = new Evaluator(teacher, config);
    const e = (() => {
      try {
        new LogitsDistiller(teacher, null, ev, { teacher: other });
      } catch (x) {
        return x as Error;
      }
    })();
    expect(e).toBeInstanceOf(TeacherError);
    expect(e!.message).toMatch(
      /the teacher's input "input" is float32 \[batch, 3, 32, 32\] but the student's input "input" is float32 \[batch, 1, 28, 28\]/,
    );
  });

  it('a logits distiller given a config list says it takes none; a parameter target is refused by the template', () => {
    const ev = new Evaluator(teacher, config);
    expect(() => new LogitsDistiller(teacher, [{ op_types: ['Conv'] }], ev, { teacher })).toThrow(DistillLinkError);
    expect(
      () => new DynamicLayerwiseDistiller(teacher, [{ op_types: ['Conv'], target_names: ['weight'] }], ev, { teacher }),
    ).toThrow(
      /\$\[0\]\.target_names \(node "\/conv1\/Conv"\): target 'weight' is defined neither by the distillation template/,
    );
  });
});
