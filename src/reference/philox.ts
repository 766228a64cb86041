/**
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3", SC'11;
 * the Random123 library): a counter-based random number generator. philox(counter, key) is a
 * bijection of the 128-bit counter for each 64-bit key, so the random words for row r of step s
 * are a pure function of (r, s, stream, seed): any invocation computes its own, in any order, and
 * the CPU computes the same bits.
 *
 * Bit-exact with the WGSL copy in the shaders (philox_fill.wgsl, sample_tokens.wgsl,
 * gaussian_sample.wgsl): 32-bit wrapping products with Math.imul, and the high word of the 64-bit
 * product computed exactly from 16-bit halves (every partial product is below 2^32, so exact in a
 * JS number), which is how the shaders do it too (WGSL has no 64-bit integers).
 * Checked against the Random123 known-answer vectors in test/sampling.test.ts.
 */

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
/** Weyl increments added to the key between rounds (golden ratio, sqrt(3) - 1). */
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;
export const PHILOX_ROUNDS = 10;

/** The high 32 bits of the 64-bit product a * b of two u32 values. */
export function mulhi32(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  // Bits 16..47 of the product: the carry out of the low word is (mid >>> 16).
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** The low 32 bits of a * b (u32 wrapping multiply). */
export function mullo32(a: number, b: number): number {
  return Math.imul(a, b) >>> 0;
}

/**
 * Philox4x32-10 of a 4-word counter under a 2-word key; every word a u32 (a JS number in
 * [0, 2^32)). Returns the 4 output words. Round: (c0, c1, c2, c3) ->
 * (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)); the key gets (W0, W1) added
 * before every round but the first.
 */
export function philox4x32_10(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < PHILOX_ROUNDS; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX_M0, c0);
    const lo0 = mullo32(PHILOX_M0, c0);
    const hi1 = mulhi32(PHILOX_M1, c2);
    const lo1 = mullo32(PHILOX_M1, c2);
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

/** A u32 word to a uniform in [0, 1) from its top 24 bits: (x >> 8) * 2^-24 (exact in f32 and f64). */
export function uniform24(x: number): number {
  return (x >>> 8) * 2 ** -24;
}

/** A u32 word to a uniform in (0, 1] from its top 24 bits: ((x >> 8) + 1) * 2^-24 (never 0: safe for log). */
export function uniform24Open0(x: number): number {
  return ((x >>> 8) + 1) * 2 ** -24;
}
