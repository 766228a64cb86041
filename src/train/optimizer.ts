/**
 * AdamW over a model's parameter arena: the moments live in two buffers shaped like the arena, the
 * global gradient norm is one deterministic reduction over the gradient arena (its padding is zero),
 * and the update is one dispatch over every parameter. Two options split it: weight decay on the
 * matrices only (the default, as in GPT-2 and nanoGPT: biases and layernorm weights are not
 * decayed), and a set of trainable tensors (the rest frozen: an output-only probe). Each run of
 * neighbouring slots treated alike is then one dispatch, frozen runs none, and the norm is taken
 * over the trainable gradients only. Nothing is read back.
 */
import type { Arena } from '../gpu/arena.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { add } from '../kernels/elementwise.ts';
import { type AdamWOptions, adamw, resolveAdamWOptions } from '../kernels/optim.ts';
import { sumsq } from '../kernels/reduce.ts';
import { DECAY_PARAMS, type DecayParams } from './plan.ts';

export type AdamWConfig = Omit<AdamWOptions, 'step'> & {
  /** Default 'matrices': vectors (biases, layernorm gains and shifts) are not decayed. */
  decay?: DecayParams;
  /** The parameter tensors that train, by name (default: all); the others keep their values. */
  trainable?: readonly string[];
};

/** Whether a parameter of this shape is decayed under `decay`. */
export const isDecayed = (shape: readonly number[], decay: DecayParams = 'matrices') => decay === 'all' || shape.length >= 2;

/** How the optimizer treats a parameter tensor. */
export type ParamKind = 'decayed' | 'undecayed' | 'frozen';

/** One dispatch's share of the arena: [start, end) in elements. */
export interface ParamRange {
  start: number;
  end: number;
  kind: ParamKind;
}

/**
 * The arena cut into runs of neighbouring slots of one kind, covering all of it (the padding after a
 * slot goes with it; padding is zero in parameters and gradients, so no update moves it).
 */
export function paramRanges(params: Arena, kindOf: (name: string, shape: readonly number[]) => ParamKind): ParamRange[] {
  const slots = Object.entries(params.offsets).sort((a, b) => a[1] - b[1]);
  const ranges: ParamRange[] = [];
  for (const [name, offset] of slots) {
    const kind = kindOf(name, params.views[name].shape);
    const last = ranges.at(-1);
    if (last?.kind === kind) continue;
    if (last) last.end = offset;
    ranges.push({ start: last ? offset : 0, end: params.all.size, kind });
  }
  return ranges;
}

interface Part {
  params: Tensor;
  m: Tensor;
  v: Tensor;
  grads: Tensor;
  decayed: boolean;
}

export class AdamW {
  readonly m: Tensor;
  readonly v: Tensor;
  /** Sum of squares of the trainable gradients at the last step, [1]: sqrt of it is the global norm. */
  readonly gradSumSq: Tensor;
  /** Steps taken so far (the next update is step + 1, for the bias corrections). */
  step = 0;
  /** One entry per dispatch (frozen ranges have none). */
  private readonly parts: Part[];
  /** With frozen tensors: each part's sum of squares, then the running sums (the last is gradSumSq). */
  private readonly partSums: Tensor[] = [];
  private readonly runningSums: Tensor[] = [];

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
    const names = Object.keys(params.views);
    const trainable = config.trainable;
    if (trainable) {
      if (trainable.length === 0) throw new Error('AdamW: trainable names no parameter; leave it out to train all');
      for (const n of trainable)
        if (!names.includes(n))
          throw new Error(`AdamW: unknown parameter "${n}" in trainable; this model has ${names.join(', ')}`);
    }
    this.m = rt.empty(params.all.shape, 'f32', 'adamw.m');
    this.v = rt.empty(params.all.shape, 'f32', 'adamw.v');
    const wd = config.weightDecay ?? 0;
    const ranges = paramRanges(params, (name, shape) =>
      trainable && !trainable.includes(name) ? 'frozen' : wd > 0 && isDecayed(shape, decay) ? 'decayed' : 'undecayed',
    );
    const live = ranges.filter((r) => r.kind !== 'frozen');
    this.parts =
      ranges.length === 1
        ? [{ params: params.all, m: this.m, v: this.v, grads: grads.all, decayed: ranges[0].kind === 'decayed' }]
        : live.map(({ start, end, kind }) => {
            const view = (t: Tensor, label: string) => rt.view(t, start, [end - start], `adamw.${label}[${start}:${end}]`);
            const part = {
              params: view(params.all, 'params'),
              m: view(this.m, 'm'),
              v: view(this.v, 'v'),
              grads: view(grads.all, 'grads'),
            };
            return { ...part, decayed: kind === 'decayed' };
          });
    if (live.length === ranges.length || this.parts.length === 1) {
      // Nothing frozen (the norm of the whole arena), or one trainable part (the norm of its own).
      this.gradSumSq = rt.empty([1], 'f32', 'adamw.grad_sumsq');
    } else {
      for (const [i] of this.parts.entries()) this.partSums.push(rt.empty([1], 'f32', `adamw.grad_sumsq.part${i}`));
      for (let i = 1; i < this.parts.length; i++) this.runningSums.push(rt.empty([1], 'f32', `adamw.grad_sumsq.sum${i}`));
      this.gradSumSq = this.runningSums[this.runningSums.length - 1];
    }
  }

  /** One update from the gradients in the arena; `lr` overrides the configured rate (schedules). */
  update(lr = this.config.lr): void {
    this.step += 1;
    if (this.partSums.length) {
      for (const [i, p] of this.parts.entries()) sumsq(this.rt, this.partSums[i], p.grads);
      // Running sums in a fixed order: deterministic, and no tensor is read and written by one dispatch.
      let acc = this.partSums[0];
      for (let i = 1; i < this.parts.length; i++) {
        add(this.rt, this.runningSums[i - 1], acc, this.partSums[i]);
        acc = this.runningSums[i - 1];
      }
    } else sumsq(this.rt, this.gradSumSq, this.parts.length === 1 ? this.parts[0].grads : this.grads.all);
    const { decay: _, trainable: __, ...options } = this.config;
    for (const p of this.parts)
      adamw(this.rt, p.params, p.m, p.v, p.grads, this.gradSumSq, {
        ...options,
        weightDecay: p.decayed ? options.weightDecay : 0,
        lr,
        step: this.step,
      });
  }

  destroy(): void {
    for (const t of [this.m, this.v, ...this.partSums, ...this.runningSums]) t.destroy();
    if (!this.runningSums.includes(this.gradSumSq)) this.gradSumSq.destroy();
  }
}
