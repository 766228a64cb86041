/**
 * RL policy-gradient kernels for a token policy: per-token log-probabilities and entropies, group
 * advantages (GRPO, RLOO, REINFORCE with a baseline), and the gradient of the clipped-ratio loss with a
 * KL penalty and an entropy bonus. The CPU reference is src/reference/policy.ts.
 */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import { type Tensor, shapeString } from '../gpu/tensor.ts';
import { WG_1D, dummy, expectDType, expectDistinct, expectRank, expectShape, grid1d, shapesOf } from './common.ts';
import { copy } from './elementwise.ts';
import { mean, sum } from './reduce.ts';

const tokenLogprobsSpec: KernelSpec<'N' | 'V' | 'has_mask'> = {
  name: 'token_logprobs',
  shader: shaders.token_logprobs,
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['has_mask', 'u32'],
  ],
  bindings: [
    { name: 'logits', access: 'read' },
    { name: 'tokens', access: 'read' },
    { name: 'mask', access: 'read' },
    { name: 'logp', access: 'read_write' },
    { name: 'entropy', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const advantagesSpec: KernelSpec<'P' | 'G' | 'mode' | 'baseline_kind' | 'eps'> = {
  name: 'advantages',
  shader: shaders.advantages,
  params: [
    ['P', 'u32'],
    ['G', 'u32'],
    ['mode', 'u32'],
    ['baseline_kind', 'u32'],
    ['eps', 'f32'],
  ],
  bindings: [
    { name: 'rewards', access: 'read' },
    { name: 'baseline', access: 'read' },
    { name: 'adv', access: 'read_write' },
    { name: 'flat', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ P }) => grid1d(P),
};

type PolicyLossParam = 'N' | 'V' | 'S' | 'has_mask' | 'scale_from_sum' | 'scale' | 'eps_low' | 'eps_high' | 'beta' | 'ent_coef';

const policyLossBackwardSpec: KernelSpec<PolicyLossParam> = {
  name: 'policy_loss_backward',
  shader: shaders.policy_loss_backward,
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['S', 'u32'],
    ['has_mask', 'u32'],
    ['scale_from_sum', 'u32'],
    ['scale', 'f32'],
    ['eps_low', 'f32'],
    ['eps_high', 'f32'],
    ['beta', 'f32'],
    ['ent_coef', 'f32'],
  ],
  // Eight storage buffers, the WebGPU default limit per shader stage: adv, old_logp and ref_logp
  // travel packed in one buffer (token_in) that the wrapper fills.
  bindings: [
    { name: 'logits', access: 'read' },
    { name: 'tokens', access: 'read' },
    { name: 'mask', access: 'read' },
    { name: 'token_in', access: 'read' },
    { name: 'mask_sum', access: 'read' },
    { name: 'dlogits', access: 'read_write' },
    { name: 'losses', access: 'read_write' },
    { name: 'clipped', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

/** logits [N, V] f32, tokens [N] u32, mask [N] f32 or none; returns N and V. */
function checkRows(k: string, logits: Tensor, tokens: Tensor, mask: Tensor | undefined): { N: number; V: number } {
  expectRank(k, 'logits', logits, [2]);
  expectDType(k, 'logits', logits, 'f32');
  const [N, V] = logits.shape;
  expectDType(k, 'tokens', tokens, 'u32');
  expectShape(k, 'tokens', tokens, [N]);
  if (mask) {
    expectDType(k, 'mask', mask, 'f32');
    expectShape(k, 'mask', mask, [N]);
  }
  return { N, V };
}

function checkOption(k: string, name: string, v: number, ok: boolean, valid: string): void {
  if (!Number.isFinite(v) || !ok) throw new ShapeError(`${k}: option ${name} = ${v} is not allowed; it must be ${valid}`);
}

/**
 * logp [N] = log_softmax(logits[n])[tokens[n]] and entropy [N] = -sum_v p_v log p_v (p = softmax of
 * row n), both 0 where mask[n] == 0 (a gate: nonzero mask values keep the full value).
 * logits [N, V] f32, tokens [N] u32 in [0, V) (the caller checks the range), mask [N] f32 or none.
 */
export function token_logprobs(rt: Runtime, logp: Tensor, entropy: Tensor, logits: Tensor, tokens: Tensor, mask?: Tensor): void {
  const k = 'token_logprobs';
  const { N, V } = checkRows(k, logits, tokens, mask);
  for (const [name, t] of [
    ['logp', logp],
    ['entropy', entropy],
  ] as const) {
    expectDType(k, name, t, 'f32');
    expectShape(k, name, t, [N]);
  }
  expectDistinct(k, { logp, entropy }, { logits, tokens, mask });
  rt.dispatch(tokenLogprobsSpec, {
    params: { N, V, has_mask: Number(!!mask) },
    tensors: { logits, tokens, mask: mask ?? dummy(rt), logp, entropy },
    shapes: shapesOf({ logits, tokens, mask, logp, entropy }),
  });
}

/** Advantage estimators of `advantages`. */
export const AdvantageMode = { GRPO: 0, RLOO: 1, REINFORCE: 2 } as const;

export interface AdvantagesOptions {
  /**
   * 0 = GRPO: (R - mean) / (std + eps) within each group, std the population std (divide by G);
   * 1 = RLOO: R_i - mean of the other G - 1 rewards of the group (needs G >= 2);
   * 2 = REINFORCE with a baseline: R - b, b from the input baseline, or the mean of all P * G rewards.
   * Default 0.
   */
  mode?: number;
  /** GRPO only: added to the std (default 1e-6). */
  eps?: number;
}

/**
 * adv [P, G] from rewards [P, G] (P prompts, G samples each), and flat [P] = 1 where all G rewards of
 * the group are equal (a group to skip: GRPO and RLOO give it adv 0 exactly), else 0.
 * baseline: [P] (one per prompt) or [1] (one for all), only with mode 2; absent in mode 2, the batch
 * mean of all rewards is computed on the device (deterministically) and used.
 */
export function advantages(
  rt: Runtime,
  adv: Tensor,
  flat: Tensor,
  rewards: Tensor,
  baseline: Tensor | undefined,
  opts: AdvantagesOptions = {},
): void {
  const k = 'advantages';
  const { mode = AdvantageMode.GRPO, eps = 1e-6 } = opts;
  checkOption(k, 'mode', mode, mode === 0 || mode === 1 || mode === 2, '0 (GRPO), 1 (RLOO) or 2 (REINFORCE with a baseline)');
  checkOption(k, 'eps', eps, eps >= 0, 'a finite number >= 0');
  expectRank(k, 'rewards', rewards, [2]);
  expectDType(k, 'rewards', rewards, 'f32');
  const [P, G] = rewards.shape;
  if (mode === AdvantageMode.RLOO && G < 2) {
    throw new ShapeError(
      `${k}: RL group size must be >= 2 for RLOO (mode 1), but rewards ${shapesOf({ rewards })} has G = ${G} samples per prompt`,
    );
  }
  expectDType(k, 'adv', adv, 'f32');
  expectShape(k, 'adv', adv, [P, G]);
  expectDType(k, 'flat', flat, 'f32');
  expectShape(k, 'flat', flat, [P]);
  if (baseline) {
    if (mode !== AdvantageMode.REINFORCE) {
      throw new ShapeError(`${k}: input baseline is only used with mode 2 (REINFORCE with a baseline), got mode ${mode}`);
    }
    expectDType(k, 'baseline', baseline, 'f32');
    if (baseline.shape.length !== 1 || (baseline.shape[0] !== P && baseline.shape[0] !== 1)) {
      throw new ShapeError(`${k}: baseline has shape ${shapeString(baseline.shape)}, expected [${P}] (one per prompt) or [1]`);
    }
  }
  expectDistinct(k, { adv, flat }, { rewards, baseline });
  const shapes = shapesOf({ rewards, baseline, adv, flat }) + ` mode ${mode}`;
  let b = baseline;
  let temp: Tensor | undefined;
  if (mode === AdvantageMode.REINFORCE && !b) {
    temp = rt.empty([1], 'f32', 'advantages.batch_mean');
    mean(rt, temp, rewards);
    b = temp;
  }
  const baseline_kind = mode !== AdvantageMode.REINFORCE ? 0 : b && b.shape[0] === P && !temp ? 1 : 2;
  rt.dispatch(advantagesSpec, {
    params: { P, G, mode, baseline_kind, eps },
    tensors: { rewards, baseline: b ?? dummy(rt), adv, flat },
    shapes,
  });
  if (temp) rt.release(temp);
}

export interface PolicyLossOptions {
  /** The ratio is clipped below at 1 - epsLow (default 0.2). */
  epsLow?: number;
  /** The ratio is clipped above at 1 + epsHigh (default 0.2; may differ from epsLow, e.g. 0.28). */
  epsHigh?: number;
  /** Coefficient of the k3 KL estimate to the reference policy (default 0; != 0 needs ref_logp). */
  beta?: number;
  /** Coefficient of the entropy bonus (default 0). */
  entCoef?: number;
  /**
   * Multiplies the total loss and its gradient. Default 0, which means 1 / sum(mask) (1 / N without a
   * mask; 0 when the sum is not positive): the mean over the generated tokens, the mask summed on the
   * device.
   */
  scale?: number;
}

/**
 * The gradient of the clipped-ratio policy loss (PPO / GRPO style, to be minimised) with respect to
 * the logits, per token: loss_n = -(min(r A, clamp(r, 1 - epsLow, 1 + epsHigh) A) - beta * kl +
 * entCoef * H), r = exp(logp - old_logp), kl the k3 estimate exp(ref - logp) - (ref - logp) - 1, H the
 * entropy of softmax(logits[n]); total = scale * sum_n mask[n] * loss_n (see
 * shaders/policy_loss_backward.wgsl for the derivative).
 * Outputs: dlogits [N, V] = d total / d logits; losses [N] = mask[n] * loss_n (scale * sum(losses) is
 * the total); clipped [N] = 1 where the clipped term is strictly the min (zero gradient), else 0.
 * Inputs: logits [N, V], tokens [N] u32 in [0, V), mask [N] or none (all ones), adv [N] (per token:
 * broadcast a sequence's advantage over its tokens), old_logp [N] (the sampling policy's log-prob of the
 * token), ref_logp [N] (the reference policy's; needed only when beta != 0).
 */
export function policy_loss_backward(
  rt: Runtime,
  dlogits: Tensor,
  losses: Tensor,
  clipped: Tensor,
  logits: Tensor,
  tokens: Tensor,
  mask: Tensor | undefined,
  adv: Tensor,
  old_logp: Tensor,
  ref_logp: Tensor | undefined,
  opts: PolicyLossOptions = {},
): void {
  const k = 'policy_loss_backward';
  const { epsLow = 0.2, epsHigh = 0.2, beta = 0, entCoef = 0, scale = 0 } = opts;
  checkOption(k, 'epsLow', epsLow, epsLow >= 0 && epsLow <= 1, 'in [0, 1]');
  checkOption(k, 'epsHigh', epsHigh, epsHigh >= 0, 'a finite number >= 0');
  checkOption(k, 'beta', beta, true, 'a finite number');
  checkOption(k, 'entCoef', entCoef, true, 'a finite number');
  checkOption(k, 'scale', scale, true, 'a finite number (0 means 1 / sum(mask))');
  const { N, V } = checkRows(k, logits, tokens, mask);
  for (const [name, t] of [
    ['adv', adv],
    ['old_logp', old_logp],
    ['ref_logp', ref_logp],
  ] as const) {
    if (!t) continue;
    expectDType(k, name, t, 'f32');
    expectShape(k, name, t, [N]);
  }
  if (beta !== 0 && !ref_logp) {
    throw new ShapeError(`${k}: option beta = ${beta} needs the input ref_logp [${N}] (the reference policy's log-probs)`);
  }
  for (const [name, t] of [
    ['dlogits', dlogits],
    ['losses', losses],
    ['clipped', clipped],
  ] as const) {
    expectDType(k, name, t, 'f32');
    expectShape(k, name, t, name === 'dlogits' ? [N, V] : [N]);
  }
  expectDistinct(k, { dlogits, losses, clipped }, { logits, tokens, mask, adv, old_logp, ref_logp });
  const shapes = shapesOf({ logits, tokens, mask, adv, old_logp, ref_logp, dlogits });

  // Pack adv, old_logp and ref_logp into planes of S elements each (S a multiple of 64, so every
  // plane starts on a 256-byte boundary, a valid storage offset on every adapter).
  const S = Math.ceil(N / 64) * 64;
  const temps: Tensor[] = [];
  const tokenIn = rt.empty([3 * S], 'f32', `${k}.token_in`);
  temps.push(tokenIn);
  const planes: [Tensor, number][] = [
    [adv, 0],
    [old_logp, 1],
  ];
  if (beta !== 0 && ref_logp) planes.push([ref_logp, 2]);
  for (const [src, i] of planes) copy(rt, rt.view(tokenIn, i * S, [N], `${k}.token_in[${i}]`), src);

  let scaleFromSum = 0;
  let s = scale;
  let maskSum = dummy(rt);
  if (scale === 0) {
    if (mask) {
      maskSum = rt.empty([1], 'f32', `${k}.mask_sum`);
      temps.push(maskSum);
      sum(rt, maskSum, mask);
      scaleFromSum = 1;
    } else {
      s = 1 / N;
    }
  }
  rt.dispatch(policyLossBackwardSpec, {
    params: {
      N,
      V,
      S,
      has_mask: Number(!!mask),
      scale_from_sum: scaleFromSum,
      scale: s,
      eps_low: epsLow,
      eps_high: epsHigh,
      beta,
      ent_coef: entCoef,
    },
    tensors: { logits, tokens, mask: mask ?? dummy(rt), token_in: tokenIn, mask_sum: maskSum, dlogits, losses, clipped },
    shapes,
  });
  for (const t of temps) rt.release(t);
}
