/** Queue URL parsing and redaction, and the validation of job payloads read from the queue. */
import { describe, expect, it } from 'vitest';
import {
  parseQueuePayload,
  parseQueueUrl,
  QueuePayloadError,
  QueueUrlError,
  queueName,
  ranOn,
  redactQueueUrl,
  scrubSecret,
} from './queue.ts';

const payload = () => ({
  kind: 'scan-point',
  scan: '0123456789abcdef0123456789abcdef',
  index: 3,
  model: { kind: 'file', name: 'm.onnx', files: [{ rel: 'm.onnx', sha256: 'a'.repeat(64), size: 10 }] },
  data: {
    kind: 'folder',
    name: 'mnist',
    files: [{ rel: 't10k-images-idx3-ubyte.gz', sha256: 'b'.repeat(64), size: 5 }],
  },
  split: 'dataset',
  group: {
    id: 'g0',
    nodes: ['/conv1/Conv'],
    opTypes: ['Conv'],
    channels: 16,
    configList: [{ op_names: ['/conv1/Conv'] }],
  },
  ratio: 0.5,
  pruner: 'l1',
  seed: 0,
  eval: { split: 'test', count: 100, seed: 0, batchSize: 50 },
  ep: 'cpu',
  latencyRuns: 3,
});

describe('queue URL', () => {
  it('parses host, port and database, and hides the password (and secret-looking query parameters)', () => {
    const t = parseQueueUrl('postgres://me:p%40ss@db.lan/studio?sslpassword=x&sslmode=require');
    expect([t.host, t.port, t.database, t.user]).toEqual(['db.lan', 5432, 'studio', 'me']);
    expect(t.redacted).toBe('postgres://me:***@db.lan:5432/studio?sslpassword=***&sslmode=require');
    expect(redactQueueUrl('postgresql://a:b@h:6000/d')).toBe('postgresql://a:***@h:6000/d');
  });

  it('refuses what is not a PostgreSQL URL, without echoing the secret', () => {
    for (const bad of [
      'mysql://me:topsecret@h/d',
      'me:topsecret@h',
      'postgres://:topsecret@/d',
      'http://me:topsecret@h',
    ]) {
      const err = (() => {
        try {
          parseQueueUrl(bad);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err, bad).toBeInstanceOf(QueueUrlError);
      expect(err!.message).not.toContain('topsecret');
    }
    expect(redactQueueUrl('not a url topsecret')).not.toContain('topsecret');
  });

  it('scrubs the password out of a driver message', () => {
    const url = 'postgres://me:s%3Dcret@h/d';
    expect(scrubSecret(`auth for s=cret failed at ${url}`, url)).toBe(
      'auth for *** failed at postgres://me:***@h:5432/d',
    );
  });
});

describe('job payloads', () => {
  it('accept a valid scan point and name the provider queue', () => {
    expect(parseQueuePayload(payload())).toMatchObject({ kind: 'scan-point', index: 3 });
    expect(queueName('scan-point', 'cuda')).toBe('studio-scan-point-cuda');
  });

  it('refuse an unknown kind, an unknown field, a bad hash and a path escaping the data set, by JSON path', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...payload(), kind: 'shell' }, /job kind "shell" is not one a worker runs \(kinds: scan-point, run\)/],
      [{ ...payload(), code: 'process.exit()' }, /\$: Unrecognized key/i],
      [{ ...payload(), ratio: 1.5 }, /\$\.ratio/],
      [
        { ...payload(), model: { ...payload().model, files: [{ rel: 'm', sha256: 'XYZ', size: 1 }] } },
        /\$\.model\.files\[0\]\.sha256/,
      ],
      [
        {
          ...payload(),
          data: { ...payload().data, files: [{ rel: '../../etc/passwd', sha256: 'b'.repeat(64), size: 1 }] },
        },
        /\$\.data\.files\[0\]\.rel/,
      ],
    ];
    for (const [raw, message] of cases) {
      expect(() => parseQueuePayload(raw)).toThrow(QueuePayloadError);
      expect(() => parseQueuePayload(raw)).toThrow(message);
    }
    expect(() => parseQueuePayload(null)).toThrow(/job kind null/);
  });

  it('accept a whole run by artifacts and refuse one that names step modules or a bad key, by JSON path', () => {
    const run = {
      kind: 'run',
      key: 'c'.repeat(32),
      runId: 'r1',
      attempt: 1,
      plan: { model: 'artifact:0', steps: [{ kind: 'speedup' }] },
      artifacts: [{ kind: 'file', name: 'm.onnx', files: [{ rel: 'm.onnx', sha256: 'a'.repeat(64), size: 10 }] }],
      inputModel: 0,
      inputSha256: null,
      startStep: 0,
      measureBefore: true,
      heartbeatMs: 250,
      ep: 'cpu',
    };
    expect(parseQueuePayload(run)).toMatchObject({ kind: 'run', runId: 'r1' });
    expect(queueName('run', 'cuda')).toBe('studio-run-cuda');
    expect(() => parseQueuePayload({ ...run, stepModules: ['/tmp/evil.ts'] })).toThrow(/\$: Unrecognized key/i);
    expect(() => parseQueuePayload({ ...run, key: 'x' })).toThrow(/\$\.key/);
    expect(() => parseQueuePayload({ ...run, artifacts: [] })).toThrow(/\$\.artifacts/);
  });
});

describe('ranOn', () => {
  it('names who ran the points, or the local pool', () => {
    const p = (worker?: string) =>
      ({ index: 0, ...(worker ? { ranBy: { worker, machine: 'box', ep: 'cpu' } } : {}) }) as never;
    expect(ranOn([p('w1'), p('w2'), p('w1')])).toBe('w1@box (cpu) ×2, w2@box (cpu) ×1');
    expect(ranOn([p(), p()])).toBe('local pool');
  });
});
