/**
 * Setting A's models predict each prompt from its own row alone: 12 prompts in one batch of 12 give
 * the same bits as 4 batches of 3 with the same parameters. The regression suite relies on it when
 * it predicts held-out sets and scores pools with a copy of the model of a larger batch
 * (src/train/suite-regression.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { copy } from '../src/kernels/elementwise.ts';
import { IclTransformerModel } from '../src/models/icl-transformer.ts';
import { LsaModel } from '../src/models/lsa.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const [d, n] = [4, 8];
type Model = IclTransformerModel | LsaModel;

const makers: Record<string, (batch: number, seed: number) => Model> = {
  'ICL transformer': (batch, seed) => new IclTransformerModel(rt, { d, n, dModel: 8, layers: 2, heads: 2 }, batch, seed),
  'LSA merged': (batch, seed) => new LsaModel(rt, { form: 'merged', d, n, batch, seed, initStd: 0.3 }),
  'LSA factorised': (batch, seed) => new LsaModel(rt, { form: 'factorised', d, n, batch, k: 3, seed, initStd: 0.3 }),
};

describe('predictions do not depend on the batch', () => {
  for (const [name, make] of Object.entries(makers)) {
    it(name, async () => {
      const narrow = make(3, 1);
      const wide = make(12, 2); // another init, overwritten by the narrow model's parameters
      copy(rt, wide.params.all, narrow.params.all);
      const rng = new Rng(5);
      const X = randomArray(rng, 12 * n * d, { outlierScale: 1 });
      const y = randomArray(rng, 12 * n, { outlierScale: 1 });
      const w = randomArray(rng, 12 * d, { outlierScale: 1 });
      const chunks: number[] = [];
      for (let b = 0; b < 12; b += 3) {
        narrow.setBatch(X.slice(b * n * d, (b + 3) * n * d), y.slice(b * n, (b + 3) * n), w.slice(b * d, (b + 3) * d));
        narrow.forward();
        chunks.push(...(await rt.readF32(narrow.pred)));
      }
      wide.setBatch(X, y, w);
      wide.forward();
      const once = [...(await rt.readF32(wide.pred))];
      expect(once).toEqual(chunks);
      // Predictions that differ from prompt to prompt (so the comparison says something).
      expect(new Set(once).size).toBeGreaterThan(12);
      narrow.destroy();
      wide.destroy();
    });
  }
});
