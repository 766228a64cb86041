/**
 * The LSA models of in-context weight prediction: the CPU reference's gradients against finite
 * differences, and the GPU model's loss and gradients against the CPU reference.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { type LsaForm, LsaModel } from '../src/models/lsa.ts';
import { compare } from '../src/reference/compare.ts';
import { type LsaParams, type LsaShape, lsa_loss_and_grads } from '../src/reference/lsa.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

/** A batch of in-context regression prompts: y_i = <w, x_i> + noise. */
function batch(rng: Rng, { B, n, d }: LsaShape) {
  const X = randomArray(rng, B * n * d, { outlierScale: 1 });
  const w = randomArray(rng, B * d, { outlierScale: 1 });
  const y = new Float32Array(B * n);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += w[b * d + j] * X[(b * n + i) * d + j];
      y[b * n + i] = s + 0.1 * rng.normal();
    }
  return { X, y, w };
}

function randomParams(rng: Rng, form: LsaForm, d: number, k: number): LsaParams {
  const r = (len: number) => Float64Array.from(randomArray(rng, len, { std: 0.5, outlierScale: 1 }));
  return form === 'merged' ? { gamma: r(d * d) } : { Q: r(k * d), P: r(d * k) };
}

describe('LSA reference gradients against finite differences', () => {
  for (const form of ['merged', 'factorised'] as LsaForm[]) {
    it(form, () => {
      const shape = { B: 3, n: 5, d: 3, k: 2 };
      const rng = new Rng(4);
      const { X, y, w } = batch(rng, shape);
      const params = randomParams(rng, form, shape.d, shape.k);
      const { grads } = lsa_loss_and_grads(params, X, y, w, shape);
      for (const [name, g] of Object.entries(grads)) {
        const p = (params as Record<string, Float64Array>)[name];
        const fd = new Float64Array(p.length);
        for (let i = 0; i < p.length; i++) {
          const orig = p[i];
          p[i] = orig + 1e-5;
          const up = lsa_loss_and_grads(params, X, y, w, shape).loss;
          p[i] = orig - 1e-5;
          const down = lsa_loss_and_grads(params, X, y, w, shape).loss;
          p[i] = orig;
          fd[i] = (up - down) / 2e-5;
        }
        const cmp = compare(g, fd, { atol: 1e-7, rtol: 1e-6 }, `d${name}`);
        expect(cmp.ok, cmp.report).toBe(true);
      }
    });
  }
});

describe('LSA model on the GPU against the CPU reference', () => {
  const shapes: LsaShape[] = [
    { B: 1, n: 1, d: 1, k: 1 },
    { B: 64, n: 32, d: 8, k: 8 },
    { B: 129, n: 63, d: 17, k: 5 },
    { B: 512, n: 17, d: 3, k: 9 },
  ];
  for (const form of ['merged', 'factorised'] as LsaForm[]) {
    for (const shape of shapes) {
      it(`${form} ${JSON.stringify(shape)}`, async () => {
        const rng = new Rng(shape.B + shape.d);
        const model = new LsaModel(rt, { form, d: shape.d, n: shape.n, batch: shape.B, k: shape.k, initStd: 0.5, seed: 3 });
        const { X, y, w } = batch(rng, shape);
        model.setBatch(X, y, w);
        model.forwardBackward();
        const params: Record<string, Float64Array> = {};
        for (const [name, t] of Object.entries(model.params.views)) params[name] = Float64Array.from(await rt.readF32(t));
        const want = lsa_loss_and_grads(params as LsaParams, X, y, w, shape);
        const loss = (await rt.readF32(model.loss))[0];
        expect(Math.abs(loss - want.loss), `loss ${loss} vs ${want.loss}`).toBeLessThanOrEqual(1e-5 + 1e-4 * want.loss);
        for (const [name, g] of Object.entries(want.grads)) {
          const got = await rt.readF32(model.grads.views[name]);
          const cmp = compare(got, g, { atol: 1e-5, rtol: 1e-4 }, `d${name}`);
          expect(cmp.ok, cmp.report).toBe(true);
        }
        model.destroy();
      });
    }
  }

  it('refuses invalid sizes', () => {
    expect(() => new LsaModel(rt, { form: 'merged', d: 0, n: 4, batch: 2 })).toThrow(/d must be an integer >= 1, got 0/);
    expect(() => new LsaModel(rt, { form: 'factorised', d: 4, n: 4, batch: 2, k: 1.5 })).toThrow(/k must be an integer >= 1/);
  });
});
