/**
 * The sampling family: Philox4x32-10 (TypeScript against the Random123 known answers, WGSL against
 * TypeScript bit for bit, and one identical copy of its text in every shader), token sampling
 * (agreement with the f64 reference, frequencies, determinism across Node and Chromium), and the
 * Gaussian policy (noise accuracy and statistics, REINFORCE gradient against finite differences).
 * Runs in Node (Dawn) and in headless Chromium.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../src/gpu/errors.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { shaders } from '../src/gpu/shaders.ts';
import { gaussian_reinforce_backward, gaussian_sample, philox_fill, sample_tokens } from '../src/kernels/sampling.ts';
import { BOUNDARY_MARGIN, sampleLogits } from '../src/kernels/sampling.entries.ts';
import { mulhi32, mullo32, philox4x32_10, uniform24, uniform24Open0 } from '../src/reference/philox.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import * as ref from '../src/reference/sampling.ts';
import { getTestRuntime } from './runtime.ts';
import { expectClose, fdGrad } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

/** Read a u32 tensor back and free it. */
async function readU32(t: Tensor): Promise<Uint32Array> {
  const data = await rt.read(t);
  t.destroy();
  return data as Uint32Array;
}

// Every case of these registry entries runs in test/kernels.test.ts with the other kernels.

// ---------------------------------------------------------------------------------------------
// Philox

const KAT: { counter: [number, number, number, number]; key: [number, number]; out: number[] }[] = [
  { counter: [0, 0, 0, 0], key: [0, 0], out: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
  {
    counter: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    out: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  },
  {
    counter: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    out: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  },
];

describe('philox4x32-10', () => {
  it('TypeScript matches the Random123 known-answer vectors', () => {
    for (const { counter, key, out } of KAT) expect(philox4x32_10(counter, key)).toEqual(out);
  });

  it('mulhi32 / mullo32 are the exact 64-bit product (against BigInt)', () => {
    const rng = new Rng(21);
    const edge = [0, 1, 2, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
    const values = [...edge, ...Array.from({ length: 200 }, () => Math.floor(rng.next() * 2 ** 32))];
    for (const a of values) {
      for (const b of values.slice(0, 40)) {
        const p = BigInt(a) * BigInt(b);
        expect(mulhi32(a, b), `hi(${a} * ${b})`).toBe(Number(p >> 32n));
        expect(mullo32(a, b), `lo(${a} * ${b})`).toBe(Number(p & 0xffffffffn));
      }
    }
  });

  it('the uniforms are exact multiples of 2^-24 in [0, 1) and (0, 1]', () => {
    expect(uniform24(0)).toBe(0);
    expect(uniform24(0xffffffff)).toBe(1 - 2 ** -24);
    expect(uniform24Open0(0)).toBe(2 ** -24);
    expect(uniform24Open0(0xffffffff)).toBe(1);
    expect(Math.fround(uniform24(0x12345678))).toBe(uniform24(0x12345678));
  });

  it('WGSL matches the known answers (explicit counters) and TypeScript bit for bit on counters (n, c1, c2, c3)', async () => {
    for (const { counter, key, out } of KAT) {
      const counters = rt.tensor(counter, [1, 4], 'u32');
      const o = rt.empty([1, 4], 'u32');
      philox_fill(rt, o, counters, { seed: key[0], seedHi: key[1] });
      expect(Array.from(await readU32(o))).toEqual(out);
      counters.destroy();
    }
    const N = 4099;
    const opts = { seed: 0x9e3779b9, seedHi: 0x7f4a7c15, c1: 0xffffffff, c2: 12, c3: 0x80000000 };
    const o = rt.empty([N, 4], 'u32');
    philox_fill(rt, o, undefined, opts);
    const got = await readU32(o);
    const want = new Uint32Array(N * 4);
    ref.philox_fill(want, null, N, opts);
    expectClose(got, want, { atol: 0, rtol: 0 }, 'philox_fill');
  });

  it('every shader that uses Philox holds the identical function text', () => {
    const BEGIN = '// ---- philox4x32-10 begin';
    const END = '// ---- philox4x32-10 end ----';
    const blocks: Record<string, string> = {};
    for (const [name, src] of Object.entries(shaders)) {
      const text = src as string;
      const i = text.indexOf(BEGIN);
      if (i < 0) {
        // No shader may carry its own (possibly diverging) Philox outside the marked block.
        expect(text.includes('fn philox4x32_10'), `${name} defines Philox outside the shared block`).toBe(false);
        continue;
      }
      const j = text.indexOf(END, i);
      expect(j, `${name}: Philox block has no end marker`).toBeGreaterThan(i);
      expect(text.indexOf(BEGIN, j), `${name}: two Philox blocks`).toBe(-1);
      blocks[name] = text.slice(i, j + END.length);
    }
    expect(Object.keys(blocks).sort()).toEqual(['gaussian_sample', 'philox_fill', 'sample_tokens']);
    const canonical = blocks.philox_fill;
    expect(canonical).toContain('fn philox4x32_10(counter: vec4u, key: vec2u) -> vec4u');
    for (const [name, block] of Object.entries(blocks)) expect(block, `${name} differs from philox_fill`).toBe(canonical);
  });
});

// ---------------------------------------------------------------------------------------------
// sample_tokens

async function gpuSample(logits: Float32Array, N: number, V: number, opts: ref.SeedOptions & { temperature?: number }) {
  const l = rt.tensor(logits, [N, V]);
  const t = rt.empty([N], 'u32');
  sample_tokens(rt, t, l, { seed: 0, step: 0, ...opts });
  const got = await readU32(t);
  l.destroy();
  return got;
}

describe('sample_tokens', () => {
  // The GPU sums the CDF in f32 and the reference in f64 from the same Philox bits, so a row can
  // differ only when its uniform u lies within rounding (~1e-6) of a CDF boundary. These rows are
  // drawn WITHOUT keeping u away from boundaries; every disagreement must be such a boundary case:
  // |u - cdf_j| < 1e-5 for every boundary j between the two tokens.
  for (const temperature of [1, 0.6, 2.5]) {
    it(`agrees with the f64 reference on 4096 rows, except at CDF boundaries (temperature ${temperature})`, async () => {
      const rng = new Rng(31);
      const N = 4096;
      const V = 50;
      const logits = randomArray(rng, N * V, { std: 2 });
      const opts = { seed: 1234, step: 9, stream: 2, temperature };
      const got = await gpuSample(logits, N, V, opts);
      const want = new Uint32Array(N);
      ref.sample_tokens(want, logits, N, V, opts);
      let mismatches = 0;
      for (let n = 0; n < N; n++) {
        if (got[n] === want[n]) continue;
        mismatches++;
        const u = ref.sampleUniform(n, opts);
        const cdf = ref.rowCdf(logits, n, V, temperature);
        for (let j = Math.min(got[n], want[n]); j < Math.max(got[n], want[n]); j++) {
          expect(Math.abs(u - cdf[j]), `row ${n}: GPU ${got[n]}, reference ${want[n]}, boundary ${j}`).toBeLessThan(1e-5);
        }
      }
      expect(mismatches).toBeLessThanOrEqual(4);
    });
  }

  // 20000 draws from one row of 5 logits; chi-square with 4 degrees of freedom against the softmax
  // probabilities. Fixed seed, so the statistic is fixed too; 18.47 is the 0.999 quantile.
  for (const temperature of [1, 0.5]) {
    it(`frequencies match softmax(logits / ${temperature}) (chi-square, 20000 draws)`, async () => {
      const row = [1.0, 0.5, -0.3, 2.0, 0.0];
      const V = row.length;
      const N = 20000;
      const logits = new Float32Array(N * V);
      for (let n = 0; n < N; n++) logits.set(row, n * V);
      const got = await gpuSample(logits, N, V, { seed: 77, step: 3, temperature });
      const counts = new Array(V).fill(0);
      for (const t of got) counts[t]++;
      const w = row.map((l) => Math.exp(l / temperature));
      const total = w.reduce((a, b) => a + b, 0);
      let chi2 = 0;
      for (let j = 0; j < V; j++) {
        const e = (N * w[j]) / total;
        chi2 += (counts[j] - e) ** 2 / e;
      }
      expect(chi2, `counts ${counts}`).toBeLessThan(18.47);
    });
  }

  it('is deterministic: 16 tokens equal the TypeScript reference (same in Node and Chromium), rerun gives the same', async () => {
    const rng = new Rng(41);
    const N = 16;
    const V = 40;
    const opts = { seed: 0xc0ffee, seedHi: 1, step: 1000, temperature: 0.9 };
    // Rows kept BOUNDARY_MARGIN from every CDF boundary, so f32 vs f64 cannot matter here.
    const logits = sampleLogits(rng, N, V, opts);
    const pinned = new Uint32Array(N);
    ref.sample_tokens(pinned, logits, N, V, opts);
    for (let n = 0; n < N; n++) expect(ref.cdfBoundaryDistance(logits, n, V, opts)).toBeGreaterThanOrEqual(BOUNDARY_MARGIN);
    expect(new Set(pinned).size, 'the pinned tokens should not all be equal').toBeGreaterThan(4);
    const first = await gpuSample(logits, N, V, opts);
    expect(Array.from(first)).toEqual(Array.from(pinned));
    expect(Array.from(await gpuSample(logits, N, V, opts))).toEqual(Array.from(first));
    // Another step, stream or key gives other draws (the uniforms differ in every row).
    for (const other of [
      { ...opts, step: 1001 },
      { ...opts, stream: 1 },
      { ...opts, seedHi: 0 },
    ]) {
      let same = 0;
      for (let n = 0; n < N; n++) if (ref.sampleUniform(n, other) === ref.sampleUniform(n, opts)) same++;
      expect(same).toBe(0);
    }
  });

  it('temperature 0 (and below 2^-126) is argmax with the first maximum', async () => {
    const V = 5;
    const logits = Float32Array.from([0, 3, 1, 3, -1, 7, 7, 7, 7, 7, -5, -4, -3, -2, -2]);
    const N = logits.length / V;
    for (const temperature of [0, 1e-39]) {
      expect(Array.from(await gpuSample(logits, N, V, { temperature, seed: 5 }))).toEqual([1, 0, 3]);
      const want = new Uint32Array(N);
      ref.sample_tokens(want, logits, N, V, { temperature });
      expect(Array.from(want)).toEqual([1, 0, 3]);
    }
  });

  it('huge logits and a tiny temperature stay finite (no NaN from inf - inf)', async () => {
    const V = 4;
    const logits = Float32Array.from([3e38, -3e38, 3e38, 0, -3e38, -3e38, -3e38, -3e38]);
    const got = await gpuSample(logits, 2, V, { temperature: 1e-30, seed: 3 });
    expect([0, 2]).toContain(got[0]);
    expect([0, 1, 2, 3]).toContain(got[1]);
  });

  it('refuses a negative, NaN or infinite temperature and seeds outside u32, before encoding', () => {
    const l = rt.empty([2, 3]);
    const t = rt.empty([2], 'u32');
    for (const temperature of [-0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => sample_tokens(rt, t, l, { seed: 1, step: 0, temperature })).toThrow(
        /temperature must be a finite number >= 0/,
      );
    }
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      expect(() => sample_tokens(rt, t, l, { seed: bad, step: 0 })).toThrow(/option seed must be an integer in \[0, 2\^32\)/);
      expect(() => sample_tokens(rt, t, l, { seed: 0, step: bad })).toThrow(ShapeError);
    }
    expect(() => sample_tokens(rt, rt.empty([2]), l, { seed: 1, step: 0 })).toThrow(/tokens must be u32, got f32/);
    expect(() => sample_tokens(rt, rt.empty([3], 'u32'), l, { seed: 1, step: 0 })).toThrow(
      /tokens has shape \[3\], expected \[2\]/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Gaussian policy

describe('gaussian_sample', () => {
  it('xi is within 1e-6 of the f64 Box-Muller on 200000 draws, and sample = mean + sigma * xi', async () => {
    const B = 400;
    const D = 500;
    const rng = new Rng(51);
    const meanH = randomArray(rng, B * D);
    const logSigmaH = randomArray(rng, D, { mean: -1, std: 0.3 });
    const opts = { seed: 2718, step: 5, stream: 1 };
    const mean = rt.tensor(meanH, [B, D]);
    const logSigma = rt.tensor(logSigmaH, [D]);
    const sample = rt.empty([B, D]);
    const xi = rt.empty([B, D]);
    gaussian_sample(rt, sample, xi, mean, logSigma, opts);
    const gotXi = await rt.readF32(xi);
    const gotSample = await rt.readF32(sample);
    const wantXi = new Float32Array(B * D);
    const wantSample = new Float32Array(B * D);
    ref.gaussian_sample(wantSample, wantXi, meanH, logSigmaH, B, D, opts);
    expectClose(gotXi, wantXi, { atol: 1e-6, rtol: 0 }, 'xi');
    expectClose(gotSample, wantSample, { atol: 2e-6, rtol: 1e-6 }, 'sample');

    // The moments of xi: mean 0, variance 1, fourth moment 3 (n = 2e5; the bounds are ~5 standard errors).
    const n = gotXi.length;
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    let within1 = 0;
    for (const z of gotXi) {
      m1 += z / n;
      m2 += (z * z) / n;
      m4 += z ** 4 / n;
      if (Math.abs(z) < 1) within1++;
    }
    expect(Math.abs(m1)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(m4 - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
    expect(Math.abs(within1 / n - 0.682689)).toBeLessThan(5 * Math.sqrt((0.6827 * 0.3173) / n));
    for (const t of [mean, logSigma, sample, xi]) t.destroy();
  });

  it('the noise depends on (seed, step, stream) only: a fixed sigma gives the same xi; options are checked', async () => {
    const B = 3;
    const D = 7;
    const mean = rt.tensor(new Float32Array(B * D).fill(2), [B, D]);
    const run = async (opts: Parameters<typeof gaussian_sample>[5]) => {
      const sample = rt.empty([B, D]);
      const xi = rt.empty([B, D]);
      gaussian_sample(rt, sample, xi, mean, undefined, opts);
      return { sample: await rt.readF32(sample), xi: await rt.readF32(xi) };
    };
    const a = await run({ seed: 1, step: 2, sigma: 0.5 });
    const b = await run({ seed: 1, step: 2, sigma: 3 });
    expect(Array.from(b.xi)).toEqual(Array.from(a.xi));
    for (let i = 0; i < B * D; i++) expect(a.sample[i]).toBe(Math.fround(2 + Math.fround(0.5 * a.xi[i])));
    const c = await run({ seed: 1, step: 3, sigma: 0.5 });
    expect(c.xi.some((v, i) => v !== a.xi[i])).toBe(true);
    const o = [rt.empty([B, D]), rt.empty([B, D])] as const;
    expect(() => gaussian_sample(rt, o[0], o[1], mean, rt.empty([D]), { seed: 0, step: 0, sigma: 1 })).toThrow(
      /either the input logSigma \(learned\) or the option sigma \(fixed\), not both/,
    );
    expect(() => gaussian_sample(rt, o[0], o[1], mean, undefined, { seed: 0, step: 0, sigma: 0 })).toThrow(
      /sigma must be a finite number > 0/,
    );
    expect(() => gaussian_sample(rt, o[0], o[1], mean, rt.empty([D + 1]), { seed: 0, step: 0 })).toThrow(
      /logSigma has shape \[8\], expected \[7\]/,
    );
  });
});

describe('gaussian_reinforce_backward', () => {
  for (const learned of [true, false]) {
    it(`the reference matches finite differences of -scale * sum_b adv_b log N (${learned ? 'learned logSigma' : 'fixed sigma'})`, () => {
      const rng = new Rng(learned ? 61 : 62);
      const B = 4;
      const D = 3;
      const scale = 0.7;
      const sigma = 0.8;
      const mean = randomArray(rng, B * D);
      const logSigma = learned ? randomArray(rng, D, { mean: -0.3, std: 0.4 }) : null;
      const sample = randomArray(rng, B * D, { std: 1.5 });
      const adv = randomArray(rng, B);
      const logp = new Float32Array(B);
      const loss = (): number => {
        ref.gaussian_log_prob(logp, sample, mean, logSigma, B, D, { sigma });
        let acc = 0;
        for (let b = 0; b < B; b++) acc += adv[b] * logp[b];
        return -scale * acc;
      };
      const dmean = new Float32Array(B * D).fill(99);
      const dlogSigma = learned ? new Float32Array(D).fill(-99) : null;
      ref.gaussian_reinforce_backward(dmean, dlogSigma, mean, sample, adv, logSigma, B, D, { sigma, scale });
      const tol = { atol: 1e-3, rtol: 1e-2 };
      expectClose(dmean, fdGrad(mean, loss), tol, 'dmean');
      if (logSigma && dlogSigma) expectClose(dlogSigma, fdGrad(logSigma, loss), tol, 'dlogSigma');
    });
  }

  it('log N is the Gaussian density (against a direct formula)', () => {
    const logp = new Float32Array(1);
    ref.gaussian_log_prob(
      logp,
      Float32Array.from([1, -2]),
      Float32Array.from([0.5, 0]),
      Float32Array.from([0, Math.log(2)]),
      1,
      2,
    );
    const direct = Math.log(Math.exp(-0.125) / Math.sqrt(2 * Math.PI)) + Math.log(Math.exp(-0.5) / (2 * Math.sqrt(2 * Math.PI)));
    expect(logp[0]).toBeCloseTo(direct, 6);
  });

  it('the GPU overwrites stale outputs, defaults scale to 1 / B, and checks its outputs', async () => {
    const rng = new Rng(63);
    const B = 5;
    const D = 9;
    const meanH = randomArray(rng, B * D);
    const sampleH = randomArray(rng, B * D);
    const advH = randomArray(rng, B);
    const lsH = randomArray(rng, D, { std: 0.3 });
    const mean = rt.tensor(meanH, [B, D]);
    const sample = rt.tensor(sampleH, [B, D]);
    const adv = rt.tensor(advH, [B]);
    const logSigma = rt.tensor(lsH, [D]);
    const dmean = rt.tensor(new Float32Array(B * D).fill(123), [B, D]);
    const dlogSigma = rt.tensor(new Float32Array(D).fill(-7), [D]);
    gaussian_reinforce_backward(rt, dmean, dlogSigma, mean, sample, adv, logSigma);
    const wantMean = new Float32Array(B * D);
    const wantLs = new Float32Array(D);
    ref.gaussian_reinforce_backward(wantMean, wantLs, meanH, sampleH, advH, lsH, B, D, { scale: 1 / B });
    const tol = { atol: 1e-6, rtol: 1e-5 };
    expectClose(await rt.readF32(dmean), wantMean, tol, 'dmean');
    expectClose(await rt.readF32(dlogSigma), wantLs, tol, 'dlogSigma');
    expect(() => gaussian_reinforce_backward(rt, dmean, undefined, mean, sample, adv, logSigma)).toThrow(
      /dlogSigma \[9\] is required/,
    );
    expect(() => gaussian_reinforce_backward(rt, dmean, dlogSigma, mean, sample, adv, undefined)).toThrow(
      /only computed for a learned logSigma/,
    );
    expect(() => gaussian_reinforce_backward(rt, dmean, undefined, mean, sample, rt.empty([B + 1]), undefined)).toThrow(
      /adv has shape \[6\], expected \[5\]/,
    );
    for (const t of [mean, sample, adv, logSigma, dmean, dlogSigma]) t.destroy();
  });
});
