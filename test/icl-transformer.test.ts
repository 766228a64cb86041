/**
 * The softmax-attention transformer for in-context weight prediction on the GPU, against the CPU
 * reference model (src/reference/icl-transformer.ts): prediction, loss and every gradient.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { type IclTransformerConfig, IclTransformerModel } from '../src/models/icl-transformer.ts';
import { compare } from '../src/reference/compare.ts';
import { icl_loss_and_grads } from '../src/reference/icl-transformer.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const cases: { cfg: IclTransformerConfig; B: number }[] = [
  { cfg: { d: 1, n: 1, dModel: 4, layers: 1, heads: 1 }, B: 1 },
  { cfg: { d: 4, n: 16, dModel: 16, layers: 2, heads: 2 }, B: 8 },
  { cfg: { d: 8, n: 32, dModel: 32, layers: 1, heads: 4, mlp: 48 }, B: 5 },
];

describe('ICL transformer on the GPU against the CPU reference', () => {
  for (const { cfg, B } of cases) {
    it(`${JSON.stringify(cfg)} B=${B}`, async () => {
      const model = new IclTransformerModel(rt, cfg, B, 3);
      // Move the parameters away from init so every gradient is sizeable.
      const rng = new Rng(B + cfg.d);
      for (const [name, t] of Object.entries(model.params.views)) {
        const cur = await rt.readF32(t);
        const isNorm = /ln\d?f?\.w$/.test(name);
        rt.write(
          t,
          Array.from(cur, (v) => (isNorm ? 1 + 0.3 * rng.normal() : v + 0.3 * rng.normal())),
        );
      }
      const X = randomArray(rng, B * cfg.n * cfg.d, { outlierScale: 1 });
      const y = randomArray(rng, B * cfg.n, { outlierScale: 1 });
      const w = randomArray(rng, B * cfg.d, { outlierScale: 1 });
      model.setBatch(X, y, w);
      model.forwardBackward();
      const params: Record<string, Float64Array> = {};
      for (const [name, t] of Object.entries(model.params.views)) params[name] = Float64Array.from(await rt.readF32(t));
      const want = icl_loss_and_grads(params, cfg, X, y, w, B);
      const pred = compare(await rt.readF32(model.pred), want.pred, { atol: 1e-5, rtol: 1e-4 }, 'pred');
      expect(pred.ok, pred.report).toBe(true);
      const loss = (await rt.readF32(model.loss))[0];
      expect(Math.abs(loss - want.loss), `loss ${loss} vs ${want.loss}`).toBeLessThan(1e-5 + 1e-4 * want.loss);
      const bad: string[] = [];
      for (const [name, g] of Object.entries(want.grads)) {
        const cmp = compare(await rt.readF32(model.grads.views[name]), g, { atol: 1e-4, rtol: 1e-3 }, `d${name}`);
        if (!cmp.ok) bad.push(cmp.report);
      }
      expect(bad, bad.join('\n')).toEqual([]);
      model.destroy();
    });
  }

  it('refuses heads that do not divide dModel and empty sizes', () => {
    expect(() => new IclTransformerModel(rt, { d: 4, n: 8, dModel: 10, layers: 1, heads: 4 }, 2)).toThrow(
      /heads \(4\) must divide dModel \(10\)/,
    );
    expect(() => new IclTransformerModel(rt, { d: 0, n: 8, dModel: 8, layers: 1, heads: 2 }, 2)).toThrow(
      /d must be an integer >= 1/,
    );
  });
});
