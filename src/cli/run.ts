/**
 * `run`: run a plan from the command line. Progress per phase on stderr (a bar when stderr is a
 * terminal, a line per logged step otherwise); DIR gets metrics.jsonl (every event), selections.json
 * (the curated ids and their scores), summary.json (held-out metrics after each phase) and
 * metrics.csv (steps and evaluations as a table; src/train/results.ts, the demo's format too), each
 * written atomically, and checkpoint.bin (every --checkpoint-every steps and after each phase), which
 * `--resume DIR` continues from. Ends with a table of the metrics after each phase.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { UserError } from '../device/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint.ts';
import { headline, type SuiteMetrics } from '../train/suite.ts';
import { type RunEvent, runPlan } from '../train/scheduler.ts';
import { resultFiles } from '../train/results.ts';
import { writeFileAtomic } from './io.ts';

function table(phases: { name: string; metrics: SuiteMetrics }[]): string {
  const rows = phases.map((p) => ({ name: p.name, values: headline(p.metrics) }));
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
  const head = ['phase', ...columns];
  const cells = rows.map((r) => [r.name, ...columns.map((c) => (r.values[c] ?? Number.NaN).toFixed(4))]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export const CHECKPOINT_FILE = 'checkpoint.bin';

/** Load DIR/checkpoint.bin (verified) for --resume. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch {
    throw new UserError(`--resume ${dir}: there is no ${CHECKPOINT_FILE} there (a run writes it with --out DIR)`);
  }
  return decodeCheckpoint(bytes, path);
}

export async function runPlanCli(
  rt: Runtime,
  plan: unknown,
  out: string | undefined,
  opts: { checkpointEvery?: number; resume?: Checkpoint; initFrom?: Checkpoint } = {},
): Promise<void> {
  if (out && !existsSync(out)) mkdirSync(out, { recursive: true });
  const events: RunEvent[] = [];
  const tty = process.stderr.isTTY;
  let bar: cliProgress.SingleBar | undefined;
  let phaseStart = { at: performance.now(), steps: 1 };
  /** Seconds left in the phase at the pace so far (curation and the first steps included). */
  const eta = (step: number) => {
    const left = ((performance.now() - phaseStart.at) / step) * (phaseStart.steps - step);
    return `ETA ${(left / 1000).toFixed(0)} s`;
  };
  const phases = await runPlan(
    rt,
    plan,
    (e) => {
      events.push(e);
      if (e.type === 'phase-start') {
        if (tty) {
          bar = new cliProgress.SingleBar(
            {
              format: `${e.phase.padEnd(10)} [{bar}] {value}/{total} steps | ETA {eta_formatted} | {metric}`,
              etaBuffer: 50,
              stream: process.stderr,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(e.steps, 0, { metric: '' });
        } else console.error(`phase ${e.phase} (${e.kind}, ${e.steps} steps)`);
        phaseStart = { at: performance.now(), steps: e.steps };
      } else if (e.type === 'step') {
        const metric = e.loss !== undefined ? `loss ${e.loss.toFixed(4)}` : `reward ${e.reward?.toFixed(4)}`;
        if (bar) bar.update(e.step, { metric });
        else console.error(`  ${e.phase} step ${e.step}/${phaseStart.steps}: ${metric} (${eta(e.step)})`);
      } else if (e.type === 'selection') {
        console.error(`  ${e.phase}: selected ${e.ids.length} of ${e.pool} by rule ${e.rule}`);
      } else if (e.type === 'phase-end') {
        bar?.stop();
        bar = undefined;
      }
    },
    {
      logEvery: 10,
      resume: opts.resume,
      initFrom: opts.initFrom,
      checkpointEvery: out ? (opts.checkpointEvery ?? 50) : undefined,
      onCheckpoint: out ? async (c) => writeFileAtomic(join(out, CHECKPOINT_FILE), await encodeCheckpoint(c)) : undefined,
    },
  );
  console.log(table(phases));
  if (out) {
    // A resumed run appends its events to those of the run it continues.
    const jsonl = join(out, 'metrics.jsonl');
    const previous: RunEvent[] =
      opts.resume && existsSync(jsonl)
        ? readFileSync(jsonl, 'utf8')
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => JSON.parse(l))
        : [];
    const files = resultFiles([...previous, ...events], rt.report, phases);
    for (const [name, text] of Object.entries(files)) writeFileAtomic(join(out, name), text);
    console.error(
      `wrote ${Object.keys(files)
        .map((f) => join(out, f))
        .join(', ')}`,
    );
  }
}
