/** @file The run's time left on a demo-like timeline: within ±30 % once a tenth of the fine-tune is done. */
import { describe, expect, it } from 'vitest';
import { remainingMs } from './eta.ts';

/** The demo's phases as measured on the 2-core box (ms): measure, prune, speedup, fine-tune (930 batches), quantize, measure. */
const KINDS = ['prune', 'speedup', 'finetune', 'quantize'];
const DURATIONS = { before: 3000, prune: 900, speedup: 1200, finetune: 48000, quantize: 4200, after: 3100 };

describe('remainingMs', () => {
  it('after 10 % of a long fine-tune that follows quick steps, is within ±30 % of the time really left', () => {
    const finished = new Map([
      ['measure', [DURATIONS.before]],
      ['prune', [DURATIONS.prune]],
      ['speedup', [DURATIONS.speedup]],
    ]);
    for (const fraction of [0.1, 0.15, 0.3, 0.6]) {
      const phaseElapsedMs = DURATIONS.finetune * fraction;
      const truth = DURATIONS.finetune * (1 - fraction) + DURATIONS.quantize + DURATIONS.after;
      const eta = remainingMs({ kinds: KINDS, phase: 2, fraction, phaseElapsedMs, finished })!;
      expect(Math.abs(eta - truth) / truth, `at ${fraction}: eta ${eta} vs ${truth}`).toBeLessThan(0.3);
    }
    // The case: 140 of 930 batches done said "14 s" when ~48 s remained; an even spread over the steps
    // (the old formula) gives that; this one does not.
    const elapsed = DURATIONS.before + DURATIONS.prune + DURATIONS.speedup + DURATIONS.finetune * (140 / 930);
    const evenSpread = (elapsed * (1 - (2 + 140 / 930) / 5)) / ((2 + 140 / 930) / 5);
    const truth = DURATIONS.finetune * (790 / 930) + DURATIONS.quantize + DURATIONS.after;
    expect(evenSpread / truth).toBeLessThan(0.5);
    const eta = remainingMs({
      kinds: KINDS,
      phase: 2,
      fraction: 140 / 930,
      phaseElapsedMs: DURATIONS.finetune * (140 / 930),
      finished,
    })!;
    expect(Math.abs(eta - truth) / truth).toBeLessThan(0.3);
  });

  it('the measure after takes as long as the one before; says nothing while a phase is too young', () => {
    const finished = new Map([
      ['measure', [3000]],
      ['quantize', [4000]],
    ]);
    expect(remainingMs({ kinds: ['quantize'], phase: 1, fraction: 0.5, phaseElapsedMs: 1500, finished })).toBe(1500);
    expect(remainingMs({ kinds: ['quantize'], phase: 0, fraction: 0.5, phaseElapsedMs: 2000, finished })).toBe(
      2000 + 3000,
    );
    expect(remainingMs({ kinds: ['finetune'], phase: 0, fraction: 0.001, phaseElapsedMs: 2000, finished })).toBeNull();
    expect(remainingMs({ kinds: ['finetune'], phase: 0, fraction: 0.5, phaseElapsedMs: 100, finished })).toBeNull();
  });

  it('a fine-tune that spends its first seconds building the training graph is paced from its first report', () => {
    // 3 s of graph building, then 124 steps at 12 ms each; reports every few steps.
    const setup = 3000;
    const perStep = 12;
    const finished = new Map([
      ['measure', [1500]],
      ['prune', [300]],
      ['speedup', [400]],
    ]);
    const at = (step: number) => ({ fraction: step / 124, phaseElapsedMs: setup + step * perStep });
    const now = at(16);
    const truth = (124 - 16) * perStep + 1500 /* quantize ≈ measure */ + 1500;
    const eta = remainingMs({ kinds: KINDS, phase: 2, ...now, finished, anchor: at(8) })!;
    expect(Math.abs(eta - truth) / truth).toBeLessThan(0.3);
    // Paced from the phase's start instead, the setup would count as training: several times too long.
    expect(remainingMs({ kinds: KINDS, phase: 2, ...now, finished })! / truth).toBeGreaterThan(3);
    // At the first report itself there is no pace yet: no figure rather than a wrong one.
    expect(remainingMs({ kinds: KINDS, phase: 2, ...at(8), finished, anchor: at(8) })).toBeNull();
  });
});
