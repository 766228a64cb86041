/**
 * Soak: one run of 5,000 steps of a small model through every phase kind (pretraining, SFT on a
 * curated set, RL), with the loss read every 10 steps, an evaluation and a checkpoint (encoded into
 * memory) every 250 steps. From an early sample (step 500, after a warm-up round of every phase kind)
 * to the end, what the runtime holds on the GPU (tensors, bytes, pipelines, staging buffers) must not
 * change at all, and the JS heap (after a full GC) and the resident set must not grow beyond stated
 * bounds; the last 1,500 steps must dispatch and read back exactly as much as steps 500 to 2,000 and
 * take at most SLOWDOWN_BOUND times as long. A second, cheap test runs a short soak with deliberate
 * leaks and a deliberate slowdown and checks that the same helper (checkSoak) catches each one.
 *
 * Node only: it forces garbage collection through V8's flags (not available in a page).
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime, type RuntimeStats } from '../src/gpu/runtime.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { copy } from '../src/kernels/elementwise.ts';
import { encodeCheckpoint } from '../src/train/checkpoint.ts';
import type { PlanInput } from '../src/train/plan.ts';
import { runPlan } from '../src/train/scheduler.ts';

/**
 * JS heap growth allowed from the early sample to the end, after a full GC each time. Measured over
 * 4,500 steps: -0.1 to +0.4 MiB. 4 MiB is ten times that, and catches a leak of 1 KiB per step.
 */
const HEAP_GROWTH_BOUND = 4 * 2 ** 20;
/**
 * Resident set growth allowed over the same span: native memory (Dawn's objects, SwiftShader's).
 * Measured: +22 to +61 MiB from step 500 (allocators still filling), then flat (185 to 224 MiB over
 * 15,000 steps of a longer run). Loose: it is there to catch native objects kept per step.
 */
const RSS_GROWTH_BOUND = 128 * 2 ** 20;
/**
 * The late window's step time may be at most this multiple of the early window's. A window's step
 * time is that of its fastest block (logEvery steps), per step: the 2 cores are shared with the other
 * test worker, and contention stretches blocks by up to 6x and whole 500-step windows by up to 3x
 * (measured: medians of 1.3 to 6 ms per step in one run), while the fastest block of 1,500 steps
 * stays within 0.6 to 1.6 ms (2.9x apart once, at a load average of 12 on the 2 cores). Noise only
 * adds time; a real slowdown slows every block, the fastest included. Work that grows with the steps
 * is also caught exactly, without timing: the late window must dispatch and read back as much as the
 * early one, no more.
 */
const SLOWDOWN_BOUND = 2;
/** The counts of Runtime.stats that must be identical between the early sample and the end. */
const FLAT = [
  'tensors',
  'tensorBytes',
  'staging',
  'uniformBytes',
  'pipelines',
  'bindGroups',
  'scratches',
  'pendingErrors',
  'pendingReleases',
] as const;

let rt: Runtime;
beforeAll(async () => {
  // A runtime of its own: its counts are this file's alone, whatever other files ran in this worker.
  rt = await Runtime.create();
});
afterAll(() => rt.destroy());

/** A full, synchronous GC: V8's gc(), exposed at run time (vitest's forked workers lack --expose-gc). */
function fullGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** One sample: the runtime's stats, and the JS heap and resident set after a full GC. */
interface Sample extends RuntimeStats {
  step: number;
  heap: number;
  rss: number;
}

/** logEvery steps, by the global step that ends them: wall time per step in ms (eval and checkpoint included). */
interface Block {
  step: number;
  ms: number;
}

interface Soak {
  steps: number;
  samples: Sample[];
  blocks: Block[];
}

interface SoakOptions {
  logEvery: number;
  checkpointEvery: number;
  /** Take a sample (with a full GC, not timed) every this many steps. */
  sampleEvery: number;
  /** Extra work at every step event, timed with the steps (the deliberate leaks). */
  perStep?: (step: number) => void;
}

/** Run `plan` once, sampling the runtime and the heap at the step events and timing each block of steps. */
async function soak(plan: PlanInput, o: SoakOptions): Promise<Soak> {
  const gc = fullGc();
  const samples: Sample[] = [];
  const blocks: Block[] = [];
  let globalStep = 0;
  let phaseStep = 0;
  let saved: Uint8Array | undefined;
  let mark = performance.now();
  await runPlan(
    rt,
    plan,
    (e) => {
      if (e.type === 'phase-start') phaseStep = 0;
      if (e.type !== 'step') return;
      const n = e.step - phaseStep;
      globalStep += n;
      phaseStep = e.step;
      o.perStep?.(globalStep);
      blocks.push({ step: globalStep, ms: (performance.now() - mark) / n });
      if (globalStep % o.sampleEvery === 0) {
        gc();
        const { heapUsed, rss } = process.memoryUsage();
        samples.push({ step: globalStep, heap: heapUsed, rss, ...rt.stats() });
      }
      mark = performance.now();
    },
    {
      logEvery: o.logEvery,
      checkpointEvery: o.checkpointEvery,
      // Kept in memory, the latest only: encoding is soaked too, and the test itself holds nothing more.
      onCheckpoint: async (c) => {
        saved = await encodeCheckpoint(c);
      },
    },
  );
  expect(saved?.length).toBeGreaterThan(0);
  return { steps: globalStep, samples, blocks };
}

/**
 * The soak's bounds. Between the sample at step `early` and the last one: every count of FLAT the
 * same, heap and resident set growth within their bounds. Between the `window` steps after `early`
 * and the last `window` steps (both should hold the same kinds of step, evaluations and checkpoints):
 * the same number of dispatches and readbacks, and a step time at most SLOWDOWN_BOUND times longer.
 * Returns what broke, and the numbers.
 */
function checkSoak(s: Soak, early: number, window: number) {
  const at = (step: number) => {
    const x = s.samples.find((y) => y.step === step);
    if (!x) throw new Error(`soak: no sample at step ${step}`);
    return x;
  };
  const [a, a2, b1, b] = [at(early), at(early + window), at(s.steps - window), at(s.steps)];
  const work = (k: 'dispatches' | 'reads') => [a2[k] - a[k], b[k] - b1[k]];
  const stepMs = (lo: number, hi: number) => Math.min(...s.blocks.filter((x) => x.step > lo && x.step <= hi).map((x) => x.ms));
  const earlyMs = stepMs(early, early + window);
  const lateMs = stepMs(s.steps - window, s.steps);
  const broken: string[] = [];
  for (const k of FLAT) if (a[k] !== b[k]) broken.push(`${k}: ${a[k]} at step ${a.step}, ${b[k]} at step ${b.step}`);
  for (const k of ['dispatches', 'reads'] as const) {
    const [was, now] = work(k);
    if (now !== was) broken.push(`${k} per ${window} steps: ${was} after step ${early}, ${now} in the last`);
  }
  if (b.heap - a.heap > HEAP_GROWTH_BOUND) {
    broken.push(`heap grew by ${mib(b.heap - a.heap)} MiB (bound ${mib(HEAP_GROWTH_BOUND)} MiB)`);
  }
  if (b.rss - a.rss > RSS_GROWTH_BOUND) {
    broken.push(`rss grew by ${mib(b.rss - a.rss)} MiB (bound ${mib(RSS_GROWTH_BOUND)} MiB)`);
  }
  if (lateMs > SLOWDOWN_BOUND * earlyMs) {
    broken.push(`steps slowed from ${earlyMs.toFixed(2)} to ${lateMs.toFixed(2)} ms (bound ${SLOWDOWN_BOUND}x)`);
  }
  return { broken, early: a, end: b, earlyMs, lateMs, dispatches: work('dispatches'), reads: work('reads') };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);

/** The regression task at its smallest (an uncontended step takes about 0.7 ms on the CPU adapter). */
const base = {
  name: 'soak',
  seed: 7,
  task: { kind: 'regression', d: 4, n: 8, noise: 0.1, domains: 'head-tail', head: 2 },
  model: { kind: 'lsa-factorised', initStd: 0.05 },
  batch: 8,
  eval: { size: 16, every: 250, validation: 8, mixture: { head: 0.5, tail: 0.5 } },
} as const;
/** SFT on a small hard set of tail prompts, RL on the middle third of a pool. */
const sft = { kind: 'sft', mixture: { tail: 1 }, pool: 64, select: { rule: 'hardest', m: 16 }, lr: 0.003 } as const;
const rl = { kind: 'rl', pool: 64, select: { rule: 'band', m: 16, band: 'medium' }, group: 4, lr: 0.003 } as const;

/**
 * A short round of every phase kind, then a long one, pretraining last again. The warm-up round
 * compiles every kernel and makes the runtime's one-off tensors (the first RL step makes
 * sampling.ts's dummy output); the long round starts and ends with pretraining, so that the early and
 * late timing windows time the same kind of step.
 */
function rounds(warm: [number, number, number], long: [number, number, number, number]): PlanInput {
  return {
    ...base,
    phases: [
      { name: 'pretrain-warm', kind: 'pretrain', steps: warm[0], lr: 0.01 },
      { name: 'sft-warm', ...sft, steps: warm[1] },
      { name: 'rl-warm', ...rl, steps: warm[2] },
      { name: 'pretrain', kind: 'pretrain', steps: long[0], lr: 0.01 },
      { name: 'sft', ...sft, steps: long[1] },
      { name: 'rl', ...rl, steps: long[2] },
      { name: 'pretrain-again', kind: 'pretrain', steps: long[3], lr: 0.003 },
    ],
  };
}

describe('soak', () => {
  it('the forced GC collects what is unreachable', async () => {
    const gc = fullGc();
    const ref = (() => new WeakRef({ big: Array.from({ length: 1 << 16 }, (_, i) => i) }))();
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef's target lives to the end of its task
    gc();
    expect(ref.deref()).toBeUndefined();
  });

  it('5,000 steps of pretraining, SFT and RL hold GPU memory flat, the heap and the step time bounded', async () => {
    const t0 = performance.now();
    const s = await soak(rounds([250, 125, 125], [1500, 750, 750, 1500]), {
      logEvery: 10,
      checkpointEvery: 250,
      sampleEvery: 250,
    });
    const r = checkSoak(s, 500, 1500);
    const { early: a, end: b } = r;
    console.log(
      `soak: ${s.steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s; steps 500 -> ${b.step}: ` +
        `GPU tensors ${a.tensors} -> ${b.tensors}, ${a.tensorBytes} -> ${b.tensorBytes} bytes, ` +
        `pipelines ${a.pipelines} -> ${b.pipelines}, staging buffers ${a.staging} -> ${b.staging}; ` +
        `dispatches ${r.dispatches.join(' -> ')} and readbacks ${r.reads.join(' -> ')} per 1500 steps; ` +
        `JS heap ${mib(a.heap)} -> ${mib(b.heap)} MiB (bound +${mib(HEAP_GROWTH_BOUND)}); rss ${mib(a.rss)} -> ${mib(b.rss)} MiB (bound +${mib(RSS_GROWTH_BOUND)}); ` +
        `step time (fastest block) ${r.earlyMs.toFixed(2)} ms (steps 500-2000) -> ${r.lateMs.toFixed(2)} ms (3500-5000; bound ${SLOWDOWN_BOUND}x)`,
    );
    expect(s.steps).toBe(5000);
    expect(r.broken).toEqual([]);
  });

  it('catches a tensor made per step, a heap leak, growing work and a slowdown (a short soak with all four)', async () => {
    const leaked: Tensor[] = [];
    const held: number[][] = [];
    const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    try {
      const s = await soak(rounds([50, 25, 25], [100, 50, 50, 100]), {
        logEvery: 10,
        checkpointEvery: 50,
        sampleEvery: 50,
        perStep: (step) => {
          if (step <= 100) return; // leaks start after the early sample
          leaked.push(rt.empty([64], 'f32', 'soak.leak'));
          for (const t of leaked.slice(1)) copy(rt, t, leaked[0]); // one more dispatch each time
          held.push(Array.from({ length: 1 << 17 }, (_, i) => i + 0.5)); // 1 MiB of doubles
          if (step > 300) sleep(100); // the last 100 steps (the late window) take 10 ms more each
        },
      });
      const r = checkSoak(s, 100, 100);
      // The copies also compile a pipeline and leave error scopes pending at the samples: caught too.
      expect(r.broken).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^tensors: \d+ at step 100, \d+ at step 400$/),
          expect.stringMatching(/^tensorBytes: /),
          expect.stringMatching(/^dispatches per 100 steps: \d+ after step 100, \d+ in the last$/),
          expect.stringMatching(/^heap grew by /),
          expect.stringMatching(/^steps slowed /),
        ]),
      );
    } finally {
      for (const t of leaked) t.destroy();
    }
  });
});
