/**
 * Tasks for in-context weight prediction (src/tasks/regression.ts): sampling, pools, evaluation
 * sets, metrics and the Bayes-optimal baseline. CPU only; expected values come from explicit loops.
 */
import { describe, expect, it } from 'vitest';
import { philox4x32_10 } from '../src/reference/philox.ts';
import { Rng } from '../src/reference/random.ts';
import {
  balancedDomains,
  balancedMixture,
  choleskyFactor,
  choleskySolve,
  exampleErrors,
  findOverlaps,
  headTailDomains,
  imbalancedMixture,
  makeEvalSet,
  makePool,
  type Mixture,
  mixtureProbabilities,
  momentPrediction,
  makeValidationSet,
  optimalRidgePrediction,
  overlaps,
  passRates,
  randomBasis,
  poolBatch,
  type RegressionBatch,
  type RegressionTaskConfig,
  regressionMetrics,
  StreamRng,
  sampleBatch,
  TaskConfigError,
  validateTaskConfig,
} from '../src/tasks/regression.ts';

const headTail = (d: number, n: number, noise: number): RegressionTaskConfig => ({ d, n, noise, domains: headTailDomains(d) });

/** Mean over examples of ||pred - w||^2, by explicit loops. */
function mseOf(pred: ArrayLike<number>, w: ArrayLike<number>, B: number, d: number): number {
  let s = 0;
  for (let b = 0; b < B; b++) for (let j = 0; j < d; j++) s += (pred[b * d + j] - w[b * d + j]) ** 2;
  return s / B;
}

describe('sampleBatch', () => {
  it('is deterministic for a seed and differs between seeds; shapes follow B, n, d', () => {
    const cfg = headTail(8, 16, 0.1);
    const a = sampleBatch(new Rng(7), cfg, balancedMixture, 5);
    const b = sampleBatch(new Rng(7), cfg, balancedMixture, 5);
    const c = sampleBatch(new Rng(8), cfg, balancedMixture, 5);
    for (const key of ['X', 'y', 'w', 'domains'] as const) expect(Array.from(b[key])).toEqual(Array.from(a[key]));
    expect(Array.from(c.X)).not.toEqual(Array.from(a.X));
    expect(a.X).toBeInstanceOf(Float32Array);
    expect(a.domains).toBeInstanceOf(Uint32Array);
    expect([a.X.length, a.y.length, a.w.length, a.domains.length]).toEqual([5 * 16 * 8, 5 * 16, 5 * 8, 5]);
    const empty = sampleBatch(new Rng(7), cfg, balancedMixture, 0);
    expect([empty.X.length, empty.y.length, empty.w.length, empty.domains.length]).toEqual([0, 0, 0, 0]);
  });

  it('the empirical covariance of w in each domain matches its eigenvalues', () => {
    // N = 20000 draws per domain. Tolerances: 5 standard errors, i.e. var: 5 λ sqrt(2/N) (5% of λ),
    // covariance (i != j): 5 sqrt(λ_i λ_j / N), mean: 5 sqrt(λ / N). Zero eigenvalues: exactly 0.
    const d = 6;
    const N = 20000;
    const cfg: RegressionTaskConfig = {
      d,
      n: 1,
      noise: 0,
      domains: [...headTailDomains(d, 2), { name: 'spectrum', eigenvalues: [2, 1, 0.5, 0.05, 0, 3] }],
    };
    for (const [k, dom] of cfg.domains.entries()) {
      const batch = sampleBatch(new Rng(100 + k), cfg, { [dom.name]: 1 }, N);
      expect(batch.domains.every((c) => c === k)).toBe(true);
      const lam = dom.eigenvalues;
      for (let i = 0; i < d; i++) {
        let mean = 0;
        for (let b = 0; b < N; b++) mean += batch.w[b * d + i] / N;
        expect(Math.abs(mean), `${dom.name} mean[${i}]`).toBeLessThanOrEqual(5 * Math.sqrt(lam[i] / N));
        for (let j = 0; j <= i; j++) {
          let cov = 0;
          for (let b = 0; b < N; b++) cov += (batch.w[b * d + i] * batch.w[b * d + j]) / N;
          const label = `${dom.name} cov[${i}][${j}]`;
          if (lam[i] === 0 || lam[j] === 0) expect(cov, label).toBe(0);
          else if (i === j) expect(Math.abs(cov - lam[i]), label).toBeLessThanOrEqual(5 * lam[i] * Math.sqrt(2 / N));
          else expect(Math.abs(cov), label).toBeLessThanOrEqual(5 * Math.sqrt((lam[i] * lam[j]) / N));
        }
      }
    }
  });

  it('a random basis is orthogonal and seeded; rotated w has covariance U diag(λ) Uᵀ', () => {
    const d = 5;
    const U = randomBasis(d, 7);
    expect(randomBasis(d, 7)).toEqual(U);
    expect(randomBasis(d, 8)).not.toEqual(U);
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += U[i * d + a] * U[i * d + b];
        expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-12);
      }
    // Not the standard basis: the directions are mixed across coordinates.
    expect(Math.max(...Array.from(U, Math.abs))).toBeLessThan(0.999);
    const lam = [2, 1, 0.5, 0, 0];
    const cfg: RegressionTaskConfig = { d, n: 1, noise: 0, domains: [{ name: 's', eigenvalues: lam }], basis: U };
    const N = 20000;
    const batch = sampleBatch(new Rng(5), cfg, { s: 1 }, N);
    for (let i = 0; i < d; i++)
      for (let j = 0; j <= i; j++) {
        let cov = 0;
        for (let b = 0; b < N; b++) cov += (batch.w[b * d + i] * batch.w[b * d + j]) / N;
        let want = 0;
        for (let k = 0; k < d; k++) want += U[i * d + k] * lam[k] * U[j * d + k];
        // 5 standard errors of a covariance estimate, bounded by the largest eigenvalue.
        expect(Math.abs(cov - want), `cov[${i}][${j}]`).toBeLessThanOrEqual(5 * 2 * Math.sqrt(2 / N));
      }
    // Per-direction errors are measured along the basis: an error of 1 along direction 2 shows there.
    const pred = Float32Array.from(batch.w.subarray(0, d));
    for (let i = 0; i < d; i++) pred[i] += U[i * d + 2];
    const one = {
      X: batch.X.subarray(0, d),
      y: batch.y.subarray(0, 1),
      w: batch.w.subarray(0, d),
      domains: batch.domains.subarray(0, 1),
    };
    const m = regressionMetrics(pred, one, cfg, 0.5);
    expect(m.perDirection[2]).toBeCloseTo(1, 5);
    expect(m.perDirection.reduce((a, b) => a + b, 0)).toBeCloseTo(m.mse, 5);
    expect(m.passRate).toBe(0); // error 1 is not below tau = 0.5
    expect(m.perDomainPass).toEqual({ s: 0 });
    expect(() => validateTaskConfig({ ...cfg, basis: new Float64Array(d * d).fill(0.5) })).toThrow(/basis must be orthogonal/);
  });

  it('pass rates: the share of Gaussian samples around pred whose error is below tau', () => {
    const d = 4;
    const cfg: RegressionTaskConfig = { d, n: 2, noise: 0, domains: balancedDomains(d) };
    const batch = sampleBatch(new Rng(9), cfg, { all: 1 }, 3);
    // pred = w exactly: the sampled error is sigma² times a chi-square with d dof.
    const exact = Float32Array.from(batch.w);
    const far = Float32Array.from(batch.w, (v) => v + 10);
    const many = 4000;
    const sure = passRates(exact, batch, 0.1, 100, many, new Rng(1));
    expect(Array.from(sure)).toEqual([1, 1, 1]);
    expect(Array.from(passRates(far, batch, 0.1, 1, 16, new Rng(1)))).toEqual([0, 0, 0]);
    // P(chi2_4 < 4) = 1 - e^{-2}(1 + 2) = 0.594: tau = 4 sigma² with sigma = 1.
    const half = passRates(exact, batch, 1, 4, many, new Rng(2));
    for (const r of half) expect(Math.abs(r - 0.594)).toBeLessThan(5 * Math.sqrt((0.594 * 0.406) / many));
    expect(passRates(exact, batch, 1, 4, 8, new Rng(3))).toEqual(passRates(exact, batch, 1, 4, 8, new Rng(3)));
  });

  it('y = Xw exactly (after one f32 rounding) when noise = 0; the residual has std noise otherwise', () => {
    const { d, n } = { d: 8, n: 16 };
    const B = 64;
    const clean = sampleBatch(new Rng(3), headTail(d, n, 0), balancedMixture, B);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += clean.X[(b * n + i) * d + j] * clean.w[b * d + j];
        expect(clean.y[b * n + i]).toBe(Math.fround(s));
      }
    // The same seed with noise: the same X and w (the noise draws are taken either way).
    const noisy = sampleBatch(new Rng(3), headTail(d, n, 0.5), balancedMixture, B);
    expect(Array.from(noisy.X)).toEqual(Array.from(clean.X));
    expect(Array.from(noisy.w)).toEqual(Array.from(clean.w));
    let ss = 0;
    for (let t = 0; t < B * n; t++) ss += (noisy.y[t] - clean.y[t]) ** 2;
    // 1024 residuals: the sample std is within 10% of 0.5 (about 4.5 standard errors).
    expect(Math.abs(Math.sqrt(ss / (B * n)) - 0.5)).toBeLessThan(0.05);
  });

  it('domain frequencies follow the imbalanced mixture (chi-square, 1 dof, p > 0.001)', () => {
    const N = 20000;
    const cfg = headTail(8, 1, 0);
    const batch = sampleBatch(new Rng(11), cfg, imbalancedMixture, N);
    const counts = [0, 0];
    for (const c of batch.domains) counts[c]++;
    const expected = [0.95 * N, 0.05 * N];
    let chi2 = 0;
    for (let k = 0; k < 2; k++) chi2 += (counts[k] - expected[k]) ** 2 / expected[k];
    expect(chi2).toBeLessThan(10.83);
    // Each domain's w lives on its own directions.
    let offSupport = 0;
    for (let b = 0; b < N; b++) {
      const head = batch.domains[b] === 0;
      for (let j = 0; j < 8; j++) if (j < 4 !== head && batch.w[b * 8 + j] !== 0) offSupport++;
    }
    expect(offSupport).toBe(0);
  });

  it('mixture weights are normalised; a zero weight or a left-out domain is never drawn', () => {
    const cfg: RegressionTaskConfig = {
      d: 2,
      n: 1,
      noise: 0,
      domains: [
        { name: 'a', eigenvalues: [1, 1] },
        { name: 'b', eigenvalues: [1, 0] },
        { name: 'c', eigenvalues: [0, 1] },
        { name: 'e', eigenvalues: [1, 1] },
      ],
    };
    const mixture: Mixture = { a: 2, b: 1, c: 0 };
    expect(Array.from(mixtureProbabilities(cfg, mixture))).toEqual([2 / 3, 1 / 3, 0, 0]);
    const N = 9000;
    const batch = sampleBatch(new Rng(5), cfg, mixture, N);
    const counts = [0, 0, 0, 0];
    for (const c of batch.domains) counts[c]++;
    expect(counts[2] + counts[3]).toBe(0);
    // Binomial std of the 'a' count: sqrt(N 2/3 1/3) ≈ 44.7; allow 5 of them.
    expect(Math.abs(counts[0] - (2 / 3) * N)).toBeLessThan(5 * 44.7);
  });
});

describe('pools and evaluation sets', () => {
  const cfg = headTail(8, 16, 0.1);

  it('pools are deterministic, ids are stable across pool sizes, and poolBatch returns exactly those examples', () => {
    const { d, n } = cfg;
    const pool = makePool(4, cfg, imbalancedMixture, 120);
    const again = makePool(4, cfg, imbalancedMixture, 120);
    const small = makePool(4, cfg, imbalancedMixture, 50);
    expect(pool.size).toBe(120);
    expect(pool.kind).toBe('pool');
    expect(Array.from(again.X)).toEqual(Array.from(pool.X));
    expect(Array.from(small.X)).toEqual(Array.from(pool.X.subarray(0, 50 * n * d)));
    expect(Array.from(small.w)).toEqual(Array.from(pool.w.subarray(0, 50 * d)));
    expect(Array.from(small.domains)).toEqual(Array.from(pool.domains.subarray(0, 50)));

    const ids = [7, 2, 119, 7, 0];
    const sub = poolBatch(pool, ids);
    expect(sub.domains.length).toBe(ids.length);
    for (const [b, id] of ids.entries()) {
      expect(sub.domains[b]).toBe(pool.domains[id]);
      for (let j = 0; j < d; j++) expect(sub.w[b * d + j]).toBe(pool.w[id * d + j]);
      for (let i = 0; i < n; i++) {
        expect(sub.y[b * n + i]).toBe(pool.y[id * n + i]);
        for (let j = 0; j < d; j++) expect(sub.X[(b * n + i) * d + j]).toBe(pool.X[(id * n + i) * d + j]);
      }
    }
    expect(() => poolBatch(pool, [3, 120])).toThrow(/ids\[1\].*\[0, 119\].*120/);
    expect(() => poolBatch(pool, [1.5])).toThrow(/ids\[0\]/);
  });

  it('sets are cached by everything that decides them: a repeat is the same set, any other argument a fresh draw', () => {
    const draw = (kind: string, seed: number, c: RegressionTaskConfig, mix: Mixture, size: number) =>
      sampleBatch(new StreamRng(kind, seed), c, mix, size);
    const pool = makePool(5, cfg, imbalancedMixture, 40);
    expect(makePool(5, cfg, imbalancedMixture, 40)).toBe(pool);
    // A cached set holds exactly what an uncached draw gives.
    expect(Array.from(pool.X)).toEqual(Array.from(draw('pool', 5, cfg, imbalancedMixture, 40).X));
    // Every argument is part of the key: kind, seed, size, mixture, config (noise, spectra, basis).
    const rotated = { ...cfg, basis: randomBasis(cfg.d, 3) };
    const louder = { ...cfg, noise: 0.2 };
    const wider = { ...cfg, domains: cfg.domains.map((dom) => ({ ...dom, eigenvalues: dom.eigenvalues.map((e) => 2 * e) })) };
    const others = [
      [makeEvalSet(5, cfg, imbalancedMixture, 40), draw('eval', 5, cfg, imbalancedMixture, 40)],
      [makeValidationSet(5, cfg, imbalancedMixture, 40), draw('val', 5, cfg, imbalancedMixture, 40)],
      [makePool(6, cfg, imbalancedMixture, 40), draw('pool', 6, cfg, imbalancedMixture, 40)],
      [makePool(5, cfg, balancedMixture, 40), draw('pool', 5, cfg, balancedMixture, 40)],
      [makePool(5, rotated, imbalancedMixture, 40), draw('pool', 5, rotated, imbalancedMixture, 40)],
      [makePool(5, louder, imbalancedMixture, 40), draw('pool', 5, louder, imbalancedMixture, 40)],
      [makePool(5, wider, imbalancedMixture, 40), draw('pool', 5, wider, imbalancedMixture, 40)],
    ] as const;
    for (const [set, fresh] of others) {
      expect(set).not.toBe(pool);
      expect(Array.from(set.X)).toEqual(Array.from(fresh.X));
      expect(Array.from(set.y)).toEqual(Array.from(fresh.y));
      expect(Array.from(set.w)).toEqual(Array.from(fresh.w));
    }
    expect(makePool(5, cfg, imbalancedMixture, 41).size).toBe(41);
  });

  it('StreamRng is Philox4x32-10 keyed by (seed, FNV-1a(tag)), and the pool and eval keys differ', () => {
    const fnv = (s: string) => {
      let h = 0x811c9dc5;
      for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
      return h;
    };
    expect(fnv('pool')).not.toBe(fnv('eval'));
    for (const [tag, seed] of [
      ['pool', 5],
      ['eval', 5],
      ['pool', -1],
    ] as const) {
      const rng = new StreamRng(tag, seed);
      for (let c = 0; c < 3; c++) {
        const words = philox4x32_10([c, 0, 0, 0], [seed >>> 0, fnv(tag)]);
        for (const word of words) expect(rng.next()).toBe(word / 2 ** 32);
      }
    }
  });

  it('evaluation sets are disjoint from every pool, for several seeds', () => {
    const seeds = [0, 1, 2, 3, 42];
    const pools = seeds.map((s) => makePool(s, cfg, balancedMixture, 200));
    for (const s of seeds) {
      const evalSet = makeEvalSet(s, cfg, balancedMixture, 100);
      expect(evalSet.kind).toBe('eval');
      for (const pool of pools) expect(overlaps(pool, evalSet), `eval ${s} vs pool ${pool.seed}`).toBe(false);
      // The validation split is disjoint from the test set and from every pool.
      const valSet = makeValidationSet(s, cfg, balancedMixture, 100);
      expect(valSet.kind).toBe('val');
      expect(overlaps(valSet, evalSet)).toBe(false);
      for (const pool of pools) expect(overlaps(pool, valSet)).toBe(false);
      // No shared w at all either (not only whole examples).
      const poolW = new Set(pools.flatMap((p) => Array.from(p.w).filter((v) => v !== 0)));
      expect(Array.from(evalSet.w).some((v) => v !== 0 && poolW.has(v))).toBe(false);
    }
    // Distinct seeds give distinct pools.
    for (let i = 0; i < pools.length; i++) for (let j = 0; j < i; j++) expect(overlaps(pools[i], pools[j])).toBe(false);
  });

  it('overlaps finds shared examples exactly', () => {
    const pool = makePool(9, cfg, balancedMixture, 60);
    const sub = poolBatch(pool, [5, 40, 5]);
    expect(overlaps(pool, sub)).toBe(true);
    expect(findOverlaps(pool, sub)).toEqual([
      [5, 0],
      [40, 1],
      [5, 2],
    ]);
    // Same w, one X entry changed: not the same example.
    const tweaked: RegressionBatch = { ...sub, X: Float32Array.from(sub.X) };
    tweaked.X[3] += 1;
    expect(findOverlaps(pool, tweaked)).toEqual([
      [40, 1],
      [5, 2],
    ]);
  });
});

describe('metrics', () => {
  // A tiny batch by hand: d = 2, n = 1, three examples in domains a, c, a (b has none).
  const cfg: RegressionTaskConfig = {
    d: 2,
    n: 1,
    noise: 0,
    domains: [
      { name: 'a', eigenvalues: [1, 1] },
      { name: 'b', eigenvalues: [1, 1] },
      { name: 'c', eigenvalues: [1, 1] },
    ],
  };
  const batch: RegressionBatch = {
    X: Float32Array.from([1, 0, 0, 1, 1, 1]),
    y: Float32Array.from([1, -2, 0.5]),
    w: Float32Array.from([1, 2, -1, -2, 0.5, 0]),
    domains: Uint32Array.from([0, 2, 0]),
  };
  const pred = [0, 2, 1, -2, 0.5, 3];

  it('mse, per-domain, per-direction and per-example errors match explicit loops', () => {
    const B = 3;
    const d = 2;
    const perExample: number[] = [];
    for (let b = 0; b < B; b++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (pred[b * d + j] - batch.w[b * d + j]) ** 2;
      perExample.push(s);
    }
    const perDirection = [0, 0];
    for (let b = 0; b < B; b++) for (let j = 0; j < d; j++) perDirection[j] += (pred[b * d + j] - batch.w[b * d + j]) ** 2 / B;

    expect(Array.from(exampleErrors(pred, batch))).toEqual(perExample);
    const m = regressionMetrics(pred, batch, cfg);
    expect(m.count).toBe(3);
    expect(m.mse).toBeCloseTo(perExample.reduce((a, b) => a + b, 0) / B, 12);
    expect(m.mse).toBeCloseTo(mseOf(pred, batch.w, B, d), 12);
    expect(m.perDirection.length).toBe(d);
    for (let j = 0; j < d; j++) expect(m.perDirection[j]).toBeCloseTo(perDirection[j], 12);
    expect(Object.keys(m.perDomain).sort()).toEqual(['a', 'c']);
    expect(m.perDomain.a).toBeCloseTo((perExample[0] + perExample[2]) / 2, 12);
    expect(m.perDomain.c).toBeCloseTo(perExample[1], 12);
    expect(m.perDomainCount).toEqual({ a: 2, c: 1 });
    for (const v of [m.mse, ...m.perDirection, ...Object.values(m.perDomain)]) expect(Number.isFinite(v)).toBe(true);
  });

  it('the moment estimator is (1/n) Xᵀy', () => {
    const est = momentPrediction(batch, cfg);
    const want: number[] = [];
    for (let b = 0; b < 3; b++) for (let j = 0; j < 2; j++) want.push(batch.y[b] * batch.X[b * 2 + j] + 0); // + 0: the sum starts at +0, so no -0
    expect(Array.from(est)).toEqual(want);
  });

  it('rejects a pred of the wrong length and an empty batch', () => {
    expect(() => regressionMetrics([1, 2], batch, cfg)).toThrow(/pred.*6.*2/);
    expect(() => exampleErrors([1], batch)).toThrow(/pred/);
    const empty = sampleBatch(new Rng(1), cfg, { a: 1 }, 0);
    expect(() => regressionMetrics([], empty, cfg)).toThrow(/empty/);
  });
});

describe('Cholesky and the Bayes-optimal ridge prediction', () => {
  it('the Cholesky solver solves a hand-checkable SPD system', () => {
    const m = 3;
    const A = [4, 2, 0.4, 2, 5, 1, 0.4, 1, 3];
    const b = [1, -2, 3];
    const L = Float64Array.from(A);
    expect(choleskyFactor(L, m)).toBe(true);
    const x = choleskySolve(L, Float64Array.from(b), m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += A[i * m + j] * x[j];
      expect(s).toBeCloseTo(b[i], 12);
    }
    expect(choleskyFactor(Float64Array.from([1, 1, 1, 1]), 2)).toBe(false);
  });

  it('beats the moment estimator (1/n) Xᵀy and is 0 off the support', () => {
    const cfg = headTail(8, 16, 0.5);
    const B = 400;
    const batch = sampleBatch(new Rng(21), cfg, balancedMixture, B);
    const ridge = optimalRidgePrediction(batch, cfg);
    const moment = momentPrediction(batch, cfg);
    const mRidge = regressionMetrics(ridge, batch, cfg).mse;
    const mMoment = regressionMetrics(moment, batch, cfg).mse;
    expect(mRidge).toBeLessThan(0.5 * mMoment);
    for (let b = 0; b < B; b++)
      for (let j = 0; j < 8; j++) if (cfg.domains[batch.domains[b]].eigenvalues[j] === 0) expect(ridge[b * 8 + j]).toBe(0);
  });

  it('recovers w exactly (1e-6) when noise = 0 and n >= d with full-rank X', () => {
    for (const [d, n] of [
      [8, 32],
      [8, 16],
      [16, 48],
    ]) {
      const cfg: RegressionTaskConfig = { d, n, noise: 0, domains: balancedDomains(d) };
      const batch = sampleBatch(new Rng(d * 100 + n), cfg, { all: 1 }, 50);
      const ridge = optimalRidgePrediction(batch, cfg);
      for (let t = 0; t < ridge.length; t++) expect(Math.abs(ridge[t] - batch.w[t]), `d ${d} n ${n} [${t}]`).toBeLessThan(1e-6);
    }
  });

  it('n = d, noise = 0: the estimate solves the stored system exactly (w itself only up to cond(X) x f32 rounding)', () => {
    // y is stored in f32 (relative rounding 6e-8); a square Gaussian X amplifies that by its condition
    // number, so |ŵ - w| reaches ~5e-4 at d = 8. What is exact is X ŵ = y for the stored y.
    const d = 8;
    const cfg: RegressionTaskConfig = { d, n: d, noise: 0, domains: balancedDomains(d) };
    const batch = sampleBatch(new Rng(808), cfg, { all: 1 }, 50);
    const est = optimalRidgePrediction(batch, cfg);
    for (let b = 0; b < 50; b++)
      for (let i = 0; i < d; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += batch.X[(b * d + i) * d + j] * est[b * d + j];
        expect(Math.abs(s - batch.y[b * d + i])).toBeLessThan(1e-9);
      }
    for (let t = 0; t < est.length; t++) expect(Math.abs(est[t] - batch.w[t])).toBeLessThan(1e-2);
  });

  it('primal and dual forms agree; with n < k and noise 0 the dual interpolates the prompt', () => {
    const d = 8;
    const noisy = headTail(d, 6, 0.3);
    const batch = sampleBatch(new Rng(31), noisy, balancedMixture, 40);
    const p = optimalRidgePrediction(batch, noisy, { form: 'primal' });
    const q = optimalRidgePrediction(batch, noisy, { form: 'dual' });
    for (let t = 0; t < p.length; t++) expect(Math.abs(p[t] - q[t])).toBeLessThan(1e-9 * Math.max(1, Math.abs(p[t])));

    const n = 3;
    const cfg: RegressionTaskConfig = { d, n, noise: 0, domains: balancedDomains(d) };
    const few = sampleBatch(new Rng(32), cfg, { all: 1 }, 20);
    const est = optimalRidgePrediction(few, cfg);
    for (let b = 0; b < 20; b++)
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += few.X[(b * n + i) * d + j] * est[b * d + j];
        expect(Math.abs(s - few.y[b * n + i])).toBeLessThan(1e-9);
      }
  });

  it('noise 0 with a rank-deficient prompt: the jitter gives a finite estimate that interpolates', () => {
    // d = 3, n = 4, every x_i in the plane x_3 = x_1: X_Sᵀ X_S is singular.
    const cfg: RegressionTaskConfig = { d: 3, n: 4, noise: 0, domains: balancedDomains(3) };
    const rows = [
      [1, 2, 1],
      [-1, 0.5, -1],
      [2, -1, 2],
      [0.5, 0.5, 0.5],
    ];
    const w = [0.3, -0.7, 1.1];
    const batch: RegressionBatch = {
      X: Float32Array.from(rows.flat()),
      y: Float32Array.from(rows.map((r) => r[0] * w[0] + r[1] * w[1] + r[2] * w[2])),
      w: Float32Array.from(w),
      domains: Uint32Array.from([0]),
    };
    const est = optimalRidgePrediction(batch, cfg);
    expect(Array.from(est).every(Number.isFinite)).toBe(true);
    for (let i = 0; i < 4; i++) {
      const s = rows[i][0] * est[0] + rows[i][1] * est[1] + rows[i][2] * est[2];
      expect(Math.abs(s - batch.y[i])).toBeLessThan(1e-5);
    }
    // Only w_1 + w_3 is identified: the minimum-norm split is equal halves, w_2 exactly.
    expect(est[0]).toBeCloseTo(est[2], 5);
    expect(est[0] + est[2]).toBeCloseTo(w[0] + w[2], 5);
    expect(est[1]).toBeCloseTo(w[1], 5);
  });
});

describe('validation', () => {
  const ok = (): RegressionTaskConfig => ({ d: 4, n: 8, noise: 0.1, domains: headTailDomains(4, 2) });
  const fieldOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(TaskConfigError);
      return (e as TaskConfigError).field;
    }
    throw new Error('expected a TaskConfigError');
  };

  it('errors name the field and the allowed values', () => {
    expect(() => validateTaskConfig(ok())).not.toThrow();
    expect(() => validateTaskConfig({ ...ok(), d: 0 })).toThrow(/^d must be an integer >= 1, got 0$/);
    expect(() => validateTaskConfig({ ...ok(), n: 2.5 })).toThrow(/^n must be an integer >= 1, got 2.5$/);
    expect(() => validateTaskConfig({ ...ok(), noise: -1 })).toThrow(/^noise must be a finite number >= 0, got -1$/);
    expect(() => validateTaskConfig({ ...ok(), noise: Number.POSITIVE_INFINITY })).toThrow(/^noise must be a finite/);
    expect(() => validateTaskConfig({ ...ok(), domains: [] })).toThrow(/^domains must hold at least one domain/);
    expect(() => validateTaskConfig({ ...ok(), domains: [{ name: 'x', eigenvalues: [1, 1, 1] }] })).toThrow(
      /^domains\[0\]\.eigenvalues must have length d = 4, got 3$/,
    );
    expect(() => validateTaskConfig({ ...ok(), domains: [{ name: 'x', eigenvalues: [1, -1, 1, 1] }] })).toThrow(
      /^domains\[0\]\.eigenvalues\[1\] must be a finite number >= 0, got -1$/,
    );
    expect(() =>
      validateTaskConfig({ ...ok(), domains: [...headTailDomains(4, 2), { name: 'head', eigenvalues: [1, 1, 1, 1] }] }),
    ).toThrow(/^domains\[2\]\.name 'head' is not unique \(domains\[0\] has it too\)/);
    expect(fieldOf(() => validateTaskConfig({ ...ok(), noise: Number.NaN }))).toBe('noise');
    expect(fieldOf(() => validateTaskConfig({ ...ok(), domains: [{ name: '', eigenvalues: [1, 1, 1, 1] }] }))).toBe(
      'domains[0].name',
    );
  });

  it('mixture, preset and argument errors name the culprit', () => {
    const cfg = ok();
    expect(() => sampleBatch(new Rng(1), cfg, { head: 1, middle: 1 }, 2)).toThrow(
      /unknown domain 'middle' \(domains: 'head', 'tail'\)/,
    );
    expect(() => sampleBatch(new Rng(1), cfg, { head: 1, tail: -0.5 }, 2)).toThrow(
      /^mixture\['tail'\] must be a finite number >= 0, got -0.5$/,
    );
    expect(() => sampleBatch(new Rng(1), cfg, { head: 0 }, 2)).toThrow(/weights sum to 0/);
    expect(() => sampleBatch(new Rng(1), cfg, balancedMixture, -1)).toThrow(/^B must be an integer >= 0, got -1$/);
    expect(() => sampleBatch(new Rng(1), { ...cfg, d: 3 }, balancedMixture, 1)).toThrow(
      /domains\[0\]\.eigenvalues must have length d = 3/,
    );
    expect(() => headTailDomains(4, 4)).toThrow(/^head must be an integer in \[1, d - 1\] = \[1, 3\], got 4$/);
    expect(() => balancedDomains(0)).toThrow(/^d must be an integer >= 1/);
    expect(() => makePool(1.5, cfg, balancedMixture, 3)).toThrow(/^seed must be an integer/);
    expect(() => makeEvalSet(1, cfg, balancedMixture, -2)).toThrow(/^size must be an integer >= 0/);
  });

  it('presets have the documented spectra', () => {
    expect(balancedDomains(3)).toEqual([{ name: 'all', eigenvalues: [1, 1, 1] }]);
    expect(headTailDomains(6)).toEqual([
      { name: 'head', eigenvalues: [1, 1, 1, 1, 0, 0] },
      { name: 'tail', eigenvalues: [0, 0, 0, 0, 1, 1] },
    ]);
    expect(headTailDomains(4, 1, 0.05)[1].eigenvalues).toEqual([0.05, 1, 1, 1]);
    expect(balancedMixture).toEqual({ head: 0.5, tail: 0.5 });
    expect(imbalancedMixture).toEqual({ head: 0.95, tail: 0.05 });
    expect(Object.isFrozen(imbalancedMixture)).toBe(true);
  });
});
