/**
 * Kernel fuzzing: every registered kernel against its CPU reference on many seeded random shapes.
 * Sizes are drawn from a mix of 1, small primes, 2^k - 1 / 2^k / 2^k + 1 and uniform small values,
 * under a work budget; one draw in LARGE_EVERY makes one dimension large ("near a device limit,
 * scaled down") with the others small. Options are drawn too: booleans at random, numbers from the
 * default and the values the entry's cases use. A shape the kernel refuses with a UserError (a
 * ShapeError, InputError or LimitError naming the problem) is a refusal, counted by message; the
 * fuzzer keeps drawing until `shapes` shapes were actually checked. Anything else (a mismatch with
 * the reference, a GPU validation error, any other exception) is a failure, recorded with what
 * reproduces it: `kernel NAME --check --dims ... --options ... --seed ...`.
 *
 * The dims of an entry come from its checkDims and cases (see dimSpecs); the few kernels whose cost
 * or derived sizes a generic rule cannot know sit in OVERRIDES, each with its reason.
 */
import { UserError } from '../device/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { Rng } from '../reference/random.ts';
import { type Dims, formatDims, type KernelEntry, type Options } from './entry.ts';
import { checkKernel, parseOptions } from './run.ts';

export interface FuzzOptions {
  /** Seeds the shapes, the options and every check's inputs. */
  seed: number;
  /** Checked (not refused) shapes per kernel. */
  shapes: number;
  /**
   * Cap on a shape's cost (the product of its sizes, see cost()) for the ordinary draws: 2^10 keeps
   * a check near a millisecond on SwiftShader, so 500 shapes of 32 kernels fit in the test budget.
   */
  work: number;
  /** Cap for the draws with one large dimension (the others small). */
  largeWork: number;
  /** Draws per kernel before giving up, as a multiple of `shapes` (refusals use up draws). */
  attemptsPerShape: number;
  /**
   * Checks in flight at once. Each check encodes all its dispatches and submits its first read
   * before the next one starts, so a GPU error is still reported by the check that caused it (its
   * first read's sync collects exactly its own error scopes); overlapping the reads' round trips
   * makes small checks several times faster.
   */
  concurrency: number;
}

export const FUZZ_DEFAULTS: FuzzOptions = {
  seed: 1,
  shapes: 500,
  work: 1 << 10,
  largeWork: 1 << 13,
  attemptsPerShape: 3,
  concurrency: 32,
};

/** One draw in this many has one large dimension. */
const LARGE_EVERY = 8;

export interface FuzzFailure {
  kernel: string;
  dims: Dims;
  options: Options;
  /** The check's input seed (what `kernel --check --seed` takes). */
  seed: number;
  message: string;
  /** The command line that runs this check alone. */
  command: string;
}

export interface KernelFuzzReport {
  kernel: string;
  checked: number;
  refused: number;
  /** Refusal messages with their numbers replaced by '#', and how often each came. */
  refusals: Record<string, number>;
  failures: FuzzFailure[];
  /** True when the draws ran out before `shapes` shapes were checked (also listed as a failure). */
  exhausted: boolean;
  /** The checked shape with the largest cost, and that cost. */
  largest: { dims: Dims; options: Options; cost: number };
  /** Largest single size among checked shapes. */
  maxSize: number;
  /** Checked shapes with a size 1, a prime size (>= 3), or one large dimension. */
  withOne: number;
  withPrime: number;
  withLarge: number;
  ms: number;
}

export interface FuzzReport {
  seed: number;
  kernels: KernelFuzzReport[];
  checked: number;
  refused: number;
  failures: FuzzFailure[];
  ms: number;
}

// --------------------------------------------------------------------------------------------
// which dims an entry has

type DimKind = 'size' | 'flag' | 'count';
interface DimSpec {
  name: string;
  /** size: >= 1; flag: 0 or 1 (an input left out or in); count: >= 0, not a size (nonfinite_count's K). */
  kind: DimKind;
  /** Not in checkDims: only some cases give it, so a draw may leave it out. */
  optional: boolean;
}

/**
 * The dims of an entry, from the values its checkDims and cases give: a dim seen only as 0 and 1,
 * and either optional or seen as 0, is a flag (policy's mask and ref, advantages' baseline); one
 * seen as 0 and as larger values is a count; everything else is a size.
 */
export function dimSpecs(entry: KernelEntry): DimSpec[] {
  const seen = new Map<string, Set<number>>();
  for (const d of [entry.checkDims, ...entry.cases.map((c) => c.dims)]) {
    for (const [k, v] of Object.entries(d)) {
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k)?.add(v);
    }
  }
  return [...seen].map(([name, values]) => {
    const optional = !(name in entry.checkDims);
    const binary = [...values].every((v) => v === 0 || v === 1);
    const kind: DimKind = binary && (optional || values.has(0)) ? 'flag' : values.has(0) ? 'count' : 'size';
    return { name, kind, optional };
  });
}

// --------------------------------------------------------------------------------------------
// per-kernel overrides, where the generic rule cannot know

interface Override {
  /** The shape's work (default: the product of its sizes). Must grow with every size. */
  cost?: (d: Dims) => number;
  /** Fix up drawn dims (sizes that depend on others). */
  dims?: (rng: Rng, d: Dims) => void;
  /** Fix up drawn options (options that are sizes, or only valid together). */
  options?: (rng: Rng, d: Dims, o: Options) => void;
}

const small = (rng: Rng): number => [0, 1, 2, 7][rng.int(4)];

const OVERRIDES: Record<string, Override> = {
  // The triangles need square matrices (lowerA: A, lowerC: C) and exclude accumulate and each other:
  // shrink the pair to the smaller size (the work cap still holds) and drop the clashing options.
  matmul: {
    options: (rng, d, o) => {
      if (o.lowerA && o.lowerC) delete o[rng.next() < 0.5 ? 'lowerA' : 'lowerC'];
      if (o.lowerA) d.M = d.K = Math.min(d.M, d.K);
      if (o.lowerC) d.M = d.N = Math.min(d.M, d.N);
      if (o.lowerA || o.lowerC) delete o.accumulate;
    },
  },
  // The attention matrix is [B, H, T, T]: T counts twice.
  attention: { cost: ({ B, H, T, hs }) => B * H * T * (T + hs) },
  attention_backward: { cost: ({ B, H, T, hs }) => B * H * T * (T + hs) },
  // Several tensors of different sizes: the cost is their total, not the product of all sizes.
  global_norm_sumsq: { cost: ({ A, B, C, D = 0 }) => A + B + C + D },
  embedding_forward: {
    cost: ({ B, T, V, C, Tmax = T }) => (B * T + V + Tmax) * C,
    // The position table must cover the context: Tmax >= T (a smaller one is refused; see cases).
    dims: (rng, d) => {
      if (d.Tmax !== undefined) d.Tmax = d.T + small(rng);
    },
  },
  embedding_backward: {
    cost: ({ B, T, V, C }) => (B * T + V + T) * C,
    // The options V and Tmax are table sizes: at least the largest token + 1 and T, or 0 (derived).
    options: (rng, d, o) => {
      if (o.V !== undefined) o.V = d.V + small(rng);
      if (o.Tmax !== undefined) o.Tmax = d.T + small(rng);
    },
  },
  // Without the counters input (option n), the counters are (i, c1, c2, c3) for i < n: n takes the
  // size N, and c1..c3 only mean something with it (they are refused with counters).
  philox_fill: {
    options: (rng, d, o) => {
      if (rng.next() < 0.5) o.n = d.N;
      else for (const k of ['n', 'c1', 'c2', 'c3']) delete o[k];
    },
  },
};

// --------------------------------------------------------------------------------------------
// drawing shapes

const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107];
const PRIMES_MORE = [109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193, 197, 199, 211, 223];
const SMALL_PRIMES = [...PRIMES, ...PRIMES_MORE, 227, 229, 233, 239, 241, 251, 257, 263, 509, 521, 1021, 1031, 2039, 2053];

export function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];

/** One size in [1, cap]: 1, a small prime, 2^k - 1 / 2^k / 2^k + 1, or uniform in [1, 64]. */
function drawSize(rng: Rng, cap: number): number {
  if (cap <= 1) return 1;
  const u = rng.next();
  if (u < 0.15) return 1;
  if (u < 0.45) {
    const primes = SMALL_PRIMES.filter((p) => p <= cap);
    return primes.length ? pick(rng, primes) : 1;
  }
  if (u < 0.75) {
    const k = 1 + rng.int(Math.max(1, Math.floor(Math.log2(cap + 1))));
    const v = 2 ** k + rng.int(3) - 1;
    return Math.max(1, Math.min(cap, v));
  }
  return 1 + rng.int(Math.min(cap, 64));
}

/** Largest v in [1, 2^24] with cost(d with name = v) <= budget (1 if none): cost grows with every size. */
function capFor(cost: (d: Dims) => number, d: Dims, name: string, budget: number): number {
  const at = (v: number) => cost({ ...d, [name]: v });
  if (at(1) > budget) return 1;
  let lo = 1;
  let hi = 2;
  while (hi < 1 << 24 && at(hi) <= budget) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (at(mid) <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * A large size near a device limit, scaled down to `cap`: the largest f32 tensor
 * (maxStorageBufferBindingSize / 4), the largest 1-D dispatch of 256-wide workgroups and the
 * workgroup count itself (maxComputeWorkgroupsPerDimension), each divided by the power of two that
 * brings it under `cap`, then nudged by -1, 0 or +1 or moved to the prime just below.
 */
function nearLimit(rng: Rng, limits: DeviceLimits, cap: number): number {
  const L = pick(rng, [
    Math.floor(limits.maxStorageBufferBindingSize / 4),
    limits.maxComputeWorkgroupsPerDimension * 256,
    limits.maxComputeWorkgroupsPerDimension,
  ]);
  let v = L;
  while (v > cap) v = Math.floor(v / 2);
  const how = rng.int(4);
  if (how === 3) {
    while (v > 2 && !isPrime(v)) v--;
  } else v += how - 1;
  return Math.max(1, Math.min(cap, v));
}

type DeviceLimits = Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxComputeWorkgroupsPerDimension'>;

interface Draw {
  dims: Dims;
  options: Options;
  large: boolean;
}

const productOfSizes =
  (specs: DimSpec[]) =>
  (d: Dims): number =>
    specs.filter((s) => s.kind === 'size' && d[s.name] !== undefined).reduce((p, s) => p * d[s.name], 1);

function shuffle<T>(rng: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

function drawDims(
  rng: Rng,
  specs: DimSpec[],
  cost: (d: Dims) => number,
  large: boolean,
  limits: DeviceLimits,
  opts: FuzzOptions,
) {
  const sizes = specs.filter((s) => s.kind === 'size' && (!s.optional || rng.next() < 0.5));
  const d: Dims = {};
  for (const s of sizes) d[s.name] = 1;
  const order = shuffle(rng, [...sizes]);
  const big = large ? order[0] : undefined;
  for (const s of order) {
    if (s === big) continue;
    // With one large dimension the others stay small (at most 8), so the large one can be large.
    const cap = capFor(cost, d, s.name, large ? opts.largeWork : opts.work);
    d[s.name] = drawSize(rng, large ? Math.min(cap, 8) : cap);
  }
  if (big) d[big.name] = nearLimit(rng, limits, capFor(cost, d, big.name, opts.largeWork));
  const maxSize = Math.max(1, ...Object.values(d));
  for (const s of specs) {
    if (s.kind === 'flag') d[s.name] = rng.int(2);
    // A count runs from 0 past the largest size (nonfinite_count: K NaN/Inf among N values, capped at N).
    if (s.kind === 'count') d[s.name] = rng.next() < 0.25 ? 0 : drawSize(rng, maxSize + 2);
  }
  return d;
}

/** Option values the cases use, per option (numbers only). */
function caseValues(entry: KernelEntry): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const o of entry.options) {
    if (o.type !== 'number') continue;
    const vs = new Set<number>();
    for (const c of entry.cases) {
      const v = c.options?.[o.name];
      if (typeof v === 'number' && v !== o.default) vs.add(v);
    }
    out.set(o.name, [...vs]);
  }
  return out;
}

/** Booleans at random; numbers from the default (left out) and the cases' values. */
function drawOptions(rng: Rng, entry: KernelEntry, values: Map<string, number[]>): Options {
  const o: Options = {};
  for (const doc of entry.options) {
    if (doc.type === 'boolean') {
      if (rng.next() < 0.5) o[doc.name] = true;
    } else {
      const vs = values.get(doc.name) ?? [];
      const i = rng.int(vs.length + 1);
      if (i < vs.length) o[doc.name] = vs[i];
    }
  }
  return o;
}

// --------------------------------------------------------------------------------------------
// running

const hashString = (s: string): number => {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
};

/** The command that runs one check alone. */
export function reproCommand(kernel: string, dims: Dims, options: Options, seed: number): string {
  const opts = Object.keys(options).length ? ` --options '${JSON.stringify(options)}'` : '';
  return `npx tsx src/cli/main.ts kernel ${kernel} --check --dims ${formatDims(dims)}${opts} --seed ${seed}`;
}

/** A refusal's message with its numbers replaced, so refusals of one kind count together. */
const refusalKey = (e: Error): string => `${e.name}: ${e.message.replace(/\d+(\.\d+)?(e-?\d+)?/g, '#')}`;

type Outcome = { kind: 'checked'; cost: number } | { kind: 'refused'; key: string } | { kind: 'failed'; failure: FuzzFailure };

async function runOne(rt: Runtime, entry: KernelEntry, draw: Draw, seed: number, cost: number): Promise<Outcome> {
  const fail = (message: string): Outcome => ({
    kind: 'failed',
    failure: {
      kernel: entry.name,
      dims: draw.dims,
      options: draw.options,
      seed,
      message,
      command: reproCommand(entry.name, draw.dims, draw.options, seed),
    },
  });
  try {
    // The options go through the command line's parser, so a value it refuses is a refusal too.
    const options = parseOptions(entry, draw.options);
    const r = await checkKernel(rt, entry, draw.dims, options, seed);
    if (r.ok) return { kind: 'checked', cost };
    return fail(
      Object.values(r.outputs)
        .filter((c) => !c.ok)
        .map((c) => c.report)
        .join('\n'),
    );
  } catch (e) {
    if (e instanceof UserError) return { kind: 'refused', key: refusalKey(e) };
    const err = e instanceof Error ? e : new Error(String(e));
    return fail(`${err.name}: ${err.message}${err.stack ? `\n${err.stack.split('\n').slice(1, 4).join('\n')}` : ''}`);
  }
}

/** Fuzz one kernel: draw until `shapes` shapes were checked or the draws run out. */
export async function fuzzKernel(rt: Runtime, entry: KernelEntry, options: Partial<FuzzOptions> = {}): Promise<KernelFuzzReport> {
  const opts = { ...FUZZ_DEFAULTS, ...options };
  const t0 = performance.now();
  // One stream per kernel, so a subset (--kernel) draws the same shapes as the full run.
  const rng = new Rng((opts.seed ^ hashString(entry.name)) >>> 0);
  const specs = dimSpecs(entry);
  const over = OVERRIDES[entry.name] ?? {};
  const cost = over.cost ?? productOfSizes(specs);
  const values = caseValues(entry);
  const report: KernelFuzzReport = {
    kernel: entry.name,
    checked: 0,
    refused: 0,
    refusals: {},
    failures: [],
    exhausted: false,
    largest: { dims: {}, options: {}, cost: 0 },
    maxSize: 0,
    withOne: 0,
    withPrime: 0,
    withLarge: 0,
    ms: 0,
  };
  const maxAttempts = opts.shapes * opts.attemptsPerShape;
  let attempts = 0;
  // A failed shape was checked too (it ran and disagreed): it counts towards `shapes`.
  const done = () => report.checked + report.failures.length;
  while (done() < opts.shapes && attempts < maxAttempts && !rt.isLost) {
    const n = Math.min(opts.concurrency, opts.shapes - done(), maxAttempts - attempts);
    const draws: { draw: Draw; seed: number; cost: number }[] = [];
    for (let i = 0; i < n; i++) {
      const large = (attempts + i) % LARGE_EVERY === 0;
      const dims = drawDims(rng, specs, cost, large, rt.limits, opts);
      over.dims?.(rng, dims);
      const o = drawOptions(rng, entry, values);
      over.options?.(rng, dims, o);
      draws.push({ draw: { dims, options: o, large }, seed: Math.floor(rng.next() * 2 ** 32), cost: cost(dims) });
    }
    attempts += n;
    const outcomes = await Promise.all(draws.map((x) => runOne(rt, entry, x.draw, x.seed, x.cost)));
    outcomes.forEach((out, i) => {
      const { draw } = draws[i];
      if (out.kind === 'refused') {
        report.refused++;
        report.refusals[out.key] = (report.refusals[out.key] ?? 0) + 1;
      } else if (out.kind === 'failed') report.failures.push(out.failure);
      else {
        report.checked++;
        const sizes = specs.filter((s) => s.kind === 'size' && draw.dims[s.name] !== undefined).map((s) => draw.dims[s.name]);
        report.maxSize = Math.max(report.maxSize, ...sizes);
        if (sizes.includes(1)) report.withOne++;
        if (sizes.some((v) => v >= 3 && isPrime(v))) report.withPrime++;
        if (draw.large) report.withLarge++;
        if (out.cost > report.largest.cost) report.largest = { dims: draw.dims, options: draw.options, cost: out.cost };
      }
    });
  }
  if (done() < opts.shapes) {
    report.exhausted = true;
    const why = rt.isLost
      ? 'the GPU device was lost'
      : `${attempts} draws gave ${report.checked} checked shapes and ${report.refused} refusals (cap: ${opts.attemptsPerShape} draws per shape)`;
    report.failures.push({
      kernel: entry.name,
      dims: {},
      options: {},
      seed: opts.seed,
      message: `fuzzing stopped before ${opts.shapes} shapes were checked: ${why}`,
      command: `npx tsx src/cli/main.ts fuzz --kernel ${entry.name} --seed ${opts.seed} --shapes ${opts.shapes}`,
    });
  }
  report.ms = performance.now() - t0;
  return report;
}

/** Fuzz each entry in turn; `onKernel` sees each kernel's report as it finishes. */
export async function fuzz(
  rt: Runtime,
  entries: readonly KernelEntry[],
  options: Partial<FuzzOptions> = {},
  onKernel?: (r: KernelFuzzReport) => void,
): Promise<FuzzReport> {
  const t0 = performance.now();
  const reports: KernelFuzzReport[] = [];
  for (const entry of entries) {
    const r = await fuzzKernel(rt, entry, options);
    reports.push(r);
    onKernel?.(r);
  }
  return {
    seed: options.seed ?? FUZZ_DEFAULTS.seed,
    kernels: reports,
    checked: reports.reduce((s, r) => s + r.checked, 0),
    refused: reports.reduce((s, r) => s + r.refused, 0),
    failures: reports.flatMap((r) => r.failures),
    ms: performance.now() - t0,
  };
}

/** One line per kernel: checked, refused, failed, the largest shape, the time. */
export function formatKernelFuzz(r: KernelFuzzReport): string {
  const status = r.failures.length ? 'FAIL' : 'ok  ';
  return `${status}  ${r.kernel.padEnd(28)} checked ${String(r.checked).padStart(5)}  refused ${String(r.refused).padStart(4)}  failed ${String(r.failures.length).padStart(3)}  largest ${formatDims(r.largest.dims).padEnd(30)} ${(r.ms / 1000).toFixed(1)} s`;
}

/** Failures printed per kernel (a kernel broken everywhere fails on every shape). */
const SHOWN_FAILURES = 5;

/** The failures with their reproducing commands, the refusals by message, and a total. */
export function formatFuzzSummary(report: FuzzReport): string {
  const lines: string[] = [];
  for (const r of report.kernels) {
    for (const [k, n] of Object.entries(r.refusals)) lines.push(`refused ${String(n).padStart(4)}x  ${r.kernel}: ${k}`);
  }
  for (const r of report.kernels) {
    for (const f of r.failures.slice(0, SHOWN_FAILURES)) {
      lines.push(
        `FAIL ${f.kernel} ${formatDims(f.dims)} ${JSON.stringify(f.options)} seed ${f.seed}\n${f.message}\n  rerun: ${f.command}`,
      );
    }
    if (r.failures.length > SHOWN_FAILURES) lines.push(`FAIL ${r.kernel}: ${r.failures.length - SHOWN_FAILURES} more failures`);
  }
  const failedKernels = report.kernels.filter((r) => r.failures.length).map((r) => r.kernel);
  lines.push(
    `${report.checked} shapes checked on ${report.kernels.length} kernels (${report.refused} refused) with seed ${report.seed} in ${(report.ms / 1000).toFixed(1)} s: ` +
      (failedKernels.length
        ? `${report.failures.length} failures in ${failedKernels.join(', ')}`
        : 'all match the CPU reference'),
  );
  return lines.join('\n');
}
