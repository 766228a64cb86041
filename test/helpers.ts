/** Helpers shared by the test files (they run in Node and in Chromium: no Node imports). */
import { expect } from 'vitest';
import { compare, type Tolerance } from '../src/reference/compare.ts';
import type { SuiteMetrics } from '../src/train/suite.ts';

/** Assert `actual` matches `expected` under atol + |expected| * rtol; a failure lists the first mismatches. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label: string): void {
  const cmp = compare(actual, expected, tol, label);
  expect(cmp.ok, cmp.report).toBe(true);
}

/**
 * Central differences of loss() with respect to each entry of x (perturbed in place, then restored).
 * The step is the f32-rounded one actually taken, so rounding of x ± h does not bias the quotient.
 */
export function fdGrad(x: Float32Array, loss: () => number, h = 1e-3): Float64Array {
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

/** The held-out mse of a regression run's metrics (throws for another suite's). */
export function mseOf(m: SuiteMetrics): number {
  if (!('mse' in m)) throw new Error('not the metrics of a regression suite');
  return m.mse;
}
