/**
 * @file What explains a model and a run, fetched from the host's analysis and models services: a run's sensitivity
 * scan, allocations for a budget, the before / after graph diff, an allocation's prediction checked against the run,
 * and the inspector's details of one node. Errors are kept per request, with the host's message.
 */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { AllocationCheckDto, NodeDetailsDto, RunDiff } from '../../src-shared/ipc/analysis-dto.ts';
import { asIpcError } from '../../src-shared/ipc/errors.ts';
import type { Allocation, AllocationTarget, SensitivityScan } from '../../src-shared/sensitivity.ts';
import { useHost } from '../host/host.ts';

export const useAnalysisStore = defineStore('analysis', () => {
  const { api } = useHost();
  const scans = shallowRef<Record<string, SensitivityScan>>({});
  const diffs = shallowRef<Record<string, RunDiff>>({});
  const allocations = shallowRef<Record<string, Allocation>>({});
  const checks = shallowRef<Record<string, AllocationCheckDto>>({});
  /** Errors by request key (`scan:<run>`, `allocate:<run>`, `diff:<run>`, `check:<run>`, `node`). */
  const errors = ref<Record<string, string>>({});
  const busy = ref<Record<string, boolean>>({});
  const node = shallowRef<NodeDetailsDto | null>(null);

  async function call<T>(key: string, fn: () => Promise<T>): Promise<T | null> {
    busy.value = { ...busy.value, [key]: true };
    const { [key]: _, ...rest } = errors.value;
    errors.value = rest;
    try {
      return await fn();
    } catch (e) {
      errors.value = { ...errors.value, [key]: asIpcError(e).message };
      return null;
    } finally {
      busy.value = { ...busy.value, [key]: false };
    }
  }

  async function loadScan(runId: string): Promise<SensitivityScan | null> {
    if (scans.value[runId]) return scans.value[runId]!;
    const s = await call(`scan:${runId}`, () => api.analysis.scan({ runId }));
    if (s) scans.value = { ...scans.value, [runId]: s };
    return s;
  }

  async function allocate(
    runId: string,
    target: AllocationTarget,
    maxAccuracyDrop: number,
    roundTo?: number,
    refine = true,
    shortTermSteps?: number,
  ): Promise<Allocation | null> {
    const a = await call(`allocate:${runId}`, () =>
      api.analysis.allocate({
        runId,
        target,
        maxAccuracyDrop,
        ...(roundTo ? { roundTo } : {}),
        refine,
        ...(refine && shortTermSteps !== undefined ? { shortTermSteps } : {}),
      }),
    );
    const { [runId]: _, ...rest } = allocations.value;
    allocations.value = a ? { ...rest, [runId]: a } : rest;
    return a;
  }

  async function loadDiff(runId: string): Promise<RunDiff | null> {
    if (diffs.value[runId]) return diffs.value[runId]!;
    const d = await call(`diff:${runId}`, () => api.analysis.diff({ runId }));
    if (d) diffs.value = { ...diffs.value, [runId]: d };
    return d;
  }

  async function checkAllocation(runId: string): Promise<AllocationCheckDto | null> {
    const c = await call(`check:${runId}`, () => api.analysis.checkAllocation({ runId }));
    if (c) checks.value = { ...checks.value, [runId]: c };
    return c;
  }

  let nodeRequest = 0;
  /** The inspector's details of a node of an opened model (the latest request wins). */
  async function inspectNode(modelId: string, name: string | null, configList?: unknown): Promise<void> {
    const mine = ++nodeRequest;
    if (!name) {
      node.value = null;
      return;
    }
    const d = await call('node', () =>
      api.models.node({ modelId, node: name, ...(configList !== undefined ? { configList } : {}) }),
    );
    if (mine === nodeRequest) node.value = d;
  }

  return {
    scans,
    diffs,
    allocations,
    checks,
    errors,
    busy,
    node,
    loadScan,
    allocate,
    loadDiff,
    checkAllocation,
    inspectNode,
  };
});
