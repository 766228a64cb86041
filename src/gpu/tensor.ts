/**
 * A tensor is a GPU storage buffer with a shape and an element type. Row-major, contiguous.
 */
export type DType = 'f32' | 'u32';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A tensor owns its buffer, or is a view of part of another tensor's buffer (see Runtime.view):
 * `offset` is in bytes and kernels bind exactly [offset, offset + byteLength).
 */
export class Tensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly label: string,
    readonly offset = 0,
    readonly isView = false,
    private onDestroy?: () => void,
  ) {}

  get size(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.size * 4;
  }

  toString(): string {
    return `${this.label}${shapeString(this.shape)}:${this.dtype}`;
  }

  /** Frees the buffer; a view frees nothing (its parent owns the buffer). */
  destroy(): void {
    if (this.isView) return;
    this.buffer.destroy();
    this.onDestroy?.();
    this.onDestroy = undefined;
  }

  /** Whether two tensors bind overlapping bytes of one buffer. */
  overlaps(other: Tensor): boolean {
    return (
      this.buffer === other.buffer &&
      this.offset < other.offset + other.byteLength &&
      other.offset < this.offset + this.byteLength
    );
  }
}
