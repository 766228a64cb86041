import { UserError } from '../device/errors.ts';

/** A shape, size or dtype that does not fit the kernel; raised before anything is encoded. */
export class ShapeError extends UserError {
  override name = 'ShapeError';
}

/** A tensor or dispatch beyond the adapter's limits; names the limit and its value. */
export class LimitError extends UserError {
  override name = 'LimitError';
}

/** Input data a kernel must not run on (NaN/Inf, out-of-range indices); says where. */
export class InputError extends UserError {
  override name = 'InputError';
}

/** A validation, out-of-memory or internal error raised by the GPU while running a kernel. */
export class KernelError extends Error {
  override name = 'KernelError';
  constructor(
    readonly kernel: string,
    readonly shapes: string,
    readonly kind: string,
    detail: string,
  ) {
    super(`kernel ${kernel} (${shapes}): GPU ${kind} error: ${detail}`);
  }
}

/** The device was lost (driver reset, destroy(), out of memory); the runtime cannot be used further. */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
}
