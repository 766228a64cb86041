/**
 * AdamW over a model's parameter arena: the moments live in two buffers shaped like the arena, the
 * global gradient norm is one deterministic reduction over the gradient arena (its padding is zero),
 * and the update is one dispatch over every parameter. Nothing is read back.
 */
import type { Arena } from '../gpu/arena.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { type AdamWOptions, adamw, resolveAdamWOptions } from '../kernels/optim.ts';
import { sumsq } from '../kernels/reduce.ts';

export type AdamWConfig = Omit<AdamWOptions, 'step'>;

export class AdamW {
  readonly m: Tensor;
  readonly v: Tensor;
  /** Sum of squares of all gradients at the last step, [1]: sqrt of it is the global norm. */
  readonly gradSumSq: Tensor;
  /** Steps taken so far (the next update is step + 1, for the bias corrections). */
  step = 0;

  constructor(
    private readonly rt: Runtime,
    private readonly params: Arena,
    private readonly grads: Arena,
    readonly config: AdamWConfig,
  ) {
    resolveAdamWOptions({ ...config, step: 1 }); // check the options now, not at the first step
    this.m = rt.empty(params.all.shape, 'f32', 'adamw.m');
    this.v = rt.empty(params.all.shape, 'f32', 'adamw.v');
    this.gradSumSq = rt.empty([1], 'f32', 'adamw.grad_sumsq');
  }

  /** One update from the gradients in the arena; `lr` overrides the configured rate (schedules). */
  update(lr = this.config.lr): void {
    this.step += 1;
    sumsq(this.rt, this.gradSumSq, this.grads.all);
    adamw(this.rt, this.params.all, this.m, this.v, this.grads.all, this.gradSumSq, { ...this.config, lr, step: this.step });
  }

  destroy(): void {
    for (const t of [this.m, this.v, this.gradSumSq]) t.destroy();
  }
}
