/**
 * The kernel benchmark: matmul (each variant) and softmax against the CPU reference, in the same run
 * on the same adapter. Works in Node and in the browser (no Node imports here).
 *
 * Timing: wall clock from the first dispatch to the completed submission (Runtime.sync awaits
 * onSubmittedWorkDone), with several dispatches per timing when one is short, so timer resolution and
 * the ~0.1 ms submit round trip do not dominate. Each variant is checked against the CPU reference
 * on the benchmark's own inputs before it is timed; a wrong variant is reported, not timed.
 */
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { canUseSubgroupMatmul, defaultMatmulVariant, type MatmulVariant, matmul } from '../kernels/matmul.ts';
import { softmax_forward } from '../kernels/softmax.ts';
import { compare } from '../reference/compare.ts';
import * as ref from '../reference/kernels.ts';
import { Rng, randomArray } from '../reference/random.ts';

export interface BenchResult {
  kernel: string;
  impl: 'ours' | 'cpu-reference';
  /** Our kernel's variant (matmul: register | tiled), or the reference's name. */
  variant: string;
  shape: string;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  repeats: number;
  /** Dispatches per timed repeat (the time is divided by it). */
  per_timing: number;
  gflops?: number;
  gbps?: number;
  /** Max abs error against the CPU reference on these inputs (ours only). */
  max_abs_error?: number;
  correct?: boolean;
  /** Whether this variant is the one the training path uses on this adapter. */
  default?: boolean;
}

export interface BenchOptions {
  repeats: number;
  quick?: boolean;
  /** Seconds one figure may take at most; fewer repeats are made past it (at least one). */
  budgetSeconds?: number;
  log?: (line: string) => void;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Time `run` (which does `per` units of work): warm-up, then up to `repeats` timings within the budget. */
async function timeIt(
  run: (per: number) => Promise<void>,
  opts: { repeats: number; budgetMs: number; targetMs?: number },
): Promise<{ times: number[]; per: number }> {
  const t0 = performance.now();
  await run(1); // warm-up (also compiles the pipeline)
  const once = performance.now() - t0;
  const per = Math.max(1, Math.min(50, Math.ceil((opts.targetMs ?? 40) / Math.max(once, 0.01))));
  const times: number[] = [];
  const start = performance.now();
  while (times.length < opts.repeats) {
    const s = performance.now();
    await run(per);
    times.push((performance.now() - s) / per);
    if (performance.now() - start > opts.budgetMs) break;
  }
  return { times, per };
}

function summary(times: number[]) {
  return { median_ms: median(times), min_ms: Math.min(...times), max_ms: Math.max(...times), repeats: times.length };
}

export async function runSuite(rt: Runtime, opts: BenchOptions): Promise<BenchResult[]> {
  const log = opts.log ?? (() => {});
  const budgetMs = (opts.budgetSeconds ?? 20) * 1000;
  const results: BenchResult[] = [];
  const rng = new Rng(1234);
  const chosen = defaultMatmulVariant(rt);
  const sizes = opts.quick ? [256, 512] : [256, 512, 1024];

  for (const n of sizes) {
    const M = n;
    const N = n;
    const K = n;
    const shape = `${M}x${K} · ${K}x${N}`;
    const flops = 2 * M * N * K;
    const aHost = randomArray(rng, M * K);
    const bHost = randomArray(rng, K * N);
    const cRef = new Float32Array(M * N);
    const cpu = await timeIt(
      async (per) => {
        for (let i = 0; i < per; i++) ref.matmul(cRef, aHost, bHost, null, 1, M, N, K);
      },
      { repeats: opts.repeats, budgetMs, targetMs: 0 },
    );
    const cpuSummary = summary(cpu.times);
    results.push({
      kernel: 'matmul',
      impl: 'cpu-reference',
      variant: 'f64 triple loop',
      shape,
      ...cpuSummary,
      per_timing: cpu.per,
      gflops: flops / cpuSummary.median_ms / 1e6,
    });
    log(`matmul ${shape} cpu-reference: ${cpuSummary.median_ms.toFixed(1)} ms`);
    const a = rt.tensor(aHost, [M, K], 'f32', 'bench.a');
    const b = rt.tensor(bHost, [K, N], 'f32', 'bench.b');
    const c = rt.empty([M, N], 'f32', 'bench.c');
    const variants: MatmulVariant[] = canUseSubgroupMatmul(rt) ? ['register', 'subgroup', 'tiled'] : ['register', 'tiled'];
    for (const variant of variants) {
      matmul(rt, c, a, b, { variant });
      const got = await rt.readF32(c);
      const cmp = compare(got, cRef, { atol: 2e-5 * Math.sqrt(K) * 8, rtol: 1e-4 }, `matmul ${variant}`);
      const base = { kernel: 'matmul', impl: 'ours' as const, variant, shape, default: variant === chosen };
      if (!cmp.ok) {
        results.push({
          ...base,
          median_ms: Number.NaN,
          min_ms: Number.NaN,
          max_ms: Number.NaN,
          repeats: 0,
          per_timing: 0,
          correct: false,
          max_abs_error: cmp.maxAbsError,
        });
        log(`matmul ${shape} ${variant}: WRONG, not timed\n${cmp.report}`);
        continue;
      }
      const t = await timeIt(
        async (per) => {
          for (let i = 0; i < per; i++) matmul(rt, c, a, b, { variant });
          await rt.sync();
        },
        { repeats: opts.repeats, budgetMs },
      );
      const s = summary(t.times);
      results.push({
        ...base,
        ...s,
        per_timing: t.per,
        gflops: flops / s.median_ms / 1e6,
        correct: true,
        max_abs_error: cmp.maxAbsError,
      });
      log(`matmul ${shape} ${variant}: ${s.median_ms.toFixed(1)} ms`);
    }
    for (const t of [a, b, c]) t.destroy();
  }

  // softmax over attention-like rows
  {
    const R = 4096;
    const N = 1024;
    const shape = `${R}x${N}`;
    const bytes = 2 * 4 * R * N;
    const xHost = randomArray(rng, R * N, { std: 3 });
    const yRef = new Float32Array(R * N);
    const cpu = await timeIt(
      async (per) => {
        for (let i = 0; i < per; i++) ref.softmax_forward(yRef, xHost, R, N);
      },
      { repeats: opts.repeats, budgetMs, targetMs: 0 },
    );
    const cs = summary(cpu.times);
    results.push({
      kernel: 'softmax',
      impl: 'cpu-reference',
      variant: 'f64 loop',
      shape,
      ...cs,
      per_timing: cpu.per,
      gbps: bytes / cs.median_ms / 1e6,
    });
    log(`softmax ${shape} cpu-reference: ${cs.median_ms.toFixed(1)} ms`);
    const x = rt.tensor(xHost, [R, N], 'f32', 'bench.x');
    const y: Tensor = rt.empty([R, N], 'f32', 'bench.y');
    softmax_forward(rt, y, x);
    const cmp = compare(await rt.readF32(y), yRef, { atol: 1e-6, rtol: 1e-4 }, 'softmax');
    const base = { kernel: 'softmax', impl: 'ours' as const, variant: 'row-per-invocation', shape, default: true };
    if (cmp.ok) {
      const t = await timeIt(
        async (per) => {
          for (let i = 0; i < per; i++) softmax_forward(rt, y, x);
          await rt.sync();
        },
        { repeats: opts.repeats, budgetMs },
      );
      const s = summary(t.times);
      results.push({
        ...base,
        ...s,
        per_timing: t.per,
        gbps: bytes / s.median_ms / 1e6,
        correct: true,
        max_abs_error: cmp.maxAbsError,
      });
      log(`softmax ${shape}: ${s.median_ms.toFixed(1)} ms`);
    } else {
      results.push({
        ...base,
        median_ms: Number.NaN,
        min_ms: Number.NaN,
        max_ms: Number.NaN,
        repeats: 0,
        per_timing: 0,
        correct: false,
        max_abs_error: cmp.maxAbsError,
      });
      log(`softmax: WRONG, not timed\n${cmp.report}`);
    }
    x.destroy();
    y.destroy();
  }
  return results;
}

/** A markdown table; each of our rows also shows its speed-up over the CPU reference of the same shape. */
export function markdownTable(results: BenchResult[]): string {
  const rows = [
    '| kernel | shape | impl | variant | median ms | min–max ms | repeats | GFLOP/s | GB/s | vs CPU reference |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const cpu = results.find((x) => x.kernel === r.kernel && x.shape === r.shape && x.impl === 'cpu-reference');
    const ratio = r.impl === 'ours' && cpu && r.correct ? `${(cpu.median_ms / r.median_ms).toFixed(2)}x` : '';
    const f = (v: number | undefined, d = 2) => (v === undefined || Number.isNaN(v) ? '' : v.toFixed(d));
    rows.push(
      `| ${r.kernel} | ${r.shape} | ${r.impl} | ${r.variant}${r.default ? ' (default here)' : ''}${r.correct === false ? ' WRONG' : ''} | ${f(r.median_ms, 1)} | ${f(r.min_ms, 1)}–${f(r.max_ms, 1)} | ${r.repeats}×${r.per_timing} | ${f(r.gflops)} | ${f(r.gbps)} | ${ratio} |`,
    );
  }
  return rows.join('\n');
}
