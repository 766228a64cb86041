/**
 * CPU reference of a small softmax-attention transformer for in-context weight prediction (regression):
 * a prompt holds n pairs (x_i, y_i), x_i in R^d, and the model predicts the weight vector w in R^d.
 * The GPU model is checked against this file, and this file's backward against finite differences of its
 * forward (test/icl-transformer-reference.test.ts). Plain loops, f64 throughout, no GPU code: the layer
 * functions (layernorm, linear, GELU) are those of the GPT reference, src/reference/transformer.ts; the
 * attention here is written out below because it is not causal.
 *
 * Conventions as in transformer.ts: row-major contiguous arrays, N = B*n token rows; linear layers
 * compute y = x·Wᵀ + b with W stored [out, in]; backward functions ACCUMULATE (+=) into gradients.
 *
 * The model (no position embedding: the prompt is a set, and the prediction is invariant to its order):
 *   z_i = [x_i, y_i] (d+1 values, x first);  h0 = z·in.wᵀ + in.b                          [B, n, C]
 *   per layer, exactly the pre-LN GPT block of transformer.ts but with every token attending to all n:
 *     a = LN1(x); q, k, v = a·wqᵀ + bq, a·wkᵀ + bk, a·wvᵀ + bv;
 *     per head (hs = C/H columns each): o = softmax_j(q·kᵀ / sqrt(hs))·v  (over all j, no mask);
 *     x = x + o·woᵀ + bo;  m = LN2(x);  x = x + GELU(m·w1ᵀ + b1)·w2ᵀ + b2
 *   p_b = (1/n) sum_i h_L[b, i, :]                                                       [B, C]
 *   f = LNf(p) (over C);  pred = f·out.wᵀ + out.b                                         [B, d]
 *   loss = (1/B) sum_b ||pred_b - w_b||^2
 * LayerNorm with eps = 1e-5 and biased variance; GELU is the tanh approximation.
 */

import { Rng } from './random.ts';
import {
  gelu_backward,
  gelu_forward,
  layernorm_backward,
  layernorm_forward,
  linear_backward,
  linear_forward,
} from './transformer.ts';

export interface IclTransformerConfig {
  d: number; // dimension of x and w
  n: number; // pairs per prompt
  dModel: number; // C
  layers: number; // L
  heads: number; // H, must divide C (throw an Error naming both otherwise)
  mlp?: number; // MLP hidden width, default 4*C
}

export type IclTransformerParams = Record<string, Float64Array>;

/** What icl_forward keeps for the backward, per layer. Shapes with N = B*n token rows. */
export interface IclLayerCache {
  /** [B,n,C] the residual stream entering the layer. */
  xIn: Float64Array;
  /** [B,n,C] a = LN1(xIn), with its per-row mean [B*n] and rstd [B*n] = 1/sqrt(var + eps). */
  ln1: Float64Array;
  ln1Mean: Float64Array;
  ln1Rstd: Float64Array;
  /** [B,n,C] each; head h is columns h*hs..h*hs+hs-1. */
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  /** [B,H,n,n] attention probabilities, every entry in use (no mask); each row sums to 1. */
  att: Float64Array;
  /** [B,n,C] attention output with the heads concatenated back, before wo. */
  o: Float64Array;
  /** [B,n,C] the residual stream after the attention block: xIn + o·woᵀ + bo. */
  xMid: Float64Array;
  /** [B,n,C] m = LN2(xMid), with its mean [B*n] and rstd [B*n]. */
  ln2: Float64Array;
  ln2Mean: Float64Array;
  ln2Rstd: Float64Array;
  /** [B,n,M] the MLP pre-activation m·w1ᵀ + b1. */
  h: Float64Array;
  /** [B,n,M] GELU(h). */
  g: Float64Array;
}

/** What icl_forward keeps for the backward. */
export interface IclTransformerCache {
  B: number;
  /** [B,n,d+1] the tokens z_i = [x_i, y_i]. */
  z: Float64Array;
  /** One entry per layer, in order (layers[0].xIn is h0). */
  layers: IclLayerCache[];
  /** [B,n,C] the residual stream after the last layer, h_L. */
  xFinal: Float64Array;
  /** [B,C] p = the mean of xFinal over the n tokens. */
  pooled: Float64Array;
  /** [B,C] f = LNf(pooled), with its mean [B] and rstd [B]. */
  lnf: Float64Array;
  lnfMean: Float64Array;
  lnfRstd: Float64Array;
}

const INIT_STD = 0.02;

// ---------------------------------------------------------------------------------------------
// config and parameters

function mlpWidth(cfg: IclTransformerConfig): number {
  return cfg.mlp ?? 4 * cfg.dModel;
}

function checkConfig(cfg: IclTransformerConfig): void {
  const sizes: [string, number][] = [
    ['d', cfg.d],
    ['n', cfg.n],
    ['dModel', cfg.dModel],
    ['layers', cfg.layers],
    ['heads', cfg.heads],
    ['mlp', mlpWidth(cfg)],
  ];
  for (const [name, v] of sizes) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`icl_transformer: ${name} must be a positive integer, got ${v}`);
  }
  if (cfg.dModel % cfg.heads !== 0) {
    throw new Error(`icl_transformer: heads = ${cfg.heads} must divide dModel = ${cfg.dModel}`);
  }
}

/** Names and shapes of every parameter, in this order. */
export function icl_param_shapes(cfg: IclTransformerConfig): { name: string; shape: number[] }[] {
  checkConfig(cfg);
  const { d, dModel: C, layers: L } = cfg;
  const M = mlpWidth(cfg);
  const shapes: { name: string; shape: number[] }[] = [
    { name: 'in.w', shape: [C, d + 1] },
    { name: 'in.b', shape: [C] },
  ];
  for (let l = 0; l < L; l++) {
    const p = `h${l}.`;
    shapes.push(
      { name: `${p}ln1.w`, shape: [C] },
      { name: `${p}ln1.b`, shape: [C] },
      { name: `${p}attn.wq`, shape: [C, C] },
      { name: `${p}attn.bq`, shape: [C] },
      { name: `${p}attn.wk`, shape: [C, C] },
      { name: `${p}attn.bk`, shape: [C] },
      { name: `${p}attn.wv`, shape: [C, C] },
      { name: `${p}attn.bv`, shape: [C] },
      { name: `${p}attn.wo`, shape: [C, C] },
      { name: `${p}attn.bo`, shape: [C] },
      { name: `${p}ln2.w`, shape: [C] },
      { name: `${p}ln2.b`, shape: [C] },
      { name: `${p}mlp.w1`, shape: [M, C] },
      { name: `${p}mlp.b1`, shape: [M] },
      { name: `${p}mlp.w2`, shape: [C, M] },
      { name: `${p}mlp.b2`, shape: [C] },
    );
  }
  shapes.push(
    { name: 'lnf.w', shape: [C] },
    { name: 'lnf.b', shape: [C] },
    { name: 'out.w', shape: [d, C] },
    { name: 'out.b', shape: [d] },
  );
  return shapes;
}

/**
 * Deterministic init from one generator, new Rng(seed) (src/reference/random.ts), which draws one
 * normal() per matrix entry in the order of icl_param_shapes, row-major within each matrix; vectors
 * draw nothing. Matrices: in.w N(0, 1/(d+1)) (its fan-in), out.w N(0, 0.02^2), attn.wo and mlp.w2
 * N(0, (0.02/sqrt(2L))^2), the other block matrices N(0, 0.02^2). Biases 0, layernorm weights 1.
 */
export function icl_init(cfg: IclTransformerConfig, seed: number): IclTransformerParams {
  const rng = new Rng(seed);
  const projScale = 1 / Math.sqrt(2 * cfg.layers);
  const params: IclTransformerParams = {};
  for (const { name, shape } of icl_param_shapes(cfg)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const w = new Float64Array(size);
    if (shape.length === 2) {
      let std = INIT_STD;
      if (name === 'in.w') std = 1 / Math.sqrt(cfg.d + 1);
      else if (name.endsWith('.attn.wo') || name.endsWith('.mlp.w2')) std = INIT_STD * projScale;
      for (let i = 0; i < size; i++) w[i] = std * rng.normal();
    } else if (/^(h\d+\.ln[12]|lnf)\.w$/.test(name)) {
      w.fill(1); // layernorm weight
    } // else a bias: 0
    params[name] = w;
  }
  return params;
}

/** Every parameter present and of the right size. */
function checkParams(params: IclTransformerParams, cfg: IclTransformerConfig): void {
  for (const { name, shape } of icl_param_shapes(cfg)) {
    const p = params[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (p === undefined) throw new Error(`icl_transformer: missing parameter ${name}`);
    if (p.length !== size) throw new Error(`icl_transformer: parameter ${name} has ${p.length} values, expected ${size}`);
  }
}

function checkLength(a: ArrayLike<number>, what: string, expected: number, formula: string): void {
  if (a.length !== expected)
    throw new Error(`icl_transformer: ${what} has ${a.length} values, expected ${formula} = ${expected}`);
}

// ---------------------------------------------------------------------------------------------
// multi-head attention over the whole prompt (no mask), on q, k, v [B,T,C], head h in columns h*hs..

/**
 * att [B,H,T,T]: att[b,h,i,j] = softmax over all j of q_i·k_j / sqrt(hs);
 * o [B,T,C]: o[b,i, head h] = sum_j att[b,h,i,j] v[b,j, head h]. q, k, v [B,T,C], hs = C/H.
 */
function attention_forward(
  o: Float64Array,
  att: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const hs = C / H;
  const scale = 1 / Math.sqrt(hs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const qi = (b * T + i) * C + h * hs;
        const arow = ((b * H + h) * T + i) * T;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < T; j++) {
          const kj = (b * T + j) * C + h * hs;
          let dot = 0;
          for (let e = 0; e < hs; e++) dot += q[qi + e] * k[kj + e];
          att[arow + j] = dot * scale;
          max = Math.max(max, att[arow + j]);
        }
        let sum = 0;
        for (let j = 0; j < T; j++) {
          att[arow + j] = Math.exp(att[arow + j] - max);
          sum += att[arow + j];
        }
        for (let j = 0; j < T; j++) att[arow + j] /= sum;
        for (let e = 0; e < hs; e++) {
          let acc = 0;
          for (let j = 0; j < T; j++) acc += att[arow + j] * v[(b * T + j) * C + h * hs + e];
          o[qi + e] = acc;
        }
      }
    }
  }
}

/**
 * Given do [B,T,C]: dq, dk, dv [B,T,C] +=. Per (b, h), with P = att and S = q·kᵀ / sqrt(hs):
 * dv_j = sum_i P_ij do_i; dP_ij = do_i·v_j; dS_ij = P_ij (dP_ij - sum_l P_il dP_il);
 * dq_i = sum_j dS_ij k_j / sqrt(hs); dk_j = sum_i dS_ij q_i / sqrt(hs).
 */
function attention_backward(
  dq: Float64Array,
  dk: Float64Array,
  dv: Float64Array,
  dout: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  att: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
): void {
  const hs = C / H;
  const scale = 1 / Math.sqrt(hs);
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const qi = (b * T + i) * C + h * hs;
        const arow = ((b * H + h) * T + i) * T;
        // dP_ij = do_i·v_j, and dv_j += P_ij do_i, for every key j.
        let rowDot = 0;
        for (let j = 0; j < T; j++) {
          const vj = (b * T + j) * C + h * hs;
          let acc = 0;
          for (let e = 0; e < hs; e++) {
            acc += dout[qi + e] * v[vj + e];
            dv[vj + e] += att[arow + j] * dout[qi + e];
          }
          dP[j] = acc;
          rowDot += att[arow + j] * acc;
        }
        // Softmax backward, then the scores' backward into q_i and k_j.
        for (let j = 0; j < T; j++) {
          const kj = (b * T + j) * C + h * hs;
          const dS = att[arow + j] * (dP[j] - rowDot) * scale;
          for (let e = 0; e < hs; e++) {
            dq[qi + e] += dS * k[kj + e];
            dk[kj + e] += dS * q[qi + e];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the model: forward

/**
 * pred [B, d] for the prompts X [B, n, d] and y [B, n], and the cache the backward needs (see
 * IclTransformerCache). Throws on a bad config (heads not dividing dModel, ...), missing or mis-sized
 * parameters, or X, y of the wrong length.
 */
export function icl_forward(
  params: IclTransformerParams,
  cfg: IclTransformerConfig,
  X: ArrayLike<number>,
  y: ArrayLike<number>,
  B: number,
): { pred: Float64Array; cache: IclTransformerCache } {
  checkConfig(cfg);
  if (!Number.isInteger(B) || B < 1) throw new Error(`icl_forward: B must be a positive integer, got ${B}`);
  checkParams(params, cfg);
  const { d, n, dModel: C, layers: L, heads: H } = cfg;
  const M = mlpWidth(cfg);
  const N = B * n;
  const D1 = d + 1;
  checkLength(X, 'X', N * d, `B*n*d = ${B}*${n}*${d}`);
  checkLength(y, 'y', N, `B*n = ${B}*${n}`);

  // z [B,n,d+1] = [x_i, y_i]; h0 [B,n,C] = z·in.wᵀ + in.b
  const z = new Float64Array(N * D1);
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < d; j++) z[r * D1 + j] = X[r * d + j];
    z[r * D1 + d] = y[r];
  }
  let x = new Float64Array(N * C);
  linear_forward(x, z, params['in.w'], params['in.b'], N, D1, C);

  const layers: IclLayerCache[] = [];
  for (let l = 0; l < L; l++) {
    const p = (name: string): Float64Array => params[`h${l}.${name}`];
    const xIn = x;
    // attention block: xMid = xIn + attn(LN1(xIn))·woᵀ + bo
    const ln1 = new Float64Array(N * C);
    const ln1Mean = new Float64Array(N);
    const ln1Rstd = new Float64Array(N);
    layernorm_forward(ln1, ln1Mean, ln1Rstd, xIn, p('ln1.w'), p('ln1.b'), N, C);
    const q = new Float64Array(N * C);
    const k = new Float64Array(N * C);
    const v = new Float64Array(N * C);
    linear_forward(q, ln1, p('attn.wq'), p('attn.bq'), N, C, C);
    linear_forward(k, ln1, p('attn.wk'), p('attn.bk'), N, C, C);
    linear_forward(v, ln1, p('attn.wv'), p('attn.bv'), N, C, C);
    const att = new Float64Array(B * H * n * n);
    const o = new Float64Array(N * C);
    attention_forward(o, att, q, k, v, B, n, C, H);
    const xMid = new Float64Array(N * C);
    linear_forward(xMid, o, p('attn.wo'), p('attn.bo'), N, C, C);
    for (let i = 0; i < N * C; i++) xMid[i] += xIn[i];

    // MLP block: xOut = xMid + GELU(LN2(xMid)·w1ᵀ + b1)·w2ᵀ + b2
    const ln2 = new Float64Array(N * C);
    const ln2Mean = new Float64Array(N);
    const ln2Rstd = new Float64Array(N);
    layernorm_forward(ln2, ln2Mean, ln2Rstd, xMid, p('ln2.w'), p('ln2.b'), N, C);
    const h = new Float64Array(N * M);
    linear_forward(h, ln2, p('mlp.w1'), p('mlp.b1'), N, C, M);
    const g = new Float64Array(N * M);
    gelu_forward(g, h, N * M);
    const xOut = new Float64Array(N * C);
    linear_forward(xOut, g, p('mlp.w2'), p('mlp.b2'), N, M, C);
    for (let i = 0; i < N * C; i++) xOut[i] += xMid[i];

    layers.push({ xIn, ln1, ln1Mean, ln1Rstd, q, k, v, att, o, xMid, ln2, ln2Mean, ln2Rstd, h, g });
    x = xOut;
  }

  // pooled [B,C] = (1/n) sum_i x[b,i,:]; f = LNf(pooled); pred [B,d] = f·out.wᵀ + out.b
  const pooled = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) pooled[b * C + c] += x[(b * n + i) * C + c];
    for (let c = 0; c < C; c++) pooled[b * C + c] /= n;
  }
  const lnf = new Float64Array(B * C);
  const lnfMean = new Float64Array(B);
  const lnfRstd = new Float64Array(B);
  layernorm_forward(lnf, lnfMean, lnfRstd, pooled, params['lnf.w'], params['lnf.b'], B, C);
  const pred = new Float64Array(B * d);
  linear_forward(pred, lnf, params['out.w'], params['out.b'], B, C, d);

  return { pred, cache: { B, z, layers, xFinal: x, pooled, lnf, lnfMean, lnfRstd } };
}

// ---------------------------------------------------------------------------------------------
// the model: loss and backward

/**
 * loss = (1/B) sum_b sum_j (pred[b,j] - w[b,j])^2 for the targets w [B, d], and the gradient of every
 * parameter (same names, same order), from dpred = 2 (pred - w) / B. Returns also pred [B, d].
 */
export function icl_loss_and_grads(
  params: IclTransformerParams,
  cfg: IclTransformerConfig,
  X: ArrayLike<number>,
  y: ArrayLike<number>,
  w: ArrayLike<number>,
  B: number,
): { loss: number; grads: IclTransformerParams; pred: Float64Array } {
  const { pred, cache } = icl_forward(params, cfg, X, y, B);
  const { d } = cfg;
  checkLength(w, 'w', B * d, `B*d = ${B}*${d}`);
  let loss = 0;
  const dpred = new Float64Array(B * d);
  for (let i = 0; i < B * d; i++) {
    const e = pred[i] - w[i];
    loss += e * e;
    dpred[i] = (2 * e) / B;
  }
  loss /= B;
  return { loss, grads: icl_backward(params, cfg, cache, dpred), pred };
}

/** Gradients of every parameter given dpred [B, d] (any loss), from icl_forward's cache. */
export function icl_backward(
  params: IclTransformerParams,
  cfg: IclTransformerConfig,
  cache: IclTransformerCache,
  dpred: Float64Array,
): IclTransformerParams {
  checkConfig(cfg);
  checkParams(params, cfg);
  const { d, n, dModel: C, layers: L, heads: H } = cfg;
  const M = mlpWidth(cfg);
  const { B } = cache;
  if (cache.layers.length !== L) throw new Error(`icl_backward: the cache has ${cache.layers.length} layers, the config ${L}`);
  const N = B * n;
  const D1 = d + 1;
  checkLength(dpred, 'dpred', B * d, `B*d = ${B}*${d}`);
  // Every gradient starts at 0; the backward functions accumulate into them.
  const grads: IclTransformerParams = {};
  for (const { name, shape } of icl_param_shapes(cfg)) grads[name] = new Float64Array(shape.reduce((a, b) => a * b, 1));

  // pred = f·out.wᵀ + out.b; f = LNf(pooled)
  const dlnf = new Float64Array(B * C);
  linear_backward(dlnf, grads['out.w'], grads['out.b'], dpred, cache.lnf, params['out.w'], B, C, d);
  const dpooled = new Float64Array(B * C);
  layernorm_backward(
    dpooled,
    grads['lnf.w'],
    grads['lnf.b'],
    dlnf,
    cache.pooled,
    params['lnf.w'],
    cache.lnfMean,
    cache.lnfRstd,
    B,
    C,
  );

  // pooled = mean over the n tokens: every token gets dpooled / n. dx [B,n,C] is the gradient of the
  // residual stream from here on.
  const dx = new Float64Array(N * C);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) dx[(b * n + i) * C + c] = dpooled[b * C + c] / n;

  for (let l = L - 1; l >= 0; l--) {
    const p = (name: string): Float64Array => params[`h${l}.${name}`];
    const g = (name: string): Float64Array => grads[`h${l}.${name}`];
    const c = cache.layers[l];

    // MLP block, xOut = xMid + GELU(LN2(xMid)·w1ᵀ + b1)·w2ᵀ + b2: on entry dx = dL/dxOut; the residual
    // passes it through and the branch's gradient is added, so afterwards dx = dL/dxMid.
    const dg = new Float64Array(N * M);
    linear_backward(dg, g('mlp.w2'), g('mlp.b2'), dx, c.g, p('mlp.w2'), N, M, C);
    const dh = new Float64Array(N * M);
    gelu_backward(dh, dg, c.h, N * M);
    const dln2 = new Float64Array(N * C);
    linear_backward(dln2, g('mlp.w1'), g('mlp.b1'), dh, c.ln2, p('mlp.w1'), N, C, M);
    layernorm_backward(dx, g('ln2.w'), g('ln2.b'), dln2, c.xMid, p('ln2.w'), c.ln2Mean, c.ln2Rstd, N, C);

    // Attention block, xMid = xIn + attn(LN1(xIn))·woᵀ + bo: likewise, afterwards dx = dL/dxIn.
    const dout = new Float64Array(N * C);
    linear_backward(dout, g('attn.wo'), g('attn.bo'), dx, c.o, p('attn.wo'), N, C, C);
    const dq = new Float64Array(N * C);
    const dk = new Float64Array(N * C);
    const dv = new Float64Array(N * C);
    attention_backward(dq, dk, dv, dout, c.q, c.k, c.v, c.att, B, n, C, H);
    const dln1 = new Float64Array(N * C); // q, k and v all read LN1's output: their gradients add up
    linear_backward(dln1, g('attn.wq'), g('attn.bq'), dq, c.ln1, p('attn.wq'), N, C, C);
    linear_backward(dln1, g('attn.wk'), g('attn.bk'), dk, c.ln1, p('attn.wk'), N, C, C);
    linear_backward(dln1, g('attn.wv'), g('attn.bv'), dv, c.ln1, p('attn.wv'), N, C, C);
    layernorm_backward(dx, g('ln1.w'), g('ln1.b'), dln1, c.xIn, p('ln1.w'), c.ln1Mean, c.ln1Rstd, N, C);
  }

  // h0 = z·in.wᵀ + in.b (the gradient of z itself is not needed)
  const dz = new Float64Array(N * D1);
  linear_backward(dz, grads['in.w'], grads['in.b'], dx, cache.z, params['in.w'], N, D1, C);

  return grads;
}
