/**
 * @file Deterministic text printer of the IR, for readable snapshots in tests and `studio inspect --graph`.
 * Pure: imports only the IR.
 */
import type { AttributeValue, Graph, Model, Value } from './graph.ts';

/** Print a whole model: header, then the main graph. */
export function printModel(model: Model): string {
  const opsets = [...model.opsetImports].map(([d, v]) => `${d || 'ai.onnx'}:${v}`).join(', ');
  return `model ir=${model.irVersion} opset=[${opsets}]\n${printGraph(model.graph)}`;
}

/** Print a graph, subgraphs indented. Stable across runs: no addresses, no map iteration surprises. */
export function printGraph(g: Graph, indent = ''): string {
  const lines: string[] = [];
  lines.push(
    `${indent}graph ${g.name}(${g.inputs
      .filter((v) => !v.isInitializer)
      .map(sig)
      .join(', ')}) {`,
  );
  for (const v of g.initializers) lines.push(`${indent}  init ${sig(v)}`);
  for (const n of g.nodes) {
    const attrs = [...n.attributes.keys()]
      .sort()
      .filter((k) => !isGraphAttr(n.attributes.get(k)!))
      .map((k) => `${k}=${fmtAttr(n.attributes.get(k)!)}`);
    const dom = n.domain ? `${n.domain}.` : '';
    const outs = n.outputs.map((v) => v.name).join(', ');
    const ins = n.inputs.map((v) => (v ? v.name : '_')).join(', ');
    lines.push(
      `${indent}  ${outs} = ${dom}${n.opType}[${n.name}](${ins})${attrs.length ? ` {${attrs.join(', ')}}` : ''}`,
    );
    for (const [k, a] of [...n.attributes].sort(([x], [y]) => x.localeCompare(y))) {
      if (a.type === 'graph') lines.push(`${indent}    ${k}:`, printGraph(a.value, `${indent}    `));
      if (a.type === 'graphs')
        a.value.forEach((sg, i) => lines.push(`${indent}    ${k}[${i}]:`, printGraph(sg, `${indent}    `)));
    }
  }
  lines.push(`${indent}  return ${g.outputs.map((v) => v.name).join(', ')}`, `${indent}}`);
  return lines.join('\n');
}

function isGraphAttr(a: AttributeValue): boolean {
  return a.type === 'graph' || a.type === 'graphs';
}

function sig(v: Value): string {
  const shape = v.shape;
  const dims = shape ? `[${shape.map((d) => (d === null ? '?' : d)).join(',')}]` : '';
  return `${v.name}: ${v.dtype ?? '?'}${dims}`;
}

function fmtAttr(a: AttributeValue): string {
  switch (a.type) {
    case 'float':
      return String(Math.fround(a.value));
    case 'int':
      return String(a.value);
    case 'string':
      return JSON.stringify(a.value);
    case 'floats':
    case 'ints':
      return `[${a.value.join(',')}]`;
    case 'strings':
      return JSON.stringify(a.value);
    case 'tensor':
      return `tensor<${a.value.dtype}[${a.value.dims.join(',')}]>`;
    case 'tensors':
      return `tensors(${a.value.length})`;
    default:
      return '<opaque>';
  }
}
