/**
 * `run`: run a plan from the command line. Progress per phase on stderr (a bar when stderr is a
 * terminal, a line per logged step otherwise); DIR gets metrics.jsonl (every event), selections.json
 * (the curated ids and their scores), summary.json (held-out metrics after each phase) and
 * metrics.csv (steps and evaluations as a table; src/train/results.ts, the demo's format too), each
 * written atomically, and checkpoint.bin (every --checkpoint-every steps and after each phase), which
 * `--resume DIR` continues from. Ends with a table of the metrics after each phase.
 *
 * Nothing a run has done is lost to a kill: with each checkpoint, metrics.jsonl is rewritten first
 * (every event up to the checkpoint, which it names), then checkpoint.bin; a resume keeps the log up
 * to the checkpoint it resumes from, whichever of the two writes a kill interrupted. A lost GPU
 * device is reported, a new one acquired and the run resumed from its last checkpoint (kept in
 * memory too, so this works without --out), at most three times.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { UserError } from '../device/errors.ts';
import { isDeviceLoss, type Runtime } from '../gpu/runtime.ts';
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from '../train/checkpoint.ts';
import { headline, type SuiteMetrics } from '../train/suite.ts';
import { type Faults, type PhaseResult, type RunEvent, runPlan } from '../train/scheduler.ts';
import { jsonLines, resultFiles } from '../train/results.ts';
import { TEMP_SUFFIX, writeFileAtomic } from './io.ts';

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

/** Load DIR/checkpoint.bin (verified) for `flag` (--resume or --init-from). */
export async function loadCheckpoint(dir: string, flag = '--resume'): Promise<Checkpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch {
    throw new UserError(`${flag} ${dir}: there is no ${CHECKPOINT_FILE} there (a run writes it with --out DIR)`);
  }
  return decodeCheckpoint(bytes, path);
}

/** Faults for tests of the command line's recovery: the scheduler's, and a kill inside a checkpoint write. */
export interface CliFaults extends Faults {
  /** SIGKILL this process halfway through writing the n-th checkpoint file (1 = the first). */
  killInCheckpointWrite?: number;
}

/** Every key of CliFaults (the type makes the list complete), for reading them from the environment. */
const CLI_FAULTS: Record<keyof CliFaults, true> = {
  nanAt: true,
  overflowAt: true,
  nanAfter: true,
  loseDeviceAt: true,
  killInCheckpointWrite: true,
};

/**
 * Faults to inject into `run` and `start` (tests of the recovery paths, and anyone checking them):
 * WEBGPU_TRAIN_FAULTS='{"loseDeviceAt": 120}' or '{"killInCheckpointWrite": 2}' (see CliFaults).
 */
export function faultsFromEnv(): CliFaults | undefined {
  const text = process.env.WEBGPU_TRAIN_FAULTS;
  if (!text) return undefined;
  const known = Object.keys(CLI_FAULTS);
  let faults: unknown;
  try {
    faults = JSON.parse(text);
  } catch (e) {
    throw new UserError(`WEBGPU_TRAIN_FAULTS is not valid JSON: ${(e as Error).message}`);
  }
  const entries = typeof faults === 'object' && faults !== null && !Array.isArray(faults) ? Object.entries(faults) : undefined;
  const bad = entries?.find(([k, v]) => !known.includes(k) || !Number.isInteger(v) || (v as number) < 0);
  if (!entries || bad) {
    throw new UserError(
      `WEBGPU_TRAIN_FAULTS must be a JSON object of non-negative integers with keys among ${known.join(', ')}${bad ? `; ${JSON.stringify(bad[0])} is not` : ''}`,
    );
  }
  return faults as CliFaults;
}

export interface RunCliOptions {
  checkpointEvery?: number;
  resume?: Checkpoint;
  initFrom?: Checkpoint;
  faults?: CliFaults;
  /** A new runtime after a device loss; without it a device loss ends the run. */
  acquire?: () => Promise<Runtime>;
  /** Device losses recovered from before giving up (default 3). */
  maxRecoveries?: number;
}

/** The events of a log up to (and including) its record of checkpoint `c`; the whole log when it has none. */
function logUpTo(events: RunEvent[], c: Checkpoint): RunEvent[] {
  const i = events.findLastIndex(
    (e) => e.type === 'checkpoint' && e.phase === c.phase && e.step === c.step && e.globalStep === c.globalStep,
  );
  return i < 0 ? events : events.slice(0, i + 1);
}

function readLog(path: string): RunEvent[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** Temporary files of writes a kill interrupted (never read: the files they were for are whole). */
function removeStaleTemps(dir: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith('.') && f.endsWith(TEMP_SUFFIX)) unlinkSync(join(dir, f));
}

/**
 * A new run may not write over another run's results: refuse an --out folder that holds a checkpoint
 * or a summary unless `overwrite` (checked before any GPU work).
 */
export function checkNewOut(out: string | undefined, overwrite: boolean): void {
  if (!out || overwrite) return;
  const held = [CHECKPOINT_FILE, 'summary.json'].filter((f) => existsSync(join(out, f)));
  if (held.length) {
    throw new UserError(
      `--out ${out} already holds a run (${held.join(', ')}); continue it with --resume ${out}, choose another --out, or add --overwrite to replace it`,
    );
  }
}

export async function runPlanCli(rt: Runtime, plan: unknown, out: string | undefined, opts: RunCliOptions = {}): Promise<void> {
  // The folder is made at the first write, so a run refused at its start leaves nothing behind.
  const ensureOut = () => {
    if (out && !existsSync(out)) mkdirSync(out, { recursive: true });
  };
  if (out && existsSync(out)) removeStaleTemps(out);
  const logPath = out ? join(out, 'metrics.jsonl') : undefined;
  // A resumed run's log goes on from the log of the run it continues, up to its checkpoint.
  const events: RunEvent[] = opts.resume && logPath ? logUpTo(readLog(logPath), opts.resume) : [];
  let last = opts.resume;
  let writes = 0;
  const onCheckpoint = async (c: Checkpoint) => {
    last = c;
    if (!out || !logPath) return;
    ensureOut();
    const marker: RunEvent = { type: 'checkpoint', phase: c.phase, step: c.step, globalStep: c.globalStep };
    writeFileAtomic(logPath, jsonLines([...events, marker]));
    writes++;
    const kill = opts.faults?.killInCheckpointWrite === writes ? () => process.kill(process.pid, 'SIGKILL') : undefined;
    writeFileAtomic(join(out, CHECKPOINT_FILE), await encodeCheckpoint(c), kill);
  };
  const progress = progressPrinter();
  let recoveries = 0;
  let phases: PhaseResult[];
  for (;;) {
    try {
      phases = await runPlan(
        rt,
        plan,
        (e) => {
          events.push(e);
          progress(e);
        },
        {
          logEvery: 10,
          resume: last,
          initFrom: last ? undefined : opts.initFrom,
          checkpointEvery: opts.checkpointEvery ?? 50,
          onCheckpoint,
          faults: opts.faults,
        },
      );
      break;
    } catch (e) {
      progress({ type: 'run-end', phases: [] });
      if (!opts.acquire || !(await isDeviceLoss(e, rt))) throw e;
      const message = (e as Error).message;
      if (recoveries >= (opts.maxRecoveries ?? 3)) {
        throw new UserError(`the GPU device was lost again after ${recoveries} recoveries; giving up: ${message}`);
      }
      recoveries++;
      const where = last ? `its checkpoint at phase ${last.phase}, step ${last.step}` : 'the start';
      console.error(`the GPU device was lost (${message}); acquiring a new device and resuming from ${where}`);
      const keep = last ? logUpTo(events, last) : [];
      events.length = 0;
      events.push(...keep);
      rt = await opts.acquire();
    }
  }
  console.log(table(phases));
  if (out) {
    ensureOut();
    const files = resultFiles(events, rt.report, phases);
    for (const [name, text] of Object.entries(files)) writeFileAtomic(join(out, name), text);
    console.error(
      `wrote ${Object.keys(files)
        .map((f) => join(out, f))
        .join(', ')}`,
    );
  }
}

/** Progress on stderr: a bar per phase on a terminal, a line per logged step otherwise. */
function progressPrinter(): (e: RunEvent) => void {
  const tty = process.stderr.isTTY;
  let bar: cliProgress.SingleBar | undefined;
  let phaseStart = { at: performance.now(), steps: 1 };
  /** Seconds left in the phase at the pace so far (curation and the first steps included). */
  const eta = (step: number) => {
    const left = ((performance.now() - phaseStart.at) / step) * (phaseStart.steps - step);
    return `ETA ${(left / 1000).toFixed(0)} s`;
  };
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  return (e) => {
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
      const samples = e.rollout ? `, samples ${e.rollout.length.toFixed(1)} tokens` : '';
      const metric = e.loss !== undefined ? `loss ${e.loss.toFixed(4)}` : `reward ${e.reward?.toFixed(4)}${samples}`;
      if (bar) bar.update(e.step, { metric });
      else console.error(`  ${e.phase} step ${e.step}/${phaseStart.steps}: ${metric} (${eta(e.step)})`);
    } else if (e.type === 'selection') {
      console.error(`  ${e.phase}: selected ${e.ids.length} of ${e.pool} by rule ${e.rule}`);
    } else if (e.type === 'rollback') {
      stopBar();
      console.error(`  ${e.message}`);
    } else if (e.type === 'phase-end' || e.type === 'run-end') stopBar();
  };
}
