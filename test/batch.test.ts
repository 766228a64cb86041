/**
 * Batched submission: many dispatches recorded into one compute pass and submitted once give the
 * same bits as one submission each; GPU errors inside a batch are reported with its label.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { KernelError } from '../src/gpu/errors.ts';
import type { KernelSpec } from '../src/gpu/kernel.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { add, scale } from '../src/kernels/elementwise.ts';
import { sum } from '../src/kernels/reduce.ts';
import { TransformerModel } from '../src/models/transformer.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

describe('Runtime.batch', () => {
  it('a transformer step in one submission gives the same bits as one submission per kernel', async () => {
    const cfg = { vocab: 13, context: 16, dModel: 16, layers: 2, heads: 2 };
    const rng = new Rng(3);
    const tokens = Array.from({ length: 2 * 16 }, () => rng.int(13));
    const targets = Array.from({ length: 2 * 16 }, () => rng.int(13));
    const results: Float32Array[] = [];
    for (const batched of [false, true]) {
      const model = new TransformerModel(rt, cfg, { B: 2, T: 16 }, 4);
      model.setBatch(tokens, targets);
      if (batched) rt.batch('train step', () => model.forwardBackward());
      else model.forwardBackward();
      results.push(await rt.readF32(model.grads.all));
      results.push(await rt.readF32(model.loss));
      model.destroy();
    }
    expect(Array.from(results[2])).toEqual(Array.from(results[0]));
    expect(results[3][0]).toBe(results[1][0]);
  });

  it('profiling times each unbatched dispatch and a batch as one entry (adapters with timestamp queries)', async () => {
    const x = rt.empty([4096], 'f32', 'prof.x');
    const y = rt.empty([4096], 'f32', 'prof.y');
    rt.write(x, randomArray(new Rng(1), 4096));
    if (!rt.startProfile(8)) {
      expect(rt.device.features.has('timestamp-query')).toBe(false);
      expect(await rt.endProfile()).toEqual([]);
      return;
    }
    scale(rt, y, x, 2);
    rt.batch('two adds', () => {
      add(rt, y, x, x);
      add(rt, y, x, x);
    });
    const p = await rt.endProfile();
    expect(p.map((e) => e.name.replace('.vec4', ''))).toEqual(['scale (x[4096], y[4096])', 'batch two adds']);
    for (const e of p) expect(e.ms).toBeGreaterThanOrEqual(0);
    // The batch still computed: y = x + x.
    const [xs, ys] = [await rt.readF32(x), await rt.readF32(y)];
    expect(Array.from(ys)).toEqual(Array.from(xs, (v) => v + v));
    x.destroy();
    y.destroy();
  });

  it('more dispatches than uniform slots: the batch is split and stays correct', async () => {
    const x = rt.tensor([1, 2, 3], [3]);
    const y = rt.empty([3]);
    rt.batch('ping-pong', () => {
      for (let i = 0; i < 300; i++) {
        if (i % 2 === 0) scale(rt, y, x, 1.01);
        else scale(rt, x, y, 1 / 1.01);
      }
    });
    const got = Array.from(await rt.readF32(x));
    for (const [i, v] of got.entries()) expect(v).toBeCloseTo(i + 1, 4);
  });

  it('each dispatch reads its own parameters: 600 scales over the same two tensors, batched or not, exactly', async () => {
    // The tensors' bind group is made once and reused; the parameters travel in a uniform slot
    // chosen by a dynamic offset, staged for the batch and written once per submission (600
    // dispatches: two flushes inside the batch and the slot ring wrapping).
    const scales = Array.from({ length: 600 }, (_, i) => 1 + ((i % 7) - 3) / 64);
    const want = [1, 2, 3].map((v) => scales.reduce((acc, s) => Math.fround(acc * s), v));
    const run = (batched: boolean) => {
      const x = rt.tensor([1, 2, 3], [3]);
      const y = rt.empty([3]);
      const body = () => {
        for (const [i, s] of scales.entries()) {
          if (i % 2 === 0) scale(rt, y, x, s);
          else scale(rt, x, y, s);
        }
      };
      if (batched) rt.batch('600 scales', body);
      else body();
      return { x, y };
    };
    const before = rt.stats().bindGroups;
    for (const batched of [true, false]) {
      const { x, y } = run(batched);
      expect(Array.from(await rt.readF32(x))).toEqual(want);
      // Two bind groups (x -> y, y -> x) served all 600 dispatches.
      expect(rt.stats().bindGroups - before).toBe(2);
      x.destroy();
      y.destroy();
      // Destroying a tensor drops the bind groups that bind it.
      expect(rt.stats().bindGroups).toBe(before);
    }
  });

  it('temporaries released inside a batch live until its submission (multi-pass sum)', async () => {
    const data = randomArray(new Rng(8), 3_000_001);
    const x = rt.tensor(data, [data.length]);
    const outside = rt.empty([1]);
    const inside = rt.empty([1]);
    sum(rt, outside, x);
    const a = rt.empty([data.length]);
    rt.batch('sum in batch', () => {
      add(rt, a, x, x);
      sum(rt, inside, x);
    });
    expect((await rt.readF32(inside))[0]).toBe((await rt.readF32(outside))[0]);
  });

  it('a GPU error inside a batch names the batch and its kernels; reads inside a batch are refused', async () => {
    const broken: KernelSpec<'N'> = {
      name: 'broken_in_batch',
      shader: 'not wgsl',
      params: [['N', 'u32']],
      bindings: [{ name: 'x', access: 'read_write' }],
      workgroupSize: [1, 1, 1],
      dispatch: () => [1, 1, 1],
    };
    const t = rt.empty([4]);
    rt.batch('my step', () => rt.dispatch(broken, { params: { N: 4 }, tensors: { x: t }, shapes: 'x[4]' }));
    const err = await rt.sync().catch((e) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect(err.message).toMatch(/^kernel my step \(1 dispatches: broken_in_batch \(x\[4\]\)\): GPU validation error/);
    await expect(rt.batch('reading', () => rt.read(t))).rejects.toThrow(/inside batch reading/);
  });
});
