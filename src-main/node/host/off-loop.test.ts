/** @file Tests of the off-loop worker threads: named errors across the thread, cancellation stops the thread, progress comes back. */
import { describe, expect, it } from 'vitest';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { bundledExamples, MODEL_WORKER } from './models.ts';
import { OffLoopThread } from './off-loop.ts';

const opts = { timeoutMs: 60_000, what: 'a test call' };

describe('off-loop threads', () => {
  it('carries errors back by name and code, and answers calls in order', async () => {
    const t = OffLoopThread.start(MODEL_WORKER);
    try {
      await expect(t.call('nope', {}, opts)).rejects.toMatchObject({
        code: 'INTERNAL',
        message: 'the worker thread has no method "nope"',
      });
      await expect(t.call('graph', {}, opts)).rejects.toMatchObject({
        message: 'no model is open on this worker thread',
      });
      const phases: unknown[] = [];
      const source = { kind: 'path', path: `${RESOURCES_DIR}/nothing-here.onnx` };
      await expect(
        t.call('open', { source, home: '/nonexistent', examples: bundledExamples(RESOURCES_DIR) }, opts),
      ).rejects.toMatchObject({ name: 'ModelFileError', code: 'MODEL_FILE' });
      const opened = await t.call<{ name: string }>(
        'open',
        {
          source: { kind: 'example', id: 'mnist-cnn' },
          home: '/nonexistent',
          examples: bundledExamples(RESOURCES_DIR),
        },
        { ...opts, onProgress: (p) => phases.push(p) },
      );
      expect(opened.name).toBe('mnist-cnn.onnx');
      expect(phases).toEqual([{ phase: 'tracing', fraction: 0.3 }]);
      expect(t.alive).toBe(true);
    } finally {
      t.terminate();
    }
    expect(t.alive).toBe(false);
    await expect(t.call('graph', {}, opts)).rejects.toMatchObject({ name: 'OffLoopGoneError' });
  });

  it('cancelling a call stops its thread and rejects with the reason', async () => {
    const t = OffLoopThread.start(MODEL_WORKER);
    const ac = new AbortController();
    const call = t.call(
      'open',
      { source: { kind: 'example', id: 'mnist-cnn' }, home: '/nonexistent', examples: bundledExamples(RESOURCES_DIR) },
      { ...opts, signal: ac.signal },
    );
    ac.abort(new Error('cancelled by the user'));
    await expect(call).rejects.toThrow('cancelled by the user');
    expect(t.alive).toBe(false);
  });
});
