/**
 * @file Gradient rules of elementwise ops (unary, broadcasting binary, Where, Clip, activations) and the
 * straight-through rules used by quantization-aware training. Pure: imports the IR and autodiff kit.
 */
import type { Value } from '../../ir/index.ts';
import type { Emitter } from '../emitter.ts';
import { normAxis, type Grads, type VjpContext, type VjpRule } from '../rule.ts';

/** Factory: a unary op whose derivative is `local(c)` (dx = dy · local). */
export function unaryRule(local: (c: VjpContext, x: Value, y: Value) => Value): VjpRule {
  return (c) => [c.e.mul(c.dy, local(c, c.x(0), c.y()))];
}

/** Factory: dx = dy masked by a condition on x or y (zero where it is false). */
export function maskRule(cond: (c: VjpContext, x: Value, y: Value) => Value): VjpRule {
  return (c) => [c.e.where(cond(c, c.x(0), c.y()), c.dy, c.e.scalarLike(0, c.dy))];
}

/** Factory: a broadcasting binary op with partial derivatives `da(c)`, `db(c)` (each times dy, un-broadcast). */
export function binaryRule(da: ((c: VjpContext) => Value) | null, db: ((c: VjpContext) => Value) | null): VjpRule {
  return (c) => [
    c.need(0) && da ? c.e.unbroadcast(da(c), c.xs(0)) : null,
    c.need(1) && db ? c.e.unbroadcast(db(c), c.xs(1)) : null,
  ];
}

const identityRule: VjpRule = (c) => [c.dy];

export const elementwiseRules = {
  // y = a + b: da = dy, db = dy (each summed over broadcast axes)
  Add: binaryRule(
    (c) => c.dy,
    (c) => c.dy,
  ),
  // y = a − b: da = dy, db = −dy
  Sub: binaryRule(
    (c) => c.dy,
    (c) => c.e.neg(c.dy),
  ),
  // y = a·b: da = dy·b, db = dy·a
  Mul: binaryRule(
    (c) => c.e.mul(c.dy, c.x(1)),
    (c) => c.e.mul(c.dy, c.x(0)),
  ),
  // y = a/b: da = dy/b, db = −dy·y/b
  Div: binaryRule(
    (c) => c.e.div(c.dy, c.x(1)),
    (c) => c.e.neg(c.e.div(c.e.mul(c.dy, c.y()), c.x(1))),
  ),
  // y = a^b: da = dy·b·a^(b−1), db = dy·y·ln a
  Pow: binaryRule(
    (c) => {
      const b = c.e.cast(c.x(1), c.e.dtype(c.x(0)));
      return c.e.mul(c.dy, c.e.mul(b, c.e.pow(c.x(0), c.e.sub(b, c.e.scalarLike(1, b)))));
    },
    (c) => c.e.cast(c.e.mul(c.e.mul(c.dy, c.y()), c.e.unary('Log', c.x(0))), c.e.dtype(c.x(1))),
  ),
  // y = Σ xᵢ: dxᵢ = dy
  Sum: (c) => c.node.inputs.map((v, i) => (c.need(i) && v ? c.e.unbroadcast(c.dy, c.shape(v)) : null)),
  // y = −x
  Neg: (c) => [c.e.neg(c.dy)],
  // y = √x: dx = dy·0.5/y
  Sqrt: unaryRule((c, _x, y) => c.e.div(c.e.scalarLike(0.5, y), y)),
  // y = eˣ: dx = dy·y
  Exp: unaryRule((_c, _x, y) => y),
  // y = ln x: dx = dy/x
  Log: (c) => [c.e.div(c.dy, c.x(0))],
  // y = 1/x: dx = −dy·y²
  Reciprocal: unaryRule((c, _x, y) => c.e.neg(c.e.mul(y, y))),
  // y = |x|: dx = dy·sign(x)
  Abs: unaryRule((c, x) => c.e.unary('Sign', x)),
  // y = erf(x): dx = dy·(2/√π)·exp(−x²)
  Erf: unaryRule((c, x) => c.e.scale(c.e.unary('Exp', c.e.neg(c.e.mul(x, x))), 2 / Math.sqrt(Math.PI))),
  // y = max(x, 0): dx = dy where y > 0
  Relu: maskRule((c, _x, y) => c.e.compare('Greater', y, c.e.scalarLike(0, y))),
  // y = x (x > 0) or αx: dx = dy or α·dy
  LeakyRelu: (c) => {
    const pos = c.e.compare('Greater', c.x(0), c.e.scalarLike(0, c.dy));
    return [c.e.where(pos, c.dy, c.e.scale(c.dy, c.float('alpha', 0.01)))];
  },
  // y = σ(x): dx = dy·y·(1−y)
  Sigmoid: unaryRule((c, _x, y) => c.e.mul(y, c.e.sub(c.e.scalarLike(1, y), y))),
  // y = tanh x: dx = dy·(1−y²)
  Tanh: unaryRule((c, _x, y) => c.e.sub(c.e.scalarLike(1, y), c.e.mul(y, y))),
  // y = clamp(αx+β, 0, 1): dx = α·dy inside (0, 1), else 0
  HardSigmoid: (c) => {
    const t = c.e.add(c.e.scale(c.x(0), c.float('alpha', 0.2)), c.e.scalarLike(c.float('beta', 0.5), c.dy));
    const inside = c.e.op(
      'And',
      [c.e.compare('Greater', t, c.e.scalarLike(0, t)), c.e.compare('Less', t, c.e.scalarLike(1, t))],
      {},
      c.xs(0),
      'bool',
    );
    return [c.e.where(inside, c.e.scale(c.dy, c.float('alpha', 0.2)), c.e.scalarLike(0, c.dy))];
  },
  // y = x·clamp(x/6+½, 0, 1): dx = 0 (x < −3), dy·(x/3+½) (x ≤ 3), dy (x > 3)   (torch's convention)
  HardSwish: (c) => {
    const x = c.x(0);
    const mid = c.e.mul(c.dy, c.e.add(c.e.scale(x, 1 / 3), c.e.scalarLike(0.5, x)));
    const upper = c.e.where(c.e.compare('Greater', x, c.e.scalarLike(3, x)), c.dy, mid);
    return [c.e.where(c.e.compare('Less', x, c.e.scalarLike(-3, x)), c.e.scalarLike(0, x), upper)];
  },
  // y = clamp(x, lo, hi): dx = dy where lo ≤ x ≤ hi (torch.clamp's convention); lo/hi get none
  Clip: (c) => [clipMask(c.e, c.x(0), c.maybe(1), c.maybe(2), c.dy)],
  // y = cond ? a : b: da = dy where cond, db = dy where not
  Where: (c) => {
    const zero = c.e.scalarLike(0, c.dy);
    return [
      null,
      c.need(1) ? c.e.unbroadcast(c.e.where(c.x(0), c.dy, zero), c.xs(1)) : null,
      c.need(2) ? c.e.unbroadcast(c.e.where(c.x(0), zero, c.dy), c.xs(2)) : null,
    ];
  },
  Identity: identityRule,
  // Cast back to the input's float type; integer inputs get no gradient
  Cast: (c) => [isFloat(c.e, c.x(0)) ? c.e.cast(c.dy, c.e.dtype(c.x(0))) : null],
  // Dropout in inference mode (training mode is rewritten to a mask multiply before differentiation)
  Dropout: identityRule,
  // Straight-through estimator: round is treated as the identity
  Round: identityRule,
  // q = sat(round(x/s) + zp): STE dx = dq/s where round(x/s)+zp lies in [qmin, qmax];  ds = Σ −dq·x/s² (same mask)
  QuantizeLinear: (c) => quantizeVjp(c),
  // y = (q − zp)·s: dq = dy·s;  ds = Σ dy·(q − zp)
  DequantizeLinear: (c) => dequantizeVjp(c),
} satisfies Record<string, VjpRule>;

function isFloat(e: Emitter, v: Value): boolean {
  const d = e.dtype(v);
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}

function clipMask(e: Emitter, x: Value, lo: Value | null, hi: Value | null, dy: Value): Value {
  const conds: Value[] = [];
  if (lo) conds.push(e.compare('GreaterOrEqual', x, lo));
  if (hi) conds.push(e.compare('LessOrEqual', x, hi));
  if (conds.length === 0) return dy;
  const cond = conds.length === 1 ? conds[0]! : e.op('And', conds, {}, e.shape(x), 'bool');
  return e.where(cond, dy, e.scalarLike(0, dy));
}

/** Shape a per-axis quantization parameter so it broadcasts against x along `axis`. */
function quantParam(c: VjpContext, p: Value, xRank: number): Value {
  const ps = c.shape(p);
  if (ps.length !== 1 || xRank === 0) return p;
  const axis = normAxis(c.int('axis', 1), xRank);
  return c.e.reshape(
    p,
    Array.from({ length: xRank }, (_, i) => (i === axis ? ps[0]! : 1)),
  );
}

function quantRange(dtype: string): [number, number] {
  const ranges: Record<string, [number, number]> = {
    int8: [-128, 127],
    uint8: [0, 255],
    int16: [-32768, 32767],
    uint16: [0, 65535],
    int4: [-8, 7],
    uint4: [0, 15],
  };
  return ranges[dtype] ?? [-128, 127];
}

function quantizeVjp(c: VjpContext): Grads {
  const x = c.x(0);
  const fdt = c.e.dtype(x);
  const s = quantParam(c, c.x(1), c.xs(0).length);
  const zpIn = c.maybe(2);
  const zp = zpIn ? c.e.cast(quantParam(c, zpIn, c.xs(0).length), fdt) : c.e.scalar(0, fdt);
  const [qmin, qmax] = quantRange(zpIn ? c.e.dtype(zpIn) : 'uint8');
  const q = c.e.add(c.e.unary('Round', c.e.div(x, s)), zp);
  const inRange = c.e.op(
    'And',
    [c.e.compare('GreaterOrEqual', q, c.e.scalar(qmin, fdt)), c.e.compare('LessOrEqual', q, c.e.scalar(qmax, fdt))],
    {},
    c.xs(0),
    'bool',
  );
  const dq = c.e.where(inRange, c.e.cast(c.dy, fdt), c.e.scalar(0, fdt));
  return [
    c.need(0) ? c.e.div(dq, s) : null,
    c.need(1) ? c.e.unbroadcast(c.e.neg(c.e.div(c.e.mul(dq, x), c.e.mul(s, s))), c.xs(1)) : null,
    null,
  ];
}

function dequantizeVjp(c: VjpContext): Grads {
  const fdt = c.e.dtype(c.y());
  const s = quantParam(c, c.x(1), c.xs(0).length);
  const zpIn = c.maybe(2);
  const q = c.e.cast(c.x(0), fdt);
  const centered = zpIn ? c.e.sub(q, c.e.cast(quantParam(c, zpIn, c.xs(0).length), fdt)) : q;
  return [
    c.need(0) ? c.e.mul(c.dy, s) : null,
    c.need(1) ? c.e.unbroadcast(c.e.mul(c.dy, centered), c.xs(1)) : null,
    null,
  ];
}
