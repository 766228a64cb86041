/**
 * Hand-written CPU reference for the RL policy-gradient kernels (src/kernels/policy.ts): per-token
 * log-probabilities and entropies, group advantages (GRPO, RLOO, REINFORCE with a baseline) and the
 * gradient of the clipped-ratio loss with KL penalty and entropy bonus. Plain loops, f64 accumulation
 * (JS numbers), outputs first, then inputs, then sizes, then options. No GPU code.
 */

/** Row statistics of softmax(z) for z = logits[row .. row + V): max, log of the normaliser, entropy. */
function rowStats(logits: Float32Array, row: number, V: number): { max: number; logS: number; entropy: number } {
  let max = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[row + v]);
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[row + v] - max);
  const logS = Math.log(s);
  // H = -sum p log p with log p_v = z_v - max - logS.
  let entropy = 0;
  for (let v = 0; v < V; v++) {
    const logp = logits[row + v] - max - logS;
    entropy -= Math.exp(logp) * logp;
  }
  return { max, logS, entropy };
}

/**
 * logp [N] = log_softmax(logits[n, :])[tokens[n]], entropy [N] = -sum_v p_v log p_v with
 * p = softmax(logits[n, :]); both 0 where mask[n] == 0 (a gate: a nonzero mask keeps the full value).
 * logits [N, V], tokens [N] (integers in [0, V)), mask [N] or null (all ones).
 */
export function token_logprobs(
  logp: Float32Array,
  entropy: Float32Array,
  logits: Float32Array,
  tokens: Uint32Array,
  mask: Float32Array | null,
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    if (mask !== null && mask[n] === 0) {
      logp[n] = 0;
      entropy[n] = 0;
      continue;
    }
    const row = n * V;
    const st = rowStats(logits, row, V);
    logp[n] = logits[row + tokens[n]] - st.max - st.logS;
    entropy[n] = st.entropy;
  }
}

export const ADV_GRPO = 0;
export const ADV_RLOO = 1;
export const ADV_REINFORCE = 2;

export interface AdvantageOptions {
  /** 0 = GRPO, 1 = RLOO, 2 = REINFORCE with a baseline. */
  mode: number;
  /** GRPO: added to the std. */
  eps: number;
}

/**
 * adv [P, G] from rewards [P, G] (P prompts, G samples each), per group p:
 *  mode 0 (GRPO): (R - mean) / (std + eps), std the population std (divide by G);
 *  mode 1 (RLOO): R_i - mean of the other G - 1 rewards (G >= 2);
 *  mode 2 (REINFORCE): R - b, b = baseline[p] for a baseline [P], baseline[0] for a baseline [1],
 *    the mean of all P * G rewards when baseline is null.
 * flat [P] = 1 where all G rewards of the group are equal, else 0; in modes 0 and 1 such a group gets adv 0.
 */
export function advantages(
  adv: Float32Array,
  flat: Float32Array,
  rewards: Float32Array,
  baseline: Float32Array | null,
  P: number,
  G: number,
  opts: AdvantageOptions,
): void {
  const { mode, eps } = opts;
  if (mode === ADV_RLOO && G < 2) throw new Error(`advantages: RLOO needs an RL group size G >= 2, got ${G}`);
  let batchMean = 0;
  if (mode === ADV_REINFORCE && baseline === null) {
    for (let i = 0; i < P * G; i++) batchMean += rewards[i];
    batchMean /= P * G;
  }
  for (let p = 0; p < P; p++) {
    const row = p * G;
    let isFlat = true;
    let sum = 0;
    for (let i = 0; i < G; i++) {
      sum += rewards[row + i];
      if (rewards[row + i] !== rewards[row]) isFlat = false;
    }
    flat[p] = isFlat ? 1 : 0;
    const mean = sum / G;
    if (mode === ADV_REINFORCE) {
      const b = baseline === null ? batchMean : baseline.length === 1 ? baseline[0] : baseline[p];
      for (let i = 0; i < G; i++) adv[row + i] = rewards[row + i] - b;
    } else if (isFlat) {
      for (let i = 0; i < G; i++) adv[row + i] = 0;
    } else if (mode === ADV_GRPO) {
      let ss = 0;
      for (let i = 0; i < G; i++) ss += (rewards[row + i] - mean) ** 2;
      const std = Math.sqrt(ss / G);
      for (let i = 0; i < G; i++) adv[row + i] = (rewards[row + i] - mean) / (std + eps);
    } else {
      // Leave-one-out baseline, literally: the mean of the other G - 1 rewards.
      for (let i = 0; i < G; i++) {
        let others = 0;
        for (let j = 0; j < G; j++) if (j !== i) others += rewards[row + j];
        adv[row + i] = rewards[row + i] - others / (G - 1);
      }
    }
  }
}

export interface PolicyLossOptions {
  /** The ratio is clipped to [1 - epsLow, 1 + epsHigh]. */
  epsLow: number;
  epsHigh: number;
  /** Coefficient of the k3 KL estimate to the reference policy (ref_logp is read only when != 0). */
  beta: number;
  /** Coefficient of the entropy bonus. */
  entCoef: number;
  /** Multiplies the total loss and the gradient (see meanScale for the usual 1 / sum(mask)). */
  scale: number;
}

/** 1 / sum(mask) (1 / N without a mask; 0 when the sum is not positive): a mean over the masked-in tokens. */
export function meanScale(mask: ArrayLike<number> | null, N: number): number {
  let total = 0;
  if (mask === null) total = N;
  else for (let i = 0; i < mask.length; i++) total += mask[i];
  return total > 0 ? 1 / total : 0;
}

/**
 * The clipped-ratio policy loss with a KL penalty and an entropy bonus, to be minimised, per token n:
 *   logp = log_softmax(logits[n])[tokens[n]], ratio = exp(logp - old_logp[n]), A = adv[n],
 *   J = min(ratio * A, clamp(ratio, 1 - epsLow, 1 + epsHigh) * A),
 *   kl = exp(ref_logp[n] - logp) - (ref_logp[n] - logp) - 1, H = entropy of softmax(logits[n]),
 *   loss_n = -(J - beta * kl + entCoef * H);
 * total = scale * sum_n mask[n] * loss_n (returned, in f64).
 * Writes dlogits [N, V] = d total / d logits, losses [N] = mask[n] * loss_n, and clipped [N] = 1 where
 * the clipped term is strictly smaller than the unclipped one (its gradient is 0), else 0; rows with
 * mask 0 get zeros. logits [N, V], tokens [N], mask [N] or null (all ones), adv, old_logp [N],
 * ref_logp [N] (may be null when beta == 0).
 * The gradient is written independently of the loss (see shaders/policy_loss_backward.wgsl):
 *   dlogits[n, v] = scale * mask[n] * (a * ([v == t] - p_v) + entCoef * p_v * (log p_v + H)),
 *   a = -(clipped ? 0 : ratio * A) + beta * (1 - exp(ref_logp - logp)).
 */
export function policy_loss_backward(
  dlogits: Float32Array,
  losses: Float32Array,
  clipped: Float32Array,
  logits: Float32Array,
  tokens: Uint32Array,
  mask: Float32Array | null,
  adv: Float32Array,
  old_logp: Float32Array,
  ref_logp: Float32Array | null,
  N: number,
  V: number,
  opts: PolicyLossOptions,
): number {
  const { epsLow, epsHigh, beta, entCoef, scale } = opts;
  if (beta !== 0 && ref_logp === null) throw new Error('policy_loss_backward: beta != 0 needs ref_logp');
  let total = 0;
  for (let n = 0; n < N; n++) {
    const row = n * V;
    const w = mask === null ? 1 : mask[n];
    if (w === 0) {
      for (let v = 0; v < V; v++) dlogits[row + v] = 0;
      losses[n] = 0;
      clipped[n] = 0;
      continue;
    }
    const { max, logS, entropy: H } = rowStats(logits, row, V);
    const t = tokens[n];
    const logp = logits[row + t] - max - logS;
    const A = adv[n];
    const ratio = Math.exp(logp - old_logp[n]);
    const unclipped = ratio * A;
    const clippedTerm = Math.min(Math.max(ratio, 1 - epsLow), 1 + epsHigh) * A;
    const isClipped = clippedTerm < unclipped;
    const J = Math.min(unclipped, clippedTerm);
    let kl = 0;
    let dkl = 0;
    if (beta !== 0) {
      const x = (ref_logp as Float32Array)[n] - logp;
      kl = Math.expm1(x) - x;
      dkl = -Math.expm1(x);
    }
    const loss = -(J - beta * kl + entCoef * H);
    losses[n] = w * loss;
    clipped[n] = isClipped ? 1 : 0;
    total += w * loss;

    const g = scale * w;
    const a = -(isClipped ? 0 : ratio * A) + beta * dkl;
    for (let v = 0; v < V; v++) {
      const logpv = logits[row + v] - max - logS;
      const pv = Math.exp(logpv);
      dlogits[row + v] = g * (a * ((v === t ? 1 : 0) - pv) + entCoef * pv * (logpv + H));
    }
  }
  return scale * total;
}
