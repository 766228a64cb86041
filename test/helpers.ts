/** Helpers shared by the test files (they run in Node and in Chromium: no Node imports). */
import { expect } from 'vitest';
import { compare, type Tolerance } from '../src/reference/compare.ts';
import { Rng } from '../src/reference/random.ts';
import type { SuiteMetrics } from '../src/train/suite.ts';

/** Assert `actual` matches `expected` under atol + |expected| * rtol; a failure lists the first mismatches. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label: string): void {
  const cmp = compare(actual, expected, tol, label);
  expect(cmp.ok, cmp.report).toBe(true);
}

/**
 * Central differences of loss() with respect to each entry of x (perturbed in place, then restored).
 * The step is the one actually taken after x ± h is rounded to x's precision (f32 or f64), so that
 * rounding does not bias the quotient.
 */
export function fdGrad(x: Float32Array | Float64Array, loss: () => number, h = 1e-3): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const xp = x[i];
    const lp = loss();
    x[i] = v - h;
    const xm = x[i];
    const lm = loss();
    x[i] = v;
    grad[i] = (lp - lm) / (xp - xm);
  }
  return grad;
}

/**
 * f64 parameters away from the init, so that every path carries a sizeable gradient (at the 0.02-scale
 * init most gradients are tiny and a wrong formula could hide under atol): matrices N(0, 0.4^2), biases
 * N(0, 0.2^2), layernorm weights (h*.ln1.w, h*.ln2.w, lnf.w) 1 + N(0, 0.3^2).
 */
export function paramsAwayFromInit(shapes: { name: string; shape: number[] }[], seed: number): Record<string, Float64Array> {
  const rng = new Rng(seed);
  const params: Record<string, Float64Array> = {};
  for (const { name, shape } of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isLnWeight = /^(h\d+\.ln[12]|lnf)\.w$/.test(name);
    const std = shape.length === 2 ? 0.4 : isLnWeight ? 0.3 : 0.2;
    params[name] = Float64Array.from({ length: n }, () => (isLnWeight ? 1 : 0) + std * rng.normal());
  }
  return params;
}

/** The held-out mse of a regression run's metrics (throws for another suite's). */
export function mseOf(m: SuiteMetrics): number {
  if (!('mse' in m)) throw new Error('not the metrics of a regression suite');
  return m.mse;
}
