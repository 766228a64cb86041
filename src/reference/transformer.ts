/**
 * CPU reference of a tiny GPT-2-style decoder-only transformer (in the spirit of llm.c's train_gpt2.c):
 * the forward pass, the masked mean cross-entropy, and the gradient of every parameter.
 *
 * The GPU model is checked against this file, and this file's backward is checked against finite
 * differences of its forward (test/transformer-reference.test.ts). So it favours being obviously right
 * over being fast: plain loops, everything in f64 (Float64Array), no GPU code (its one import is the
 * seeded Rng of src/reference/random.ts, for the init). Read it top to bottom: config and parameters,
 * the layer functions (each forward next to its backward), then the model's forward, then its
 * backward, layer by layer in reverse.
 *
 * Conventions: row-major contiguous arrays, N = B*T rows; outputs first, then inputs, then sizes.
 * Linear layers compute y = x·Wᵀ + b with W stored [out, in], like PyTorch. Backward functions
 * ACCUMULATE (+=) into every gradient they write, as in llm.c: the callers zero the gradients once,
 * and then a residual stream's gradient and a branch's gradient simply add up.
 *
 * The model:
 *   x = wte[tok] + wpe[t]
 *   per layer: a = LN1(x); q, k, v = a·wqᵀ + bq, a·wkᵀ + bk, a·wvᵀ + bv;
 *              per head (hs = C/H columns each): o = softmax_{j<=i}(q·kᵀ / sqrt(hs))·v;
 *              x = x + o·woᵀ + bo;  m = LN2(x);  x = x + GELU(m·w1ᵀ + b1)·w2ᵀ + b2
 *   f = LNf(x); logits = f·headᵀ (no bias; head is not tied to wte)
 * LayerNorm over C with eps = 1e-5 and biased variance; GELU is the tanh approximation.
 */

import { Rng } from './random.ts';

export interface TransformerConfig {
  vocab: number; // V
  context: number; // Tmax, size of the position table
  dModel: number; // C
  layers: number; // L
  heads: number; // H, must divide C (throw an Error otherwise, naming both)
  mlp?: number; // hidden width of the MLP, default 4*C
  /**
   * Standard deviation of the initial weight matrices and embeddings (default 0.02, GPT-2's, made for
   * widths near 768). The residual projections get it times 1/sqrt(2L). At widths of 16-64 the
   * default leaves attention logits near 0 and attention learns slowly (a token task that 1/sqrt(C)
   * learns in 1000 steps is not learned in 3000); about 1/sqrt(C) suits these widths.
   */
  initStd?: number;
}

export type TransformerParams = Record<string, Float64Array>;

/** What transformer_forward keeps for the backward, per layer. Shapes with N = B*T rows. */
export interface TransformerLayerCache {
  /** [B,T,C] the residual stream entering the layer. */
  xIn: Float64Array;
  /** [B,T,C] a = LN1(xIn), with its per-row mean [B*T] and rstd [B*T] = 1/sqrt(var + eps). */
  ln1: Float64Array;
  ln1Mean: Float64Array;
  ln1Rstd: Float64Array;
  /** [B,T,C] each; head h is columns h*hs..h*hs+hs-1. */
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  /** [B,H,T,T] attention probabilities; entries j > i (future keys) are 0. */
  att: Float64Array;
  /** [B,T,C] attention output with the heads concatenated back, before wo. */
  o: Float64Array;
  /** [B,T,C] the residual stream after the attention block: xIn + o·woᵀ + bo. */
  xMid: Float64Array;
  /** [B,T,C] m = LN2(xMid), with its mean [B*T] and rstd [B*T]. */
  ln2: Float64Array;
  ln2Mean: Float64Array;
  ln2Rstd: Float64Array;
  /** [B,T,M] the MLP pre-activation m·w1ᵀ + b1. */
  h: Float64Array;
  /** [B,T,M] GELU(h). */
  g: Float64Array;
}

/** What transformer_forward keeps for the backward. */
export interface TransformerCache {
  B: number;
  T: number;
  /** [B,T] the token ids. */
  tokens: Int32Array;
  /** One entry per layer, in order. */
  layers: TransformerLayerCache[];
  /** [B,T,C] the residual stream after the last layer. */
  xFinal: Float64Array;
  /** [B,T,C] f = LNf(xFinal), with its mean [B*T] and rstd [B*T]. */
  lnf: Float64Array;
  lnfMean: Float64Array;
  lnfRstd: Float64Array;
}

const LN_EPS = 1e-5;
const INIT_STD = 0.02;

// ---------------------------------------------------------------------------------------------
// config and parameters

function mlpWidth(cfg: TransformerConfig): number {
  return cfg.mlp ?? 4 * cfg.dModel;
}

function checkConfig(cfg: TransformerConfig): void {
  const sizes: [string, number][] = [
    ['vocab', cfg.vocab],
    ['context', cfg.context],
    ['dModel', cfg.dModel],
    ['layers', cfg.layers],
    ['heads', cfg.heads],
    ['mlp', mlpWidth(cfg)],
  ];
  for (const [name, n] of sizes) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`transformer: ${name} must be a positive integer, got ${n}`);
  }
  if (cfg.dModel % cfg.heads !== 0) {
    throw new Error(`transformer: heads = ${cfg.heads} must divide dModel = ${cfg.dModel}`);
  }
}

/** Names and shapes of every parameter, in this order. */
/** The parameters of L transformer blocks (blocks_forward), h{l}.*, in order: shared by both models. */
export function block_param_shapes(L: number, C: number, M: number): { name: string; shape: number[] }[] {
  const shapes: { name: string; shape: number[] }[] = [];
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
  return shapes;
}

/**
 * Seeded GPT-2-style init for a list of parameters: matrices N(0, std^2) with std = stdOf(name)
 * (default 0.02; the blocks' output projections attn.wo and mlp.w2 scaled by 1/sqrt(2L)), one Rng
 * drawing in parameter order, row by row; layernorm weights 1; biases 0.
 */
export function init_params(
  shapes: { name: string; shape: number[] }[],
  layers: number,
  seed: number,
  stdOf: (name: string) => number | undefined = () => undefined,
  baseStd = INIT_STD,
): Record<string, Float64Array> {
  const rng = new Rng(seed);
  const projScale = 1 / Math.sqrt(2 * layers);
  const params: Record<string, Float64Array> = {};
  for (const { name, shape } of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const w = new Float64Array(n);
    if (shape.length === 2) {
      const std = stdOf(name) ?? (name.endsWith('.attn.wo') || name.endsWith('.mlp.w2') ? baseStd * projScale : baseStd);
      for (let i = 0; i < n; i++) w[i] = std * rng.normal();
    } else if (/^(h\d+\.ln[12]|lnf)\.w$/.test(name)) {
      w.fill(1); // layernorm weight
    } // else a bias: 0
    params[name] = w;
  }
  return params;
}

export function transformer_param_shapes(cfg: TransformerConfig): { name: string; shape: number[] }[] {
  checkConfig(cfg);
  const { vocab: V, context: Tmax, dModel: C, layers: L } = cfg;
  const M = mlpWidth(cfg);
  const shapes: { name: string; shape: number[] }[] = [
    { name: 'wte', shape: [V, C] },
    { name: 'wpe', shape: [Tmax, C] },
  ];
  shapes.push(...block_param_shapes(L, C, M));
  shapes.push({ name: 'lnf.w', shape: [C] }, { name: 'lnf.b', shape: [C] }, { name: 'head', shape: [V, C] });
  return shapes;
}

/**
 * GPT-2 style init from a seeded Rng (src/reference/random.ts): matrices N(0, 0.02^2) (the output
 * projections attn.wo and mlp.w2 scaled by 1/sqrt(2L)), biases 0, layernorm weights 1 and biases 0.
 * Deterministic for a seed: one generator, new Rng(seed), draws one normal() per matrix entry, in the
 * order of transformer_param_shapes and row-major within each matrix; vectors draw nothing.
 */
export function transformer_init(cfg: TransformerConfig, seed: number): TransformerParams {
  const std = cfg.initStd;
  if (std !== undefined && !(Number.isFinite(std) && std > 0))
    throw new Error(`transformer: initStd must be a finite number > 0, got ${std}`);
  return init_params(transformer_param_shapes(cfg), cfg.layers, seed, () => undefined, std);
}

function getParam(params: TransformerParams, name: string, n: number): Float64Array {
  const p = params[name];
  if (p === undefined) throw new Error(`transformer: missing parameter ${name}`);
  if (p.length !== n) throw new Error(`transformer: parameter ${name} has ${p.length} values, expected ${n}`);
  return p;
}

/** The parameters by name, each checked to be present and of the right size. */
function checkParams(params: TransformerParams, cfg: TransformerConfig): void {
  for (const { name, shape } of transformer_param_shapes(cfg))
    getParam(
      params,
      name,
      shape.reduce((a, b) => a * b, 1),
    );
}

/** tokens [B,T] as Int32Array, checking that there are B*T of them and each is an integer in [0, V). */
function checkIds(ids: ArrayLike<number>, what: string, B: number, T: number, V: number): Int32Array {
  if (ids.length !== B * T) throw new Error(`transformer: ${what} has ${ids.length} entries, expected B*T = ${B}*${T}`);
  const out = new Int32Array(B * T);
  for (let n = 0; n < B * T; n++) {
    const id = ids[n];
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new Error(`transformer: ${what}[${n}] = ${id} is not an integer in [0, V = ${V})`);
    }
    out[n] = id;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// embedding

/** x [B,T,C] = wte[tokens[b,t]] + wpe[t]; tokens [B,T], wte [V,C], wpe [Tmax,C] (first T rows read). */
function embedding_forward(
  x: Float64Array,
  tokens: Int32Array,
  wte: Float64Array,
  wpe: Float64Array,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t;
      const tok = tokens[n];
      for (let c = 0; c < C; c++) x[n * C + c] = wte[tok * C + c] + wpe[t * C + c];
    }
  }
}

/** dwte [V,C] += scatter of dx [B,T,C] by token; dwpe [Tmax,C] += sum over b of dx[b,t] (rows t < T). */
function embedding_backward(
  dwte: Float64Array,
  dwpe: Float64Array,
  dx: Float64Array,
  tokens: Int32Array,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t;
      const tok = tokens[n];
      for (let c = 0; c < C; c++) {
        dwte[tok * C + c] += dx[n * C + c];
        dwpe[t * C + c] += dx[n * C + c];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// layernorm

/**
 * y [N,C] = (x - mean) * rstd * w + b over the last axis of x [N,C], w [C], b [C];
 * also mean [N] and rstd [N] = 1/sqrt(var + eps), biased variance (divide by C).
 */
export function layernorm_forward(
  y: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  x: Float64Array,
  w: Float64Array,
  b: Float64Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = n * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += x[row + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[row + c] - m) * (x[row + c] - m);
    v /= C;
    const s = 1 / Math.sqrt(v + LN_EPS);
    for (let c = 0; c < C; c++) y[row + c] = (x[row + c] - m) * s * w[c] + b[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

/**
 * Given dy [N,C]: dx [N,C] +=, dw [C] +=, db [C] +=. With xhat = (x - mean) * rstd and g = dy * w:
 * dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)); dw = sum_n dy * xhat; db = sum_n dy.
 */
export function layernorm_backward(
  dx: Float64Array,
  dw: Float64Array,
  db: Float64Array,
  dy: Float64Array,
  x: Float64Array,
  w: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = n * C;
    const s = rstd[n];
    let gMean = 0;
    let gxMean = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x[row + c] - mean[n]) * s;
      const g = dy[row + c] * w[c];
      gMean += g;
      gxMean += g * xhat;
      dw[c] += dy[row + c] * xhat;
      db[c] += dy[row + c];
    }
    gMean /= C;
    gxMean /= C;
    for (let c = 0; c < C; c++) {
      const xhat = (x[row + c] - mean[n]) * s;
      const g = dy[row + c] * w[c];
      dx[row + c] += s * (g - gMean - xhat * gxMean);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// linear (y = x·Wᵀ + b, W stored [out, in])

/** y [N,O] = x [N,I]·wᵀ + b, with w [O,I] and b [O] (or null: no bias). */
export function linear_forward(
  y: Float64Array,
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | null,
  N: number,
  I: number,
  O: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let acc = b === null ? 0 : b[o];
      for (let i = 0; i < I; i++) acc += x[n * I + i] * w[o * I + i];
      y[n * O + o] = acc;
    }
  }
}

/** Given dy [N,O]: dx [N,I] += dy·w; dw [O,I] += dyᵀ·x; db [O] += sum_n dy (skipped when null). */
export function linear_backward(
  dx: Float64Array,
  dw: Float64Array,
  db: Float64Array | null,
  dy: Float64Array,
  x: Float64Array,
  w: Float64Array,
  N: number,
  I: number,
  O: number,
): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const d = dy[n * O + o];
      if (db !== null) db[o] += d;
      for (let i = 0; i < I; i++) {
        dx[n * I + i] += d * w[o * I + i];
        dw[o * I + i] += d * x[n * I + i];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// multi-head attention (causal or not), on q, k, v [B,T,C] with head h in columns h*hs..h*hs+hs-1

/**
 * att [B,H,T,T]: att[b,h,i,j] = softmax over the visible keys j (j <= i when causal, else all) of
 * q_i·k_j / sqrt(hs), 0 elsewhere; o [B,T,C]: o[b,i, head h] = sum_j att[b,h,i,j] v[b,j, head h].
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
  causal: boolean,
): void {
  const hs = C / H;
  const scale = 1 / Math.sqrt(hs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const qi = (b * T + i) * C + h * hs;
        const arow = ((b * H + h) * T + i) * T;
        const visible = causal ? i + 1 : T;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < visible; j++) {
          const kj = (b * T + j) * C + h * hs;
          let dot = 0;
          for (let d = 0; d < hs; d++) dot += q[qi + d] * k[kj + d];
          att[arow + j] = dot * scale;
          max = Math.max(max, att[arow + j]);
        }
        let sum = 0;
        for (let j = 0; j < visible; j++) {
          att[arow + j] = Math.exp(att[arow + j] - max);
          sum += att[arow + j];
        }
        for (let j = 0; j < T; j++) att[arow + j] = j < visible ? att[arow + j] / sum : 0;
        for (let d = 0; d < hs; d++) {
          let acc = 0;
          for (let j = 0; j < visible; j++) acc += att[arow + j] * v[(b * T + j) * C + h * hs + d];
          o[qi + d] = acc;
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
  causal: boolean,
): void {
  const hs = C / H;
  const scale = 1 / Math.sqrt(hs);
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const qi = (b * T + i) * C + h * hs;
        const arow = ((b * H + h) * T + i) * T;
        const visible = causal ? i + 1 : T;
        // dP_ij = do_i·v_j, and dv_j += P_ij do_i, for the visible keys j.
        let rowDot = 0;
        for (let j = 0; j < visible; j++) {
          const vj = (b * T + j) * C + h * hs;
          let acc = 0;
          for (let d = 0; d < hs; d++) {
            acc += dout[qi + d] * v[vj + d];
            dv[vj + d] += att[arow + j] * dout[qi + d];
          }
          dP[j] = acc;
          rowDot += att[arow + j] * acc;
        }
        // Softmax backward, then the scores' backward into q_i and k_j.
        for (let j = 0; j < visible; j++) {
          const kj = (b * T + j) * C + h * hs;
          const dS = att[arow + j] * (dP[j] - rowDot) * scale;
          for (let d = 0; d < hs; d++) {
            dq[qi + d] += dS * k[kj + d];
            dk[kj + d] += dS * q[qi + d];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GELU (tanh approximation)

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** y [N] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), elementwise on x [N]. */
export function gelu_forward(y: Float64Array, x: Float64Array, N: number): void {
  for (let i = 0; i < N; i++) {
    const u = x[i];
    y[i] = 0.5 * u * (1 + Math.tanh(GELU_K * (u + GELU_A * u * u * u)));
  }
}

/** dx [N] += dy [N] * gelu'(x [N]). */
export function gelu_backward(dx: Float64Array, dy: Float64Array, x: Float64Array, N: number): void {
  for (let i = 0; i < N; i++) {
    const u = x[i];
    const t = Math.tanh(GELU_K * (u + GELU_A * u * u * u));
    const dt = (1 - t * t) * GELU_K * (1 + 3 * GELU_A * u * u);
    dx[i] += dy[i] * (0.5 * (1 + t) + 0.5 * u * dt);
  }
}

// ---------------------------------------------------------------------------------------------
// the model: forward

// ---------------------------------------------------------------------------------------------
// the blocks, shared with the in-context regression transformer (icl-transformer.ts)

/**
 * L pre-layernorm blocks on x [B,T,C] (parameters h{l}.*): per block, xMid = xIn + attn(LN1(xIn))·woᵀ
 * + bo, then xOut = xMid + GELU(LN2(xMid)·w1ᵀ + b1)·w2ᵀ + b2. Attention is causal or over all T.
 * Returns the last block's output and each block's cache.
 */
export function blocks_forward(
  params: TransformerParams,
  input: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
  M: number,
  L: number,
  causal: boolean,
): { out: Float64Array; layers: TransformerLayerCache[] } {
  const N = B * T;
  let x = input;
  const layers: TransformerLayerCache[] = [];
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
    const att = new Float64Array(B * H * T * T);
    const o = new Float64Array(N * C);
    attention_forward(o, att, q, k, v, B, T, C, H, causal);
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

  return { out: x, layers };
}

/**
 * Backward through blocks_forward: given dx = dL/d(output) [B,T,C], accumulates every block
 * parameter's gradient into grads and leaves dL/d(input) in dx (overwritten in place).
 */
export function blocks_backward(
  params: TransformerParams,
  grads: TransformerParams,
  layers: TransformerLayerCache[],
  dx: Float64Array,
  B: number,
  T: number,
  C: number,
  H: number,
  M: number,
  causal: boolean,
): void {
  const N = B * T;
  const L = layers.length;
  for (let l = L - 1; l >= 0; l--) {
    const p = (name: string): Float64Array => params[`h${l}.${name}`];
    const d = (name: string): Float64Array => grads[`h${l}.${name}`];
    const c = layers[l];

    // MLP block, xOut = xMid + GELU(LN2(xMid)·w1ᵀ + b1)·w2ᵀ + b2: on entry dx = dL/dxOut. The residual
    // passes dx through unchanged, and the branch's gradient is added to it, so afterwards dx = dL/dxMid.
    const dg = new Float64Array(N * M);
    linear_backward(dg, d('mlp.w2'), d('mlp.b2'), dx, c.g, p('mlp.w2'), N, M, C);
    const dh = new Float64Array(N * M);
    gelu_backward(dh, dg, c.h, N * M);
    const dln2 = new Float64Array(N * C);
    linear_backward(dln2, d('mlp.w1'), d('mlp.b1'), dh, c.ln2, p('mlp.w1'), N, C, M);
    layernorm_backward(dx, d('ln2.w'), d('ln2.b'), dln2, c.xMid, p('ln2.w'), c.ln2Mean, c.ln2Rstd, N, C);

    // Attention block, xMid = xIn + attn(LN1(xIn))·woᵀ + bo: likewise, afterwards dx = dL/dxIn.
    const dout = new Float64Array(N * C);
    linear_backward(dout, d('attn.wo'), d('attn.bo'), dx, c.o, p('attn.wo'), N, C, C);
    const dq = new Float64Array(N * C);
    const dk = new Float64Array(N * C);
    const dv = new Float64Array(N * C);
    attention_backward(dq, dk, dv, dout, c.q, c.k, c.v, c.att, B, T, C, H, causal);
    const dln1 = new Float64Array(N * C); // q, k and v all read LN1's output: their gradients add up
    linear_backward(dln1, d('attn.wq'), d('attn.bq'), dq, c.ln1, p('attn.wq'), N, C, C);
    linear_backward(dln1, d('attn.wk'), d('attn.bk'), dk, c.ln1, p('attn.wk'), N, C, C);
    linear_backward(dln1, d('attn.wv'), d('attn.bv'), dv, c.ln1, p('attn.wv'), N, C, C);
    layernorm_backward(dx, d('ln1.w'), d('ln1.b'), dln1, c.xIn, p('ln1.w'), c.ln1Mean, c.ln1Rstd, N, C);
  }
}

/**
 * logits [B,T,V] for tokens [B,T] (integers in [0, V)), T <= context (throw otherwise, naming T and
 * context). Returns also the cache the backward needs (see TransformerCache).
 */
export function transformer_forward(
  params: TransformerParams,
  cfg: TransformerConfig,
  tokens: ArrayLike<number>,
  B: number,
  T: number,
): { logits: Float64Array; cache: TransformerCache } {
  checkConfig(cfg);
  if (!Number.isInteger(B) || B < 1) throw new Error(`transformer_forward: B must be a positive integer, got ${B}`);
  if (!Number.isInteger(T) || T < 1) throw new Error(`transformer_forward: T must be a positive integer, got ${T}`);
  if (T > cfg.context) throw new Error(`transformer_forward: T = ${T} exceeds the context = ${cfg.context}`);
  checkParams(params, cfg);
  const { vocab: V, dModel: C, layers: L, heads: H } = cfg;
  const M = mlpWidth(cfg);
  const N = B * T;
  const ids = checkIds(tokens, 'tokens', B, T, V);

  // x [B,T,C] = wte[tok] + wpe[t]
  const x0 = new Float64Array(N * C);
  embedding_forward(x0, ids, params.wte, params.wpe, B, T, C);
  const { out: x, layers } = blocks_forward(params, x0, B, T, C, H, M, L, true);

  // f = LNf(x); logits [B,T,V] = f·headᵀ
  const lnf = new Float64Array(N * C);
  const lnfMean = new Float64Array(N);
  const lnfRstd = new Float64Array(N);
  layernorm_forward(lnf, lnfMean, lnfRstd, x, params['lnf.w'], params['lnf.b'], N, C);
  const logits = new Float64Array(N * V);
  linear_forward(logits, lnf, params.head, null, N, C, V);

  return { logits, cache: { B, T, tokens: ids, layers, xFinal: x, lnf, lnfMean, lnfRstd } };
}

// ---------------------------------------------------------------------------------------------
// the model: loss and backward

/**
 * Mean cross-entropy over positions with mask[b,t] != 0 (mask weights, loss = sum(mask*ce)/sum(mask);
 * mask [B,T] or null for all ones; throws if sum(mask) is 0), and the gradient of every parameter (same
 * names). tokens, targets [B,T] integers in [0, V); logits [B,T,V] from the forward.
 */
export function transformer_loss_and_grads(
  params: TransformerParams,
  cfg: TransformerConfig,
  tokens: ArrayLike<number>,
  targets: ArrayLike<number>,
  mask: ArrayLike<number> | null,
  B: number,
  T: number,
): { loss: number; grads: TransformerParams; logits: Float64Array } {
  const { logits, cache } = transformer_forward(params, cfg, tokens, B, T);
  const { vocab: V } = cfg;
  const N = B * T;
  const tgt = checkIds(targets, 'targets', B, T, V);
  if (mask !== null && mask.length !== N)
    throw new Error(`transformer: mask has ${mask.length} entries, expected B*T = ${B}*${T}`);
  const weight = (n: number): number => (mask === null ? 1 : mask[n]);
  let wsum = 0;
  for (let n = 0; n < N; n++) wsum += weight(n);
  if (wsum === 0) throw new Error('transformer_loss_and_grads: the mask sums to 0, so the mean loss is undefined');

  // loss = sum_n w_n (logsumexp(logits_n) - logits_n[target_n]) / sum_n w_n
  // dlogits [B,T,V] = w_n / sum(w) * (softmax(logits_n) - onehot(target_n))
  let loss = 0;
  const dlogits = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    const row = n * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < V; c++) max = Math.max(max, logits[row + c]);
    let denom = 0;
    for (let c = 0; c < V; c++) denom += Math.exp(logits[row + c] - max);
    const w = weight(n);
    loss += w * (max + Math.log(denom) - logits[row + tgt[n]]);
    for (let c = 0; c < V; c++) {
      const prob = Math.exp(logits[row + c] - max) / denom;
      dlogits[row + c] = (w / wsum) * (prob - (c === tgt[n] ? 1 : 0));
    }
  }
  loss /= wsum;

  return { loss, grads: transformer_backward(params, cfg, cache, dlogits), logits };
}

/**
 * The gradient of every parameter given dlogits [B, T, V], the gradient of any loss with respect to
 * the logits of transformer_forward (cross-entropy above; a policy-gradient objective in RL).
 */
export function transformer_backward(
  params: TransformerParams,
  cfg: TransformerConfig,
  cache: TransformerCache,
  dlogits: Float64Array,
): TransformerParams {
  const { vocab: V, dModel: C, heads: H } = cfg;
  const M = mlpWidth(cfg);
  const { B, T } = cache;
  const N = B * T;
  // Every gradient starts at 0; the backward functions accumulate into them.
  const grads: TransformerParams = {};
  for (const { name, shape } of transformer_param_shapes(cfg)) grads[name] = new Float64Array(shape.reduce((a, b) => a * b, 1));

  // logits = f·headᵀ; f = LNf(xFinal). dx [B,T,C] is the gradient of the residual stream from here on.
  const dlnf = new Float64Array(N * C);
  linear_backward(dlnf, grads.head, null, dlogits, cache.lnf, params.head, N, C, V);
  const dx = new Float64Array(N * C);
  layernorm_backward(dx, grads['lnf.w'], grads['lnf.b'], dlnf, cache.xFinal, params['lnf.w'], cache.lnfMean, cache.lnfRstd, N, C);

  blocks_backward(params, grads, cache.layers, dx, B, T, C, H, M, true);

  // x = wte[tok] + wpe[t]
  embedding_backward(grads.wte, grads.wpe, dx, cache.tokens, B, T, C);

  return grads;
}

/**
 * Greedy decoding with the reference model: per new token a full forward over the sequence so far
 * (no cache) and the argmax (first maximum) of the last position's logits. Stops after maxNew
 * tokens, when the sequence reaches `limit` tokens (default the context), or after `eos` (included).
 * Returns the new tokens.
 */
export function transformer_greedy(
  params: TransformerParams,
  cfg: TransformerConfig,
  prompt: readonly number[],
  maxNew: number,
  opts: { limit?: number; eos?: number } = {},
): number[] {
  const limit = opts.limit ?? cfg.context;
  const seq = [...prompt];
  for (let i = 0; i < maxNew && seq.length < limit; i++) {
    const { logits } = transformer_forward(params, cfg, seq, 1, seq.length);
    const row = logits.subarray((seq.length - 1) * cfg.vocab, seq.length * cfg.vocab);
    let best = 0;
    for (let v = 1; v < cfg.vocab; v++) if (row[v] > row[best]) best = v;
    seq.push(best);
    if (best === opts.eos) break;
  }
  return seq.slice(prompt.length);
}
