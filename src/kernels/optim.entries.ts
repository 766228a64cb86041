/**
 * Registry entries for the optimizer kernels (src/kernels/optim.ts): adamw, global_norm_sumsq and
 * nonfinite_count, each with its CPU reference (src/reference/optim.ts), seeded inputs and cases.
 */
import { ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { type Tensor, shapeString } from '../gpu/tensor.ts';
import * as ref from '../reference/optim.ts';
import { type Rng, randomArray } from '../reference/random.ts';
import { copy } from './elementwise.ts';
import { ADAMW_MAX_LR, type AdamWOptions, adamw, global_norm_sumsq, nonfinite_count } from './optim.ts';
import { type CheckCase, type Dims, type HostTensor, type KernelEntry, type OptionDoc, type Options, f32, num } from './entry.ts';

const copyHost = (t: HostTensor): HostTensor => ({ shape: [...t.shape], data: Float32Array.from(t.data) });

// --------------------------------------------------------------------------------------------
// adamw

const inRange = (name: string, ok: (v: number) => boolean, range: string) => (v: number) =>
  ok(v) ? undefined : `${name} must be ${range}`;

const adamwOptionDocs: OptionDoc[] = [
  {
    name: 'lr',
    type: 'number',
    default: 1e-3,
    doc: 'learning rate',
    check: inRange('lr', (v) => v > 0 && v <= ADAMW_MAX_LR, `a finite number in (0, ${ADAMW_MAX_LR}]`),
  },
  {
    name: 'beta1',
    type: 'number',
    default: 0.9,
    doc: 'first-moment decay',
    check: inRange('beta1', (v) => v >= 0 && v < 1, 'in [0, 1)'),
  },
  {
    name: 'beta2',
    type: 'number',
    default: 0.999,
    doc: 'second-moment decay',
    check: inRange('beta2', (v) => v >= 0 && v < 1, 'in [0, 1)'),
  },
  {
    name: 'eps',
    type: 'number',
    default: 1e-8,
    doc: 'added to sqrt(vhat)',
    check: inRange('eps', (v) => v > 0 && Number.isFinite(v), 'a finite number > 0'),
  },
  {
    name: 'weightDecay',
    type: 'number',
    default: 0,
    doc: 'decoupled weight decay: params -= lr * weightDecay * params',
    check: inRange('weightDecay', (v) => v >= 0 && Number.isFinite(v), 'a finite number >= 0'),
  },
  {
    name: 'step',
    type: 'number',
    default: 1,
    doc: '1-based step number, for the bias corrections 1 - beta^step',
    check: inRange('step', (v) => Number.isSafeInteger(v) && v >= 1, 'an integer >= 1'),
  },
  {
    name: 'maxNorm',
    type: 'number',
    default: 0,
    doc: 'clip the global gradient norm sqrt(gradSumSq) to this; 0 = no clipping',
    check: inRange('maxNorm', (v) => v >= 0 && Number.isFinite(v), 'a finite number >= 0'),
  },
];

function adamwOptions(opts: Options): Required<AdamWOptions> {
  return {
    lr: num(opts.lr, 1e-3),
    beta1: num(opts.beta1, 0.9),
    beta2: num(opts.beta2, 0.999),
    eps: num(opts.eps, 1e-8),
    weightDecay: num(opts.weightDecay, 0),
    step: num(opts.step, 1),
    maxNorm: num(opts.maxNorm, 0),
  };
}

/** Gradients with std 0.01, outliers, and about 1 in 32 entries exactly 0 on every step (unused rows). */
function fakeGrads(rng: Rng, N: number, unused: Uint8Array): Float32Array {
  const g = randomArray(rng, N, { std: 0.01 });
  for (let i = 0; i < N; i++) if (unused[i]) g[i] = 0;
  return g;
}

/**
 * params ~ N(0, 0.5²); m, v from min(step - 1, 3) earlier Adam steps on fake gradients (so they are
 * zero at step 1, and v >= 0); grads for this step; gradSumSq = their true sum of squares.
 */
function adamwSample(rng: Rng, { N }: Dims, opts: Options): Record<string, HostTensor> {
  const o = adamwOptions(opts);
  const unused = new Uint8Array(N);
  for (let i = 0; i < N; i++) unused[i] = rng.next() < 1 / 32 ? 1 : 0;
  const params = f32([N], randomArray(rng, N, { std: 0.5 }));
  const m = new Float64Array(N);
  const v = new Float64Array(N);
  for (let s = 0; s < Math.min(o.step - 1, 3); s++) {
    const g = fakeGrads(rng, N, unused);
    for (let i = 0; i < N; i++) {
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
    }
  }
  const grads = fakeGrads(rng, N, unused);
  const gradSumSq = f32([1]);
  ref.global_norm_sumsq(gradSumSq.data as Float32Array, [grads]);
  return { params, m: f32([N], Float32Array.from(m)), v: f32([N], Float32Array.from(v)), grads: f32([N], grads), gradSumSq };
}

const adamwEntry: KernelEntry = {
  name: 'adamw',
  summary: 'one fused AdamW step (decoupled weight decay, bias correction, global-norm clipping from gradSumSq)',
  inputs: [
    { name: 'params', dtype: 'f32', shape: '[N] (any shape)' },
    { name: 'm', dtype: 'f32', shape: 'as params', doc: 'first moment' },
    { name: 'v', dtype: 'f32', shape: 'as params', doc: 'second moment (>= 0)' },
    { name: 'grads', dtype: 'f32', shape: 'as params' },
    { name: 'gradSumSq', dtype: 'f32', shape: '[1]', doc: 'sum of squares of all gradients (global_norm_sumsq)' },
  ],
  options: adamwOptionDocs,
  outputs: [
    { name: 'params', dtype: 'f32', shape: 'as params', doc: 'after the step' },
    { name: 'm', dtype: 'f32', shape: 'as params' },
    { name: 'v', dtype: 'f32', shape: 'as params' },
  ],
  gpu(rt, { params, m, v, grads, gradSumSq }, opts) {
    // The kernel updates in place: copy the inputs to fresh outputs, then step those.
    const out: Record<string, Tensor> = {};
    try {
      for (const [k, t] of Object.entries({ params, m, v })) {
        if (!t) throw new ShapeError(`adamw: missing input ${k}`);
        out[k] = rt.empty(t.shape, 'f32', `adamw.${k}`);
        copy(rt, out[k], t);
      }
      adamw(rt, out.params, out.m, out.v, grads, gradSumSq, adamwOptions(opts));
    } catch (e) {
      for (const t of Object.values(out)) t.destroy();
      throw e;
    }
    return out;
  },
  cpu({ params, m, v, grads, gradSumSq }, opts) {
    const N = params.data.length;
    for (const [k, t] of Object.entries({ m, v, grads })) {
      if (t.data.length !== N) throw new ShapeError(`adamw: ${k} has ${t.data.length} elements but params has ${N}`);
    }
    if (gradSumSq.data.length !== 1) throw new ShapeError(`adamw: gradSumSq must be [1], got ${shapeString(gradSumSq.shape)}`);
    const o = { params: copyHost(params), m: copyHost(m), v: copyHost(v) };
    ref.adamw(
      o.params.data as Float32Array,
      o.m.data as Float32Array,
      o.v.data as Float32Array,
      grads.data as Float32Array,
      gradSumSq.data as Float32Array,
      N,
      adamwOptions(opts),
    );
    return o;
  },
  sample: adamwSample,
  checkDims: { N: 1000 },
  // Gradient norms here are about 0.014 sqrt(N): maxNorm 1e-3 always clips, 1e6 never does.
  cases: [
    { dims: { N: 1 } },
    { dims: { N: 3 }, options: { step: 2, weightDecay: 0.1, maxNorm: 1e-3 } },
    { dims: { N: 17 }, options: { step: 1000, weightDecay: 0.1, lr: 0.01 } },
    { dims: { N: 63 }, options: { step: 10, maxNorm: 1e6, lr: 0.1 } },
    { dims: { N: 129 }, options: { step: 1, maxNorm: 1e-3, weightDecay: 0.1 } },
    { dims: { N: 257 }, options: { step: 3, beta1: 0.8, beta2: 0.99, eps: 1e-6, maxNorm: 0.05 } },
    { dims: { N: 1025 }, options: { step: 1000, weightDecay: 0.1, maxNorm: 1e6 } },
    { dims: { N: 100003 }, options: { step: 1000, weightDecay: 0.1, maxNorm: 1 } },
    { dims: { N: 100003 }, options: { step: 1, lr: 0.01 } },
    { dims: { N: 1048577 }, options: { step: 4, weightDecay: 0.01, maxNorm: 1 } },
    // N a multiple of 4: four elements per invocation.
    { dims: { N: 4 }, options: { step: 2, weightDecay: 0.1, maxNorm: 1e-3 } },
    { dims: { N: 1024 }, options: { step: 10, maxNorm: 1e6, lr: 0.1 } },
    { dims: { N: 100004 }, options: { step: 1000, weightDecay: 0.1, maxNorm: 1 } },
  ],
  /**
   * One tolerance for params (~0.5), m (~1e-3) and v (~1e-7) at any lr, since tolerance() does not see
   * the options. rtol 5e-7 is 4 ulp (SwiftShader needs at most 3). Where params - update cancels, the
   * absolute error is a few ulp of the update, about lr: measured up to 8.7e-7 * lr, and 2.6e-6 at the
   * largest allowed lr (10), hence atol 4e-6. That is loose for m and v: test/optim.test.ts checks each
   * state tensor with its own, lr-aware tolerance (params atol 2e-6 * lr, m 1e-9, v 1e-14).
   */
  tolerance: () => ({ atol: 4e-6, rtol: 5e-7 }),
};

// --------------------------------------------------------------------------------------------
// global_norm_sumsq

const NORM_INPUTS = ['a', 'b', 'c', 'd'] as const;
const NORM_DIMS = ['A', 'B', 'C', 'D'] as const;

const globalNormEntry: KernelEntry = {
  name: 'global_norm_sumsq',
  summary: 'out = sum of squares over several tensors (the squared global gradient norm); deterministic',
  inputs: [
    { name: 'a', dtype: 'f32', shape: '[A] (any shape)' },
    { name: 'b', dtype: 'f32', shape: '[B] (any shape)', optional: true },
    { name: 'c', dtype: 'f32', shape: '[C] (any shape)', optional: true },
    { name: 'd', dtype: 'f32', shape: '[D] (any shape)', optional: true },
  ],
  options: [],
  outputs: [{ name: 'out', dtype: 'f32', shape: '[1]' }],
  gpu(rt, inputs) {
    const tensors = NORM_INPUTS.flatMap((n) => (inputs[n] ? [inputs[n]] : []));
    const out = rt.empty([1], 'f32', 'global_norm_sumsq.out');
    try {
      global_norm_sumsq(rt, out, tensors);
    } catch (e) {
      out.destroy();
      throw e;
    }
    return { out };
  },
  cpu(inputs) {
    const out = f32([1]);
    ref.global_norm_sumsq(
      out.data as Float32Array,
      NORM_INPUTS.flatMap((n) => (inputs[n] ? [inputs[n].data as Float32Array] : [])),
    );
    return { out };
  },
  sample(rng, dims) {
    const out: Record<string, HostTensor> = {};
    NORM_DIMS.forEach((d, i) => {
      if (dims[d]) out[NORM_INPUTS[i]] = f32([dims[d]], randomArray(rng, dims[d], { std: 0.01 * (i + 1) }));
    });
    return out;
  },
  checkDims: { A: 1000, B: 17, C: 3 },
  cases: [
    { dims: { A: 1 } },
    { dims: { A: 3, B: 17, C: 63 } },
    { dims: { A: 129, B: 257, C: 1, D: 1025 } },
    { dims: { A: 100003, B: 3 } },
    { dims: { A: 17, B: 1048577, C: 513, D: 1 } },
  ],
  // All terms are >= 0, so the f32 sum's relative error is at most about (the additions along one
  // path: 64 per pass, 4 passes for a million elements) ulp, 1.5e-5 in the worst case; typical
  // rounding is far smaller (measured: about 1e-7), and 2e-6 holds on every case here.
  tolerance: () => ({ atol: 0, rtol: 2e-6 }),
};

// --------------------------------------------------------------------------------------------
// nonfinite_count

/** Finite values that must count 0: the largest f32, 3e38, the smallest normal, denormals, -0. */
const FINITE_EXTREMES = [3.4028234663852886e38, -3e38, 3e38, 1.1754943508222875e-38, 1e-40, -1.401298464324817e-45, -0];
const NONFINITE = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

/**
 * x [N]: normal values, about 1 in 16 replaced by a finite extreme, then exactly min(K, N) distinct
 * positions set to NaN, +Inf, -Inf in turn (K defaults to 1). The count is then min(K, N).
 */
function nonfiniteSample(rng: Rng, { N, K = 1 }: Dims): Record<string, HostTensor> {
  const x = randomArray(rng, N);
  for (let i = 0; i < N; i++) if (rng.next() < 1 / 16) x[i] = FINITE_EXTREMES[rng.int(FINITE_EXTREMES.length)];
  // Partial Fisher-Yates: the first min(K, N) entries of idx are distinct random positions.
  const idx = new Uint32Array(N);
  for (let i = 0; i < N; i++) idx[i] = i;
  const k = Math.min(K, N);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(N - i);
    [idx[i], idx[j]] = [idx[j], idx[i]];
    x[idx[i]] = NONFINITE[i % NONFINITE.length];
  }
  return { x: f32([N], x) };
}

const nonfiniteEntry: KernelEntry = {
  name: 'nonfinite_count',
  summary: 'count (u32) = number of NaN/+Inf/-Inf values of x, exact (bit test on the exponent)',
  inputs: [{ name: 'x', dtype: 'f32', shape: '[N] (any shape)' }],
  options: [],
  outputs: [{ name: 'count', dtype: 'u32', shape: '[1]' }],
  gpu(rt: Runtime, { x }) {
    const count = rt.empty([1], 'u32', 'nonfinite_count.count');
    try {
      nonfinite_count(rt, count, x);
    } catch (e) {
      count.destroy();
      throw e;
    }
    return { count };
  },
  cpu({ x }) {
    const count: HostTensor = { shape: [1], data: new Uint32Array(1) };
    ref.nonfinite_count(count.data as Uint32Array, x.data as Float32Array, x.data.length);
    return { count };
  },
  sample: nonfiniteSample,
  checkDims: { N: 1000, K: 3 },
  cases: [
    { dims: { N: 1, K: 0 } },
    { dims: { N: 1, K: 1 } },
    { dims: { N: 3, K: 3 } },
    { dims: { N: 17, K: 2 } },
    { dims: { N: 63, K: 0 } },
    { dims: { N: 129, K: 5 } },
    { dims: { N: 257, K: 257 } },
    { dims: { N: 1025, K: 4 } },
    { dims: { N: 100003, K: 0 } },
    { dims: { N: 1048577, K: 1000 } },
  ] satisfies CheckCase[],
  tolerance: () => ({ atol: 0, rtol: 0 }),
};

export const optimKernels: KernelEntry[] = [adamwEntry, globalNormEntry, nonfiniteEntry];
