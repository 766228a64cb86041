/** Registry entry for the regression loss (see regression.ts). */
import { ShapeError } from '../gpu/errors.ts';
import { shapeString } from '../gpu/tensor.ts';
import * as ref from '../reference/regression.ts';
import { f32, finite, type KernelEntry, normal, num, outputs } from './entry.ts';
import { mse_loss } from './regression.ts';

function rows(pred: { shape: readonly number[] }): { B: number; D: number } {
  if (pred.shape.length !== 2) throw new ShapeError(`mse_loss: pred must be [B, D], got ${shapeString(pred.shape)}`);
  return { B: pred.shape[0], D: pred.shape[1] };
}

export const regressionKernels: KernelEntry[] = [
  {
    name: 'mse_loss',
    summary: 'losses[b] = ||pred[b] - target[b]||^2 and dpred = scale * 2 (pred - target), fused',
    inputs: [
      { name: 'pred', dtype: 'f32', shape: '[B, D]' },
      { name: 'target', dtype: 'f32', shape: '[B, D]' },
    ],
    options: [
      {
        name: 'scale',
        type: 'number',
        default: 0,
        doc: 'gradient scale; 0 means 1/B (a mean over rows)',
        check: finite('scale'),
      },
    ],
    outputs: [
      { name: 'losses', dtype: 'f32', shape: '[B]' },
      { name: 'dpred', dtype: 'f32', shape: '[B, D]' },
    ],
    gpu(rt, { pred, target }, opts) {
      const { B, D } = rows(pred);
      const o = outputs(rt, { losses: [B], dpred: [B, D] }, 'mse_loss');
      mse_loss(rt, o.losses, o.dpred, pred, target, { scale: num(opts.scale, 0) || 1 / B });
      return o;
    },
    cpu({ pred, target }, opts) {
      const { B, D } = rows(pred);
      const losses = f32([B]);
      const dpred = f32([B, D]);
      const scale = num(opts.scale, 0) || 1 / B;
      ref.mse_loss(
        losses.data as Float32Array,
        dpred.data as Float32Array,
        pred.data as Float32Array,
        target.data as Float32Array,
        B,
        D,
        scale,
      );
      return { losses, dpred };
    },
    sample: (rng, { B, D }) => ({ pred: normal(rng, [B, D]), target: normal(rng, [B, D]) }),
    checkDims: { B: 37, D: 9 },
    cases: [
      { dims: { B: 1, D: 1 } },
      { dims: { B: 3, D: 17 }, options: { scale: 0.3 } },
      { dims: { B: 129, D: 63 } },
      { dims: { B: 257, D: 512 } },
      { dims: { B: 600, D: 3 } },
      // Found by the fuzzer: one long row (its f32 sum of squares is off by 1.3e-5 relative).
      { dims: { B: 1, D: 65536 } },
    ],
    // losses[b] is one invocation's f32 sum over D: its relative error grows like sqrt(D) ulp.
    tolerance: ({ D }) => ({ atol: 1e-5 * Math.sqrt(D), rtol: 1e-5 + 2e-7 * Math.sqrt(D) }),
  },
];
