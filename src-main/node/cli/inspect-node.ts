/**
 * @file `studio inspect <model> --node <name> [--config cfg.json] [--json]`: the node inspector on the command line
 * (attributes, ports with traced shapes, initializer statistics with a text histogram, Q/DQ parameters, the config
 * entries that select the node).
 */
import { openModel } from '../io/open-model.ts';
import { nodeDetails, type NodeDetails, type TensorStats } from '../inspect-node.ts';
import { resolveInputShapes, trace } from '../runtime/index.ts';
import { formatShape } from '../../../src-shared/format.ts';
import { readConfigList } from './config-file.ts';

const BAR = '▁▂▃▄▅▆▇█';

/** One line of block characters, one per histogram bin, scaled to the fullest bin. */
export function sparkline(counts: readonly number[]): string {
  const top = Math.max(1, ...counts);
  return counts
    .map((c) => (c === 0 ? ' ' : BAR[Math.min(BAR.length - 1, Math.floor((c / top) * (BAR.length - 1) + 0.5))]!))
    .join('');
}

const g = (x: number) => (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : x.toFixed(4));

function statsLines(s: TensorStats): string[] {
  return [
    `      ${s.count} values  min ${g(s.min)}  max ${g(s.max)}  mean ${g(s.mean)}  std ${g(s.std)}  zeros ${(s.sparsity * 100).toFixed(1)}%`,
    `      histogram [${g(s.histogram.lo)} … ${g(s.histogram.hi)}] |${sparkline(s.histogram.counts)}|`,
  ];
}

/** Text rendering of a node's details. */
export function renderNode(d: NodeDetails): string {
  const lines = [`${d.name}  ${d.opType}${d.domain === 'ai.onnx' ? '' : ` (${d.domain})`}`];
  const attrs = Object.entries(d.attributes);
  if (attrs.length) lines.push('  attributes', ...attrs.map(([k, v]) => `    ${k} = ${JSON.stringify(v)}`));
  for (const [title, ports] of [
    ['inputs', d.inputs],
    ['outputs', d.outputs],
  ] as const) {
    lines.push(`  ${title}`);
    for (const p of ports) {
      const from = p.initializer ? 'initializer' : p.producer ? `from ${p.producer}` : 'graph input';
      lines.push(
        `    ${p.name}: ${p.dtype ?? '?'}${p.shape ? formatShape(p.shape) : '[?]'}  ${title === 'inputs' ? from : `to ${p.consumers.join(', ') || 'graph output'}`}`,
      );
      if (p.initializer) lines.push(...statsLines(p.initializer));
      if (p.quantization)
        lines.push(
          `      ${p.quantization.opType} ${p.quantization.node}: scale ${p.quantization.scale.slice(0, 4).map(g).join(', ')}${p.quantization.scale.length > 4 ? ', …' : ''}  zero point ${p.quantization.zeroPoint.slice(0, 4).join(', ')}${p.quantization.axis === null ? '' : `  axis ${p.quantization.axis}`}`,
        );
    }
  }
  if (d.selectedBy.length) lines.push(`  selected by config entries ${d.selectedBy.map((s) => s.path).join(', ')}`);
  return lines.join('\n');
}

export async function inspectNodeCommand(
  file: string,
  name: string,
  o: { json?: boolean; config?: string; shapes?: Record<string, number[]>; ep?: string },
): Promise<NodeDetails> {
  const { model } = openModel(file);
  const configList = o.config ? readConfigList(o.config) : undefined;
  const t = await trace(model, { shapes: resolveInputShapes(model, o.shapes), ep: o.ep });
  const d = nodeDetails(model, name, {
    shapes: t.values,
    configList: configList === undefined ? undefined : Array.isArray(configList) ? configList : [configList],
  });
  process.stdout.write(o.json ? `${JSON.stringify(d, null, 2)}\n` : `${renderNode(d)}\n`);
  return d;
}
