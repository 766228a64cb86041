/**
 * Detects NaN/Inf on the GPU without reading tensors back: after each step the number of non-finite
 * gradient values is counted on the device (nonfinite_count) into a ring of per-step slots, read
 * back together with the loss every few steps. On a hit, the first bad step is known, and one
 * diagnostic pass counts per tensor so the error can name the gradients and parameters at fault.
 */
import type { Arena } from '../gpu/arena.ts';
import { UserError } from '../device/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
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
    this.slots = rt.empty([interval * this.stride], 'u32', 'monitor.nonfinite');
    this.slotViews = Array.from({ length: interval }, (_, i) => rt.view(this.slots, i * this.stride, [1], `monitor.slot${i}`));
    this.slotSteps = new Array(interval).fill(-1);
  }

  /** Count the gradients' non-finite values for `step` (call after the backward, before the update). */
  record(step: number): void {
    const i = step % this.interval;
    nonfinite_count(this.rt, this.slotViews[i], this.grads.all);
    this.slotSteps[i] = step;
  }

  /** Read the slots back; throw NonFiniteError for the first step with NaN/Inf gradients. */
  async check(loss?: number): Promise<void> {
    const counts = await this.rt.read(this.slots);
    const hits = this.slotSteps
      .map((step, i) => ({ step, count: counts[i * this.stride] }))
      .filter((h) => h.step >= 0 && h.count > 0)
      .sort((a, b) => a.step - b.step);
    this.slotSteps.fill(-1);
    if (hits.length === 0 && (loss === undefined || Number.isFinite(loss))) return;
    const step = hits[0]?.step ?? -1;
    const grads = await this.nonFiniteViews(this.grads);
    const params = await this.nonFiniteViews(this.params);
    const parts = [
      hits.length ? `${hits[0].count} non-finite gradient values at step ${step}` : `the loss is ${loss}`,
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
