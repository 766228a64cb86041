/**
 * Deterministic reductions of a whole tensor to one value: sum, mean, sum of squares. Passes of
 * reduce.wgsl shrink N by a fixed chunk each time; the order of additions depends only on N.
 */
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { expectDType, expectDistinct, expectShape, grid1d, shapesOf } from './common.ts';

const WG = 256;
/** Elements each invocation sums before the tree: a pass reduces by WG * PER_THREAD = 1024. */
const PER_THREAD = 4;
const CHUNK = WG * PER_THREAD;

const reduceSpec: KernelSpec<'N' | 'per_thread' | 'square' | 'scale' | 'groups'> = {
  name: 'reduce',
  shader: shaders.reduce,
  params: [
    ['N', 'u32'],
    ['per_thread', 'u32'],
    ['square', 'u32'],
    ['scale', 'f32'],
  ],
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  workgroupSize: [WG, 1, 1],
  dispatch: ({ groups }) => grid1d(groups, 1),
};

function reduceAll(rt: Runtime, kernel: string, out: Tensor, x: Tensor, square: boolean, finalScale: number): void {
  expectDType(kernel, 'x', x, 'f32');
  expectDType(kernel, 'out', out, 'f32');
  expectShape(kernel, 'out', out, [1]);
  expectDistinct(kernel, { out }, { x });
  const shapes = shapesOf({ x });
  let src = x;
  let n = x.size;
  let first = true;
  const temps: Tensor[] = [];
  for (;;) {
    const groups = Math.ceil(n / CHUNK);
    const last = groups === 1;
    const dst = last ? out : rt.empty([groups], 'f32', `${kernel}.partials${temps.length}`);
    if (!last) temps.push(dst);
    rt.dispatch(
      { ...reduceSpec, name: kernel },
      {
        params: { N: n, per_thread: PER_THREAD, square: Number(square && first), scale: last ? finalScale : 1, groups },
        tensors: { x: src, out: dst },
        shapes,
      },
    );
    if (last) break;
    src = dst;
    n = groups;
    first = false;
  }
  // Safe right after submission (the implementation keeps a buffer alive until queued work using it
  // is done); inside a batch the runtime waits for the batch's submission.
  for (const t of temps) rt.release(t);
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
