/**
 * @file Distillation against plain fine-tuning on the bundled MNIST model pruned 50 % with speedup (one-shot L1,
 * the student starts near chance), same seed, epochs, data order and optimizer — the short, honest form of the
 * issue's side by side (the full one on 60 000 images, where the two end within a few tenths of a point, is
 * `npm run bench -- distill-accuracy`; numbers in docs/distillation.md). With 500 labelled images the teacher's soft
 * targets carry what the labels do not: distillation ended 1.1–1.2 points ahead in three seeds here, so the bound
 * below (0.5) is the method's effect, not noise; and with α = 1 (the labels unused) the teacher alone trains the student.
 * On all 10 000 bundled Fashion-MNIST images, 15 epochs, KD led in three seeds of three (+0.58 to +0.81 points): the
 * second test asserts more than 0.3 for seed 0 (88 s here at load average ~12).
 */
import { describe, expect, it } from 'vitest';
import { sideBySide } from './side-by-side.ts';

describe('distillation vs fine-tuning, MNIST CNN pruned 50 % with speedup, 500 labelled images, 20 epochs', () => {
  it('Hinton KD from the unpruned teacher beats plain fine-tuning; KD without labels (α = 1) trains the student', async () => {
    const r = await sideBySide('mnist', {
      epochs: 20,
      trainLimit: 500,
      distill: { distiller: 'logits', temperature: 4, alpha: 0.9 },
      alsoDistill: [{ distiller: 'logits', temperature: 4, alpha: 1 }],
    });
    expect(r.teacher).toBeCloseTo(0.9921, 4);
    expect(r.pruned).toBeLessThan(0.2);
    expect(r.finetuned).toBeGreaterThan(0.85);
    expect(r.distilled - r.finetuned).toBeGreaterThan(0.005);
    expect(r.alsoDistilled[0]!).toBeGreaterThan(r.finetuned);
  }, 600_000);
});

describe('distillation vs fine-tuning, Fashion-MNIST CNN pruned 50 % with speedup, the 10 000 bundled images, 15 epochs', () => {
  it('Hinton KD (T 2, α 0.5) from the unpruned teacher beats plain fine-tuning, same seed, order and SGD recipe', async () => {
    // the bench's recipe (test/bench/distill-accuracy.bench.ts); in seeds 0, 1, 2 KD led by 0.81, 0.70, 0.58 points
    const r = await sideBySide('fashion', {
      epochs: 15,
      seed: 0,
      optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 },
      distill: { distiller: 'logits', temperature: 2, alpha: 0.5 },
    });
    expect(r.teacher).toBeCloseTo(0.9072, 4);
    expect(r.pruned).toBeLessThan(0.3);
    expect(r.finetuned).toBeGreaterThan(0.87);
    expect(r.distilled - r.finetuned).toBeGreaterThan(0.003);
  }, 1_800_000);
});
