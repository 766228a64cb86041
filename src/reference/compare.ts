/**
 * One comparison rule for every kernel: |actual - expected| <= atol + |expected| * rtol,
 * elementwise. A mismatch report names the first failing indices and their values.
 */
export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Comparison {
  ok: boolean;
  maxAbsError: number;
  /** Normwise relative error max|a - e| / max|e| (informational; the rule above decides). */
  maxRelError: number;
  mismatches: number;
  /** Human-readable report of the first mismatches (empty when ok). */
  report: string;
}

export function compare(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  label = 'tensor',
  showFirst = 5,
): Comparison {
  if (actual.length !== expected.length) {
    return {
      ok: false,
      maxAbsError: Number.POSITIVE_INFINITY,
      maxRelError: Number.POSITIVE_INFINITY,
      mismatches: Math.max(actual.length, expected.length),
      report: `${label}: length ${actual.length} but the reference has ${expected.length}`,
    };
  }
  let maxAbs = 0;
  let maxRef = 0;
  let mismatches = 0;
  const lines: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const err = Math.abs(a - e);
    const bad = !(err <= tol.atol + Math.abs(e) * tol.rtol) && !(a === e); // NaN fails; equal infinities pass
    if (Number.isFinite(e)) maxRef = Math.max(maxRef, Math.abs(e));
    if (Number.isFinite(err)) maxAbs = Math.max(maxAbs, err);
    else if (bad) maxAbs = Number.POSITIVE_INFINITY;
    if (bad) {
      mismatches++;
      if (lines.length < showFirst) lines.push(`  [${i}] got ${a}, expected ${e} (|diff| ${err.toExponential(3)})`);
    }
  }
  const report =
    mismatches === 0
      ? ''
      : `${label}: ${mismatches} of ${expected.length} values outside atol ${tol.atol} + |ref|*rtol ${tol.rtol}; first:\n${lines.join('\n')}`;
  const maxRel = maxAbs === 0 ? 0 : maxAbs / maxRef;
  return { ok: mismatches === 0, maxAbsError: maxAbs, maxRelError: maxRel, mismatches, report };
}
