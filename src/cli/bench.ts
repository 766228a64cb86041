/** `bench`: run the benchmark suite, print a markdown table, optionally write JSON. */
import { cpus, totalmem } from 'node:os';
import { runSuite, markdownTable } from '../bench/suite.ts';
import type { Runtime } from '../gpu/runtime.ts';
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
  opts: { json?: string; repeats: number; quick?: boolean; train?: boolean },
): Promise<void> {
  const machine = machineInfo();
  console.error(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, ${machine.platform}, node ${machine.node}`,
  );
  console.error(
    'timing: wall clock from first dispatch to completed submission (onSubmittedWorkDone); CPU reference timed in the same run',
  );
  const results = await runSuite(rt, {
    repeats: opts.repeats,
    quick: opts.quick,
    train: opts.train,
    log: (l) => console.error(l),
  });
  console.log(markdownTable(results));
  if (opts.json) {
    const body = { adapter: rt.report, machine, timing: 'wall-clock', results };
    writeFileAtomic(opts.json, `${JSON.stringify(body, null, 2)}\n`);
    console.error(`wrote ${opts.json}`);
  }
}
