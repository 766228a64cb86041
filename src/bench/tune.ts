/**
 * The kernel tuner: on this device, for each shape class of matmul (src/kernels/matmul.ts: whether B
 * can be read as vec4s; small, large or huge) and of softmax (src/kernels/softmax.ts: rows shorter than
 * 128 or not), every variant that can compute a representative problem is checked against the CPU
 * reference and timed (the benchmark's timing), and the fastest correct one is chosen (the adapter's
 * default stays unless another is faster by TUNE_MARGIN). The result
 * names the adapter it was measured on: a cache keeps one per adapter (a file in Node, browser
 * storage in the page), and a device whose adapter has no entry runs the defaults until it is
 * tuned. The training path only looks the choices up (setMatmulTuning, setSoftmaxTuning).
 */
import type { AdapterReport } from '../device/index.ts';
import type { Runtime } from '../gpu/runtime.ts';
import {
  defaultMatmulVariant,
  MATMUL_CLASSES,
  type MatmulClass,
  type MatmulVariant,
  matmul,
  matmulVariantsFor,
  setMatmulTuning,
} from '../kernels/matmul.ts';
import {
  SOFTMAX_CLASSES,
  type SoftmaxClass,
  type SoftmaxVariant,
  defaultSoftmaxVariant,
  setSoftmaxTuning,
  softmax_forward,
} from '../kernels/softmax.ts';
import { isCpuAdapter } from '../kernels/common.ts';
import { compare } from '../reference/compare.ts';
import * as ref from '../reference/kernels.ts';
import { Rng, randomArray } from '../reference/random.ts';
import { matmulReference, median, timeIt } from './suite.ts';

export interface Tuning {
  /** The adapter the choices were measured on (adapterKey). */
  adapter: string;
  tunedAt: string;
  matmul: Partial<Record<MatmulClass, MatmulVariant>>;
  /** Per class: the product timed, and each variant's median ms (null: differed from the reference). */
  measured: Partial<Record<MatmulClass, { shape: string; ms: Partial<Record<MatmulVariant, number | null>> }>>;
  /** The same for softmax (absent from tunings cached before softmax was tuned: its defaults apply). */
  softmax?: Partial<Record<SoftmaxClass, SoftmaxVariant>>;
  measuredSoftmax?: Partial<Record<SoftmaxClass, { shape: string; ms: Partial<Record<SoftmaxVariant, number | null>> }>>;
}

/**
 * How much faster than the adapter's default a variant must be to replace it: variants timed one
 * after another on this shared machine differ by a few percent from noise alone (one full run chose
 * subgroup-vec4 over subgroup on 63.7 against 64.1 ms, and the benchmark minutes later timed them
 * 99 and 127 ms), so a choice inside that spread would flip from run to run.
 */
export const TUNE_MARGIN = 0.05;

/**
 * The variant to use: the fastest among those timed (null: differed from the reference), unless the
 * adapter's default is correct and within TUNE_MARGIN of it; undefined when none was correct.
 */
export function choose<V extends string>(ms: Partial<Record<V, number | null>>, incumbent: V): V | undefined {
  const best = (Object.entries(ms) as [V, number | null][])
    .filter((e): e is [V, number] => e[1] !== null)
    .sort((x, y) => x[1] - y[1])[0];
  if (!best) return undefined;
  const own = ms[incumbent];
  return typeof own === 'number' && own <= best[1] * (1 + TUNE_MARGIN) ? incumbent : best[0];
}

/**
 * What "the same adapter" means for a cached tuning. Robustness checks off (Node's default) is a
 * key of its own: the checks weigh on the variants unequally (they tax every load).
 */
export function adapterKey(r: AdapterReport): string {
  const subgroups = r.features.includes('subgroups') ? 'subgroups' : 'no-subgroups';
  const parts = [r.vendor, r.architecture, r.device, r.description, r.isFallbackAdapter ? 'fallback' : 'hardware', subgroups];
  return [...parts, ...(r.robustness === false ? ['robustness off'] : [])].join(' | ');
}

/**
 * The product timed for each class: [M, K, N, transB]. Huge products at 2048³ on a GPU (256 of the
 * largest tiles), at 1024³ on a CPU adapter, where 2048³ takes seconds a variant.
 */
function representative(cls: MatmulClass, quick: boolean, cpu: boolean): [number, number, number, boolean] {
  const n = cls.endsWith('small') ? 64 : cls.endsWith('large') ? (quick ? 136 : 512) : quick ? 200 : cpu ? 1024 : 2048;
  return cls.startsWith('vec4') ? [n, n, n, false] : [n, n, n, true];
}

/**
 * Each variant of one problem: run once and compared with the reference (a mismatch is recorded as
 * null, never chosen), then timed; `label` names the class and problem in the log lines.
 */
async function timeVariants<V extends string>(
  rt: Runtime,
  variants: readonly V[],
  run: (variant: V) => void,
  check: () => Promise<boolean>,
  label: string,
  timing: Parameters<typeof timeIt>[1],
  log: (line: string) => void,
): Promise<Partial<Record<V, number | null>>> {
  const ms: Partial<Record<V, number | null>> = {};
  for (const variant of variants) {
    run(variant);
    if (!(await check())) {
      ms[variant] = null;
      log(`tune ${label} ${variant}: differs from the reference, not chosen`);
      continue;
    }
    const t = await timeIt(async (per) => {
      for (let i = 0; i < per; i++) run(variant);
      await rt.sync();
    }, timing);
    const m = median(t.times);
    ms[variant] = m;
    log(`tune ${label} ${variant}: ${m.toFixed(2)} ms`);
  }
  return ms;
}

/** Tune every matmul and softmax class on `rt` (quick: smaller problems and timings, for tests). */
export async function tuneKernels(
  rt: Runtime,
  opts: { quick?: boolean; repeats?: number; log?: (line: string) => void } = {},
): Promise<Tuning> {
  const log = opts.log ?? (() => {});
  const timing = {
    repeats: opts.repeats ?? (opts.quick ? 2 : 5),
    budgetMs: opts.quick ? 300 : 5000,
    targetMs: opts.quick ? 20 : 150,
  };
  const rng = new Rng(99);
  const tuning: Tuning = {
    adapter: adapterKey(rt.report),
    tunedAt: new Date().toISOString(),
    matmul: {},
    measured: {},
  };
  for (const cls of MATMUL_CLASSES) {
    const [M, K, N, transB] = representative(cls, opts.quick === true, isCpuAdapter(rt));
    const aHost = randomArray(rng, M * K);
    const bHost = randomArray(rng, K * N);
    // Huge products are checked on a sample of C's entries (the whole reference at 2048³ would take
    // longer than timing every variant on a GPU).
    const check = await matmulReference(rng, aHost, bHost, { M, K, N, transA: false, transB }, cls.endsWith('huge'), (cRef) =>
      ref.matmul(cRef, aHost, bHost, null, 1, M, N, K, { transB }),
    );
    const a = rt.tensor(aHost, [M, K], 'f32', 'tune.a');
    const b = rt.tensor(bHost, transB ? [N, K] : [K, N], 'f32', 'tune.b');
    const c = rt.empty([M, N], 'f32', 'tune.c');
    const candidates = matmulVariantsFor(rt, N, transB);
    const shape = `${M}x${K} · ${transB ? `(${N}x${K})ᵀ` : `${K}x${N}`}`;
    const ms = await timeVariants(
      rt,
      candidates,
      (variant) => matmul(rt, c, a, b, { transB, variant }),
      async () => check(await rt.readF32(c), 'matmul').ok,
      `${cls} ${shape}`,
      timing,
      log,
    );
    for (const t of [a, b, c]) t.destroy();
    const best = choose(ms, defaultMatmulVariant(rt));
    if (best) tuning.matmul[cls] = best;
    tuning.measured[cls] = { shape, ms };
  }
  const softmax: NonNullable<Tuning['softmax']> = {};
  const measuredSoftmax: NonNullable<Tuning['measuredSoftmax']> = {};
  for (const cls of SOFTMAX_CLASSES) {
    // Attention scores of a short context, and the benchmark's long rows.
    const [R, N] = cls === 'short' ? (opts.quick ? [256, 64] : [2048, 64]) : opts.quick ? [64, 1024] : [4096, 1024];
    const xHost = randomArray(rng, R * N, { std: 3 });
    const want = new Float32Array(R * N);
    ref.softmax_forward(want, xHost, R, N);
    const x = rt.tensor(xHost, [R, N], 'f32', 'tune.x');
    const y = rt.empty([R, N], 'f32', 'tune.y');
    const shape = `${R}x${N}`;
    const ms = await timeVariants<SoftmaxVariant>(
      rt,
      ['row', 'workgroup'],
      (variant) => softmax_forward(rt, y, x, { variant }),
      async () => compare(await rt.readF32(y), want, { atol: 1e-6, rtol: 1e-4 }, 'softmax').ok,
      `softmax-${cls} ${shape}`,
      timing,
      log,
    );
    x.destroy();
    y.destroy();
    const best = choose(ms, defaultSoftmaxVariant(rt, N));
    if (best) softmax[cls] = best;
    measuredSoftmax[cls] = { shape, ms };
  }
  return { ...tuning, softmax, measuredSoftmax };
}

/**
 * Use a cached tuning on `rt` if it was measured on this adapter; returns whether it was used (a
 * tuning of another adapter is ignored: that device runs the defaults until it is tuned).
 */
export function applyTuning(rt: Runtime, tuning: Tuning | undefined): boolean {
  if (!tuning || tuning.adapter !== adapterKey(rt.report)) return false;
  setMatmulTuning(rt, tuning.matmul);
  setSoftmaxTuning(rt, tuning.softmax);
  return true;
}

/** A cache of tunings, one per adapter, as stored (a JSON file in Node, browser storage in the page). */
export type TuningCache = Record<string, Tuning>;

export function withTuning(cache: TuningCache, t: Tuning): TuningCache {
  return { ...cache, [t.adapter]: t };
}

/** A cache from its stored text; throws when it is not JSON or not an object. */
export function parseTuningCache(text: string): TuningCache {
  const v = JSON.parse(text) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  return v as TuningCache;
}

/** Use the cache's tuning of `rt`'s adapter on it, if there is one; returns it. */
export function useTuning(rt: Runtime, cache: TuningCache): Tuning | undefined {
  const t = cache[adapterKey(rt.report)];
  return applyTuning(rt, t) ? t : undefined;
}

/** The choices, as one line: "matmul vec4-small subgroup, ..., softmax short row, softmax long row". */
export function describeTuning(t: Tuning): string {
  return [
    ...Object.entries(t.matmul).map(([cls, v]) => `matmul ${cls} ${v}`),
    ...Object.entries(t.softmax ?? {}).map(([cls, v]) => `softmax ${cls} ${v}`),
  ].join(', ');
}

const STORAGE_KEY = 'webgpu-train.tuning';

/** The page's cache: the same tunings, in browser storage (localStorage); empty when unreadable. */
export function storedTunings(storage: Pick<Storage, 'getItem'>): TuningCache {
  try {
    return parseTuningCache(storage.getItem(STORAGE_KEY) ?? '{}');
  } catch {
    return {};
  }
}

export function storeTuning(storage: Pick<Storage, 'getItem' | 'setItem'>, t: Tuning): void {
  storage.setItem(STORAGE_KEY, JSON.stringify(withTuning(storedTunings(storage), t)));
}
