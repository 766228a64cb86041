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
import { LsaModel } from '../models/lsa.ts';
import { lsaPresets, transformerPresets } from '../models/presets.ts';
import { type TransformerConfig, TransformerModel } from '../models/transformer.ts';
import { type LsaParams, lsa_loss_and_grads } from '../reference/lsa.ts';
import { adamw as refAdamW } from '../reference/optim.ts';
import { type TransformerParams, transformer_greedy, transformer_loss_and_grads } from '../reference/transformer.ts';
import { generate } from '../models/generate.ts';
import { AdamW, type AdamWConfig } from '../train/optimizer.ts';
import { matmul, matmulVariantFor, matmulVariantsFor } from '../kernels/matmul.ts';
import { defaultSoftmaxVariant, softmax_forward } from '../kernels/softmax.ts';
import { type Comparison, compare } from '../reference/compare.ts';
import * as ref from '../reference/kernels.ts';
import { Rng, randomArray } from '../reference/random.ts';
import { type CheckCase, findKernel, type KernelEntry } from '../kernels/registry.ts';
import { loadTfjsPeer, type Peer, type PeerOp } from './peer-tfjs.ts';

export interface BenchResult {
  kernel: string;
  impl: 'ours' | 'tfjs-webgpu' | 'cpu-reference';
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
  /** Training steps: examples (LSA) or tokens (transformer) per second. */
  items_per_s?: number;
  items?: 'examples' | 'tokens';
  /** GPU memory held by the timed model and optimizer (training steps). */
  gpu_bytes?: number;
  /**
   * Ours, where the adapter has 'timestamp-query': the GPU time of one call (the sum of its passes'
   * timestamp differences, one unbatched call after the timings), beside the wall-clock median.
   */
  gpu_ms?: number;
  /** Max abs error against the CPU reference on these inputs (ours only). */
  max_abs_error?: number;
  correct?: boolean;
  /** Whether this variant is the one the training path uses on this adapter. */
  default?: boolean;
  /**
   * Timed interleaved with the other side of its comparison (a timing of one, then of the other,
   * round by round), so drift in the machine's speed meets both sides alike: training steps with the
   * CPU reference; the variant in use of matmul and softmax with the peer.
   */
  interleaved?: boolean;
}

export interface BenchOptions {
  repeats: number;
  quick?: boolean;
  /**
   * Tiny shapes (one matmul, 67x61 by 61x71 with both operands transposed; softmax 96x130) and short timings: checks the suite's plumbing (tests),
   * not the speed.
   */
  smoke?: boolean;
  /** Also matmul 4096³ (for real GPUs: minutes on a CPU adapter). */
  large?: boolean;
  /** Also time the peer, tfjs-backend-webgpu, on the same device (default: when it is installed). */
  peer?: boolean;
  /** Also time one training step per model preset (GPU against the CPU reference model). */
  train?: boolean;
  /** Seconds one figure may take at most; fewer repeats are made past it (at least one). */
  budgetSeconds?: number;
  /**
   * Collects the garbage what ran before left (Node: V8's gc, see src/cli/bench.ts), called before
   * every timing and outside it, so that no timing pays for the heap of the one before it: the CPU
   * reference's training step leaves megabytes of Float64Arrays, and our step timed right after it
   * measured 103-106 ms against 97-98 ms alone. Absent (the browser): nothing is done.
   */
  settle?: () => void;
  log?: (line: string) => void;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Time `run` (which does `per` units of work): a warm-up (it also compiles the pipelines), a second
 * run to size `per` so one timing lasts about targetMs (several dispatches per submission and wait,
 * so the fixed submit-to-completion latency is spread out), then up to `repeats` timings within the
 * budget. Long runs (2048³ on a CPU adapter takes seconds) are not run more than they need: a sizing
 * run longer than targetMs is the first timing, and with `noWarmupOverMs` (the CPU reference, which
 * compiles nothing) a first run longer than that is the only timing.
 */
/** Runs per timing (1 to 50) for one timing to last about targetMs, from one run's duration. */
const perTiming = (targetMs: number, onceMs: number) => Math.max(1, Math.min(50, Math.ceil(targetMs / Math.max(onceMs, 0.01))));

export async function timeIt(
  run: (per: number) => Promise<void>,
  opts: { repeats: number; budgetMs: number; targetMs?: number; noWarmupOverMs?: number; settle?: () => void },
): Promise<{ times: number[]; per: number }> {
  const settle = opts.settle ?? (() => {});
  const target = opts.targetMs ?? 250;
  settle();
  const t0 = performance.now();
  await run(1);
  const first = performance.now() - t0;
  if (opts.noWarmupOverMs !== undefined && first > opts.noWarmupOverMs) return { times: [first], per: 1 };
  settle();
  const t1 = performance.now();
  await run(1);
  const once = performance.now() - t1;
  const per = perTiming(target, once);
  const times: number[] = once >= target ? [once] : [];
  const start = performance.now();
  while (times.length < opts.repeats && !(times.length > 0 && performance.now() - start > opts.budgetMs)) {
    settle();
    const s = performance.now();
    await run(per);
    times.push((performance.now() - s) / per);
  }
  return { times, per };
}

function summary(times: number[]) {
  return { median_ms: median(times), min_ms: Math.min(...times), max_ms: Math.max(...times), repeats: times.length };
}

/** What one run of a kernel does, for GFLOP/s and GB/s. */
interface Work {
  flops?: number;
  bytes?: number;
  items?: number;
  itemName?: 'examples' | 'tokens';
}

const rates = (w: Work, ms: number) => ({
  ...(w.flops ? { gflops: w.flops / ms / 1e6 } : {}),
  ...(w.bytes ? { gbps: w.bytes / ms / 1e6 } : {}),
  ...(w.items ? { items_per_s: (w.items / ms) * 1000, items: w.itemName } : {}),
});

interface Figure {
  kernel: string;
  shape: string;
  variant: string;
  work: Work;
  /** GPU memory held by what is timed (training steps: the model and optimizer). */
  gpuBytes?: number;
}

export async function runSuite(rt: Runtime, opts: BenchOptions): Promise<BenchResult[]> {
  const log = opts.log ?? (() => {});
  const settle = opts.settle ?? (() => {});
  const timing = {
    repeats: opts.repeats,
    budgetMs: (opts.budgetSeconds ?? 20) * 1000,
    targetMs: opts.smoke ? 20 : 250,
    settle,
  };
  // The CPU reference runs synchronously: no latency to spread, so shorter timings are enough.
  const cpuTiming = { ...timing, targetMs: Math.min(40, timing.targetMs), noWarmupOverMs: 5000 };
  const results: BenchResult[] = [];

  /** The CPU reference: `run` computes the reference result that our variants are checked against. */
  async function cpu(f: Figure, run: () => void): Promise<void> {
    const t = await timeIt(async (per) => {
      for (let i = 0; i < per; i++) run();
    }, cpuTiming);
    recordCpu(f, t.times, t.per);
  }

  function recordCpu(f: Figure, times: number[], per: number, extra: Partial<BenchResult> = {}): void {
    const s = summary(times);
    results.push({
      kernel: f.kernel,
      impl: 'cpu-reference',
      variant: f.variant,
      shape: f.shape,
      ...s,
      per_timing: per,
      ...rates(f.work, s.median_ms),
      ...extra,
    });
    log(`${f.kernel} ${f.shape} cpu-reference: ${s.median_ms.toFixed(1)} ms`);
  }

  /** One of our kernels: checked against the reference on these inputs first; a wrong one is not timed. */
  async function ours(
    f: Figure,
    isDefault: boolean,
    dispatch: () => void | Promise<void>,
    check: () => Promise<Comparison>,
    cleanup: () => void = () => {},
  ): Promise<void> {
    const cmp = await checkOurs(f, isDefault, dispatch, check, cleanup);
    if (!cmp) return;
    const t = await timeIt(async (per) => {
      for (let i = 0; i < per; i++) await dispatch();
      await rt.sync();
      cleanup();
    }, timing);
    await recordOurs(f, isDefault, t.times, t.per, cmp, dispatch, cleanup);
  }

  const oursBase = (f: Figure, isDefault: boolean) => ({
    kernel: f.kernel,
    impl: 'ours' as const,
    variant: f.variant,
    shape: f.shape,
    default: isDefault,
    ...(f.gpuBytes ? { gpu_bytes: f.gpuBytes } : {}),
  });

  /** Runs ours once and compares it with the reference; a wrong one is recorded as such (undefined). */
  async function checkOurs(
    f: Figure,
    isDefault: boolean,
    dispatch: () => void | Promise<void>,
    check: () => Promise<Comparison>,
    cleanup: () => void,
  ): Promise<Comparison | undefined> {
    await dispatch();
    const cmp = await check();
    cleanup();
    if (!cmp.ok) {
      const nan = Number.NaN;
      results.push({
        ...oursBase(f, isDefault),
        median_ms: nan,
        min_ms: nan,
        max_ms: nan,
        repeats: 0,
        per_timing: 0,
        correct: false,
        max_abs_error: cmp.maxAbsError,
      });
      log(`${f.kernel} ${f.shape} ${f.variant}: WRONG, not timed\n${cmp.report}`);
      return undefined;
    }
    return cmp;
  }

  /** Our timings' figure, with the GPU timestamps of one more call where the adapter has them. */
  async function recordOurs(
    f: Figure,
    isDefault: boolean,
    times: number[],
    per: number,
    cmp: Comparison,
    dispatch: () => void | Promise<void>,
    cleanup: () => void,
    extra: Partial<BenchResult> = {},
  ): Promise<void> {
    const s = summary(times);
    let gpuMs: number | undefined;
    if (rt.startProfile(2048)) {
      await dispatch();
      gpuMs = (await rt.endProfile()).reduce((sum, p) => sum + p.ms, 0);
      cleanup();
    }
    results.push({
      ...oursBase(f, isDefault),
      ...s,
      ...(gpuMs !== undefined ? { gpu_ms: gpuMs } : {}),
      per_timing: per,
      ...rates(f.work, s.median_ms),
      correct: true,
      max_abs_error: cmp.maxAbsError,
      ...extra,
    });
    log(`${f.kernel} ${f.shape} ${f.variant}: ${s.median_ms.toFixed(1)} ms`);
  }

  /**
   * Timings of several sides in rounds (the order rotating each round, every timing after a settle),
   * after a warm-up and a sizing run of each, until `repeats` rounds or the budget: a slow or fast
   * spell of this shared machine meets every side. Each side: how to run it `per` times (to
   * completion) and the duration one timing aims at.
   */
  async function alternate(
    sides: { run: (per: number) => void | Promise<void>; targetMs: number }[],
  ): Promise<{ times: number[][]; per: number[] }> {
    const timed = async (run: (per: number) => void | Promise<void>, per: number) => {
      settle();
      const t0 = performance.now();
      await run(per);
      return (performance.now() - t0) / per;
    };
    for (const side of sides) await side.run(1);
    const per: number[] = [];
    for (const side of sides) per.push(perTiming(side.targetMs, await timed(side.run, 1)));
    const times: number[][] = sides.map(() => []);
    const start = performance.now();
    for (let r = 0; r < timing.repeats && !(r > 0 && performance.now() - start > timing.budgetMs); r++)
      for (let j = 0; j < sides.length; j++) {
        const k = (j + r) % sides.length;
        times[k].push(await timed(sides[k].run, per[k]));
      }
    return { times, per };
  }

  /** `per` runs of one of our dispatches, to their completion: one side of `alternate`. */
  const ourRuns = (dispatch: () => void) => async (per: number) => {
    for (let i = 0; i < per; i++) dispatch();
    await rt.sync();
  };

  /**
   * The CPU reference and ours timed interleaved (training steps, where the ratio is the figure).
   */
  async function interleaved(
    fCpu: Figure,
    cpuRun: () => void,
    f: Figure,
    dispatch: () => void,
    check: () => Promise<Comparison>,
  ): Promise<void> {
    const cmp = await checkOurs(f, true, dispatch, check, () => {});
    if (!cmp) return cpu(fCpu, cpuRun);
    const t = await alternate([
      {
        run: (per) => {
          for (let i = 0; i < per; i++) cpuRun();
        },
        targetMs: cpuTiming.targetMs,
      },
      { run: ourRuns(dispatch), targetMs: timing.targetMs },
    ]);
    recordCpu(fCpu, t.times[0], t.per[0], { interleaved: true });
    await recordOurs(f, true, t.times[1], t.per[1], cmp, dispatch, () => {}, { interleaved: true });
  }

  /**
   * Our variant in use and the peer, each checked against the reference first, then timed
   * interleaved (the ratio against the peer is the figure the issue sets a bar on); without a correct
   * result from ours, the peer is timed alone.
   */
  async function oursWithPeer(
    f: Figure,
    dispatch: () => void,
    check: () => Promise<Comparison>,
    fPeer: Figure,
    op: PeerOp,
    checkPeer: (got: Float32Array) => Comparison,
  ): Promise<void> {
    const cmp = await checkOurs(f, true, dispatch, check, () => {});
    if (!cmp) return peerFigure(fPeer, op, checkPeer);
    const peerCmp = checkPeer(await op.read());
    const t = await alternate([
      { run: ourRuns(dispatch), targetMs: timing.targetMs },
      { run: (per) => op.run(per), targetMs: timing.targetMs },
    ]);
    await recordOurs(f, true, t.times[0], t.per[0], cmp, dispatch, () => {}, { interleaved: true });
    recordPeer(fPeer, t.times[1], t.per[1], peerCmp, { interleaved: true });
  }

  /** The peer on the same inputs: its output checked against the reference, then timed like ours. */
  async function peerFigure(f: Figure, op: PeerOp, check: (got: Float32Array) => Comparison): Promise<void> {
    const cmp = check(await op.read());
    const t = await timeIt((per) => op.run(per), timing);
    recordPeer(f, t.times, t.per, cmp);
  }

  function recordPeer(f: Figure, times: number[], per: number, cmp: Comparison, extra: Partial<BenchResult> = {}): void {
    const s = summary(times);
    results.push({
      kernel: f.kernel,
      impl: 'tfjs-webgpu',
      variant: f.variant,
      shape: f.shape,
      ...s,
      per_timing: per,
      ...rates(f.work, s.median_ms),
      correct: cmp.ok,
      max_abs_error: cmp.maxAbsError,
      ...extra,
    });
    log(
      `${f.kernel} ${f.shape} tfjs-webgpu ${f.variant}: ${s.median_ms.toFixed(1)} ms${cmp.ok ? '' : ' (differs from the reference)'}`,
    );
  }

  /**
   * A registry kernel (src/kernels/registry.ts) at its largest test case: ours (each call allocates
   * its outputs, as the registry's entry does; freed after each timing) against its CPU reference, in
   * GB/s of the inputs read and outputs written.
   */
  async function registryFigure(entry: KernelEntry): Promise<void> {
    const c = entry.cases.reduce((x, y) => (caseSize(y) > caseSize(x) ? y : x));
    const options = c.options ?? {};
    const host = entry.sample(new Rng(7), c.dims, options);
    const want = entry.cpu(host, options);
    const bytes = [...Object.values(host), ...Object.values(want)].reduce((n, t) => n + t.data.byteLength, 0);
    const figure = {
      kernel: entry.name,
      shape: Object.entries(c.dims)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
      work: { bytes },
    };
    await cpu({ ...figure, variant: 'reference' }, () => entry.cpu(host, options));
    const gpuInputs: Record<string, Tensor> = {};
    for (const [k, h] of Object.entries(host)) {
      gpuInputs[k] = rt.tensor(
        h.data,
        h.shape,
        entry.inputs.find((i) => i.name === k)?.dtype ?? 'f32',
        `bench.${entry.name}.${k}`,
      );
    }
    let made: Record<string, Tensor>[] = [];
    const tol = entry.tolerance(c.dims, options);
    await ours(
      { ...figure, variant: 'registry call' },
      true,
      () => {
        made.push(entry.gpu(rt, gpuInputs, options, host));
      },
      async () => {
        const worst = { ok: true, maxAbsError: 0, maxRelError: 0, mismatches: 0, report: '' };
        for (const [k, w] of Object.entries(want)) {
          const got = made[0]?.[k];
          const cmp = compare(got ? await rt.read(got) : [], w.data, tol, `${entry.name}.${k}`);
          if (!cmp.ok) return cmp;
          worst.maxAbsError = Math.max(worst.maxAbsError, cmp.maxAbsError);
        }
        return worst;
      },
      () => {
        for (const outs of made) for (const t of Object.values(outs)) t.destroy();
        made = [];
      },
    );
    for (const t of Object.values(gpuInputs)) t.destroy();
  }

  let peer: Peer | undefined;
  if (opts.peer !== false) {
    const loaded = await loadTfjsPeer(rt);
    if ('unavailable' in loaded) log(`peer not measured: ${loaded.unavailable}`);
    else {
      peer = loaded;
      log(`peer: tfjs-backend-webgpu ${peer.version} on the same device`);
    }
  }

  const rng = new Rng(1234);
  for (const mm of matmulCases(opts)) {
    const { M, K, N, transA, transB } = mm;
    const chosen = matmulVariantFor(rt, M, N, K, transB);
    const variants = matmulVariantsFor(rt, N, transB);
    const figure = { kernel: 'matmul', shape: matmulShape(mm), work: { flops: 2 * M * N * K } };
    const aHost = randomArray(rng, M * K);
    const bHost = randomArray(rng, K * N);
    // Past 2048³ the single-threaded reference would take minutes: it computes a sample of C's
    // entries (not timed), and every output is checked on that sample.
    const check = await matmulReference(rng, aHost, bHost, mm, M * N * K > 2048 ** 3, (cRef) =>
      cpu({ ...figure, variant: 'f64 triple loop' }, () => ref.matmul(cRef, aHost, bHost, null, 1, M, N, K, { transA, transB })),
    );
    const a = rt.tensor(aHost, transA ? [K, M] : [M, K], 'f32', 'bench.a');
    const b = rt.tensor(bHost, transB ? [N, K] : [K, N], 'f32', 'bench.b');
    const c = rt.empty([M, N], 'f32', 'bench.c');
    const op = peer?.matmul(aHost, bHost, M, K, N, transA, transB);
    for (const variant of variants) {
      const f = { ...figure, variant };
      const dispatch = () => matmul(rt, c, a, b, { variant, transA, transB });
      const verify = async () => check(await rt.readF32(c), `matmul ${variant}`);
      // The variant in use is timed interleaved with the peer (the ratio the issue sets a bar on).
      if (op && variant === chosen)
        await oursWithPeer(f, dispatch, verify, { ...figure, variant: 'matMul' }, op, (got) => check(got, 'tfjs matMul'));
      else await ours(f, variant === chosen, dispatch, verify);
    }
    op?.dispose();
    for (const t of [a, b, c]) t.destroy();
  }

  // softmax over rows: the issue's 4096x1024, and the tiny transformer's attention scores (B·H·T rows of T)
  const softmaxShapes: [number, number][] = opts.smoke
    ? [[96, 130]]
    : [
        [4096, 1024],
        [8 * 4 * 64, 64],
      ];
  for (const [R, N] of softmaxShapes) {
    const figure = { kernel: 'softmax', shape: `${R}x${N}`, work: { bytes: 2 * 4 * R * N } };
    const xHost = randomArray(rng, R * N, { std: 3 });
    const yRef = new Float32Array(R * N);
    await cpu({ ...figure, variant: 'f64 loop' }, () => ref.softmax_forward(yRef, xHost, R, N));
    const x = rt.tensor(xHost, [R, N], 'f32', 'bench.x');
    const y = rt.empty([R, N], 'f32', 'bench.y');
    const tol = { atol: 1e-6, rtol: 1e-4 };
    const inUse = defaultSoftmaxVariant(rt, N);
    const op = peer?.softmax(xHost, R, N);
    for (const [variant, name] of [
      ['row', 'row-per-invocation'],
      ['workgroup', 'workgroup-per-row'],
    ] as const) {
      const f = { ...figure, variant: name };
      const dispatch = () => softmax_forward(rt, y, x, { variant });
      const verify = async () => compare(await rt.readF32(y), yRef, tol, `softmax (${name})`);
      if (op && variant === inUse)
        await oursWithPeer(f, dispatch, verify, { ...figure, variant: 'softmax' }, op, (got) =>
          compare(got, yRef, tol, 'tfjs softmax'),
        );
      else await ours(f, variant === inUse, dispatch, verify);
    }
    op?.dispose();
    x.destroy();
    y.destroy();
  }
  peer?.destroy();
  for (const entry of registryKernels(opts)) await registryFigure(entry);
  if (opts.train) await trainingSteps(rt, cpu, ours, interleaved, opts.smoke === true);
  return results;
}

/** The kernels timed through the registry: the training step's memory-bound kernels (smoke: two). */
const REGISTRY_KERNELS = [
  'layernorm',
  'layernorm_backward',
  'cross_entropy',
  'cross_entropy_backward',
  'gelu',
  'attention',
  'attention_backward',
  'adamw',
  'token_logprobs',
  'advantages',
  'policy_loss_backward',
  'gaussian_reinforce_backward',
  'sample_tokens',
];

function registryKernels(opts: BenchOptions): KernelEntry[] {
  const names = opts.smoke ? ['layernorm', 'adamw'] : REGISTRY_KERNELS;
  return names.map((n) => findKernel(n));
}

const caseSize = (c: CheckCase) => Object.values(c.dims).reduce((p, v) => p * v, 1);

/** `count` distinct indices below `n`, ascending (all of them when n <= count). */
export function sampleIndices(rng: Rng, n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const set = new Set<number>();
  while (set.size < count) set.add(rng.int(n));
  return [...set].sort((x, y) => x - y);
}

/**
 * A check of matmul outputs against the CPU reference, with the benchmark's tolerance: on every
 * entry of C, computed by `full` (which the caller may time), or where `sampled`, on 2048 entries
 * drawn from `rng` and computed here in f64 (matmulEntry).
 */
export async function matmulReference(
  rng: Rng,
  aHost: Float32Array,
  bHost: Float32Array,
  dims: { M: number; K: number; N: number; transA: boolean; transB: boolean },
  sampled: boolean,
  full: (cRef: Float32Array) => void | Promise<void>,
): Promise<(got: Float32Array, label: string) => Comparison> {
  const { M, K, N, transA, transB } = dims;
  const tol = { atol: 2e-5 * Math.sqrt(K) * 8, rtol: 1e-4 };
  const cRef = new Float32Array(M * N);
  const at = sampled ? sampleIndices(rng, M * N, 2048) : undefined;
  if (at) for (const i of at) cRef[i] = matmulEntry(aHost, bHost, M, N, K, transA, transB, i);
  else await full(cRef);
  return (got, label) =>
    at
      ? compare(
          at.map((i) => got[i]),
          at.map((i) => cRef[i]),
          tol,
          `${label} (sample)`,
        )
      : compare(got, cRef, tol, label);
}

/** One entry of op(A)·op(B) (flat index into C), in f64: the reference on a sample. */
export function matmulEntry(
  a: Float32Array,
  b: Float32Array,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  i: number,
): number {
  const m = Math.floor(i / N);
  const n = i % N;
  let dot = 0;
  for (let k = 0; k < K; k++) dot += (transA ? a[k * M + m] : a[m * K + k]) * (transB ? b[n * K + k] : b[k * N + n]);
  return dot;
}

interface MatmulCase {
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  /** Where the shape comes from (a model's layer). */
  what?: string;
}

/**
 * The matmul figures: square sizes, each transpose variant at 512³, and the tiny transformer's own
 * shapes (B·T = 512 rows, width 64, MLP 256, vocabulary 32), forward and the two backward products.
 */
function matmulCases(opts: BenchOptions): MatmulCase[] {
  const nn = { transA: false, transB: false };
  if (opts.smoke) return [{ M: 67, K: 61, N: 71, transA: true, transB: true }];
  const square = opts.quick ? [256, 512] : [256, 512, 1024, 2048, ...(opts.large ? [4096] : [])];
  const t = 512;
  return [
    ...square.map((n) => ({ M: n, K: n, N: n, ...nn })),
    { M: t, K: t, N: t, transA: false, transB: true },
    { M: t, K: t, N: t, transA: true, transB: false },
    { M: t, K: t, N: t, transA: true, transB: true },
    ...(opts.quick
      ? []
      : [
          { M: 512, K: 64, N: 192, ...nn, what: 'tiny transformer qkv' },
          { M: 512, K: 64, N: 256, ...nn, what: 'tiny transformer MLP up' },
          { M: 512, K: 256, N: 64, ...nn, what: 'tiny transformer MLP down' },
          { M: 512, K: 64, N: 32, ...nn, what: 'tiny transformer head' },
          { M: 64, K: 512, N: 256, transA: true, transB: false, what: 'tiny transformer MLP up, dW = Xᵀ·dY' },
          { M: 512, K: 256, N: 64, transA: false, transB: true, what: 'tiny transformer MLP up, dX = dY·Wᵀ' },
        ]),
  ];
}

/** "MxK · KxN", with ᵀ on a transposed operand (stored the other way round), and where it comes from. */
function matmulShape(c: MatmulCase): string {
  const a = c.transA ? `(${c.K}x${c.M})ᵀ` : `${c.M}x${c.K}`;
  const b = c.transB ? `(${c.N}x${c.K})ᵀ` : `${c.K}x${c.N}`;
  return `${a} · ${b}${c.what ? ` (${c.what})` : ''}`;
}

type TimeCpu = (f: Figure, run: () => void) => Promise<void>;
type TimeOurs = (
  f: Figure,
  isDefault: boolean,
  dispatch: () => void | Promise<void>,
  check: () => Promise<Comparison>,
) => Promise<void>;
type TimeInterleaved = (
  fCpu: Figure,
  cpuRun: () => void,
  f: Figure,
  dispatch: () => void,
  check: () => Promise<Comparison>,
) => Promise<void>;

/** The reference AdamW over f64 parameter records (f32 state, like the GPU's). */
function referenceOptimizer(
  params: Record<string, Float64Array>,
  opt: AdamWConfig,
): (grads: Record<string, Float64Array>) => void {
  const f32 = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, Float32Array.from(p)]));
  const m = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, new Float32Array(p.length)]));
  const v = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, new Float32Array(p.length)]));
  let step = 0;
  return (grads) => {
    step += 1;
    let ss = 0;
    for (const g of Object.values(grads)) for (const x of g) ss += x * x;
    for (const k of Object.keys(params)) {
      refAdamW(f32[k], m[k], v[k], Float32Array.from(grads[k]), Float32Array.of(ss), f32[k].length, { ...opt, step });
      params[k].set(f32[k]);
    }
  };
}

/** The loss of one forward and backward on the GPU, against the reference loss on the same inputs. */
async function lossCheck(rt: Runtime, run: () => void, loss: Tensor, want: number, label: string): Promise<Comparison> {
  run();
  return compare(await rt.readF32(loss), [want], { atol: 1e-6, rtol: 1e-4 }, `${label} loss`);
}

/**
 * The transformer the training-step and generation figures use: the tiny preset, or with `smoke`
 * (the suite's plumbing in tests) a far smaller one.
 */
function benchTransformer(smoke: boolean): { name: string; config: TransformerConfig; B: number; T: number } {
  if (smoke) return { name: 'smoke', config: { vocab: 16, context: 16, dModel: 16, layers: 1, heads: 2 }, B: 2, T: 16 };
  return { name: 'tiny', ...transformerPresets.tiny };
}

/**
 * One training step (forward, backward, AdamW) per model preset: on the GPU in one submission, and
 * with the CPU reference model and reference AdamW, timed interleaved. Before timing, the GPU's loss
 * at the initial parameters is checked against the reference's on the same batch.
 */
async function trainingSteps(
  rt: Runtime,
  cpu: TimeCpu,
  ours: TimeOurs,
  interleaved: TimeInterleaved,
  smoke: boolean,
): Promise<void> {
  const opt: AdamWConfig = { lr: 1e-3, maxNorm: 1 };

  /** Time one model: the reference step on its f64 twin, then ours, after checking the first loss. */
  async function timeModel(
    model: LsaModel | TransformerModel,
    figure: Omit<Figure, 'variant'>,
    reference: (params: Record<string, Float64Array>) => { loss: number; grads: Record<string, Float64Array> },
  ): Promise<void> {
    const params: Record<string, Float64Array> = {};
    for (const [k, t] of Object.entries(model.params.views)) params[k] = Float64Array.from(await rt.readF32(t));
    const want = reference(params).loss;
    const refStep = referenceOptimizer(params, opt);
    const check = await lossCheck(rt, () => model.forwardBackward(), model.loss, want, figure.shape);
    const gpuOpt = new AdamW(rt, model.params, model.grads, opt);
    await interleaved(
      { ...figure, variant: 'f64 model + AdamW' },
      () => refStep(reference(params).grads),
      { ...figure, variant: 'one submission', gpuBytes: model.bytes + 2 * model.params.all.byteLength },
      () =>
        rt.batch('train step', () => {
          model.forwardBackward();
          gpuOpt.update();
        }),
      async () => check,
    );
    model.destroy();
    gpuOpt.destroy();
  }

  for (const [name, cfg] of Object.entries(lsaPresets)) {
    const shape = { B: cfg.batch, n: cfg.n, d: cfg.d, k: cfg.k ?? cfg.d };
    const rng = new Rng(3);
    const X = randomArray(rng, shape.B * shape.n * shape.d);
    const y = randomArray(rng, shape.B * shape.n);
    const w = randomArray(rng, shape.B * shape.d);
    const model = new LsaModel(rt, cfg);
    model.setBatch(X, y, w);
    await timeModel(
      model,
      {
        kernel: 'train step',
        shape: `LSA ${name} d=${shape.d} n=${shape.n} B=${shape.B}`,
        work: { items: shape.B, itemName: 'examples' },
      },
      (params) => lsa_loss_and_grads(params as LsaParams, X, y, w, shape),
    );
  }
  await generation(rt, cpu, ours, smoke);
  {
    const { name, config, B, T } = benchTransformer(smoke);
    const rng = new Rng(4);
    const tokens = Array.from({ length: B * T }, () => rng.int(config.vocab));
    const targets = Array.from({ length: B * T }, () => rng.int(config.vocab));
    const model = new TransformerModel(rt, config, { B, T });
    model.setBatch(tokens, targets);
    await timeModel(
      model,
      {
        kernel: 'train step',
        shape: `transformer ${name} C=${config.dModel} L=${config.layers} H=${config.heads} B=${B} T=${T}`,
        work: { items: B * T, itemName: 'tokens' },
      },
      (params) => transformer_loss_and_grads(params, config, tokens, targets, null, B, T),
    );
  }
}

/**
 * Generation with the tiny transformer (smoke: benchTransformer's small one; B sequences, prompts
 * of T/4 tokens, greedy to the end of the context): ours with the KV cache (the default) and with a full forward per token, against the CPU
 * reference model (a full f64 forward per token: it has no cache). The parameters are moved away
 * from the init so the logits have clear maxima, and both of ours must give the reference's tokens.
 */
async function generation(rt: Runtime, cpu: TimeCpu, ours: TimeOurs, smoke: boolean): Promise<void> {
  const { name, config, B, T } = benchTransformer(smoke);
  const model = new TransformerModel(rt, config, { B, T });
  const rng = new Rng(5);
  const params: TransformerParams = {};
  for (const [name, t] of Object.entries(model.params.views)) {
    const moved = Float32Array.from(await rt.readF32(t), (v) => (/ln\d?f?\.w$/.test(name) ? 1 : v + 0.5 * rng.normal()));
    rt.write(t, moved);
    params[name] = Float64Array.from(moved);
  }
  const promptLength = Math.max(1, Math.floor(T / 4));
  const maxNew = T - promptLength;
  const prompts = Array.from({ length: B }, () => Array.from({ length: promptLength }, () => rng.int(config.vocab)));
  const figure = {
    kernel: 'generate',
    shape: `transformer ${name} C=${config.dModel} L=${config.layers} B=${B}: ${promptLength}-token prompts + ${maxNew} new tokens`,
    work: { items: B * maxNew, itemName: 'tokens' as const },
  };
  let want: number[][] = [];
  await cpu({ ...figure, variant: 'f64 model, full forward per token' }, () => {
    want = prompts.map((p) => transformer_greedy(params, config, p, maxNew));
  });
  for (const cache of [true, false]) {
    let got: number[][] = [];
    const run = async () => {
      got = await generate(rt, model, prompts, { maxNew, temperature: 0, seed: 1, step: 0, pad: 0, cache });
    };
    const check = async (): Promise<Comparison> => {
      const flat = (x: number[][]) => Float32Array.from(x.flat());
      return compare(flat(got), flat(want), { atol: 0, rtol: 0 }, `generate (${cache ? 'KV cache' : 'full forward'}) tokens`);
    };
    await ours({ ...figure, variant: cache ? 'KV cache' : 'full forward per token', gpuBytes: model.bytes }, cache, run, check);
  }
  model.destroy();
}

/** The figure of `impl` for the same kernel and shape as `r`, when it was timed. */
function timedBeside(results: BenchResult[], r: BenchResult, impl: BenchResult['impl']): BenchResult | undefined {
  const o = results.find((x) => x.kernel === r.kernel && x.shape === r.shape && x.impl === impl);
  return o && Number.isFinite(o.median_ms) ? o : undefined;
}

/**
 * A markdown table; each of our rows also shows its speed-up over the CPU reference and over the
 * peer (tfjs-backend-webgpu) of the same shape, measured in the same run.
 */
export function markdownTable(results: BenchResult[]): string {
  const rows = [
    '| kernel | shape | impl | variant | median ms | min–max ms | repeats | GPU ms (timestamps) | GFLOP/s | GB/s | items/s | vs CPU reference | vs tfjs-webgpu | GPU memory |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const ratio = (impl: BenchResult['impl']) => {
      const other = r.impl === 'ours' && r.correct ? timedBeside(results, r, impl) : undefined;
      return other ? `${(other.median_ms / r.median_ms).toFixed(2)}x` : '';
    };
    const f = (v: number | undefined, d = 2) => (v === undefined || Number.isNaN(v) ? '' : v.toFixed(d));
    rows.push(
      `| ${r.kernel} | ${r.shape} | ${r.impl} | ${r.variant}${r.default ? ' (default here)' : ''}${r.correct === false ? ' WRONG' : ''} | ${f(r.median_ms, 1)} | ${f(r.min_ms, 1)}–${f(r.max_ms, 1)} | ${r.repeats}×${r.per_timing} | ${f(r.gpu_ms)} | ${f(r.gflops)} | ${f(r.gbps)} | ${r.items_per_s ? `${f(r.items_per_s, 0)} ${r.items}` : ''} | ${ratio('cpu-reference')} | ${ratio('tfjs-webgpu')} |${r.gpu_bytes ? ` ${(r.gpu_bytes / 2 ** 20).toFixed(1)} MiB |` : ' |'}`,
    );
  }
  return rows.join('\n');
}

/**
 * The headline ratios: for each shape, our variant in use against the peer's figure and the CPU
 * reference's (one line each; a peer whose output differed from the reference is marked).
 */
export function ratioSummary(results: BenchResult[]): string[] {
  const lines: string[] = [];
  for (const r of results.filter((x) => x.impl === 'ours' && x.default && x.correct)) {
    const parts: string[] = [];
    for (const impl of ['tfjs-webgpu', 'cpu-reference'] as const) {
      const o = timedBeside(results, r, impl);
      if (o)
        parts.push(`${(o.median_ms / r.median_ms).toFixed(2)}x ${impl}${o.correct === false ? ' (whose output differs)' : ''}`);
    }
    if (parts.length) lines.push(`${r.kernel} ${r.shape}: ours (${r.variant}) ${parts.join(', ')}`);
  }
  return lines;
}
