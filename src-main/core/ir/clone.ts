/**
 * @file Deep copies of models and graphs. Tensors are shared by default: the convention throughout the
 * engine is that a pass never mutates a Tensor's data in place but installs a new Tensor, so sharing is safe.
 * Pure: imports only the IR.
 */
import { externalInputs, Graph, Model, type AttributeValue, type Node, type Value, type ValueType } from './graph.ts';

export interface CloneOptions {
  /** Copy tensor data too (default false: tensors are shared, see file header). */
  deepTensors?: boolean;
}

/** A copy of the model whose graph can be edited without touching the original. */
export function cloneModel(model: Model, opts: CloneOptions = {}): Model {
  return copyModelFields(model, new Model(cloneGraph(model.graph, null, new Map(), opts)));
}

/** `m` with the model-level fields (IR version, opsets, producer, metadata, local functions) of `model`. */
function copyModelFields(model: Model, m: Model): Model {
  m.irVersion = model.irVersion;
  m.opsetImports.clear();
  for (const [k, v] of model.opsetImports) m.opsetImports.set(k, v);
  m.producerName = model.producerName;
  m.producerVersion = model.producerVersion;
  m.domain = model.domain;
  m.modelVersion = model.modelVersion;
  m.docString = model.docString;
  for (const [k, v] of model.metadata) m.metadata.set(k, v);
  m.functions = [...model.functions];
  m.functionDomains = new Set(model.functionDomains);
  return m;
}

export interface SliceOptions {
  /** The type a value read from outside the slice gets as the slice's graph input (default: its declared type). */
  inputType?: (v: Value) => ValueType | undefined;
}

/**
 * The main graph's nodes [start, end) as a model of their own (tensors shared, model fields copied): each value
 * they read from outside the slice — an earlier node's output or a graph input, also when only a subgraph reads
 * it — is a graph input of the same name (in the order first read), the initializers they read come along, and
 * the graph's outputs are those of the original the slice produces. Nodes must be in topological order (an input
 * produced at or after `end` throws). Used to run a large model slice by slice (the concrete trace).
 * @example const head = sliceModel(model, 0, 10); // nodes 0–9; a later slice reads their outputs as inputs
 */
export function sliceModel(model: Model, start: number, end: number, opts: SliceOptions = {}): Model {
  const src = model.graph;
  const nodes = src.nodes.slice(start, end);
  const inSlice = new Set<Node>(nodes);
  const m = copyModelFields(model, new Model(new Graph(src.name)));
  const g = m.graph;
  const map = new Map<Value, Value>();
  for (const n of nodes) {
    for (const v of externalInputs(n)) {
      if (map.has(v) || (v.producer && inSlice.has(v.producer))) continue;
      if (v.initializer) {
        const nv = g.addInitializer(v.name, v.initializer);
        nv.type = v.type;
        map.set(v, nv);
      } else {
        if (v.producer && src.nodes.indexOf(v.producer) >= end)
          throw new Error(
            `sliceModel: ${n.label} reads "${v.name}" before its producer (nodes not in topological order)`,
          );
        map.set(v, g.addInput(v.name, opts.inputType ? opts.inputType(v) : v.type));
      }
    }
    cloneNode(n, g, map, {});
  }
  for (const v of src.outputs) if (v.producer && inSlice.has(v.producer)) g.outputs.push(map.get(v)!);
  return m;
}

function cloneGraph(src: Graph, parent: Graph | null, outer: Map<Value, Value>, opts: CloneOptions): Graph {
  const g = new Graph(src.name, parent);
  g.docString = src.docString;
  const map = new Map(outer);
  const tensor = (t: import('./tensor.ts').Tensor) => (opts.deepTensors ? t.clone() : t);
  for (const v of src.inputs) {
    const nv = g.addInput(v.name, v.type);
    nv.docString = v.docString;
    map.set(v, nv);
  }
  for (const v of src.initializers) {
    const existing = map.get(v);
    if (existing && existing.graph === g) {
      g.setInitializer(existing, tensor(v.initializer!));
    } else {
      const nv = g.addInitializer(v.name, tensor(v.initializer!));
      nv.type = v.type;
      map.set(v, nv);
    }
  }
  for (const n of src.nodes) cloneNode(n, g, map, opts);
  for (const v of src.values()) {
    // value_info of values with no node here (rare): keep their types
    if (!map.has(v)) map.set(v, g.createValue(v.name, v.type));
  }
  for (const v of src.outputs) g.outputs.push(mapValue(v, map));
  return g;
}

/** A copy of `n` appended to `g`, its inputs and outer reads mapped through `map` (which learns its outputs). */
function cloneNode(n: Node, g: Graph, map: Map<Value, Value>, opts: CloneOptions): void {
  const nn = g.addNode({
    opType: n.opType,
    domain: n.domain,
    name: n.name,
    inputs: n.inputs.map((v) => (v ? mapValue(v, map) : null)),
    outputs: n.outputs.map((v) => v.name),
    attributes: {},
  });
  nn.docString = n.docString;
  nn.overload = n.overload;
  n.outputs.forEach((v, i) => {
    nn.outputs[i]!.type = v.type;
    nn.outputs[i]!.docString = v.docString;
    nn.outputs[i]!.anonymous = v.anonymous;
    map.set(v, nn.outputs[i]!);
  });
  for (const [k, a] of n.attributes) nn.attributes.set(k, cloneAttr(a, g, map, opts));
}

function mapValue(v: Value, map: Map<Value, Value>): Value {
  const m = map.get(v);
  if (!m) throw new Error(`clone: value "${v.name}" used before it is defined`);
  return m;
}

function cloneAttr(a: AttributeValue, g: Graph, map: Map<Value, Value>, opts: CloneOptions): AttributeValue {
  switch (a.type) {
    case 'graph':
      return { type: 'graph', value: cloneGraph(a.value, g, map, opts) };
    case 'graphs':
      return { type: 'graphs', value: a.value.map((sg) => cloneGraph(sg, g, map, opts)) };
    case 'floats':
    case 'ints':
    case 'strings':
      return { type: a.type, value: [...a.value] } as AttributeValue;
    case 'tensor':
      return { type: 'tensor', value: opts.deepTensors ? a.value.clone() : a.value };
    default:
      return a;
  }
}
