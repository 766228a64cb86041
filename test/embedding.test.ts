/**
 * The embedding family: every registry case against the CPU reference, the reference's backward
 * against finite differences of its forward, and the GPU specifics (outputs overwritten, context
 * longer than the position table refused, bad token ids refused on the CPU and clamped on the GPU,
 * bit-identical reruns). Runs in Node (Dawn) and in headless Chromium.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, ShapeError } from '../src/gpu/errors.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { embedding_backward, embedding_forward } from '../src/kernels/embedding.ts';
import { embeddingKernels } from '../src/kernels/embedding.entries.ts';
import { runKernel } from '../src/kernels/run.ts';
import * as ref from '../src/reference/embedding.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';
import { expectClose, fdGrad } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

// Every case of these registry entries runs in test/kernels.test.ts with the other kernels.

describe('embedding reference', () => {
  it('backward matches finite differences of sum(g * forward), with repeated and unused tokens and Tmax > T', () => {
    const rng = new Rng(71);
    const B = 2;
    const T = 3;
    const Tmax = 5;
    const V = 4;
    const C = 3;
    const tokens = Uint32Array.from([2, 0, 2, 2, 3, 0]); // token 1 unused, token 2 three times
    const wte = randomArray(rng, V * C);
    const wpe = randomArray(rng, Tmax * C);
    const g = randomArray(rng, B * T * C);
    const out = new Float32Array(B * T * C);
    const loss = (): number => {
      ref.embedding_forward(out, tokens, wte, wpe, B, T, C, V);
      let acc = 0;
      for (let i = 0; i < out.length; i++) acc += g[i] * out[i];
      return acc;
    };
    // The loss is linear in the weights, so a large step is exact up to f32 rounding.
    const fdTe = fdGrad(wte, loss, 1e-2);
    const fdPe = fdGrad(wpe, loss, 1e-2);
    const dwte = new Float32Array(V * C).fill(5); // stale values must be overwritten
    const dwpe = new Float32Array(Tmax * C).fill(-5);
    ref.embedding_backward(dwte, dwpe, g, tokens, B, T, C, V, Tmax);
    const tol = { atol: 1e-4, rtol: 1e-3 };
    expectClose(dwte, fdTe, tol, 'dwte');
    expectClose(dwpe, fdPe, tol, 'dwpe');
    for (let c = 0; c < C; c++) {
      expect(dwte[1 * C + c]).toBe(0);
      for (let t = T; t < Tmax; t++) expect(dwpe[t * C + c]).toBe(0);
    }
  });

  it('refuses token ids >= V', () => {
    const out = new Float32Array(2);
    expect(() =>
      ref.embedding_forward(out, Uint32Array.from([0, 2]), new Float32Array(2), new Float32Array(2), 1, 2, 1, 2),
    ).toThrow(/token id 2 at position 1 is not below V = 2/);
  });
});

describe('embedding on the GPU', () => {
  it('backward overwrites stale dwte and dwpe, and reruns give identical bits', async () => {
    const rng = new Rng(72);
    const B = 3;
    const T = 7;
    const Tmax = 9;
    const V = 11;
    const C = 5;
    const tokensH = Uint32Array.from({ length: B * T }, () => rng.int(V - 2)); // the last two ids unused
    const doutH = randomArray(rng, B * T * C);
    const tokens = rt.tensor(tokensH, [B, T], 'u32');
    const dout = rt.tensor(doutH, [B, T, C]);
    const dwte = rt.tensor(new Float32Array(V * C).fill(Number.NaN), [V, C]);
    const dwpe = rt.tensor(new Float32Array(Tmax * C).fill(123), [Tmax, C]);
    embedding_backward(rt, dwte, dwpe, dout, tokens);
    const first = { te: await rt.readF32(dwte), pe: await rt.readF32(dwpe) };
    const wantTe = new Float32Array(V * C);
    const wantPe = new Float32Array(Tmax * C);
    ref.embedding_backward(wantTe, wantPe, doutH, tokensH, B, T, C, V, Tmax);
    const tol = { atol: 1e-6, rtol: 1e-6 };
    expectClose(first.te, wantTe, tol, 'dwte');
    expectClose(first.pe, wantPe, tol, 'dwpe');
    embedding_backward(rt, dwte, dwpe, dout, tokens);
    expect(Array.from(await rt.readF32(dwte))).toEqual(Array.from(first.te));
    expect(Array.from(await rt.readF32(dwpe))).toEqual(Array.from(first.pe));
    for (const t of [tokens, dout, dwte, dwpe]) t.destroy();
  });

  it('a context longer than the position table is a ShapeError, for the forward and the backward', () => {
    const tokens = rt.empty([2, 9], 'u32');
    expect(() => embedding_forward(rt, rt.empty([2, 9, 4]), tokens, rt.empty([5, 4]), rt.empty([8, 4]))).toThrow(ShapeError);
    expect(() => embedding_forward(rt, rt.empty([2, 9, 4]), tokens, rt.empty([5, 4]), rt.empty([8, 4]))).toThrow(
      /context T exceeds the position table Tmax: tokens\[2, 9\] has T = 9 but wpe\[8, 4\] has Tmax = 8/,
    );
    expect(() => embedding_backward(rt, rt.empty([5, 4]), rt.empty([8, 4]), rt.empty([2, 9, 4]), tokens)).toThrow(
      /context T exceeds the position table Tmax/,
    );
    expect(() => embedding_forward(rt, rt.empty([2, 9, 4]), tokens, rt.empty([5, 4]), rt.empty([9, 3]))).toThrow(
      /wpe has shape \[9, 3\], expected \[9, 4\]/,
    );
    expect(() => embedding_forward(rt, rt.empty([2, 9, 4]), rt.empty([2, 9]), rt.empty([5, 4]), rt.empty([9, 4]))).toThrow(
      /tokens must be u32, got f32/,
    );
  });

  it('token ids >= V: the registry refuses them on the CPU; the bare kernel clamps to V - 1 (never out of bounds)', async () => {
    const [forward, backward] = embeddingKernels;
    const inputs = {
      tokens: { shape: [1, 3], data: Uint32Array.from([0, 4, 1]) },
      wte: { shape: [4, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) },
      wpe: { shape: [3, 2], data: Float32Array.from([0.5, 0.5, 0.25, 0.25, 0, 0]) },
    };
    await expect(runKernel(rt, forward, inputs, {})).rejects.toThrow(InputError);
    await expect(runKernel(rt, forward, inputs, {})).rejects.toThrow(/value 4 at index 1 is not an integer in \[0, 4\)/);
    const back = { dout: { shape: [1, 3, 2], data: new Float32Array(6) }, tokens: inputs.tokens };
    await expect(runKernel(rt, backward, back, { V: 4 })).rejects.toThrow(/value 4 at index 1 is not an integer in \[0, 4\)/);

    const tokens = rt.tensor([0, 4, 1], [1, 3], 'u32');
    const wte = rt.tensor(inputs.wte.data, [4, 2]);
    const wpe = rt.tensor(inputs.wpe.data, [3, 2]);
    const out = rt.empty([1, 3, 2]);
    embedding_forward(rt, out, tokens, wte, wpe);
    expect(Array.from(await rt.readF32(out))).toEqual([1.5, 2.5, 7.25, 8.25, 3, 4]);
    for (const t of [tokens, wte, wpe, out]) t.destroy();
  });
});
