/**
 * Deterministic reductions of a whole tensor to one value: sum, mean, sum of squares. Passes of
 * reduce.wgsl shrink N by PER_THREAD each time; the order of additions depends only on N. The
 * partial sums live in two scratch tensors the runtime keeps (allocated once, grown when needed).
 * Also column_sum, a matrix's sum over its rows (bias gradients).
 */
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ShapeError } from '../gpu/errors.ts';
import {
  WG_1D,
  expectDType,
  expectDistinct,
  expectRank,
  expectShape,
  grid1d,
  shapesOf,
  vec4Width,
  vec4Variant,
} from './common.ts';

/** Elements each invocation adds in one pass. */
const PER_THREAD = 64;

const reduceSpec: KernelSpec<'N' | 'per_thread' | 'square' | 'scale' | 'offset' | 'groups'> = {
  name: 'reduce',
  shader: shaders.reduce,
  params: [
    ['N', 'u32'],
    ['per_thread', 'u32'],
    ['square', 'u32'],
    ['scale', 'f32'],
    ['offset', 'u32'],
  ],
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ groups }) => grid1d(groups),
};

/**
 * Reduce x to one value written at out[offset], as kernel `name` (for errors and profiles): the sum
 * of f(x) times finalScale, with f the square when `square`. Shapes are the caller's to check.
 */
export function reduceInto(
  rt: Runtime,
  name: string,
  out: Tensor,
  offset: number,
  x: Tensor,
  opts: { square: boolean; finalScale: number; shapes: string },
): void {
  const spec = { ...reduceSpec, name };
  let src = x;
  let n = x.size;
  let pass = 0;
  for (;;) {
    const groups = Math.ceil(n / PER_THREAD);
    const last = groups === 1;
    // Ping-pong between two scratch tensors: a pass may not read and write one buffer.
    const dst = last ? out : rt.scratch(`reduce${pass % 2}`, groups);
    rt.dispatch(spec, {
      params: {
        N: n,
        per_thread: PER_THREAD,
        square: Number(opts.square && pass === 0),
        scale: last ? opts.finalScale : 1,
        offset: last ? offset : 0,
        groups,
      },
      tensors: { x: src, out: dst },
      shapes: opts.shapes,
    });
    if (last) return;
    src = dst;
    n = groups;
    pass++;
  }
}

function reduceAll(rt: Runtime, kernel: string, out: Tensor, x: Tensor, square: boolean, finalScale: number): void {
  expectDType(kernel, 'x', x, 'f32');
  expectDType(kernel, 'out', out, 'f32');
  expectShape(kernel, 'out', out, [1]);
  expectDistinct(kernel, { out }, { x });
  reduceInto(rt, kernel, out, 0, x, { square, finalScale, shapes: shapesOf({ x }) });
}

/** out [1] = sum of x, times opts.scale (default 1). */
export function sum(rt: Runtime, out: Tensor, x: Tensor, opts: { scale?: number } = {}): void {
  reduceAll(rt, 'sum', out, x, false, opts.scale ?? 1);
}

/** out [1] = mean of x. */
export function mean(rt: Runtime, out: Tensor, x: Tensor): void {
  reduceAll(rt, 'mean', out, x, false, 1 / x.size);
}

/** out [1] = sum of x squared. */
export function sumsq(rt: Runtime, out: Tensor, x: Tensor): void {
  reduceAll(rt, 'sumsq', out, x, true, 1);
}

const columnSumSpec: KernelSpec<'R' | 'N'> = {
  name: 'column_sum',
  shader: shaders.column_sum,
  params: [
    ['R', 'u32'],
    ['N', 'u32'],
  ],
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};
const columnSumVec4Spec = vec4Variant(columnSumSpec);

/**
 * out [N] (any shape of N elements) = the sum of x [R, N] over its rows, in row order: a linear
 * layer's bias gradient. Four columns per invocation when N is a multiple of 4.
 */
export function column_sum(rt: Runtime, out: Tensor, x: Tensor): void {
  const k = 'column_sum';
  expectRank(k, 'x', x, [2]);
  expectDType(k, 'x', x, 'f32');
  expectDType(k, 'out', out, 'f32');
  const [R, N] = x.shape;
  if (out.size !== N) {
    throw new ShapeError(`${k}: out has ${out.size} elements but x [${R}, ${N}] has ${N} columns; they must match`);
  }
  expectDistinct(k, { out }, { x });
  const w = vec4Width(N, [x, out]);
  rt.dispatch(w === 4 ? columnSumVec4Spec : columnSumSpec, {
    params: { R, N: N / w },
    tensors: { x, out },
    shapes: shapesOf({ x, out }),
  });
}
