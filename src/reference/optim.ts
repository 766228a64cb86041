/**
 * CPU reference for the optimizer kernels (src/kernels/optim.ts): AdamW, the global squared gradient
 * norm, and the count of non-finite values. Same conventions as src/reference/kernels.ts: plain loops,
 * f64 arithmetic (JS numbers), f32 results stored at the end; outputs (here: state updated in place)
 * first, then inputs, then sizes, then options. It depends on no GPU code and validates nothing
 * beyond what a comment states (the GPU wrappers check shapes and option ranges).
 */

// ---------------------------------------------------------------------------------------------
// AdamW

export interface AdamWReferenceOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** 1-based step number, for the bias corrections. */
  step: number;
  /** 0 = no clipping. */
  maxNorm?: number;
}

/**
 * One AdamW step (PyTorch semantics: decoupled weight decay on the old parameters), in place on
 * params [N], m [N], v [N], from grads [N] and gradSumSq [1] (the sum of squares of all gradients):
 *   clip = maxNorm > 0 ? min(1, maxNorm / (sqrt(gradSumSq) + 1e-6)) : 1
 *   g = clip * grads
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g²
 *   mhat = m / (1 - beta1^step), vhat = v / (1 - beta2^step)
 *   params = params - lr weightDecay params - lr mhat / (sqrt(vhat) + eps)
 * Defaults: beta1 0.9, beta2 0.999, eps 1e-8, weightDecay 0, maxNorm 0.
 */
export function adamw(
  params: Float32Array,
  m: Float32Array,
  v: Float32Array,
  grads: Float32Array,
  gradSumSq: Float32Array,
  N: number,
  opts: AdamWReferenceOptions,
): void {
  const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0, step, maxNorm = 0 } = opts;
  const clip = maxNorm > 0 ? Math.min(1, maxNorm / (Math.sqrt(gradSumSq[0]) + 1e-6)) : 1;
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  for (let i = 0; i < N; i++) {
    const g = grads[i] * clip;
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const mhat = mi / bc1;
    const vhat = vi / bc2;
    const p = params[i];
    params[i] = p - lr * weightDecay * p - (lr * mhat) / (Math.sqrt(vhat) + eps);
  }
}

// ---------------------------------------------------------------------------------------------
// reductions for the optimizer

/** out [1] = sum over every tensor of tensors (each any length) of the sum of its squares. */
export function global_norm_sumsq(out: Float32Array, tensors: readonly Float32Array[]): void {
  let acc = 0;
  for (const x of tensors) for (let i = 0; i < x.length; i++) acc += x[i] * x[i];
  out[0] = acc;
}

/** out [1] (u32) = how many values of x [N] are NaN, +Inf or -Inf. */
export function nonfinite_count(out: Uint32Array, x: Float32Array, N: number): void {
  let count = 0;
  for (let i = 0; i < N; i++) if (!Number.isFinite(x[i])) count++;
  out[0] = count;
}
