/** `bench`: run the benchmark suite, print a markdown table, optionally write JSON. */
import { cpus, totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { markdownTable, ratioSummary, runSuite } from '../bench/suite.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { applyTuning, describeTuning, type Tuning, tuneKernels } from '../bench/tune.ts';
import { datasheetPeak, type Peak, peakFractions, peakLines } from '../bench/peak.ts';
import { saveTuning, tuningCachePath } from './tuning.ts';
import { writeFileAtomic } from './io.ts';

export function machineInfo() {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
  };
}

/**
 * V8's full garbage collection, for the suite's `settle` (collect what the timing before left, before
 * the next timing starts). Exposed at run time the documented way (the flag, then a fresh context's
 * global `gc`), so `npm run bench` needs no node option; undefined if this V8 refuses.
 */
export function exposedGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
  return typeof gc === 'function' ? gc : undefined;
}

export async function runBench(
  rt: Runtime,
  opts: {
    json?: string;
    repeats: number;
    quick?: boolean;
    large?: boolean;
    train?: boolean;
    peer?: boolean;
    tune?: boolean;
    /** The card's f32 peak in TFLOP/s (otherwise looked up by the adapter's name). */
    peakTflops?: number;
  },
): Promise<void> {
  let tuning: Tuning | undefined;
  if (opts.tune) {
    tuning = await tuneKernels(rt, { log: (l) => console.error(l) });
    saveTuning(tuning);
    applyTuning(rt, tuning);
    console.error(`tuned: ${describeTuning(tuning)} (saved to ${tuningCachePath()}; used by every command on this adapter)`);
  }
  const machine = machineInfo();
  console.error(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, ${machine.platform}, node ${machine.node}`,
  );
  const stamps = rt.device.features.has('timestamp-query');
  console.error(
    `timing: wall clock from the first dispatch to the completed submission (onSubmittedWorkDone), no readback, the same for ours and tfjs-backend-webgpu (on the same device; our variant in use and the peer timed interleaved, round by round); CPU reference timed in the same run; the heap collected (V8 gc) before every timing, outside it; ${stamps ? "ours also in GPU time from timestamp queries (one profiled call, column 'GPU ms')" : 'no timestamp queries on this adapter'}`,
  );
  const gc = exposedGc();
  if (!gc) console.error('note: V8 did not expose gc; timings are not separated by a garbage collection');
  const results = await runSuite(rt, {
    settle: gc,
    repeats: opts.repeats,
    quick: opts.quick,
    large: opts.large,
    train: opts.train,
    peer: opts.peer,
    log: (l) => console.error(l),
  });
  console.log(markdownTable(results));
  const ratios = ratioSummary(results);
  if (ratios.length)
    console.log(`\nspeed-up of the variant in use (same run, same adapter):\n${ratios.map((l) => `  ${l}`).join('\n')}`);
  // The real-GPU target: each square product's fastest correct variant against the card's peak.
  const peak: Peak | undefined =
    opts.peakTflops !== undefined ? { tflops: opts.peakTflops, source: 'given with --peak-tflops' } : datasheetPeak(rt.report);
  const fractions = opts.large || peak ? peakFractions(results, peak) : [];
  if (fractions.length) {
    console.log(
      `\nsquare products, the fastest correct variant of ours:\n${peakLines(fractions, peak)
        .map((l) => `  ${l}`)
        .join('\n')}`,
    );
    if (!peak)
      console.log(`  (the f32 peak of this adapter is not in the datasheet table: give it with --peak-tflops for the fraction)`);
  }
  if (opts.json) {
    const body = {
      adapter: rt.report,
      machine,
      timing: `wall-clock to completed submission, no readback; V8's garbage collected before every timing, outside it${stamps ? '; ours also gpu_ms, the GPU time of one call from timestamp queries' : ''}; training steps timed interleaved with the CPU reference, and the variant in use of matmul and softmax with tfjs-backend-webgpu (rows marked interleaved)`,
      ...(tuning ? { tuning } : {}),
      ...(fractions.length ? { peak: peak ?? null, peak_fractions: fractions } : {}),
      results,
    };
    writeFileAtomic(opts.json, `${JSON.stringify(body, null, 2)}\n`);
    console.error(`wrote ${opts.json}`);
  }
}
