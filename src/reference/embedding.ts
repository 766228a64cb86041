/**
 * CPU reference for the embedding kernels (token plus position embedding, as in GPT-2's wte/wpe),
 * in the style of src/reference/kernels.ts: plain loops, f64 sums, outputs first, then inputs, then
 * sizes. Names identical to the GPU wrappers (src/kernels/embedding.ts). No GPU code.
 */

function checkToken(tokens: Uint32Array, n: number, V: number): number {
  const v = tokens[n];
  if (!(v < V)) throw new Error(`embedding: token id ${v} at position ${n} is not below V = ${V}`);
  return v;
}

/**
 * out [B,T,C] = wte[tokens[b,t]] + wpe[t], tokens [B,T] (u32, each < V: throws otherwise),
 * wte [V,C], wpe [Tmax,C] with T <= Tmax (only its first T rows are read). With positions [B,T]
 * (u32, each < Tmax = wpe.length / C: throws otherwise), wpe[positions[b,t]] instead of wpe[t].
 */
export function embedding_forward(
  out: Float32Array,
  tokens: Uint32Array,
  wte: Float32Array,
  wpe: Float32Array,
  B: number,
  T: number,
  C: number,
  V: number,
  positions: Uint32Array | null = null,
): void {
  const Tmax = wpe.length / C;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t;
      const v = checkToken(tokens, n, V);
      const at = positions ? positions[n] : t;
      if (!(at < Tmax)) throw new Error(`embedding_forward: position ${at} at index ${n} is not below Tmax = ${Tmax}`);
      for (let c = 0; c < C; c++) out[n * C + c] = wte[v * C + c] + wpe[at * C + c];
    }
  }
}

/**
 * Gradients of embedding_forward, overwritten (not accumulated):
 *   dwte [V,C]:    dwte[v] = sum of dout[b,t] over the positions with tokens[b,t] = v (0 for unused v);
 *   dwpe [Tmax,C]: dwpe[t] = sum_b dout[b,t] for t < T, 0 for T <= t < Tmax.
 * dout [B,T,C], tokens [B,T] (each < V: throws otherwise). Sums in f64 over (b, t) in index order.
 */
export function embedding_backward(
  dwte: Float32Array,
  dwpe: Float32Array,
  dout: Float32Array,
  tokens: Uint32Array,
  B: number,
  T: number,
  C: number,
  V: number,
  Tmax: number,
): void {
  const accTe = new Float64Array(V * C);
  const accPe = new Float64Array(Tmax * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t;
      const v = checkToken(tokens, n, V);
      for (let c = 0; c < C; c++) {
        accTe[v * C + c] += dout[n * C + c];
        accPe[t * C + c] += dout[n * C + c];
      }
    }
  }
  dwte.set(accTe);
  dwpe.set(accPe);
}
