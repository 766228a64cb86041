/** Regression loss: squared error per row with its gradient, for the in-context weight prediction models. */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { WG_1D, expectDType, expectDistinct, expectRank, expectShape, grid1d, shapesOf } from './common.ts';

const mseSpec: KernelSpec<'B' | 'D' | 'scale'> = {
  name: 'mse_loss',
  shader: shaders.mse_loss,
  params: [
    ['B', 'u32'],
    ['D', 'u32'],
    ['scale', 'f32'],
  ],
  bindings: [
    { name: 'pred', access: 'read' },
    { name: 'target', access: 'read' },
    { name: 'losses', access: 'read_write' },
    { name: 'dpred', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ B }) => grid1d(B),
};

/**
 * losses [B] = per-row squared error of pred [B, D] against target [B, D]; dpred [B, D] = the
 * gradient of scale * sum(losses) (default scale 1/B: the mean squared error per row).
 */
export function mse_loss(
  rt: Runtime,
  losses: Tensor,
  dpred: Tensor,
  pred: Tensor,
  target: Tensor,
  opts: { scale?: number } = {},
): void {
  const k = 'mse_loss';
  expectRank(k, 'pred', pred, [2]);
  const [B, D] = pred.shape;
  const scale = opts.scale ?? 1 / B;
  if (!Number.isFinite(scale)) throw new ShapeError(`${k}: scale must be a finite number, got ${scale}`);
  for (const [n, t] of [
    ['pred', pred],
    ['target', target],
    ['losses', losses],
    ['dpred', dpred],
  ] as const)
    expectDType(k, n, t, 'f32');
  expectShape(k, 'target', target, [B, D]);
  expectShape(k, 'dpred', dpred, [B, D]);
  expectShape(k, 'losses', losses, [B]);
  expectDistinct(k, { losses, dpred }, { pred, target });
  rt.dispatch(mseSpec, { params: { B, D, scale }, tensors: { pred, target, losses, dpred }, shapes: shapesOf({ pred, target }) });
}
