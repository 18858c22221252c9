/** @file The pruners end to end on small hand-built graphs: ONNX layouts, bias alignment, groups, align across nodes, and every bad-input error with its path. */
import { describe, expect, it } from 'vitest';
import { ConfigListError, registerTemplate } from '../../../../src-shared/config/index.ts';
import { Builder } from '../../../../test/pruning/helpers.ts';
import type { Model } from '../../ir/index.ts';
import { keptAlong, maskSparsity, type TargetMask } from '../masks.ts';
import { CompressionConfigError } from '../errors.ts';
import { FPGMPruner, L1NormPruner, L2NormPruner, LevelPruner } from './index.ts';

const row = (m: TargetMask) => [...m.data];

/** x → conv (8 ch, BN) → relu → gap → flatten → fc (Gemm transB 0, [8, 6]) → mm (MatMul by [6, 4]) */
function chain(): Model {
  const b = new Builder(5);
  const x = b.input('x', [1, 3, 8, 8]);
  const c = b.conv('conv', x, 8, 3);
  const bn = b.op('BatchNormalization', 'bn', [
    c,
    b.weight('bn.scale', [8]),
    b.weight('bn.bias', [8]),
    b.weight('bn.mean', [8]),
    b.weight('bn.var', [8], 0),
  ]);
  (bn.producer!.input(4)!.initializer!.data as Float32Array).fill(1);
  const flat = b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [b.op('Relu', 'relu', [bn])])]);
  const fc = b.gemm('fc', flat, 6, 8, 0);
  return b.output(b.op('MatMul', 'mm', [fc, b.weight('mm.weight', [6, 4])]), [1, 4]);
}

function pruneErrors(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof CompressionConfigError)
      return e.diagnostics.map((d) => `${d.code}@${d.path}${d.node ? `#${d.node}` : ''}`);
    throw e;
  }
  throw new Error('expected a CompressionConfigError');
}

describe('ONNX layouts', () => {
  it('prunes Gemm (transB 0) and MatMul weights along their output axis, biases aligned', async () => {
    const m = chain();
    const { masks } = await new L1NormPruner(m, [{ op_types: ['Gemm', 'MatMul'], sparse_ratio: 0.5 }]).compress();
    const fcW = masks.get('fc')!.get('weight')!;
    expect(fcW.dims).toEqual([1, 6]); // B is [K=8, N=6]: out channels on axis 1
    expect(maskSparsity(fcW)).toBe(0.5);
    expect(row(masks.get('fc')!.get('bias')!).map(Boolean)).toEqual(keptAlong(fcW, 1));
    const mmW = masks.get('mm')!.get('weight')!;
    expect(mmW.dims).toEqual([1, 4]);
    expect(maskSparsity(mmW)).toBe(0.5);
    // L1 ranking really is by column for [K, N]
    const w = m.graph.node('mm')!.input(1)!.initializer!.toFloat32();
    const colL1 = [0, 1, 2, 3].map((c) => [0, 1, 2, 3, 4, 5].reduce((s, r) => s + Math.abs(w[r * 4 + c]!), 0));
    const order = [0, 1, 2, 3].sort((a, b) => colL1[a]! - colL1[b]!);
    expect(order.slice(0, 2).every((c) => mmW.data[c] === 0)).toBe(true);
  });

  it('prunes ConvTranspose weights along axis 1 (C_out)', async () => {
    const b = new Builder(2);
    const up = b.op(
      'ConvTranspose',
      'up',
      [b.input('x', [1, 4, 4, 4]), b.weight('up.weight', [4, 6, 2, 2]), b.weight('up.bias', [6])],
      {
        kernel_shape: { type: 'ints', value: [2, 2] },
        strides: { type: 'ints', value: [2, 2] },
      },
    );
    const m = b.output(up, [1, 6, 8, 8]);
    const { masks } = await new L2NormPruner(m, [{ op_types: ['ConvTranspose'], sparse_ratio: 0.5 }]).compress();
    expect(masks.get('up')!.get('weight')!.dims).toEqual([1, 6, 1, 1]);
    expect(row(masks.get('up')!.get('bias')!).map(Boolean)).toEqual(keptAlong(masks.get('up')!.get('weight')!, 1));
  });

  it('reads block lists in the canonical out-first view and writes the mask back in ONNX layout', async () => {
    const m = chain();
    const { masks } = await new LevelPruner(m, [
      { op_names: ['fc'], target_names: ['weight'], sparse_ratio: 0.5, granularity: [3, 2] },
    ]).compress();
    const w = masks.get('fc')!.get('weight')!; // canonical [6, 8] in blocks of [3, 2] → 2×4 blocks
    expect(w.dims).toEqual([8, 6]);
    expect(maskSparsity(w)).toBe(0.5);
    // within a block (3 out × 2 in), ONNX [in, out] positions share one value
    for (let i = 0; i < 8; i += 2)
      for (let o = 0; o < 6; o += 3) {
        const v = w.data[i * 6 + o];
        for (const [di, dout] of [
          [0, 1],
          [1, 0],
          [1, 2],
        ] as const)
          expect(w.data[(i + di) * 6 + o + dout]).toBe(v);
      }
  });

  it('in_channel on a weight: the default bias align reduces to one value and broadcasts (all channels live)', async () => {
    const { masks } = await new L1NormPruner(chain(), [
      { op_names: ['fc'], sparse_ratio: 0.5, granularity: 'in_channel' },
    ]).compress();
    const w = masks.get('fc')!.get('weight')!;
    expect(w.dims).toEqual([8, 1]); // canonical [6, 8] cut per input column; ONNX [K=8, N=6]
    expect(maskSparsity(w)).toBe(0.5);
    expect(row(masks.get('fc')!.get('bias')!)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('LevelPruner is element-wise by default and exact', async () => {
    const { masks } = await new LevelPruner(chain(), [{ op_names: ['conv'], sparse_ratio: 0.3 }]).compress();
    const w = masks.get('conv')!.get('weight')!;
    expect(w.dims).toEqual([8, 3, 3, 3]);
    expect(w.data.filter((x) => x === 0).length).toBe(Math.floor(216 * 0.3));
    expect(row(masks.get('conv')!.get('bias')!).map(Boolean)).toEqual(keptAlong(w, 0)); // aligned: any survivor keeps the channel
  });
});

describe('groups and align', () => {
  it('one global threshold across layers of different sizes, weighted by block size', async () => {
    const b = new Builder(4);
    const x = b.input('x', [1, 4]);
    const small = b.gemm('small', x, 4, 4); // blocks of 4 elements
    const big = b.gemm('big', small, 4, 4);
    big.producer!.input(1)!.initializer!.data = Float32Array.from(
      { length: 16 },
      (_, i) => (Math.floor(i / 4) + 1) * 10,
    ); // rows L1 = 40, 80, 120, 160
    small.producer!.input(1)!.initializer!.data = Float32Array.from({ length: 16 }, (_, i) => Math.floor(i / 4) + 1); // rows L1 = 4, 8, 12, 16
    const m = b.output(big, [1, 4]);
    const { masks } = await new L1NormPruner(m, [
      { op_types: ['Gemm'], target_names: ['weight'], sparse_ratio: 0.5, global_group_id: 'g' },
    ]).compress();
    // budget 16 elements = 4 rows: all of "small" goes before any row of "big"
    expect(maskSparsity(masks.get('small')!.get('weight')!)).toBe(1);
    expect(maskSparsity(masks.get('big')!.get('weight')!)).toBe(0);
  });

  it('aligns one node to another node’s mask (BN to the conv before it)', async () => {
    const list = [
      { op_names: ['conv'], sparse_ratio: 0.5 },
      {
        op_names: ['bn'],
        target_settings: {
          weight: { align: { module_name: 'conv', target_name: 'weight', dims: [0] } },
          bias: { align: { module_name: 'conv', target_name: 'weight', dims: [0] } },
        },
      },
    ];
    const { masks } = await new FPGMPruner(chain(), list).compress();
    const keep = keptAlong(masks.get('conv')!.get('weight')!, 0);
    expect(row(masks.get('bn')!.get('weight')!).map(Boolean)).toEqual(keep);
    expect(row(masks.get('bn')!.get('bias')!).map(Boolean)).toEqual(keep);
  });

  it('aligns an activation to a weight: per-channel output mask', async () => {
    const m = chain();
    const out = m.graph.node('conv')!.outputs[0]!.name;
    const list = [
      {
        op_names: ['conv'],
        sparse_ratio: 0.25,
        target_names: ['weight', '_output_'],
        target_settings: { _output_: { align: { module_name: null, target_name: 'weight', dims: [0] } } },
      },
    ];
    const { masks } = await new L1NormPruner(m, list, undefined, { shapes: { [out]: [1, 8, 8, 8] } }).compress();
    const o = masks.get('conv')!.get('_output_0')!;
    expect(o.dims).toEqual([1, 8, 1, 1]);
    expect(row(o).map(Boolean)).toEqual(keptAlong(masks.get('conv')!.get('weight')!, 0));
  });

  it('gives dependency-group members identical masks', async () => {
    const b = new Builder(8);
    const x = b.input('x', [1, 4, 6, 6]);
    const m = b.output(b.op('Add', 'add', [b.conv('a', x, 8, 4), b.conv('c', x, 8, 4, 1)]), [1, 8, 6, 6]);
    const { masks } = await new L2NormPruner(m, [
      { op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 7 },
    ]).compress();
    expect(row(masks.get('a')!.get('weight')!)).toEqual(row(masks.get('c')!.get('weight')!));
    expect(maskSparsity(masks.get('a')!.get('weight')!)).toBe(0.5);
  });
});

describe('bad input', () => {
  it('surfaces schema faults with their JSON path', () => {
    const m = chain();
    const paths = (list: unknown) => {
      try {
        new L1NormPruner(m, list);
      } catch (e) {
        if (e instanceof ConfigListError) return e.issues.map((i) => i.path);
        throw e;
      }
      return [];
    };
    expect(paths([{ op_types: ['Conv'], sparse_ratio: 0.5, sparsity_ratio: 1 }])).toEqual(['$[0].sparsity_ratio']);
    expect(paths([{ op_types: ['Conv'], sparse_ratio: 1.5 }])).toEqual(['$[0].sparse_ratio']);
    expect(paths([{ op_types: ['Conv'], sparse_ratio: '0.5' }])).toEqual(['$[0].sparse_ratio']);
    expect(paths([{ op_types: ['Conv'], sparse_ratio: 0.5, sparse_threshold: 0.1 }])).toEqual([
      '$[0].sparse_threshold',
    ]);
    expect(paths([{ op_types: ['Conv'], target_settings: { weight: { sparse_ratio: -1 } } }])).toEqual([
      '$[0].target_settings.weight.sparse_ratio',
    ]);
  });

  it('names the group id and nodes when members disagree on ratio or shape', () => {
    const m = chain();
    const ratio = [
      { op_names: ['conv'], sparse_ratio: 0.5, dependency_group_id: 'res1' },
      { op_names: ['fc'], sparse_ratio: 0.25, dependency_group_id: 'res1' },
    ];
    expect(pruneErrors(() => new L1NormPruner(m, ratio))).toEqual([
      'group-ratio-mismatch@$[0].dependency_group_id#conv',
      'group-shape-mismatch@$[0].dependency_group_id#conv',
    ]);
    try {
      new L1NormPruner(m, ratio);
    } catch (e) {
      expect((e as Error).message).toMatch(
        /dependency group "res1" \(conv\.weight, fc\.weight\): members disagree on sparse_ratio \(0\.5 vs 0\.25\)/,
      );
      expect((e as Error).message).toMatch(/conv: 8; fc: 6/);
    }
    const global = [
      { op_names: ['conv'], sparse_ratio: 0.5, global_group_id: 1 },
      { op_names: ['fc'], sparse_ratio: 0.25, global_group_id: 1 },
    ];
    expect(pruneErrors(() => new L1NormPruner(m, global))).toEqual(['group-ratio-mismatch@$[0].global_group_id#conv']);
    expect(
      pruneErrors(
        () => new L1NormPruner(m, [{ op_names: ['conv'], target_names: ['weight'], dependency_group_id: 2 }]),
      ),
    ).toEqual(['group-no-ratio@$[0].dependency_group_id#conv']);
  });

  it('names the config path when align points to a missing node or target', () => {
    const m = chain();
    const to = (align: object) => [
      { op_names: ['conv'], sparse_ratio: 0.5 },
      { op_names: ['bn'], target_names: ['weight'], target_settings: { weight: { align } } },
    ];
    expect(
      pruneErrors(() => new L1NormPruner(m, to({ module_name: 'conv9', target_name: 'weight', dims: [0] }))),
    ).toEqual(['align-missing-node@$[1].target_settings.weight.align#bn']);
    expect(
      pruneErrors(() => new L1NormPruner(m, to({ module_name: 'relu', target_name: 'weight', dims: [0] }))),
    ).toEqual(['align-missing-target@$[1].target_settings.weight.align#bn']);
    expect(pruneErrors(() => new L1NormPruner(m, to({ module_name: 'fc', target_name: 'weight', dims: [0] })))).toEqual(
      ['align-source-unconfigured@$[1].target_settings.weight.align#bn'],
    );
    const mismatch = [
      { op_names: ['fc'], sparse_ratio: 0.5 },
      { op_names: ['bn'], target_names: ['bias'], align: { module_name: 'fc', target_name: 'weight', dims: [0] } },
    ];
    // the top-level align is a shortcut: it lands on bias (whose template declares align), not on weight
    expect(pruneErrors(() => new L1NormPruner(m, mismatch))).toEqual(['align-shape-mismatch@$[1].align#bn']);
    expect(
      pruneErrors(() => new L1NormPruner(m, to({ module_name: 'conv', target_name: 'weight', dims: [4] }))),
    ).toEqual(['align-bad-dims@$[1].target_settings.weight.align#bn']);
  });

  it('rejects what a one-shot pruner cannot do, naming path and node', () => {
    const m = chain();
    expect(
      pruneErrors(() => new FPGMPruner(m, [{ op_names: ['conv'], sparse_ratio: 0.5, granularity: [1, 1, 1, 1] }])),
    ).toEqual(['needs-structured-granularity@$[0].granularity#conv']);
    expect(
      pruneErrors(
        () =>
          new L1NormPruner(m, [
            { op_names: ['conv'], target_names: ['weight'], sparse_ratio: 0.5, granularity: [5, 1] },
          ]),
      ),
    ).toEqual(['bad-granularity@$[0].granularity#conv']);
    expect(
      pruneErrors(
        () =>
          new L1NormPruner(m, [
            { op_names: ['conv'], target_names: ['_input_'], target_settings: { _input_: { sparse_ratio: 0.5 } } },
          ]),
      ),
    ).toEqual(['activation-metric@$[0].target_settings._input_.sparse_ratio#conv']);
    expect(
      pruneErrors(() => new L1NormPruner(m, [{ op_names: ['conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }])),
    ).toEqual(['auto-dependency@$[0].dependency_group_id#conv']);
    expect(
      pruneErrors(
        () =>
          new L1NormPruner(m, [
            {
              op_names: ['conv'],
              target_names: ['_output_'],
              target_settings: { _output_: { align: { target_name: 'weight', dims: [0] } } },
            },
          ]),
      ),
    ).toEqual(['unknown-shape@$[0].target_names#conv']);
  });

  it('errs on a non-initializer weight named in op_names, and keeps the warning for sweeps', () => {
    const b = new Builder(1);
    const q = b.input('q', [2, 4]);
    const m = b.output(b.op('MatMul', 'scores', [q, b.op('Transpose', 't', [q])]), [2, 2]);
    expect(pruneErrors(() => new L1NormPruner(m, [{ op_names: ['scores'], sparse_ratio: 0.5 }]))).toEqual([
      'not-an-initializer@$[0].op_names[0]#scores',
    ]);
    // A sweep over MatMul that finds no weight here only warns, as long as it selects a target elsewhere…
    const b2 = new Builder(1);
    const q2 = b2.input('q', [2, 4]);
    const scores = b2.op('MatMul', 'scores', [q2, b2.op('Transpose', 't', [q2])]);
    const m2 = b2.output(b2.op('MatMul', 'proj', [scores, b2.weight('proj.weight', [2, 3])]), [2, 3]);
    const p = new L1NormPruner(m2, [{ op_types: ['MatMul'], sparse_ratio: 0.5 }]);
    expect(p.diagnostics.map((d) => d.code)).toEqual(['not-an-initializer']);
    // …while a list that selects no target at all would change nothing, and says so.
    expect(pruneErrors(() => new L1NormPruner(m, [{ op_types: ['MatMul'], sparse_ratio: 0.5 }]))).toEqual([
      'no-targets@$',
    ]);
  });

  it('a target of an op type registered by the user (Softmax input with apply_method add)', async () => {
    registerTemplate('pruning', 'Softmax', { _input_: { apply_method: 'mul' } });
    const b = new Builder(3);
    const logits = b.gemm('fc', b.input('x', [1, 8]), 4, 8);
    logits.type = { kind: 'tensor', dtype: 'float32', shape: [1, 4] };
    const m = b.output(b.op('Softmax', 'softmax', [logits]), [1, 4]);
    const list = [
      { op_names: ['fc'], sparse_ratio: 0.5 },
      {
        op_names: ['softmax'],
        target_settings: {
          _input_: { apply_method: 'add', align: { module_name: 'fc', target_name: 'weight', dims: [0] } },
        },
      },
    ];
    const { masks, applyMethods } = await new L1NormPruner(m, list).compress();
    expect(masks.get('softmax')!.get('_input_0')!.dims).toEqual([1, 4]);
    expect(applyMethods.softmax).toEqual({ _input_0: 'add' });
  });
});

describe('quiet configs are not silent', () => {
  it('warns about a config that prunes nothing and about an explicitly listed bias without a ranked weight', () => {
    const m = chain();
    const p = new L1NormPruner(m, [
      { op_names: ['conv'], granularity: 'out_channel' },
      { op_names: ['fc'], target_names: ['bias'] },
    ]);
    expect(p.diagnostics.map((d) => `${d.level}:${d.code}@${d.path}`)).toEqual([
      'info:align-source-unmasked@$[0]',
      'warning:align-source-unconfigured@$[1]',
      'warning:inactive-config@$[0]',
      'warning:inactive-config@$[1]',
    ]);
  });

  it('compress() can run twice with the same result', async () => {
    const p = new L2NormPruner(chain(), [{ op_types: ['Conv', 'Gemm'], sparse_ratio: 0.5 }]);
    const a = await p.compress();
    const b = await p.compress();
    expect(b.plan.masks).toEqual(a.plan.masks);
  });
});
