/**
 * Counter-based randomness on the GPU (Philox4x32-10) and the samplers built on it: tokens from
 * logits (language-model RL), and the Gaussian policy with its REINFORCE gradient (the regression
 * setting). Every draw is a pure function of (seed, step, stream, position), so the same call gives
 * the same bits in Node, in the browser and in the CPU reference (src/reference/sampling.ts).
 */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import { type Tensor, shapeString } from '../gpu/tensor.ts';
import {
  WG_1D,
  dummy,
  expectDType,
  expectDistinct,
  expectRank,
  expectSameSize,
  expectShape,
  grid1d,
  shapesOf,
} from './common.ts';

const philoxFillSpec: KernelSpec<'N' | 'has_counters' | 'c1' | 'c2' | 'c3' | 'key0' | 'key1'> = {
  name: 'philox_fill',
  shader: shaders.philox_fill,
  params: [
    ['N', 'u32'],
    ['has_counters', 'u32'],
    ['c1', 'u32'],
    ['c2', 'u32'],
    ['c3', 'u32'],
    ['key0', 'u32'],
    ['key1', 'u32'],
  ],
  bindings: [
    { name: 'counters', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const sampleTokensSpec: KernelSpec<'N' | 'V' | 'temperature' | 'seed_lo' | 'seed_hi' | 'step' | 'stream' | 'has_rows'> = {
  name: 'sample_tokens',
  shader: shaders.sample_tokens,
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['temperature', 'f32'],
    ['seed_lo', 'u32'],
    ['seed_hi', 'u32'],
    ['step', 'u32'],
    ['stream', 'u32'],
    ['has_rows', 'u32'],
  ],
  bindings: [
    { name: 'logits', access: 'read' },
    { name: 'tokens', access: 'read_write' },
    { name: 'rows', access: 'read' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const gaussianSampleSpec: KernelSpec<'N' | 'D' | 'has_log_sigma' | 'sigma' | 'seed_lo' | 'seed_hi' | 'step' | 'stream'> = {
  name: 'gaussian_sample',
  shader: shaders.gaussian_sample,
  params: [
    ['N', 'u32'],
    ['D', 'u32'],
    ['has_log_sigma', 'u32'],
    ['sigma', 'f32'],
    ['seed_lo', 'u32'],
    ['seed_hi', 'u32'],
    ['step', 'u32'],
    ['stream', 'u32'],
  ],
  bindings: [
    { name: 'mean', access: 'read' },
    { name: 'log_sigma', access: 'read' },
    { name: 'sample', access: 'read_write' },
    { name: 'xi', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const reinforceSpec: KernelSpec<'N' | 'D' | 'has_log_sigma' | 'sigma' | 'scale'> = {
  name: 'gaussian_reinforce_backward',
  shader: shaders.gaussian_reinforce_backward,
  params: [
    ['N', 'u32'],
    ['D', 'u32'],
    ['has_log_sigma', 'u32'],
    ['sigma', 'f32'],
    ['scale', 'f32'],
  ],
  bindings: [
    { name: 'mean', access: 'read' },
    { name: 'sample', access: 'read' },
    { name: 'adv', access: 'read' },
    { name: 'log_sigma', access: 'read' },
    { name: 'dmean', access: 'read_write' },
    { name: 'dlog_sigma', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  // dmean for i < N, then one invocation per column d for dlog_sigma when learned.
  dispatch: ({ N, D, has_log_sigma }) => grid1d(N + (has_log_sigma ? D : 0)),
};

/**
 * A one-element placeholder for an absent output: a buffer of its own, since the shared dummy() may
 * be bound as an input of the same dispatch and one buffer cannot be both read-only and writable.
 */
function dummyOutput(rt: Runtime): Tensor {
  let t = dummyOutputs.get(rt);
  if (!t) {
    t = rt.empty([1], 'f32', 'dummy-output');
    dummyOutputs.set(rt, t);
  }
  return t;
}
const dummyOutputs = new WeakMap<Runtime, Tensor>();

/** Where the random bits come from: the Philox key (seed, seedHi) and counter words step, stream. */
export interface SeedOptions {
  /** Low word of the Philox key: an integer in [0, 2^32). */
  seed: number;
  /** High word of the key, an integer in [0, 2^32); default 0. */
  seedHi?: number;
  /** The training step (counter word 1), an integer in [0, 2^32): use a new one for every draw. */
  step: number;
  /** Counter word 2, an integer in [0, 2^32), for independent draws within one step; default 0. */
  stream?: number;
}

export function checkU32(kernel: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new ShapeError(`${kernel}: option ${name} must be an integer in [0, 2^32), got ${v}`);
  }
}

function seedParams(k: string, opts: SeedOptions): { seed_lo: number; seed_hi: number; step: number; stream: number } {
  const { seed, seedHi = 0, step, stream = 0 } = opts;
  checkU32(k, 'seed', seed);
  checkU32(k, 'seedHi', seedHi);
  checkU32(k, 'step', step);
  checkU32(k, 'stream', stream);
  return { seed_lo: seed, seed_hi: seedHi, step, stream };
}

/**
 * out (u32, any shape of N * 4 elements) = philox4x32_10(counter_n, (seed, seedHi)) for n < N, four
 * words per counter, with counter_n = (n, c1, c2, c3), or counters[n] when `counters` (u32, same
 * element count as out) is given.
 */
export function philox_fill(
  rt: Runtime,
  out: Tensor,
  counters: Tensor | undefined,
  opts: { seed?: number; seedHi?: number; c1?: number; c2?: number; c3?: number } = {},
): void {
  const k = 'philox_fill';
  const { seed = 0, seedHi = 0, c1 = 0, c2 = 0, c3 = 0 } = opts;
  for (const [n, v] of Object.entries({ seed, seedHi, c1, c2, c3 })) checkU32(k, n, v);
  expectDType(k, 'out', out, 'u32');
  if (out.size % 4 !== 0) {
    throw new ShapeError(
      `${k}: out has ${out.size} elements (shape ${shapeString(out.shape)}); it must hold 4 words per counter`,
    );
  }
  if (counters) {
    expectDType(k, 'counters', counters, 'u32');
    expectSameSize(k, ['out', 'counters'], [out, counters]);
  }
  expectDistinct(k, { out }, { counters });
  rt.dispatch(philoxFillSpec, {
    params: { N: out.size / 4, has_counters: Number(!!counters), c1, c2, c3, key0: seed, key1: seedHi },
    tensors: { counters: counters ?? dummy(rt), out },
    shapes: shapesOf({ counters, out }),
  });
}

export interface SampleTokensOptions extends SeedOptions {
  /** Divides the logits; >= 0, default 1. Below 2^-126 (0 included) the token is the argmax (first maximum). */
  temperature?: number;
}

/**
 * tokens [N] (u32) ~ softmax(logits [N, V] / temperature), one draw per row by inverse CDF in index
 * order, with the uniform from philox((r, step, stream, 0), (seed, seedHi)), r = n or, given rows
 * [N] u32, r = rows[n] (the counter row a draw stands for); see shaders/sample_tokens.wgsl.
 * Deterministic: the same options give the same tokens everywhere.
 */
export function sample_tokens(rt: Runtime, tokens: Tensor, logits: Tensor, opts: SampleTokensOptions, rows?: Tensor): void {
  const k = 'sample_tokens';
  const { temperature = 1 } = opts;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new ShapeError(`${k}: option temperature must be a finite number >= 0 (0 = argmax), got ${temperature}`);
  }
  const seeds = seedParams(k, opts);
  expectRank(k, 'logits', logits, [2]);
  expectDType(k, 'logits', logits, 'f32');
  const [N, V] = logits.shape;
  expectDType(k, 'tokens', tokens, 'u32');
  expectShape(k, 'tokens', tokens, [N]);
  if (rows) {
    expectDType(k, 'rows', rows, 'u32');
    expectShape(k, 'rows', rows, [N]);
  }
  expectDistinct(k, { tokens }, { logits, ...(rows ? { rows } : {}) });
  rt.dispatch(sampleTokensSpec, {
    params: { N, V, temperature, ...seeds, has_rows: rows ? 1 : 0 },
    tensors: { logits, tokens, rows: rows ?? dummy(rt) },
    shapes: shapesOf({ logits, tokens, ...(rows ? { rows } : {}) }),
  });
}

function checkSigma(k: string, logSigma: Tensor | undefined, sigma: number | undefined, D: number): number {
  if (logSigma) {
    if (sigma !== undefined) {
      throw new ShapeError(`${k}: give either the input logSigma (learned) or the option sigma (fixed), not both`);
    }
    expectDType(k, 'logSigma', logSigma, 'f32');
    expectShape(k, 'logSigma', logSigma, [D]);
    return 1;
  }
  const s = sigma ?? 1;
  if (!(s > 0) || !Number.isFinite(s)) throw new ShapeError(`${k}: option sigma must be a finite number > 0, got ${s}`);
  return s;
}

export interface GaussianSampleOptions extends SeedOptions {
  /** The fixed standard deviation when there is no logSigma input; default 1. */
  sigma?: number;
}

/**
 * sample [B, D] = mean [B, D] + sigma * xi and the noise xi [B, D] itself, xi standard normal by
 * Box-Muller from philox((b * D + d, step, stream, 1), (seed, seedHi)) (words 0 and 1; see
 * shaders/gaussian_sample.wgsl). sigma = exp(logSigma [D]) per dimension when learned, else the
 * scalar option sigma (default 1).
 */
export function gaussian_sample(
  rt: Runtime,
  sample: Tensor,
  xi: Tensor,
  mean: Tensor,
  logSigma: Tensor | undefined,
  opts: GaussianSampleOptions,
): void {
  const k = 'gaussian_sample';
  const seeds = seedParams(k, opts);
  expectRank(k, 'mean', mean, [2]);
  expectDType(k, 'mean', mean, 'f32');
  const [B, D] = mean.shape;
  const sigma = checkSigma(k, logSigma, opts.sigma, D);
  for (const [n, t] of [
    ['sample', sample],
    ['xi', xi],
  ] as const) {
    expectDType(k, n, t, 'f32');
    expectShape(k, n, t, [B, D]);
  }
  expectDistinct(k, { sample, xi }, { mean, logSigma });
  rt.dispatch(gaussianSampleSpec, {
    params: { N: B * D, D, has_log_sigma: Number(!!logSigma), sigma, ...seeds },
    tensors: { mean, log_sigma: logSigma ?? dummy(rt), sample, xi },
    shapes: shapesOf({ mean, logSigma, sample, xi }),
  });
}

export interface GaussianReinforceOptions {
  /** The fixed standard deviation when there is no logSigma input; default 1. */
  sigma?: number;
  /** Multiplies the loss; default 1 / B (the mean over the batch). */
  scale?: number;
}

/**
 * REINFORCE gradients of L = -scale * sum_b adv[b] * log N(sample[b]; mean[b], sigma^2), overwritten:
 * dmean [B, D] = -scale * adv[b] * (sample - mean) / sigma^2 and, when logSigma [D] is given (learned;
 * then dlogSigma [D] is required), dlogSigma[d] = -scale * sum_b adv[b] * ((sample - mean)^2 / sigma^2 - 1)
 * (a fixed-order column sum). mean, sample [B, D], adv [B] (advantages, e.g. reward - baseline).
 */
export function gaussian_reinforce_backward(
  rt: Runtime,
  dmean: Tensor,
  dlogSigma: Tensor | undefined,
  mean: Tensor,
  sample: Tensor,
  adv: Tensor,
  logSigma: Tensor | undefined,
  opts: GaussianReinforceOptions = {},
): void {
  const k = 'gaussian_reinforce_backward';
  expectRank(k, 'mean', mean, [2]);
  const [B, D] = mean.shape;
  const { scale = 1 / B } = opts;
  if (!Number.isFinite(scale)) throw new ShapeError(`${k}: option scale must be a finite number, got ${scale}`);
  const sigma = checkSigma(k, logSigma, opts.sigma, D);
  for (const [n, t] of [
    ['mean', mean],
    ['sample', sample],
    ['adv', adv],
    ['dmean', dmean],
  ] as const)
    expectDType(k, n, t, 'f32');
  expectShape(k, 'sample', sample, [B, D]);
  expectShape(k, 'adv', adv, [B]);
  expectShape(k, 'dmean', dmean, [B, D]);
  if (logSigma && !dlogSigma)
    throw new ShapeError(`${k}: logSigma is learned (given), so the output dlogSigma [${D}] is required`);
  if (!logSigma && dlogSigma) throw new ShapeError(`${k}: dlogSigma is only computed for a learned logSigma input; pass none`);
  if (dlogSigma) {
    expectDType(k, 'dlogSigma', dlogSigma, 'f32');
    expectShape(k, 'dlogSigma', dlogSigma, [D]);
  }
  expectDistinct(k, { dmean, ...(dlogSigma ? { dlogSigma } : {}) }, { mean, sample, adv, logSigma });
  rt.dispatch(reinforceSpec, {
    params: { N: B * D, D, has_log_sigma: Number(!!logSigma), sigma, scale },
    tensors: {
      mean,
      sample,
      adv,
      log_sigma: logSigma ?? dummy(rt),
      dmean,
      dlog_sigma: dlogSigma ?? dummyOutput(rt),
    },
    shapes: shapesOf({ mean, sample, adv, logSigma, dmean, dlogSigma }),
  });
}
