// @vitest-environment happy-dom
/** @file The Workers panel against the fake host: workers and job totals listed, a silent worker marked, the how-to when no queue is configured, the queue's fault named. */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import type { QueueStatusDto } from '../../src-shared/ipc/dto.ts';
import { setHost } from '../host/host.ts';
import { createFakeHost } from '../testing/fake-host.ts';
import WorkersView from './WorkersView.vue';

const worker = (name: string, patch: Partial<QueueStatusDto['workers'][number]> = {}) => ({
  name,
  machine: 'gpu-box',
  providers: ['cuda', 'cpu'],
  concurrency: 2,
  running: 1,
  done: 7,
  failed: 0,
  lastHeartbeat: '2026-01-01T00:00:00.000Z',
  silentSeconds: 1.2,
  ...patch,
});

function mountWith(status: QueueStatusDto) {
  setHost(createFakeHost({ queue: { status: () => status } }));
  setActivePinia(createPinia());
  return mount(WorkersView, { attachTo: document.body });
}

beforeEach(() => {
  document.body.innerHTML = '';
});

describe('WorkersView', () => {
  it('lists connected workers with providers, slots, jobs and last heartbeat, and the job totals', async () => {
    const w = mountWith({
      configured: true,
      queue: 'postgres://studio:***@db.lan:5432/studio',
      error: null,
      workers: [worker('w1'), worker('w2', { machine: 'cpu-box', providers: ['cpu'], silentSeconds: 14 })],
      jobs: { queued: 12, running: 3, done: 40, failed: 1 },
    });
    await flushPromises();
    expect(w.find('[data-testid="queue-url"]').text()).toBe('Queue postgres://studio:***@db.lan:5432/studio');
    expect(w.find('[data-testid="worker-w1"]').text()).toMatch(/w1\s*gpu-box\s*cuda, cpu\s*2\s*1\s*7\s*0\s*1 s ago/);
    expect(w.find('[data-testid="worker-w2"] td.warn').text()).toBe('14 s ago');
    expect(w.find('[data-testid="queue-jobs"]').text()).toMatch(/12 queued\s*3 running\s*40 done\s*1 failed/);
    w.unmount();
  });

  it('explains how to configure a queue when there is none', async () => {
    const w = mountWith({
      configured: false,
      queue: null,
      error: null,
      workers: [],
      jobs: { queued: 0, running: 0, done: 0, failed: 0 },
    });
    await flushPromises();
    expect(w.find('[data-testid="queue-url"]').text()).toContain('No queue configured');
    expect(w.find('[data-testid="queue-howto"]').text()).toContain('STUDIO_QUEUE');
    expect(w.find('[data-testid="workers-table"]').exists()).toBe(false);
    w.unmount();
  });

  it('names the fault when the queue cannot be read', async () => {
    const w = mountWith({
      configured: true,
      queue: 'postgres://studio:***@db.lan:5432/studio',
      error: 'cannot use the job queue at db.lan:5432 (database "studio"): connection refused',
      workers: [],
      jobs: { queued: 0, running: 0, done: 0, failed: 0 },
    });
    await flushPromises();
    expect(w.text()).toContain('connection refused');
    expect(w.find('[data-testid="no-workers"]').exists()).toBe(true);
    w.unmount();
  });
});
