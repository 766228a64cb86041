/** LayerNorm over the last axis, forward and backward (input and parameter gradients). */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
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

const forwardSpec: KernelSpec<'N' | 'C' | 'eps'> = {
  name: 'layernorm_forward',
  shader: shaders.layernorm_forward,
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
    ['eps', 'f32'],
  ],
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'weight', access: 'read' },
    { name: 'bias', access: 'read' },
    { name: 'y', access: 'read_write' },
    { name: 'mean', access: 'read_write' },
    { name: 'rstd', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const backwardSpec: KernelSpec<'N' | 'C'> = {
  name: 'layernorm_backward',
  shader: shaders.layernorm_backward,
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
  ],
  bindings: [
    { name: 'dy', access: 'read' },
    { name: 'x', access: 'read' },
    { name: 'weight', access: 'read' },
    { name: 'mean', access: 'read' },
    { name: 'rstd', access: 'read' },
    { name: 'dx', access: 'read_write' },
    { name: 'res', access: 'read' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const paramsSpec: KernelSpec<'N' | 'C'> = {
  name: 'layernorm_backward_params',
  shader: shaders.layernorm_backward_params,
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
  ],
  bindings: [
    { name: 'dy', access: 'read' },
    { name: 'x', access: 'read' },
    { name: 'mean', access: 'read' },
    { name: 'rstd', access: 'read' },
    { name: 'dweight', access: 'read_write' },
    { name: 'dbias', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ C }) => grid1d(C),
};

/** Four columns per load when C is a multiple of 4 (same bits: see the shaders). */
const forwardVec4Spec = vec4Variant(forwardSpec);
const backwardVec4Spec = vec4Variant(backwardSpec);
const paramsVec4Spec = vec4Variant(paramsSpec);

function rowsAndCols(k: string, x: Tensor): { N: number; C: number } {
  expectRank(k, 'x', x, [2]);
  const [N, C] = x.shape;
  return { N, C };
}

function allF32(k: string, tensors: Record<string, Tensor>): void {
  for (const [n, t] of Object.entries(tensors)) expectDType(k, n, t, 'f32');
}

/**
 * y [N, C] = (x - mean) * rstd * weight + bias; also writes mean [N] and rstd [N]. `wide: false`
 * keeps the one-column-per-load kernel where the four-column one would run (tests compare the two).
 */
export function layernorm_forward(
  rt: Runtime,
  y: Tensor,
  mean: Tensor,
  rstd: Tensor,
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  opts: { eps?: number; wide?: boolean } = {},
): void {
  const k = 'layernorm_forward';
  const { eps = 1e-5, wide = true } = opts;
  if (!(eps > 0 && Number.isFinite(eps))) throw new ShapeError(`${k}: option eps must be a positive number, got ${eps}`);
  const { N, C } = rowsAndCols(k, x);
  allF32(k, { y, mean, rstd, x, weight, bias });
  expectShape(k, 'weight', weight, [C]);
  expectShape(k, 'bias', bias, [C]);
  expectShape(k, 'y', y, [N, C]);
  expectShape(k, 'mean', mean, [N]);
  expectShape(k, 'rstd', rstd, [N]);
  expectDistinct(k, { y, mean, rstd }, { x, weight, bias });
  const w = vec4Width(C, [x, weight, bias, y], wide);
  rt.dispatch(w === 4 ? forwardVec4Spec : forwardSpec, {
    params: { N, C: C / w, eps },
    tensors: { x, weight, bias, y, mean, rstd },
    shapes: shapesOf({ x, weight, bias }),
  });
}

/**
 * dx [N, C], dweight [C], dbias [C] (overwritten) from dy and the forward's x, mean, rstd; `wide` as
 * in the forward. With `residual` [N, C], dx = residual + the input gradient (a residual
 * connection's two gradients summed in the same pass; the bits of add(dx, residual, dx)).
 */
export function layernorm_backward(
  rt: Runtime,
  dx: Tensor,
  dweight: Tensor,
  dbias: Tensor,
  dy: Tensor,
  x: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  opts: { wide?: boolean; residual?: Tensor } = {},
): void {
  const k = 'layernorm_backward';
  const { residual } = opts;
  const { N, C } = rowsAndCols(k, x);
  allF32(k, { dx, dweight, dbias, dy, x, weight, mean, rstd });
  expectShape(k, 'dy', dy, [N, C]);
  expectShape(k, 'dx', dx, [N, C]);
  expectShape(k, 'weight', weight, [C]);
  expectShape(k, 'dweight', dweight, [C]);
  expectShape(k, 'dbias', dbias, [C]);
  expectShape(k, 'mean', mean, [N]);
  expectShape(k, 'rstd', rstd, [N]);
  if (residual) {
    expectDType(k, 'residual', residual, 'f32');
    expectShape(k, 'residual', residual, [N, C]);
  }
  expectDistinct(k, { dx, dweight, dbias }, { dy, x, weight, mean, rstd, residual });
  const shapes = shapesOf({ dy, x, weight, ...(residual ? { residual } : {}) });
  const w = vec4Width(C, [dx, dweight, dbias, dy, x, weight, ...(residual ? [residual] : [])], opts.wide);
  const [backward, params] = w === 4 ? [backwardVec4Spec, paramsVec4Spec] : [backwardSpec, paramsSpec];
  rt.dispatch(backward, {
    params: { N, C: C / w },
    // Without a residual, dy stands in for the unread binding (the size its element type needs).
    tensors: { dy, x, weight, mean, rstd, dx, res: residual ?? dy },
    constants: { HAS_RES: Number(!!residual) },
    shapes,
  });
  rt.dispatch(params, { params: { N, C: C / w }, tensors: { dy, x, mean, rstd, dweight, dbias }, shapes });
}
