/**
 * @file K training steps in one ONNX `Loop`: the weights and optimizer state are loop-carried, the K batches
 * (and noise) are stacked inputs the body reads with Gather(·, iteration), the learning rate is a [K] vector
 * (so schedules stay exact), and the per-step losses and reports come out as scan outputs [K]. One
 * `session.run` then does K steps without copying weights in and out between them. Pure: imports the IR.
 */
import { Graph, Model, Tensor, type Value } from '../ir/index.ts';
import { attr } from './emitter.ts';
import { TrainingSpecError } from './errors.ts';
import type { StepSignature, TensorInfo, TrainingStep } from './training-step.ts';

export interface LoopSignature {
  steps: number;
  /** Stacked per-batch inputs [K, …] by the single step's input name. */
  batch: Record<string, string>;
  noise: Record<string, string>;
  /** Learning-rate vector [K] per group. */
  lr: Record<string, string>;
  /** Number of the first step (float scalar); step k uses first + k. */
  firstStep: string;
  /** Scan outputs [K]: the loss and each report. */
  losses: string;
  reports: Record<string, string>;
  /** The single step's signature (params/state/buffers keep their names and outputs). */
  step: StepSignature;
}

export interface LoopStep {
  model: Model;
  signature: LoopSignature;
}

const type = (t: TensorInfo, lead: number[] = []) => ({
  kind: 'tensor' as const,
  dtype: t.dtype,
  shape: [...lead, ...t.shape],
});

/**
 * Wrap a built training step into a model running `k` steps per call.
 * @example const loop = buildLoopStep(step, 10); // feed `input.all` [10, B, …], `labels.all` [10, B], `lr.all` [10]
 */
export function buildLoopStep(step: TrainingStep, k: number): LoopStep {
  const sig = step.signature;
  if (sig.observed.length) throw new TrainingSpecError('observed tensors need one step per run (no Loop)');
  const src = step.model.graph;
  const model = new Model(new Graph('train_loop'));
  for (const [d, v] of step.model.opsetImports) model.opsetImports.set(d, v);
  const g = model.graph;
  const body = new Graph('step', g);
  const dt = sig.params[0]!.dtype;
  const map = new Map<Value, Value>();
  const out: LoopSignature = {
    steps: k,
    batch: {},
    noise: {},
    lr: {},
    firstStep: 'first_step',
    losses: 'losses',
    reports: {},
    step: sig,
  };

  // outer inputs
  const carried = [...sig.params, ...sig.state];
  for (const t of [...carried, ...sig.buffers]) map.set(src.get(t.name)!, g.addInput(t.name, type(t)));
  const first = g.addInput(out.firstStep, { kind: 'tensor', dtype: dt, shape: [] });
  const M = g.addInitializer('loop.trip_count', Tensor.int64([], [k]));
  const axis0 = { axis: attr.int(0) };
  // body inputs: iteration, condition, carried
  const iter = body.addInput('L.iter', { kind: 'tensor', dtype: 'int64', shape: [] });
  const cond = body.addInput('L.cond', { kind: 'tensor', dtype: 'bool', shape: [] });
  const bodyCarried = carried.map((t) => body.addInput(`L.${t.name}`, type(t)));
  carried.forEach((t, i) => map.set(src.get(t.name)!, bodyCarried[i]!));
  const gatherFrom = (outer: Value, name: string) =>
    body.addNode({
      opType: 'Gather',
      name: `L.gather.${name}`,
      inputs: [outer, iter],
      outputs: [`L.${name}`],
      attributes: axis0,
    }).outputs[0]!;
  for (const t of [...sig.batch, ...sig.noise]) {
    const outer = g.addInput(`${t.name}.all`, type(t, [k]));
    (sig.noise.includes(t) ? out.noise : out.batch)[t.name] = outer.name;
    map.set(src.get(t.name)!, gatherFrom(outer, t.name));
  }
  for (const [group, name] of Object.entries(sig.lr)) {
    const outer = g.addInput(`${name}.all`, { kind: 'tensor', dtype: dt, shape: [k] });
    out.lr[group] = outer.name;
    map.set(src.get(name)!, gatherFrom(outer, name));
  }
  const iterF = body.addNode({
    opType: 'Cast',
    name: 'L.iter_float',
    inputs: [iter],
    outputs: ['L.iter_float'],
    attributes: { to: attr.int(dt === 'float64' ? 11 : 1) },
  }).outputs[0]!;
  map.set(
    src.get(sig.step)!,
    body.addNode({ opType: 'Add', name: 'L.step', inputs: [first, iterF], outputs: ['L.step_number'] }).outputs[0]!,
  );
  // constants stay outside (read from the outer scope); nodes are copied into the body
  for (const v of src.initializers) if (!map.has(v)) map.set(v, g.addInitializer(v.name, v.initializer!));
  for (const n of src.nodes) {
    if (n.subgraphs().length) throw new TrainingSpecError(`a Loop step cannot hold the subgraph op ${n.label}`);
    const copy = body.addNode({
      opType: n.opType,
      domain: n.domain,
      name: `L.${n.name}`,
      inputs: n.inputs.map((v) => (v ? (map.get(v) ?? missing(v)) : null)),
      outputs: n.outputs.map((v) => (v.anonymous && v.uses.length === 0 && !v.isGraphOutput ? '' : `L.${v.name}`)),
      attributes: Object.fromEntries(n.attributes),
    });
    n.outputs.forEach((v, i) => {
      map.set(v, copy.outputs[i]!);
      if (v.type) copy.outputs[i]!.type = v.type;
    });
  }
  // body outputs: condition, carried (updated), scans (loss, reports)
  const bodyOut = (v: Value, name: string) => {
    const mapped = map.get(v)!;
    const isIn = body.inputs.includes(mapped) || mapped.graph !== body;
    return isIn
      ? body.addNode({ opType: 'Identity', name: `L.out.${name}`, inputs: [mapped], outputs: [`L.out.${name}`] })
          .outputs[0]!
      : mapped;
  };
  body.addOutput(
    body.addNode({ opType: 'Identity', name: 'L.cond_out', inputs: [cond], outputs: ['L.cond_out'] }).outputs[0]!,
  );
  for (const t of sig.params) body.addOutput(bodyOut(src.get(t.output)!, t.output));
  for (const t of sig.state) body.addOutput(bodyOut(src.get(t.output)!, t.output));
  const scans = [['loss', sig.loss], ...Object.entries(sig.reports)] as [string, string][];
  for (const [, name] of scans) body.addOutput(bodyOut(src.get(name)!, name));
  const outNames = [
    ...sig.params.map((t) => t.output),
    ...sig.state.map((t) => t.output),
    ...scans.map(([key]) => (key === 'loss' ? out.losses : `${key}.all`)),
  ];
  const loop = g.addNode({
    opType: 'Loop',
    name: 'train_loop',
    inputs: [M, null, ...carried.map((t) => g.get(t.name)!)],
    outputs: outNames,
    attributes: { body: { type: 'graph', value: body } },
  });
  for (const [key] of scans) if (key !== 'loss') out.reports[key] = `${key}.all`;
  for (const v of loop.outputs) g.addOutput(v);
  return { model, signature: out };
}

function missing(v: Value): never {
  throw new TrainingSpecError(`Loop step: value "${v.name}" is used before it is defined`);
}
