/**
 * CPU reference for the linear self-attention (LSA) models of in-context weight prediction: plain
 * loops, f64, independent of the GPU code. A prompt holds n pairs (x_i, y_i), x_i in R^d; the model
 * reads the moment h = (1/n) sum_i y_i x_i and predicts w:
 *   merged:      pred = Gamma h                  (Gamma [d, d])
 *   factorised:  pred = P (Q h)                  (Q [k, d] "key-query", P [d, k] "value/projection")
 * Loss: mean over the batch of ||pred - w||^2.
 */
export type LsaParams = { gamma: Float64Array } | { Q: Float64Array; P: Float64Array };

export interface LsaShape {
  B: number;
  n: number;
  d: number;
  /** Width of the factorised form's hidden layer. */
  k: number;
}

/** h [B, d] = (1/n) sum_i y[b, i] X[b, i, :]. */
export function lsa_moments(X: ArrayLike<number>, y: ArrayLike<number>, { B, n, d }: LsaShape): Float64Array {
  const h = new Float64Array(B * d);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) h[b * d + j] += (y[b * n + i] * X[(b * n + i) * d + j]) / n;
  return h;
}

/** out [B, rows] = h [B, cols] · Wᵀ, W [rows, cols]. */
function linear(h: ArrayLike<number>, W: ArrayLike<number>, B: number, rows: number, cols: number): Float64Array {
  const out = new Float64Array(B * rows);
  for (let b = 0; b < B; b++)
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += W[r * cols + c] * h[b * cols + c];
      out[b * rows + r] = s;
    }
  return out;
}

/** The forward pass: moments, hidden (factorised only) and prediction. */
export function lsa_forward(
  params: LsaParams,
  X: ArrayLike<number>,
  y: ArrayLike<number>,
  shape: LsaShape,
): { h: Float64Array; u?: Float64Array; pred: Float64Array } {
  const { B, d, k } = shape;
  const h = lsa_moments(X, y, shape);
  if ('gamma' in params) return { h, pred: linear(h, params.gamma, B, d, d) };
  const u = linear(h, params.Q, B, k, d);
  return { h, u, pred: linear(u, params.P, B, d, k) };
}

/** Loss (mean over the batch of the squared error) and the gradient of every parameter. */
export function lsa_loss_and_grads(
  params: LsaParams,
  X: ArrayLike<number>,
  y: ArrayLike<number>,
  w: ArrayLike<number>,
  shape: LsaShape,
): { loss: number; grads: Record<string, Float64Array> } {
  const { B, d, k } = shape;
  const { h, u, pred } = lsa_forward(params, X, y, shape);
  let loss = 0;
  const dpred = new Float64Array(B * d);
  for (let i = 0; i < B * d; i++) {
    const e = pred[i] - w[i];
    loss += (e * e) / B;
    dpred[i] = (2 * e) / B;
  }
  if ('gamma' in params) {
    const dgamma = new Float64Array(d * d);
    for (let b = 0; b < B; b++)
      for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) dgamma[r * d + c] += dpred[b * d + r] * h[b * d + c];
    return { loss, grads: { gamma: dgamma } };
  }
  const hidden = u as Float64Array;
  const dP = new Float64Array(d * k);
  const du = new Float64Array(B * k);
  const dQ = new Float64Array(k * d);
  for (let b = 0; b < B; b++)
    for (let r = 0; r < d; r++)
      for (let c = 0; c < k; c++) {
        dP[r * k + c] += dpred[b * d + r] * hidden[b * k + c];
        du[b * k + c] += dpred[b * d + r] * params.P[r * k + c];
      }
  for (let b = 0; b < B; b++)
    for (let r = 0; r < k; r++) for (let c = 0; c < d; c++) dQ[r * d + c] += du[b * k + r] * h[b * d + c];
  return { loss, grads: { Q: dQ, P: dP } };
}
