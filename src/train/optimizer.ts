/**
 * AdamW over a model's parameter arena: the moments live in two buffers shaped like the arena, the
 * global gradient norm is one deterministic reduction over the gradient arena (its padding is zero),
 * and the update is one dispatch over every parameter, or, with weight decay on the matrices only
 * (the default, as in GPT-2 and nanoGPT: biases and layernorm weights are not decayed), one
 * dispatch per run of neighbouring slots that are decayed alike. Nothing is read back.
 */
import type { Arena } from '../gpu/arena.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { type AdamWOptions, adamw, resolveAdamWOptions } from '../kernels/optim.ts';
import { sumsq } from '../kernels/reduce.ts';

/** Which parameters weight decay applies to: tensors of two or more dimensions, or every one. */
export type DecayParams = 'matrices' | 'all';
export const DECAY_PARAMS: readonly DecayParams[] = ['matrices', 'all'];

export type AdamWConfig = Omit<AdamWOptions, 'step'> & {
  /** Default 'matrices': vectors (biases, layernorm gains and shifts) are not decayed. */
  decay?: DecayParams;
};

/** Whether a parameter of this shape is decayed under `decay`. */
export const isDecayed = (shape: readonly number[], decay: DecayParams = 'matrices') => decay === 'all' || shape.length >= 2;

/** One dispatch's share of the arena: [start, end) in elements, and whether it is decayed. */
interface Range {
  start: number;
  end: number;
  decayed: boolean;
}

/**
 * The arena cut into runs of neighbouring slots decayed alike, covering all of it (the padding after
 * a slot goes with it; padding is zero in parameters and gradients, so decay leaves it zero).
 */
export function decayRanges(params: Arena, decay: DecayParams): Range[] {
  const slots = Object.entries(params.offsets).sort((a, b) => a[1] - b[1]);
  const ranges: Range[] = [];
  for (const [name, offset] of slots) {
    const decayed = isDecayed(params.views[name].shape, decay);
    const last = ranges.at(-1);
    if (last && last.decayed === decayed) continue;
    if (last) last.end = offset;
    ranges.push({ start: offset, end: params.all.size, decayed });
  }
  if (ranges.length) ranges[0].start = 0;
  return ranges.length ? ranges : [{ start: 0, end: params.all.size, decayed: true }];
}

export class AdamW {
  readonly m: Tensor;
  readonly v: Tensor;
  /** Sum of squares of all gradients at the last step, [1]: sqrt of it is the global norm. */
  readonly gradSumSq: Tensor;
  /** Steps taken so far (the next update is step + 1, for the bias corrections). */
  step = 0;
  /** One entry per dispatch: views of params, m, v and grads over a range, and whether it decays. */
  private readonly parts: { params: Tensor; m: Tensor; v: Tensor; grads: Tensor; decayed: boolean }[];

  constructor(
    private readonly rt: Runtime,
    private readonly params: Arena,
    private readonly grads: Arena,
    readonly config: AdamWConfig,
  ) {
    resolveAdamWOptions({ ...config, step: 1 }); // check the options now, not at the first step
    const decay = config.decay ?? 'matrices';
    if (!DECAY_PARAMS.includes(decay))
      throw new Error(`AdamW: decay must be one of ${DECAY_PARAMS.join(', ')}, got ${JSON.stringify(decay)}`);
    this.m = rt.empty(params.all.shape, 'f32', 'adamw.m');
    this.v = rt.empty(params.all.shape, 'f32', 'adamw.v');
    this.gradSumSq = rt.empty([1], 'f32', 'adamw.grad_sumsq');
    // Without decay, or decaying everything, a range split would change nothing: one dispatch.
    const ranges =
      (config.weightDecay ?? 0) > 0 && decay !== 'all'
        ? decayRanges(params, decay)
        : [{ start: 0, end: params.all.size, decayed: true }];
    this.parts =
      ranges.length === 1
        ? [{ params: params.all, m: this.m, v: this.v, grads: grads.all, decayed: ranges[0].decayed }]
        : ranges.map(({ start, end, decayed }) => {
            const view = (t: Tensor, label: string) => rt.view(t, start, [end - start], `adamw.${label}[${start}:${end}]`);
            return {
              params: view(params.all, 'params'),
              m: view(this.m, 'm'),
              v: view(this.v, 'v'),
              grads: view(grads.all, 'grads'),
              decayed,
            };
          });
  }

  /** One update from the gradients in the arena; `lr` overrides the configured rate (schedules). */
  update(lr = this.config.lr): void {
    this.step += 1;
    sumsq(this.rt, this.gradSumSq, this.grads.all);
    const { decay: _, ...options } = this.config;
    for (const p of this.parts)
      adamw(this.rt, p.params, p.m, p.v, p.grads, this.gradSumSq, {
        ...options,
        weightDecay: p.decayed ? options.weightDecay : 0,
        lr,
        step: this.step,
      });
  }

  destroy(): void {
    for (const t of [this.m, this.v, this.gradSumSq]) t.destroy();
  }
}
