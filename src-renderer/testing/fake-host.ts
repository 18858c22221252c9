/**
 * @file A fake host for component and store tests: in-memory services behind the real `RpcServer` / `RpcClient`
 * over a memory transport pair (so every payload is still validated against the contract), a connection whose
 * state tests can drop and restore, and hooks to emit events and inspect calls. Imports src-shared only.
 */
import type { CallContext, StudioImpl } from '../../src-shared/ipc/contract.ts';
import type {
  GraphView,
  OpenedModel,
  RunDetail,
  RunSummary,
  Settings,
  TargetsReply,
} from '../../src-shared/ipc/dto.ts';
import { compressorCapabilities } from '../../src-shared/compressors.ts';
import type { SensitivityScan } from '../../src-shared/sensitivity.ts';
import { IpcError } from '../../src-shared/ipc/errors.ts';
import { memoryTransportPair, RpcClient, RpcServer } from '../../src-shared/ipc/rpc.ts';
import type { ConnectionState, Host, HostConnection } from '../host/host.ts';

export const FAKE_MODEL: OpenedModel = {
  modelId: 'm1',
  path: '/models/net.onnx',
  name: 'net.onnx',
  info: {
    irVersion: 8,
    opset: 17,
    opsetImports: { 'ai.onnx': 17 },
    producer: 'test',
    inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
    outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 3] }],
    nodes: 1,
    opTypes: { Gemm: 1 },
    params: 12,
    macs: 12,
    sizeBytes: 48,
    uncounted: [],
    liftedConstants: false,
    controlFlow: [],
  },
};

export const FAKE_GRAPH: GraphView = {
  nodes: [
    { id: 0, kind: 'input', name: 'x', opType: 'Input', params: 0, weightShape: null, shape: [1, 4] },
    { id: 1, kind: 'op', name: 'fc', opType: 'Gemm', params: 12, weightShape: [3, 4], shape: [1, 3] },
    { id: 2, kind: 'output', name: 'y', opType: 'Output', params: 0, weightShape: null, shape: [1, 3] },
  ],
  edges: [
    { from: 0, to: 1, value: 'x', shape: [1, 4] },
    { from: 1, to: 2, value: 'y', shape: [1, 3] },
  ],
};

/** A scan of two groups at three ratios: conv1 loses little accuracy and saves little time, conv2 the opposite. */
export const FAKE_SCAN: SensitivityScan = {
  format: 'studio-sensitivity',
  version: 1,
  model: { path: '/models/net.onnx', sha256: 'ab' },
  pruner: 'l1',
  ratios: [0.25, 0.5, 0.75],
  ep: 'cpu',
  eval: { data: '/data', split: 'test', count: 100, seed: 0, batchSize: 64 },
  groups: ['conv1', 'conv2'].map((id) => ({
    id,
    nodes: [`/${id}/Conv`],
    opTypes: ['Conv'],
    channels: 8,
    configList: [{ op_names: [`/${id}/Conv`], sparse_ratio: 0.5 }],
  })),
  baseline: { accuracy: 0.9, latencyMs: 10, macs: 1000, params: 100, sizeBytes: 400 },
  points: [0.25, 0.5, 0.75].flatMap((ratio, i) =>
    (['conv1', 'conv2'] as const).map((group, g) => ({
      index: g * 3 + i,
      group,
      ratio,
      accuracy: group === 'conv1' ? 0.9 - ratio / 100 : 0.9 - ratio / 4,
      latencyMs: 10 * (1 - ratio * (group === 'conv1' ? 0.1 : 0.4)),
      denseLatencyMs: 10,
      latencyRatio: 1 - ratio * (group === 'conv1' ? 0.1 : 0.4),
      macs: 1000 * (1 - ratio / 2),
      params: 100 * (1 - ratio / 2),
      maxRelErr: 1e-6,
      removedChannels: Math.round(8 * ratio),
      maskDigest: `d${g}${i}`,
      ep: 'cpu',
      ms: 5,
    })),
  ),
  workers: 1,
  wallMs: 1000,
};

export function fakeRun(id: string, patch: Partial<RunSummary> = {}): RunSummary {
  return {
    id,
    experimentId: 'e1',
    experimentName: 'default',
    name: `run ${id}`,
    status: 'succeeded',
    plan: { model: '/models/net.onnx', steps: [{ kind: 'prune' }] } as unknown as RunSummary['plan'],
    stepCount: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    startedAt: '2025-01-01T00:00:01.000Z',
    finishedAt: '2025-01-01T00:00:05.000Z',
    error: null,
    attempts: 1,
    notes: '',
    tags: [],
    report: null,
    before: null,
    after: null,
    ...patch,
  };
}

/** A connection tests can drop and restore. */
class FakeConnection implements HostConnection {
  state: ConnectionState = 'open';
  private readonly listeners = new Set<(s: ConnectionState, info: { reconnected: boolean; reason?: string }) => void>();
  onState(l: (s: ConnectionState, info: { reconnected: boolean; reason?: string }) => void) {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }
  set(state: ConnectionState, reconnected = false): void {
    this.state = state;
    for (const l of [...this.listeners]) l(state, { reconnected, reason: state === 'open' ? undefined : 'test drop' });
  }
}

export interface FakeHost extends Host {
  server: RpcServer;
  runs: Map<string, RunSummary>;
  calls: string[];
  connection: FakeConnection;
  /** Drop the connection and bring it back (the stores resync). */
  reconnect(): void;
}

const settings: Settings = {
  theme: 'light',
  executionProvider: 'cpu',
  recentFiles: [],
  dataDir: '/tmp/studio',
  version: '0.0.0',
  shell: 'test',
  nativeDialogs: false,
};

/**
 * A fake host with a few runs and one model.
 *
 * @example const host = createFakeHost(); setHost(host); const store = useRunsStore();
 */
export function createFakeHost(overrides: Partial<{ [K in keyof StudioImpl]: Partial<StudioImpl[K]> }> = {}): FakeHost {
  const runs = new Map<string, RunSummary>([
    ['aaaa01', fakeRun('aaaa01', { name: 'first' })],
    ['bbbb02', fakeRun('bbbb02', { name: 'second', tags: ['int8'] })],
  ]);
  const calls: string[] = [];
  const log = (name: string) => calls.push(name);
  const detail = (id: string): RunDetail => {
    const r = runs.get(id);
    if (!r) throw new IpcError({ name: 'StoreError', code: 'RUN_NOT_FOUND', message: `no run "${id}"` });
    return {
      ...r,
      steps: [
        {
          index: 0,
          kind: 'prune',
          status: r.status === 'succeeded' ? 'done' : 'pending',
          startedAt: null,
          finishedAt: null,
          durationMs: 12,
          result: null,
          error: null,
        },
      ],
      artifacts: [],
      progress: null,
    };
  };
  const targets = (configList: unknown): TargetsReply => {
    const list = configList as { sparse_ratio?: number }[];
    const bad = Array.isArray(list)
      ? list.findIndex((e) => typeof e.sparse_ratio === 'number' && e.sparse_ratio > 1)
      : 0;
    if (bad >= 0)
      return {
        ok: false,
        issues: [{ path: `$[${bad}].sparse_ratio`, message: 'must be ≤ 1' }],
        diagnostics: [],
        targets: [],
      };
    return {
      ok: true,
      issues: [],
      diagnostics: [],
      targets: [
        {
          node: 'fc',
          opType: 'Gemm',
          target: 'weight',
          kind: 'parameter',
          configIndex: 0,
          path: '$[0]',
          setting: { sparse_ratio: 0.5 },
        },
      ],
    };
  };
  const impl: StudioImpl = {
    models: {
      open: ({ source }, ctx: CallContext<{ phase: string; fraction: number }>) => {
        log('models.open');
        ctx.progress({ phase: 'reading', fraction: 0 });
        if (source.kind === 'bytes' && !source.name.endsWith('.onnx')) {
          throw new IpcError({
            name: 'ModelFormatError',
            code: 'MODEL_FORMAT',
            message: 'not an ONNX model: invalid protobuf wire type 4 (byte offset 3)',
          });
        }
        return FAKE_MODEL;
      },
      inspect: () => FAKE_MODEL.info,
      graph: () => FAKE_GRAPH,
      targets: ({ configList }) => targets(configList),
      node: ({ node }) => ({
        name: node,
        opType: 'Gemm',
        domain: 'ai.onnx',
        attributes: { transB: 1 },
        inputs: [
          { name: 'x', dtype: 'float32', shape: [1, 4], producer: null, consumers: [node] },
          {
            name: 'w',
            dtype: 'float32',
            shape: [3, 4],
            producer: null,
            consumers: [node],
            initializer: {
              count: 12,
              min: -1,
              max: 1,
              mean: 0,
              std: 0.5,
              sparsity: 0.25,
              histogram: { lo: -1, hi: 1, counts: [2, 3, 3, 4] },
            },
          },
        ],
        outputs: [{ name: 'y', dtype: 'float32', shape: [1, 3], producer: node, consumers: [] }],
        selectedBy: [{ index: 0, path: '$[0]' }],
      }),
      examples: () => ({
        models: [{ id: 'mnist-cnn', name: 'MNIST CNN', description: 'example', path: '/res/mnist-cnn.onnx' }],
        datasets: [
          {
            id: 'mnist-quick',
            name: 'MNIST (quick)',
            description: 'quick',
            dataset: { evaluation: { kind: 'idx', paths: ['a', 'b'] } },
          },
        ],
      }),
      ...overrides.models,
    },
    experiments: {
      validate: () => ({ ok: true, issues: [] }),
      create: ({ name }) => ({ id: 'e2', name, createdAt: '2025-01-01T00:00:00.000Z' }),
      list: () => [],
      start: ({ name }) => {
        log('experiments.start');
        const id = `cccc0${runs.size + 1}`;
        runs.set(id, fakeRun(id, { name: name ?? id, status: 'queued' }));
        return { runId: id };
      },
      sweep: ({ runId, grid }) => {
        log('experiments.sweep');
        const base = runs.get(runId)!;
        const [path, values] = Object.entries(grid)[0]!;
        const runIds = values.map((v, i) => {
          const id = `swp00${i + 1}`;
          runs.set(
            id,
            fakeRun(id, { name: `${base.name} [${path}=${String(v)}]`, status: 'queued', tags: ['sweep:5eed0001'] }),
          );
          return id;
        });
        return { sweepId: '5eed0001', runIds };
      },
      cancel: () => ({ cancelled: true }),
      resume: ({ runId }) => ({ runId }),
      capabilities: () => ({
        stepKinds: ['prune', 'speedup', 'finetune', 'quantize'],
        knownStepKinds: ['prune', 'speedup', 'finetune', 'quantize'],
        executionProviders: [{ name: 'cpu', available: true }],
        ...compressorCapabilities(),
      }),
      ...overrides.experiments,
    },
    runs: {
      list: ({ text }) => {
        log('runs.list');
        return [...runs.values()].filter((r) => !text || r.name.includes(text));
      },
      get: ({ runId }) => {
        log(`runs.get ${runId}`);
        return detail(runId);
      },
      metrics: ({ runIds }) =>
        Object.fromEntries(runIds.map((id) => [id, { loss: [{ stepIndex: 0, x: 0, value: 1, t: 1 }] }])),
      layers: () => [{ node: 'fc', opType: 'Gemm', before: 3, after: 2 }],
      compare: ({ runIds }) => ({ runs: runIds.map(detail), series: {}, layers: {} }),
      log: () => ({ lines: ['2025-01-01T00:00:02.000Z info hello'] }),
      remeasure: ({ runIds }) => (
        log('runs.remeasure'),
        {
          measuredAt: '2025-01-02T00:00:00.000Z',
          results: runIds.map((runId, i) => ({
            runId,
            p50: 0.1 + i / 100,
            baselineP50: 0.2,
            speedup: 0.2 / (0.1 + i / 100),
            ep: 'cpu',
            error: null,
          })),
        }
      ),
      active: () => [],
      update: ({ runId, name, tags, notes }) => {
        const r = {
          ...runs.get(runId)!,
          ...(name ? { name } : {}),
          ...(tags ? { tags } : {}),
          ...(notes !== undefined ? { notes } : {}),
        };
        runs.set(runId, r);
        return r;
      },
      delete: ({ runId }) => {
        runs.delete(runId);
        return { deleted: runId };
      },
      ...overrides.runs,
    },
    analysis: {
      scan: () => FAKE_SCAN,
      allocate: ({ target, maxAccuracyDrop, refine, shortTermSteps }) => (
        log('analysis.allocate'),
        {
          target,
          maxAccuracyDrop,
          choices: [
            {
              group: 'conv1',
              nodes: ['/conv1/Conv'],
              ratio: 0.75,
              sparseRatio: 0.75,
              keptChannels: 2,
              accuracyDrop: 0.0075,
              latencySavedMs: 0.75,
            },
            {
              group: 'conv2',
              nodes: ['/conv2/Conv'],
              ratio: 0,
              sparseRatio: 0,
              keptChannels: 8,
              accuracyDrop: 0,
              latencySavedMs: 0,
            },
          ],
          predicted: { latencyMs: 9.25, accuracy: 0.8925, macs: 625, params: 62.5, speedup: 1.081 },
          configList: [{ op_names: ['/conv1/Conv'], sparse_ratio: 0.75, dependency_group_id: 'auto' }],
          ...(refine === false
            ? {}
            : {
                refinement: {
                  axis: 'latency' as const,
                  rounds: [{ sparseRatios: [0.75, 0], modelled: 0.925, predicted: 0.925, measured: 0.925 }],
                  chosen: 0,
                  met: true,
                  ...(shortTermSteps === 0
                    ? {}
                    : {
                        shortTerm: {
                          steps: shortTermSteps ?? 100,
                          heldOut: 1000,
                          candidates: [
                            {
                              sparseRatios: [0.75, 0],
                              source: 'frontier' as const,
                              measured: 0.925,
                              predictedDrop: 0.0075,
                              oneShot: 0.5,
                              shortTerm: 0.9,
                            },
                          ],
                          chosen: 0,
                        },
                      }),
                },
              }),
        }
      ),
      diff: () => ({
        after: { stepIndex: 1, stepKind: 'speedup', path: '/runs/model.onnx' },
        diff: {
          nodesBefore: 1,
          nodesAfter: 1,
          removed: [],
          added: [],
          changed: [
            {
              name: 'fc',
              opType: 'Gemm',
              kinds: ['narrowed'],
              widths: [{ input: 1, value: 'w', before: [3, 4], after: [2, 4] }],
            },
          ],
          summary: { removed: 0, added: 0, narrowed: 1, quantized: 0, foldedBn: 0, qdqPairs: 0 },
        },
        before: FAKE_GRAPH,
        compressed: FAKE_GRAPH,
      }),
      checkAllocation: () => ({
        scanRun: 's1',
        batchSize: 64,
        evalCount: 100,
        ep: 'cpu',
        stepIndex: 1,
        predicted: { speedup: 2, latencyMs: 5, accuracy: 0.88 },
        measured: { speedup: 1.9, latencyMs: 5.2, denseLatencyMs: 10, accuracy: 0.87 },
        latencyError: 0.05,
      }),
      ...overrides.analysis,
    },
    exports: {
      run: ({ dir }) => ({ dir, files: [] }),
      suggestDir: ({ runId }) => ({ dir: `/tmp/exports/${runId}` }),
      ...overrides.exports,
    },
    queue: {
      status: () => ({
        configured: false,
        queue: null,
        error: null,
        workers: [],
        jobs: { queued: 0, running: 0, done: 0, failed: 0 },
      }),
      ...overrides.queue,
    },
    settings: {
      get: () => settings,
      set: (patch) => ({ ...settings, ...patch }),
      chooseFile: () => ({ path: null }),
      chooseFolder: () => ({ path: null }),
      ...overrides.settings,
    },
  };
  const server = new RpcServer(impl);
  const [a, b] = memoryTransportPair();
  server.connect(b, { id: 'fake', kind: 'memory' });
  const connection = new FakeConnection();
  return {
    api: new RpcClient(a).api(),
    connection,
    server,
    runs,
    calls,
    reconnect() {
      connection.set('reconnecting');
      connection.set('open', true);
    },
  };
}

/** Resolves after pending microtasks and a macrotask (the memory transport delivers in microtasks). */
export const flush = (ms = 0) => new Promise<void>((r) => setTimeout(r, ms));
