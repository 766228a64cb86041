/**
 * Every kernel by name, with its inputs, options and outputs, a GPU runner, its CPU reference, and
 * the awkward shapes it is checked on. The command line (`kernel --list/--check`), the tests and the
 * benchmark all read this one table.
 */
import { InputError, ShapeError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { type Shape, type Tensor, shapeString } from '../gpu/tensor.ts';
import * as ref from '../reference/kernels.ts';
import { type Rng, randomArray } from '../reference/random.ts';
import { cross_entropy_backward, cross_entropy_forward } from './cross_entropy.ts';
import { attentionKernels } from './attention.entries.ts';
import { add, copy, gelu_backward, gelu_forward, scale, threshold } from './elementwise.ts';
import { embeddingKernels } from './embedding.entries.ts';
import { layernorm_backward, layernorm_forward } from './layernorm.ts';
import { matmul } from './matmul.ts';
import { optimKernels } from './optim.entries.ts';
import { policyKernels } from './policy.entries.ts';
import { column_sum, mean, sum, sumsq } from './reduce.ts';
import { regressionKernels } from './regression.entries.ts';
import { samplingKernels } from './sampling.entries.ts';
import { softmax_backward, softmax_forward } from './softmax.ts';
import {
  aboveDiagonal,
  arr,
  bool,
  type CheckCase,
  checkIndices,
  type Dims,
  f32,
  finite,
  type HostTensor,
  type KernelEntry,
  normal,
  num,
  last,
  type Options,
  type OptionDoc,
  outputs,
  type TensorDoc,
} from './entry.ts';

export type { CheckCase, Dims, HostTensor, KernelEntry, OptionDoc, Options, OptionValue, TensorDoc } from './entry.ts';

// --------------------------------------------------------------------------------------------
// matmul

function matmulShapes(inputs: Record<string, { shape: Shape }>, opts: Options) {
  const a = inputs.a.shape;
  const b = inputs.b.shape;
  const Bt = a.length === 3 ? a[0] : 1;
  const M = bool(opts.transA) ? last(a) : a[a.length - 2];
  const K = bool(opts.transA) ? a[a.length - 2] : last(a);
  const N = bool(opts.transB) ? b[b.length - 2] : last(b);
  return { Bt, M, N, K, c: a.length === 3 ? [Bt, M, N] : [M, N] };
}

/** lowerA promises zeros above each stored matrix's diagonal: refuse inputs that break it. */
function checkLowerTriangular(a: HostTensor): void {
  const [rows, cols] = a.shape.slice(-2);
  if (rows !== cols) throw new InputError(`input a: lowerA needs square matrices, got [${a.shape.join(', ')}]`);
  const bad = aboveDiagonal(a, rows);
  if (bad)
    throw new InputError(`input a: lowerA needs zeros above the diagonal, but a[.., ${bad.row}, ${bad.col}] = ${bad.value}`);
}

const matmulEntry: KernelEntry = {
  name: 'matmul',
  summary: 'C = op(A)·op(B) (+ bias) (+ C with accumulate), batched; any sizes',
  inputs: [
    { name: 'a', dtype: 'f32', shape: '[M, K] or [B, M, K] ([.., K, M] with transA)' },
    { name: 'b', dtype: 'f32', shape: '[K, N] or [B, K, N] ([.., N, K] with transB); a 2-D b is shared by all batches' },
    { name: 'bias', dtype: 'f32', shape: '[N]', optional: true, doc: 'added to every row' },
    { name: 'c', dtype: 'f32', shape: 'as the output', optional: true, doc: 'initial C, required with accumulate' },
  ],
  options: [
    { name: 'transA', type: 'boolean', default: false, doc: 'a is stored transposed' },
    { name: 'transB', type: 'boolean', default: false, doc: 'b is stored transposed' },
    { name: 'accumulate', type: 'boolean', default: false, doc: 'add the product to the input c' },
    {
      name: 'lowerA',
      type: 'boolean',
      default: false,
      doc: 'a (square per batch) is lower triangular: zero above its diagonal (causal attention); may skip that part',
    },
    {
      name: 'lowerC',
      type: 'boolean',
      default: false,
      doc: 'c is square and only its lower triangle is wanted: entries above the diagonal come out 0',
    },
  ],
  outputs: [{ name: 'c', dtype: 'f32', shape: '[M, N] or [B, M, N]' }],
  gpu(rt, inputs, opts, host) {
    if (inputs.a.shape.length < 2 || inputs.b.shape.length < 2) {
      throw new ShapeError(
        `matmul: a and b must have rank 2 or 3, got a ${shapeString(inputs.a.shape)}, b ${shapeString(inputs.b.shape)}`,
      );
    }
    const { c: cShape } = matmulShapes(inputs, opts);
    const accumulate = bool(opts.accumulate);
    if (accumulate && !inputs.c) throw new ShapeError('matmul: option accumulate needs an input c (the initial values)');
    if (!accumulate && inputs.c) throw new ShapeError('matmul: input c is only used with the option accumulate: true');
    if (bool(opts.lowerA) && bool(opts.lowerC)) throw new ShapeError('matmul: options lowerA and lowerC cannot be combined');
    if (bool(opts.lowerA)) checkLowerTriangular(host.a);
    const lower = bool(opts.lowerA) ? 'a' : bool(opts.lowerC) ? 'c' : undefined;
    const c = inputs.c ?? rt.empty(cShape, 'f32', 'matmul.c');
    matmul(rt, c, inputs.a, inputs.b, {
      bias: inputs.bias,
      transA: bool(opts.transA),
      transB: bool(opts.transB),
      accumulate,
      lower,
    });
    return { c };
  },
  cpu(inputs, opts) {
    const { Bt, M, N, K, c: shape } = matmulShapes(inputs, opts);
    const c = f32(shape, inputs.c ? Float32Array.from(inputs.c.data) : undefined);
    ref.matmul(c.data as Float32Array, arr(inputs.a)!, arr(inputs.b)!, arr(inputs.bias), Bt, M, N, K, {
      transA: bool(opts.transA),
      transB: bool(opts.transB),
      accumulate: bool(opts.accumulate),
      batchB: inputs.b.shape.length === 3,
      lowerC: bool(opts.lowerC),
    });
    return { c };
  },
  sample(rng, { B = 1, M, N, K }, opts) {
    const batch = B > 1 ? [B] : [];
    const out: Record<string, HostTensor> = {
      a: normal(rng, [...batch, ...(bool(opts.transA) ? [K, M] : [M, K])]),
      b: normal(rng, [...batch, ...(bool(opts.transB) ? [N, K] : [K, N])]),
      bias: normal(rng, [N]),
    };
    if (bool(opts.accumulate)) out.c = normal(rng, [...batch, M, N]);
    if (bool(opts.lowerA)) {
      // Zero above the diagonal of each stored matrix (square).
      const [rows, cols] = out.a.shape.slice(-2);
      const data = out.a.data as Float32Array;
      for (let i = 0; i < data.length; i++) if (i % cols > Math.floor(i / cols) % rows) data[i] = 0;
    }
    if (bool(opts.lowerA) || bool(opts.lowerC)) delete out.bias;
    return out;
  },
  checkDims: { M: 67, N: 45, K: 129 },
  cases: [
    { dims: { M: 1, N: 1, K: 1 } },
    { dims: { M: 3, N: 17, K: 63 } },
    { dims: { M: 129, N: 3, K: 257 }, options: { transA: true } },
    { dims: { M: 63, N: 129, K: 17 }, options: { transB: true } },
    { dims: { M: 17, N: 63, K: 3 }, options: { transA: true, transB: true } },
    { dims: { B: 3, M: 17, N: 63, K: 129 }, options: { accumulate: true } },
    { dims: { M: 513, N: 520, K: 512 } },
    { dims: { M: 257, N: 512, K: 515 }, options: { transB: true } },
    { dims: { M: 512, N: 129, K: 600 }, options: { transA: true } },
    // Causal attention's triangles: scores (lowerC), probabilities times values (lowerA), and the
    // backward's transposed products; sizes off the 8-row and 4-column tiles too.
    { dims: { B: 4, M: 64, N: 64, K: 16 }, options: { transB: true, lowerC: true } },
    { dims: { B: 3, M: 37, N: 37, K: 5 }, options: { transB: true, lowerC: true } },
    { dims: { M: 70, N: 70, K: 9 }, options: { lowerC: true } },
    { dims: { B: 4, M: 64, N: 16, K: 64 }, options: { lowerA: true } },
    { dims: { B: 2, M: 37, N: 7, K: 37 }, options: { lowerA: true } },
    { dims: { B: 4, M: 64, N: 16, K: 64 }, options: { transA: true, lowerA: true } },
    { dims: { B: 2, M: 45, N: 13, K: 45 }, options: { transA: true, lowerA: true } },
  ],
  tolerance: ({ K }) => ({ atol: 2e-5 * Math.sqrt(K) * 8, rtol: 1e-4 }),
};

// --------------------------------------------------------------------------------------------
// softmax

const softmaxForwardEntry: KernelEntry = {
  name: 'softmax',
  summary: 'y = softmax(scale * x) over the last axis; causal masks j > i + (N - Q) for query row i',
  inputs: [{ name: 'x', dtype: 'f32', shape: '[..., Q, N] (any rank >= 1)' }],
  options: [
    { name: 'scale', type: 'number', default: 1, doc: 'multiplies x first', check: finite('scale') },
    { name: 'causal', type: 'boolean', default: false, doc: 'mask future positions (needs N >= Q)' },
    {
      name: 'workgroup',
      type: 'boolean',
      default: false,
      doc: 'one workgroup per row with a reduction (softmax_forward_wg) instead of one invocation per row',
    },
  ],
  outputs: [{ name: 'y', dtype: 'f32', shape: 'as x' }],
  gpu(rt, { x }, opts) {
    const { y } = outputs(rt, { y: x.shape }, 'softmax');
    const variant = bool(opts.workgroup) ? 'workgroup' : 'row';
    softmax_forward(rt, y, x, { scale: num(opts.scale, 1), causal: bool(opts.causal), variant });
    return { y };
  },
  cpu({ x }, opts) {
    const N = last(x.shape);
    const R = x.data.length / N;
    const y = f32(x.shape);
    const Q = x.shape.length >= 2 ? x.shape[x.shape.length - 2] : 1;
    ref.softmax_forward(y.data as Float32Array, x.data as Float32Array, R, N, {
      scale: num(opts.scale, 1),
      causal: bool(opts.causal),
      Q,
    });
    return { y };
  },
  sample: (rng, { R, Q = 1, N }) => ({ x: normal(rng, Q > 1 ? [R, Q, N] : [R, N], 3) }),
  checkDims: { R: 37, N: 129 },
  cases: [
    { dims: { R: 1, N: 1 } },
    { dims: { R: 3, N: 17 }, options: { scale: 0.25 } },
    { dims: { R: 63, N: 257 } },
    { dims: { R: 2, Q: 17, N: 17 }, options: { causal: true, scale: 0.5 } },
    { dims: { R: 3, Q: 7, N: 129 }, options: { causal: true } },
    { dims: { R: 600, N: 513 } },
    // N a multiple of 4: four columns per load, masked counts that are not.
    { dims: { R: 5, N: 4 } },
    { dims: { R: 3, Q: 5, N: 8 }, options: { causal: true } },
    { dims: { R: 4, Q: 64, N: 64 }, options: { causal: true, scale: 0.25 } },
    { dims: { R: 7, N: 520 }, options: { scale: 3 } },
    // Found by the fuzzer: one row of 65536 (the f32 running sum's error grows like sqrt(N)).
    { dims: { R: 1, N: 65536 }, options: { causal: true, scale: 0.25 } },
    // One workgroup per row: rows shorter than the workgroup (idle lanes), causal, long rows.
    { dims: { R: 5, N: 3 }, options: { workgroup: true } },
    { dims: { R: 2, Q: 17, N: 17 }, options: { causal: true, scale: 0.5, workgroup: true } },
    { dims: { R: 3, Q: 7, N: 129 }, options: { causal: true, workgroup: true } },
    { dims: { R: 600, N: 513 }, options: { workgroup: true } },
    { dims: { R: 1, N: 65536 }, options: { causal: true, scale: 0.25, workgroup: true } },
  ],
  /**
   * The row's sum is taken by blocks of 256 (row variant) or over 64 lanes (workgroup variant), so
   * small terms are not lost against a large running sum: measured at N = 65521 with an outlier
   * logit, 1.1e-6 (row) and 4.6e-6 (workgroup) relative. Before the blocks, one running sum over
   * the row lost them all downwards: 2.7e-4 there, which fails this bound.
   */
  tolerance: () => ({ atol: 1e-6, rtol: 1e-4 }),
};

const softmaxBackwardEntry: KernelEntry = {
  name: 'softmax_backward',
  summary: 'dx = scale * y * (dy - sum(dy * y)) per row: the gradient of softmax',
  inputs: [
    { name: 'dy', dtype: 'f32', shape: '[..., N]' },
    { name: 'y', dtype: 'f32', shape: 'as dy (the softmax output)' },
  ],
  options: [{ name: 'scale', type: 'number', default: 1, doc: 'the forward scale', check: finite('scale') }],
  outputs: [{ name: 'dx', dtype: 'f32', shape: 'as y' }],
  gpu(rt, { dy, y }, opts) {
    const { dx } = outputs(rt, { dx: y.shape }, 'softmax_backward');
    softmax_backward(rt, dx, dy, y, { scale: num(opts.scale, 1) });
    return { dx };
  },
  cpu({ dy, y }, opts) {
    const N = last(y.shape);
    const dx = f32(y.shape);
    ref.softmax_backward(dx.data as Float32Array, dy.data as Float32Array, y.data as Float32Array, y.data.length / N, N, {
      scale: num(opts.scale, 1),
    });
    return { dx };
  },
  sample(rng, { R, N }) {
    const x = normal(rng, [R, N], 2);
    const y = f32([R, N]);
    ref.softmax_forward(y.data as Float32Array, x.data as Float32Array, R, N);
    return { dy: normal(rng, [R, N]), y };
  },
  checkDims: { R: 37, N: 129 },
  cases: [
    { dims: { R: 1, N: 1 } },
    { dims: { R: 3, N: 17 }, options: { scale: 0.125 } },
    { dims: { R: 129, N: 63 } },
    { dims: { R: 520, N: 513 } },
    { dims: { R: 7, N: 4 } },
    { dims: { R: 256, N: 64 }, options: { scale: 0.25 } },
    { dims: { R: 3, N: 1024 } },
  ],
  tolerance: () => ({ atol: 5e-6, rtol: 1e-4 }),
};

// --------------------------------------------------------------------------------------------
// cross-entropy

function ceSizes(logits: { shape: Shape }): { N: number; V: number } {
  if (logits.shape.length !== 2) throw new ShapeError(`cross-entropy: logits must be [N, V], got ${shapeString(logits.shape)}`);
  return { N: logits.shape[0], V: logits.shape[1] };
}

function ceSample(rng: Rng, { N, V }: Dims): Record<string, HostTensor> {
  const targets = new Uint32Array(N);
  const mask = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    targets[i] = rng.int(V);
    mask[i] = rng.next() < 0.2 ? 0 : rng.next() < 0.1 ? 0.5 : 1;
  }
  return { logits: normal(rng, [N, V], 4), targets: { shape: [N], data: targets }, mask: f32([N], mask) };
}

const ceInputs: TensorDoc[] = [
  { name: 'logits', dtype: 'f32', shape: '[N, V]' },
  { name: 'targets', dtype: 'u32', shape: '[N], integers in [0, V)' },
  { name: 'mask', dtype: 'f32', shape: '[N]', optional: true, doc: 'per-position weight (0 = ignore); default all 1' },
];

/** Both cross-entropy entries: targets must index into V. */
export function checkTargets(targets: HostTensor, V: number): void {
  checkIndices('targets', targets, V, "V = logits' last dimension");
}

const crossEntropyEntry: KernelEntry = {
  name: 'cross_entropy',
  summary: 'fused log-softmax + cross-entropy: losses[n] = mask[n] * (logsumexp(logits[n]) - logits[n, t]); loss = mean',
  inputs: ceInputs,
  options: [],
  outputs: [
    { name: 'losses', dtype: 'f32', shape: '[N]' },
    { name: 'loss', dtype: 'f32', shape: '[1]', doc: 'sum(losses) / sum(mask) (0 when the mask is all zero)' },
  ],
  gpu(rt, { logits, targets, mask }, _opts, host) {
    const { N } = ceSizes(logits);
    const { losses, loss } = outputs(rt, { losses: [N], loss: [1] }, 'cross_entropy');
    cross_entropy_forward(rt, losses, logits, targets, mask);
    sum(rt, loss, losses, { scale: ceScale(host.mask, N, {}) });
    return { losses, loss };
  },
  cpu({ logits, targets, mask }) {
    const { N, V } = ceSizes(logits);
    const losses = f32([N]);
    ref.cross_entropy_forward(
      losses.data as Float32Array,
      logits.data as Float32Array,
      targets.data as Uint32Array,
      arr(mask),
      N,
      V,
    );
    const loss = f32([1]);
    ref.sum(loss.data as Float32Array, losses.data as Float32Array, N);
    (loss.data as Float32Array)[0] *= ceScale(mask, N, {});
    return { losses, loss };
  },
  sample: ceSample,
  checkDims: { N: 37, V: 129 },
  cases: [{ dims: { N: 1, V: 1 } }, { dims: { N: 3, V: 17 } }, { dims: { N: 129, V: 63 } }, { dims: { N: 513, V: 600 } }],
  tolerance: ({ N }) => ({ atol: 1e-5 * Math.sqrt(N), rtol: 1e-4 }),
};

const crossEntropyBackwardEntry: KernelEntry = {
  name: 'cross_entropy_backward',
  summary: 'dlogits = scale * mask[n] * (softmax(logits[n]) - onehot(t)); scale defaults to 1 / sum(mask)',
  inputs: ceInputs,
  options: [
    {
      name: 'scale',
      type: 'number',
      default: 0,
      doc: 'gradient scale; 0 means 1 / sum(mask), the mean over unmasked positions',
      check: finite('scale'),
    },
  ],
  outputs: [{ name: 'dlogits', dtype: 'f32', shape: '[N, V]' }],
  gpu(rt, { logits, targets, mask }, opts, host) {
    const { N, V } = ceSizes(logits);
    const { dlogits } = outputs(rt, { dlogits: [N, V] }, 'cross_entropy_backward');
    cross_entropy_backward(rt, dlogits, logits, targets, mask, ceScale(host.mask, N, opts));
    return { dlogits };
  },
  cpu({ logits, targets, mask }, opts) {
    const { N, V } = ceSizes(logits);
    const dlogits = f32([N, V]);
    ref.cross_entropy_backward(
      dlogits.data as Float32Array,
      logits.data as Float32Array,
      targets.data as Uint32Array,
      arr(mask),
      N,
      V,
      ceScale(mask, N, opts),
    );
    return { dlogits };
  },
  sample: ceSample,
  checkDims: { N: 37, V: 129 },
  cases: [{ dims: { N: 1, V: 1 } }, { dims: { N: 3, V: 17 } }, { dims: { N: 129, V: 63 } }, { dims: { N: 513, V: 600 } }],
  tolerance: () => ({ atol: 1e-6, rtol: 1e-4 }),
};

/** The option scale, or 1 / sum(mask) (1 / N without a mask; 0 for an all-zero mask). */
function ceScale(mask: HostTensor | undefined, N: number, opts: Options): number {
  const s = num(opts.scale, 0);
  if (s !== 0) return s;
  let total = 0;
  if (mask) for (const v of mask.data) total += v;
  else total = N;
  return total > 0 ? 1 / total : 0;
}

// --------------------------------------------------------------------------------------------
// layernorm

function lnSizes(x: { shape: Shape }): { N: number; C: number } {
  if (x.shape.length !== 2) throw new ShapeError(`layernorm: x must be [N, C], got ${shapeString(x.shape)}`);
  return { N: x.shape[0], C: x.shape[1] };
}

function rowVariance(row: Float32Array): number {
  let mean = 0;
  for (const v of row) mean += v / row.length;
  let ss = 0;
  for (const v of row) ss += (v - mean) ** 2;
  return ss / row.length;
}

const lnSample = (rng: Rng, { N, C }: Dims): Record<string, HostTensor> => {
  const x = normal(rng, [N, C], 2);
  const xs = x.data as Float32Array;
  // Rows of nearly equal values have a tiny variance, and rstd (up to 1 / sqrt(eps)) magnifies the
  // rounding of x - mean past any fixed tolerance (the fuzzer found 1.2e-4 at C = 2): redraw them.
  for (let n = 0; n < N; n++) {
    const row = xs.subarray(n * C, (n + 1) * C);
    while (C > 1 && rowVariance(row) < 0.01) row.set(randomArray(rng, C, { std: 2 }));
  }
  // A per-row offset, so the mean subtraction is exercised.
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) xs[n * C + c] += (n % 7) - 3;
  const weight = f32([C], randomArray(rng, C, { mean: 1, std: 0.3 }));
  return { x, weight, bias: normal(rng, [C], 0.5), dy: normal(rng, [N, C]) };
};

const lnCases: CheckCase[] = [
  { dims: { N: 1, C: 1 } },
  { dims: { N: 3, C: 17 } },
  { dims: { N: 129, C: 63 } },
  { dims: { N: 257, C: 3 } },
  { dims: { N: 513, C: 600 } },
  { dims: { N: 5, C: 4 } },
  { dims: { N: 512, C: 64 } },
  // Found by the fuzzer: a long row (its f32 mean), and many rows of two values (nearly equal pairs
  // have a tiny variance, so rstd magnifies the rounding of x - mean).
  { dims: { N: 1, C: 65536 } },
  { dims: { N: 8191, C: 2 } },
];

const layernormEntry: KernelEntry = {
  name: 'layernorm',
  summary: 'y = (x - mean) * rstd * weight + bias over the last axis; also mean and rstd per row',
  inputs: [
    { name: 'x', dtype: 'f32', shape: '[N, C]' },
    { name: 'weight', dtype: 'f32', shape: '[C]' },
    { name: 'bias', dtype: 'f32', shape: '[C]' },
  ],
  options: [
    {
      name: 'eps',
      type: 'number',
      default: 1e-5,
      doc: 'added to the variance',
      check: (v) => (v > 0 && Number.isFinite(v) ? undefined : 'eps must be > 0'),
    },
  ],
  outputs: [
    { name: 'y', dtype: 'f32', shape: '[N, C]' },
    { name: 'mean', dtype: 'f32', shape: '[N]' },
    { name: 'rstd', dtype: 'f32', shape: '[N]' },
  ],
  gpu(rt, { x, weight, bias }, opts) {
    const { N, C } = lnSizes(x);
    const o = outputs(rt, { y: [N, C], mean: [N], rstd: [N] }, 'layernorm');
    layernorm_forward(rt, o.y, o.mean, o.rstd, x, weight, bias, { eps: num(opts.eps, 1e-5) });
    return o;
  },
  cpu({ x, weight, bias }, opts) {
    const { N, C } = lnSizes(x);
    const y = f32([N, C]);
    const mu = f32([N]);
    const rs = f32([N]);
    ref.layernorm_forward(
      y.data as Float32Array,
      mu.data as Float32Array,
      rs.data as Float32Array,
      x.data as Float32Array,
      weight.data as Float32Array,
      bias.data as Float32Array,
      N,
      C,
      num(opts.eps, 1e-5),
    );
    return { y, mean: mu, rstd: rs };
  },
  sample: (rng, dims) => {
    const { x, weight, bias } = lnSample(rng, dims);
    return { x, weight, bias };
  },
  checkDims: { N: 37, C: 129 },
  cases: lnCases,
  /**
   * y's absolute error is about the rounding of x - mean times rstd: ulp(|x|) * rstd, with rstd <= 10
   * here (lnSample keeps the variance >= 0.01; measured 4.1e-5 at C = 2 before that); the f32 mean
   * of a long row adds about sqrt(C) ulp (measured 1.6e-5 at C = 65536).
   */
  tolerance: ({ C }) => ({ atol: 1e-4 + 4e-7 * Math.sqrt(C), rtol: 1e-4 }),
};

const layernormBackwardEntry: KernelEntry = {
  name: 'layernorm_backward',
  summary: 'dx, dweight, dbias of layernorm from dy and the forward inputs (mean and rstd recomputed by the caller)',
  inputs: [
    { name: 'dy', dtype: 'f32', shape: '[N, C]' },
    { name: 'x', dtype: 'f32', shape: '[N, C]' },
    { name: 'weight', dtype: 'f32', shape: '[C]' },
    { name: 'mean', dtype: 'f32', shape: '[N] (from layernorm)' },
    { name: 'rstd', dtype: 'f32', shape: '[N] (from layernorm)' },
    {
      name: 'residual',
      dtype: 'f32',
      shape: '[N, C]',
      optional: true,
      doc: "added to dx (a residual connection's other gradient, summed in the same pass)",
    },
  ],
  options: [],
  outputs: [
    { name: 'dx', dtype: 'f32', shape: '[N, C]' },
    { name: 'dweight', dtype: 'f32', shape: '[C]' },
    { name: 'dbias', dtype: 'f32', shape: '[C]' },
  ],
  gpu(rt, { dy, x, weight, mean: mu, rstd, residual }) {
    const { N, C } = lnSizes(x);
    const o = outputs(rt, { dx: [N, C], dweight: [C], dbias: [C] }, 'layernorm_backward');
    layernorm_backward(rt, o.dx, o.dweight, o.dbias, dy, x, weight, mu, rstd, { residual });
    return o;
  },
  cpu({ dy, x, weight, mean: mu, rstd, residual }) {
    const { N, C } = lnSizes(x);
    const dx = f32([N, C]);
    const dweight = f32([C]);
    const dbias = f32([C]);
    ref.layernorm_backward(
      dx.data as Float32Array,
      dweight.data as Float32Array,
      dbias.data as Float32Array,
      dy.data as Float32Array,
      x.data as Float32Array,
      weight.data as Float32Array,
      mu.data as Float32Array,
      rstd.data as Float32Array,
      N,
      C,
    );
    if (residual) {
      const d = dx.data as Float32Array;
      ref.add(d, residual.data as Float32Array, d, d.length);
    }
    return { dx, dweight, dbias };
  },
  // R = 1: with a residual.
  sample(rng, dims) {
    const { x, weight, bias, dy } = lnSample(rng, dims);
    const { mean: mu, rstd } = layernormEntry.cpu({ x, weight, bias }, {});
    const inputs: Record<string, HostTensor> = { dy, x, weight, mean: mu, rstd };
    if (dims.R) inputs.residual = normal(rng, [dims.N, dims.C]);
    return inputs;
  },
  checkDims: { N: 37, C: 129 },
  cases: [...lnCases, { dims: { N: 37, C: 129, R: 1 } }, { dims: { N: 65, C: 64, R: 1 } }, { dims: { N: 1, C: 1, R: 1 } }],
  tolerance: ({ N }) => ({ atol: 2e-5 * Math.sqrt(N), rtol: 1e-4 }),
};

// --------------------------------------------------------------------------------------------
// elementwise and reductions

/** An entry for a kernel whose inputs and output all have the same element count. */
function elementwiseEntry(
  name: string,
  summary: string,
  inputNames: string[],
  outName: string,
  gpuFn: (rt: Runtime, out: Tensor, ins: Tensor[], opts: Options) => void,
  cpuFn: (out: Float32Array, ins: Float32Array[], n: number, opts: Options) => void,
  options: OptionDoc[] = [],
  /** Options every test case runs with (so a kernel cannot pass by ignoring them). */
  caseOptions?: Options,
): KernelEntry {
  const elementwiseCases: CheckCase[] = [1, 3, 4, 17, 63, 64, 129, 257, 100003, 100004].map((N) => ({
    dims: { N },
    options: caseOptions,
  }));
  return {
    name,
    summary,
    inputs: inputNames.map((n) => ({ name: n, dtype: 'f32' as const, shape: 'any shape, N elements' })),
    options,
    outputs: [{ name: outName, dtype: 'f32', shape: `as ${inputNames[0]}` }],
    gpu(rt, inputs, opts) {
      const ins = inputNames.map((n) => inputs[n]);
      const out = rt.empty(ins[0].shape, 'f32', `${name}.${outName}`);
      gpuFn(rt, out, ins, opts);
      return { [outName]: out };
    },
    cpu(inputs, opts) {
      const ins = inputNames.map((n) => inputs[n]);
      for (const [i, t] of ins.entries()) {
        if (t.data.length !== ins[0].data.length) {
          throw new ShapeError(
            `${name}: ${inputNames[i]} has ${t.data.length} elements but ${inputNames[0]} has ${ins[0].data.length}`,
          );
        }
      }
      const out = f32([...ins[0].shape]);
      cpuFn(
        out.data as Float32Array,
        ins.map((t) => t.data as Float32Array),
        ins[0].data.length,
        opts,
      );
      return { [outName]: out };
    },
    sample: (rng, { N }) => Object.fromEntries(inputNames.map((n) => [n, normal(rng, [N], 2)])),
    checkDims: { N: 1000 },
    cases: elementwiseCases,
    tolerance: () => ({ atol: 1e-6, rtol: 1e-5 }),
  };
}

function reductionEntry(
  name: string,
  summary: string,
  gpuFn: (rt: Runtime, out: Tensor, x: Tensor) => void,
  cpuFn: (out: Float32Array, x: Float32Array, n: number) => void,
): KernelEntry {
  return {
    ...elementwiseEntry(
      name,
      summary,
      ['x'],
      'out',
      () => {},
      () => {},
    ),
    outputs: [{ name: 'out', dtype: 'f32', shape: '[1]' }],
    gpu(rt, { x }) {
      const out = rt.empty([1], 'f32', `${name}.out`);
      gpuFn(rt, out, x);
      return { out };
    },
    cpu({ x }) {
      const out = f32([1]);
      cpuFn(out.data as Float32Array, x.data as Float32Array, x.data.length);
      return { out };
    },
    cases: [{ dims: { N: 1 } }, { dims: { N: 3 } }, { dims: { N: 1023 } }, { dims: { N: 1025 } }, { dims: { N: 1048577 } }],
    tolerance: ({ N }) => ({ atol: 1e-6 * Math.sqrt(N), rtol: 1e-5 }),
  };
}

/**
 * The GPU's tanh is less exact than f64's (about 3e-7 relative on SwiftShader); gelu' multiplies
 * that by dy, whose outliers reach |dy| ~ 100 here, so the absolute bound is 5e-5.
 */
const GELU_TOLERANCE = () => ({ atol: 5e-5, rtol: 1e-4 });

const geluBackwardEntry: KernelEntry = (() => {
  const e = elementwiseEntry(
    'gelu_backward',
    "dx = dy * gelu'(x)",
    ['dy', 'x'],
    'dx',
    (rt, dx, [dy, x]) => gelu_backward(rt, dx, dy, x),
    (dx, [dy, x], n) => ref.gelu_backward(dx, dy, x, n),
  );
  // Found by the fuzzer: at x below about -4 the tanh form cancelled to 0 (see gelu_backward.wgsl).
  return { ...e, cases: [...e.cases, { dims: { N: 16384 } }], tolerance: GELU_TOLERANCE };
})();

const columnSumEntry: KernelEntry = {
  name: 'column_sum',
  summary: 'out[n] = sum over rows of x[r, n], in row order (bias gradients; deterministic)',
  inputs: [{ name: 'x', dtype: 'f32', shape: '[R, N]' }],
  options: [],
  outputs: [{ name: 'out', dtype: 'f32', shape: '[N]' }],
  gpu(rt, { x }) {
    if (x.shape.length !== 2) throw new ShapeError(`column_sum: x must have rank 2, got ${shapeString(x.shape)}`);
    const { out } = outputs(rt, { out: [x.shape[1]] }, 'column_sum');
    column_sum(rt, out, x);
    return { out };
  },
  cpu({ x }) {
    const [R, N] = x.shape;
    const out = f32([N]);
    ref.column_sum(out.data as Float32Array, x.data as Float32Array, R, N);
    return { out };
  },
  sample: (rng, { R, N }) => ({ x: normal(rng, [R, N], 2) }),
  checkDims: { R: 37, N: 129 },
  cases: [
    { dims: { R: 1, N: 1 } },
    { dims: { R: 3, N: 17 } },
    { dims: { R: 512, N: 64 } },
    { dims: { R: 257, N: 63 } },
    { dims: { R: 1, N: 1024 } },
    { dims: { R: 4099, N: 5 } },
  ],
  // f32 sums of R terms in row order against f64, the additions of matmul's ones[1, R] · x (which
  // these replace), so matmul's bound with K = R (the fuzzer found |error| 4.9e-4 at R = 4095 with
  // the samples' outliers: each addition rounds a running sum that grows like sqrt(R)).
  tolerance: ({ R }) => ({ atol: 2e-5 * Math.sqrt(R) * 8, rtol: 1e-4 }),
};

export const kernels: KernelEntry[] = [
  matmulEntry,
  softmaxForwardEntry,
  softmaxBackwardEntry,
  crossEntropyEntry,
  crossEntropyBackwardEntry,
  layernormEntry,
  layernormBackwardEntry,
  {
    ...elementwiseEntry(
      'gelu',
      'y = gelu(x), tanh approximation',
      ['x'],
      'y',
      (rt, y, [x]) => gelu_forward(rt, y, x),
      (y, [x], n) => ref.gelu_forward(y, x, n),
    ),
    tolerance: GELU_TOLERANCE,
  },
  geluBackwardEntry,
  elementwiseEntry(
    'add',
    'c = a + b',
    ['a', 'b'],
    'c',
    (rt, c, [a, b]) => add(rt, c, a, b),
    (c, [a, b], n) => ref.add(c, a, b, n),
  ),
  elementwiseEntry(
    'scale',
    'y = alpha * x',
    ['x'],
    'y',
    (rt, y, [x], o) => scale(rt, y, x, num(o.alpha, 1)),
    (y, [x], n, o) => ref.scale(y, x, num(o.alpha, 1), n),
    [{ name: 'alpha', type: 'number', default: 1, doc: 'the factor', check: finite('alpha') }],
    { alpha: -0.37 },
  ),
  elementwiseEntry(
    'threshold',
    'y = 1 where x < tau, else 0 (a pass/fail reward)',
    ['x'],
    'y',
    (rt, y, [x], o) => threshold(rt, y, x, num(o.tau, 0)),
    (y, [x], n, o) => ref.threshold(y, x, num(o.tau, 0), n),
    [{ name: 'tau', type: 'number', default: 0, doc: 'the pass threshold', check: finite('tau') }],
    { tau: 0.25 },
  ),
  elementwiseEntry(
    'copy',
    'y = x',
    ['x'],
    'y',
    (rt, y, [x]) => copy(rt, y, x),
    (y, [x], n) => ref.copy(y, x, n),
  ),
  reductionEntry('sum', 'out = sum of x (deterministic: fixed order, no atomics)', sum, ref.sum),
  reductionEntry('mean', 'out = mean of x (deterministic)', mean, ref.mean),
  reductionEntry('sumsq', 'out = sum of x squared (deterministic)', sumsq, ref.sumsq),
  columnSumEntry,
  ...attentionKernels,
  ...regressionKernels,
  ...optimKernels,
  ...samplingKernels,
  ...embeddingKernels,
  ...policyKernels,
];

export function findKernel(name: string): KernelEntry {
  const k = kernels.find((e) => e.name === name);
  if (!k) {
    throw new InputError(`unknown kernel "${name}"; valid kernels: ${kernels.map((e) => e.name).join(', ')}`);
  }
  return k;
}
