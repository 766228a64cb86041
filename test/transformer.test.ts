/**
 * The tiny transformer on the GPU against the CPU reference model (src/reference/transformer.ts):
 * logits, loss and the gradient of every parameter tensor.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { type TransformerConfig, TransformerModel } from '../src/models/transformer.ts';
import { compare } from '../src/reference/compare.ts';
import { Rng } from '../src/reference/random.ts';
import { type TransformerParams, transformer_loss_and_grads } from '../src/reference/transformer.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

async function paramsOf(model: TransformerModel): Promise<TransformerParams> {
  const out: TransformerParams = {};
  for (const [name, t] of Object.entries(model.params.views)) out[name] = Float64Array.from(await rt.readF32(t));
  return out;
}

/** Move the parameters away from the 0.02 init so every gradient is sizeable. */
async function perturb(model: TransformerModel, seed: number): Promise<void> {
  const rng = new Rng(seed);
  for (const [name, t] of Object.entries(model.params.views)) {
    const cur = await rt.readF32(t);
    const isNorm = /ln\d?f?\.w$|lnf\.w$/.test(name);
    rt.write(
      t,
      Array.from(cur, (v) => (isNorm ? 1 + 0.3 * rng.normal() : v + 0.3 * rng.normal())),
    );
  }
}

const cases: { cfg: TransformerConfig; B: number; T: number }[] = [
  { cfg: { vocab: 7, context: 6, dModel: 8, layers: 1, heads: 2 }, B: 1, T: 1 },
  { cfg: { vocab: 11, context: 16, dModel: 16, layers: 2, heads: 4 }, B: 3, T: 13 },
  { cfg: { vocab: 17, context: 32, dModel: 32, layers: 2, heads: 2, mlp: 48 }, B: 2, T: 32 },
];

describe('transformer on the GPU against the CPU reference', () => {
  for (const { cfg, B, T } of cases) {
    it(`${JSON.stringify(cfg)} B=${B} T=${T}`, async () => {
      const model = new TransformerModel(rt, cfg, { B, T }, 5);
      await perturb(model, 9);
      const rng = new Rng(B * 100 + T);
      const BT = B * T;
      const tokens = Array.from({ length: BT }, () => rng.int(cfg.vocab));
      const targets = Array.from({ length: BT }, () => rng.int(cfg.vocab));
      const mask: number[] = Array.from({ length: BT }, (_, i) => (i % 5 === 2 ? 0 : i % 7 === 3 ? 0.5 : 1));
      if (!mask.some((m) => m !== 0)) mask[0] = 1;
      model.setBatch(tokens, targets, mask);
      model.forwardBackward();
      const want = transformer_loss_and_grads(await paramsOf(model), cfg, tokens, targets, mask, B, T);
      const logits = compare(await rt.readF32(model.logits), want.logits, { atol: 1e-4, rtol: 1e-4 }, 'logits');
      expect(logits.ok, logits.report).toBe(true);
      const loss = (await rt.readF32(model.loss))[0];
      expect(Math.abs(loss - want.loss), `loss ${loss} vs ${want.loss}`).toBeLessThan(1e-4 * Math.max(1, want.loss));
      const bad: string[] = [];
      for (const [name, g] of Object.entries(want.grads)) {
        const cmp = compare(await rt.readF32(model.grads.views[name]), g, { atol: 2e-4, rtol: 1e-3 }, `d${name}`);
        if (!cmp.ok) bad.push(cmp.report);
      }
      expect(bad, bad.join('\n')).toEqual([]);
      model.destroy();
    });
  }

  it('refuses heads that do not divide dModel, and T beyond the context', () => {
    expect(() => new TransformerModel(rt, { vocab: 5, context: 8, dModel: 6, layers: 1, heads: 4 }, { B: 1, T: 4 })).toThrow(
      /heads \(4\) must divide dModel \(6\)/,
    );
    expect(() => new TransformerModel(rt, { vocab: 5, context: 8, dModel: 8, layers: 1, heads: 2 }, { B: 1, T: 9 })).toThrow(
      /T = 9 exceeds the position table \(context = 8\)/,
    );
  });
});
