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

import {
  block_param_shapes,
  blocks_backward,
  blocks_forward,
  init_params,
  layernorm_backward,
  layernorm_forward,
  linear_backward,
  linear_forward,
  type TransformerLayerCache,
} from './transformer.ts';

export interface IclTransformerConfig {
  d: number; // dimension of x and w
  n: number; // pairs per prompt
  dModel: number; // C
  layers: number; // L
  heads: number; // H, must divide C (throw an Error naming both otherwise)
  mlp?: number; // MLP hidden width, default 4*C
  initStd?: number; // std of the initial matrices other than in.w (default 0.02; see TransformerConfig.initStd)
}

export type IclTransformerParams = Record<string, Float64Array>;

/** What icl_forward keeps for the backward, per layer: the blocks' cache of transformer.ts (T = n). */
export type IclLayerCache = TransformerLayerCache;

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
  shapes.push(...block_param_shapes(L, C, M));
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
  // The token embedding's scale follows its fan-in (d + 1); every other matrix as the token transformer's.
  const std = cfg.initStd;
  if (std !== undefined && !(Number.isFinite(std) && std > 0))
    throw new Error(`icl_transformer: initStd must be a finite number > 0, got ${std}`);
  return init_params(
    icl_param_shapes(cfg),
    cfg.layers,
    seed,
    (name) => (name === 'in.w' ? 1 / Math.sqrt(cfg.d + 1) : undefined),
    std,
  );
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
  const h0 = new Float64Array(N * C);
  linear_forward(h0, z, params['in.w'], params['in.b'], N, D1, C);

  // the blocks of the token transformer (transformer.ts), with attention over every token
  const { out: x, layers } = blocks_forward(params, h0, B, n, C, H, M, L, false);

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

  blocks_backward(params, grads, cache.layers, dx, B, n, C, H, M, false);

  // h0 = z·in.wᵀ + in.b (the gradient of z itself is not needed)
  const dz = new Float64Array(N * D1);
  linear_backward(dz, grads['in.w'], grads['in.b'], dx, cache.z, params['in.w'], N, D1, C);

  return grads;
}
