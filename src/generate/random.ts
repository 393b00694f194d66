/**
 * Seeded pseudo-random numbers for the synthetic data generator: a 32-bit hash to derive independent
 * streams from (seed, salt, index) and mulberry32 to draw from a stream. Pure integer arithmetic, so the
 * same seed gives the same numbers on every platform and Node version.
 */

/** Avalanche a 32-bit integer (murmur3's finalizer). */
const fmix32 = (h: number): number => {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

/** A 32-bit hash of a few numbers (each taken as an integer; values beyond 2^32 keep their high part). */
export const hash32 = (...values: number[]): number => {
  let h = 0x9e3779b9;
  for (const value of values) {
    const v = Math.trunc(value);
    const low = v >>> 0;
    const high = Math.floor(v / 0x1_0000_0000) >>> 0;
    h = fmix32(Math.imul(h ^ low, 0x01000193) + 0x7f4a7c15);
    if (high !== 0) h = fmix32(Math.imul(h ^ high, 0x01000193) + 0x165667b1);
  }
  return h;
};

/** A stream of uniform numbers in [0, 1) with a few convenience draws. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Stream number `index` of kind `salt` under `seed`: a pure function of the three. */
  static of(seed: number, salt: number, index = 0): Random {
    return new Random(hash32(seed, salt, index));
  }

  /** mulberry32 */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** An exponentially distributed number with the given mean. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** A number in [min, max) rounded to 5 decimals, like the durations and coordinates of the real data. */
  decimal5(min: number, max: number): number {
    return Math.round((min + this.next() * (max - min)) * 1e5) / 1e5;
  }

  /** `length` characters from `alphabet`. */
  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}
