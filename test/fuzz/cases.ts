/**
 * @file The fuzz suite's seeded generator: case `i` of seed `s` is always the same malformed model (with its side
 * files), config list or plan. Each case knows whether it is invalid by construction (`mustFail`: accepting it is a
 * silent accept, a defect) or only possibly invalid (random truncations and bit flips: a clean error or a valid
 * result are both fine). Imports the raw encoder of the serde and node:fs for side files.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRawModel } from '../../src-main/core/onnx/raw.ts';

/** A small, fast, seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Kind = 'model' | 'config' | 'plan';

/** A case ready to run: what it is, and for models the file to open (side files written next to it). */
export interface FuzzCase {
  index: number;
  category: string;
  kind: Kind;
  mustFail: boolean;
  /** Model cases: the path to open. */
  modelPath?: string;
  /** Config and plan cases: the JSON value (configs are checked in pruning mode). */
  json?: unknown;
  /** Skip the ORT trace (very large graphs: decoding and stats are what the case is about). */
  skipTrace?: boolean;
  /** A longer time bound than the run's default, for cases whose size makes them slow by design. */
  timeoutMs?: number;
}

const REPO = join(import.meta.dirname, '..', '..');
const SEEDS = [
  'resources/mnist-cnn.onnx',
  'test/fixtures/if_model.onnx',
  'test/fixtures/loop_model.onnx',
  'test/fixtures/lstm_model.onnx',
  'test/fixtures/constant_weights_cnn.onnx',
].map((f) => new Uint8Array(readFileSync(join(REPO, f))));

type R = () => number;
const int = (r: R, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const pick = <T>(r: R, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const vi = (name: string, elemType = 1, dims: number[] = [1, 4]) => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
});

/** A valid little graph x → Relu → … → y of `n` nodes (names in file order). */
function chain(n: number, reverse = false): Record<string, unknown>[] {
  const nodes = Array.from({ length: n }, (_, i) => ({
    name: `r${i}`,
    opType: 'Relu',
    input: [i ? `v${i - 1}` : 'x'],
    output: [i === n - 1 ? 'y' : `v${i}`],
  }));
  return reverse ? nodes.reverse() : nodes;
}

function graph(extra: Record<string, unknown> = {}, n = 3): Record<string, unknown> {
  return { name: 'g', input: [vi('x')], output: [vi('y')], node: chain(n), ...extra };
}

/** Encode a varint of up to 64 bits. */
function varint(v: bigint): number[] {
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}

/** Length-delimited fields of a message (positions of their length varints), top level and one level into field 7. */
function lengthFields(bytes: Uint8Array): { at: number; lenStart: number; lenEnd: number }[] {
  const out: { at: number; lenStart: number; lenEnd: number }[] = [];
  const walk = (start: number, end: number, depth: number) => {
    let p = start;
    while (p < end) {
      const at = p;
      let tag = 0;
      let shift = 0;
      for (;;) {
        const b = bytes[p++]!;
        tag += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80 || p >= end) break;
      }
      const wire = tag % 8;
      if (wire === 0) {
        while (p < end && bytes[p]! >= 0x80) p++;
        p++;
      } else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else if (wire === 2) {
        const lenStart = p;
        let len = 0;
        shift = 0;
        for (;;) {
          const b = bytes[p++]!;
          len += (b & 0x7f) * 2 ** shift;
          shift += 7;
          if (b < 0x80 || p >= end) break;
        }
        out.push({ at, lenStart, lenEnd: p });
        if (depth === 0 && Math.floor(tag / 8) === 7) walk(p, Math.min(end, p + len), 1);
        p += len;
      } else return;
    }
  };
  walk(0, bytes.byteLength, 0);
  return out;
}

/** The case builders of model files: each writes into `dir` and returns the model path and whether it must fail. */
const MODEL_CASES: Record<
  string,
  (r: R, dir: string) => { file: string; mustFail: boolean; skipTrace?: boolean; timeoutMs?: number }
> = {
  truncation(r, dir) {
    const seed = pick(r, SEEDS);
    return write(dir, seed.subarray(0, int(r, 0, seed.byteLength - 1)), false);
  },
  'bit-flips'(r, dir) {
    const b = Uint8Array.from(pick(r, SEEDS));
    for (let k = int(r, 1, 8); k > 0; k--) b[int(r, 0, b.byteLength - 1)]! ^= 1 << int(r, 0, 7);
    return write(dir, b, false);
  },
  'random-bytes'(r, dir) {
    const b = Uint8Array.from(pick(r, SEEDS));
    const at = int(r, 0, b.byteLength - 1);
    for (let k = 0, n = int(r, 1, 64); k < n && at + k < b.byteLength; k++) b[at + k] = int(r, 0, 255);
    return write(dir, b, false);
  },
  'huge-length'(r, dir) {
    const seed = pick(r, SEEDS);
    const f = pick(r, lengthFields(seed));
    const huge = pick(r, [
      2n ** 32n + BigInt(int(r, 0, 64)),
      2n ** 35n,
      2n ** 63n - 1n,
      2n ** 64n - 1n,
      BigInt(seed.byteLength * 2 + int(r, 1, 1000)),
    ]);
    const b = new Uint8Array([...seed.subarray(0, f.lenStart), ...varint(huge), ...seed.subarray(f.lenEnd)]);
    return write(dir, b, true);
  },
  cycle(r, dir) {
    const n = int(r, 3, 60);
    const nodes = chain(n);
    const from = int(r, 1, n - 2);
    const to = int(r, from + 1, n - 1);
    // node `from` also reads the output of a later node: a cycle from..to
    (nodes[from]!.input as string[]).push(to === n - 1 ? 'y' : `v${to}`);
    nodes[from]!.opType = 'Add';
    (nodes[from]!.input as string[]).splice(0, 1, from ? `v${from - 1}` : 'x');
    return write(dir, encodeRawModel({ graph: graph({ node: r() < 0.5 ? nodes : nodes.reverse() }) }), true);
  },
  'self-loop'(r, dir) {
    const n = int(r, 1, 30);
    const nodes = chain(n);
    const k = int(r, 0, n - 1);
    nodes[k] = {
      ...nodes[k]!,
      opType: 'Add',
      input: [...(nodes[k]!.input as string[]), (nodes[k]!.output as string[])[0]!],
    };
    return write(dir, encodeRawModel({ graph: graph({ node: nodes }) }), true);
  },
  'deep-nesting'(r, dir) {
    const depth = r() < 0.5 ? int(r, 1, 30) : int(r, 34, 3000);
    // protobufjs's own encoder recurses per level: deep files are written by hand
    if (depth > 30) return write(dir, deepIfModel(depth), true, true);
    let g: Record<string, unknown> = {
      name: 'leaf',
      output: [vi('leaf_y')],
      node: [{ name: 'id', opType: 'Identity', input: ['x'], output: ['leaf_y'] }],
    };
    for (let i = 0; i < depth; i++) {
      g = {
        name: `g${i}`,
        output: [vi(`y${i}`)],
        node: [
          {
            name: `if${i}`,
            opType: 'If',
            input: ['c'],
            output: [`y${i}`],
            attribute: [
              { name: 'then_branch', type: 5, g },
              {
                name: 'else_branch',
                type: 5,
                g: {
                  name: `e${i}`,
                  output: [vi(`e${i}_y`)],
                  node: [{ name: `e${i}_id`, opType: 'Identity', input: ['x'], output: [`e${i}_y`] }],
                },
              },
            ],
          },
        ],
      };
    }
    g = { ...g, input: [vi('c', 9, []), vi('x')] };
    return write(dir, encodeRawModel({ graph: g }), depth > 32, depth > 32);
  },
  'long-chain'(r, dir) {
    const n = r() < 0.8 ? int(r, 100, 5000) : int(r, 5000, 200_000);
    // A 200,000-node chain takes about 7 s to open on an idle 2-core box, four times that when the box is busy.
    return {
      ...write(dir, encodeRawModel({ graph: graph({ node: chain(n, r() < 0.5) }, n) }), false),
      skipTrace: n > 1000,
      timeoutMs: n > 50_000 ? 120_000 : undefined,
    };
  },
  'wrong-dtype'(r, dir) {
    const variant = int(r, 0, 3);
    const dims = [int(r, 1, 4), int(r, 1, 4)];
    const n = dims[0]! * dims[1]!;
    const init =
      variant === 0
        ? { name: 'w', dataType: pick(r, [0, 99, 1000, 24, 50]), dims, rawData: new Uint8Array(n * 4) }
        : variant === 1
          ? { name: 'w', dataType: 1, dims, rawData: new Uint8Array(n * 4 + pick(r, [-4, -1, 1, 3, 100])) }
          : variant === 2
            ? { name: 'w', dataType: 1, dims, floatData: Array.from({ length: n + int(r, 1, 5) }, () => 0.5) }
            : { name: 'w', dataType: 1, dims: [-dims[0]!, dims[1]!], rawData: new Uint8Array(n * 4) };
    const input =
      variant === 3 ? [vi('x')] : [vi('x'), { name: 'w', type: { tensorType: { elemType: pick(r, [1, 7]) } } }];
    const g = {
      name: 'g',
      input,
      output: [vi('y')],
      initializer: [init],
      node: [{ name: 'add', opType: 'Add', input: ['x', 'w'], output: ['y'] }],
    };
    return write(dir, encodeRawModel({ graph: g }), true);
  },
  'bad-opset'(r, dir) {
    const variant = int(r, 0, 3);
    const opsetImport =
      variant === 0
        ? [{ domain: '', version: pick(r, [0, -1, -100]) }]
        : variant === 1
          ? [{ domain: 'com.example', version: 1 }]
          : variant === 2
            ? []
            : [{ domain: '', version: pick(r, [1000, 2 ** 40]) }];
    // version 1000 decodes, but no runtime knows it: the trace refuses it (either way the case may not pass silently)
    return write(dir, encodeRawModel({ opsetImport, graph: graph() }), true);
  },
  'no-outputs'(r, dir) {
    return write(dir, encodeRawModel({ graph: graph({ output: [] }, int(r, 1, 5)) }), true);
  },
  'dangling-input'(r, dir) {
    const nodes = chain(int(r, 2, 10));
    (nodes[int(r, 0, nodes.length - 1)]!.input as string[])[0] = `ghost\n${int(r, 0, 99)}`;
    return write(dir, encodeRawModel({ graph: graph({ node: nodes }) }), true);
  },
  'external-data'(r, dir) {
    const outside = join(dir, '..', `outside-${int(r, 0, 1e9)}.bin`);
    writeFileSync(outside, new Uint8Array(64));
    const model = join(dir, 'model');
    mkdirSync(model, { recursive: true });
    const variant = pick(r, [
      'dotdot',
      'absolute',
      'symlink-out',
      'fifo',
      'dev-zero',
      'symlink-dev',
      'missing',
      'offset-past',
      'length-wrong',
      'folder',
      'nul',
    ] as const);
    let location = 'w.bin';
    const ext = join(model, 'w.bin');
    let offset: string | undefined;
    let length: string | undefined;
    switch (variant) {
      case 'dotdot':
        location = `../${outside.split('/').pop()}`;
        break;
      case 'absolute':
        location = outside;
        break;
      case 'symlink-out':
        symlinkSync(outside, ext);
        break;
      case 'fifo':
        execFileSync('mkfifo', [ext]);
        break;
      case 'dev-zero':
        location = '/dev/zero';
        break;
      case 'symlink-dev':
        symlinkSync('/dev/zero', ext);
        break;
      case 'missing':
        break;
      case 'offset-past':
        writeFileSync(ext, new Uint8Array(16));
        offset = String(pick(r, [16, 1e6, 2 ** 53, -4]));
        break;
      case 'length-wrong':
        writeFileSync(ext, new Uint8Array(64));
        length = String(pick(r, [0, 3, 2 ** 40, -1]));
        break;
      case 'folder':
        mkdirSync(ext);
        break;
      case 'nul':
        location = 'w.bin\0../../etc/passwd';
        break;
    }
    const externalData = [
      { key: 'location', value: location },
      ...(offset ? [{ key: 'offset', value: offset }] : []),
      ...(length ? [{ key: 'length', value: length }] : []),
    ];
    const g = {
      name: 'g',
      input: [vi('x')],
      output: [vi('y')],
      initializer: [{ name: 'w', dataType: 1, dims: [1, 4], dataLocation: 1, externalData }],
      node: [{ name: 'add', opType: 'Add', input: ['x', 'w'], output: ['y'] }],
    };
    const file = join(model, 'model.onnx');
    writeFileSync(file, encodeRawModel({ graph: g }));
    return { file, mustFail: true };
  },
  'special-file'(r, dir) {
    const variant = int(r, 0, 3);
    if (variant === 0) return { file: '/dev/zero', mustFail: true };
    if (variant === 1) return { file: dir, mustFail: true };
    if (variant === 2 && process.platform === 'linux') return { file: '/proc/self/status', mustFail: true };
    const fifo = join(dir, 'model.onnx');
    execFileSync('mkfifo', [fifo]);
    return { file: fifo, mustFail: true };
  },
};

const utf8 = new TextEncoder();
const tag = (field: number, wire: number) => varint(BigInt(field * 8 + wire));
function lenField(field: number, body: Uint8Array): Uint8Array {
  const head = [...tag(field, 2), ...varint(BigInt(body.byteLength))];
  const out = new Uint8Array(head.length + body.byteLength);
  out.set(head);
  out.set(body, head.length);
  return out;
}
const strField = (field: number, s: string) => lenField(field, utf8.encode(s));
const intField = (field: number, v: number) => Uint8Array.from([...tag(field, 0), ...varint(BigInt(v))]);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

/** A ModelProto whose graph nests `depth` If nodes, encoded without recursion. */
function deepIfModel(depth: number): Uint8Array {
  const valueInfo = (name: string) => lenField(12, strField(1, name));
  let g = cat(
    strField(2, 'leaf'),
    lenField(1, cat(strField(1, 'x'), strField(2, 'leaf_y'), strField(4, 'Identity'))),
    valueInfo('leaf_y'),
  );
  for (let i = 0; i < depth; i++) {
    const attr = (name: string, body: Uint8Array) =>
      lenField(5, cat(strField(1, name), intField(20, 5), lenField(6, body)));
    const elseG = cat(
      strField(2, `e${i}`),
      lenField(1, cat(strField(1, 'x'), strField(2, `e${i}_y`), strField(4, 'Identity'))),
      valueInfo(`e${i}_y`),
    );
    const node = cat(
      strField(1, 'c'),
      strField(2, `y${i}`),
      strField(3, `if${i}`),
      strField(4, 'If'),
      attr('then_branch', g),
      attr('else_branch', elseG),
    );
    g = cat(strField(2, `g${i}`), lenField(1, node), valueInfo(`y${i}`));
  }
  g = cat(g, lenField(11, strField(1, 'c')), lenField(11, strField(1, 'x')));
  const opset = lenField(8, cat(strField(1, ''), intField(2, 17)));
  return cat(intField(1, 8), opset, lenField(7, g));
}

function write(
  dir: string,
  bytes: Uint8Array,
  mustFail: boolean,
  skipTrace = false,
): { file: string; mustFail: boolean; skipTrace?: boolean } {
  const file = join(dir, 'model.onnx');
  writeFileSync(file, bytes);
  return { file, mustFail, skipTrace };
}

// ---------------------------------------------------------------------------------------------------------------
// Config lists and plans

const GOOD_CONFIGS: unknown[][] = [
  [{ op_types: ['Conv'], sparse_ratio: 0.5 }],
  [{ op_types: ['Conv'], exclude_op_names: ['/conv1/Conv'], sparse_ratio: 0.3, dependency_group_id: 'auto' }],
  [{ op_names_re: ['.*'], target_settings: { weight: { sparse_threshold: 0.01, max_sparse_ratio: 0.9 } } }],
  [{ op_types: ['Gemm'], sparse_ratio: 0.2, granularity: 'out_channel', global_group_id: 1 }],
];

const ODD_VALUES: unknown[] = [
  null,
  -1,
  0,
  1,
  1.5,
  1e308,
  -1e308,
  '',
  'x\n\u001b[2J',
  [],
  {},
  [null],
  { a: null },
  true,
  'Conv',
  ['Conv'],
  2 ** 53,
  NaN,
];
const ODD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'sparse_ratio',
  'op_types',
  'target_settings',
  'weight',
  'align',
  'granularity',
  'x',
];

/** Mutate a JSON value at a random place: replace, delete, add a key, wrap. Returns a new value. */
function mutate(r: R, value: unknown): unknown {
  const v = JSON.parse(JSON.stringify(value)) as unknown;
  const holders: { obj: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const stack: unknown[] = [v];
  while (stack.length) {
    const x = stack.pop();
    const entries: [string | number, unknown][] = Array.isArray(x)
      ? x.map((y, i) => [i, y])
      : x && typeof x === 'object'
        ? Object.entries(x)
        : [];
    for (const [k, y] of entries) {
      holders.push({ obj: x as Record<string, unknown> | unknown[], key: k });
      stack.push(y);
    }
  }
  if (holders.length === 0) return pick(r, ODD_VALUES);
  for (let n = int(r, 1, 3); n > 0; n--) {
    const h = pick(r, holders);
    const op = int(r, 0, 3);
    if (op === 0) (h.obj as Record<string, unknown>)[h.key as string] = pick(r, ODD_VALUES);
    else if (op === 1 && !Array.isArray(h.obj)) delete (h.obj as Record<string, unknown>)[h.key as string];
    else if (op === 2 && !Array.isArray(h.obj))
      Object.defineProperty(h.obj, pick(r, ODD_KEYS), {
        value: pick(r, ODD_VALUES),
        enumerable: true,
        configurable: true,
        writable: true,
      });
    else (h.obj as Record<string, unknown>)[h.key as string] = [(h.obj as Record<string, unknown>)[h.key as string]];
  }
  return v;
}

/** Invalid by construction: each must be refused. */
function invalidConfig(r: R): unknown {
  const base = { ...(pick(r, GOOD_CONFIGS)[0] as Record<string, unknown>) };
  switch (int(r, 0, 6)) {
    case 0:
      return [{ op_types: ['Conv'], sparse_ratio: 1 + r() * 10 }];
    case 1:
      return [{ op_types: ['Conv'], sparse_threshold: -(r() + 0.001) }];
    case 2:
      return [null];
    case 3:
      return JSON.parse(
        `[{"op_types":["Conv"],"sparse_ratio":0.5,"${pick(r, ['__proto__', 'constructor', 'prototype'])}":{"sparse_ratio":0.5}}]`,
      );
    case 4:
      return [{ ...base, target_settings: { weight: null } }];
    case 5:
      return [{ ...base, [`unknown_${int(r, 0, 99)}`]: 1 }];
    default: {
      let deep: unknown = 0.5;
      for (let i = int(r, 70, 5000); i > 0; i--) deep = [deep];
      return [{ op_types: ['Conv'], sparse_ratio: deep }];
    }
  }
}

function goodPlan(r: R): Record<string, unknown> {
  return {
    name: 'fuzz',
    model: 'model.onnx',
    steps: [
      { kind: 'prune', pruner: pick(r, ['l1', 'l2', 'level', 'fpgm']), configList: pick(r, GOOD_CONFIGS) },
      { kind: 'speedup' },
    ],
  };
}

function invalidPlan(r: R): unknown {
  const p = goodPlan(r);
  switch (int(r, 0, 4)) {
    case 0:
      return {
        ...p,
        steps: [{ kind: pick(r, ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) }],
      };
    case 1:
      return JSON.parse(`{"model":"m.onnx","steps":[],"${pick(r, ['__proto__', 'constructor'])}":{"polluted":true}}`);
    case 2:
      return { ...p, steps: [null] };
    case 3:
      return { ...p, steps: [{ kind: 'prune', pruner: 'l1', configList: invalidConfig(r) }] };
    default:
      return { ...p, model: pick(r, [null, 42, '', []]) };
  }
}

const CONFIG_CASES: Record<string, (r: R) => { json: unknown; mustFail: boolean; kind: Kind }> = {
  'config-mutated': (r) => ({ json: mutate(r, pick(r, GOOD_CONFIGS)), mustFail: false, kind: 'config' }),
  'config-invalid': (r) => ({ json: invalidConfig(r), mustFail: true, kind: 'config' }),
  'plan-mutated': (r) => ({ json: mutate(r, goodPlan(r)), mustFail: false, kind: 'plan' }),
  'plan-invalid': (r) => ({ json: invalidPlan(r), mustFail: true, kind: 'plan' }),
};

/** Category weights: models get most cases; the slow ones (long chains, deep nesting) fewer. */
const WEIGHTS: [string, number][] = [
  ['truncation', 10],
  ['bit-flips', 10],
  ['random-bytes', 6],
  ['huge-length', 6],
  ['cycle', 5],
  ['self-loop', 4],
  ['deep-nesting', 3],
  ['long-chain', 2],
  ['wrong-dtype', 5],
  ['bad-opset', 4],
  ['no-outputs', 2],
  ['dangling-input', 3],
  ['external-data', 8],
  ['special-file', 2],
  ['config-mutated', 8],
  ['config-invalid', 6],
  ['plan-mutated', 6],
  ['plan-invalid', 5],
];
const TOTAL = WEIGHTS.reduce((s, [, w]) => s + w, 0);

/** Every category, in table order. */
export const CATEGORIES = WEIGHTS.map(([c]) => c);

/**
 * Build case `index` of `seed` (deterministic), writing any files under `dir` (a fresh folder per case).
 *
 * @example const c = buildCase(1, 42, '/tmp/case-42');
 */
export function buildCase(seed: number, index: number, dir: string): FuzzCase {
  const r = rng((seed * 0x9e3779b1) ^ (index * 0x85ebca6b));
  let x = r() * TOTAL;
  const category = WEIGHTS.find(([, w]) => (x -= w) < 0)?.[0] ?? WEIGHTS[0]![0];
  const model = MODEL_CASES[category];
  if (model) {
    mkdirSync(dir, { recursive: true });
    const { file, mustFail, skipTrace, timeoutMs } = model(r, dir);
    return { index, category, kind: 'model', mustFail, modelPath: file, skipTrace, timeoutMs };
  }
  const { json, mustFail, kind } = CONFIG_CASES[category]!(r);
  return { index, category, kind, mustFail, json };
}
