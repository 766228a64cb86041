/**
 * CPU reference for the sampling kernels: raw Philox words, token sampling from logits, and the
 * Gaussian policy for the regression setting (sampling and the REINFORCE gradient). Same style as
 * src/reference/kernels.ts: plain loops, f64 arithmetic, outputs first, then inputs, then sizes,
 * then an options object; names identical to the GPU wrappers (src/kernels/sampling.ts). The random
 * bits come from src/reference/philox.ts, bit-identical to the shaders' Philox, so the only
 * differences from the GPU are f32 rounding in the arithmetic after the bits. No GPU code.
 */
import { philox4x32_10, uniform24, uniform24Open0 } from './philox.ts';

/** The Philox key from a seed: (seed, seedHi), each a u32 in a JS number. */
export interface SeedOptions {
  /** Low key word, an integer in [0, 2^32); default 0. */
  seed?: number;
  /** High key word, an integer in [0, 2^32); default 0. */
  seedHi?: number;
  /** Second counter word (the training step); default 0. */
  step?: number;
  /** Third counter word (an independent stream for the same step); default 0. */
  stream?: number;
}

// ---------------------------------------------------------------------------------------------
// raw Philox words

/**
 * out [N, 4] (u32) = philox4x32_10(counter_n, (seed, seedHi)) with counter_n = counters[n] ([N, 4]
 * u32) when given, else (n, c1, c2, c3).
 */
export function philox_fill(
  out: Uint32Array,
  counters: Uint32Array | null,
  N: number,
  opts: { c1?: number; c2?: number; c3?: number; seed?: number; seedHi?: number } = {},
): void {
  const { c1 = 0, c2 = 0, c3 = 0, seed = 0, seedHi = 0 } = opts;
  for (let n = 0; n < N; n++) {
    const counter: [number, number, number, number] = counters
      ? [counters[4 * n], counters[4 * n + 1], counters[4 * n + 2], counters[4 * n + 3]]
      : [n, c1, c2, c3];
    out.set(philox4x32_10(counter, [seed, seedHi]), 4 * n);
  }
}

// ---------------------------------------------------------------------------------------------
// token sampling

/** Temperatures below the smallest normal f32 (2^-126), 0 included, mean argmax. */
export const MIN_TEMPERATURE = 2 ** -126;

/** Token sampling's options: temperature (default 1) and the counter rows (default: row n uses n). */
export interface TokenSampleOptions extends SeedOptions {
  temperature?: number;
  /** rows[n] is the first counter word of row n's draw (u32 each). */
  rows?: ArrayLike<number>;
}

/**
 * The uniform in [0, 1) that row n uses: word 0 of philox((r, step, stream, 0), (seed, seedHi)), top
 * 24 bits, with r = opts.rows[n] when rows are given, else n.
 */
export function sampleUniform(n: number, opts: SeedOptions & { rows?: ArrayLike<number> } = {}): number {
  const { seed = 0, seedHi = 0, step = 0, stream = 0 } = opts;
  const r = opts.rows ? opts.rows[n] : n;
  return uniform24(philox4x32_10([r, step, stream, 0], [seed, seedHi])[0]);
}

/** Index of the first maximum of row[0..V). */
function argmax(row: ArrayLike<number>, off: number, V: number): number {
  let m = row[off];
  let arg = 0;
  for (let j = 1; j < V; j++) {
    if (row[off + j] > m) {
      m = row[off + j];
      arg = j;
    }
  }
  return arg;
}

/** Unnormalised weights w_j = exp((logits[j] - max) / temperature) of row n, in f64. */
function rowWeights(logits: ArrayLike<number>, n: number, V: number, temperature: number): Float64Array {
  const off = n * V;
  const m = logits[off + argmax(logits, off, V)];
  const w = new Float64Array(V);
  for (let j = 0; j < V; j++) w[j] = Math.exp((logits[off + j] - m) / temperature);
  return w;
}

/**
 * tokens [N] (u32) sampled from softmax(logits [N, V] / temperature), one per row, by inverse CDF
 * with the uniform u = sampleUniform(n, opts) (opts.rows picks the counter rows): the first j in index order with
 * u * S < w_0 + ... + w_j (S = sum_j w_j, w_j as in rowWeights; entries with w_j = 0 skipped; the
 * last j with w_j > 0 if rounding runs past the end). temperature < 2^-126 (0 included): argmax,
 * the first index of the maximum. temperature defaults to 1.
 */
export function sample_tokens(
  tokens: Uint32Array,
  logits: Float32Array,
  N: number,
  V: number,
  opts: TokenSampleOptions = {},
): void {
  const { temperature = 1 } = opts;
  for (let n = 0; n < N; n++) {
    const arg = argmax(logits, n * V, V);
    if (temperature < MIN_TEMPERATURE) {
      tokens[n] = arg;
      continue;
    }
    const w = rowWeights(logits, n, V, temperature);
    let s = 0;
    for (let j = 0; j < V; j++) s += w[j];
    const target = sampleUniform(n, opts) * s;
    let token = arg;
    let acc = 0;
    for (let j = 0; j < V; j++) {
      if (w[j] > 0) {
        token = j;
        acc += w[j];
        if (target < acc) break;
      }
    }
    tokens[n] = token;
  }
}

/**
 * The distance, in f64, from row n's uniform u to the nearest boundary of its CDF
 * (|u - (w_0 + ... + w_j) / S| over every j with w_j > 0 but the last such j): a GPU computing the CDF in f32 can only
 * pick a different token than sample_tokens above when this is tiny (about 1e-6 or less).
 * Infinity at temperature < 2^-126 (argmax: no CDF).
 */
export function cdfBoundaryDistance(logits: ArrayLike<number>, n: number, V: number, opts: TokenSampleOptions = {}): number {
  const { temperature = 1 } = opts;
  if (temperature < MIN_TEMPERATURE) return Number.POSITIVE_INFINITY;
  const w = rowWeights(logits, n, V, temperature);
  let s = 0;
  for (let j = 0; j < V; j++) s += w[j];
  const u = sampleUniform(n, opts);
  // The last positive weight's boundary (the total) decides nothing: past it both sides take that
  // token. Counting it made a row with u near 1 impossible to redraw (V = 1 always).
  let lastPositive = -1;
  for (let j = 0; j < V; j++) if (w[j] > 0) lastPositive = j;
  let acc = 0;
  let dist = Number.POSITIVE_INFINITY;
  for (let j = 0; j < lastPositive; j++) {
    if (w[j] > 0) {
      acc += w[j];
      dist = Math.min(dist, Math.abs(u - acc / s));
    }
  }
  return dist;
}

/** The CDF boundaries (w_0 + ... + w_j) / S of row n for j = 0..V-1, in f64 (for tests). */
export function rowCdf(logits: ArrayLike<number>, n: number, V: number, temperature: number): Float64Array {
  const w = rowWeights(logits, n, V, temperature);
  let s = 0;
  for (let j = 0; j < V; j++) s += w[j];
  const cdf = new Float64Array(V);
  let acc = 0;
  for (let j = 0; j < V; j++) {
    acc += w[j];
    cdf[j] = acc / s;
  }
  return cdf;
}

// ---------------------------------------------------------------------------------------------
// Gaussian policy (regression setting)

/**
 * The standard normal noise of element i (= b * D + d) by Box-Muller: x = philox((i, step, stream, 1),
 * (seed, seedHi)); u1 = ((x0 >> 8) + 1) * 2^-24 in (0, 1], u2 = (x1 >> 8) * 2^-24 in [0, 1);
 * xi = sqrt(-2 ln u1) * cos(2 pi (u2 - 1/2)). Words x2, x3 are unused.
 */
export function gaussianNoise(i: number, opts: SeedOptions = {}): number {
  const { seed = 0, seedHi = 0, step = 0, stream = 0 } = opts;
  const x = philox4x32_10([i, step, stream, 1], [seed, seedHi]);
  const u1 = uniform24Open0(x[0]);
  const u2 = uniform24(x[1]);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * (u2 - 0.5));
}

/**
 * sample [B, D] = mean [B, D] + sigma_d * xi, xi [B, D] = gaussianNoise(b * D + d, opts), with
 * sigma_d = exp(logSigma[d]) (logSigma [D]) when given, else the scalar opts.sigma (default 1).
 */
export function gaussian_sample(
  sample: Float32Array,
  xi: Float32Array,
  mean: Float32Array,
  logSigma: Float32Array | null,
  B: number,
  D: number,
  opts: SeedOptions & { sigma?: number } = {},
): void {
  const { sigma = 1 } = opts;
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < D; d++) {
      const i = b * D + d;
      const z = gaussianNoise(i, opts);
      const s = logSigma ? Math.exp(logSigma[d]) : sigma;
      xi[i] = z;
      sample[i] = mean[i] + s * z;
    }
  }
}

/**
 * logp [B] = log N(sample[b, :]; mean[b, :], diag(sigma^2))
 *          = sum_d -(sample - mean)^2 / (2 sigma_d^2) - log sigma_d - log(2 pi) / 2,
 * sigma_d = exp(logSigma[d]) or the scalar opts.sigma (default 1). The forward whose gradient
 * gaussian_reinforce_backward computes (checked by finite differences in test/sampling.test.ts).
 */
export function gaussian_log_prob(
  logp: Float32Array,
  sample: Float32Array,
  mean: Float32Array,
  logSigma: Float32Array | null,
  B: number,
  D: number,
  opts: { sigma?: number } = {},
): void {
  const { sigma = 1 } = opts;
  for (let b = 0; b < B; b++) {
    let acc = 0;
    for (let d = 0; d < D; d++) {
      const ls = logSigma ? logSigma[d] : Math.log(sigma);
      const z = (sample[b * D + d] - mean[b * D + d]) / Math.exp(ls);
      acc += -0.5 * z * z - ls - 0.5 * Math.log(2 * Math.PI);
    }
    logp[b] = acc;
  }
}

/**
 * Gradients of L = -scale * sum_b adv[b] * logp[b] (logp from gaussian_log_prob; sample and adv are
 * data), overwriting dmean and dlogSigma:
 *   dmean [B, D]     = -scale * adv[b] * (sample - mean) / sigma_d^2
 *   dlogSigma [D]    = -scale * sum_b adv[b] * ((sample - mean)^2 / sigma_d^2 - 1)   (when logSigma is given)
 * mean, sample [B, D], adv [B], logSigma [D] or null (then the scalar opts.sigma, default 1, and
 * dlogSigma is not written; pass null). scale defaults to 1 / B.
 */
export function gaussian_reinforce_backward(
  dmean: Float32Array,
  dlogSigma: Float32Array | null,
  mean: Float32Array,
  sample: Float32Array,
  adv: Float32Array,
  logSigma: Float32Array | null,
  B: number,
  D: number,
  opts: { sigma?: number; scale?: number } = {},
): void {
  const { sigma = 1, scale = 1 / B } = opts;
  const invVar = (d: number): number => (logSigma ? Math.exp(-2 * logSigma[d]) : 1 / (sigma * sigma));
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < D; d++) {
      const i = b * D + d;
      dmean[i] = -scale * adv[b] * (sample[i] - mean[i]) * invVar(d);
    }
  }
  if (logSigma && dlogSigma) {
    for (let d = 0; d < D; d++) {
      let acc = 0;
      for (let b = 0; b < B; b++) {
        const diff = sample[b * D + d] - mean[b * D + d];
        acc += adv[b] * (diff * diff * invVar(d) - 1);
      }
      dlogSigma[d] = -scale * acc;
    }
  }
}
