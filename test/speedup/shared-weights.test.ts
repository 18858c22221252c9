/**
 * @file A weight read directly by several nodes (a real shared weight, not torch's de-duplication through
 * Identity, which normalization undoes) stays one tensor: the dependency analysis ties its readers into one
 * group, so they are pruned alike and the compact model still shares one, smaller, tensor.
 */
import { expect, it } from 'vitest';
import { L1NormPruner, resolveAutoDependencyGroups } from '../../src-main/core/compress/pruning/index.ts';
import { normalizeModel } from '../../src-main/core/passes/index.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { Builder, shapesOf } from './helpers.ts';

const ints = (value: number[]) => ({ type: 'ints' as const, value });

it('readers of one shared weight form one dependency group and keep sharing one compact tensor', async () => {
  const b = new Builder(3);
  const x = b.input('x', [1, 4, 5, 5]);
  const w = b.weight('w', [4, 4, 1, 1]);
  const bias = b.weight('bias', [4]);
  const y1 = b.op('Relu', 'r1', [b.op('Conv', 'conv1', [x, w, bias], { kernel_shape: ints([1, 1]) })]);
  const y2 = b.op('Relu', 'r2', [
    b.op('Conv', 'conv2', [b.op('Neg', 'neg', [x]), w, bias], { kernel_shape: ints([1, 1]) }),
  ]);
  const cat = b.op('Concat', 'cat', [y1, y2], { axis: { type: 'int', value: 1 } });
  const { model } = normalizeModel(b.output(b.conv('conv3', cat, 3, 8, 1), [1, 3, 5, 5]));
  const shapes = await shapesOf(model);
  const auto = resolveAutoDependencyGroups(
    [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
    model,
    shapes,
  );
  const groupOf = (node: string) =>
    (auto.configList as { op_names: string[]; dependency_group_id: string }[]).find((c) => c.op_names.includes(node))
      ?.dependency_group_id;
  expect(groupOf('conv1')).toBeDefined();
  expect(groupOf('conv1')).toBe(groupOf('conv2'));
  const { masks, applyMethods } = await new L1NormPruner(model, auto.configList, undefined, { shapes }).compress();
  const { model: compact, report } = await new ModelSpeedup(model, masks, {
    applyMethods,
    benchmark: false,
  }).speedupModel();
  expect(report.verification.maxRelErr).toBeLessThan(1e-4);
  const [c1, c2] = [compact.graph.node('conv1')!, compact.graph.node('conv2')!];
  expect(c1.input(1)).toBe(c2.input(1));
  expect(c1.input(1)!.initializer!.dims).toEqual([2, 4, 1, 1]);
  expect(report.macRatio).toBeLessThan(0.8);
});
