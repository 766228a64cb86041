/**
 * Registry entries for the RL policy-gradient kernels (src/kernels/policy.ts): token_logprobs,
 * advantages and policy_loss_backward, each with its CPU reference (src/reference/policy.ts), seeded
 * inputs and awkward cases.
 */
import { ShapeError } from '../gpu/errors.ts';
import { type Shape, shapeString } from '../gpu/tensor.ts';
import * as ref from '../reference/policy.ts';
import { type Rng, randomArray } from '../reference/random.ts';
import {
  arr,
  checkIndices,
  type Dims,
  f32,
  finite,
  type HostTensor,
  type KernelEntry,
  normal,
  num,
  type Options,
  outputs,
  type TensorDoc,
} from './entry.ts';
import { advantages, policy_loss_backward, token_logprobs } from './policy.ts';

function rowSizes(kernel: string, logits: { shape: Shape }): { N: number; V: number } {
  if (logits.shape.length !== 2) throw new ShapeError(`${kernel}: logits must be [N, V], got ${shapeString(logits.shape)}`);
  return { N: logits.shape[0], V: logits.shape[1] };
}

/** tokens must index into V (the GPU cannot check data before it runs). */
export function checkTokens(tokens: HostTensor, V: number): void {
  checkIndices('tokens', tokens, V, "V = logits' last dimension");
}

const u32 = (shape: number[], data: Uint32Array): HostTensor => ({ shape, data });
const f32arr = (t: HostTensor): Float32Array => t.data as Float32Array;

/**
 * Logits with outliers, a few rows shifted by +-1e4 (log-softmax is shift-invariant, so a lost max
 * subtraction shows), random tokens and a 0/1 mask with some 0.5 weights. dims.mask = 0 leaves the
 * mask out.
 */
function sampleRows(rng: Rng, { N, V, mask: withMask = 1 }: Dims): Record<string, HostTensor> {
  const logits = normal(rng, [N, V], 3);
  const z = f32arr(logits);
  for (let n = 0; n < N; n += 7) {
    const shift = n % 14 === 0 ? 1e4 : -1e4;
    for (let v = 0; v < V; v++) z[n * V + v] += shift;
  }
  const tokens = new Uint32Array(N);
  const mask = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    tokens[n] = rng.int(V);
    mask[n] = rng.next() < 0.2 ? 0 : rng.next() < 0.1 ? 0.5 : 1;
  }
  const out: Record<string, HostTensor> = { logits, tokens: u32([N], tokens) };
  if (withMask !== 0) out.mask = f32([N], mask);
  return out;
}

const rowInputs: TensorDoc[] = [
  { name: 'logits', dtype: 'f32', shape: '[N, V]' },
  { name: 'tokens', dtype: 'u32', shape: '[N], integers in [0, V)', doc: 'the sampled token of each position' },
];

// --------------------------------------------------------------------------------------------
// token_logprobs

const tokenLogprobsEntry: KernelEntry = {
  name: 'token_logprobs',
  summary: 'logp[n] = log_softmax(logits[n])[tokens[n]] and entropy[n] of softmax(logits[n]); 0 where mask = 0',
  inputs: [
    ...rowInputs,
    { name: 'mask', dtype: 'f32', shape: '[N]', optional: true, doc: 'a gate: 0 = output 0, nonzero = the value; default all 1' },
  ],
  options: [],
  outputs: [
    { name: 'logp', dtype: 'f32', shape: '[N]' },
    { name: 'entropy', dtype: 'f32', shape: '[N]', doc: '-sum_v p_v log p_v' },
  ],
  gpu(rt, { logits, tokens, mask }, _opts, host) {
    const { N, V } = rowSizes('token_logprobs', logits);
    if (host.tokens) checkTokens(host.tokens, V);
    const o = outputs(rt, { logp: [N], entropy: [N] }, 'token_logprobs');
    token_logprobs(rt, o.logp, o.entropy, logits, tokens, mask);
    return o;
  },
  cpu({ logits, tokens, mask }) {
    const { N, V } = rowSizes('token_logprobs', logits);
    checkTokens(tokens, V);
    const logp = f32([N]);
    const entropy = f32([N]);
    ref.token_logprobs(f32arr(logp), f32arr(entropy), f32arr(logits), tokens.data as Uint32Array, arr(mask), N, V);
    return { logp, entropy };
  },
  sample: sampleRows,
  checkDims: { N: 37, V: 129 },
  cases: [
    { dims: { N: 1, V: 1 } },
    { dims: { N: 3, V: 17 } },
    { dims: { N: 17, V: 3, mask: 0 } },
    { dims: { N: 129, V: 63 } },
    { dims: { N: 63, V: 257, mask: 0 } },
    { dims: { N: 257, V: 129 } },
    { dims: { N: 513, V: 600 } },
    { dims: { N: 2, V: 2049 } },
  ],
  // logp reaches |100| with the outliers; log and exp are within a few ulp on the GPU (SwiftShader
  // measured below 3e-8 absolute beyond rtol 2e-6).
  tolerance: () => ({ atol: 2e-7, rtol: 2e-6 }),
};

// --------------------------------------------------------------------------------------------
// advantages

/**
 * Rewards by group: every 5th group all equal (a non-dyadic value, so mean != value in f32 would
 * show), others 0/1 (rule-based, verifiable rewards) or continuous with outliers. dims.baseline = 1
 * adds a per-prompt baseline (mode 2 only).
 */
function sampleRewards(rng: Rng, { P, G, baseline = 0 }: Dims): Record<string, HostTensor> {
  const r = new Float32Array(P * G);
  for (let p = 0; p < P; p++) {
    const kind = p % 5 === 0 ? 0 : p % 3;
    const rate = rng.next();
    const level = 0.1 + rng.int(9) / 10;
    // GRPO divides R - mean by the std: for a group of nearly tied rewards (std << |R|) that
    // difference loses f32 digits (relative error ~ ulp(R) / std; the fuzzer found 1.4e-4 at G = 2),
    // so continuous groups keep their std above 0.05, as sample_tokens keeps u off CDF boundaries.
    let cont = randomArray(rng, G, { std: 0.7, mean: 0.3 });
    while (G > 1 && populationStd(cont) < 0.05) cont = randomArray(rng, G, { std: 0.7, mean: 0.3 });
    for (let i = 0; i < G; i++) r[p * G + i] = kind === 0 ? level : kind === 1 ? Number(rng.next() < rate) : cont[i];
  }
  const out: Record<string, HostTensor> = { rewards: f32([P, G], r) };
  if (baseline === 1) out.baseline = f32([P], randomArray(rng, P, { std: 0.3, mean: 0.4 }));
  return out;
}

function populationStd(r: Float32Array): number {
  let mean = 0;
  for (const v of r) mean += v / r.length;
  let ss = 0;
  for (const v of r) ss += (v - mean) ** 2;
  return Math.sqrt(ss / r.length);
}

function advSizes(rewards: { shape: Shape }, opts: Options): { P: number; G: number; mode: number } {
  if (rewards.shape.length !== 2) throw new ShapeError(`advantages: rewards must be [P, G], got ${shapeString(rewards.shape)}`);
  const [P, G] = rewards.shape;
  const mode = num(opts.mode, 0);
  if (mode === 1 && G < 2) {
    throw new ShapeError(`advantages: RL group size must be >= 2 for RLOO (mode 1), but rewards [${P}, ${G}] has G = ${G}`);
  }
  return { P, G, mode };
}

const advantagesEntry: KernelEntry = {
  name: 'advantages',
  summary: 'group advantages from rewards [P, G]: GRPO (R - mean) / (std + eps), RLOO, or REINFORCE R - baseline',
  inputs: [
    { name: 'rewards', dtype: 'f32', shape: '[P, G]', doc: 'P prompts, G samples of each' },
    {
      name: 'baseline',
      dtype: 'f32',
      shape: '[P] or [1]',
      optional: true,
      doc: 'mode 2 only: per-prompt baseline; default the mean of all rewards',
    },
  ],
  options: [
    {
      name: 'mode',
      type: 'number',
      default: 0,
      doc: '0 = GRPO (population std, divide by G), 1 = RLOO (leave-one-out mean, G >= 2), 2 = REINFORCE with a baseline',
      check: (v) => (v === 0 || v === 1 || v === 2 ? undefined : 'mode must be 0 (GRPO), 1 (RLOO) or 2 (REINFORCE)'),
    },
    {
      name: 'eps',
      type: 'number',
      default: 1e-6,
      doc: 'GRPO: added to the std',
      check: (v) => (Number.isFinite(v) && v >= 0 ? undefined : 'eps must be a finite number >= 0'),
    },
  ],
  outputs: [
    { name: 'adv', dtype: 'f32', shape: '[P, G]', doc: 'GRPO and RLOO give 0 in a group of equal rewards' },
    { name: 'flat', dtype: 'f32', shape: '[P]', doc: '1 where all G rewards of the group are equal (no signal), else 0' },
  ],
  gpu(rt, { rewards, baseline }, opts) {
    const { P, G, mode } = advSizes(rewards, opts);
    const o = outputs(rt, { adv: [P, G], flat: [P] }, 'advantages');
    advantages(rt, o.adv, o.flat, rewards, baseline, { mode, eps: num(opts.eps, 1e-6) });
    return o;
  },
  cpu({ rewards, baseline }, opts) {
    const { P, G, mode } = advSizes(rewards, opts);
    if (baseline && mode !== 2) throw new ShapeError(`advantages: input baseline is only used with mode 2, got mode ${mode}`);
    const adv = f32([P, G]);
    const flat = f32([P]);
    ref.advantages(f32arr(adv), f32arr(flat), f32arr(rewards), arr(baseline), P, G, { mode, eps: num(opts.eps, 1e-6) });
    return { adv, flat };
  },
  sample: sampleRewards,
  checkDims: { P: 37, G: 16 },
  cases: [
    { dims: { P: 1, G: 1 } },
    { dims: { P: 1, G: 1 }, options: { mode: 2 } },
    { dims: { P: 3, G: 17 } },
    { dims: { P: 17, G: 3 }, options: { mode: 1 } },
    { dims: { P: 63, G: 2 }, options: { mode: 1 } },
    { dims: { P: 129, G: 63 }, options: { mode: 2 } },
    { dims: { P: 257, G: 8, baseline: 1 }, options: { mode: 2 } },
    { dims: { P: 129, G: 16 }, options: { mode: 0, eps: 0.1 } },
    { dims: { P: 600, G: 16 } },
    { dims: { P: 3, G: 520 } },
    { dims: { P: 520, G: 5 }, options: { mode: 1 } },
    { dims: { P: 2, G: 600 }, options: { mode: 1 } },
    { dims: { P: 513, G: 4, baseline: 1 }, options: { mode: 2 } },
    // Found by the fuzzer: many groups of two (nearly tied pairs, see sampleRewards), and long groups.
    { dims: { P: 32767, G: 2 } },
    { dims: { P: 3, G: 4095 } },
  ],
  // f32 sums over G in index order: the mean's rounding grows like sqrt(G) ulp; GRPO divides by the
  // std (SwiftShader measured below 3.2e-7 absolute beyond rtol 1e-5 at G = 16, and 1.6e-5 relative
  // at G = 4095).
  tolerance: ({ G }) => ({ atol: 2e-7 * Math.sqrt(G), rtol: 1e-5 + 5e-7 * Math.sqrt(G) }),
};

// --------------------------------------------------------------------------------------------
// policy_loss_backward

function lossOpts(opts: Options): Required<ref.PolicyLossOptions> {
  return {
    epsLow: num(opts.epsLow, 0.2),
    epsHigh: num(opts.epsHigh, 0.2),
    beta: num(opts.beta, 0),
    entCoef: num(opts.entCoef, 0),
    scale: num(opts.scale, 0),
  };
}

/** The option scale, or 1 / sum(mask) when it is 0. */
const resolveScale = (scale: number, mask: HostTensor | undefined, N: number): number =>
  scale !== 0 ? scale : ref.meanScale(mask ? mask.data : null, N);

/**
 * Rows as above, advantages N(0, 1) with some exact zeros, old_logp = logp - rho with the log-ratio
 * rho ~ N(0, 0.3) kept at least 1e-3 away from the clip boundaries (where the min is not
 * differentiable, so f32 and f64 could pick different branches), ref_logp = logp + N(0, 0.3).
 * dims.ref = 0 leaves ref_logp out.
 */
function samplePolicy(rng: Rng, dims: Dims, opts: Options): Record<string, HostTensor> {
  const { N, V, ref: withRef = 1 } = dims;
  const rows = sampleRows(rng, dims);
  const { epsLow, epsHigh } = lossOpts(opts);
  const logp = new Float32Array(N);
  ref.token_logprobs(logp, new Float32Array(N), f32arr(rows.logits), rows.tokens.data as Uint32Array, null, N, V);
  const adv = randomArray(rng, N);
  const old = new Float32Array(N);
  const refLogp = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    if (rng.next() < 0.05) adv[n] = 0;
    let rho = 0.3 * rng.normal();
    for (;;) {
      old[n] = logp[n] - rho;
      const ratio = Math.exp(logp[n] - old[n]);
      if (Math.abs(ratio - (1 + epsHigh)) > 1e-3 && Math.abs(ratio - (1 - epsLow)) > 1e-3) break;
      rho += 0.01;
    }
    refLogp[n] = logp[n] + 0.3 * rng.normal();
  }
  const out: Record<string, HostTensor> = { ...rows, adv: f32([N], adv), old_logp: f32([N], old) };
  if (withRef !== 0) out.ref_logp = f32([N], refLogp);
  return out;
}

const policyLossEntry: KernelEntry = {
  name: 'policy_loss_backward',
  summary: 'gradient w.r.t. logits of the clipped-ratio policy loss with k3 KL penalty and entropy bonus (GRPO/PPO)',
  inputs: [
    ...rowInputs,
    { name: 'mask', dtype: 'f32', shape: '[N]', optional: true, doc: 'per-token weight, 1 on generated tokens; default all 1' },
    { name: 'adv', dtype: 'f32', shape: '[N]', doc: "per-token advantage (a sequence's advantage broadcast over its tokens)" },
    { name: 'old_logp', dtype: 'f32', shape: '[N]', doc: 'log-prob of the token under the policy that sampled it' },
    {
      name: 'ref_logp',
      dtype: 'f32',
      shape: '[N]',
      optional: true,
      doc: 'log-prob under the frozen reference; needed when beta != 0',
    },
  ],
  options: [
    {
      name: 'epsLow',
      type: 'number',
      default: 0.2,
      doc: 'the ratio is clipped below at 1 - epsLow',
      check: (v) => (v >= 0 && v <= 1 ? undefined : 'epsLow must be in [0, 1]'),
    },
    {
      name: 'epsHigh',
      type: 'number',
      default: 0.2,
      doc: 'the ratio is clipped above at 1 + epsHigh (asymmetric allowed, e.g. 0.28)',
      check: (v) => (Number.isFinite(v) && v >= 0 ? undefined : 'epsHigh must be a finite number >= 0'),
    },
    { name: 'beta', type: 'number', default: 0, doc: 'KL coefficient (k3 estimator; needs ref_logp)', check: finite('beta') },
    { name: 'entCoef', type: 'number', default: 0, doc: 'entropy bonus coefficient', check: finite('entCoef') },
    {
      name: 'scale',
      type: 'number',
      default: 0,
      doc: 'loss and gradient scale; 0 means 1 / sum(mask), the mean over generated tokens',
      check: finite('scale'),
    },
  ],
  outputs: [
    { name: 'dlogits', dtype: 'f32', shape: '[N, V]', doc: 'd loss / d logits' },
    { name: 'losses', dtype: 'f32', shape: '[N]', doc: 'mask[n] * loss_n; the total loss is scale * sum(losses)' },
    { name: 'clipped', dtype: 'f32', shape: '[N]', doc: '1 where the clipped branch is the min (zero gradient), else 0' },
  ],
  gpu(rt, { logits, tokens, mask, adv, old_logp, ref_logp }, opts, host) {
    const { N, V } = rowSizes('policy_loss_backward', logits);
    if (host.tokens) checkTokens(host.tokens, V);
    const o = lossOpts(opts);
    const out = outputs(rt, { dlogits: [N, V], losses: [N], clipped: [N] }, 'policy_loss_backward');
    policy_loss_backward(rt, out.dlogits, out.losses, out.clipped, logits, tokens, mask, adv, old_logp, ref_logp, o);
    return out;
  },
  cpu({ logits, tokens, mask, adv, old_logp, ref_logp }, opts) {
    const { N, V } = rowSizes('policy_loss_backward', logits);
    checkTokens(tokens, V);
    const o = lossOpts(opts);
    if (o.beta !== 0 && !ref_logp) throw new ShapeError(`policy_loss_backward: option beta = ${o.beta} needs the input ref_logp`);
    const dlogits = f32([N, V]);
    const losses = f32([N]);
    const clipped = f32([N]);
    ref.policy_loss_backward(
      f32arr(dlogits),
      f32arr(losses),
      f32arr(clipped),
      f32arr(logits),
      tokens.data as Uint32Array,
      arr(mask),
      f32arr(adv),
      f32arr(old_logp),
      arr(ref_logp),
      N,
      V,
      { ...o, scale: resolveScale(o.scale, mask, N) },
    );
    return { dlogits, losses, clipped };
  },
  sample: samplePolicy,
  checkDims: { N: 37, V: 129 },
  cases: [
    { dims: { N: 1, V: 1 }, options: { beta: 0.1, entCoef: 0.01 } },
    { dims: { N: 3, V: 17 }, options: { epsLow: 0.2, epsHigh: 0.28, beta: 0.05, entCoef: 0.02, scale: 1 } },
    { dims: { N: 17, V: 3, mask: 0, ref: 0 } },
    { dims: { N: 129, V: 63 }, options: { beta: 0.04 } },
    { dims: { N: 63, V: 257, ref: 0 }, options: { entCoef: 0.01, scale: 1 } },
    { dims: { N: 257, V: 129, mask: 0 }, options: { epsLow: 0.1, epsHigh: 0.3, beta: 0.1, entCoef: 0.05 } },
    { dims: { N: 513, V: 600 }, options: { epsHigh: 0.28, beta: 0.04, entCoef: 0.01, scale: 0.5 } },
    { dims: { N: 2, V: 2049 }, options: { beta: 0.2, entCoef: 0.1, scale: 1 } },
    // Found by the fuzzer: many short rows with the entropy bonus.
    { dims: { N: 8191, V: 2 }, options: { epsLow: 0.1, epsHigh: 0.28, entCoef: 0.01, scale: 0.5 } },
  ],
  // The kernel rounds logp = (z_t - m) - log s at ~ulp(|logp|) (|logp| up to ~100 with the outlier
  // logits), as rounding old_logp or ref_logp to f32 would: ratio = exp(logp - old_logp) carries
  // ~u |logp| <= 1e-5 relative (inside rtol), and a = -ratio A + beta (1 - exp(ref_logp - logp))
  // an absolute error ~u |logp| (ratio |A| + beta exp(x)), x = ref_logp - logp. Where a is small
  // (beta term alone, clipped or adv = 0, with x ~ 0; or the two terms cancelling) that error is
  // large relative to a, so the bound is absolute: |scale mask| |[v == t] - p_v| times it. Measured
  // on SwiftShader: 7.6e-7 beyond rtol 2e-5 (fuzz seed 1, N=7, V=131, beta 0.2: logp = -69.016,
  // x = -5.3e-3, so 0.2 * ulp(69) / 2 = 7.6e-7 on dlogits ~ 1.05e-3); 7.2e-7 at most over 1050
  // sampled shapes with beta 0.2, each excess above 1e-7 within that bound. Without beta
  // (a = -ratio A) it stays below 5e-10 beyond rtol (5.6M elements), so atol 1e-7 there: tight
  // enough to catch the 1 - p_k cancellation this kernel had (5.8e-7).
  tolerance: (_dims, o = {}) => ({ atol: num(o.beta, 0) > 0 ? 1.5e-6 : 1e-7, rtol: 2e-5 }),
};

export const policyKernels: KernelEntry[] = [tokenLogprobsEntry, advantagesEntry, policyLossEntry];
