/**
 * Autoregressive generation on the GPU: greedy decoding follows the CPU reference model's argmax
 * token by token; sampling is deterministic for a seed; EOS ends a sequence.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { copy } from '../src/kernels/elementwise.ts';
import { generate } from '../src/models/generate.ts';
import { TransformerModel } from '../src/models/transformer.ts';
import { Rng } from '../src/reference/random.ts';
import { type TransformerParams, transformer_greedy } from '../src/reference/transformer.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const cfg = { vocab: 11, context: 16, dModel: 16, layers: 2, heads: 2 };
const [B, T] = [3, 12];

/** A model whose parameters are moved away from the 0.02 init, so its logits have clear maxima. */
async function model(seed: number): Promise<{ m: TransformerModel; params: TransformerParams }> {
  const m = new TransformerModel(rt, cfg, { B, T }, seed);
  const rng = new Rng(seed);
  const params: TransformerParams = {};
  for (const [name, t] of Object.entries(m.params.views)) {
    const cur = await rt.readF32(t);
    const moved = Float32Array.from(cur, (v) => (/ln\d?f?\.w$/.test(name) ? 1 : v + 0.5 * rng.normal()));
    rt.write(t, moved);
    params[name] = Float64Array.from(moved);
  }
  return { m, params };
}

/** Greedy decoding with the CPU reference model, up to the GPU model's T tokens. */
const referenceGreedy = (params: TransformerParams, prompt: number[], maxNew: number, eos?: number): number[] =>
  transformer_greedy(params, cfg, prompt, maxNew, { limit: T, eos });

describe('generate', () => {
  it('greedy decoding matches the CPU reference model token by token', async () => {
    const { m, params } = await model(3);
    const prompts = [
      [1, 2, 3],
      [4, 5, 6, 7, 8],
      [9, 0],
    ];
    const got = await generate(rt, m, prompts, { maxNew: 6, temperature: 0, seed: 1, step: 0, pad: 0 });
    expect(got).toEqual(prompts.map((p) => referenceGreedy(params, p, 6)));
    m.destroy();
  });

  it('sampling is deterministic for a seed and step, and differs for another', async () => {
    const { m } = await model(4);
    const prompts = [[1, 2], [3], [4, 5, 6]];
    const opts = { maxNew: 8, temperature: 1, seed: 7, step: 2, pad: 0 };
    const a = await generate(rt, m, prompts, opts);
    const b = await generate(rt, m, prompts, opts);
    const c = await generate(rt, m, prompts, { ...opts, seed: 8 });
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(a.every((s) => s.length === 8)).toBe(true);
    m.destroy();
  });

  it('a decode step with the KV cache gives the logits a full forward gives at that position', async () => {
    const { m } = await model(6);
    const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]];
    const more = [
      [3, 9, 0, 1, 2, 5],
      [7, 7, 1, 4, 0, 2],
      [2, 8, 6, 10, 9, 3],
    ];
    const V = cfg.vocab;
    const padded = (seqs: number[][]) => Uint32Array.from({ length: B * T }, (_, i) => seqs[Math.floor(i / T)][i % T] ?? 0);
    m.setBatch(padded(prompts), padded(prompts));
    m.forward();
    const ids = rt.empty([B], 'u32', 'test.ids');
    const at = rt.empty([B], 'u32', 'test.at');
    const stepped: Float32Array[] = [];
    for (let i = 0; i < more[0].length; i++) {
      rt.write(
        ids,
        more.map((c) => c[i]),
      );
      rt.write(
        at,
        prompts.map((p) => p.length + i),
      );
      stepped.push(await rt.readF32(m.decode(ids, at)));
    }
    const full = prompts.map((p, b) => [...p, ...more[b]]);
    m.setBatch(padded(full), padded(full));
    m.forward();
    const logits = await rt.readF32(m.logits);
    let worst = 0;
    let spread = 0;
    stepped.forEach((rows, i) => {
      for (let b = 0; b < B; b++) {
        const t = prompts[b].length + i;
        for (let v = 0; v < V; v++) {
          const want = logits[(b * T + t) * V + v];
          worst = Math.max(worst, Math.abs(rows[b * V + v] - want) / (1 + Math.abs(want)));
          spread = Math.max(spread, Math.abs(want - logits[(b * T + t - 1) * V + v]));
        }
      }
    });
    expect(worst).toBeLessThan(2e-6);
    expect(spread, 'the positions have logits of their own').toBeGreaterThan(0.1);
    ids.destroy();
    at.destroy();
    m.destroy();
  });

  it('with and without the KV cache, the same completions (greedy and sampled)', async () => {
    const { m } = await model(7);
    const prompts = [[1, 2], [3, 4, 5, 6], [7]];
    for (const temperature of [0, 1]) {
      const opts = { maxNew: 9, temperature, seed: 11, step: 3, pad: 0 };
      const cached = await generate(rt, m, prompts, opts);
      expect(await generate(rt, m, prompts, { ...opts, cache: false })).toEqual(cached);
      expect(cached.map((s) => s.length)).toEqual(prompts.map((p) => Math.min(9, T - p.length)));
    }
    m.destroy();
  });

  it('greedy answers do not depend on the batch: 12 prompts at once give what 4 batches of 3 give', async () => {
    // The token suite evaluates with a copy of the model of a larger batch (src/train/suite-pointer.ts).
    const { m } = await model(5);
    const wide = new TransformerModel(rt, cfg, { B: 12, T }, 99);
    copy(rt, wide.params.all, m.params.all);
    const rng = new Rng(8);
    const prompts = Array.from({ length: 12 }, () => Array.from({ length: 1 + rng.int(8) }, () => rng.int(cfg.vocab)));
    const opts = { maxNew: 7, temperature: 0, seed: 2, step: 0, eos: 10, pad: 0 };
    const chunked: number[][] = [];
    for (let i = 0; i < 12; i += B) chunked.push(...(await generate(rt, m, prompts.slice(i, i + B), opts)));
    const once = await generate(rt, wide, prompts, opts);
    expect(once).toEqual(chunked);
    // Not all the same answer (so the comparison says something).
    expect(new Set(once.map((a) => a.join(','))).size).toBeGreaterThan(3);
    m.destroy();
    wide.destroy();
  });

  it('sequences that end at different steps (EOS) while others go on: the same completions as a step at a time', async () => {
    const { m } = await model(8);
    const prompts = [[1, 2], [3, 4, 5, 6], [7]];
    const opts = { maxNew: 9, temperature: 1, seed: 5, step: 1, pad: 0 };
    // An EOS the samples hit early in one sequence and later or never in another.
    const free = await generate(rt, m, prompts, opts);
    const eos = free[0][1];
    const ended = await generate(rt, m, prompts, { ...opts, eos });
    expect(await generate(rt, m, prompts, { ...opts, eos, cache: false })).toEqual(ended);
    const lengths = ended.map((c) => c.length);
    expect(lengths[0]).toBeLessThanOrEqual(2);
    expect(new Set(lengths).size, `lengths ${lengths}`).toBeGreaterThan(1);
    // Up to its EOS, each sequence draws what it drew without one.
    for (const [b, c] of ended.entries()) expect(c).toEqual(free[b].slice(0, c.length));
    m.destroy();
  });

  it('stops a sequence at EOS or at the end of the context, and refuses prompts that do not fit', async () => {
    const { m, params } = await model(5);
    const prompt = [2, 4, 6];
    const free = referenceGreedy(params, prompt, 8);
    const eos = free[2];
    const got = await generate(rt, m, [prompt], { maxNew: 8, temperature: 0, seed: 1, step: 0, eos, pad: 0 });
    expect(got[0]).toEqual(referenceGreedy(params, prompt, 8, eos));
    expect(got[0][got[0].length - 1]).toBe(eos);
    const long = await generate(rt, m, [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], {
      maxNew: 8,
      temperature: 0,
      seed: 1,
      step: 0,
      pad: 0,
    });
    expect(long[0]).toHaveLength(2); // T = 12: two positions left
    expect(await generate(rt, m, [prompt], { maxNew: 0, temperature: 0, seed: 1, step: 0, pad: 0 })).toEqual([[]]);
    await expect(
      generate(rt, m, [new Array(12).fill(1)], { maxNew: 1, temperature: 0, seed: 1, step: 0, pad: 0 }),
    ).rejects.toThrow(/prompt 0 has 12 tokens; it needs 1 to 11/);
    m.destroy();
  });
});
