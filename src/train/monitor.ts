/**
 * Detects NaN/Inf on the GPU without reading tensors back: after each step the number of non-finite
 * gradient values is counted on the device (nonfinite_count) into a ring of per-step slots, read
 * back together with the loss every few steps; at each check the parameters are counted too (an
 * update can overflow them even from finite gradients). On a hit, the first bad step is known, and
 * one diagnostic pass counts per tensor so the error can name the gradients and parameters at fault.
 */
import type { Arena } from '../gpu/arena.ts';
import { UserError } from '../device/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { copy } from '../kernels/elementwise.ts';
import { nonfinite_count } from '../kernels/optim.ts';

/** A step produced NaN or Inf; the message names the step and the tensors. */
export class NonFiniteError extends UserError {
  override name = 'NonFiniteError';
  constructor(
    readonly step: number,
    readonly tensors: string[],
    detail: string,
  ) {
    super(detail);
  }
}

export class FiniteMonitor {
  private readonly slots: Tensor;
  private readonly slotViews: Tensor[];
  /** The slot after the ring: the parameters' count, taken at each check. */
  private readonly paramSlot: Tensor;
  /** Step number recorded in each slot (-1 = empty). */
  private readonly slotSteps: number[];
  private readonly stride: number;

  constructor(
    private readonly rt: Runtime,
    private readonly params: Arena,
    private readonly grads: Arena,
    /** How many steps may pass between checks (the ring's size). */
    readonly interval = 16,
  ) {
    this.stride = rt.limits.minStorageBufferOffsetAlignment / 4;
    this.slots = rt.empty([(interval + 1) * this.stride], 'u32', 'monitor.nonfinite');
    this.slotViews = Array.from({ length: interval }, (_, i) => rt.view(this.slots, i * this.stride, [1], `monitor.slot${i}`));
    this.paramSlot = rt.view(this.slots, interval * this.stride, [1], 'monitor.params');
    this.slotSteps = new Array(interval).fill(-1);
  }

  /** Count the gradients' non-finite values for `step` (call after the backward, before the update). */
  record(step: number): void {
    const i = step % this.interval;
    nonfinite_count(this.rt, this.slotViews[i], this.grads.all);
    this.slotSteps[i] = step;
  }

  /**
   * Count the parameters' NaN/Inf, read every slot back; throw NonFiniteError for the first step
   * with NaN/Inf gradients, or when the parameters or the loss are not finite.
   */
  async check(loss?: number): Promise<void> {
    nonfinite_count(this.rt, this.paramSlot, this.params.all);
    const counts = await this.rt.read(this.slots);
    const hits = this.slotSteps
      .map((step, i) => ({ step, count: counts[i * this.stride] }))
      .filter((h) => h.step >= 0 && h.count > 0)
      .sort((a, b) => a.step - b.step);
    const badParams = counts[this.interval * this.stride];
    this.slotSteps.fill(-1);
    if (hits.length === 0 && badParams === 0 && (loss === undefined || Number.isFinite(loss))) return;
    const step = hits[0]?.step ?? -1;
    const grads = await this.nonFiniteViews(this.grads);
    const params = await this.nonFiniteViews(this.params);
    const parts = [
      hits.length
        ? `${hits[0].count} non-finite gradient values at step ${step}`
        : badParams > 0
          ? `${badParams} non-finite parameter values`
          : `the loss is ${loss}`,
      grads.length ? `gradients with NaN/Inf now: ${grads.join(', ')}` : '',
      params.length ? `parameters with NaN/Inf now: ${params.join(', ')}` : '',
    ].filter(Boolean);
    throw new NonFiniteError(step, [...grads, ...params], `training blew up: ${parts.join('; ')}`);
  }

  /** The names of an arena's tensors holding NaN/Inf (a diagnostic pass: one count per tensor). */
  private async nonFiniteViews(arena: Arena): Promise<string[]> {
    const out = this.rt.empty([1], 'u32', 'monitor.count');
    const names: string[] = [];
    for (const [name, t] of Object.entries(arena.views)) {
      nonfinite_count(this.rt, out, t);
      if ((await this.rt.read(out))[0] > 0) names.push(name);
    }
    out.destroy();
    return names;
  }

  destroy(): void {
    this.slots.destroy();
  }
}

/** Where a phase stood at a passed check: what a rollback restores besides the tensors. */
export interface GoodState {
  /** Steps done in the phase, and in the run. */
  step: number;
  globalStep: number;
  optStep: number;
  rng: { counter: number; pos: number };
}

/**
 * The last checked state of a phase, kept on the GPU (plan.onNonFinite 'rollback'): the parameters
 * and the optimizer's moments copied after each passed check, copied back on a rollback. Copies on
 * the device only, no readback.
 */
export class LastGood {
  private readonly saved: Tensor[];
  private state: GoodState | undefined;

  constructor(
    private readonly rt: Runtime,
    /** The live tensors: the parameter arena and the optimizer's moments. */
    private readonly live: Tensor[],
  ) {
    this.saved = live.map((t) => rt.empty(t.shape, 'f32', `lastgood.${t.label}`));
  }

  take(state: GoodState): void {
    this.rt.batch('lastgood.take', () => {
      for (const [i, t] of this.live.entries()) copy(this.rt, this.saved[i], t);
    });
    this.state = { ...state, rng: { ...state.rng } };
  }

  /** Copy the saved tensors back; returns where the phase stood then. */
  restore(): GoodState {
    if (!this.state) throw new Error('LastGood.restore before take');
    this.rt.batch('lastgood.restore', () => {
      for (const [i, t] of this.live.entries()) copy(this.rt, t, this.saved[i]);
    });
    return { ...this.state, rng: { ...this.state.rng } };
  }

  destroy(): void {
    for (const t of this.saved) t.destroy();
  }
}
