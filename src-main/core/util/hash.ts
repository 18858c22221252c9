/**
 * @file Fast non-cryptographic 64-bit content hashes (two independent 32-bit multiply-xorshift lanes) for
 * fingerprinting graphs and weights in plan files. Same input, same hash, on every platform. Pure: imports nothing.
 */

/** An incremental hasher: feed strings, numbers and byte blocks, then read `hex()`. */
export class Hasher {
  private h1 = 0x9e3779b9;
  private h2 = 0x85ebca6b;

  /** Mix one 32-bit word into both lanes. */
  word(w: number): this {
    this.h1 = Math.imul(this.h1 ^ w, 0x01000193) ^ (this.h1 >>> 15);
    this.h2 = Math.imul(this.h2 + w, 0xcc9e2d51);
    this.h2 = Math.imul((this.h2 << 13) | (this.h2 >>> 19), 5) + 0xe6546b64;
    return this;
  }

  /** Mix a string (UTF-16 code units, then its length). */
  string(s: string): this {
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
    return this.word(s.length);
  }

  /** Mix bytes: 32-bit words where the view is aligned, bytes for the rest, then the length. */
  bytes(b: Uint8Array): this {
    const aligned = b.byteOffset % 4 === 0;
    const nWords = aligned ? b.length >>> 2 : 0;
    if (nWords > 0) {
      const w = new Uint32Array(b.buffer, b.byteOffset, nWords);
      let h1 = this.h1;
      let h2 = this.h2;
      for (let i = 0; i < nWords; i++) {
        const x = w[i]!;
        h1 = Math.imul(h1 ^ x, 0x01000193) ^ (h1 >>> 15);
        h2 = Math.imul(h2 + x, 0xcc9e2d51);
        h2 = Math.imul((h2 << 13) | (h2 >>> 19), 5) + 0xe6546b64;
      }
      this.h1 = h1;
      this.h2 = h2;
    }
    for (let i = nWords * 4; i < b.length; i++) this.word(b[i]!);
    return this.word(b.length);
  }

  /** 16 hex digits. */
  hex(): string {
    const fin = (h: number) => {
      h ^= h >>> 16;
      h = Math.imul(h, 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h, 0xc2b2ae35);
      return ((h ^ (h >>> 16)) >>> 0).toString(16).padStart(8, '0');
    };
    return fin(this.h1) + fin(this.h2 ^ this.h1);
  }
}
