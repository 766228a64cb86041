/**
 * AdamW over a parameter arena (src/train/optimizer.ts): weight decay reaches the matrices and, by
 * default, not the vectors (biases, layernorm gains and shifts), whatever the order of the slots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { LsaModel } from '../src/models/lsa.ts';
import { TransformerModel } from '../src/models/transformer.ts';
import { AdamW, type AdamWConfig, paramRanges } from '../src/train/optimizer.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
let model: TransformerModel;
beforeAll(async () => {
  rt = await getTestRuntime();
  model = new TransformerModel(rt, { vocab: 11, context: 12, dModel: 16, layers: 2, heads: 2 }, { B: 2, T: 12 }, 3);
});
afterAll(() => model.destroy());

/** Each parameter tensor by name, read back. */
async function snapshot(): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(model.params.views)) out[k] = await rt.readF32(t);
  return out;
}

/**
 * One AdamW step with zero gradients: the Adam term is 0 / (0 + eps) = 0, so a parameter moves only
 * by decay, p -> p (1 - lr wd). Returns each tensor's after / before ratio (the mean over non-zero
 * entries) and restores the parameters.
 */
async function decayFactors(config: AdamWConfig): Promise<Record<string, number>> {
  const before = await snapshot();
  rt.write(model.grads.all, new Float32Array(model.grads.all.size));
  const opt = new AdamW(rt, model.params, model.grads, config);
  opt.update();
  const after = await snapshot();
  opt.destroy();
  for (const [k, t] of Object.entries(model.params.views)) rt.write(t, before[k]);
  const ratio: Record<string, number> = {};
  for (const k of Object.keys(before)) {
    // Entries that are 0 say nothing about decay (the test first makes the vectors non-zero).
    const idx = [...before[k].keys()].filter((i) => before[k][i] !== 0);
    expect(idx.length, k).toBeGreaterThan(0);
    ratio[k] = idx.reduce((a, i) => a + after[k][i] / before[k][i], 0) / idx.length;
  }
  return ratio;
}

describe('AdamW weight decay', () => {
  it('decays the matrices and leaves biases and layernorm vectors alone by default', async () => {
    // Give the zero-initialised vectors values, so that decay on them would show.
    for (const t of Object.values(model.params.views))
      if (t.shape.length === 1)
        rt.write(
          t,
          Array.from({ length: t.size }, (_, i) => 0.5 + i / 100),
        );
    const shapes = Object.fromEntries(Object.entries(model.params.views).map(([k, t]) => [k, t.shape]));
    const vectors = Object.keys(shapes).filter((k) => shapes[k].length === 1);
    const matrices = Object.keys(shapes).filter((k) => shapes[k].length >= 2);
    expect(vectors).toEqual(expect.arrayContaining(['lnf.w', 'lnf.b']));
    expect(matrices).toEqual(expect.arrayContaining(['wte', 'wpe', 'head']));

    const lr = 0.1;
    const weightDecay = 0.5;
    const byDefault = await decayFactors({ lr, weightDecay, maxNorm: 0 });
    for (const k of matrices) expect(byDefault[k], k).toBeCloseTo(1 - lr * weightDecay, 6);
    for (const k of vectors) expect(byDefault[k], k).toBe(1);

    const all = await decayFactors({ lr, weightDecay, maxNorm: 0, decay: 'all' });
    for (const k of [...matrices, ...vectors]) expect(all[k], k).toBeCloseTo(1 - lr * weightDecay, 6);

    const none = await decayFactors({ lr, weightDecay: 0, maxNorm: 0 });
    for (const k of [...matrices, ...vectors]) expect(none[k], k).toBe(1);
  });

  it('cuts the arena into alternating runs that cover it exactly', () => {
    const byShape = (_: string, shape: readonly number[]) => (shape.length >= 2 ? 'decayed' : 'undecayed');
    const ranges = paramRanges(model.params, byShape);
    expect(ranges[0].start).toBe(0);
    expect(ranges.at(-1)?.end).toBe(model.params.all.size);
    for (let i = 1; i < ranges.length; i++) {
      expect(ranges[i].start).toBe(ranges[i - 1].end);
      expect(ranges[i].kind).not.toBe(ranges[i - 1].kind);
    }
    // Every slot lies inside the one range of its kind.
    for (const [name, offset] of Object.entries(model.params.offsets)) {
      const t = model.params.views[name];
      const r = ranges.find((x) => x.start <= offset && offset + t.size <= x.end);
      expect(r?.kind, name).toBe(byShape(name, t.shape));
    }
    // Only matrices (the LSA's factors): one range, one dispatch.
    const lsa = new LsaModel(rt, { form: 'factorised', d: 4, n: 8, batch: 2, seed: 1 });
    expect(paramRanges(lsa.params, byShape)).toEqual([{ start: 0, end: lsa.params.all.size, kind: 'decayed' }]);
    lsa.destroy();
  });

  it('trains only the named tensors, with the gradient norm taken over theirs alone', async () => {
    const before = await snapshot();
    // Gradients everywhere (each tensor its own constant), so that a frozen tensor would move.
    const g: Record<string, number> = {};
    for (const [i, [k, t]] of Object.entries(model.grads.views).entries()) {
      g[k] = 0.01 * (i + 1);
      rt.write(t, new Float32Array(t.size).fill(g[k]));
    }
    const sumSq = (names: string[]) => names.reduce((a, k) => a + model.grads.views[k].size * Math.fround(g[k]) ** 2, 0);
    // One tensor (the head), and two apart (the embeddings first in the arena, the head last).
    for (const trainable of [['head'], ['wte', 'head']]) {
      const opt = new AdamW(rt, model.params, model.grads, { lr: 0.01, weightDecay: 0.1, trainable });
      opt.update();
      const after = await snapshot();
      for (const k of Object.keys(before)) {
        if (trainable.includes(k)) expect(after[k], k).not.toEqual(before[k]);
        else expect(after[k], `${k} is frozen`).toEqual(before[k]);
      }
      const [norm] = await rt.readF32(opt.gradSumSq);
      expect(Math.abs(norm - sumSq(trainable)) / sumSq(trainable), trainable.join(' ')).toBeLessThan(1e-5);
      opt.destroy();
      for (const [k, t] of Object.entries(model.params.views)) rt.write(t, before[k]);
    }
    // Nothing frozen: the norm of every gradient.
    const all = new AdamW(rt, model.params, model.grads, { lr: 0.01 });
    all.update();
    const [whole] = await rt.readF32(all.gradSumSq);
    expect(Math.abs(whole - sumSq(Object.keys(g))) / sumSq(Object.keys(g))).toBeLessThan(1e-5);
    all.destroy();
    for (const [k, t] of Object.entries(model.params.views)) rt.write(t, before[k]);
    expect(() => new AdamW(rt, model.params, model.grads, { lr: 0.1, trainable: ['heads'] })).toThrow(
      /unknown parameter "heads" in trainable; this model has wte, wpe, .*head/,
    );
  });

  it('refuses an unknown decay choice, naming the valid ones', () => {
    expect(() => new AdamW(rt, model.params, model.grads, { lr: 0.1, decay: 'biases' as never })).toThrow(
      /decay must be one of matrices, all, got "biases"/,
    );
  });
});
