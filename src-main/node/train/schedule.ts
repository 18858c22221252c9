/**
 * @file Learning-rate schedules as pure functions of the step, so a resumed run gets the same rates:
 * constant, step decay, cosine annealing, linear decay, each with an optional linear warm-up. Imports nothing.
 */

export type ScheduleSpec =
  | { type: 'constant'; warmupSteps?: number }
  /** lr·γ^⌊step/stepSize⌋ (torch StepLR counted in optimizer steps). */
  | { type: 'step'; stepSize: number; gamma?: number; warmupSteps?: number }
  /** minLr + (lr − minLr)·(1 + cos(π·t/T))/2 over the run's T steps (torch CosineAnnealingLR). */
  | { type: 'cosine'; minLr?: number; warmupSteps?: number }
  /** lr + (endLr − lr)·t/T over the run's T steps (torch LinearLR down to endLr / lr). */
  | { type: 'linear'; endLr?: number; warmupSteps?: number };

/**
 * The learning rate at 0-based optimizer step `step` of a run of `total` steps with base rate `lr`.
 * Warm-up ramps linearly from lr/warmup to lr over the first `warmupSteps` steps; the decay then runs over the rest.
 */
export function learningRate(s: ScheduleSpec, lr: number, step: number, total: number): number {
  const warm = s.warmupSteps ?? 0;
  if (step < warm) return (lr * (step + 1)) / warm;
  const t = step - warm;
  const T = Math.max(1, total - warm);
  switch (s.type) {
    case 'constant':
      return lr;
    case 'step':
      return lr * (s.gamma ?? 0.1) ** Math.floor(t / s.stepSize);
    case 'cosine': {
      const lo = s.minLr ?? 0;
      return lo + ((lr - lo) * (1 + Math.cos((Math.PI * Math.min(t, T)) / T))) / 2;
    }
    case 'linear': {
      const end = s.endLr ?? 0;
      return lr + ((end - lr) * Math.min(t, T)) / T;
    }
  }
}
