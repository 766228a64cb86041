/**
 * Pinned trajectories: with a fixed seed, the losses of the first 10 training steps on the GPU
 * (forward, backward and AdamW all on the device, one submission per step) match those of the CPU
 * reference model trained with the reference AdamW, for each model family and each loss:
 * regression (LSA), cross-entropy (transformer) and the clipped policy-gradient objective.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Arena } from '../src/gpu/arena.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { policy_loss_backward, token_logprobs } from '../src/kernels/policy.ts';
import { sum } from '../src/kernels/reduce.ts';
import { type LsaForm, LsaModel } from '../src/models/lsa.ts';
import { TransformerModel } from '../src/models/transformer.ts';
import { type LsaParams, lsa_loss_and_grads } from '../src/reference/lsa.ts';
import { adamw as adamwRef } from '../src/reference/optim.ts';
import * as polRef from '../src/reference/policy.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import {
  type TransformerConfig,
  transformer_backward,
  transformer_forward,
  transformer_loss_and_grads,
} from '../src/reference/transformer.ts';
import { AdamW, type AdamWConfig } from '../src/train/optimizer.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const STEPS = 10;
const OPT: AdamWConfig = { lr: 0.01, weightDecay: 0.01, maxNorm: 1 };

/**
 * The CPU side of a trajectory: f32 parameters and moments, updated by the reference AdamW. Weight
 * decay applies to the matrices (two or more dimensions), not to biases and layernorm vectors.
 */
class ReferenceAdamW {
  readonly m: Record<string, Float32Array> = {};
  readonly v: Record<string, Float32Array> = {};
  step = 0;
  constructor(
    readonly params: Record<string, Float32Array>,
    private readonly shapes: Record<string, readonly number[]>,
  ) {
    for (const [k, p] of Object.entries(params)) {
      this.m[k] = new Float32Array(p.length);
      this.v[k] = new Float32Array(p.length);
    }
  }
  update(grads: Record<string, Float64Array>): void {
    this.step += 1;
    let ss = 0;
    for (const g of Object.values(grads)) for (const x of g) ss += Math.fround(x) ** 2;
    for (const [k, p] of Object.entries(this.params)) {
      const weightDecay = this.shapes[k].length >= 2 ? OPT.weightDecay : 0;
      adamwRef(p, this.m[k], this.v[k], Float32Array.from(grads[k]), Float32Array.of(ss), p.length, {
        ...OPT,
        weightDecay,
        step: this.step,
      });
    }
  }
  get f64(): Record<string, Float64Array> {
    return Object.fromEntries(Object.entries(this.params).map(([k, p]) => [k, Float64Array.from(p)]));
  }
}

/** The reference optimizer, starting from the GPU model's parameters. */
async function referenceFor(arena: Arena): Promise<ReferenceAdamW> {
  const params: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(arena.views)) params[k] = await rt.readF32(t);
  return new ReferenceAdamW(params, Object.fromEntries(Object.entries(arena.views).map(([k, t]) => [k, t.shape])));
}

function expectSameTrajectory(gpu: number[], cpu: number[], rtol: number): void {
  const lines = gpu.map((g, i) => `step ${i + 1}: gpu ${g.toPrecision(7)} cpu ${cpu[i].toPrecision(7)}`);
  for (let i = 0; i < gpu.length; i++) {
    expect(Math.abs(gpu[i] - cpu[i]), lines.join('\n')).toBeLessThanOrEqual(1e-6 + rtol * Math.abs(cpu[i]));
  }
  // The trajectory must actually move: training lowers the loss.
  expect(cpu[cpu.length - 1]).toBeLessThan(cpu[0]);
}

describe('pinned 10-step trajectories, GPU against the CPU reference', () => {
  for (const form of ['merged', 'factorised'] as LsaForm[]) {
    it(`LSA ${form}, regression loss`, async () => {
      const shape = { B: 32, n: 16, d: 6, k: 6 };
      const model = new LsaModel(rt, { form, d: shape.d, n: shape.n, batch: shape.B, seed: 2, initStd: 0.3 });
      const opt = new AdamW(rt, model.params, model.grads, OPT);
      const ref = await referenceFor(model.params);
      const rng = new Rng(77);
      const gpu: number[] = [];
      const cpu: number[] = [];
      for (let step = 0; step < STEPS; step++) {
        const X = randomArray(rng, shape.B * shape.n * shape.d, { outlierScale: 1 });
        const w = randomArray(rng, shape.B * shape.d, { outlierScale: 1 });
        const y = new Float32Array(shape.B * shape.n);
        for (let b = 0; b < shape.B; b++)
          for (let i = 0; i < shape.n; i++)
            for (let j = 0; j < shape.d; j++) y[b * shape.n + i] += w[b * shape.d + j] * X[(b * shape.n + i) * shape.d + j];
        model.setBatch(X, y, w);
        rt.batch('lsa step', () => {
          model.forwardBackward();
          opt.update();
        });
        gpu.push((await rt.readF32(model.loss))[0]);
        const r = lsa_loss_and_grads(ref.f64 as LsaParams, X, y, w, shape);
        cpu.push(r.loss);
        ref.update(r.grads);
      }
      expectSameTrajectory(gpu, cpu, 2e-5);
      model.destroy();
      opt.destroy();
    });
  }

  const cfg: TransformerConfig = { vocab: 11, context: 12, dModel: 16, layers: 2, heads: 2 };
  const [B, T] = [4, 12];

  it('transformer, cross-entropy', async () => {
    const model = new TransformerModel(rt, cfg, { B, T }, 6);
    const opt = new AdamW(rt, model.params, model.grads, OPT);
    const ref = await referenceFor(model.params);
    const rng = new Rng(5);
    // A learnable pattern: the next token is the current one plus one (mod V).
    const tokens = Array.from({ length: B * T }, () => rng.int(cfg.vocab));
    const targets = tokens.map((t) => (t + 1) % cfg.vocab);
    const mask = tokens.map((_, i) => (i % T < 2 ? 0 : 1));
    model.setBatch(tokens, targets, mask);
    const gpu: number[] = [];
    const cpu: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      rt.batch('transformer step', () => {
        model.forwardBackward();
        opt.update();
      });
      gpu.push((await rt.readF32(model.loss))[0]);
      const r = transformer_loss_and_grads(ref.f64, cfg, tokens, targets, mask, B, T);
      cpu.push(r.loss);
      ref.update(r.grads);
    }
    expectSameTrajectory(gpu, cpu, 2e-5);
    model.destroy();
    opt.destroy();
  });

  it('transformer, clipped policy gradient with KL and entropy', async () => {
    const model = new TransformerModel(rt, cfg, { B, T }, 7);
    const opt = new AdamW(rt, model.params, model.grads, OPT);
    const ref = await referenceFor(model.params);
    const rng = new Rng(9);
    // A fixed batch of "sampled" completions: tokens, and which of them were generated (mask).
    const tokens = Array.from({ length: B * T }, () => rng.int(cfg.vocab));
    const actions = Uint32Array.from({ length: B * T }, () => rng.int(cfg.vocab));
    const mask = Float32Array.from({ length: B * T }, (_, i) => (i % T < 4 ? 0 : 1));
    const adv = Float32Array.from({ length: B * T }, (_, i) => [1, -0.5, 0.25, -0.75][Math.floor(i / T)]);
    const opts = { epsLow: 0.2, epsHigh: 0.28, beta: 0.04, entCoef: 0.01 };
    const N = B * T;
    model.setBatch(tokens, Array.from(actions));
    const t = (data: ArrayLike<number>, dtype: 'f32' | 'u32' = 'f32') => rt.tensor(data, [N], dtype);
    const [actionsT, maskT, advT] = [t(actions, 'u32'), t(mask), t(adv)];
    const [logp, entropy, losses, clipped, loss] = [rt.empty([N]), rt.empty([N]), rt.empty([N]), rt.empty([N]), rt.empty([1])];
    // The sampling policy (old) and the frozen reference policy: both the initial model.
    model.forward();
    token_logprobs(rt, logp, entropy, model.logits, actionsT, maskT);
    const oldLogp = await rt.readF32(logp);
    const [oldT, refT] = [t(oldLogp), t(oldLogp)];
    const gpu: number[] = [];
    const cpu: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      rt.batch('rl step', () => {
        model.forward();
        policy_loss_backward(rt, model.dlogits, losses, clipped, model.logits, actionsT, maskT, advT, oldT, refT, opts);
        sum(rt, loss, losses, { scale: polRef.meanScale(mask, N) });
        model.backward(model.dlogits);
        opt.update();
      });
      gpu.push((await rt.readF32(loss))[0]);
      const params = ref.f64;
      const { logits, cache } = transformer_forward(params, cfg, tokens, B, T);
      const dl = new Float32Array(N * cfg.vocab);
      const total = polRef.policy_loss_backward(
        dl,
        new Float32Array(N),
        new Float32Array(N),
        Float32Array.from(logits),
        actions,
        mask,
        adv,
        oldLogp,
        oldLogp,
        N,
        cfg.vocab,
        { ...opts, scale: polRef.meanScale(mask, N) },
      );
      cpu.push(total);
      ref.update(transformer_backward(params, cfg, cache, Float64Array.from(dl)));
    }
    expectSameTrajectory(gpu, cpu, 2e-5);
    model.destroy();
    opt.destroy();
  });
});
