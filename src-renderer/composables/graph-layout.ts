/**
 * @file Layered (Sugiyama-style) layout of the graph view, linear in nodes + edges so that graphs of thousands of
 * nodes lay out in milliseconds: longest-path layers (sources pulled down next to their first consumer),
 * barycenter ordering sweeps within layers, then x positions pulled toward the parents' mean and de-overlapped.
 * Data flows top to bottom, as in Netron. Pure functions; `useGraphLayout` wraps them in a computed.
 */
import { computed, type Ref } from 'vue';
import type { GraphView } from '../../src-shared/ipc/dto.ts';

export interface LaidNode {
  id: number;
  x: number;
  y: number;
  w: number;
  h: number;
  layer: number;
}

export interface GraphLayout {
  nodes: LaidNode[];
  /** Node index by id. */
  byId: Map<number, LaidNode>;
  width: number;
  height: number;
  layers: number;
}

export const NODE_H = 34;
const LAYER_GAP = 30;
const NODE_GAP = 22;
const SWEEPS = 4;

/**
 * Width of a node's box from its title and subtitle (the layout measures no text, so: characters × a typical
 * advance at 12 px and 10.5 px).
 */
export function nodeWidth(title: string, subtitle = ''): number {
  return Math.min(200, Math.max(84, title.length * 7.4 + 30, subtitle.length * 6.3 + 30));
}

/** Kahn's order; nodes left in a cycle are appended in id order (an ONNX main graph has none). */
function topoOrder(n: number, succ: number[][], pred: number[][]): number[] {
  const indeg = pred.map((p) => p.length);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
  const order: number[] = [];
  for (let q = 0; q < queue.length; q++) {
    const v = queue[q]!;
    order.push(v);
    for (const s of succ[v]!) if (--indeg[s]! === 0) queue.push(s);
  }
  if (order.length < n) {
    const seen = new Set(order);
    for (let i = 0; i < n; i++) if (!seen.has(i)) order.push(i);
  }
  return order;
}

function assignLayers(order: number[], succ: number[][], pred: number[][]): number[] {
  const layer = new Array<number>(order.length).fill(0);
  for (const v of order) for (const p of pred[v]!) layer[v] = Math.max(layer[v]!, layer[p]! + 1);
  // A source (graph input, Constant) sits right above its first consumer instead of at the very top.
  for (const v of order) {
    if (pred[v]!.length > 0 || succ[v]!.length === 0) continue;
    layer[v] = Math.max(0, Math.min(...succ[v]!.map((s) => layer[s]!)) - 1);
  }
  return layer;
}

/** Barycenter sweeps: each node moves to the mean position of its neighbours in the previous layer. */
function orderLayers(layers: number[][], succ: number[][], pred: number[][]): void {
  const pos = new Map<number, number>();
  const index = () => layers.forEach((l) => l.forEach((v, i) => pos.set(v, i)));
  index();
  const sweep = (range: number[], neighbours: number[][]) => {
    for (const li of range) {
      const l = layers[li]!;
      const key = new Map(
        l.map((v, i) => {
          const ns = neighbours[v]!;
          return [v, ns.length ? ns.reduce((s, u) => s + pos.get(u)!, 0) / ns.length : i] as const;
        }),
      );
      l.sort((a, b) => key.get(a)! - key.get(b)!);
      l.forEach((v, i) => pos.set(v, i));
    }
  };
  const down = layers.map((_, i) => i).slice(1);
  const up = layers
    .map((_, i) => i)
    .reverse()
    .slice(1);
  for (let s = 0; s < SWEEPS; s++) {
    sweep(down, pred);
    sweep(up, succ);
  }
}

/** x positions: toward the mean x of the parents, then pushed apart to keep order and gaps. */
function placeX(layers: number[][], pred: number[][], w: number[]): number[] {
  const x = new Array<number>(w.length).fill(0);
  for (const l of layers) {
    let cursor = 0;
    for (const v of l) {
      x[v] = cursor;
      cursor += w[v]! + NODE_GAP;
    }
  }
  for (let pass = 0; pass < 2; pass++) {
    for (const l of layers) {
      const want = l.map((v) => {
        const ps = pred[v]!;
        return ps.length ? ps.reduce((s, p) => s + x[p]! + w[p]! / 2, 0) / ps.length - w[v]! / 2 : x[v]!;
      });
      // left to right: no overlap; right to left: pull back toward the wish where there is room
      for (let i = 0; i < l.length; i++)
        x[l[i]!] = i === 0 ? want[i]! : Math.max(want[i]!, x[l[i - 1]!]! + w[l[i - 1]!]! + NODE_GAP);
      for (let i = l.length - 2; i >= 0; i--) {
        const limit = x[l[i + 1]!]! - NODE_GAP - w[l[i]!]!;
        x[l[i]!] = Math.min(x[l[i]!]!, limit);
      }
    }
  }
  return x;
}

/**
 * Lays out a graph view.
 *
 * @example const { nodes, width, height } = layoutGraph(view, (n) => nodeWidth(n.opType));
 */
export function layoutGraph(view: GraphView, widthOf: (n: GraphView['nodes'][number]) => number): GraphLayout {
  const n = view.nodes.length;
  const idx = new Map(view.nodes.map((node, i) => [node.id, i]));
  const succ: number[][] = Array.from({ length: n }, () => []);
  const pred: number[][] = Array.from({ length: n }, () => []);
  for (const e of view.edges) {
    const a = idx.get(e.from);
    const b = idx.get(e.to);
    if (a === undefined || b === undefined || a === b) continue;
    succ[a]!.push(b);
    pred[b]!.push(a);
  }
  const order = topoOrder(n, succ, pred);
  const layerOf = assignLayers(order, succ, pred);
  const depth = n ? Math.max(...layerOf) + 1 : 0;
  const layers: number[][] = Array.from({ length: depth }, () => []);
  for (const v of order) layers[layerOf[v]!]!.push(v);
  orderLayers(layers, succ, pred);
  const w = view.nodes.map(widthOf);
  const x = placeX(layers, pred, w);
  const minX = n ? Math.min(...x) : 0;
  const nodes: LaidNode[] = view.nodes.map((node, i) => ({
    id: node.id,
    x: x[i]! - minX,
    y: layerOf[i]! * (NODE_H + LAYER_GAP),
    w: w[i]!,
    h: NODE_H,
    layer: layerOf[i]!,
  }));
  const width = nodes.reduce((m, nd) => Math.max(m, nd.x + nd.w), 0);
  return {
    nodes,
    byId: new Map(nodes.map((nd) => [nd.id, nd])),
    width,
    height: depth * (NODE_H + LAYER_GAP) - LAYER_GAP,
    layers: depth,
  };
}

/** The layout of a reactive graph view (recomputed only when the view changes). */
export function useGraphLayout(view: Ref<GraphView | null>, widthOf: (n: GraphView['nodes'][number]) => number) {
  return computed(() => (view.value ? layoutGraph(view.value, widthOf) : null));
}
