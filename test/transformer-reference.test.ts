/**
 * The CPU reference transformer (src/reference/transformer.ts) checked against itself and against the
 * kernel references: every gradient of every parameter against central finite differences of the loss
 * (f64 throughout, so the tolerance is tight), the forward against the same model composed from the f32
 * kernel references, causality, the mask, the init and the errors.
 * Runs in Node and in the browser (no node: imports).
 */
import { describe, expect, it } from 'vitest';
import { attention_forward, permute_0213 } from '../src/reference/attention.ts';
import { compare, type Tolerance } from '../src/reference/compare.ts';
import { embedding_forward } from '../src/reference/embedding.ts';
import { add, gelu_forward, layernorm_forward, matmul } from '../src/reference/kernels.ts';
import { Rng } from '../src/reference/random.ts';
import {
  type TransformerConfig,
  type TransformerParams,
  transformer_forward,
  transformer_init,
  transformer_loss_and_grads,
  transformer_param_shapes,
} from '../src/reference/transformer.ts';
import { expectClose, fdGrad, paramsAwayFromInit } from './helpers.ts';

const CFG: TransformerConfig = { vocab: 7, context: 6, dModel: 8, layers: 2, heads: 2, mlp: 12 };
const B = 2;
const T = 5;
/** Finite differences of an f64 loss: step 1e-5, so truncation (~h^2) and rounding (~1e-16/h) are both tiny. */
const FD_STEP = 1e-5;
const FD_TOL: Tolerance = { atol: 1e-7, rtol: 1e-5 };

function randomIds(rng: Rng, n: number, V: number): number[] {
  return Array.from({ length: n }, () => rng.int(V));
}

function randomParams(cfg: TransformerConfig, seed: number): TransformerParams {
  return paramsAwayFromInit(transformer_param_shapes(cfg), seed);
}

/** The loss computed independently of transformer_loss_and_grads: forward, then a masked mean cross-entropy. */
function lossOnly(
  params: TransformerParams,
  cfg: TransformerConfig,
  tokens: number[],
  targets: number[],
  mask: number[] | null,
): number {
  const { logits } = transformer_forward(params, cfg, tokens, B, T);
  const V = cfg.vocab;
  let num = 0;
  let den = 0;
  for (let n = 0; n < B * T; n++) {
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < V; c++) max = Math.max(max, logits[n * V + c]);
    let s = 0;
    for (let c = 0; c < V; c++) s += Math.exp(logits[n * V + c] - max);
    const w = mask === null ? 1 : mask[n];
    num += w * (max + Math.log(s) - logits[n * V + targets[n]]);
    den += w;
  }
  return num / den;
}

/**
 * The same forward composed from the f32 kernel references (embedding, layernorm, matmul, attention,
 * GELU, add), which were written and tested independently of the transformer reference.
 */
function kernelsForward(params: TransformerParams, cfg: TransformerConfig, tokens: number[]): Float32Array {
  const { vocab: V, dModel: C, layers: L, heads: H } = cfg;
  const M = cfg.mlp ?? 4 * C;
  const hs = C / H;
  const N = B * T;
  const p = (name: string): Float32Array => Float32Array.from(params[name]);
  const linear = (x: Float32Array, w: string, b: string | null, I: number, O: number): Float32Array => {
    const y = new Float32Array(N * O);
    matmul(y, x, p(w), b === null ? null : p(b), 1, N, O, I, { transB: true });
    return y;
  };
  const layernorm = (x: Float32Array, w: string, b: string): Float32Array => {
    const y = new Float32Array(N * C);
    layernorm_forward(y, new Float32Array(N), new Float32Array(N), x, p(w), p(b), N, C, 1e-5);
    return y;
  };
  const x = new Float32Array(N * C);
  embedding_forward(x, Uint32Array.from(tokens), p('wte'), p('wpe'), B, T, C, V);
  for (let l = 0; l < L; l++) {
    const a = layernorm(x, `h${l}.ln1.w`, `h${l}.ln1.b`);
    const heads = (y: Float32Array): Float32Array => {
      const out = new Float32Array(N * C);
      permute_0213(out, y, B, T, H, hs); // [B,T,H,hs] -> [B,H,T,hs]
      return out;
    };
    const q = heads(linear(a, `h${l}.attn.wq`, `h${l}.attn.bq`, C, C));
    const k = heads(linear(a, `h${l}.attn.wk`, `h${l}.attn.bk`, C, C));
    const v = heads(linear(a, `h${l}.attn.wv`, `h${l}.attn.bv`, C, C));
    const oh = new Float32Array(N * C);
    attention_forward(oh, new Float32Array(B * H * T * T), q, k, v, B, H, T, hs, { causal: true });
    const o = new Float32Array(N * C);
    permute_0213(o, oh, B, H, T, hs); // [B,H,T,hs] -> [B,T,H,hs]
    add(x, x, linear(o, `h${l}.attn.wo`, `h${l}.attn.bo`, C, C), N * C);
    const m = layernorm(x, `h${l}.ln2.w`, `h${l}.ln2.b`);
    const h = linear(m, `h${l}.mlp.w1`, `h${l}.mlp.b1`, C, M);
    const g = new Float32Array(N * M);
    gelu_forward(g, h, N * M);
    add(x, x, linear(g, `h${l}.mlp.w2`, `h${l}.mlp.b2`, M, C), N * C);
  }
  return linear(layernorm(x, 'lnf.w', 'lnf.b'), 'head', null, C, V);
}

describe('transformer reference: parameters', () => {
  it('lists 2 + 16 L + 3 parameters, in order, with their shapes', () => {
    const shapes = transformer_param_shapes(CFG);
    expect(shapes.length).toBe(2 + 16 * CFG.layers + 3);
    expect(shapes.length).toBe(37);
    const [V, Tmax, C, M] = [7, 6, 8, 12];
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
      ['wte', [V, C]],
      ['wpe', [Tmax, C]],
      ...layer(0),
      ...layer(1),
      ['lnf.w', [C]],
      ['lnf.b', [C]],
      ['head', [V, C]],
    ];
    expect(shapes.map((s) => [s.name, s.shape])).toEqual(expected);
    // The MLP width defaults to 4 C.
    const noMlp = transformer_param_shapes({ vocab: 7, context: 6, dModel: 8, layers: 1, heads: 2 });
    expect(noMlp.find((s) => s.name === 'h0.mlp.w1')?.shape).toEqual([32, 8]);
    expect(noMlp.find((s) => s.name === 'h0.mlp.w2')?.shape).toEqual([8, 32]);
  });

  it('init is deterministic for a seed and follows the GPT-2 scheme', () => {
    const a = transformer_init(CFG, 42);
    const b = transformer_init(CFG, 42);
    const c = transformer_init(CFG, 43);
    const shapes = transformer_param_shapes(CFG);
    expect(Object.keys(a)).toEqual(shapes.map((s) => s.name));
    for (const { name, shape } of shapes) {
      expect(a[name]).toBeInstanceOf(Float64Array);
      expect(a[name].length, name).toBe(shape.reduce((x, y) => x * y, 1));
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
    // One Rng(seed) draws normals for the matrices in order, row-major: wte comes first.
    const rng = new Rng(42);
    expect(a.wte[0]).toBe(0.02 * rng.normal());
    expect(a.wte[1]).toBe(0.02 * rng.normal());
    // Sample standard deviations: 0.02 for matrices, 0.02 / sqrt(2 L) for attn.wo and mlp.w2.
    const big = transformer_init({ vocab: 64, context: 64, dModel: 64, layers: 2, heads: 4 }, 7);
    const std = (x: Float64Array): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(big.wte)).toBeCloseTo(0.02, 3);
    expect(std(big['h1.mlp.w1'])).toBeCloseTo(0.02, 3);
    expect(std(big['h0.attn.wo'])).toBeCloseTo(0.01, 3);
    expect(std(big['h1.mlp.w2'])).toBeCloseTo(0.01, 3);
    // initStd replaces 0.02 (same draws, scaled); the residual projections keep their 1/sqrt(2 L).
    const wide = transformer_init({ vocab: 64, context: 64, dModel: 64, layers: 2, heads: 4, initStd: 0.125 }, 7);
    expect(std(wide.wte)).toBeCloseTo(0.125, 2);
    expect(wide['h1.mlp.w1'][3]).toBeCloseTo(big['h1.mlp.w1'][3] * 6.25, 12);
    expect(std(wide['h0.attn.wo'])).toBeCloseTo(0.0625, 2);
    expect(Array.from(wide['h0.ln1.w']).every((v) => v === 1)).toBe(true);
    for (const bad of [0, -1, Number.NaN])
      expect(() => transformer_init({ ...CFG, initStd: bad }, 1)).toThrow(/initStd must be a finite number > 0/);
  });
});

describe('transformer reference: forward and loss', () => {
  it('matches the same model composed from the f32 kernel references', () => {
    const rng = new Rng(5);
    const params = randomParams(CFG, 6);
    const tokens = randomIds(rng, B * T, CFG.vocab);
    const { logits } = transformer_forward(params, CFG, tokens, B, T);
    expect(logits).toBeInstanceOf(Float64Array);
    expect(logits.length).toBe(B * T * CFG.vocab);
    expectClose(logits, kernelsForward(params, CFG, tokens), { atol: 1e-4, rtol: 1e-4 }, 'logits vs kernels');
  });

  it('is causal: changing a later token leaves earlier logits unchanged', () => {
    const rng = new Rng(8);
    const params = randomParams(CFG, 9);
    const tokens = randomIds(rng, B * T, CFG.vocab);
    const before = transformer_forward(params, CFG, tokens, B, T).logits;
    const changed = tokens.slice();
    changed[3] = (changed[3] + 1) % CFG.vocab; // b = 0, t = 3
    const after = transformer_forward(params, CFG, changed, B, T).logits;
    const V = CFG.vocab;
    for (let n = 0; n < B * T; n++) {
      const same = n < 3 || n >= T; // earlier positions of batch 0, and all of batch 1
      const row = Array.from(after.subarray(n * V, n * V + V));
      const ref = Array.from(before.subarray(n * V, n * V + V));
      if (same) expect(row, `row ${n}`).toEqual(ref);
      else expect(row, `row ${n}`).not.toEqual(ref);
    }
  });

  it('loss at init is close to ln(V)', () => {
    const rng = new Rng(10);
    const params = transformer_init(CFG, 11);
    const tokens = randomIds(rng, B * T, CFG.vocab);
    const targets = randomIds(rng, B * T, CFG.vocab);
    const { loss } = transformer_loss_and_grads(params, CFG, tokens, targets, null, B, T);
    expect(Math.abs(loss - Math.log(CFG.vocab))).toBeLessThan(0.1);
  });

  it('mask weights the mean: null is all ones, and masked targets do not matter', () => {
    const rng = new Rng(12);
    const params = randomParams(CFG, 13);
    const tokens = randomIds(rng, B * T, CFG.vocab);
    const targets = randomIds(rng, B * T, CFG.vocab);
    const ones = new Array(B * T).fill(1);
    const a = transformer_loss_and_grads(params, CFG, tokens, targets, null, B, T);
    const b = transformer_loss_and_grads(params, CFG, tokens, targets, ones, B, T);
    expect(b.loss).toBe(a.loss);
    const mask = [1, 0, 1, 1, 0.5, 0, 1, 1, 0, 1];
    const c = transformer_loss_and_grads(params, CFG, tokens, targets, mask, B, T);
    const otherTargets = targets.map((t, n) => (mask[n] === 0 ? (t + 3) % CFG.vocab : t));
    const d = transformer_loss_and_grads(params, CFG, tokens, otherTargets, mask, B, T);
    expect(d.loss).toBe(c.loss);
    expect(c.loss).toBeCloseTo(lossOnly(params, CFG, tokens, targets, mask), 12);
    expect(() => transformer_loss_and_grads(params, CFG, tokens, targets, new Array(B * T).fill(0), B, T)).toThrow(/mask/);
  });

  it('throws clear errors: T > context, heads not dividing dModel, bad token ids', () => {
    const params = transformer_init(CFG, 1);
    const long = new Array(B * 7).fill(0);
    expect(() => transformer_forward(params, CFG, long, B, 7)).toThrow(/T = 7 exceeds the context = 6/);
    const bad: TransformerConfig = { ...CFG, heads: 3 };
    expect(() => transformer_param_shapes(bad)).toThrow(/heads = 3 must divide dModel = 8/);
    expect(() => transformer_init(bad, 1)).toThrow(/heads = 3 must divide dModel = 8/);
    expect(() => transformer_forward(params, bad, new Array(B * T).fill(0), B, T)).toThrow(/heads = 3 must divide dModel = 8/);
    const tokens = new Array(B * T).fill(0);
    tokens[4] = 7;
    expect(() => transformer_forward(params, CFG, tokens, B, T)).toThrow(/tokens\[4\] = 7 .*V = 7/);
    expect(() => transformer_forward(params, CFG, [0, 1], B, T)).toThrow(/B\*T/);
  });
});

describe('transformer reference: backward', () => {
  it('every gradient of every parameter matches central finite differences of the loss', () => {
    const rng = new Rng(20);
    const params = randomParams(CFG, 21);
    const tokens = randomIds(rng, B * T, CFG.vocab);
    const targets = randomIds(rng, B * T, CFG.vocab);
    const mask = [1, 1, 0, 1, 0.5, 1, 0, 1, 1, 1]; // some zeros and a weight of 0.5
    const { loss, grads, logits } = transformer_loss_and_grads(params, CFG, tokens, targets, mask, B, T);
    expect(loss).toBeCloseTo(lossOnly(params, CFG, tokens, targets, mask), 12);
    expect(Array.from(logits)).toEqual(Array.from(transformer_forward(params, CFG, tokens, B, T).logits));
    expect(Object.keys(grads)).toEqual(Object.keys(params));

    let nonzero = 0;
    const failures: string[] = [];
    for (const { name } of transformer_param_shapes(CFG)) {
      const fd = fdGrad(params[name], () => lossOnly(params, CFG, tokens, targets, mask), FD_STEP);
      expect(grads[name]).toBeInstanceOf(Float64Array);
      const cmp = compare(grads[name], fd, FD_TOL, `d${name}`, 2);
      if (!cmp.ok) failures.push(cmp.report);
      nonzero += grads[name].filter((g) => Math.abs(g) > 1e-4).length;
    }
    expect(failures.join('\n'), `${failures.length} parameters' gradients are off`).toBe('');
    // The check means something: most gradients are far above atol (only rows of wte for unused
    // tokens and of wpe for t >= T are exactly 0).
    expect(nonzero).toBeGreaterThan(0.8 * Object.values(params).reduce((s, p) => s + p.length, 0));
  });

  it('also matches finite differences at the init, without a mask', () => {
    const rng = new Rng(30);
    const params = transformer_init(CFG, 31);
    const tokens = randomIds(rng, B * T, CFG.vocab);
    const targets = randomIds(rng, B * T, CFG.vocab);
    const { grads } = transformer_loss_and_grads(params, CFG, tokens, targets, null, B, T);
    for (const name of ['wpe', 'h0.ln1.w', 'h0.attn.wq', 'h1.mlp.b1', 'lnf.b', 'head']) {
      const fd = fdGrad(params[name], () => lossOnly(params, CFG, tokens, targets, null), FD_STEP);
      expectClose(grads[name], fd, FD_TOL, `d${name} at init`);
    }
  });
});
