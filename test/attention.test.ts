/**
 * Attention beyond the registry cases: the backward on a causal att, and the CPU reference's
 * backward (src/reference/attention.ts) against finite differences of its forward.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { attentionKernels } from '../src/kernels/attention.entries.ts';
import { runKernel } from '../src/kernels/run.ts';
import { compare } from '../src/reference/compare.ts';
import * as ref from '../src/reference/attention.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

// Every case of these registry entries runs in test/kernels.test.ts with the other kernels.

it('attention_backward on a causal att matches the reference', async () => {
  const [fwd, bwd] = [attentionKernels[1], attentionKernels[2]];
  const dims = { B: 2, H: 2, T: 19, hs: 5 };
  const rng = new Rng(21);
  const inputs = fwd.sample(rng, dims, {});
  const { att } = fwd.cpu(inputs, { causal: true });
  const host = { ...inputs, att, dout: { shape: [2, 2, 19, 5], data: randomArray(rng, 2 * 2 * 19 * 5) } };
  const got = await runKernel(rt, bwd, host, {});
  const want = bwd.cpu(host, {});
  for (const k of ['dq', 'dk', 'dv']) {
    const cmp = compare(got[k].data, want[k].data, bwd.tolerance(dims), k);
    expect(cmp.ok, cmp.report).toBe(true);
  }
});

describe('reference attention_backward against finite differences', () => {
  for (const causal of [false, true]) {
    it(`causal=${causal}`, () => {
      const [B, H, T, hs] = [1, 2, 4, 3];
      const n = B * H * T * hs;
      const rng = new Rng(causal ? 2 : 1);
      const q = randomArray(rng, n, { outlierScale: 1 });
      const k = randomArray(rng, n, { outlierScale: 1 });
      const v = randomArray(rng, n, { outlierScale: 1 });
      const g = randomArray(rng, n, { outlierScale: 1 });
      const loss = (qq: Float32Array, kk: Float32Array, vv: Float32Array): number => {
        const out = new Float32Array(n);
        ref.attention_forward(out, new Float32Array(B * H * T * T), qq, kk, vv, B, H, T, hs, { causal });
        let s = 0;
        for (let i = 0; i < n; i++) s += g[i] * out[i];
        return s;
      };
      const out = new Float32Array(n);
      const att = new Float32Array(B * H * T * T);
      ref.attention_forward(out, att, q, k, v, B, H, T, hs, { causal });
      const [dq, dk, dv] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      ref.attention_backward(dq, dk, dv, g, q, k, v, att, B, H, T, hs);
      const inputs = [q, k, v];
      const grads = [dq, dk, dv];
      for (let which = 0; which < 3; which++) {
        const x = inputs[which];
        const fd = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const orig = x[i];
          x[i] = orig + 1e-2;
          const hp = x[i] - orig;
          const up = loss(q, k, v);
          x[i] = orig - 1e-2;
          const hm = orig - x[i];
          const down = loss(q, k, v);
          x[i] = orig;
          fd[i] = (up - down) / (hp + hm);
        }
        const cmp = compare(grads[which], fd, { atol: 2e-3, rtol: 2e-2 }, ['dq', 'dk', 'dv'][which]);
        expect(cmp.ok, cmp.report).toBe(true);
      }
    });
  }
});
