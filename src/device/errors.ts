/**
 * Errors a user can cause or fix (bad input, missing driver, limits). The command line prints
 * their message without a stack trace and exits non-zero; anything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  override name = 'UserError';
}

/** No WebGPU adapter could be had: the message says what to install or enable. */
export class NoWebGPUError extends UserError {
  override name = 'NoWebGPUError';
}
