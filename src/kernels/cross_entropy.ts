/** Fused log-softmax + cross-entropy with a per-position mask, forward and backward. */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { WG_1D, dummy, expectDType, expectDistinct, expectRank, expectShape, grid1d, shapesOf } from './common.ts';

const bindingsFor = (out: string) =>
  [
    { name: 'logits', access: 'read' },
    { name: 'targets', access: 'read' },
    { name: 'mask', access: 'read' },
    { name: out, access: 'read_write' },
  ] as const;

const forwardSpec: KernelSpec<'N' | 'V' | 'has_mask'> = {
  name: 'cross_entropy_forward',
  shader: shaders.cross_entropy_forward,
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['has_mask', 'u32'],
  ],
  bindings: bindingsFor('losses'),
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const backwardSpec: KernelSpec<'N' | 'V' | 'has_mask' | 'scale'> = {
  name: 'cross_entropy_backward',
  shader: shaders.cross_entropy_backward,
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['has_mask', 'u32'],
    ['scale', 'f32'],
  ],
  bindings: bindingsFor('dlogits'),
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

function checkInputs(k: string, logits: Tensor, targets: Tensor, mask: Tensor | undefined): { N: number; V: number } {
  expectRank(k, 'logits', logits, [2]);
  expectDType(k, 'logits', logits, 'f32');
  const [N, V] = logits.shape;
  expectDType(k, 'targets', targets, 'u32');
  expectShape(k, 'targets', targets, [N]);
  if (mask) {
    expectDType(k, 'mask', mask, 'f32');
    expectShape(k, 'mask', mask, [N]);
  }
  return { N, V };
}

/**
 * losses[n] = mask[n] * (logsumexp(logits[n]) - logits[n, targets[n]]). logits [N, V], targets [N]
 * (u32 in [0, V): the caller checks the range, see checkTargets), mask [N] or none (all ones).
 */
export function cross_entropy_forward(rt: Runtime, losses: Tensor, logits: Tensor, targets: Tensor, mask?: Tensor): void {
  const k = 'cross_entropy_forward';
  const { N, V } = checkInputs(k, logits, targets, mask);
  expectDType(k, 'losses', losses, 'f32');
  expectShape(k, 'losses', losses, [N]);
  expectDistinct(k, { losses }, { logits, targets, mask });
  rt.dispatch(forwardSpec, {
    params: { N, V, has_mask: Number(!!mask) },
    tensors: { logits, targets, mask: mask ?? dummy(rt), losses },
    shapes: shapesOf({ logits, targets, mask, losses }),
  });
}

/** dlogits[n, v] = scale * mask[n] * (softmax(logits[n])[v] - [v == targets[n]]). */
export function cross_entropy_backward(
  rt: Runtime,
  dlogits: Tensor,
  logits: Tensor,
  targets: Tensor,
  mask: Tensor | undefined,
  scale: number,
): void {
  const k = 'cross_entropy_backward';
  if (!Number.isFinite(scale)) throw new ShapeError(`${k}: scale must be a finite number, got ${scale}`);
  const { N, V } = checkInputs(k, logits, targets, mask);
  expectDType(k, 'dlogits', dlogits, 'f32');
  expectShape(k, 'dlogits', dlogits, [N, V]);
  expectDistinct(k, { dlogits }, { logits, targets, mask });
  rt.dispatch(backwardSpec, {
    params: { N, V, has_mask: Number(!!mask), scale },
    tensors: { logits, targets, mask: mask ?? dummy(rt), dlogits },
    shapes: shapesOf({ logits, targets, mask, dlogits }),
  });
}
