/**
 * The RL policy-gradient kernels (src/kernels/policy.ts): every registry case against the CPU
 * reference; the reference's loss gradient against finite differences; edge cases (huge logits,
 * all-equal groups, V = 1, bad shapes and options); determinism; and a bandit that must learn with
 * GRPO advantages and the clipped-ratio gradient. Runs in Node (Dawn) and in headless Chromium.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { policyKernels } from '../src/kernels/policy.entries.ts';
import { AdvantageMode, advantages, policy_loss_backward, token_logprobs } from '../src/kernels/policy.ts';
import { compare, type Tolerance } from '../src/reference/compare.ts';
import * as ref from '../src/reference/policy.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';
import { expectClose, fdGrad } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const bitsEqual = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length && new Uint32Array(a.buffer).every((v, i) => v === new Uint32Array(b.buffer)[i]);

// 1. Every registry entry and case runs in test/kernels.test.ts with the other kernels.

// --------------------------------------------------------------------------------------------
// 2. the CPU reference against definitions and finite differences

/** log_softmax(z)[t] and the entropy straight from the definitions, in f64. */
function naiveRow(z: ArrayLike<number>, t: number): { logp: number; entropy: number } {
  let denom = 0;
  for (let v = 0; v < z.length; v++) denom += Math.exp(z[v]);
  let entropy = 0;
  for (let v = 0; v < z.length; v++) {
    const p = Math.exp(z[v]) / denom;
    entropy -= p * Math.log(p);
  }
  return { logp: Math.log(Math.exp(z[t]) / denom), entropy };
}

describe('reference', () => {
  it('token_logprobs matches the definitions; the mask gates', () => {
    const rng = new Rng(11);
    const N = 4;
    const V = 6;
    const logits = randomArray(rng, N * V, { std: 2 });
    const tokens = Uint32Array.from([5, 0, 3, 2]);
    const mask = Float32Array.from([1, 0, 0.5, 1]);
    const logp = new Float32Array(N);
    const entropy = new Float32Array(N);
    ref.token_logprobs(logp, entropy, logits, tokens, mask, N, V);
    for (let n = 0; n < N; n++) {
      const want = naiveRow(logits.subarray(n * V, n * V + V), tokens[n]);
      expect(logp[n]).toBeCloseTo(mask[n] === 0 ? 0 : want.logp, 6);
      expect(entropy[n]).toBeCloseTo(mask[n] === 0 ? 0 : want.entropy, 6);
    }
  });

  it('advantages: GRPO, RLOO and REINFORCE on hand-computed groups', () => {
    const rewards = Float32Array.from([0, 1, 1, 0, 0.7, 0.7, 0.7, 0.7, 1, 2, 3, 6]);
    const [P, G] = [3, 4];
    const adv = new Float32Array(P * G);
    const flat = new Float32Array(P);
    ref.advantages(adv, flat, rewards, null, P, G, { mode: 0, eps: 1e-6 });
    const d = 0.5 / (0.5 + 1e-6); // mean 0.5, deviations +-0.5, population std 0.5
    const s3 = Math.sqrt((2 * 2 + 1 + 0 + 9) / 4); // group 3: mean 3
    expectClose(adv, [-d, d, d, -d, 0, 0, 0, 0, -2 / (s3 + 1e-6), -1 / (s3 + 1e-6), 0, 3 / (s3 + 1e-6)], EXACTISH, 'GRPO');
    expect(Array.from(flat)).toEqual([0, 1, 0]);
    ref.advantages(adv, flat, rewards, null, P, G, { mode: 1, eps: 0 });
    // RLOO: R_i - mean of the other three.
    expectClose(adv, [-2 / 3, 2 / 3, 2 / 3, -2 / 3, 0, 0, 0, 0, 1 - 11 / 3, 2 - 10 / 3, 3 - 3, 6 - 2], EXACTISH, 'RLOO');
    ref.advantages(adv, flat, rewards, Float32Array.from([1, 0.5, 2]), P, G, { mode: 2, eps: 0 });
    expectClose(adv, [-1, 0, 0, -1, 0.2, 0.2, 0.2, 0.2, -1, 0, 1, 4], EXACTISH, 'REINFORCE, baseline [P]');
    ref.advantages(adv, flat, rewards, null, P, G, { mode: 2, eps: 0 });
    const batchMean = (0 + 1 + 1 + 0 + 4 * 0.7 + 1 + 2 + 3 + 6) / 12;
    expectClose(
      adv,
      Array.from(rewards, (r) => r - batchMean),
      EXACTISH,
      'REINFORCE, batch mean',
    );
    expect(() =>
      ref.advantages(new Float32Array(2), new Float32Array(2), new Float32Array(2), null, 2, 1, { mode: 1, eps: 0 }),
    ).toThrow(/G >= 2/);
  });

  it('policy loss: the per-token loss matches the definitions (clipped and unclipped, KL, entropy)', () => {
    const p = lossProblem();
    const o = { epsLow: 0.15, epsHigh: 0.3, beta: 0.3, entCoef: 0.2, scale: 1 };
    const { losses, clipped, total } = runRef(p, o);
    let want = 0;
    for (let n = 0; n < p.N; n++) {
      const { logp, entropy } = naiveRow(p.logits.subarray(n * p.V, (n + 1) * p.V), p.tokens[n]);
      const ratio = Math.exp(logp - p.old[n]);
      const A = p.adv[n];
      const J = Math.min(ratio * A, Math.min(Math.max(ratio, 1 - o.epsLow), 1 + o.epsHigh) * A);
      const kl = Math.exp(p.refLogp[n] - logp) - (p.refLogp[n] - logp) - 1;
      const loss = p.mask[n] * -(J - o.beta * kl + o.entCoef * entropy);
      expect(losses[n], `losses[${n}]`).toBeCloseTo(loss, 5);
      want += loss;
    }
    expect(total).toBeCloseTo(want, 5);
    // The problem is built so each clip situation occurs: see lossProblem.
    expect(Array.from(clipped)).toEqual([0, 1, 1, 0, 0, 0, 0]);
  });

  for (const scaleMode of ['explicit', 'mean'] as const) {
    it(`policy loss gradient matches finite differences of the total loss (beta, entCoef, asymmetric eps, mask zeros; scale ${scaleMode})`, () => {
      const p = lossProblem();
      const o = {
        epsLow: 0.15,
        epsHigh: 0.3,
        beta: 0.3,
        entCoef: 0.2,
        scale: scaleMode === 'explicit' ? 0.7 : ref.meanScale(p.mask, p.N),
      };
      const { dlogits } = runRef(p, o);
      const fd = fdGrad(p.logits, () => runRef(p, o).total);
      expectClose(dlogits, fd, FD_TOL, 'dlogits');
      for (let n = 0; n < p.N; n++) {
        if (p.mask[n] === 0) for (let v = 0; v < p.V; v++) expect(Math.abs(dlogits[n * p.V + v])).toBe(0);
      }
    });
  }

  it('each term of the gradient is needed: dropping one fails the finite-difference check', () => {
    // The gradient with beta or entCoef set to 0 must differ from the full one by more than FD_TOL,
    // so a kernel (or reference) that dropped the KL or entropy term would be caught above.
    const p = lossProblem();
    const full = { epsLow: 0.15, epsHigh: 0.3, beta: 0.3, entCoef: 0.2, scale: 1 };
    const g = runRef(p, full).dlogits;
    for (const partial of [
      { ...full, beta: 0 },
      { ...full, entCoef: 0 },
      { ...full, epsHigh: 10, epsLow: 1 },
    ]) {
      const cmp = compare(runRef(p, partial).dlogits, g, FD_TOL, 'partial');
      expect(cmp.ok, JSON.stringify(partial)).toBe(false);
    }
  });
});

/** Finite differences: loose enough for h = 1e-3 central differences of an f64 loss, tight enough to catch a wrong term. */
const FD_TOL: Tolerance = { atol: 1e-6, rtol: 1e-5 };
const EXACTISH: Tolerance = { atol: 1e-6, rtol: 1e-6 };

interface LossProblem {
  N: number;
  V: number;
  logits: Float32Array;
  tokens: Uint32Array;
  mask: Float32Array;
  adv: Float32Array;
  old: Float32Array;
  refLogp: Float32Array;
}

/**
 * Seven tokens, V = 5, with log-ratios chosen far from the clip boundaries (epsLow 0.15 -> 0.85,
 * epsHigh 0.3 -> 1.3): 0: A > 0 inside; 1: A > 0, ratio 1.65 (clipped); 2: A < 0, ratio 0.61 (clipped);
 * 3: A < 0, ratio 1.65 (outside but unclipped: the min is the unclipped term); 4: A > 0, ratio 0.61
 * (unclipped); 5: masked out; 6: weight 0.5, A < 0 inside.
 */
function lossProblem(): LossProblem {
  const N = 7;
  const V = 5;
  const rng = new Rng(21);
  const logits = randomArray(rng, N * V, { std: 1.5, outlierScale: 1 });
  const tokens = Uint32Array.from([0, 3, 1, 4, 2, 0, 3]);
  const mask = Float32Array.from([1, 1, 1, 1, 1, 0, 0.5]);
  const adv = Float32Array.from([0.8, 1.3, -0.9, -0.6, 1.1, 2, -0.4]);
  const rho = [0.05, 0.5, -0.5, 0.5, -0.5, 0.1, -0.08];
  const logp = new Float32Array(N);
  ref.token_logprobs(logp, new Float32Array(N), logits, tokens, null, N, V);
  const old = Float32Array.from(rho, (r, n) => logp[n] - r);
  const refLogp = Float32Array.from(logp, (l, n) => l + 0.4 * Math.sin(3 * n + 1));
  return { N, V, logits, tokens, mask, adv, old, refLogp };
}

function runRef(p: LossProblem, o: ref.PolicyLossOptions) {
  const dlogits = new Float32Array(p.N * p.V);
  const losses = new Float32Array(p.N);
  const clipped = new Float32Array(p.N);
  const total = ref.policy_loss_backward(
    dlogits,
    losses,
    clipped,
    p.logits,
    p.tokens,
    p.mask,
    p.adv,
    p.old,
    p.refLogp,
    p.N,
    p.V,
    o,
  );
  return { dlogits, losses, clipped, total };
}

// --------------------------------------------------------------------------------------------
// 3. the GPU kernels: edge cases, errors, determinism

async function readAll(...ts: Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push(await rt.readF32(t));
  return out;
}

describe('token_logprobs', () => {
  it('is exact for logits of 1e4, all-equal rows and V = 1; masked rows give 0', async () => {
    const V = 4;
    const z = Float32Array.from([1e4, 1e4 - 1, 1e4 - 2, -1e4, 1e4, 1e4, 1e4, 1e4, -1e4, -1e4, -1e4 + 3, -1e4, 5, 1, 2, 3]);
    const toks = Uint32Array.from([1, 2, 2, 0]);
    const mask = Float32Array.from([1, 1, 1, 0]);
    const N = toks.length;
    const logits = rt.tensor(z, [N, V]);
    const tokens = rt.tensor(toks, [N], 'u32');
    const maskT = rt.tensor(mask, [N]);
    const logp = rt.empty([N]);
    const entropy = rt.empty([N]);
    token_logprobs(rt, logp, entropy, logits, tokens, maskT);
    const [lp, ent] = await readAll(logp, entropy);
    const wantLp = new Float32Array(N);
    const wantEnt = new Float32Array(N);
    ref.token_logprobs(wantLp, wantEnt, z, toks, mask, N, V);
    expect(lp.every(Number.isFinite) && ent.every(Number.isFinite)).toBe(true);
    expectClose(lp, wantLp, { atol: 1e-6, rtol: 1e-6 }, 'logp');
    expectClose(ent, wantEnt, { atol: 1e-6, rtol: 1e-6 }, 'entropy');
    expect(lp[1]).toBeCloseTo(-Math.log(4), 6);
    expect(ent[1]).toBeCloseTo(Math.log(4), 6);
    expect([lp[3], ent[3]]).toEqual([0, 0]);

    const one = rt.tensor([123.5, -4, 1e4], [3, 1]);
    const lp1 = rt.empty([3]);
    const ent1 = rt.empty([3]);
    token_logprobs(rt, lp1, ent1, one, rt.tensor([0, 0, 0], [3], 'u32'));
    const [a, b] = await readAll(lp1, ent1);
    expect(Array.from(a).map(Math.abs)).toEqual([0, 0, 0]);
    expect(Array.from(b).map(Math.abs)).toEqual([0, 0, 0]);
    for (const t of [logits, tokens, maskT, logp, entropy, one, lp1, ent1]) t.destroy();
  });

  it('keeps a peaked row accurate (small entropy, log p of the max near 0)', async () => {
    const V = 1000;
    const z = new Float32Array(V).fill(-12);
    z[17] = 3;
    const logits = rt.tensor(z, [1, V]);
    const logp = rt.empty([1]);
    const entropy = rt.empty([1]);
    token_logprobs(rt, logp, entropy, logits, rt.tensor([17], [1], 'u32'));
    const [lp, ent] = await readAll(logp, entropy);
    const want = naiveRow(z, 17);
    // Entropy ~ 4.9e-3 and log p ~ -3.1e-4: a sum 1 + r rounded in f32 would be off by ~1e-7 absolute.
    expect(Math.abs(ent[0] - want.entropy) / want.entropy).toBeLessThan(1e-5);
    expect(Math.abs(lp[0] - want.logp) / Math.abs(want.logp)).toBeLessThan(1e-5);
    logits.destroy();
  });

  it('refuses bad shapes and dtypes before encoding', () => {
    const logits = rt.empty([4, 3]);
    const tokens = rt.empty([4], 'u32');
    expect(() => token_logprobs(rt, rt.empty([4]), rt.empty([4]), logits, rt.empty([4]))).toThrow(/tokens must be u32/);
    expect(() => token_logprobs(rt, rt.empty([3]), rt.empty([4]), logits, tokens)).toThrow(
      /logp has shape \[3\], expected \[4\]/,
    );
    expect(() => token_logprobs(rt, rt.empty([4]), rt.empty([4]), logits, tokens, rt.empty([5]))).toThrow(ShapeError);
    expect(() => token_logprobs(rt, rt.empty([4]), rt.empty([4]), rt.empty([12]), tokens)).toThrow(/rank must be 2/);
    const out = rt.empty([4]);
    expect(() => token_logprobs(rt, out, out, logits, tokens)).toThrow(/outputs logp and entropy (are the same tensor|overlap)/);
  });
});

describe('advantages', () => {
  async function run(rewards: number[], P: number, G: number, mode: number, baseline?: number[], eps?: number) {
    const r = rt.tensor(rewards, [P, G]);
    const b = baseline ? rt.tensor(baseline, [baseline.length]) : undefined;
    const adv = rt.empty([P, G]);
    const flat = rt.empty([P]);
    advantages(rt, adv, flat, r, b, { mode, eps });
    const [a, f] = await readAll(adv, flat);
    for (const t of [r, b, adv, flat]) t?.destroy();
    return { adv: a, flat: f };
  }

  it('GRPO and RLOO give exactly 0 (not NaN) for all-equal groups, and flag them', async () => {
    // 0.7 * 3 / 3 != 0.7 in f32, so R - mean alone would leave a residue, amplified by 1 / eps.
    for (const mode of [AdvantageMode.GRPO, AdvantageMode.RLOO]) {
      const { adv, flat } = await run([0.7, 0.7, 0.7, 0, 1, 0, 0.1, 0.1, 0.1], 3, 3, mode);
      expect(Array.from(flat)).toEqual([1, 0, 1]);
      expect(Array.from(adv.subarray(0, 3)).map(Math.abs)).toEqual([0, 0, 0]);
      expect(Array.from(adv.subarray(6, 9)).map(Math.abs)).toEqual([0, 0, 0]);
      expect(adv.every(Number.isFinite)).toBe(true);
    }
    const g1 = await run([0.3, 5], 2, 1, AdvantageMode.GRPO);
    expect(Array.from(g1.adv).map(Math.abs)).toEqual([0, 0]);
    expect(Array.from(g1.flat)).toEqual([1, 1]);
  });

  it('GRPO uses the population std and eps; RLOO the leave-one-out mean', async () => {
    const { adv } = await run([0, 1, 1, 0], 1, 4, AdvantageMode.GRPO, undefined, 0.5);
    expectClose(adv, [-0.5, 0.5, 0.5, -0.5], EXACTISH, 'GRPO, eps 0.5');
    const rloo = await run([1, 2, 3, 6], 1, 4, AdvantageMode.RLOO);
    expectClose(rloo.adv, [1 - 11 / 3, 2 - 10 / 3, 0, 4], EXACTISH, 'RLOO');
  });

  it('REINFORCE: baseline per prompt, one for all, or the batch mean', async () => {
    const r = [1, 2, 3, 4, 5, 6];
    expectClose((await run(r, 2, 3, 2, [1, 10])).adv, [0, 1, 2, -6, -5, -4], EXACTISH, 'baseline [P]');
    expectClose((await run(r, 2, 3, 2, [2])).adv, [-1, 0, 1, 2, 3, 4], EXACTISH, 'baseline [1]');
    expectClose((await run(r, 2, 3, 2)).adv, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], EXACTISH, 'batch mean');
  });

  it('refuses RLOO with G = 1, unknown modes, a misplaced baseline and bad shapes', () => {
    const adv = rt.empty([3, 1]);
    const flat = rt.empty([3]);
    const rewards = rt.empty([3, 1]);
    expect(() => advantages(rt, adv, flat, rewards, undefined, { mode: 1 })).toThrow(ShapeError);
    expect(() => advantages(rt, adv, flat, rewards, undefined, { mode: 1 })).toThrow(/RL group size must be >= 2/);
    expect(() => advantages(rt, adv, flat, rewards, undefined, { mode: 3 })).toThrow(/option mode = 3 is not allowed/);
    expect(() => advantages(rt, adv, flat, rewards, undefined, { eps: -1 })).toThrow(/option eps = -1/);
    expect(() => advantages(rt, adv, flat, rewards, rt.empty([3]), { mode: 0 })).toThrow(/baseline is only used with mode 2/);
    expect(() => advantages(rt, adv, flat, rewards, rt.empty([2]), { mode: 2 })).toThrow(
      /expected \[3\] \(one per prompt\) or \[1\]/,
    );
    expect(() => advantages(rt, adv, rt.empty([1]), rewards, undefined)).toThrow(/flat has shape \[1\], expected \[3\]/);
    expect(() => advantages(rt, adv, flat, rt.empty([3]), undefined)).toThrow(/rank must be 2/);
  });

  it('is deterministic (same bits on repeated runs)', async () => {
    const rng = new Rng(5);
    const rewards = Array.from(randomArray(rng, 64 * 33));
    const first = await run(rewards, 64, 33, AdvantageMode.GRPO);
    const second = await run(rewards, 64, 33, AdvantageMode.GRPO);
    expect(bitsEqual(first.adv, second.adv)).toBe(true);
  });
});

describe('policy_loss_backward', () => {
  function upload(p: LossProblem) {
    return {
      logits: rt.tensor(p.logits, [p.N, p.V]),
      tokens: rt.tensor(p.tokens, [p.N], 'u32'),
      mask: rt.tensor(p.mask, [p.N]),
      adv: rt.tensor(p.adv, [p.N]),
      old: rt.tensor(p.old, [p.N]),
      refLogp: rt.tensor(p.refLogp, [p.N]),
    };
  }

  async function runGpu(p: LossProblem, o: Parameters<typeof policy_loss_backward>[10], withMask = true) {
    const t = upload(p);
    const dlogits = rt.empty([p.N, p.V]);
    const losses = rt.empty([p.N]);
    const clipped = rt.empty([p.N]);
    policy_loss_backward(
      rt,
      dlogits,
      losses,
      clipped,
      t.logits,
      t.tokens,
      withMask ? t.mask : undefined,
      t.adv,
      t.old,
      t.refLogp,
      o,
    );
    const [d, l, c] = await readAll(dlogits, losses, clipped);
    for (const x of [...Object.values(t), dlogits, losses, clipped]) x.destroy();
    return { dlogits: d, losses: l, clipped: c };
  }

  it('matches the reference on the finite-difference problem, with the clip flags of each situation', async () => {
    const p = lossProblem();
    const o = { epsLow: 0.15, epsHigh: 0.3, beta: 0.3, entCoef: 0.2, scale: 0.7 };
    const got = await runGpu(p, o);
    const want = runRef(p, o);
    expectClose(got.dlogits, want.dlogits, { atol: 1e-7, rtol: 1e-5 }, 'dlogits');
    expectClose(got.losses, want.losses, { atol: 1e-7, rtol: 1e-5 }, 'losses');
    expect(Array.from(got.clipped)).toEqual([0, 1, 1, 0, 0, 0, 0]);
  });

  it('scale 0 (the default) is 1 / sum(mask) computed on the device; 1 / N without a mask', async () => {
    const p = lossProblem();
    const o = { beta: 0.3, entCoef: 0.2 };
    const byDefault = await runGpu(p, o);
    const explicit = await runGpu(p, { ...o, scale: ref.meanScale(p.mask, p.N) });
    expectClose(byDefault.dlogits, explicit.dlogits, { atol: 0, rtol: 1e-6 }, 'default scale');
    const noMask = await runGpu(p, o, false);
    const want = new Float32Array(p.N * p.V);
    ref.policy_loss_backward(
      want,
      new Float32Array(p.N),
      new Float32Array(p.N),
      p.logits,
      p.tokens,
      null,
      p.adv,
      p.old,
      p.refLogp,
      p.N,
      p.V,
      {
        epsLow: 0.2,
        epsHigh: 0.2,
        beta: 0.3,
        entCoef: 0.2,
        scale: 1 / p.N,
      },
    );
    expectClose(noMask.dlogits, want, { atol: 1e-7, rtol: 1e-5 }, 'no mask');
  });

  it('on-policy with beta = entCoef = 0 is the plain policy gradient -scale * A * (onehot - p)', async () => {
    const rng = new Rng(31);
    const [N, V] = [9, 7];
    const z = randomArray(rng, N * V, { std: 2 });
    const toks = Uint32Array.from({ length: N }, () => rng.int(V));
    const A = randomArray(rng, N);
    const logits = rt.tensor(z, [N, V]);
    const tokens = rt.tensor(toks, [N], 'u32');
    const adv = rt.tensor(A, [N]);
    const logp = rt.empty([N]);
    const entropy = rt.empty([N]);
    token_logprobs(rt, logp, entropy, logits, tokens);
    const dlogits = rt.empty([N, V]);
    const losses = rt.empty([N]);
    const clipped = rt.empty([N]);
    policy_loss_backward(rt, dlogits, losses, clipped, logits, tokens, undefined, adv, logp, undefined, { scale: 1 });
    const [d, l, c] = await readAll(dlogits, losses, clipped);
    const want = new Float64Array(N * V);
    for (let n = 0; n < N; n++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let v = 0; v < V; v++) m = Math.max(m, z[n * V + v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(z[n * V + v] - m);
      for (let v = 0; v < V; v++) want[n * V + v] = -A[n] * ((v === toks[n] ? 1 : 0) - Math.exp(z[n * V + v] - m) / s);
      expect(l[n]).toBeCloseTo(-A[n], 5); // ratio 1: loss = -A
    }
    expectClose(d, want, { atol: 1e-6, rtol: 1e-5 }, 'policy gradient');
    expect(Array.from(c)).toEqual(new Array(N).fill(0));
    for (const t of [logits, tokens, adv, logp, entropy, dlogits, losses, clipped]) t.destroy();
  });

  it('is deterministic (same bits on repeated runs)', async () => {
    const entry = policyKernels[2];
    const dims = { N: 200, V: 301 };
    const inputs = entry.sample(new Rng(3), dims, {});
    const opts = { beta: 0.05, entCoef: 0.01, epsHigh: 0.28 };
    const a = await runGpu(toProblem(inputs, dims), opts);
    const b = await runGpu(toProblem(inputs, dims), opts);
    expect(bitsEqual(a.dlogits, b.dlogits) && bitsEqual(a.losses, b.losses)).toBe(true);
  });

  it('refuses beta without ref_logp, bad options and bad shapes before encoding', () => {
    const [N, V] = [4, 3];
    const logits = rt.empty([N, V]);
    const tokens = rt.empty([N], 'u32');
    const vec = () => rt.empty([N]);
    const call = (o: Parameters<typeof policy_loss_backward>[10], ref_logp?: Tensor, adv = vec(), dlogits = rt.empty([N, V])) =>
      policy_loss_backward(rt, dlogits, vec(), vec(), logits, tokens, undefined, adv, vec(), ref_logp, o);
    expect(() => call({ beta: 0.1 })).toThrow(/beta = 0.1 needs the input ref_logp/);
    expect(() => call({ epsLow: 1.5 })).toThrow(/option epsLow = 1.5 is not allowed/);
    expect(() => call({ epsHigh: Number.NaN })).toThrow(/option epsHigh = NaN/);
    expect(() => call({ scale: Number.POSITIVE_INFINITY })).toThrow(/option scale = Infinity/);
    expect(() => call({}, undefined, rt.empty([N + 1]))).toThrow(/adv has shape \[5\], expected \[4\]/);
    expect(() => call({}, undefined, vec(), rt.empty([N, V + 1]))).toThrow(/dlogits has shape \[4, 4\], expected \[4, 3\]/);
    expect(() => call({ beta: 0.1 }, rt.empty([N], 'u32'))).toThrow(/ref_logp must be f32/);
  });
});

function toProblem(
  inputs: Record<string, { data: Float32Array | Uint32Array }>,
  { N, V }: { N: number; V: number },
): LossProblem {
  return {
    N,
    V,
    logits: inputs.logits.data as Float32Array,
    tokens: inputs.tokens.data as Uint32Array,
    mask: inputs.mask.data as Float32Array,
    adv: inputs.adv.data as Float32Array,
    old: inputs.old_logp.data as Float32Array,
    refLogp: inputs.ref_logp.data as Float32Array,
  };
}

// --------------------------------------------------------------------------------------------
// 4. a bandit that must learn: GRPO advantages, on-policy ratio, plain SGD on the logits

it('a 5-armed bandit trained with advantages + token_logprobs + policy_loss_backward reaches expected reward > 0.9', async () => {
  const V = 5;
  const G = 64;
  const STEPS = 100;
  const LR = 0.2;
  const reward = [0, 0.2, 1, 0.3, 0];
  const softmax = (z: Float64Array): number[] => {
    const m = Math.max(...z);
    const e = Array.from(z, (v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  const expected = (z: Float64Array): number => softmax(z).reduce((acc, p, v) => acc + p * reward[v], 0);

  const train = async (seed: number): Promise<Float64Array> => {
    const rng = new Rng(seed);
    const theta = new Float64Array(V); // the policy's parameters: one row of logits
    const rewardsT = rt.empty([1, G]);
    const advT = rt.empty([1, G]);
    const flatT = rt.empty([1]);
    const logitsT = rt.empty([G, V]);
    const tokensT = rt.empty([G], 'u32');
    const logpT = rt.empty([G]);
    const entropyT = rt.empty([G]);
    const dT = rt.empty([G, V]);
    const lossT = rt.empty([G]);
    const clipT = rt.empty([G]);
    const advRow = rt.view(advT, 0, [G]);
    for (let step = 0; step < STEPS; step++) {
      const p = softmax(theta);
      const actions = new Uint32Array(G);
      const r = new Float32Array(G);
      for (let i = 0; i < G; i++) {
        let u = rng.next();
        let a = 0;
        while (a < V - 1 && u >= p[a]) u -= p[a++];
        actions[i] = a;
        r[i] = reward[a];
      }
      const rows = new Float32Array(G * V);
      for (let i = 0; i < G; i++) for (let v = 0; v < V; v++) rows[i * V + v] = theta[v];
      rt.write(rewardsT, r);
      rt.write(tokensT, actions);
      rt.write(logitsT, rows);
      advantages(rt, advT, flatT, rewardsT, undefined, { mode: AdvantageMode.GRPO });
      token_logprobs(rt, logpT, entropyT, logitsT, tokensT);
      // On-policy: old_logp is the current policy's log-prob, so the ratio is 1.
      policy_loss_backward(rt, dT, lossT, clipT, logitsT, tokensT, undefined, advRow, logpT, undefined);
      const d = await rt.readF32(dT);
      for (let v = 0; v < V; v++) {
        let g = 0;
        for (let i = 0; i < G; i++) g += d[i * V + v];
        theta[v] -= LR * g;
      }
    }
    for (const t of [rewardsT, advT, flatT, logitsT, tokensT, logpT, entropyT, dT, lossT, clipT]) t.destroy();
    return theta;
  };

  const start = expected(new Float64Array(V));
  const theta = await train(1234);
  const final = expected(theta);
  expect(start).toBeCloseTo(0.3, 6);
  expect(final, `expected reward after ${STEPS} steps: ${final}`).toBeGreaterThan(0.9);
  expect(softmax(theta).indexOf(Math.max(...softmax(theta)))).toBe(2);
  // Seeded and deterministic: the same seed gives the same parameters, bit for bit.
  const again = await train(1234);
  expect(Array.from(again)).toEqual(Array.from(theta));
});
