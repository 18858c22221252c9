/**
 * @file Seeded batch augmentation for training: random translations of image batches, applied to the batch buffer
 * after it is filled and before the step runs. A distillation teacher merged into the step reads the same input, so
 * it labels the augmented image ("consistent teaching"). Node layer (pure arithmetic on typed arrays).
 */
import { StudioError } from '../../core/ir/index.ts';
import { Rng } from '../../core/util/random.ts';

/** Training-time augmentation. */
export interface AugmentSpec {
  /**
   * Shift each image by a whole number of pixels drawn uniformly from [−shift, shift] on each of its last two axes
   * (height, width), independently per image and per step; vacated pixels are 0 (the background of images scaled to
   * [0, 1] such as MNIST). 0 = off.
   */
  shift: number;
}

export class AugmentSpecError extends StudioError {
  constructor(message: string, details: Record<string, unknown>) {
    super(message, 'AUGMENT_SPEC', details);
  }
}

/**
 * Check an augmentation against the sample shape.
 * @throws AugmentSpecError when the shift is not a whole number ≥ 0, or the samples have fewer than two axes or are
 *   not larger than the shift on both.
 */
export function checkAugment(spec: AugmentSpec, sampleShape: readonly number[]): void {
  const { shift } = spec;
  if (!Number.isInteger(shift) || shift < 0)
    throw new AugmentSpecError(`augment.shift must be a whole number ≥ 0, got ${String(shift)}`, { field: 'shift' });
  if (shift === 0) return;
  const [h, w] = sampleShape.slice(-2);
  if (sampleShape.length < 2 || !(h! > shift && w! > shift))
    throw new AugmentSpecError(
      `augment.shift ${shift} needs image samples (…, H, W) larger than the shift; the samples are [${sampleShape.join(', ')}]`,
      { field: 'shift', sampleShape: [...sampleShape] },
    );
}

/** The generator for the augmentation of one optimizer step (a pure function of seed and step, so resumes agree). */
export function augmentRng(seed: number, step: number): Rng {
  return new Rng((Math.imul(seed + 0x51ed, 0x2c1b3c6d) ^ Math.imul(step + 1, 0x297a2d39)) >>> 0);
}

/**
 * Shift `count` images of `sampleShape` stored one after another in `x` (in place), each by its own (dy, dx) drawn
 * from `rng`. Every channel of one image moves together. Returns the shifts drawn, [dy, dx] per image.
 */
export function shiftImages(
  x: Float32Array,
  count: number,
  sampleShape: readonly number[],
  shift: number,
  rng: Rng,
): Int8Array {
  const drawn = new Int8Array(2 * count);
  if (shift === 0) return drawn;
  const h = sampleShape[sampleShape.length - 2]!;
  const w = sampleShape[sampleShape.length - 1]!;
  const plane = h * w;
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const tmp = new Float32Array(plane);
  for (let i = 0; i < count; i++) {
    const dy = rng.int(-shift, shift + 1);
    const dx = rng.int(-shift, shift + 1);
    drawn[2 * i] = dy;
    drawn[2 * i + 1] = dx;
    if (dy === 0 && dx === 0) continue;
    for (let p = i * size; p < (i + 1) * size; p += plane) {
      const img = x.subarray(p, p + plane);
      tmp.fill(0);
      // out[r][c] = in[r − dy][c − dx] where that is inside the image
      const r0 = Math.max(0, dy);
      const r1 = Math.min(h, h + dy);
      const c0 = Math.max(0, dx);
      const c1 = Math.min(w, w + dx);
      for (let r = r0; r < r1; r++) {
        const src = (r - dy) * w - dx;
        tmp.set(img.subarray(src + c0, src + c1), r * w + c0);
      }
      img.set(tmp);
    }
  }
  return drawn;
}
