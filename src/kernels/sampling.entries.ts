/**
 * Registry entries for the sampling family: philox_fill, sample_tokens, gaussian_sample and
 * gaussian_reinforce_backward (see src/kernels/registry.ts for the KernelEntry contract).
 */
import { InputError } from '../gpu/errors.ts';
import { type Tensor, numel } from '../gpu/tensor.ts';
import { type Rng, randomArray } from '../reference/random.ts';
import * as ref from '../reference/sampling.ts';
import type { CheckCase, Dims, HostTensor, KernelEntry, OptionDoc, Options } from './registry.ts';
import { gaussian_reinforce_backward, gaussian_sample, philox_fill, sample_tokens } from './sampling.ts';

const f32 = (shape: number[], data?: Float32Array): HostTensor => ({ shape, data: data ?? new Float32Array(numel(shape)) });
const u32 = (shape: number[], data?: Uint32Array): HostTensor => ({ shape, data: data ?? new Uint32Array(numel(shape)) });
const num = (v: Options[string] | undefined, d: number): number => (typeof v === 'number' ? v : d);
const optNum = (v: Options[string] | undefined): number | undefined => (typeof v === 'number' ? v : undefined);
const F = (t: HostTensor): Float32Array => t.data as Float32Array;
const EXACT = () => ({ atol: 0, rtol: 0 });

const isU32 = (v: number): string | undefined =>
  Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? undefined : 'must be an integer in [0, 2^32)';

const seedOptionDocs: OptionDoc[] = [
  { name: 'seed', type: 'number', default: 0, doc: 'low word of the Philox key', check: isU32 },
  { name: 'seedHi', type: 'number', default: 0, doc: 'high word of the Philox key', check: isU32 },
  { name: 'step', type: 'number', default: 0, doc: 'counter word 1 (the training step)', check: isU32 },
  { name: 'stream', type: 'number', default: 0, doc: 'counter word 2 (independent draws within a step)', check: isU32 },
];

function seedOptions(opts: Options): { seed: number; seedHi: number; step: number; stream: number } {
  return { seed: num(opts.seed, 0), seedHi: num(opts.seedHi, 0), step: num(opts.step, 0), stream: num(opts.stream, 0) };
}

const randomU32 = (rng: Rng): number => Math.floor(rng.next() * 2 ** 32) >>> 0;

// --------------------------------------------------------------------------------------------
// philox_fill

/** The Random123 known-answer counters, used as the first sampled counters. */
const KAT_COUNTERS = [
  [0, 0, 0, 0],
  [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
  [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
];

const philoxFillEntry: KernelEntry = {
  name: 'philox_fill',
  summary: 'raw Philox4x32-10 words: out[n] = philox(counter_n, (seed, seedHi)), counter_n = counters[n] or (n, c1, c2, c3)',
  inputs: [
    {
      name: 'counters',
      dtype: 'u32',
      shape: '[N, 4]',
      optional: true,
      doc: 'the counters to hash; without it, counter n is (n, c1, c2, c3) for n < option n',
    },
  ],
  options: [
    { name: 'n', type: 'number', default: 1, doc: 'number of counters N when there is no counters input', check: isU32 },
    { name: 'c1', type: 'number', default: 0, doc: 'counter word 1 without counters', check: isU32 },
    { name: 'c2', type: 'number', default: 0, doc: 'counter word 2 without counters', check: isU32 },
    { name: 'c3', type: 'number', default: 0, doc: 'counter word 3 without counters', check: isU32 },
    { name: 'seed', type: 'number', default: 0, doc: 'key word 0', check: isU32 },
    { name: 'seedHi', type: 'number', default: 0, doc: 'key word 1', check: isU32 },
  ],
  outputs: [{ name: 'out', dtype: 'u32', shape: '[N, 4]' }],
  gpu(rt, { counters }, opts) {
    const N = philoxN(counters, opts);
    const out = rt.empty([N, 4], 'u32', 'philox_fill.out');
    philox_fill(rt, out, counters, {
      seed: num(opts.seed, 0),
      seedHi: num(opts.seedHi, 0),
      c1: num(opts.c1, 0),
      c2: num(opts.c2, 0),
      c3: num(opts.c3, 0),
    });
    return { out };
  },
  cpu({ counters }, opts) {
    const N = philoxN(counters, opts);
    const out = u32([N, 4]);
    ref.philox_fill(out.data as Uint32Array, counters ? (counters.data as Uint32Array) : null, N, {
      seed: num(opts.seed, 0),
      seedHi: num(opts.seedHi, 0),
      c1: num(opts.c1, 0),
      c2: num(opts.c2, 0),
      c3: num(opts.c3, 0),
    });
    return { out };
  },
  /** Random counters (the known-answer ones first), or none when the option n asks for (n, c1, c2, c3). */
  sample(rng, { N }, opts): Record<string, HostTensor> {
    if (opts.n !== undefined) return {};
    const data = new Uint32Array(N * 4);
    for (let i = 0; i < data.length; i++) data[i] = randomU32(rng);
    for (let n = 0; n < Math.min(N, KAT_COUNTERS.length); n++) data.set(KAT_COUNTERS[n], 4 * n);
    return { counters: u32([N, 4], data) };
  },
  checkDims: { N: 1000 },
  cases: [
    { dims: { N: 1 } },
    { dims: { N: 3 }, options: { seed: 0xffffffff, seedHi: 0xffffffff } },
    { dims: { N: 17 }, options: { seed: 0xa4093822, seedHi: 0x299f31d0 } },
    { dims: { N: 63 }, options: { seed: 123456789 } },
    { dims: { N: 129 }, options: { n: 129 } },
    { dims: { N: 257 }, options: { n: 257, c1: 5, c2: 0xffffffff, c3: 7, seed: 42, seedHi: 1 } },
    { dims: { N: 100003 }, options: { seed: 3141592653, seedHi: 2718281828 } },
    { dims: { N: 70000 }, options: { n: 70000, c1: 1, seed: 99 } },
  ],
  // Integer bit patterns: the WGSL and TypeScript Philox must agree exactly.
  tolerance: EXACT,
};

function philoxN(counters: { shape: readonly number[] } | undefined, opts: Options): number {
  if (counters) {
    for (const o of ['n', 'c1', 'c2', 'c3']) {
      if (opts[o] !== undefined) throw new InputError(`philox_fill: option ${o} is only used without the counters input`);
    }
    if (counters.shape.length !== 2 || counters.shape[1] !== 4) {
      throw new InputError(`philox_fill: counters must be [N, 4], got [${counters.shape.join(', ')}]`);
    }
    return counters.shape[0];
  }
  const n = num(opts.n, 1);
  if (n < 1) throw new InputError('philox_fill: option n must be >= 1');
  return n;
}

// --------------------------------------------------------------------------------------------
// sample_tokens

/**
 * sample() keeps every row's uniform at least this far (in f64) from every boundary of the row's
 * CDF, redrawing the row's logits otherwise: the GPU sums the CDF in f32 (errors around 1e-7 to
 * 1e-6 here), so with this margin it must pick exactly the reference's token, and the entry's
 * tolerance is exact. test/sampling.test.ts also checks rows drawn without this margin.
 */
export const BOUNDARY_MARGIN = 1e-5;

/**
 * Logits [N, V] (normal, std 2, with outliers) whose rows keep the uniform of sample_tokens (for these
 * options) at least BOUNDARY_MARGIN from every CDF boundary. One row in four gets its maximum
 * repeated at the first and last index, so argmax's first-maximum rule is exercised.
 */
export function sampleLogits(rng: Rng, N: number, V: number, opts: ref.TokenSampleOptions): Float32Array {
  const logits = new Float32Array(N * V);
  for (let n = 0; n < N; n++) {
    for (let attempt = 0; ; attempt++) {
      const row = randomArray(rng, V, { std: 2 });
      if (n % 4 === 1 && V > 1) {
        const top = row.reduce((a, b) => Math.max(a, b)) + 0.5;
        row[0] = top;
        row[V - 1] = top;
      }
      logits.set(row, n * V);
      if (ref.cdfBoundaryDistance(logits, n, V, opts) >= BOUNDARY_MARGIN) break;
      if (attempt > 1000) throw new Error(`sample_tokens: no logits row with its CDF boundaries away from u (row ${n})`);
    }
  }
  return logits;
}

function tokenOptions(opts: Options) {
  return { ...seedOptions(opts), temperature: num(opts.temperature, 1) };
}

const sampleTokensEntry: KernelEntry = {
  name: 'sample_tokens',
  summary:
    'tokens[n] ~ softmax(logits[n] / temperature) by inverse CDF with u from philox((r, step, stream, 0), seed), r = rows[n] or n; temperature 0 = argmax',
  inputs: [
    { name: 'logits', dtype: 'f32', shape: '[N, V]' },
    {
      name: 'rows',
      dtype: 'u32',
      shape: '[N]',
      optional: true,
      doc: "row n's first counter word (generation with a KV cache: the position the row stands for); default n",
    },
  ],
  options: [
    {
      name: 'temperature',
      type: 'number',
      default: 1,
      doc: 'divides the logits; 0 = argmax (first maximum)',
      check: (v) => (Number.isFinite(v) && v >= 0 ? undefined : 'temperature must be a finite number >= 0'),
    },
    ...seedOptionDocs,
  ],
  outputs: [{ name: 'tokens', dtype: 'u32', shape: '[N]' }],
  gpu(rt, { logits, rows }, opts) {
    const tokens = rt.empty([logits.shape[0]], 'u32', 'sample_tokens.tokens');
    sample_tokens(rt, tokens, logits, tokenOptions(opts), rows);
    return { tokens };
  },
  cpu({ logits, rows }, opts) {
    if (logits.shape.length !== 2) throw new InputError(`sample_tokens: logits must be [N, V], got [${logits.shape.join(', ')}]`);
    const [N, V] = logits.shape;
    if (rows && (rows.shape.length !== 1 || rows.shape[0] !== N)) {
      throw new InputError(`sample_tokens: rows must be [N] = [${N}], got [${rows.shape.join(', ')}]`);
    }
    const tokens = u32([N]);
    ref.sample_tokens(tokens.data as Uint32Array, F(logits), N, V, { ...tokenOptions(opts), rows: rows?.data });
    return { tokens };
  },
  // R = 1: with counter rows (random words, as positions b * T + t would be), the logits drawn for them.
  sample: (rng, { N, V, R = 0 }, opts): Record<string, HostTensor> => {
    const rows = R
      ? u32(
          [N],
          Uint32Array.from({ length: N }, () => randomU32(rng)),
        )
      : undefined;
    const logits = f32([N, V], sampleLogits(rng, N, V, { ...tokenOptions(opts), rows: rows?.data }));
    return rows ? { logits, rows } : { logits };
  },
  checkDims: { N: 37, V: 129 },
  cases: [
    { dims: { N: 1, V: 1 } },
    { dims: { N: 3, V: 17 } },
    { dims: { N: 17, V: 3 }, options: { temperature: 0.5, seed: 1 } },
    { dims: { N: 63, V: 129 }, options: { temperature: 0 } },
    { dims: { N: 1, V: 3, R: 1 } },
    { dims: { N: 17, V: 63, R: 1 }, options: { temperature: 0.7, seed: 5, step: 2, stream: 3 } },
    { dims: { N: 513, V: 17, R: 1 }, options: { seed: 9 } },
    { dims: { N: 129, V: 257 }, options: { temperature: 2, seed: 0xffffffff, seedHi: 7, step: 12345, stream: 3 } },
    { dims: { N: 257, V: 63 }, options: { temperature: 1.3, step: 1 } },
    { dims: { N: 520, V: 17 }, options: { seed: 2024 } },
    { dims: { N: 3, V: 600 }, options: { temperature: 0.7 } },
    { dims: { N: 33, V: 4099 }, options: { seed: 5 } },
    { dims: { N: 3, V: 50257 }, options: { temperature: 0.8, step: 77 } },
    { dims: { N: 600, V: 513 }, options: { temperature: 0 } },
    // Found by the fuzzer: many rows with u near 1, where sample() could not move the CDF's last
    // boundary (V = 1 always); it is no boundary (see ref.cdfBoundaryDistance).
    { dims: { N: 16381, V: 1 }, options: { temperature: 0.5, seed: 2024 } },
    { dims: { N: 4093, V: 3 }, options: { temperature: 2, step: 1 } },
  ],
  // Exact: sample() keeps u away from the CDF boundaries (BOUNDARY_MARGIN), see above.
  tolerance: EXACT,
};

// --------------------------------------------------------------------------------------------
// Gaussian policy

const sigmaDoc: OptionDoc = {
  name: 'sigma',
  type: 'number',
  default: 1,
  doc: 'fixed standard deviation, used when there is no logSigma input (giving both is an error)',
  check: (v) => (Number.isFinite(v) && v > 0 ? undefined : 'sigma must be a finite number > 0'),
};

function gaussSizes(mean: { shape: readonly number[] }, k: string): { B: number; D: number } {
  if (mean.shape.length !== 2) throw new InputError(`${k}: mean must be [B, D], got [${mean.shape.join(', ')}]`);
  return { B: mean.shape[0], D: mean.shape[1] };
}

/** logSigma [D] around log 0.6 with outliers, clamped to [-3, 1] (sigma in [0.05, 2.7]), unless the options fix sigma. */
function sampleLogSigma(rng: Rng, D: number, opts: Options): Record<string, HostTensor> {
  if (opts.sigma !== undefined) return {};
  const ls = randomArray(rng, D, { mean: -0.5, std: 0.5, outlierScale: 4 }).map((v) => Math.min(1, Math.max(-3, v)));
  return { logSigma: f32([D], ls) };
}

/**
 * xi = sqrt(-2 ln u1) cos(2 pi (u2 - 1/2)) with the shader's own ln and cos (a few ulp): measured on
 * SwiftShader, xi is within 5e-7 of the f64 reference (|xi| <= 5.8; test/sampling.test.ts holds xi
 * to 1e-6). The sample adds sigma * xi with sigma = exp(logSigma) from the GPU's exp (relative error
 * up to ~5e-7 measured): |error| <= about 4e-6 * sigma, sigma <= 2.7 in these cases, hence atol 1e-5.
 */
const GAUSS_SAMPLE_TOLERANCE = () => ({ atol: 1e-5, rtol: 1e-6 });

const gaussianSampleEntry: KernelEntry = {
  name: 'gaussian_sample',
  summary: 'sample = mean + sigma * xi, xi ~ N(0, 1) by Box-Muller from philox((b*D + d, step, stream, 1), seed); also xi',
  inputs: [
    { name: 'mean', dtype: 'f32', shape: '[B, D]' },
    { name: 'logSigma', dtype: 'f32', shape: '[D]', optional: true, doc: 'learned log standard deviation per dimension' },
  ],
  options: [sigmaDoc, ...seedOptionDocs],
  outputs: [
    { name: 'sample', dtype: 'f32', shape: '[B, D]' },
    { name: 'xi', dtype: 'f32', shape: '[B, D]', doc: 'the standard normal noise' },
  ],
  gpu(rt, { mean, logSigma }, opts) {
    const { B, D } = gaussSizes(mean, 'gaussian_sample');
    const sample = rt.empty([B, D], 'f32', 'gaussian_sample.sample');
    const xi = rt.empty([B, D], 'f32', 'gaussian_sample.xi');
    gaussian_sample(rt, sample, xi, mean, logSigma, { ...seedOptions(opts), sigma: optNum(opts.sigma) });
    return { sample, xi };
  },
  cpu({ mean, logSigma }, opts) {
    const { B, D } = gaussSizes(mean, 'gaussian_sample');
    const sample = f32([B, D]);
    const xi = f32([B, D]);
    ref.gaussian_sample(F(sample), F(xi), F(mean), logSigma ? F(logSigma) : null, B, D, {
      ...seedOptions(opts),
      sigma: num(opts.sigma, 1),
    });
    return { sample, xi };
  },
  sample: (rng, { B, D }, opts) => ({
    mean: f32([B, D], randomArray(rng, B * D, { std: 2 })),
    ...sampleLogSigma(rng, D, opts),
  }),
  checkDims: { B: 37, D: 129 },
  cases: [
    { dims: { B: 1, D: 1 } },
    { dims: { B: 3, D: 17 }, options: { sigma: 0.3, seed: 7 } },
    { dims: { B: 17, D: 3 }, options: { step: 1 } },
    { dims: { B: 63, D: 129 }, options: { seed: 0xffffffff, seedHi: 0xffffffff, step: 0xffffffff, stream: 0xffffffff } },
    { dims: { B: 257, D: 63 }, options: { sigma: 2.5, stream: 1 } },
    { dims: { B: 129, D: 257 }, options: { seed: 11 } },
    { dims: { B: 520, D: 3 }, options: { seed: 12, step: 3 } },
    { dims: { B: 2, D: 600 }, options: { sigma: 0.05 } },
    { dims: { B: 1000, D: 600 }, options: { seed: 13 } },
  ],
  tolerance: GAUSS_SAMPLE_TOLERANCE,
};

function reinforceScale(opts: Options, B: number): number {
  const s = num(opts.scale, 0);
  return s !== 0 ? s : 1 / B;
}

const gaussianReinforceEntry: KernelEntry = {
  name: 'gaussian_reinforce_backward',
  summary: 'gradients of -scale * sum_b adv[b] log N(sample[b]; mean[b], sigma^2): dmean, and dlogSigma when logSigma is learned',
  inputs: [
    { name: 'mean', dtype: 'f32', shape: '[B, D]' },
    { name: 'sample', dtype: 'f32', shape: '[B, D]', doc: 'the actions taken (from gaussian_sample)' },
    { name: 'adv', dtype: 'f32', shape: '[B]', doc: 'advantage per sample, e.g. reward - baseline' },
    { name: 'logSigma', dtype: 'f32', shape: '[D]', optional: true, doc: 'learned log standard deviation per dimension' },
  ],
  options: [
    sigmaDoc,
    {
      name: 'scale',
      type: 'number',
      default: 0,
      doc: 'multiplies the loss; 0 means 1 / B (the batch mean)',
      check: (v) => (Number.isFinite(v) ? undefined : 'scale must be a finite number'),
    },
  ],
  outputs: [
    { name: 'dmean', dtype: 'f32', shape: '[B, D]' },
    { name: 'dlogSigma', dtype: 'f32', shape: '[D]', doc: 'only with the logSigma input' },
  ],
  gpu(rt, { mean, sample, adv, logSigma }, opts): Record<string, Tensor> {
    const { B, D } = gaussSizes(mean, 'gaussian_reinforce_backward');
    const dmean = rt.empty([B, D], 'f32', 'gaussian_reinforce_backward.dmean');
    const dlogSigma = logSigma ? rt.empty([D], 'f32', 'gaussian_reinforce_backward.dlogSigma') : undefined;
    gaussian_reinforce_backward(rt, dmean, dlogSigma, mean, sample, adv, logSigma, {
      sigma: optNum(opts.sigma),
      scale: reinforceScale(opts, B),
    });
    return dlogSigma ? { dmean, dlogSigma } : { dmean };
  },
  cpu({ mean, sample, adv, logSigma }, opts): Record<string, HostTensor> {
    const { B, D } = gaussSizes(mean, 'gaussian_reinforce_backward');
    const dmean = f32([B, D]);
    const dlogSigma = logSigma ? f32([D]) : undefined;
    ref.gaussian_reinforce_backward(
      F(dmean),
      dlogSigma ? F(dlogSigma) : null,
      F(mean),
      F(sample),
      F(adv),
      logSigma ? F(logSigma) : null,
      B,
      D,
      { sigma: num(opts.sigma, 1), scale: reinforceScale(opts, B) },
    );
    return dlogSigma ? { dmean, dlogSigma } : { dmean };
  },
  sample(rng, { B, D }, opts) {
    const mean = randomArray(rng, B * D, { std: 2 });
    const { logSigma } = sampleLogSigma(rng, D, opts);
    const sample = new Float32Array(B * D);
    for (let i = 0; i < B * D; i++) {
      const sigma = logSigma ? Math.exp(F(logSigma)[i % D]) : num(opts.sigma, 1);
      sample[i] = mean[i] + sigma * rng.normal();
    }
    return {
      mean: f32([B, D], mean),
      sample: f32([B, D], sample),
      adv: f32([B], randomArray(rng, B)),
      ...(logSigma ? { logSigma } : {}),
    };
  },
  checkDims: { B: 37, D: 129 },
  cases: reinforceCases(),
  // dmean is a product of four f32 values and an exp (measured rel error <= 3e-7); dlogSigma is an f32
  // sum over B with cancellation (adv changes sign), so its error grows like sqrt(B) (6e-5 at B = 1000).
  tolerance: ({ B }) => ({ atol: 1e-6 * Math.sqrt(B), rtol: 1e-5 }),
};

function reinforceCases(): CheckCase[] {
  const dims: Dims[] = [
    { B: 1, D: 1 },
    { B: 3, D: 17 },
    { B: 17, D: 3 },
    { B: 63, D: 129 },
    { B: 257, D: 63 },
    { B: 129, D: 257 },
    { B: 2, D: 600 },
    { B: 1000, D: 520 },
  ];
  return dims.flatMap((d, i): CheckCase[] => [
    { dims: d, options: i % 2 ? { scale: 0.37 } : undefined },
    { dims: d, options: { sigma: 0.3 + i / 4, ...(i % 2 ? {} : { scale: -1.5 }) } },
  ]);
}

export const samplingKernels: KernelEntry[] = [philoxFillEntry, sampleTokensEntry, gaussianSampleEntry, gaussianReinforceEntry];
