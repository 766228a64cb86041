/**
 * CPU reference for attention and head permutation: plain loops, f64 sums, independent of the GPU
 * code (and of the other reference functions). Shapes: q, k, v, out [B, H, T, hs]; att [B, H, T, T].
 */

/** y [A, C, B, D] = x [A, B, C, D]. */
export function permute_0213(y: Float32Array, x: Float32Array, A: number, B: number, C: number, D: number): void {
  for (let a = 0; a < A; a++)
    for (let b = 0; b < B; b++)
      for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) y[((a * C + c) * B + b) * D + d] = x[((a * B + b) * C + c) * D + d];
}

/**
 * att[b,h,i,:] = softmax_j(q_i·k_j / sqrt(hs)) over j (j <= i when causal; masked entries 0),
 * out[b,h,i,:] = sum_j att[i,j] v_j.
 */
export function attention_forward(
  out: Float32Array,
  att: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  B: number,
  H: number,
  T: number,
  hs: number,
  opts: { causal?: boolean } = {},
): void {
  const scale = 1 / Math.sqrt(hs);
  const s = new Float64Array(T);
  for (let bh = 0; bh < B * H; bh++) {
    const base = bh * T * hs;
    for (let i = 0; i < T; i++) {
      const visible = opts.causal ? i + 1 : T;
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < visible; j++) {
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += q[base + i * hs + d] * k[base + j * hs + d];
        s[j] = dot * scale;
        max = Math.max(max, s[j]);
      }
      let sum = 0;
      for (let j = 0; j < visible; j++) {
        s[j] = Math.exp(s[j] - max);
        sum += s[j];
      }
      const arow = (bh * T + i) * T;
      for (let j = 0; j < T; j++) att[arow + j] = j < visible ? s[j] / sum : 0;
      for (let d = 0; d < hs; d++) {
        let acc = 0;
        for (let j = 0; j < visible; j++) acc += (s[j] / sum) * v[base + j * hs + d];
        out[base + i * hs + d] = acc;
      }
    }
  }
}

/**
 * Gradients of attention_forward given dout: with P = att and S the scaled scores,
 * dv_j = sum_i P_ij dout_i; dP_ij = dout_i·v_j; dS_ij = P_ij (dP_ij - sum_l P_il dP_il);
 * dq_i = scale sum_j dS_ij k_j; dk_j = scale sum_i dS_ij q_i.
 */
export function attention_backward(
  dq: Float32Array,
  dk: Float32Array,
  dv: Float32Array,
  dout: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  att: Float32Array,
  B: number,
  H: number,
  T: number,
  hs: number,
): void {
  const scale = 1 / Math.sqrt(hs);
  const dS = new Float64Array(T * T);
  const dqAcc = new Float64Array(T * hs);
  const dkAcc = new Float64Array(T * hs);
  const dvAcc = new Float64Array(T * hs);
  for (let bh = 0; bh < B * H; bh++) {
    const base = bh * T * hs;
    const abase = bh * T * T;
    dqAcc.fill(0);
    dkAcc.fill(0);
    dvAcc.fill(0);
    for (let i = 0; i < T; i++) {
      let rowDot = 0;
      for (let j = 0; j < T; j++) {
        let dP = 0;
        for (let d = 0; d < hs; d++) dP += dout[base + i * hs + d] * v[base + j * hs + d];
        dS[i * T + j] = dP;
        rowDot += dP * att[abase + i * T + j];
      }
      for (let j = 0; j < T; j++) {
        const P = att[abase + i * T + j];
        dS[i * T + j] = P * (dS[i * T + j] - rowDot);
        for (let d = 0; d < hs; d++) dvAcc[j * hs + d] += P * dout[base + i * hs + d];
      }
    }
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const g = dS[i * T + j] * scale;
        for (let d = 0; d < hs; d++) {
          dqAcc[i * hs + d] += g * k[base + j * hs + d];
          dkAcc[j * hs + d] += g * q[base + i * hs + d];
        }
      }
    }
    for (let e = 0; e < T * hs; e++) {
      dq[base + e] = dqAcc[e];
      dk[base + e] = dkAcc[e];
      dv[base + e] = dvAcc[e];
    }
  }
}

/**
 * One new position per sequence against a key/value cache: kcache[b,h,pos[b],:] = k[b,h,:],
 * vcache[b,h,pos[b],:] = v[b,h,:] (in place), then out[b,h,:] = sum_j softmax_j(q·kcache_j /
 * sqrt(hs)) vcache_j over j = 0..pos[b]: attention_forward's causal row pos[b] with the earlier rows
 * from the cache. q, k, v, out [B, H, hs]; kcache, vcache [B, H, Tmax, hs]; pos [B] (each < Tmax:
 * throws otherwise).
 */
export function attention_decode(
  out: Float32Array,
  kcache: Float32Array,
  vcache: Float32Array,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  pos: Uint32Array,
  B: number,
  H: number,
  Tmax: number,
  hs: number,
): void {
  const scale = 1 / Math.sqrt(hs);
  const s = new Float64Array(Tmax);
  for (let b = 0; b < B; b++) {
    const P = pos[b];
    if (!(P < Tmax)) throw new Error(`attention_decode: pos[${b}] = ${P} is not below Tmax = ${Tmax}`);
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const cache = (j: number) => (bh * Tmax + j) * hs;
      for (let d = 0; d < hs; d++) {
        kcache[cache(P) + d] = k[bh * hs + d];
        vcache[cache(P) + d] = v[bh * hs + d];
      }
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j <= P; j++) {
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += q[bh * hs + d] * kcache[cache(j) + d];
        s[j] = dot * scale;
        max = Math.max(max, s[j]);
      }
      let sum = 0;
      for (let j = 0; j <= P; j++) {
        s[j] = Math.exp(s[j] - max);
        sum += s[j];
      }
      for (let d = 0; d < hs; d++) {
        let acc = 0;
        for (let j = 0; j <= P; j++) acc += (s[j] / sum) * vcache[cache(j) + d];
        out[bh * hs + d] = acc;
      }
    }
  }
}
