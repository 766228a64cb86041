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

export class Tensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly label: string,
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

  destroy(): void {
    this.buffer.destroy();
  }
}
