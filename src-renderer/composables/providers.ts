/**
 * @file The execution-provider choices the wizard and the settings offer: CPU always, then the providers the host
 * found (`experiments.capabilities`, the same list as `studio providers`), the unavailable ones shown but disabled.
 * Pure.
 */
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../../src-shared/experiment.ts';

const LABELS: Record<ExecutionProvider, string> = {
  cpu: 'CPU',
  webgpu: 'WebGPU',
  cuda: 'CUDA',
  dml: 'DirectML',
  coreml: 'CoreML',
};

export interface ProviderChoice {
  name: ExecutionProvider;
  label: string;
  available: boolean;
}

/**
 * @example providerChoices([{ name: 'cpu', available: true }, { name: 'webgpu', available: true }, { name: 'cuda', available: false }], 'cpu')
 * // CPU, WebGPU, CUDA (not available here)
 */
export function providerChoices(
  found: readonly { name: string; available: boolean }[] | null,
  current: ExecutionProvider,
): ProviderChoice[] {
  const out: ProviderChoice[] = [{ name: 'cpu', label: LABELS.cpu, available: true }];
  for (const p of found ?? []) {
    if (p.name === 'cpu' || !(EXECUTION_PROVIDERS as readonly string[]).includes(p.name)) continue;
    const name = p.name as ExecutionProvider;
    out.push({
      name,
      label: p.available ? LABELS[name] : `${LABELS[name]} (not available here)`,
      available: p.available,
    });
  }
  // A saved choice the host no longer lists stays visible, so the select does not show a blank.
  if (!out.some((c) => c.name === current))
    out.push({ name: current, label: `${LABELS[current]} (not found here)`, available: false });
  return out;
}
