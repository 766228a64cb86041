/**
 * An arena: one GPU buffer holding many named tensors (a model's parameters, their gradients, the
 * optimizer's moments), each a view aligned to the adapter's minStorageBufferOffsetAlignment. One
 * buffer lets a single dispatch update every parameter (AdamW) and a single reduction measure the
 * global gradient norm, while each kernel still binds just its own tensor.
 */
import type { Runtime } from './runtime.ts';
import { type Shape, type Tensor, numel } from './tensor.ts';

export interface ArenaSlot {
  name: string;
  shape: Shape;
}

export class Arena {
  /** The whole buffer as one flat tensor (padding between slots included, zero-filled). */
  readonly all: Tensor;
  readonly views: Record<string, Tensor> = {};
  /** Element offset of each slot in `all`. */
  readonly offsets: Record<string, number> = {};

  constructor(rt: Runtime, label: string, slots: readonly ArenaSlot[]) {
    const align = rt.limits.minStorageBufferOffsetAlignment / 4;
    let total = 0;
    for (const s of slots) {
      if (s.name in this.offsets) throw new Error(`arena ${label}: slot ${s.name} appears twice`);
      this.offsets[s.name] = total;
      total += Math.ceil(numel(s.shape) / align) * align;
    }
    this.all = rt.empty([Math.max(total, 1)], 'f32', label);
    for (const s of slots) this.views[s.name] = rt.view(this.all, this.offsets[s.name], s.shape, `${label}.${s.name}`);
  }

  destroy(): void {
    this.all.destroy();
  }
}
