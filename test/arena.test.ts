/**
 * Views and arenas: many tensors in one buffer, each bound by kernels at its own aligned offset.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Arena } from '../src/gpu/arena.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { copy } from '../src/kernels/elementwise.ts';
import { layernorm_backward } from '../src/kernels/layernorm.ts';
import { matmul } from '../src/kernels/matmul.ts';
import { findKernel } from '../src/kernels/registry.ts';
import { compare } from '../src/reference/compare.ts';
import * as ref from '../src/reference/kernels.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

describe('arena', () => {
  it('packs slots at aligned offsets, zero-filled between them', async () => {
    const align = rt.limits.minStorageBufferOffsetAlignment / 4;
    const arena = new Arena(rt, 'params', [
      { name: 'w', shape: [3, 5] },
      { name: 'b', shape: [5] },
      { name: 'big', shape: [2 * align + 1] },
    ]);
    expect(arena.offsets).toEqual({ w: 0, b: align, big: 2 * align });
    expect(arena.all.size).toBe(5 * align);
    rt.write(arena.views.b, [1, 2, 3, 4, 5]);
    rt.write(
      arena.views.w,
      Array.from({ length: 15 }, (_, i) => i + 10),
    );
    expect(Array.from(await rt.readF32(arena.views.b))).toEqual([1, 2, 3, 4, 5]);
    const all = await rt.readF32(arena.all);
    expect(Array.from(all.slice(0, 16))).toEqual([...Array.from({ length: 15 }, (_, i) => i + 10), 0]);
    expect(Array.from(all.slice(align, align + 6))).toEqual([1, 2, 3, 4, 5, 0]);
    arena.destroy();
  });

  it('kernels write into a view and leave its neighbours alone', async () => {
    const rng = new Rng(5);
    const [M, N, K] = [17, 9, 13];
    const aHost = randomArray(rng, M * K);
    const bHost = randomArray(rng, K * N);
    const grads = new Arena(rt, 'grads', [
      { name: 'before', shape: [7] },
      { name: 'c', shape: [M, N] },
      { name: 'after', shape: [7] },
    ]);
    rt.write(grads.views.before, [1, 1, 1, 1, 1, 1, 1]);
    rt.write(grads.views.after, [2, 2, 2, 2, 2, 2, 2]);
    const a = rt.tensor(aHost, [M, K]);
    const b = rt.tensor(bHost, [K, N]);
    matmul(rt, grads.views.c, a, b);
    const want = new Float32Array(M * N);
    ref.matmul(want, aHost, bHost, null, 1, M, N, K);
    const cmp = compare(await rt.readF32(grads.views.c), want, { atol: 1e-5, rtol: 1e-5 }, 'c');
    expect(cmp.ok, cmp.report).toBe(true);
    expect(Array.from(await rt.readF32(grads.views.before))).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(await rt.readF32(grads.views.after))).toEqual([2, 2, 2, 2, 2, 2, 2]);
    for (const t of [a, b]) t.destroy();
    grads.destroy();
  });

  it('two outputs may be disjoint views of one buffer (dweight and dbias in a gradient arena)', async () => {
    const entry = findKernel('layernorm_backward');
    const dims = { N: 33, C: 70 };
    const host = entry.sample(new Rng(9), dims, {});
    const want = entry.cpu(host, {});
    const t = (name: string) => rt.tensor(host[name].data, host[name].shape);
    const grads = new Arena(rt, 'grads', [
      { name: 'dweight', shape: [70] },
      { name: 'dbias', shape: [70] },
    ]);
    const dx = rt.empty([33, 70]);
    layernorm_backward(rt, dx, grads.views.dweight, grads.views.dbias, t('dy'), t('x'), t('weight'), t('mean'), t('rstd'));
    for (const name of ['dweight', 'dbias']) {
      const cmp = compare(await rt.readF32(grads.views[name]), want[name].data, entry.tolerance(dims), name);
      expect(cmp.ok, cmp.report).toBe(true);
    }
    grads.destroy();
  });

  it('refuses to read one view of a buffer while writing another, and overlapping outputs', () => {
    const arena = new Arena(rt, 'acts', [
      { name: 'x', shape: [64] },
      { name: 'y', shape: [64] },
    ]);
    expect(() => copy(rt, arena.views.y, arena.views.x)).toThrow(/output y shares a GPU buffer with input x/);
    const whole = rt.empty([64]);
    const dweight = rt.view(whole, 0, [4]);
    const dbias = rt.view(whole, 0, [4]);
    const m = () => rt.empty([4, 4]);
    const v = () => rt.empty([4]);
    expect(() => layernorm_backward(rt, m(), dweight, dbias, m(), m(), v(), v(), v())).toThrow(
      /outputs dweight and dbias overlap in memory/,
    );
    arena.destroy();
  });

  it('refuses views that do not fit or are misaligned', () => {
    const parent = rt.empty([256]);
    expect(() => rt.view(parent, 200, [100])).toThrow(/does not fit/);
    expect(() => rt.view(parent, 3, [4])).toThrow(/minStorageBufferOffsetAlignment/);
  });
});
