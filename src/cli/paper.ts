/**
 * `paper`: run the paper experiments and write DIR/results.json, DIR/report.html and one SVG per
 * experiment (each file written atomically). Progress on stderr; the verdicts on stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHTML } from 'linkedom';
import { UserError } from '../device/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { joinUnits, splitRun, type Unit } from '../paper/jobs.ts';
import { mergeResults } from '../paper/merge.ts';
import { plotAll } from '../paper/plots.ts';
import {
  EXPERIMENT_TITLES,
  EXPERIMENTS,
  type ExperimentName,
  PRESETS,
  type PostBudgets,
  SFT_DIFFICULTIES,
  type SftDifficulty,
  type PresetName,
  SETTING_NAMES,
  type SettingName,
  TARGET_NAMES,
  type TargetName,
} from '../paper/protocol.ts';
import { type PaperResults, reportHtml, runPaper, runSeeds, SETTING_TITLES, summaryMarkdown } from '../paper/report.ts';
import { type Verdict, verdicts } from '../paper/verdicts.ts';
import { machineInfo } from './bench.ts';
import { readJsonFile, writeFileAtomic } from './io.ts';

/** Parse --only (comma-separated experiment names) and --preset, naming the valid values on error. */
export function paperOptions(opts: {
  only?: string;
  preset: string;
  seeds?: number;
  firstSeed?: number;
  target: string;
  settings?: string;
  budgets?: string;
  pretrainFactor?: string;
  startError?: string;
  snapshotEvery?: string;
  sftDifficulty?: string;
}): {
  experiments: ExperimentName[];
  preset: PresetName;
  target: TargetName;
  settings: SettingName[];
  seeds?: number;
  firstSeed?: number;
  budgets?: PostBudgets | null;
  pretrainFactor?: number;
  startError?: number;
  snapshotEvery?: number;
  sftDifficulty?: SftDifficulty;
} {
  if (!TARGET_NAMES.includes(opts.target as TargetName))
    throw new UserError(`--target: unknown target "${opts.target}"; valid targets: ${TARGET_NAMES.join(', ')}`);
  if (!PRESETS.includes(opts.preset as PresetName))
    throw new UserError(`--preset: unknown preset "${opts.preset}"; valid presets: ${PRESETS.join(', ')}`);
  const experiments = opts.only ? opts.only.split(',').map((s) => s.trim()) : [...EXPERIMENTS];
  for (const e of experiments)
    if (!EXPERIMENTS.includes(e as ExperimentName))
      throw new UserError(`--only: unknown experiment "${e}"; valid experiments: ${EXPERIMENTS.join(', ')} (comma-separated)`);
  if (opts.seeds !== undefined && opts.seeds < 1) throw new UserError('--seeds must be at least 1');
  if (opts.firstSeed !== undefined && opts.firstSeed < 1)
    throw new UserError(`--first-seed must be at least 1 (seeds are numbered from 1), got ${opts.firstSeed}`);
  const settings = (opts.settings ?? SETTING_NAMES.join(',')).split(',').map((s) => s.trim());
  for (const s of settings)
    if (!SETTING_NAMES.includes(s as SettingName))
      throw new UserError(`--settings: unknown setting "${s}"; valid settings: ${SETTING_NAMES.join(', ')} (comma-separated)`);
  let budgets: PostBudgets | null | undefined;
  if (opts.budgets === 'none') budgets = null;
  else if (opts.budgets !== undefined) {
    const parts = opts.budgets.split(',').map((x) => x.trim());
    const [short, long] = parts.map(Number);
    if (parts.length !== 2 || !(short > 0 && short < 1 && long > 1 && Number.isFinite(long)))
      throw new UserError(
        `--budgets: expected two factors "short,long" with 0 < short < 1 < long (e.g. 0.25,4), or "none", got "${opts.budgets}"`,
      );
    budgets = { short, long };
  }
  let pretrainFactor: number | undefined;
  if (opts.pretrainFactor !== undefined) {
    pretrainFactor = Number(opts.pretrainFactor);
    if (!(pretrainFactor > 0 && pretrainFactor <= 100) || opts.pretrainFactor.trim() === '')
      throw new UserError(
        `--pretrain-factor: expected a number above 0 and at most 100 (e.g. 3: every pretraining 3 times as long), got "${opts.pretrainFactor}"`,
      );
  }
  let startError: number | undefined;
  if (opts.startError !== undefined) {
    startError = Number(opts.startError);
    if (!(startError > 0 && startError < 1) || opts.startError.trim() === '')
      throw new UserError(
        `--start-error: expected a target error between 0 and 1, exclusive (e.g. 0.5: start from the snapshot where the target is about half learned), got "${opts.startError}"`,
      );
  }
  let snapshotEvery: number | undefined;
  if (opts.snapshotEvery !== undefined) {
    snapshotEvery = Number(opts.snapshotEvery);
    if (!Number.isInteger(snapshotEvery) || snapshotEvery < 1 || opts.snapshotEvery.trim() === '')
      throw new UserError(
        `--snapshot-every: expected a whole number of pretraining steps, at least 1 (e.g. 100), got "${opts.snapshotEvery}"`,
      );
  }
  if (opts.sftDifficulty !== undefined && !SFT_DIFFICULTIES.includes(opts.sftDifficulty as SftDifficulty))
    throw new UserError(
      `--sft-difficulty: unknown score "${opts.sftDifficulty}"; valid: ${SFT_DIFFICULTIES.join(', ')} (loss: the pretrained model's error on each example; pass-rate: 1 - its pass rate, as the RL bands)`,
    );
  return {
    experiments: experiments as ExperimentName[],
    settings: SETTING_NAMES.filter((s) => settings.includes(s)),
    budgets,
    ...(pretrainFactor !== undefined ? { pretrainFactor } : {}),
    ...(startError !== undefined ? { startError } : {}),
    ...(snapshotEvery !== undefined ? { snapshotEvery } : {}),
    ...(opts.sftDifficulty === 'pass-rate' ? { sftDifficulty: 'pass-rate' as const } : {}),
    preset: opts.preset as PresetName,
    target: opts.target as TargetName,
    seeds: opts.seeds,
    firstSeed: opts.firstSeed,
  };
}

/** Make the output folder, or check that the one there is a folder. */
function outFolder(out: string): void {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UserError(`--out ${out}: exists and is not a folder`);
  mkdirSync(out, { recursive: true });
}

export async function runPaperCli(rt: Runtime, out: string, opts: ReturnType<typeof paperOptions>): Promise<void> {
  outFolder(out);
  const machine = machineInfo();
  let runs = 0;
  const t0 = performance.now();
  const res = await runPaper(rt, {
    ...opts,
    machine,
    onProgress: (msg) => {
      if (msg.startsWith('experiment')) console.error(msg);
      else if (++runs % 25 === 0) console.error(`  ${runs} runs, ${((performance.now() - t0) / 1000).toFixed(0)} s: ${msg}`);
    },
  });
  saveResults(out, res);
  console.error(`(${res.runs} runs, ${res.seconds} s)`);
}

/** How many units (one per setting and seed) `paper --jobs` would split this run into. */
export const unitCount = (opts: ReturnType<typeof paperOptions>): number => splitRun(opts.settings, runSeeds(opts)).length;

/** The arguments of a unit's run: the whole run's options, but its one setting and seed, into `out`. */
function unitArgs(opts: ReturnType<typeof paperOptions>, unit: Unit, out: string): string[] {
  const { budgets } = opts;
  const shape: [string, string | number | undefined][] = [
    ['--budgets', budgets === null ? 'none' : budgets ? `${budgets.short},${budgets.long}` : undefined],
    ['--pretrain-factor', opts.pretrainFactor],
    ['--start-error', opts.startError],
    ['--snapshot-every', opts.snapshotEvery],
    ['--sft-difficulty', opts.sftDifficulty],
  ];
  return [
    'paper',
    ...['--preset', opts.preset, '--target', opts.target, '--only', opts.experiments.join(',')],
    ...['--settings', unit.setting, '--seeds', '1', '--first-seed', String(unit.seed), '--out', out],
    ...shape.flatMap(([flag, v]) => (v === undefined ? [] : [flag, String(v)])),
  ];
}

/** The last `n` lines of a file (a failed unit's output), indented. */
const tail = (file: string, n: number) =>
  readFileSync(file, 'utf8')
    .split(/\r?\n|\r/)
    .filter((l) => l.trim())
    .slice(-n)
    .map((l) => `  ${l}`)
    .join('\n');

/**
 * `paper --jobs N`: the run split into units, one per setting and seed, each a `paper` process of
 * its own (this command line again, one setting, one seed, into a temporary folder), N at a time,
 * setting B's first; then joined (src/paper/jobs.ts) into the results one process would have
 * written, with the wall time of the whole. A unit that fails stops the others, and its output's
 * end is shown. Runs through tsx, as `npm run paper` does: a unit is started with this process's
 * node flags (tsx's loader).
 */
export async function runPaperJobs(out: string, opts: ReturnType<typeof paperOptions>, jobs: number): Promise<void> {
  outFolder(out);
  const seeds = runSeeds(opts);
  const units = splitRun(opts.settings, seeds);
  const n = Math.min(jobs, units.length);
  const work = mkdtempSync(join(tmpdir(), 'webgpu-train-paper-jobs-'));
  const cli = fileURLToPath(new URL('./main.ts', import.meta.url));
  const started = new Date();
  const t0 = performance.now();
  const secs = (since: number) => ((performance.now() - since) / 1000).toFixed(0);
  console.error(`paper --jobs ${n}: ${units.length} units (settings x seeds), ${n} processes at once; their output in ${work}`);
  const done: { unit: Unit; res: PaperResults }[] = [];
  const running = new Set<ChildProcess>();
  // Interrupted (Ctrl-C, a kill): the units stopped and their folder removed before this exits.
  const interrupted = (signal: NodeJS.Signals) => {
    for (const c of running) c.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
    console.error(`paper --jobs: stopped by ${signal}; nothing written`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await new Promise<void>((resolveAll, rejectAll) => {
      let next = 0;
      let failure: Error | undefined;
      const fail = (e: Error) => {
        failure ??= e;
        for (const c of running) c.kill('SIGTERM');
        if (running.size === 0) rejectAll(failure);
      };
      const launch = () => {
        while (!failure && running.size < n && next < units.length) {
          const unit = units[next++];
          const name = `${SETTING_TITLES[unit.setting]}, seed ${unit.seed}`;
          const dir = join(work, `${unit.setting}-${unit.seed}`);
          const log = join(work, `${unit.setting}-${unit.seed}.log`);
          const fd = openSync(log, 'w');
          const child = spawn(process.execPath, [...process.execArgv, cli, ...unitArgs(opts, unit, dir)], {
            stdio: ['ignore', fd, fd],
          });
          closeSync(fd);
          running.add(child);
          const tu = performance.now();
          child.on('error', (e) => {
            // A process that could not start never exits: it is not running.
            running.delete(child);
            fail(new UserError(`paper --jobs: could not start the run of ${name}: ${e.message}`));
          });
          child.on('exit', (code, signal) => {
            running.delete(child);
            if (failure) {
              if (running.size === 0) rejectAll(failure);
              return;
            }
            if (code !== 0) {
              fail(
                new UserError(
                  `paper --jobs: the run of ${name} failed (${signal ? `signal ${signal}` : `exit code ${code}`}); the end of its output:\n${tail(log, 15)}`,
                ),
              );
              return;
            }
            try {
              done.push({ unit, res: readResults(dir) });
            } catch (e) {
              fail(e as Error);
              return;
            }
            console.error(`  ${name}: done in ${secs(tu)} s (${done.length} of ${units.length}, ${secs(t0)} s)`);
            if (done.length === units.length) resolveAll();
            else launch();
          });
        }
      };
      launch();
    });
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    for (const c of running) c.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
  const res = joinUnits({ ...opts, machine: machineInfo() }, seeds, done, {
    started,
    seconds: (performance.now() - t0) / 1000,
    jobs: n,
  });
  saveResults(out, res);
  console.error(`(${res.runs} runs, ${res.seconds} s, ${n} processes at once)`);
}

/**
 * Write a finished run's results into `out` (writeResults), which a run of minutes or hours must not
 * lose: a folder removed while it ran is made again (and said so), and where writing fails anyway
 * results.json goes to a file in the system's temporary folder that the error names.
 */
export function saveResults(out: string, res: PaperResults): void {
  if (!existsSync(out)) {
    console.error(`--out ${out}: the folder is gone (removed while the run went on); making it again`);
    mkdirSync(out, { recursive: true });
  }
  try {
    writeResults(out, res);
  } catch (e) {
    const rescue = join(tmpdir(), `webgpu-train-paper-${process.pid}-${Date.now()}.json`);
    writeFileAtomic(rescue, `${JSON.stringify(res, null, 1)}\n`);
    throw new UserError(
      `${(e as Error).message}; the run's results are saved in ${rescue} (copy it into a folder as results.json and run paper --render on that folder)`,
    );
  }
}

/** Write results.json, report.html, summary.md and the SVG plots of `res` into `out`, and print the verdicts. */
function writeResults(out: string, res: PaperResults): void {
  writeFileAtomic(join(out, 'results.json'), `${JSON.stringify(res, null, 1)}\n`);
  const { document } = parseHTML('<!doctype html><html><body></body></html>');
  const svgs = plotAll(res.rows, document as unknown as Document);
  for (const [e, svg] of Object.entries(svgs)) writeFileAtomic(join(out, `${e}.svg`), `${svg}\n`);
  writeFileAtomic(join(out, 'report.html'), reportHtml(res, svgs));
  writeFileAtomic(join(out, 'summary.md'), summaryMarkdown(res));
  for (const v of res.verdicts)
    console.log(`${SETTING_TITLES[v.setting ?? 'regression']}, ${EXPERIMENT_TITLES[v.experiment]}: ${v.verdict}`);
  console.error(`wrote ${out}/results.json, report.html, summary.md and ${Object.keys(svgs).length} SVG plots`);
}

/** DIR/results.json, checked to be a results file of this version of `paper`. */
function readResults(dir: string): PaperResults {
  const res = readJsonFile(join(dir, 'results.json'), 'results') as PaperResults;
  const need = ['preset', 'target', 'seeds', 'adapter', 'machine', 'rows', 'experiments', 'protocol', 'settings'] as const;
  const missing = need.filter((k) => res?.[k] === undefined);
  if (typeof res !== 'object' || res === null || missing.length || !Array.isArray(res.rows))
    throw new UserError(
      `${join(dir, 'results.json')} is not a results file of this version of \`paper\` (missing: ${missing.join(', ') || 'rows'}); run the experiments again`,
    );
  return res;
}

/**
 * `paper --merge A,B,... --out DIR [--only EXPERIMENTS]`: pool the rows of runs of one protocol on
 * different seeds into DIR (results.json, report, plots), the learning rates chosen again and the
 * verdicts computed over all the seeds; `--only` pools just those experiments. Refuses inputs that
 * do not pool (see src/paper/merge.ts) before writing anything.
 */
export function mergePaperCli(dirs: string, out: string, only?: readonly ExperimentName[], drop?: readonly number[]): void {
  const list = dirs
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  const inputs = list.map((dir) => ({ dir, res: readResults(dir) }));
  const res = mergeResults(inputs, only, drop);
  if (list.some((d) => resolve(d) === resolve(out)))
    throw new UserError(`--out ${out} is one of the --merge inputs; write the pooled set to a new folder`);
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UserError(`--out ${out}: exists and is not a folder`);
  mkdirSync(out, { recursive: true });
  writeResults(out, res);
}

/**
 * `paper --render DIR`: draw the report, summary and plots again from DIR/results.json (after a
 * change to the report code), with the verdicts recomputed from its rows by the current rules and
 * written back into results.json (its rows and everything else unchanged).
 */
export function renderPaperCli(dir: string): void {
  const res = readResults(dir);
  const recomputed = verdicts(res.rows);
  const values = (vs: Verdict[]) => JSON.stringify(vs.map((v) => [v.setting ?? 'regression', v.experiment, v.verdict]));
  if (values(recomputed) !== values(res.verdicts ?? []))
    console.error(
      'note: the stored verdicts differ from what the current rules give on these rows; the report shows the recomputed ones',
    );
  else if (JSON.stringify(recomputed) !== JSON.stringify(res.verdicts))
    console.error(
      'note: the verdicts are unchanged; their details (criteria, numbers, paired tests) are recomputed by the current rules',
    );
  const updated = { ...res, verdicts: recomputed };
  // The rows stay as the run wrote them; only the verdicts (derived from them) are brought up to date.
  writeResults(dir, updated);
}
