/**
 * Seeded random numbers for test and check inputs (mulberry32: small, fast, same bits everywhere).
 * Inputs are made deliberately non-uniform, with a few outliers, so comparisons mean something.
 */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
}

/**
 * n normal values with scale `std`, plus outliers: about 1 in 64 values multiplied by `outlierScale`.
 */
export function randomArray(
  rng: Rng,
  n: number,
  opts: { std?: number; mean?: number; outlierScale?: number } = {},
): Float32Array {
  const { std = 1, mean = 0, outlierScale = 8 } = opts;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal() * std;
    if (rng.next() < 1 / 64) v *= outlierScale;
    out[i] = mean + v;
  }
  return out;
}
