/**
 * RL in the regression setting, entirely on the GPU: the LSA model's prediction is the mean of a
 * Gaussian policy; G samples per prompt are drawn with Philox, rewarded by their outcome only
 * (-||sample - w||^2, computed on the device), turned into group-relative advantages, and the
 * REINFORCE gradient flows back through the model into AdamW. Nothing is read back inside a step.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { scale } from '../src/kernels/elementwise.ts';
import { AdvantageMode, advantages } from '../src/kernels/policy.ts';
import { mse_loss } from '../src/kernels/regression.ts';
import { gaussian_reinforce_backward, gaussian_sample } from '../src/kernels/sampling.ts';
import { LsaModel } from '../src/models/lsa.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

describe('Gaussian-policy REINFORCE on the LSA model', () => {
  it('lowers the error of the mean prediction from the reward alone', async () => {
    const [P, G, n, d] = [16, 8, 32, 4];
    const B = P * G;
    const sigma = 0.3;
    const model = new LsaModel(rt, { form: 'merged', d, n, batch: B, seed: 5, initStd: 0.05 });
    const opt = new AdamW(rt, model.params, model.grads, { lr: 0.02 });
    const [sample, xi, errs, rewards, adv, flat, dmean, dummy] = [
      rt.empty([B, d]),
      rt.empty([B, d]),
      rt.empty([B]),
      rt.empty([P, G]),
      rt.empty([P, G]),
      rt.empty([P]),
      rt.empty([B, d]),
      rt.empty([B, d]),
    ];
    const rng = new Rng(12);
    /** A batch of P prompts, each repeated G times (one group per prompt). */
    const batch = () => {
      const X = new Float32Array(B * n * d);
      const y = new Float32Array(B * n);
      const w = new Float32Array(B * d);
      for (let q = 0; q < P; q++) {
        const wq = randomArray(rng, d, { outlierScale: 1 });
        const Xq = randomArray(rng, n * d, { outlierScale: 1 });
        for (let g = 0; g < G; g++) {
          const b = q * G + g;
          X.set(Xq, b * n * d);
          w.set(wq, b * d);
          for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) y[b * n + i] += wq[j] * Xq[i * d + j];
        }
      }
      return { X, y, w };
    };
    /** Mean squared error of the policy's mean (the deterministic prediction) on a fresh batch. */
    const evalError = async () => {
      const { X, y, w } = batch();
      model.setBatch(X, y, w);
      model.forwardBackward();
      return (await rt.readF32(model.loss))[0];
    };
    const before = await evalError();
    for (let step = 0; step < 150; step++) {
      const { X, y, w } = batch();
      model.setBatch(X, y, w);
      rt.batch('rl step', () => {
        model.forward();
        gaussian_sample(rt, sample, xi, model.pred, undefined, { seed: 7, step, sigma });
        mse_loss(rt, errs, dummy, sample, model.w); // outcome: squared error of the sampled answer
        scale(rt, rewards, errs, -1);
        advantages(rt, adv, flat, rewards, undefined, { mode: AdvantageMode.GRPO });
        gaussian_reinforce_backward(rt, dmean, undefined, model.pred, sample, rt.view(adv, 0, [B]), undefined, { sigma });
        model.backward(dmean);
        opt.update();
      });
    }
    const after = await evalError();
    expect(before).toBeGreaterThan(2);
    expect(after, `error of the mean prediction: ${before} before, ${after} after RL`).toBeLessThan(before * 0.25);
    model.destroy();
    opt.destroy();
  });
});
