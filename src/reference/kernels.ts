/**
 * The clean, minimal CPU reference for every kernel (in the spirit of llm.c's train_gpt2.c).
 *
 * Each GPU kernel is checked against the function of the same name here, and each backward here is
 * checked against finite differences of its forward (test/reference.test.ts). So this file favours
 * being obviously right over being fast: plain loops, every sum accumulated in f64 (JS numbers),
 * results stored to Float32Array only at the end. It depends on no GPU code.
 *
 * Conventions: row-major contiguous arrays; outputs first, then inputs, then sizes, then an options
 * object; gradients take a `d` prefix. Ordered by layer, each forward next to its backward.
 * Nothing is validated beyond what a comment states: shape checks live in the GPU wrappers.
 */

// ---------------------------------------------------------------------------------------------
// matmul

/**
 * c [B,M,N] = (accumulate ? c : 0) + op(a)·op(b) + bias.
 *   a:    [B,M,K], or [B,K,M] when transA (op(a) = aᵀ per batch).
 *   b:    batchB ? [B,K,N] (or [B,N,K] when transB) : [K,N] (or [N,K] when transB), shared by every batch.
 *   bias: [N], broadcast over rows, or null.
 * All options default to false.
 *
 * Backward of c = a·b with upstream dc is matmul itself: da = dc·bᵀ (transB), db = aᵀ·dc (transA).
 */
export function matmul(
  c: Float32Array,
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array | null,
  B: number,
  M: number,
  N: number,
  K: number,
  opts: { transA?: boolean; transB?: boolean; accumulate?: boolean; batchB?: boolean; lowerC?: boolean } = {},
): void {
  const { transA = false, transB = false, accumulate = false, batchB = false, lowerC = false } = opts;
  for (let bt = 0; bt < B; bt++) {
    const aOff = bt * M * K;
    const bOff = batchB ? bt * K * N : 0;
    const cOff = bt * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = accumulate ? c[cOff + m * N + n] : 0;
        if (bias !== null) acc += bias[n];
        let dot = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[aOff + k * M + m] : a[aOff + m * K + k];
          const bv = transB ? b[bOff + n * K + k] : b[bOff + k * N + n];
          dot += av * bv;
        }
        // lowerC: only the lower triangle is wanted; above the diagonal is 0.
        c[cOff + m * N + n] = lowerC && n > m ? 0 : acc + dot;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// softmax (attention)

/**
 * y [R,N] = softmax(scale * x) over the last axis of x [R,N]; scale defaults to 1.
 * causal: rows come in blocks of Q consecutive rows (Q defaults to R); row r is query i = r % Q and
 * sees keys j <= i + (N - Q); the others are masked (-infinity before the softmax, y = 0).
 * Throws if causal and N < Q (a query would see no key).
 */
export function softmax_forward(
  y: Float32Array,
  x: Float32Array,
  R: number,
  N: number,
  opts: { scale?: number; causal?: boolean; Q?: number } = {},
): void {
  const { scale = 1, causal = false, Q = R } = opts;
  if (causal && N < Q) throw new Error(`softmax_forward: causal needs N >= Q, got N=${N}, Q=${Q}`);
  for (let r = 0; r < R; r++) {
    const row = r * N;
    // Entries 0..last are visible; the rest are masked.
    const last = causal ? (r % Q) + (N - Q) : N - 1;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j <= last; j++) max = Math.max(max, scale * x[row + j]);
    let denom = 0;
    for (let j = 0; j <= last; j++) denom += Math.exp(scale * x[row + j] - max);
    for (let j = 0; j < N; j++) y[row + j] = j <= last ? Math.exp(scale * x[row + j] - max) / denom : 0;
  }
}

/**
 * dx [R,N] = scale * y * (dy - sum_j dy_j * y_j) per row: the gradient w.r.t. x of y = softmax(scale * x),
 * given y [R,N] from the forward and dy [R,N]. Masked entries have y = 0, so they get dx = 0.
 */
export function softmax_backward(
  dx: Float32Array,
  dy: Float32Array,
  y: Float32Array,
  R: number,
  N: number,
  opts: { scale?: number } = {},
): void {
  const { scale = 1 } = opts;
  for (let r = 0; r < R; r++) {
    const row = r * N;
    let dot = 0;
    for (let j = 0; j < N; j++) dot += dy[row + j] * y[row + j];
    for (let j = 0; j < N; j++) dx[row + j] = scale * y[row + j] * (dy[row + j] - dot);
  }
}

// ---------------------------------------------------------------------------------------------
// cross-entropy (fused log-softmax + negative log-likelihood)

/**
 * losses [N] = mask[n] * (logsumexp(logits[n,:]) - logits[n, targets[n]]).
 *   logits [N,V], targets [N] in [0,V), mask [N] per-row weights or null (all ones).
 */
export function cross_entropy_forward(
  losses: Float32Array,
  logits: Float32Array,
  targets: Uint32Array,
  mask: Float32Array | null,
  N: number,
  V: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = n * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[row + v]);
    let denom = 0;
    for (let v = 0; v < V; v++) denom += Math.exp(logits[row + v] - max);
    const logsumexp = max + Math.log(denom);
    const w = mask === null ? 1 : mask[n];
    losses[n] = w * (logsumexp - logits[row + targets[n]]);
  }
}

/**
 * dlogits [N,V] = scale * mask[n] * (softmax(logits[n,:])[v] - (v == targets[n] ? 1 : 0)):
 * the gradient w.r.t. logits of scale * sum_n losses[n]. Shapes as in cross_entropy_forward.
 */
export function cross_entropy_backward(
  dlogits: Float32Array,
  logits: Float32Array,
  targets: Uint32Array,
  mask: Float32Array | null,
  N: number,
  V: number,
  scale: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = n * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[row + v]);
    let denom = 0;
    for (let v = 0; v < V; v++) denom += Math.exp(logits[row + v] - max);
    const w = scale * (mask === null ? 1 : mask[n]);
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[row + v] - max) / denom;
      dlogits[row + v] = w * (p - (v === targets[n] ? 1 : 0));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// layernorm

/**
 * LayerNorm over the last axis of x [N,C]: y [N,C] = (x - mean) * rstd * weight + bias,
 * with weight [C], bias [C]; also stores mean [N] and rstd [N] = 1 / sqrt(var + eps)
 * (biased variance: divide by C) for the backward.
 */
export function layernorm_forward(
  y: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const row = n * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += x[row + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) {
      const d = x[row + c] - m;
      v += d * d;
    }
    v /= C;
    const s = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) y[row + c] = (x[row + c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

/**
 * Gradients of layernorm_forward given dy [N,C], x [N,C], weight [C] and the forward's mean [N], rstd [N]:
 *   dx [N,C]; dweight [C] and dbias [C], sums over the N rows, OVERWRITTEN (not accumulated).
 * With xhat = (x - mean) * rstd and g = dy * weight: dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)).
 */
export function layernorm_backward(
  dx: Float32Array,
  dweight: Float32Array,
  dbias: Float32Array,
  dy: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  N: number,
  C: number,
): void {
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const row = n * C;
    const m = mean[n];
    const s = rstd[n];
    let gMean = 0;
    let gxMean = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x[row + c] - m) * s;
      const g = dy[row + c] * weight[c];
      gMean += g;
      gxMean += g * xhat;
      dw[c] += dy[row + c] * xhat;
      db[c] += dy[row + c];
    }
    gMean /= C;
    gxMean /= C;
    for (let c = 0; c < C; c++) {
      const xhat = (x[row + c] - m) * s;
      const g = dy[row + c] * weight[c];
      dx[row + c] = s * (g - gMean - xhat * gxMean);
    }
  }
  for (let c = 0; c < C; c++) {
    dweight[c] = dw[c];
    dbias[c] = db[c];
  }
}

// ---------------------------------------------------------------------------------------------
// GELU (tanh approximation)

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** y [N] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), elementwise on x [N]. */
export function gelu_forward(y: Float32Array, x: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) {
    const v = x[i];
    y[i] = 0.5 * v * (1 + Math.tanh(GELU_K * (v + GELU_A * v * v * v)));
  }
}

/** dx [N] = dy [N] * gelu'(x [N]), elementwise; dx is overwritten. */
export function gelu_backward(dx: Float32Array, dy: Float32Array, x: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) {
    const v = x[i];
    const t = Math.tanh(GELU_K * (v + GELU_A * v * v * v));
    const dt = (1 - t * t) * GELU_K * (1 + 3 * GELU_A * v * v);
    dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * dt);
  }
}

// ---------------------------------------------------------------------------------------------
// elementwise

/** c [N] = a [N] + b [N]. */
export function add(c: Float32Array, a: Float32Array, b: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) c[i] = a[i] + b[i];
}

/** y [N] = alpha * x [N]. */
export function scale(y: Float32Array, x: Float32Array, alpha: number, N: number): void {
  for (let i = 0; i < N; i++) y[i] = alpha * x[i];
}

/** y [N] = 1 where x [N] < tau, else 0 (NaN gives 0). */
export function threshold(y: Float32Array, x: Float32Array, tau: number, N: number): void {
  for (let i = 0; i < N; i++) y[i] = x[i] < tau ? 1 : 0;
}

/** y [N] = x [N]. */
export function copy(y: Float32Array, x: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) y[i] = x[i];
}

// ---------------------------------------------------------------------------------------------
// reductions (accumulated in f64, one f32 result in out[0])

/** out [1] = sum of x [N]. */
export function sum(out: Float32Array, x: Float32Array, N: number): void {
  let acc = 0;
  for (let i = 0; i < N; i++) acc += x[i];
  out[0] = acc;
}

/** out [N] = the sum of x [R, N] over its rows (f64). */
export function column_sum(out: Float32Array, x: Float32Array, R: number, N: number): void {
  for (let n = 0; n < N; n++) {
    let acc = 0;
    for (let r = 0; r < R; r++) acc += x[r * N + n];
    out[n] = acc;
  }
}

/** out [1] = mean of x [N]. */
export function mean(out: Float32Array, x: Float32Array, N: number): void {
  let acc = 0;
  for (let i = 0; i < N; i++) acc += x[i];
  out[0] = acc / N;
}

/** out [1] = sum of squares of x [N]. */
export function sumsq(out: Float32Array, x: Float32Array, N: number): void {
  let acc = 0;
  for (let i = 0; i < N; i++) acc += x[i] * x[i];
  out[0] = acc;
}
