/** CPU reference for the regression loss kernel (plain loops, f64). */

/** losses [B] = sum_d (pred - target)^2 per row; dpred [B, D] = scale * 2 * (pred - target). */
export function mse_loss(
  losses: Float32Array,
  dpred: Float32Array,
  pred: Float32Array,
  target: Float32Array,
  B: number,
  D: number,
  scale: number,
): void {
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let d = 0; d < D; d++) {
      const e = pred[b * D + d] - target[b * D + d];
      s += e * e;
      dpred[b * D + d] = scale * 2 * e;
    }
    losses[b] = s;
  }
}
