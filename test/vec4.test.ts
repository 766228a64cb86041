/**
 * The four-elements-per-invocation variants (T = vec4f, chosen when sizes allow) compute the same
 * bits as the one-element kernels: each elementwise kernel is run on 4096 elements (vec4) and on the
 * first 4093 of the same data (scalar) and the outputs compared bit for bit; embedding_backward's
 * token rows are compared with a plain f32 sum in position order, with C a multiple of 4 (vec4) and
 * not; its position index (embedding_index) with a CPU counting of the ids; layernorm's forward and
 * backward, and softmax's (causal too), against their one-column kernels (`wide: false`), and the
 * layernorm backward's residual against a separate add; AdamW like
 * the elementwise kernels. Node and Chromium.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { embedding_backward } from '../src/kernels/embedding.ts';
import { add, copy, gelu_backward, gelu_forward, scale, threshold } from '../src/kernels/elementwise.ts';
import { layernorm_backward, layernorm_forward } from '../src/kernels/layernorm.ts';
import { adamw } from '../src/kernels/optim.ts';
import { softmax_backward, softmax_forward } from '../src/kernels/softmax.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

/** Values of every size, with outliers and the values where GELU's branches change. */
function data(rng: Rng, n: number): Float32Array {
  const x = randomArray(rng, n);
  for (let i = 0; i < n; i += 37) x[i] *= 100;
  for (let i = 5; i < n; i += 101) x[i] = 0;
  for (let i = 11; i < n; i += 53) x[i] = -4.5 - (i % 7);
  return x;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

type Op = (rt: Runtime, out: Tensor, ins: Tensor[]) => void;
const ops: [string, number, Op][] = [
  ['add', 2, (r, o, [a, b]) => add(r, o, a, b)],
  ['scale', 1, (r, o, [x]) => scale(r, o, x, -0.37)],
  ['copy', 1, (r, o, [x]) => copy(r, o, x)],
  ['threshold', 1, (r, o, [x]) => threshold(r, o, x, 0.25)],
  ['gelu_forward', 1, (r, o, [x]) => gelu_forward(r, o, x)],
  ['gelu_backward', 2, (r, o, [dy, x]) => gelu_backward(r, o, dy, x)],
];

describe('vec4 variants', () => {
  for (const [name, inputs, op] of ops) {
    it(`${name}: 4096 elements (vec4) give the bits of the first 4093 (one per invocation)`, async () => {
      const rng = new Rng(7);
      const ins = Array.from({ length: inputs }, () => data(rng, 4096));
      const run = async (n: number) => {
        const ts = ins.map((x) => rt.tensor(x.subarray(0, n), [n]));
        const out = rt.empty([n]);
        op(rt, out, ts);
        const got = await rt.readF32(out);
        for (const t of [...ts, out]) t.destroy();
        return got;
      };
      const wide = await run(4096);
      const narrow = await run(4093);
      expect(Array.from(bits(wide.subarray(0, 4093)))).toEqual(Array.from(bits(narrow)));
      expect(wide.some((v, i) => v !== ins[0][i])).toBe(name !== 'copy');
    });
  }

  for (const C of [16, 13]) {
    it(`embedding_backward: each token row is the f32 sum of its positions' rows in order (C = ${C}), and the index lists them`, async () => {
      const rng = new Rng(C);
      const B = 5;
      const T = 37;
      const V = 11;
      const Tmax = 40;
      // Token 3 never occurs; token 0 often.
      const tokens = Array.from({ length: B * T }, () => {
        const v = rng.int(V);
        return v === 3 ? 0 : v;
      });
      const dout = data(rng, B * T * C);
      const dwte = rt.tensor(new Float32Array(V * C).fill(9), [V, C]);
      const dwpe = rt.tensor(new Float32Array(Tmax * C).fill(9), [Tmax, C]);
      const doutT = rt.tensor(dout, [B, T, C]);
      const tokT = rt.tensor(tokens, [B, T], 'u32');
      embedding_backward(rt, dwte, dwpe, doutT, tokT);
      const got = await rt.readF32(dwte);
      const want = new Float32Array(V * C);
      for (let v = 0; v < V; v++) {
        for (let c = 0; c < C; c++) {
          let acc = Math.fround(0);
          for (let n = 0; n < B * T; n++) if (tokens[n] === v) acc = Math.fround(acc + dout[n * C + c]);
          want[v * C + c] = acc;
        }
      }
      expect(Array.from(bits(got))).toEqual(Array.from(bits(want)));
      const index = (await rt.read(rt.scratch('embedding.index', V + 2 + B * T, 'u32'))) as Uint32Array;
      const starts = Array.from({ length: V + 1 }, (_, v) => tokens.filter((t) => t < v).length);
      expect(Array.from(index.subarray(0, V + 1))).toEqual(starts);
      const order = Array.from({ length: B * T }, (_, n) => n).sort((a, b) => tokens[a] - tokens[b] || a - b);
      expect(Array.from(index.subarray(V + 2, V + 2 + B * T))).toEqual(order);
      for (const t of [dwte, dwpe, doutT, tokT]) t.destroy();
    });
  }
});

describe('adamw vec4', () => {
  it('4096 elements (vec4) give the bits of the first 4093 (one per invocation), clipped and decayed', async () => {
    const rng = new Rng(9);
    const [p0, m0, v0, g0] = [data(rng, 4096), data(rng, 4096), data(rng, 4096).map(Math.abs), data(rng, 4096)];
    const run = async (n: number) => {
      const t = (x: Float32Array) => rt.tensor(x.subarray(0, n), [n]);
      const [params, m, v, grads] = [t(p0), t(m0), t(v0), t(g0)];
      const sumsq = rt.tensor([1234.5], [1]);
      adamw(rt, params, m, v, grads, sumsq, { lr: 0.01, step: 3, weightDecay: 0.1, maxNorm: 1 });
      const out = await Promise.all([params, m, v].map((u) => rt.readF32(u)));
      for (const u of [params, m, v, grads, sumsq]) u.destroy();
      return out;
    };
    const wide = await run(4096);
    const narrow = await run(4093);
    for (let k = 0; k < 3; k++) expect(Array.from(bits(wide[k].subarray(0, 4093)))).toEqual(Array.from(bits(narrow[k])));
    expect(wide[0].some((x, i) => x !== p0[i])).toBe(true);
  });
});

describe('layernorm vec4', () => {
  for (const [N, C] of [
    [37, 64],
    [3, 4],
    [2, 600],
  ]) {
    it(`forward and backward with four columns per load give the one-column bits, and a residual the bits of an add (N = ${N}, C = ${C})`, async () => {
      const rng = new Rng(N + C);
      const x = data(rng, N * C);
      for (let i = 0; i < N * C; i++) x[i] += (i % 5) - 2;
      const t = (a: Float32Array, shape: number[]) => rt.tensor(a, shape);
      const [xT, w, b, dy] = [t(x, [N, C]), t(data(rng, C), [C]), t(data(rng, C), [C]), t(data(rng, N * C), [N, C])];
      const res = t(data(rng, N * C), [N, C]);
      const run = async (wide: boolean) => {
        const [y, mean, rstd, dx, dw, db] = [
          rt.empty([N, C]),
          rt.empty([N]),
          rt.empty([N]),
          rt.empty([N, C]),
          rt.empty([C]),
          rt.empty([C]),
        ];
        layernorm_forward(rt, y, mean, rstd, xT, w, b, { wide });
        layernorm_backward(rt, dx, dw, db, dy, xT, w, mean, rstd, { wide });
        // The residual in the same pass against a separate add.
        const [dxr, dw2, db2, sum] = [rt.empty([N, C]), rt.empty([C]), rt.empty([C]), rt.empty([N, C])];
        layernorm_backward(rt, dxr, dw2, db2, dy, xT, w, mean, rstd, { wide, residual: res });
        add(rt, sum, res, dx);
        const all = [y, mean, rstd, dx, dw, db, dxr, sum];
        const out = (await Promise.all(all.map((u) => rt.readF32(u)))).map((o) => Array.from(bits(o)));
        for (const u of [...all, dw2, db2]) u.destroy();
        expect(out[6]).toEqual(out[7]);
        return out.slice(0, 7);
      };
      expect(await run(true)).toEqual(await run(false));
      for (const u of [xT, w, b, dy, res]) u.destroy();
    });
  }
});

describe('softmax vec4', () => {
  for (const [R, Q, N, causal] of [
    [4, 64, 64, true],
    [3, 5, 8, true],
    [2, 1, 520, false],
    [1, 1, 1024, true],
  ] as const) {
    it(`forward and backward with four columns per load give the one-column bits (R = ${R}, Q = ${Q}, N = ${N}${causal ? ', causal' : ''})`, async () => {
      const rng = new Rng(R * N);
      const x = data(rng, R * Q * N);
      const shape = Q > 1 ? [R, Q, N] : [R, N];
      const [xT, dy] = [rt.tensor(x, shape), rt.tensor(data(rng, R * Q * N), shape)];
      const run = async (wide: boolean) => {
        const [y, dx] = [rt.empty(shape), rt.empty(shape)];
        softmax_forward(rt, y, xT, { causal, scale: 0.3, wide, variant: 'row' });
        softmax_backward(rt, dx, dy, y, { scale: 0.3, wide });
        const out = await Promise.all([y, dx].map((u) => rt.readF32(u)));
        for (const u of [y, dx]) u.destroy();
        return out.map((o) => Array.from(bits(o)));
      };
      expect(await run(true)).toEqual(await run(false));
      for (const u of [xT, dy]) u.destroy();
    });
  }
});
