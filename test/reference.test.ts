/**
 * The CPU reference checked against itself: every backward against central finite differences of its
 * forward, at tiny sizes, with the loss L = sum(g ∘ forward(...)) for a fixed random g and the sums done
 * in f64. Also numerical stability, matmul options against explicit loops, and the reductions.
 * Runs in Node and in the browser (no node: imports).
 */
import { describe, expect, it } from 'vitest';
import type { Tolerance } from '../src/reference/compare.ts';
import {
  add,
  copy,
  cross_entropy_backward,
  cross_entropy_forward,
  gelu_backward,
  gelu_forward,
  layernorm_backward,
  layernorm_forward,
  matmul,
  mean,
  scale,
  softmax_backward,
  softmax_forward,
  sum,
  sumsq,
} from '../src/reference/kernels.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { expectClose, fdGrad } from './helpers.ts';

/** Finite differences against analytic gradients: loose enough for f32 outputs, tight enough to catch a wrong formula. */
const FD_TOL: Tolerance = { atol: 1e-3, rtol: 1e-2 };
const H = 1e-3;
const EXACT: Tolerance = { atol: 0, rtol: 0 };

/** sum_i g[i] * y[i], in f64. */
function dot(g: ArrayLike<number>, y: ArrayLike<number>): number {
  let acc = 0;
  for (let i = 0; i < y.length; i++) acc += g[i] * y[i];
  return acc;
}

describe('softmax', () => {
  it('backward matches finite differences (scale != 1)', () => {
    const rng = new Rng(1);
    const R = 3;
    const N = 5;
    const s = 1.7;
    const x = randomArray(rng, R * N);
    const g = randomArray(rng, R * N);
    const y = new Float32Array(R * N);
    const loss = (): number => {
      softmax_forward(y, x, R, N, { scale: s });
      return dot(g, y);
    };
    const fd = fdGrad(x, loss, H);
    softmax_forward(y, x, R, N, { scale: s });
    const dx = new Float32Array(R * N);
    softmax_backward(dx, g, y, R, N, { scale: s });
    expectClose(dx, fd, FD_TOL, 'softmax dx');
  });

  it('causal: masked entries give y = 0 and dx = 0, and the rest match finite differences', () => {
    const rng = new Rng(2);
    const Q = 3;
    const R = 2 * Q; // two blocks of Q query rows
    const N = 5; // row i sees keys j <= i + 2
    const s = 0.6;
    const x = randomArray(rng, R * N);
    const g = randomArray(rng, R * N);
    const y = new Float32Array(R * N);
    const opts = { scale: s, causal: true, Q };
    const loss = (): number => {
      softmax_forward(y, x, R, N, opts);
      return dot(g, y);
    };
    const fd = fdGrad(x, loss, H);
    softmax_forward(y, x, R, N, opts);
    const dx = new Float32Array(R * N);
    softmax_backward(dx, g, y, R, N, { scale: s });
    for (let r = 0; r < R; r++) {
      let rowSum = 0;
      for (let j = 0; j < N; j++) {
        const masked = j > (r % Q) + (N - Q);
        if (masked) {
          expect(Math.abs(y[r * N + j]), `y[${r},${j}]`).toBe(0); // +0 or -0
          expect(Math.abs(dx[r * N + j]), `dx[${r},${j}]`).toBe(0);
        } else {
          expect(y[r * N + j], `y[${r},${j}]`).toBeGreaterThan(0);
        }
        rowSum += y[r * N + j];
      }
      expect(rowSum).toBeCloseTo(1, 6);
    }
    expectClose(dx, fd, FD_TOL, 'causal softmax dx');
  });

  it('causal with the default Q = R is lower-triangular; N < Q throws', () => {
    const R = 4;
    const x = randomArray(new Rng(3), R * R);
    const y = new Float32Array(R * R);
    softmax_forward(y, x, R, R, { causal: true });
    for (let r = 0; r < R; r++) for (let j = 0; j < R; j++) expect(y[r * R + j] === 0, `y[${r},${j}]`).toBe(j > r);
    expect(y[0]).toBe(1);
    expect(() => softmax_forward(new Float32Array(12), new Float32Array(12), 4, 3, { causal: true })).toThrow();
    expect(() => softmax_forward(new Float32Array(12), new Float32Array(12), 4, 3, { causal: true, Q: 4 })).toThrow();
    expect(() => softmax_forward(new Float32Array(12), new Float32Array(12), 4, 3, { causal: true, Q: 2 })).not.toThrow();
  });

  it('is stable for huge logits and uniform for all-equal rows', () => {
    const N = 4;
    const x = Float32Array.from([1e4, 1e4, 1e4, 1e4, 1e4, -1e4, 0, 1e4, 3, 3, 3, 3, -7, -7, -7, -7]);
    const R = x.length / N;
    for (const s of [1, 0.125]) {
      const y = new Float32Array(R * N);
      softmax_forward(y, x, R, N, { scale: s });
      for (let r = 0; r < R; r++) {
        let rowSum = 0;
        for (let j = 0; j < N; j++) {
          expect(Number.isFinite(y[r * N + j])).toBe(true);
          rowSum += y[r * N + j];
        }
        expect(rowSum).toBeCloseTo(1, 6);
      }
      expectClose(y.subarray(0, 4), [0.25, 0.25, 0.25, 0.25], { atol: 1e-7, rtol: 0 }, 'row of 1e4');
      expectClose(y.subarray(4, 8), [0.5, 0, 0, 0.5], { atol: 1e-7, rtol: 0 }, 'row of +-1e4');
      expectClose(y.subarray(8, 16), new Float32Array(8).fill(0.25), { atol: 1e-7, rtol: 0 }, 'all-equal rows');
    }
  });
});

describe('cross-entropy', () => {
  it('forward matches the definition', () => {
    const rng = new Rng(4);
    const N = 3;
    const V = 5;
    const logits = randomArray(rng, N * V);
    const targets = Uint32Array.from([4, 0, 2]);
    const mask = Float32Array.from([1, 0.5, 2]);
    const losses = new Float32Array(N);
    cross_entropy_forward(losses, logits, targets, mask, N, V);
    const expected = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(logits[n * V + v]);
      expected[n] = mask[n] * -Math.log(Math.exp(logits[n * V + targets[n]]) / z);
    }
    expectClose(losses, expected, { atol: 1e-6, rtol: 1e-6 }, 'losses');
    cross_entropy_forward(losses, logits, targets, null, N, V);
    for (let n = 0; n < N; n++) expected[n] /= mask[n];
    expectClose(losses, expected, { atol: 1e-6, rtol: 1e-6 }, 'losses, mask null');
  });

  it('backward matches finite differences of scale * sum(losses), with a mask of zeros and non-unit weights', () => {
    const rng = new Rng(5);
    const N = 5;
    const V = 4;
    const s = 0.37;
    const logits = randomArray(rng, N * V, { std: 2 });
    const targets = Uint32Array.from([1, 3, 0, 2, 3]);
    for (const mask of [Float32Array.from([1, 0, 0.5, 2.5, 0]), null]) {
      const losses = new Float32Array(N);
      const loss = (): number => {
        cross_entropy_forward(losses, logits, targets, mask, N, V);
        let acc = 0;
        for (let n = 0; n < N; n++) acc += losses[n];
        return s * acc;
      };
      const fd = fdGrad(logits, loss, H);
      const dlogits = new Float32Array(N * V);
      cross_entropy_backward(dlogits, logits, targets, mask, N, V, s);
      expectClose(dlogits, fd, FD_TOL, `dlogits (mask ${mask === null ? 'null' : 'given'})`);
      if (mask !== null) {
        for (let n = 0; n < N; n++) {
          if (mask[n] === 0) for (let v = 0; v < V; v++) expect(Math.abs(dlogits[n * V + v])).toBe(0);
        }
      }
    }
  });

  it('is finite for large logits', () => {
    const V = 4;
    const logits = Float32Array.from([1e4, -1e4, 0, 5e3, 1e4, -1e4, 0, 5e3, 1e4, 1e4, 1e4, 1e4]);
    const targets = Uint32Array.from([0, 1, 2]);
    const N = 3;
    const losses = new Float32Array(N);
    cross_entropy_forward(losses, logits, targets, null, N, V);
    expectClose(losses, [0, 2e4, Math.log(4)], { atol: 1e-6, rtol: 1e-6 }, 'large-logit losses');
    const dlogits = new Float32Array(N * V);
    cross_entropy_backward(dlogits, logits, targets, null, N, V, 1);
    const expected = [0, 0, 0, 0, 1, -1, 0, 0, 0.25, 0.25, -0.75, 0.25];
    expectClose(dlogits, expected, { atol: 1e-6, rtol: 0 }, 'large-logit dlogits');
  });
});

describe('layernorm', () => {
  it('forward stores mean and rstd, output is normalised', () => {
    const rng = new Rng(6);
    const N = 3;
    const C = 5;
    const eps = 1e-5;
    const x = randomArray(rng, N * C, { mean: 0.7, std: 2 });
    const weight = new Float32Array(C).fill(1);
    const bias = new Float32Array(C);
    const y = new Float32Array(N * C);
    const mu = new Float32Array(N);
    const rstd = new Float32Array(N);
    layernorm_forward(y, mu, rstd, x, weight, bias, N, C, eps);
    for (let n = 0; n < N; n++) {
      let m = 0;
      for (let c = 0; c < C; c++) m += x[n * C + c];
      m /= C;
      let v = 0;
      for (let c = 0; c < C; c++) v += (x[n * C + c] - m) ** 2;
      v /= C;
      expect(mu[n]).toBeCloseTo(m, 6);
      expect(rstd[n] / (1 / Math.sqrt(v + eps))).toBeCloseTo(1, 6);
      let ym = 0;
      let yv = 0;
      for (let c = 0; c < C; c++) ym += y[n * C + c] / C;
      for (let c = 0; c < C; c++) yv += y[n * C + c] ** 2 / C;
      expect(ym).toBeCloseTo(0, 5);
      expect(yv).toBeCloseTo(v / (v + eps), 5);
    }
  });

  it('backward: dx, dweight, dbias match finite differences; dweight, dbias are overwritten', () => {
    const rng = new Rng(7);
    const N = 3;
    const C = 5;
    const eps = 1e-5;
    const x = randomArray(rng, N * C, { mean: 0.5 });
    const weight = randomArray(rng, C, { mean: 1, std: 0.5 });
    const bias = randomArray(rng, C, { std: 0.5 });
    const g = randomArray(rng, N * C);
    const y = new Float32Array(N * C);
    const mu = new Float32Array(N);
    const rstd = new Float32Array(N);
    const loss = (): number => {
      layernorm_forward(y, mu, rstd, x, weight, bias, N, C, eps);
      return dot(g, y);
    };
    const fdx = fdGrad(x, loss, H);
    const fdw = fdGrad(weight, loss, H);
    const fdb = fdGrad(bias, loss, H);
    layernorm_forward(y, mu, rstd, x, weight, bias, N, C, eps);
    const dx = new Float32Array(N * C);
    const dweight = new Float32Array(C).fill(123); // stale values must not leak into the result
    const dbias = new Float32Array(C).fill(-55);
    layernorm_backward(dx, dweight, dbias, g, x, weight, mu, rstd, N, C);
    expectClose(dx, fdx, FD_TOL, 'layernorm dx');
    expectClose(dweight, fdw, FD_TOL, 'layernorm dweight');
    expectClose(dbias, fdb, FD_TOL, 'layernorm dbias');
  });
});

describe('gelu', () => {
  it('forward has the known shape', () => {
    const x = Float32Array.from([0, 10, -10, 1]);
    const y = new Float32Array(4);
    gelu_forward(y, x, 4);
    expectClose(y, [0, 10, 0, 0.8411920071], { atol: 1e-6, rtol: 1e-6 }, 'gelu');
  });

  it('backward matches finite differences', () => {
    const rng = new Rng(8);
    const N = 24;
    const x = randomArray(rng, N, { std: 1.5 });
    x.set([0, -3, 3, 0.5], 0);
    const g = randomArray(rng, N);
    const y = new Float32Array(N);
    const loss = (): number => {
      gelu_forward(y, x, N);
      return dot(g, y);
    };
    const fd = fdGrad(x, loss, H);
    const dx = new Float32Array(N);
    gelu_backward(dx, g, x, N);
    expectClose(dx, fd, FD_TOL, 'gelu dx');
  });
});

describe('matmul', () => {
  /** Explicit-loop c = (accumulate ? c0 : 0) + op(a)·op(b) + bias, in f64. */
  function naive(
    c0: Float32Array,
    a: Float32Array,
    b: Float32Array,
    bias: Float32Array | null,
    B: number,
    M: number,
    N: number,
    K: number,
    o: { transA: boolean; transB: boolean; accumulate: boolean; batchB: boolean },
  ): Float64Array {
    const out = new Float64Array(B * M * N);
    for (let bt = 0; bt < B; bt++) {
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let acc = (o.accumulate ? c0[(bt * M + m) * N + n] : 0) + (bias === null ? 0 : bias[n]);
          for (let k = 0; k < K; k++) {
            const av = o.transA ? a[(bt * K + k) * M + m] : a[(bt * M + m) * K + k];
            const bb = o.batchB ? bt : 0;
            const bv = o.transB ? b[(bb * N + n) * K + k] : b[(bb * K + k) * N + n];
            acc += av * bv;
          }
          out[(bt * M + m) * N + n] = acc;
        }
      }
    }
    return out;
  }

  it('bias and accumulate semantics, every combination of options, on small integers (exact)', () => {
    const rng = new Rng(9);
    const B = 2;
    const M = 2;
    const N = 3;
    const K = 2;
    const ints = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.int(7) - 3);
    const a = ints(B * M * K);
    const bBatched = ints(B * K * N);
    const bias = ints(N);
    const c0 = ints(B * M * N);
    let combos = 0;
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const batchB of [false, true]) {
          for (const accumulate of [false, true]) {
            for (const withBias of [false, true]) {
              const o = { transA, transB, accumulate, batchB };
              const b = batchB ? bBatched : bBatched.subarray(0, K * N);
              const bi = withBias ? bias : null;
              const c = accumulate ? c0.slice() : new Float32Array(B * M * N).fill(Number.NaN);
              matmul(c, a, b, bi, B, M, N, K, o);
              expectClose(c, naive(c0, a, b, bi, B, M, N, K, o), EXACT, `matmul ${JSON.stringify(o)} bias ${withBias}`);
              combos++;
            }
          }
        }
      }
    }
    expect(combos).toBe(32);
    // The defaults: no transposes, no accumulate, b shared across batches.
    const c = new Float32Array(B * M * N);
    matmul(c, a, bBatched.subarray(0, K * N), null, B, M, N, K);
    const o = { transA: false, transB: false, accumulate: false, batchB: false };
    expectClose(c, naive(c0, a, bBatched, null, B, M, N, K, o), EXACT, 'matmul defaults');
  });

  for (const batchB of [true, false]) {
    it(`dA = G·Bᵀ (transB) and dB = Aᵀ·G (transA) match finite differences, B=2, batchB ${batchB}`, () => {
      const rng = new Rng(batchB ? 10 : 11);
      const B = 2;
      const M = 3;
      const N = 4;
      const K = 5;
      const a = randomArray(rng, B * M * K);
      const bm = randomArray(rng, (batchB ? B : 1) * K * N);
      const G = randomArray(rng, B * M * N);
      const c = new Float32Array(B * M * N);
      const loss = (): number => {
        matmul(c, a, bm, null, B, M, N, K, { batchB });
        return dot(G, c);
      };
      // L is linear in each single entry, so a larger step costs no truncation error and divides the f32 noise.
      const fdA = fdGrad(a, loss, 1e-2);
      const fdB = fdGrad(bm, loss, 1e-2);

      // dA [B,M,K] = G [B,M,N] · Bᵀ: b is [K,N] per batch (or shared), read transposed as [N,K].
      const dA = new Float32Array(B * M * K);
      matmul(dA, G, bm, null, B, M, K, N, { transB: true, batchB });
      expectClose(dA, fdA, FD_TOL, 'dA');

      const dB = new Float32Array(bm.length);
      if (batchB) {
        // dB [B,K,N] = Aᵀ · G per batch: a is [B,M,K], read transposed as [B,K,M].
        matmul(dB, a, G, null, B, K, N, M, { transA: true, batchB: true });
      } else {
        // Shared B: dB [K,N] = sum over batches of A_bᵀ · G_b, one accumulating matmul per batch.
        for (let bt = 0; bt < B; bt++) {
          const ab = a.subarray(bt * M * K, (bt + 1) * M * K);
          const gb = G.subarray(bt * M * N, (bt + 1) * M * N);
          matmul(dB, ab, gb, null, 1, K, N, M, { transA: true, accumulate: bt > 0 });
        }
        // ... which equals one matmul with the batches folded into the contraction: A as [B*M, K]ᵀ.
        const folded = new Float32Array(bm.length);
        matmul(folded, a, G, null, 1, K, N, B * M, { transA: true });
        expectClose(folded, dB, { atol: 1e-6, rtol: 1e-6 }, 'dB folded');
      }
      expectClose(dB, fdB, FD_TOL, 'dB');
    });
  }
});

describe('elementwise and reductions', () => {
  it('add, scale, copy', () => {
    const rng = new Rng(12);
    const N = 37;
    const a = randomArray(rng, N);
    const b = randomArray(rng, N);
    const out = new Float32Array(N);
    const sums = Float32Array.from(a, (v, i) => v + b[i]);
    const scaled = Float32Array.from(a, (v) => -2.5 * v);
    add(out, a, b, N);
    expectClose(out, sums, EXACT, 'add');
    scale(out, a, -2.5, N);
    expectClose(out, scaled, EXACT, 'scale');
    copy(out, b, N);
    expectClose(out, b, EXACT, 'copy');
  });

  it('sum, mean, sumsq match a simple f64 loop on values with outliers', () => {
    const rng = new Rng(13);
    const N = 4099;
    const x = randomArray(rng, N, { mean: 0.3, std: 2, outlierScale: 1000 });
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < N; i++) {
      s += x[i];
      s2 += x[i] * x[i];
    }
    const out = new Float32Array(1);
    const tol = { atol: 1e-6, rtol: 1e-6 };
    sum(out, x, N);
    expectClose(out, [s], tol, 'sum');
    mean(out, x, N);
    expectClose(out, [s / N], tol, 'mean');
    sumsq(out, x, N);
    expectClose(out, [s2], tol, 'sumsq');
  });
});
