/**
 * Optimizer kernels: a fused AdamW step (with global-norm gradient clipping read from the GPU), the
 * deterministic sum of squares over several gradient tensors (the squared global norm), and an exact
 * count of NaN/Inf values, so a training loop can clip and detect blow-ups without reading tensors back.
 */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import { type Tensor, shapeString } from '../gpu/tensor.ts';
import {
  WG_1D,
  expectDType,
  expectDistinct,
  expectSameSize,
  expectShape,
  grid1d,
  shapesOf,
  vec4Width,
  vec4Variant,
} from './common.ts';
import { reduceInto, sum } from './reduce.ts';

// --------------------------------------------------------------------------------------------
// adamw

type AdamWParam =
  | 'N'
  | 'lr'
  | 'beta1'
  | 'beta2'
  | 'one_minus_beta1'
  | 'one_minus_beta2'
  | 'bc1'
  | 'bc2'
  | 'eps'
  | 'decay'
  | 'max_norm';

const adamwSpec: KernelSpec<AdamWParam> = {
  name: 'adamw',
  shader: shaders.adamw,
  params: [
    ['N', 'u32'],
    ['lr', 'f32'],
    ['beta1', 'f32'],
    ['beta2', 'f32'],
    ['one_minus_beta1', 'f32'],
    ['one_minus_beta2', 'f32'],
    ['bc1', 'f32'],
    ['bc2', 'f32'],
    ['eps', 'f32'],
    ['decay', 'f32'],
    ['max_norm', 'f32'],
  ],
  bindings: [
    { name: 'grads', access: 'read' },
    { name: 'gradSumSq', access: 'read' },
    { name: 'params', access: 'read_write' },
    { name: 'm', access: 'read_write' },
    { name: 'v', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

/** Four elements per invocation where every tensor is whole vec4s (same bits: see the shader). */
const adamwVec4Spec = vec4Variant(adamwSpec);

/** The largest learning rate adamw accepts (anything larger is almost surely a unit mistake). */
export const ADAMW_MAX_LR = 10;

export interface AdamWOptions {
  /** Learning rate, in (0, 10]. */
  lr: number;
  /** First-moment decay, in [0, 1); default 0.9. */
  beta1?: number;
  /** Second-moment decay, in [0, 1); default 0.999. */
  beta2?: number;
  /** Added to sqrt(vhat), > 0; default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (params -= lr * weightDecay * params), >= 0; default 0. */
  weightDecay?: number;
  /** 1-based number of this step (1 on the first call), for the bias corrections 1 - beta^step. */
  step: number;
  /** Clip the global gradient norm sqrt(gradSumSq) to this; 0 (the default) = no clipping. */
  maxNorm?: number;
}

/** Checks every option and fills in the defaults; throws a ShapeError naming the option and its range. */
export function resolveAdamWOptions(opts: AdamWOptions): Required<AdamWOptions> {
  const k = 'adamw';
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, step, maxNorm = 0 } = opts;
  const fail = (what: string) => {
    throw new ShapeError(`${k}: ${what}`);
  };
  if (!(typeof lr === 'number' && lr > 0 && lr <= ADAMW_MAX_LR)) {
    fail(`lr must be a finite number in (0, ${ADAMW_MAX_LR}], got ${lr}`);
  }
  for (const [name, b] of [
    ['beta1', beta1],
    ['beta2', beta2],
  ] as const) {
    if (!(typeof b === 'number' && b >= 0 && b < 1)) fail(`${name} must be a number in [0, 1), got ${b}`);
  }
  if (!(typeof eps === 'number' && eps > 0 && Number.isFinite(eps))) fail(`eps must be a finite number > 0, got ${eps}`);
  if (!(typeof weightDecay === 'number' && weightDecay >= 0 && Number.isFinite(weightDecay))) {
    fail(`weightDecay must be a finite number >= 0, got ${weightDecay}`);
  }
  if (!(Number.isSafeInteger(step) && step >= 1)) {
    fail(`step must be an integer >= 1 (1 on the first step; it sets the bias corrections 1 - beta^step), got ${step}`);
  }
  if (!(typeof maxNorm === 'number' && maxNorm >= 0 && Number.isFinite(maxNorm))) {
    fail(`maxNorm must be a finite number >= 0 (0 = no clipping), got ${maxNorm}`);
  }
  return { lr, beta1, beta2, eps, weightDecay, step, maxNorm };
}

/**
 * One AdamW step, in place on params, m and v (all [N], any shapes with the same element count):
 * clip = maxNorm > 0 ? min(1, maxNorm / (sqrt(gradSumSq) + 1e-6)) : 1; g = clip * grads;
 * m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g²;
 * params -= lr * weightDecay * params + lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps).
 * gradSumSq [1] is the sum of squares of ALL the model's gradients (global_norm_sumsq); it is read
 * on the GPU, so clipping needs no readback. It is only read when maxNorm > 0.
 */
export function adamw(
  rt: Runtime,
  params: Tensor,
  m: Tensor,
  v: Tensor,
  grads: Tensor,
  gradSumSq: Tensor,
  opts: AdamWOptions,
): void {
  const k = 'adamw';
  const o = resolveAdamWOptions(opts);
  const all = { params, m, v, grads, gradSumSq };
  for (const [n, t] of Object.entries(all)) expectDType(k, n, t, 'f32');
  expectSameSize(k, ['params', 'm', 'v', 'grads'], [params, m, v, grads]);
  expectShape(k, 'gradSumSq', gradSumSq, [1]);
  expectDistinct(k, { params, m, v }, { grads, gradSumSq });
  // f64 here, rounded once to f32 by the uniform upload: the CPU reference uses the same values.
  const w = vec4Width(params.size, [params, m, v, grads]);
  rt.dispatch(w === 4 ? adamwVec4Spec : adamwSpec, {
    params: {
      N: params.size / w,
      lr: o.lr,
      beta1: o.beta1,
      beta2: o.beta2,
      one_minus_beta1: 1 - o.beta1,
      one_minus_beta2: 1 - o.beta2,
      bc1: 1 - o.beta1 ** o.step,
      bc2: 1 - o.beta2 ** o.step,
      eps: o.eps,
      decay: o.lr * o.weightDecay,
      max_norm: o.maxNorm,
    },
    tensors: all,
    shapes: `${shapesOf(all)} step ${o.step}${o.maxNorm > 0 ? ` maxNorm ${o.maxNorm}` : ''}`,
  });
}

// --------------------------------------------------------------------------------------------
// multi-pass reduction for nonfinite_count

/** Elements each invocation of a nonfinite_count pass sums, in order (a pass shrinks N by this). */
const CHUNK = 64;

const nonfiniteSpec: KernelSpec<'N' | 'per_thread' | 'classify' | 'groups'> = {
  name: 'nonfinite_count',
  shader: shaders.nonfinite_count,
  params: [
    ['N', 'u32'],
    ['per_thread', 'u32'],
    ['classify', 'u32'],
  ],
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ groups }) => grid1d(groups),
};

/**
 * Reduce x [n] to one value in final[offset] by passes of CHUNK-to-1, ping-ponging between two
 * scratch tensors (a pass may not read and write the same buffer). `first` configures pass 1.
 */
function multiPass(
  n: number,
  x: Tensor,
  final: Tensor,
  offset: number,
  scratch: [Tensor | undefined, Tensor | undefined],
  pass: (src: Tensor, dst: Tensor, n: number, groups: number, offset: number, first: boolean) => void,
): void {
  let src = x;
  let first = true;
  let which = 0;
  for (;;) {
    const groups = Math.ceil(n / CHUNK);
    if (groups === 1) {
      pass(src, final, n, groups, offset, first);
      return;
    }
    const dst = scratch[which];
    if (!dst || dst.size < groups) throw new Error(`internal: scratch ${which} too small for ${groups} partials`);
    pass(src, dst, n, groups, 0, first);
    src = dst;
    n = groups;
    first = false;
    which ^= 1;
  }
}

/** Two scratch tensors (kept by the runtime) big enough for every pass of a reduction of up to maxN elements. */
function scratchFor(rt: Runtime, maxN: number, dtype: 'f32' | 'u32', label: string): [Tensor | undefined, Tensor | undefined] {
  const a = Math.ceil(maxN / CHUNK);
  const b = Math.ceil(a / CHUNK);
  return [a > 1 ? rt.scratch(`${label}0`, a, dtype) : undefined, b > 1 ? rt.scratch(`${label}1`, b, dtype) : undefined];
}

// --------------------------------------------------------------------------------------------
// global_norm_sumsq

/**
 * out [1] = sum over every tensor of the sum of its squared elements: the squared global gradient
 * norm that adamw's maxNorm clipping reads. Deterministic: tensor t's sum of squares (the same
 * passes as sumsq, so the same bits) lands in element t of a partials tensor [T], which `sum`
 * reduces in a fixed order; no atomics. Tensors may have any shapes (f32).
 */
export function global_norm_sumsq(rt: Runtime, out: Tensor, tensors: readonly Tensor[]): void {
  const k = 'global_norm_sumsq';
  if (tensors.length === 0) throw new ShapeError(`${k}: needs at least one tensor, got an empty list`);
  expectDType(k, 'out', out, 'f32');
  expectShape(k, 'out', out, [1]);
  tensors.forEach((t, i) => {
    expectDType(k, `tensors[${i}] (${t.label})`, t, 'f32');
    // out is written only by the last dispatch (which reads the partials), so sharing a buffer
    // (an arena) is fine; overlapping one of the tensors is not.
    if (t.overlaps(out)) {
      throw new ShapeError(`${k}: output out overlaps tensors[${i}] (${t.label}); give the output its own tensor`);
    }
  });
  const T = tensors.length;
  // Tensor t's sum of squares lands in element t: the same passes as sumsq, so the same bits.
  const partials = rt.scratch('global_norm_sumsq.partials', T);
  tensors.forEach((t, i) => {
    reduceInto(rt, k, partials, i, t, {
      square: true,
      finalScale: 1,
      shapes: `tensors[${i}] ${t.label}${shapeString(t.shape)} of ${T}`,
    });
  });
  sum(rt, out, T === partials.size ? partials : rt.view(partials, 0, [T]));
}

/** The name the optimizer code uses for global_norm_sumsq. */
export const grad_sumsq = global_norm_sumsq;

// --------------------------------------------------------------------------------------------
// nonfinite_count

/**
 * out [1] (u32) = the number of NaN, +Inf and -Inf values in x (f32, any shape), exactly. The test
 * is on the exponent bits, so no compiler assumption about finite floats can hide a NaN. Read back
 * the 4 bytes of out (or feed it to later GPU work) to detect a blow-up without reading x.
 */
export function nonfinite_count(rt: Runtime, out: Tensor, x: Tensor): void {
  const k = 'nonfinite_count';
  expectDType(k, 'x', x, 'f32');
  expectDType(k, 'out', out, 'u32');
  expectShape(k, 'out', out, [1]);
  expectDistinct(k, { out }, { x });
  const shapes = shapesOf({ x });
  const scratch = scratchFor(rt, x.size, 'u32', k);
  multiPass(x.size, x, out, 0, scratch, (src, dst, N, groups, _offset, first) =>
    rt.dispatch(nonfiniteSpec, {
      params: { N, per_thread: CHUNK, classify: Number(first), groups },
      tensors: { x: src, out: dst },
      shapes,
    }),
  );
}
