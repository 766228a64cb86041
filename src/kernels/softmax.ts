/** softmax over the last axis (with scale and causal mask for attention) and its backward. */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import {
  WG_1D,
  expectDType,
  expectDistinct,
  expectShape,
  grid1d,
  isCpuAdapter,
  lastDim,
  shapesOf,
  vec4Width,
  vec4Variant,
} from './common.ts';

const forwardSpec: KernelSpec<'R' | 'N' | 'Q' | 'causal' | 'scale'> = {
  name: 'softmax_forward',
  shader: shaders.softmax_forward,
  params: [
    ['R', 'u32'],
    ['N', 'u32'],
    ['Q', 'u32'],
    ['causal', 'u32'],
    ['scale', 'f32'],
  ],
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ R }) => grid1d(R),
};

/** One workgroup per row (softmax_forward_wg.wgsl): the row's columns strided over WG_1D invocations. */
const forwardWgSpec: KernelSpec<'R' | 'N' | 'Q' | 'causal' | 'scale'> = {
  ...forwardSpec,
  name: 'softmax_forward_wg',
  shader: shaders.softmax_forward_wg,
  dispatch: ({ R }) => grid1d(R, 1),
};

/**
 * How a softmax row is computed: by one invocation ('row', no barriers: fastest on CPU adapters, and
 * for short rows) or by one workgroup with a reduction in workgroup memory ('workgroup': long rows
 * on a GPU, where one lane per row leaves most lanes idle).
 */
export type SoftmaxVariant = 'row' | 'workgroup';

/**
 * The variant for a row length on this adapter: 'row' on CPU adapters (measured: `npm run bench`),
 * 'workgroup' on GPUs from 128 columns on (the usual choice on GPUs; not measured here, where no
 * GPU was available).
 */
export function defaultSoftmaxVariant(rt: Runtime, N: number): SoftmaxVariant {
  return isCpuAdapter(rt) || softmaxClass(N) === 'short' ? 'row' : 'workgroup';
}

/** Shape classes for tuning: rows shorter than 128 (attention scores of short contexts) or longer. */
export type SoftmaxClass = 'short' | 'long';
export const SOFTMAX_CLASSES: readonly SoftmaxClass[] = ['short', 'long'];
export const softmaxClass = (N: number): SoftmaxClass => (N < 128 ? 'short' : 'long');

/** Measured choices for this device (src/bench/tune.ts); the training path only looks them up. */
const tunings = new WeakMap<Runtime, Partial<Record<SoftmaxClass, SoftmaxVariant>>>();

export function setSoftmaxTuning(rt: Runtime, table: Partial<Record<SoftmaxClass, SoftmaxVariant>> | undefined): void {
  if (table) tunings.set(rt, table);
  else tunings.delete(rt);
}

/** The variant the training path uses: the tuned choice for the row length's class, else the default. */
export function softmaxVariantFor(rt: Runtime, N: number): SoftmaxVariant {
  return tunings.get(rt)?.[softmaxClass(N)] ?? defaultSoftmaxVariant(rt, N);
}

const backwardSpec: KernelSpec<'R' | 'N' | 'scale'> = {
  name: 'softmax_backward',
  shader: shaders.softmax_backward,
  params: [
    ['R', 'u32'],
    ['N', 'u32'],
    ['scale', 'f32'],
  ],
  bindings: [
    { name: 'dy', access: 'read' },
    { name: 'y', access: 'read' },
    { name: 'dx', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ R }) => grid1d(R),
};

export interface SoftmaxOptions {
  /** Multiplies x before the softmax (1/sqrt(head size) in attention). */
  scale?: number;
  /**
   * Mask columns j > i + (N - Q) of query row i, where Q is x's second-to-last dimension (1 for a
   * vector) and N its last: attention scores [B, H, Q, N] with the queries aligned to the end.
   */
  causal?: boolean;
  /** Force a variant (benchmarks, tests, the tuner); default: softmaxVariantFor. */
  variant?: SoftmaxVariant;
  /**
   * The row variant reads four columns per load when N is a multiple of 4 (same bits); false keeps
   * it to one (tests compare the two).
   */
  wide?: boolean;
}

/** Four columns per load where N is a multiple of 4 (see the shaders: the same bits). */
const forwardVec4Spec = vec4Variant(forwardSpec);
const backwardVec4Spec = vec4Variant(backwardSpec);

function checkScale(kernel: string, scale: number): void {
  if (!Number.isFinite(scale)) throw new ShapeError(`${kernel}: option scale must be a finite number, got ${scale}`);
}

/** y = softmax(scale * x) over the last axis; x, y of any shape [..., N]. */
export function softmax_forward(rt: Runtime, y: Tensor, x: Tensor, opts: SoftmaxOptions = {}): void {
  const k = 'softmax_forward';
  const { scale = 1, causal = false } = opts;
  checkScale(k, scale);
  expectDType(k, 'x', x, 'f32');
  expectDType(k, 'y', y, 'f32');
  expectShape(k, 'y', y, x.shape);
  expectDistinct(k, { y }, { x });
  const N = lastDim(x);
  const R = x.size / N;
  const Q = x.shape.length >= 2 ? x.shape[x.shape.length - 2] : 1;
  if (causal && N < Q) {
    throw new ShapeError(
      `${k}: causal needs at least as many columns as query rows, but ${shapesOf({ x })} has N = ${N} < Q = ${Q}`,
    );
  }
  const variant = opts.variant ?? softmaxVariantFor(rt, N);
  const w = vec4Width(N, [x, y], opts.wide);
  rt.dispatch(variant === 'workgroup' ? forwardWgSpec : w === 4 ? forwardVec4Spec : forwardSpec, {
    params: { R, N, Q, causal: Number(causal), scale },
    tensors: { x, y },
    shapes: shapesOf({ x, y }) + (causal ? ' causal' : ''),
  });
}

/** dx = scale * y * (dy - sum(dy * y)) per row: the gradient of softmax_forward with respect to x. */
export function softmax_backward(
  rt: Runtime,
  dx: Tensor,
  dy: Tensor,
  y: Tensor,
  opts: { scale?: number; wide?: boolean } = {},
): void {
  const k = 'softmax_backward';
  const { scale = 1 } = opts;
  checkScale(k, scale);
  for (const [n, t] of [
    ['dx', dx],
    ['dy', dy],
    ['y', y],
  ] as const)
    expectDType(k, n, t, 'f32');
  expectShape(k, 'dy', dy, y.shape);
  expectShape(k, 'dx', dx, y.shape);
  expectDistinct(k, { dx }, { dy, y });
  const N = lastDim(y);
  const w = vec4Width(N, [dx, dy, y], opts.wide);
  rt.dispatch(w === 4 ? backwardVec4Spec : backwardSpec, {
    params: { R: y.size / N, N: N / w, scale },
    tensors: { dy, y, dx },
    shapes: shapesOf({ dy, y, dx }),
  });
}
