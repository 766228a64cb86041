/**
 * The optimizer kernels (adamw, global_norm_sumsq, nonfinite_count): every registry case against the
 * CPU reference; each AdamW state tensor with its own tight tolerance; the reference against an
 * independent (PyTorch-style) AdamW; determinism of the global norm; NaN/Inf counting by bit pattern;
 * bad options and shapes; and 20 AdamW steps on a quadratic on the GPU and the CPU, step by step.
 * Runs in Node (Dawn) and in headless Chromium (no node: imports).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, ShapeError } from '../src/gpu/errors.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { Arena } from '../src/gpu/arena.ts';
import { type Tensor, numel } from '../src/gpu/tensor.ts';
import { sum, sumsq } from '../src/kernels/reduce.ts';
import { optimKernels } from '../src/kernels/optim.entries.ts';
import { adamw, global_norm_sumsq, grad_sumsq, nonfinite_count } from '../src/kernels/optim.ts';
import type { CheckCase, KernelEntry } from '../src/kernels/entry.ts';
import { checkKernel, parseOptions, parseRequest, runKernel } from '../src/kernels/run.ts';
import { compare, type Tolerance } from '../src/reference/compare.ts';
import * as ref from '../src/reference/optim.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';
import { expectClose } from './helpers.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const entry = (name: string): KernelEntry => {
  const e = optimKernels.find((k) => k.name === name);
  if (!e) throw new Error(`no entry ${name}`);
  return e;
};

const bitsOf = (a: Float32Array | Uint32Array): Uint32Array => new Uint32Array(a.buffer.slice(0));

// 1. Every entry x case against the reference runs in test/kernels.test.ts with the other kernels.

// ---------------------------------------------------------------------------------------------
// 2. adamw

/**
 * Each AdamW state with its own tolerance (the registry's single one must suit every lr and all three
 * tensors, so it is loose for m and v). Measured on SwiftShader: at most about 3 ulp relative, plus,
 * for params near zero, the cancellation in params - update, whose absolute error is a few ulp of the
 * update (about lr): up to 8.7e-7 * lr over lr = 1e-3 .. 10. m's atol covers the cancellation in
 * beta1 m + (1 - beta1) g with |g| ~ 0.01.
 */
function stateTol(lr: number): Record<'params' | 'm' | 'v', Tolerance> {
  return {
    params: { atol: 1e-9 + 2e-6 * lr, rtol: 5e-7 },
    m: { atol: 1e-9, rtol: 5e-7 },
    v: { atol: 1e-14, rtol: 5e-7 },
  };
}

/** AdamW as torch.optim.AdamW writes it (mul_, lerp-free addcdiv with step_size), clipping done up front. */
function adamwTorchStyle(
  p: Float32Array,
  m: Float32Array,
  v: Float32Array,
  grads: Float32Array,
  gradSumSq: number,
  o: Required<ref.AdamWReferenceOptions>,
): void {
  const norm = Math.sqrt(gradSumSq);
  const clipCoef = o.maxNorm > 0 ? o.maxNorm / (norm + 1e-6) : 1;
  const clipped = Math.min(clipCoef, 1); // torch: clip_coef.clamp(max=1.0)
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2Sqrt = Math.sqrt(1 - o.beta2 ** o.step);
  const stepSize = o.lr / bc1;
  for (let i = 0; i < p.length; i++) {
    const g = grads[i] * clipped;
    const param = p[i] * (1 - o.lr * o.weightDecay);
    const expAvg = m[i] + (g - m[i]) * (1 - o.beta1);
    const expAvgSq = v[i] * o.beta2 + (1 - o.beta2) * g * g;
    const denom = Math.sqrt(expAvgSq) / bc2Sqrt + o.eps;
    p[i] = param - (stepSize * expAvg) / denom;
    m[i] = expAvg;
    v[i] = expAvgSq;
  }
}

describe('adamw reference', () => {
  const full = (o: Partial<ref.AdamWReferenceOptions>): Required<ref.AdamWReferenceOptions> => ({
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    step: 1,
    maxNorm: 0,
    ...o,
  });

  const configs: Partial<ref.AdamWReferenceOptions>[] = [
    {},
    { step: 2, weightDecay: 0.1, maxNorm: 1e-3 },
    { step: 1000, weightDecay: 0.1, lr: 0.01 },
    { step: 7, beta1: 0.8, beta2: 0.99, eps: 1e-6, maxNorm: 0.05, lr: 0.3 },
  ];
  for (const cfg of configs) {
    it(`matches a PyTorch-style formulation ${JSON.stringify(cfg)}`, () => {
      const o = full(cfg);
      for (const seed of [1, 2]) {
        const inputs = entry('adamw').sample(new Rng(seed), { N: 257 }, o);
        const data = (k: string) => Float32Array.from(inputs[k].data as Float32Array);
        const [p1, m1, v1, p2, m2, v2] = [data('params'), data('m'), data('v'), data('params'), data('m'), data('v')];
        const grads = data('grads');
        ref.adamw(p1, m1, v1, grads, data('gradSumSq'), 257, o);
        adamwTorchStyle(p2, m2, v2, grads, inputs.gradSumSq.data[0], o);
        // Both in f64, stored to f32: they may differ by the last bit only.
        for (const [k, a, b] of [
          ['params', p1, p2],
          ['m', m1, m2],
          ['v', v1, v2],
        ] as const) {
          expectClose(a, b, { atol: 0, rtol: 1.2e-7 }, k);
        }
        // And the step really moved the parameters.
        expect(compare(p1, inputs.params.data, { atol: 0, rtol: 1e-5 }).ok).toBe(false);
      }
    });
  }

  it('step 1 from zero moments moves each parameter by lr * sign(g) (0 where g = 0)', () => {
    const p = Float32Array.from([1, -2, 0.5, 3]);
    const g = Float32Array.from([0.3, -1e-3, 0, 5]);
    const m = new Float32Array(4);
    const v = new Float32Array(4);
    ref.adamw(p, m, v, g, Float32Array.of(0), 4, { lr: 0.01, step: 1 });
    expectClose(p, [1 - 0.01, -2 + 0.01, 0.5, 3 - 0.01], { atol: 0, rtol: 1e-7 }, 'params');
    expectClose(m, [0.03, -1e-4, 0, 0.5], { atol: 0, rtol: 1e-7 }, 'm');
    expectClose(v, [0.3 * 0.3 * 1e-3, 1e-9, 0, 25e-3], { atol: 0, rtol: 1e-6 }, 'v');
  });

  it('weight decay is decoupled: with zero gradients and moments params shrink by lr * weightDecay', () => {
    const p = Float32Array.from([1, -2, 0.5]);
    ref.adamw(p, new Float32Array(3), new Float32Array(3), new Float32Array(3), Float32Array.of(0), 3, {
      lr: 0.1,
      weightDecay: 0.5,
      step: 3,
    });
    expectClose(p, [0.95, -1.9, 0.475], { atol: 0, rtol: 1e-7 }, 'params');
  });

  it('clipping scales the gradients by maxNorm / (norm + 1e-6), and not at all when the norm is below maxNorm', () => {
    const rng = new Rng(3);
    const g = randomArray(rng, 50);
    const ss = Float32Array.of(g.reduce((a, x) => a + x * x, 0));
    const norm = Math.sqrt(ss[0]);
    const run = (grads: Float32Array, maxNorm: number) => {
      const p = Float32Array.from(randomArray(new Rng(4), 50));
      const m = Float32Array.from(randomArray(new Rng(5), 50, { std: 0.1 }));
      const v = Float32Array.from(randomArray(new Rng(6), 50, { std: 0.1 }).map(Math.abs));
      ref.adamw(p, m, v, grads, ss, 50, { lr: 0.01, step: 5, maxNorm });
      return [p, m, v];
    };
    const c = 0.5 * norm;
    const scaled = g.map((x) => (x * c) / (norm + 1e-6));
    const [pc, mc, vc] = run(g, c);
    const [ps, ms, vs] = run(scaled, 0);
    expectClose(pc, ps, { atol: 1e-8, rtol: 1e-6 }, 'params clipped');
    expectClose(mc, ms, { atol: 1e-8, rtol: 1e-6 }, 'm clipped');
    expectClose(vc, vs, { atol: 1e-12, rtol: 1e-6 }, 'v clipped');
    const [pn] = run(g, 2 * norm);
    const [p0] = run(g, 0);
    expect(bitsOf(pn)).toEqual(bitsOf(p0));
  });
});

describe('adamw on the GPU', () => {
  const up = (a: ArrayLike<number>, label: string): Tensor => rt.tensor(a, [a.length], 'f32', label);

  const largeLr: CheckCase[] = [
    { dims: { N: 20000 }, options: { lr: 0.5, step: 7, maxNorm: 0.1, weightDecay: 0.05 } },
    { dims: { N: 20000 }, options: { lr: 1, step: 1 } },
    { dims: { N: 20000 }, options: { lr: 10, step: 3, beta1: 0.5, beta2: 0.9 } },
  ];
  for (const c of [...entry('adamw').cases.filter((c) => c.dims.N <= 100003), ...largeLr]) {
    it(`each state tensor within its own tolerance: N=${c.dims.N} ${JSON.stringify(c.options ?? {})}`, async () => {
      const e = entry('adamw');
      const opts = c.options ?? {};
      const inputs = e.sample(new Rng(11), c.dims, opts);
      const got = await runKernel(rt, e, inputs, opts);
      const want = e.cpu(inputs, opts);
      const tol = stateTol(typeof opts.lr === 'number' ? opts.lr : 1e-3);
      for (const k of ['params', 'm', 'v'] as const) expectClose(got[k].data, want[k].data, tol[k], `adamw.${k}`);
    });
  }

  for (const c of largeLr) {
    it(`the registry tolerance holds at large lr too: ${JSON.stringify(c.options)}`, async () => {
      const result = await checkKernel(rt, entry('adamw'), c.dims, c.options, 12);
      for (const cmp of Object.values(result.outputs)) expect(cmp.ok, cmp.report).toBe(true);
    });
  }

  it('updates in place: two calls are two reference steps (step 1 then 2)', async () => {
    const N = 300;
    const rng = new Rng(21);
    const p0 = randomArray(rng, N, { std: 0.5 });
    const g1 = randomArray(rng, N, { std: 0.01 });
    const g2 = randomArray(rng, N, { std: 0.01 });
    const [p, m, v] = [up(p0, 'p'), rt.empty([N]), rt.empty([N])];
    const [cp, cm, cv] = [Float32Array.from(p0), new Float32Array(N), new Float32Array(N)];
    for (const [step, g] of [
      [1, g1],
      [2, g2],
    ] as const) {
      const ss = Float32Array.of(0);
      ref.global_norm_sumsq(ss, [g]);
      const opts = { lr: 0.02, weightDecay: 0.1, step, maxNorm: 0.05 };
      const gt = up(g, 'g');
      const sst = up(ss, 'ss');
      adamw(rt, p, m, v, gt, sst, opts);
      ref.adamw(cp, cm, cv, g, ss, N, opts);
    }
    const tol = stateTol(0.02);
    expectClose(await rt.readF32(p), cp, tol.params, 'params');
    expectClose(await rt.readF32(m), cm, tol.m, 'm');
    expectClose(await rt.readF32(v), cv, tol.v, 'v');
  });

  it('clips by the global norm of several tensors, computed on the GPU (no readback)', async () => {
    const rng = new Rng(22);
    const sizes = [1, 1000, 37];
    const ps = sizes.map((n) => randomArray(rng, n, { std: 0.5 }));
    const gs = sizes.map((n) => randomArray(rng, n, { std: 0.1 }));
    const ssHost = Float32Array.of(0);
    ref.global_norm_sumsq(ssHost, gs);
    const maxNorm = 0.25 * Math.sqrt(ssHost[0]);
    const ss = rt.empty([1]);
    const gts = gs.map((g, i) => up(g, `g${i}`));
    global_norm_sumsq(rt, ss, gts);
    const opts = { lr: 1e-3, weightDecay: 0.01, step: 100, maxNorm };
    for (let i = 0; i < sizes.length; i++) {
      const n = sizes[i];
      const [p, m, v] = [up(ps[i], 'p'), rt.empty([n]), rt.empty([n])];
      adamw(rt, p, m, v, gts[i], ss, opts);
      const [cp, cm, cv] = [Float32Array.from(ps[i]), new Float32Array(n), new Float32Array(n)];
      ref.adamw(cp, cm, cv, gs[i], ssHost, n, opts);
      const tol = stateTol(opts.lr);
      expectClose(await rt.readF32(p), cp, tol.params, `params${i}`);
      expectClose(await rt.readF32(m), cm, tol.m, `m${i}`);
      expectClose(await rt.readF32(v), cv, tol.v, `v${i}`);
    }
  });

  it('runs on arena views, and once over a whole arena with the same bits (zero padding stays zero)', async () => {
    const slots = [
      { name: 'w', shape: [3, 5] },
      { name: 'b', shape: [7] },
    ];
    const rng = new Rng(24);
    const host = {
      p: slots.map((s) => randomArray(rng, numel(s.shape), { std: 0.5 })),
      g: slots.map((s) => randomArray(rng, numel(s.shape), { std: 0.01 })),
    };
    const opts = { lr: 0.01, weightDecay: 0.1, step: 1, maxNorm: 0.01 };
    const make = () => {
      const [P, M, V, G] = ['params', 'm', 'v', 'grads'].map((n) => new Arena(rt, n, slots));
      slots.forEach((s, i) => {
        rt.write(P.views[s.name], host.p[i]);
        rt.write(G.views[s.name], host.g[i]);
      });
      const ss = rt.empty([1]);
      global_norm_sumsq(
        rt,
        ss,
        slots.map((s) => G.views[s.name]),
      );
      return { P, M, V, G, ss };
    };
    const perView = make();
    for (const s of slots) {
      const { P, M, V, G, ss } = perView;
      adamw(rt, P.views[s.name], M.views[s.name], V.views[s.name], G.views[s.name], ss, opts);
    }
    const whole = make();
    adamw(rt, whole.P.all, whole.M.all, whole.V.all, whole.G.all, whole.ss, opts);
    const ssHost = Float32Array.of(0);
    ref.global_norm_sumsq(ssHost, host.g);
    for (const [k, key] of [
      ['params', 'P'],
      ['m', 'M'],
      ['v', 'V'],
    ] as const) {
      const a = await rt.readF32(perView[key].all);
      const b = await rt.readF32(whole[key].all);
      expect(bitsOf(b), k).toEqual(bitsOf(a));
      slots.forEach((s, i) => {
        const o = perView[key].offsets[s.name];
        const n = numel(s.shape);
        for (let j = o + n; j < (i + 1 < slots.length ? perView[key].offsets[slots[i + 1].name] : a.length); j++) {
          expect(b[j], `${k} padding`).toBe(0);
        }
      });
    }
    const P = await rt.readF32(perView.P.all);
    slots.forEach((s, i) => {
      const n = numel(s.shape);
      const [cp, cm, cv] = [Float32Array.from(host.p[i]), new Float32Array(n), new Float32Array(n)];
      ref.adamw(cp, cm, cv, host.g[i], ssHost, n, opts);
      const o = perView.P.offsets[s.name];
      expectClose(P.subarray(o, o + n), cp, stateTol(opts.lr).params, `params.${s.name}`);
    });
  });

  it('does not read gradSumSq when maxNorm is 0 (a NaN there changes nothing)', async () => {
    const rng = new Rng(23);
    const p0 = randomArray(rng, 65);
    const g = randomArray(rng, 65, { std: 0.01 });
    const results: Uint32Array[] = [];
    for (const ssv of [Number.NaN, 1]) {
      const p = up(p0, 'p');
      adamw(rt, p, rt.empty([65]), rt.empty([65]), up(g, 'g'), up([ssv], 'ss'), { lr: 0.01, step: 1 });
      results.push(bitsOf(await rt.readF32(p)));
    }
    expect(results[0]).toEqual(results[1]);
  });

  it('refuses bad options with the option name and the allowed range', () => {
    const t = () => rt.empty([4]);
    const call = (o: Partial<Parameters<typeof adamw>[6]>, p = t(), ss = rt.empty([1])) =>
      adamw(rt, p, t(), t(), t(), ss, { lr: 1e-3, step: 1, ...o });
    expect(() => call({ lr: 0 })).toThrow(ShapeError);
    expect(() => call({ lr: 0 })).toThrow(/adamw: lr must be a finite number in \(0, 10\], got 0/);
    expect(() => call({ lr: 11 })).toThrow(/lr must be a finite number in \(0, 10\], got 11/);
    expect(() => call({ lr: Number.NaN })).toThrow(/lr must be .* got NaN/);
    expect(() => call({ lr: Number.POSITIVE_INFINITY })).toThrow(/lr must be/);
    expect(() => call({ beta1: 1 })).toThrow(/beta1 must be a number in \[0, 1\), got 1/);
    expect(() => call({ beta2: -0.1 })).toThrow(/beta2 must be a number in \[0, 1\)/);
    expect(() => call({ eps: 0 })).toThrow(/eps must be a finite number > 0/);
    expect(() => call({ weightDecay: -1 })).toThrow(/weightDecay must be a finite number >= 0/);
    expect(() => call({ step: 0 })).toThrow(/step must be an integer >= 1/);
    expect(() => call({ step: 1.5 })).toThrow(/step must be an integer >= 1/);
    expect(() => call({ maxNorm: -1 })).toThrow(/maxNorm must be a finite number >= 0/);
    expect(() => call({ maxNorm: Number.POSITIVE_INFINITY })).toThrow(/maxNorm must be/);
  });

  it('refuses mismatched sizes, a gradSumSq that is not [1], u32 tensors and aliasing', () => {
    const o = { lr: 1e-3, step: 1 };
    const [a, b, c, d] = [rt.empty([4]), rt.empty([2, 2]), rt.empty([4]), rt.empty([4])];
    adamw(rt, a, b, c, d, rt.empty([1]), o); // same element count, other shape: fine
    expect(() => adamw(rt, a, b, c, rt.empty([5]), rt.empty([1]), o)).toThrow(/grads has 5 elements .* params has 4/);
    expect(() => adamw(rt, a, b, c, d, rt.empty([2]), o)).toThrow(/gradSumSq has shape \[2\], expected \[1\]/);
    expect(() => adamw(rt, a, b, c, rt.empty([4], 'u32'), rt.empty([1]), o)).toThrow(/grads must be f32, got u32/);
    expect(() => adamw(rt, a, b, c, a, rt.empty([1]), o)).toThrow(/output params is the same tensor as input grads/);
    expect(() => adamw(rt, a, a, c, d, rt.empty([1]), o)).toThrow(/outputs params and m overlap in memory/);
  });

  it("the registry's option checks refuse the same values (the command line's path)", () => {
    const e = entry('adamw');
    expect(() => parseOptions(e, { lr: 20 })).toThrow(/option lr = 20: lr must be a finite number in \(0, 10\]/);
    expect(() => parseOptions(e, { step: 0.5 })).toThrow(/step must be an integer >= 1/);
    expect(() => parseOptions(e, { beta2: 1 })).toThrow(/beta2 must be in \[0, 1\)/);
    expect(parseOptions(e, { lr: 0.5, step: 3, maxNorm: 1 })).toEqual({ lr: 0.5, step: 3, maxNorm: 1 });
  });
});

/**
 * Per step, per element: the GPU and CPU trajectories stay within about 2 ulp of each other (measured
 * on SwiftShader: at most 2 ulp, no growth over the 20 steps), so a wrong clip or bias correction in
 * any one step fails.
 */
const TRAJECTORY_TOL: Tolerance = { atol: 1e-7, rtol: 4e-7 };

describe('adamw trajectory: 20 steps on a quadratic, GPU against the CPU reference', () => {
  it('follows the reference step by step, with clipping active at first', async () => {
    // Two parameter tensors (so the global norm spans both); loss = sum((p - target)^2), grad = 2 (p - target).
    const rng = new Rng(31);
    const sizes = [29, 8];
    const targets = sizes.map((n) => randomArray(rng, n));
    const init = targets.map((t) => t.map((x) => x + 0.3 * rng.normal()));
    const gradOf = (p: Float32Array, t: Float32Array) => p.map((x, i) => 2 * (x - t[i]));
    const norm0 = Math.sqrt(init.reduce((a, p, i) => a + gradOf(p, targets[i]).reduce((s, g) => s + g * g, 0), 0));
    const opts = { lr: 0.05, weightDecay: 0.01, maxNorm: 0.5 * norm0 };

    const cpu = init.map((p) => ({ p: Float32Array.from(p), m: new Float32Array(p.length), v: new Float32Array(p.length) }));
    const gpu = init.map((p, i) => ({
      p: rt.tensor(p, [p.length], 'f32', `p${i}`),
      m: rt.empty([p.length]),
      v: rt.empty([p.length]),
      g: rt.empty([p.length]),
    }));
    const ss = rt.empty([1]);
    const clipped: boolean[] = [];
    for (let step = 1; step <= 20; step++) {
      // CPU reference.
      const cg = cpu.map((s, i) => gradOf(s.p, targets[i]));
      const css = Float32Array.of(0);
      ref.global_norm_sumsq(css, cg);
      clipped.push(Math.sqrt(css[0]) > opts.maxNorm);
      cpu.forEach((s, i) => {
        ref.adamw(s.p, s.m, s.v, cg[i], css, s.p.length, { ...opts, step });
      });
      // GPU: gradients from the GPU's own parameters, uploaded; the norm and the step on the GPU.
      for (const [i, s] of gpu.entries()) rt.write(s.g, gradOf(await rt.readF32(s.p), targets[i]));
      global_norm_sumsq(
        rt,
        ss,
        gpu.map((s) => s.g),
      );
      for (const s of gpu) adamw(rt, s.p, s.m, s.v, s.g, ss, { ...opts, step });
      for (const [i, s] of gpu.entries()) {
        const got = await rt.readF32(s.p);
        const cmp = compare(got, cpu[i].p, TRAJECTORY_TOL, `step ${step} params${i}`);
        expect(cmp.ok, cmp.report).toBe(true);
      }
    }
    // Clipping was active for the first steps and released later.
    expect(clipped.slice(0, 3)).toEqual([true, true, true]);
    expect(clipped.slice(-5)).toEqual([false, false, false, false, false]);
    // The optimizer made progress.
    const loss = (ps: Float32Array[]) => ps.reduce((a, p, i) => a + p.reduce((s, x, j) => s + (x - targets[i][j]) ** 2, 0), 0);
    expect(loss(cpu.map((s) => s.p))).toBeLessThan(0.3 * loss(init));
  });
});

// ---------------------------------------------------------------------------------------------
// 3. global_norm_sumsq

describe('global_norm_sumsq', () => {
  const up = (a: Float32Array, label: string): Tensor => rt.tensor(a, [a.length], 'f32', label);

  it('gives the same bits every run (150 tensors of mixed sizes, one over a million elements)', async () => {
    const rng = new Rng(41);
    const sizes = Array.from({ length: 150 }, (_, i) => (i === 77 ? 1048577 : 1 + rng.int(5000)));
    const hosts = sizes.map((n) => randomArray(rng, n, { std: 0.01 }));
    const ts = hosts.map((h, i) => up(h, `g${i}`));
    const runs: Uint32Array[] = [];
    for (let r = 0; r < 3; r++) {
      const out = rt.empty([1]);
      global_norm_sumsq(rt, out, ts);
      runs.push(bitsOf(await rt.readF32(out)));
    }
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
    const want = Float32Array.of(0);
    ref.global_norm_sumsq(want, hosts);
    expectClose(new Float32Array(runs[0].buffer), want, { atol: 0, rtol: 2e-6 }, 'global_norm_sumsq');
    for (const t of ts) t.destroy();
  });

  it('equals sumsq per tensor then sum over the partials, bit for bit (and sumsq itself for one tensor)', async () => {
    const rng = new Rng(42);
    const hosts = [1, 1023, 1025, 300000, 3].map((n) => randomArray(rng, n));
    const ts = hosts.map((h, i) => up(h, `x${i}`));
    const partials = new Float32Array(ts.length);
    for (const [i, t] of ts.entries()) {
      const o = rt.empty([1]);
      sumsq(rt, o, t);
      partials[i] = (await rt.readF32(o))[0];
    }
    const viaSum = rt.empty([1]);
    sum(rt, viaSum, up(partials, 'partials'));
    const out = rt.empty([1]);
    grad_sumsq(rt, out, ts);
    expect(bitsOf(await rt.readF32(out))).toEqual(bitsOf(await rt.readF32(viaSum)));
    const one = rt.empty([1]);
    global_norm_sumsq(rt, one, [ts[3]]);
    expect(bitsOf(await rt.readF32(one))[0]).toBe(bitsOf(partials)[3]);
  });

  it('refuses an empty list, a wrong output, u32 tensors and an output that is also an input', () => {
    const x = rt.empty([5]);
    expect(() => global_norm_sumsq(rt, rt.empty([1]), [])).toThrow(/needs at least one tensor/);
    expect(() => global_norm_sumsq(rt, rt.empty([2]), [x])).toThrow(/out has shape \[2\], expected \[1\]/);
    expect(() => global_norm_sumsq(rt, rt.empty([1]), [x, rt.empty([3], 'u32', 'ids')])).toThrow(
      /tensors\[1\] \(ids\) must be f32, got u32/,
    );
    const out = rt.empty([1]);
    expect(() => global_norm_sumsq(rt, out, [x, out])).toThrow(/out overlaps tensors\[1\]/);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. nonfinite_count

describe('nonfinite_count', () => {
  /** An f32 tensor holding exactly these bit patterns (rt.tensor would go through JS numbers). */
  const fromBits = (bits: number[] | Uint32Array, label = 'x'): Tensor => {
    const t = rt.empty([bits.length], 'f32', label);
    rt.device.queue.writeBuffer(t.buffer, t.offset, Uint32Array.from(bits));
    return t;
  };
  const count = async (x: Tensor): Promise<number> => {
    const out = rt.empty([1], 'u32', 'count');
    nonfinite_count(rt, out, x);
    const r = (await rt.read(out))[0];
    out.destroy();
    return r;
  };

  const NONFINITE_BITS = [0x7fc00000, 0x7f800001, 0x7fbfffff, 0xffffffff, 0xffc00000, 0x7f800000, 0xff800000];
  const FINITE_BITS = [
    0x7f7fffff, // largest f32
    0xff7fffff,
    0x7f61b1e6, // 3e38
    0x00000001, // smallest denormal
    0x807fffff, // largest negative denormal
    0x00800000, // smallest normal
    0x80000000, // -0
    0x00000000,
    0x3f800000, // 1
  ];

  it('counts every NaN payload and both infinities, and no finite extreme (3e38, denormals, -0)', async () => {
    const bits = [...FINITE_BITS, ...NONFINITE_BITS, ...FINITE_BITS];
    expect(await count(fromBits(bits))).toBe(NONFINITE_BITS.length);
    expect(await count(fromBits(FINITE_BITS))).toBe(0);
    for (const b of NONFINITE_BITS) expect(await count(fromBits([b]))).toBe(1);
    // The reference agrees on the same bits.
    const out = new Uint32Array(1);
    ref.nonfinite_count(out, new Float32Array(Uint32Array.from(bits).buffer), bits.length);
    expect(out[0]).toBe(NONFINITE_BITS.length);
  });

  it('counts NaN, +Inf and -Inf given as numbers (rt.tensor), and 3e38 is finite', async () => {
    const x = rt.tensor([1, Number.NaN, 3e38, Number.POSITIVE_INFINITY, -3e38, 1e-40, Number.NEGATIVE_INFINITY, -0], [2, 4]);
    expect(await count(x)).toBe(3);
  });

  it('finds values at the first and last index and at chunk boundaries of a large tensor, every run the same', async () => {
    const N = 1024 * 1024 + 1;
    const bits = new Uint32Array(N).fill(0x3f800000);
    const at = [0, 255, 256, 1023, 1024, 1025, 1024 * 1024 - 1, N - 1];
    at.forEach((i, k) => {
      bits[i] = NONFINITE_BITS[k % NONFINITE_BITS.length];
    });
    const x = fromBits(bits);
    const runs = [await count(x), await count(x), await count(x)];
    expect(runs).toEqual([at.length, at.length, at.length]);
    x.destroy();
  });

  it('counts a tensor that is all NaN, and one that is clean', async () => {
    const n = 100003;
    expect(await count(rt.tensor(new Float32Array(n).fill(Number.NaN), [n]))).toBe(n);
    expect(await count(rt.tensor(randomArray(new Rng(51), n, { std: 1e30 }), [n]))).toBe(0);
  });

  it('refuses an f32 or wrongly shaped output and a u32 input', () => {
    const x = rt.empty([5]);
    expect(() => nonfinite_count(rt, rt.empty([1], 'f32'), x)).toThrow(/out must be u32, got f32/);
    expect(() => nonfinite_count(rt, rt.empty([2], 'u32'), x)).toThrow(/out has shape \[2\], expected \[1\]/);
    expect(() => nonfinite_count(rt, rt.empty([1], 'u32'), rt.empty([5], 'u32'))).toThrow(/x must be f32, got u32/);
  });

  it('is not reachable with NaN through a JSON request (the command line refuses non-finite input by design)', () => {
    const e = entry('nonfinite_count');
    expect(() => parseRequest(e, { inputs: { x: { shape: [2], data: [1, null] } } })).toThrow(InputError);
  });
});
