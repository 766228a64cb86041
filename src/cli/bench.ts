/** `bench`: run the benchmark suite, print a markdown table, optionally write JSON. */
import { cpus, totalmem } from 'node:os';
import { markdownTable, ratioSummary, runSuite } from '../bench/suite.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { applyTuning, describeTuning, type Tuning, tuneKernels } from '../bench/tune.ts';
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

export async function runBench(
  rt: Runtime,
  opts: { json?: string; repeats: number; quick?: boolean; large?: boolean; train?: boolean; peer?: boolean; tune?: boolean },
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
    `timing: wall clock from the first dispatch to the completed submission (onSubmittedWorkDone), no readback, the same for ours and tfjs-backend-webgpu (on the same device); CPU reference timed in the same run; ${stamps ? "ours also in GPU time from timestamp queries (one profiled call, column 'GPU ms')" : 'no timestamp queries on this adapter'}`,
  );
  const results = await runSuite(rt, {
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
  if (opts.json) {
    const body = {
      adapter: rt.report,
      machine,
      timing: `wall-clock to completed submission, no readback${stamps ? '; ours also gpu_ms, the GPU time of one call from timestamp queries' : ''}; training steps timed interleaved with the CPU reference (rows marked interleaved)`,
      ...(tuning ? { tuning } : {}),
      results,
    };
    writeFileAtomic(opts.json, `${JSON.stringify(body, null, 2)}\n`);
    console.error(`wrote ${opts.json}`);
  }
}
