/**
 * @file The IR: Model, Graph, Node, Value. Values know their producer and their uses; identity is the
 * object, not the name; every edit goes through methods here so the bookkeeping stays right.
 * Pure TypeScript: imports nothing outside src-main/core/ir. Knows nothing of pruning or ONNX protobuf.
 */
import { quoted } from '../../../src-shared/errors.ts';
import type { DataType } from './dtype.ts';
import { Tensor } from './tensor.ts';
import { GraphError } from './errors.ts';

/** A dimension: a size, a symbolic name (`batch`), or unknown. */
export type Dim = number | string | null;

/** The static type of a value. Non-tensor types (sequence, map, optional) are kept opaque for round trips. */
export type ValueType =
  { kind: 'tensor'; dtype: DataType | undefined; shape: Dim[] | undefined } | { kind: 'opaque'; raw: unknown };

export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] }
  /** Kinds the IR does not interpret (sparse tensors, type protos, attribute references): kept opaque. */
  | { type: 'opaque'; value: unknown };

export interface Use {
  node: Node;
  index: number;
}

/** A value: a graph input, an initializer, or a node output. */
export class Value {
  /** Node producing this value; null for graph inputs and initializers. */
  producer: Node | null = null;
  /** Output index on the producer. */
  outputIndex = -1;
  /** Constant data when this value is an initializer. */
  initializer: Tensor | null = null;
  readonly uses: Use[] = [];
  docString = '';
  /** An omitted optional node output (written back as the empty name when still unused). */
  anonymous = false;

  constructor(
    readonly graph: Graph,
    public name: string,
    public type: ValueType | undefined = undefined,
  ) {}

  get isInitializer(): boolean {
    return this.initializer !== null;
  }

  get isGraphInput(): boolean {
    return this.graph.inputs.includes(this);
  }

  get isGraphOutput(): boolean {
    return this.graph.outputs.includes(this);
  }

  /** Element type from the static type or the initializer. */
  get dtype(): DataType | undefined {
    if (this.initializer) return this.initializer.dtype;
    return this.type?.kind === 'tensor' ? this.type.dtype : undefined;
  }

  /** Static shape from the initializer or the declared type. */
  get shape(): Dim[] | undefined {
    if (this.initializer) return [...this.initializer.dims];
    return this.type?.kind === 'tensor' ? this.type.shape : undefined;
  }

  /** Nodes consuming this value (each once), in use order. */
  consumers(): Node[] {
    return [...new Set(this.uses.map((u) => u.node))];
  }

  /** Point every use of this value (node inputs, and graph outputs) at `other`. */
  replaceAllUsesWith(other: Value): void {
    for (const use of [...this.uses]) use.node.setInput(use.index, other);
    const outs = this.graph.outputs;
    for (let i = 0; i < outs.length; i++) if (outs[i] === this) outs[i] = other;
  }
}

export interface NodeInit {
  opType: string;
  inputs: (Value | null)[];
  /** Output names, or a count for fresh unique names. */
  outputs?: string[] | number;
  name?: string;
  domain?: string;
  attributes?: Record<string, AttributeValue>;
  /** Index in the node list; defaults to the end. */
  at?: number;
}

/** An operator application. */
export class Node {
  readonly inputs: (Value | null)[] = [];
  readonly outputs: Value[] = [];
  readonly attributes = new Map<string, AttributeValue>();
  docString = '';
  overload = '';

  constructor(
    readonly graph: Graph,
    public name: string,
    public opType: string,
    public domain = '',
  ) {}

  /** Set input `i` (null = omitted optional input), keeping use lists right. */
  setInput(i: number, value: Value | null): void {
    const old = this.inputs[i];
    if (old) {
      const k = old.uses.findIndex((u) => u.node === this && u.index === i);
      if (k >= 0) old.uses.splice(k, 1);
    }
    while (this.inputs.length <= i) this.inputs.push(null);
    this.inputs[i] = value;
    if (value) value.uses.push({ node: this, index: i });
  }

  /** Append an input. */
  addInput(value: Value | null): void {
    this.setInput(this.inputs.length, value);
  }

  /** Drop trailing inputs from index `n` on. */
  truncateInputs(n: number): void {
    for (let i = this.inputs.length - 1; i >= n; i--) {
      this.setInput(i, null);
      this.inputs.pop();
    }
  }

  input(i: number): Value | null {
    return this.inputs[i] ?? null;
  }

  attr(name: string): AttributeValue | undefined {
    return this.attributes.get(name);
  }

  /** An int attribute, or `fallback`. */
  attrInt(name: string, fallback: number): number;
  attrInt(name: string): number | undefined;
  attrInt(name: string, fallback?: number): number | undefined {
    const a = this.attributes.get(name);
    return a && a.type === 'int' ? a.value : fallback;
  }

  attrFloat(name: string, fallback: number): number {
    const a = this.attributes.get(name);
    return a && (a.type === 'float' || a.type === 'int') ? a.value : fallback;
  }

  attrInts(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    return a && a.type === 'ints' ? a.value : undefined;
  }

  attrString(name: string): string | undefined {
    const a = this.attributes.get(name);
    return a && a.type === 'string' ? a.value : undefined;
  }

  setAttr(name: string, value: AttributeValue): void {
    this.attributes.set(name, value);
  }

  /** Subgraphs held in this node's attributes (If branches, Loop/Scan bodies). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attributes.values()) {
      if (a.type === 'graph') out.push(a.value);
      else if (a.type === 'graphs') out.push(...a.value);
    }
    return out;
  }

  /** A readable label for errors: `Conv "conv1"`. */
  get label(): string {
    return `${this.opType} ${quoted(this.name)}`;
  }
}

/** A graph (the main graph or a subgraph of If/Loop/Scan). */
export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  /** Initializer values in file order. */
  readonly initializers: Value[] = [];
  /** Every value defined in this scope, by name. */
  private readonly scope = new Map<string, Value>();
  private nameCounter = 0;
  docString = '';

  constructor(
    public name = 'graph',
    /** The enclosing graph for subgraphs; outer values are visible by name. */
    readonly parent: Graph | null = null,
  ) {}

  /** Find a value by name in this scope or an enclosing one. */
  lookup(name: string): Value | undefined {
    return this.scope.get(name) ?? this.parent?.lookup(name);
  }

  /** Find a value defined in this scope only. */
  get(name: string): Value | undefined {
    return this.scope.get(name);
  }

  /** All values defined in this scope. */
  values(): IterableIterator<Value> {
    return this.scope.values();
  }

  /** A name not used in this scope or any enclosing or nested one. */
  uniqueName(base: string): string {
    const root = this.root();
    let name = base;
    while (root.nameTaken(name)) name = `${base}_${++this.nameCounter}`;
    return name;
  }

  private root(): Graph {
    return this.parent ? this.parent.root() : this;
  }

  private nameTaken(name: string): boolean {
    if (this.scope.has(name)) return true;
    for (const n of this.nodes) for (const sg of n.subgraphs()) if (sg.nameTaken(name)) return true;
    return false;
  }

  /** Create a value in this scope; the name must be free in this scope. */
  createValue(name: string, type?: ValueType): Value {
    if (this.scope.has(name))
      throw new GraphError(`value ${quoted(name)} is defined twice in graph ${quoted(this.name)}`);
    const v = new Value(this, name, type);
    this.scope.set(name, v);
    return v;
  }

  /** Rename a value (keeps identity and uses). */
  renameValue(v: Value, name: string): void {
    if (v.name === name) return;
    if (this.scope.has(name)) throw new GraphError(`cannot rename ${quoted(v.name)} to ${quoted(name)}: name taken`);
    this.scope.delete(v.name);
    v.name = name;
    this.scope.set(name, v);
  }

  addInput(name: string, type?: ValueType): Value {
    const v = this.createValue(name, type);
    this.inputs.push(v);
    return v;
  }

  /** Add an initializer value holding `tensor` (name made unique when `unique`). */
  addInitializer(name: string, tensor: Tensor, unique = false): Value {
    const v = this.createValue(unique ? this.uniqueName(name) : name, {
      kind: 'tensor',
      dtype: tensor.dtype,
      shape: [...tensor.dims],
    });
    v.initializer = tensor;
    this.initializers.push(v);
    return v;
  }

  /** Create a node with fresh output values and link its inputs. */
  addNode(init: NodeInit): Node {
    const name = init.name !== undefined ? init.name : this.uniqueNodeName(init.opType);
    const node = new Node(this, name, init.opType, init.domain ?? '');
    init.inputs.forEach((v) => node.addInput(v));
    const outNames =
      typeof init.outputs === 'number' || init.outputs === undefined
        ? Array.from({ length: (init.outputs as number | undefined) ?? 1 }, (_, i) =>
            this.uniqueName(`${name}_out${i === 0 ? '' : i}`),
          )
        : init.outputs;
    outNames.forEach((n, i) => {
      const v = n === '' ? this.createValue(this.uniqueName(`${name}_unused${i}`)) : this.createValue(n);
      v.anonymous = n === '';
      v.producer = node;
      v.outputIndex = i;
      node.outputs.push(v);
    });
    for (const [k, a] of Object.entries(init.attributes ?? {})) node.attributes.set(k, a);
    if (init.at === undefined) this.nodes.push(node);
    else this.nodes.splice(init.at, 0, node);
    return node;
  }

  private nodeNames: Set<string> | null = null;

  private uniqueNodeName(opType: string): string {
    this.nodeNames ??= new Set(this.nodes.map((n) => n.name));
    let name = opType;
    let i = 0;
    while (this.nodeNames.has(name) || this.nodes.some((n) => n.name === name)) name = `${opType}_${++i}`;
    this.nodeNames.add(name);
    return name;
  }

  /** Remove a node whose outputs are unused (or `force` to drop their uses too). */
  removeNode(node: Node, force = false): void {
    for (const out of node.outputs) {
      if (!force && (out.uses.length > 0 || out.isGraphOutput)) {
        throw new GraphError(`cannot remove ${node.label}: output ${quoted(out.name)} is still used`);
      }
    }
    node.inputs.forEach((_, i) => node.setInput(i, null));
    for (const out of node.outputs) {
      for (const u of [...out.uses]) u.node.setInput(u.index, null);
      this.scope.delete(out.name);
      out.producer = null;
    }
    const k = this.nodes.indexOf(node);
    if (k >= 0) this.nodes.splice(k, 1);
  }

  /**
   * Graph outputs are edited through these methods (outside the IR, never by splicing `outputs`), so every
   * output is a value of this graph's scope or an enclosing one.
   */
  addOutput(v: Value): void {
    this.checkOwn(v, 'output');
    this.outputs.push(v);
  }

  /** Replace graph output `index` with `v` (e.g. a masked or rewritten value keeping the output's place). */
  setOutput(index: number, v: Value): void {
    if (index < 0 || index >= this.outputs.length)
      throw new GraphError(`graph ${quoted(this.name)} has no output ${index}`);
    this.checkOwn(v, 'output');
    this.outputs[index] = v;
  }

  /** Replace every graph output that is `from` with `to`; returns how many were replaced. */
  replaceOutput(from: Value, to: Value): number {
    let n = 0;
    this.outputs.forEach((v, i) => {
      if (v === from) {
        this.setOutput(i, to);
        n++;
      }
    });
    return n;
  }

  /** Make `vs` the graph outputs, in order. */
  setOutputs(vs: readonly Value[]): void {
    for (const v of vs) this.checkOwn(v, 'output');
    this.outputs.splice(0, this.outputs.length, ...vs);
  }

  /** Move `node` to just after `anchor` in `nodes` (both of this graph); the caller keeps the order topological. */
  moveNodeAfter(node: Node, anchor: Node): void {
    const k = this.nodes.indexOf(node);
    if (k < 0 || !this.nodes.includes(anchor))
      throw new GraphError(
        `cannot move ${node.label} after ${anchor.label}: not both nodes of graph ${quoted(this.name)}`,
      );
    this.nodes.splice(k, 1);
    this.nodes.splice(this.nodes.indexOf(anchor) + 1, 0, node);
  }

  private checkOwn(v: Value, what: string): void {
    if (v.graph === this) return;
    for (let g = this.parent; g; g = g.parent) if (v.graph === g) return;
    throw new GraphError(
      `value ${quoted(v.name)} belongs to another graph; it cannot be an ${what} of graph ${quoted(this.name)}`,
    );
  }

  /** Remove an initializer no node uses. */
  removeInitializer(v: Value): void {
    if (v.uses.length > 0 || v.isGraphOutput) throw new GraphError(`initializer ${quoted(v.name)} is still used`);
    const k = this.initializers.indexOf(v);
    if (k >= 0) this.initializers.splice(k, 1);
    const i = this.inputs.indexOf(v);
    if (i >= 0) this.inputs.splice(i, 1);
    this.scope.delete(v.name);
  }

  /** Turn a graph-less value (e.g. an input) into an initializer, or replace its data. */
  setInitializer(v: Value, tensor: Tensor): void {
    if (!v.initializer) this.initializers.push(v);
    v.initializer = tensor;
    v.type = { kind: 'tensor', dtype: tensor.dtype, shape: [...tensor.dims] };
  }

  /** Node by name (first match). */
  node(name: string): Node | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  /** Every node of this graph and, depth-first, of its subgraphs. */
  *allNodes(): Generator<Node> {
    for (const n of this.nodes) {
      yield n;
      for (const g of n.subgraphs()) yield* g.allNodes();
    }
  }

  /**
   * Re-order `nodes` topologically (stable: keeps file order where it is already valid). Iterative, so a chain of
   * any length sorts without deep recursion. Throws GraphError on a node that reads its own output and on any
   * cycle, naming the nodes of one cycle in order.
   */
  sortTopologically(): void {
    const index = new Map(this.nodes.map((n, i) => [n, i]));
    const pending = new Map<Node, number>();
    const users = new Map<Node, Node[]>();
    for (const n of this.nodes) {
      const deps = new Set<Node>();
      for (const v of externalInputs(n)) {
        const p = producerIn(this, v);
        if (p === n)
          throw new GraphError(
            `graph ${quoted(this.name)} has a cycle: node ${quoted(n.name || n.opType)} reads its own output ${quoted(v.name)}`,
            { node: n.name },
          );
        if (p) deps.add(p);
      }
      pending.set(n, deps.size);
      for (const d of deps) {
        const list = users.get(d) ?? [];
        list.push(n);
        users.set(d, list);
      }
    }
    const ready = new MinHeap<Node>((a, b) => index.get(a)! - index.get(b)!);
    for (const n of this.nodes) if (pending.get(n) === 0) ready.push(n);
    const order: Node[] = [];
    for (let n = ready.pop(); n; n = ready.pop()) {
      order.push(n);
      for (const u of users.get(n) ?? []) {
        const left = pending.get(u)! - 1;
        pending.set(u, left);
        if (left === 0) ready.push(u);
      }
    }
    if (order.length !== this.nodes.length) {
      const found = findCycle(this, new Set(this.nodes.filter((n) => pending.get(n)! > 0)));
      // Start the loop at its first node in file order, so the message does not depend on the walk.
      const first = found.reduce((m, n, i) => (index.get(n)! < index.get(found[m]!)! ? i : m), 0);
      const cycle = [...found.slice(first), ...found.slice(0, first)];
      const names = cycle.map((n) => `${quoted(n.name || n.opType)}`);
      const shown = names.length > 8 ? [...names.slice(0, 8), `… (${names.length} nodes)`] : names;
      throw new GraphError(`graph ${quoted(this.name)} has a cycle: ${shown.join(' → ')} → ${names[0]}`, {
        nodes: cycle.map((n) => n.name),
      });
    }
    this.nodes.length = 0;
    for (const n of order) this.nodes.push(n);
  }
}

/**
 * One cycle among `stuck` (the nodes a topological sort could not place; each has a stuck producer): walk
 * producers from any stuck node until a node repeats, then return the loop in data-flow order.
 */
function findCycle(g: Graph, stuck: Set<Node>): Node[] {
  const seen = new Map<Node, number>();
  const path: Node[] = [];
  let n: Node | undefined = stuck.values().next().value;
  while (n && !seen.has(n)) {
    seen.set(n, path.length);
    path.push(n);
    n = externalInputs(n)
      .map((v) => producerIn(g, v))
      .find((p): p is Node => p !== null && stuck.has(p));
  }
  return n ? path.slice(seen.get(n)).reverse() : path;
}

/** A binary min-heap (the topological sort's ready set, ordered by file position). */
class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly less: (a: T, b: T) => number) {}

  push(x: T): void {
    const a = this.items;
    a.push(x);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (this.less(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Values a node reads, including outer-scope values its subgraphs read. */
export function externalInputs(node: Node): Value[] {
  const vals: Value[] = node.inputs.filter((v): v is Value => v !== null);
  for (const g of node.subgraphs()) collectOuterReads(g, vals);
  return vals;
}

function collectOuterReads(g: Graph, out: Value[]): void {
  for (const n of g.nodes) {
    for (const v of n.inputs) if (v && v.graph !== g && !isInside(v.graph, g)) out.push(v);
    for (const sg of n.subgraphs()) collectOuterReads(sg, out);
  }
  for (const v of g.outputs) if (v.graph !== g && !isInside(v.graph, g)) out.push(v);
}

function isInside(inner: Graph, outer: Graph): boolean {
  for (let g: Graph | null = inner; g; g = g.parent) if (g === outer) return true;
  return false;
}

/** The node of graph `g` that produces `v` (directly or as the ancestor of a nested producer). */
function producerIn(g: Graph, v: Value): Node | null {
  return v.graph === g ? v.producer : null;
}

/** An ONNX model: a main graph plus model-level metadata. */
export class Model {
  irVersion = 8;
  readonly opsetImports = new Map<string, number>([['', 17]]);
  producerName = 'compression-studio';
  producerVersion = '';
  domain = '';
  modelVersion = 0;
  docString = '';
  readonly metadata = new Map<string, string>();
  /** Model-local functions, kept as encoded FunctionProto bytes (not interpreted). */
  functions: Uint8Array[] = [];
  /** Domains defined by the local functions. */
  functionDomains = new Set<string>();

  constructor(public graph: Graph = new Graph('main')) {}

  /** The default-domain opset version. */
  get opset(): number {
    return this.opsetImports.get('') ?? this.opsetImports.get('ai.onnx') ?? 0;
  }
}
