/**
 * The CPU reference of the in-context weight-prediction transformer (src/reference/icl-transformer.ts),
 * checked against itself and the kernel references: every gradient of every parameter against central
 * finite differences of the loss (f64 throughout, so the tolerance is tight), icl_backward for an
 * arbitrary dpred, the forward against the same model composed from the f32 kernel references,
 * invariance to the order of the pairs, the parameters, the init and the errors.
 * Runs in Node and in the browser (no node: imports).
 */
import { describe, expect, it } from 'vitest';
import { attention_forward, permute_0213 } from '../src/reference/attention.ts';
import { compare, type Tolerance } from '../src/reference/compare.ts';
import {
  type IclTransformerConfig,
  type IclTransformerParams,
  icl_backward,
  icl_forward,
  icl_init,
  icl_loss_and_grads,
  icl_param_shapes,
} from '../src/reference/icl-transformer.ts';
import { add, gelu_forward, layernorm_forward, matmul } from '../src/reference/kernels.ts';
import { Rng } from '../src/reference/random.ts';
import { expectClose, fdGrad, paramsAwayFromInit } from './helpers.ts';

const CFG: IclTransformerConfig = { d: 3, n: 5, dModel: 8, layers: 2, heads: 2, mlp: 12 };
const B = 2;
/** Finite differences of an f64 loss: step 1e-5, so truncation (~h^2) and rounding (~1e-16/h) are both tiny. */
const FD_STEP = 1e-5;
const FD_TOL: Tolerance = { atol: 1e-7, rtol: 1e-5 };

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

function normals(rng: Rng, count: number, std = 1): number[] {
  return Array.from({ length: count }, () => std * rng.normal());
}

/** A batch of prompts: X [B,n,d] and w [B,d] standard normal, y = X·w + 0.1 noise. */
function randomTask(rng: Rng, cfg: IclTransformerConfig): { X: number[]; y: number[]; w: number[] } {
  const { d, n } = cfg;
  const X = normals(rng, B * n * d);
  const w = normals(rng, B * d);
  const y: number[] = [];
  for (let b = 0; b < B; b++)
    for (let i = 0; i < n; i++) {
      let s = 0.1 * rng.normal();
      for (let j = 0; j < d; j++) s += X[(b * n + i) * d + j] * w[b * d + j];
      y.push(s);
    }
  return { X, y, w };
}

function randomParams(cfg: IclTransformerConfig, seed: number): IclTransformerParams {
  return paramsAwayFromInit(icl_param_shapes(cfg), seed);
}

/** The loss computed independently of icl_loss_and_grads: forward, then (1/B) sum (pred - w)^2. */
function lossOnly(params: IclTransformerParams, X: number[], y: number[], w: number[]): number {
  const { pred } = icl_forward(params, CFG, X, y, B);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i] - w[i]) ** 2;
  return s / B;
}

/**
 * The same forward composed from the f32 kernel references (layernorm, matmul, attention without the
 * causal mask, GELU, add), which were written and tested independently of this reference.
 */
function kernelsForward(params: IclTransformerParams, cfg: IclTransformerConfig, X: number[], y: number[]): Float32Array {
  const { d, n, dModel: C, layers: L, heads: H } = cfg;
  const M = cfg.mlp ?? 4 * C;
  const hs = C / H;
  const N = B * n;
  const p = (name: string): Float32Array => Float32Array.from(params[name]);
  const linear = (x: Float32Array, rows: number, w: string, b: string, I: number, O: number): Float32Array => {
    const out = new Float32Array(rows * O);
    matmul(out, x, p(w), p(b), 1, rows, O, I, { transB: true });
    return out;
  };
  const layernorm = (x: Float32Array, rows: number, w: string, b: string): Float32Array => {
    const out = new Float32Array(rows * C);
    layernorm_forward(out, new Float32Array(rows), new Float32Array(rows), x, p(w), p(b), rows, C, 1e-5);
    return out;
  };
  const z = new Float32Array(N * (d + 1));
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < d; j++) z[r * (d + 1) + j] = X[r * d + j];
    z[r * (d + 1) + d] = y[r];
  }
  const x = linear(z, N, 'in.w', 'in.b', d + 1, C);
  for (let l = 0; l < L; l++) {
    const a = layernorm(x, N, `h${l}.ln1.w`, `h${l}.ln1.b`);
    const heads = (t: Float32Array): Float32Array => {
      const out = new Float32Array(N * C);
      permute_0213(out, t, B, n, H, hs); // [B,n,H,hs] -> [B,H,n,hs]
      return out;
    };
    const q = heads(linear(a, N, `h${l}.attn.wq`, `h${l}.attn.bq`, C, C));
    const k = heads(linear(a, N, `h${l}.attn.wk`, `h${l}.attn.bk`, C, C));
    const v = heads(linear(a, N, `h${l}.attn.wv`, `h${l}.attn.bv`, C, C));
    const oh = new Float32Array(N * C);
    attention_forward(oh, new Float32Array(B * H * n * n), q, k, v, B, H, n, hs, { causal: false });
    const o = new Float32Array(N * C);
    permute_0213(o, oh, B, H, n, hs); // [B,H,n,hs] -> [B,n,H,hs]
    add(x, x, linear(o, N, `h${l}.attn.wo`, `h${l}.attn.bo`, C, C), N * C);
    const m = layernorm(x, N, `h${l}.ln2.w`, `h${l}.ln2.b`);
    const h = linear(m, N, `h${l}.mlp.w1`, `h${l}.mlp.b1`, C, M);
    const g = new Float32Array(N * M);
    gelu_forward(g, h, N * M);
    add(x, x, linear(g, N, `h${l}.mlp.w2`, `h${l}.mlp.b2`, M, C), N * C);
  }
  const pooled = new Float32Array(B * C);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[(b * n + i) * C + c];
      pooled[b * C + c] = s / n;
    }
  return linear(layernorm(pooled, B, 'lnf.w', 'lnf.b'), B, 'out.w', 'out.b', C, d);
}

describe('icl transformer reference: parameters', () => {
  it('lists 2 + 16 L + 4 parameters, in order, with their shapes', () => {
    const shapes = icl_param_shapes(CFG);
    const [d, C, M] = [3, 8, 12];
    const layer = (l: number): [string, number[]][] => [
      [`h${l}.ln1.w`, [C]],
      [`h${l}.ln1.b`, [C]],
      [`h${l}.attn.wq`, [C, C]],
      [`h${l}.attn.bq`, [C]],
      [`h${l}.attn.wk`, [C, C]],
      [`h${l}.attn.bk`, [C]],
      [`h${l}.attn.wv`, [C, C]],
      [`h${l}.attn.bv`, [C]],
      [`h${l}.attn.wo`, [C, C]],
      [`h${l}.attn.bo`, [C]],
      [`h${l}.ln2.w`, [C]],
      [`h${l}.ln2.b`, [C]],
      [`h${l}.mlp.w1`, [M, C]],
      [`h${l}.mlp.b1`, [M]],
      [`h${l}.mlp.w2`, [C, M]],
      [`h${l}.mlp.b2`, [C]],
    ];
    const expected: [string, number[]][] = [
      ['in.w', [C, d + 1]],
      ['in.b', [C]],
      ...layer(0),
      ...layer(1),
      ['lnf.w', [C]],
      ['lnf.b', [C]],
      ['out.w', [d, C]],
      ['out.b', [d]],
    ];
    expect(shapes.map((s) => [s.name, s.shape])).toEqual(expected);
    // Parameter count: C(2d + 4) + d + L (4 C^2 + 2 C M + 9 C + M).
    const count = (cfg: IclTransformerConfig): number => icl_param_shapes(cfg).reduce((s, p) => s + size(p.shape), 0);
    const formula = (dd: number, CC: number, L: number, MM: number): number =>
      CC * (2 * dd + 4) + dd + L * (4 * CC * CC + 2 * CC * MM + 9 * CC + MM);
    expect(count(CFG)).toBe(formula(3, 8, 2, 12));
    expect(count(CFG)).toBe(1147);
    // The MLP width defaults to 4 C.
    const dflt = icl_param_shapes({ d: 5, n: 7, dModel: 16, layers: 3, heads: 4 });
    expect(dflt.find((s) => s.name === 'h2.mlp.w1')?.shape).toEqual([64, 16]);
    expect(count({ d: 5, n: 7, dModel: 16, layers: 3, heads: 4 })).toBe(formula(5, 16, 3, 64));
  });

  it('init is deterministic per seed, with the documented scales', () => {
    const a = icl_init(CFG, 42);
    const b = icl_init(CFG, 42);
    const c = icl_init(CFG, 43);
    const shapes = icl_param_shapes(CFG);
    expect(Object.keys(a)).toEqual(shapes.map((s) => s.name));
    for (const { name, shape } of shapes) {
      expect(a[name]).toBeInstanceOf(Float64Array);
      expect(a[name].length, name).toBe(size(shape));
      expect(Array.from(b[name]), name).toEqual(Array.from(a[name]));
      if (shape.length === 2) {
        expect(Array.from(c[name]), name).not.toEqual(Array.from(a[name]));
      } else {
        const fill = /^(h\d+\.ln[12]|lnf)\.w$/.test(name) ? 1 : 0; // layernorm weights 1, every bias 0
        expect(
          a[name].every((v) => v === fill),
          name,
        ).toBe(true);
      }
    }
    // One Rng(seed) draws normals for the matrices in order, row-major: in.w (std 1/sqrt(d+1)) comes
    // first, then h0.attn.wq (vectors draw nothing).
    const rng = new Rng(42);
    const inStd = 1 / Math.sqrt(CFG.d + 1);
    for (let i = 0; i < a['in.w'].length; i++) expect(a['in.w'][i]).toBe(inStd * rng.normal());
    expect(a['h0.attn.wq'][0]).toBe(0.02 * rng.normal());
    // Sample standard deviations.
    const big = icl_init({ d: 63, n: 4, dModel: 64, layers: 2, heads: 4 }, 7);
    const std = (x: Float64Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(big['in.w'])).toBeCloseTo(1 / 8, 2);
    expect(std(big['h1.mlp.w1'])).toBeCloseTo(0.02, 3);
    expect(std(big['h0.attn.wk'])).toBeCloseTo(0.02, 3);
    expect(std(big['h0.attn.wo'])).toBeCloseTo(0.01, 3);
    expect(std(big['h1.mlp.w2'])).toBeCloseTo(0.01, 3);
    expect(std(big['out.w'])).toBeCloseTo(0.02, 2);
  });
});

describe('icl transformer reference: forward', () => {
  it('matches the same model composed from the f32 kernel references', () => {
    const rng = new Rng(5);
    const params = randomParams(CFG, 6);
    const { X, y } = randomTask(rng, CFG);
    const { pred, cache } = icl_forward(params, CFG, X, y, B);
    expect(pred).toBeInstanceOf(Float64Array);
    expect(pred.length).toBe(B * CFG.d);
    expect(cache.B).toBe(B);
    expect(cache.layers.length).toBe(CFG.layers);
    expect(cache.layers[0].att.length).toBe(B * CFG.heads * CFG.n * CFG.n);
    expectClose(pred, kernelsForward(params, CFG, X, y), { atol: 1e-4, rtol: 1e-4 }, 'pred vs kernels');
  });

  it('is invariant to the order of the pairs in a prompt, and reads every pair', () => {
    const rng = new Rng(8);
    const params = randomParams(CFG, 9);
    const { X, y } = randomTask(rng, CFG);
    const { d, n } = CFG;
    const before = icl_forward(params, CFG, X, y, B).pred;
    const perms = [
      [3, 0, 4, 1, 2],
      [4, 3, 2, 1, 0],
    ];
    const Xp: number[] = [];
    const yp: number[] = [];
    for (let b = 0; b < B; b++)
      for (const i of perms[b]) {
        for (let j = 0; j < d; j++) Xp.push(X[(b * n + i) * d + j]);
        yp.push(y[b * n + i]);
      }
    expect(Xp).not.toEqual(X);
    const after = icl_forward(params, CFG, Xp, yp, B).pred;
    expectClose(after, before, { atol: 1e-12, rtol: 0 }, 'pred after shuffling the pairs');
    // Changing one y of prompt 0 changes prompt 0's prediction only.
    const y2 = y.slice();
    y2[2] += 0.5;
    const changed = icl_forward(params, CFG, X, y2, B).pred;
    expect(Array.from(changed.subarray(0, d))).not.toEqual(Array.from(before.subarray(0, d)));
    expect(Array.from(changed.subarray(d))).toEqual(Array.from(before.subarray(d)));
  });

  it('throws clear errors: heads not dividing dModel, wrong sizes, missing parameters', () => {
    const params = icl_init(CFG, 1);
    const { X, y, w } = randomTask(new Rng(2), CFG);
    const bad: IclTransformerConfig = { ...CFG, heads: 3 };
    expect(() => icl_param_shapes(bad)).toThrow(/heads = 3 must divide dModel = 8/);
    expect(() => icl_init(bad, 1)).toThrow(/heads = 3 must divide dModel = 8/);
    expect(() => icl_forward(params, bad, X, y, B)).toThrow(/heads = 3 must divide dModel = 8/);
    expect(() => icl_loss_and_grads(params, bad, X, y, w, B)).toThrow(/heads = 3 must divide dModel = 8/);
    const { cache, pred } = icl_forward(params, CFG, X, y, B);
    expect(() => icl_backward(params, bad, cache, pred)).toThrow(/heads = 3 must divide dModel = 8/);
    expect(() => icl_param_shapes({ ...CFG, dModel: 0 })).toThrow(/dModel must be a positive integer/);
    expect(() => icl_forward(params, CFG, X.slice(1), y, B)).toThrow(/X has 29 values, expected B\*n\*d/);
    expect(() => icl_forward(params, CFG, X, y.slice(1), B)).toThrow(/y has 9 values, expected B\*n/);
    expect(() => icl_loss_and_grads(params, CFG, X, y, w.slice(1), B)).toThrow(/w has 5 values, expected B\*d/);
    expect(() => icl_backward(params, CFG, cache, pred.subarray(1))).toThrow(/dpred has 5 values/);
    const { 'out.b': _, ...missing } = params;
    expect(() => icl_forward(missing, CFG, X, y, B)).toThrow(/missing parameter out.b/);
  });
});

describe('icl transformer reference: backward', () => {
  it('every gradient of every parameter matches central finite differences of the loss', () => {
    const rng = new Rng(20);
    const params = randomParams(CFG, 21);
    const { X, y, w } = randomTask(rng, CFG);
    const { loss, grads, pred } = icl_loss_and_grads(params, CFG, X, y, w, B);
    expect(loss).toBeCloseTo(lossOnly(params, X, y, w), 12);
    expect(Array.from(pred)).toEqual(Array.from(icl_forward(params, CFG, X, y, B).pred));
    expect(Object.keys(grads)).toEqual(Object.keys(params));

    let nonzero = 0;
    let total = 0;
    const failures: string[] = [];
    for (const { name } of icl_param_shapes(CFG)) {
      const fd = fdGrad(params[name], () => lossOnly(params, X, y, w), FD_STEP);
      expect(grads[name]).toBeInstanceOf(Float64Array);
      const cmp = compare(grads[name], fd, FD_TOL, `d${name}`, 2);
      if (!cmp.ok) failures.push(cmp.report);
      nonzero += grads[name].filter((g) => Math.abs(g) > 1e-4).length;
      total += grads[name].length;
    }
    expect(failures.join('\n'), `${failures.length} parameters' gradients are off`).toBe('');
    // The check means something: nearly every gradient is far above atol.
    expect(nonzero).toBeGreaterThan(0.95 * total);
  });

  it('icl_backward with dpred = 2 (pred - w) / B gives exactly the grads of icl_loss_and_grads', () => {
    const rng = new Rng(40);
    const params = randomParams(CFG, 41);
    const { X, y, w } = randomTask(rng, CFG);
    const ref = icl_loss_and_grads(params, CFG, X, y, w, B);
    const { pred, cache } = icl_forward(params, CFG, X, y, B);
    const dpred = pred.map((p, i) => (2 * (p - w[i])) / B);
    const grads = icl_backward(params, CFG, cache, dpred);
    expect(Object.keys(grads)).toEqual(Object.keys(ref.grads));
    for (const name of Object.keys(grads)) expect(Array.from(grads[name]), name).toEqual(Array.from(ref.grads[name]));
  });

  it('icl_backward for an arbitrary dpred matches finite differences of sum(dpred * pred)', () => {
    const rng = new Rng(50);
    const params = randomParams(CFG, 51);
    const { X, y } = randomTask(rng, CFG);
    const dpred = Float64Array.from(normals(rng, B * CFG.d));
    const { cache } = icl_forward(params, CFG, X, y, B);
    const grads = icl_backward(params, CFG, cache, dpred);
    const objective = (): number => icl_forward(params, CFG, X, y, B).pred.reduce((s, p, i) => s + p * dpred[i], 0);
    for (const name of ['in.w', 'h0.attn.wk', 'h1.ln1.w', 'h1.mlp.b1', 'lnf.w', 'out.w']) {
      expectClose(grads[name], fdGrad(params[name], objective, FD_STEP), FD_TOL, `d${name} for an arbitrary dpred`);
    }
  });

  it('also matches finite differences at the init', () => {
    const rng = new Rng(30);
    const params = icl_init(CFG, 31);
    const { X, y, w } = randomTask(rng, CFG);
    const { grads } = icl_loss_and_grads(params, CFG, X, y, w, B);
    for (const name of ['in.w', 'h0.ln1.w', 'h0.attn.wq', 'h1.attn.wv', 'h1.mlp.b1', 'lnf.b', 'out.w']) {
      expectClose(
        grads[name],
        fdGrad(params[name], () => lossOnly(params, X, y, w), FD_STEP),
        FD_TOL,
        `d${name} at init`,
      );
    }
  });
});
