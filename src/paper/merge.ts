/**
 * Pool the rows of several `paper` runs of one protocol (typically the same experiments on disjoint
 * seeds: `--first-seed 4` after a run on seeds 1-3) into one results set, as if one run had used
 * all their seeds: the learning rate of every condition is chosen again on the pooled validation
 * errors, and the verdicts are computed from the pooled rows. No file I/O here (src/cli/paper.ts
 * reads and writes).
 *
 * What may be pooled is checked, never assumed: the same preset, target and adapter; protocol texts
 * that differ only in their seed lists; one learning-rate grid per condition, run on every seed of
 * that condition. A run present in two inputs (the same setting, experiment, seed, condition and
 * learning rate) must have measured exactly the same numbers, a re-run of deterministic code; it is
 * kept once (with its RL curve, if either has one). Anything else is an error naming the conflict.
 */
import { UserError } from '../device/errors.ts';
import { type ExperimentName, EXPERIMENTS } from './protocol.ts';
import type { MergeSource, PaperResults } from './report.ts';
import { chooseLr, type Row, sweepsOf, verdicts } from './verdicts.ts';

/** One input: its folder (for messages and the record of sources) and its results. */
export interface MergeInput {
  dir: string;
  res: PaperResults;
}

const SEEDS_LINE = /^Seeds: \d+(, \d+)*/;
/** A protocol line about one experiment starts with its number ("2. RL: ..."). */
const EXPERIMENT_LINE = /^([1-9])\. /;

/** The experiment a protocol line describes, if it describes one. */
function lineExperiment(line: string): ExperimentName | undefined {
  const m = EXPERIMENT_LINE.exec(line);
  return m ? EXPERIMENTS[Number(m[1]) - 1] : undefined;
}

/** A run's identity: two rows with the same key are the same run. */
const runKey = (r: Row) =>
  `${r.setting} ${r.experiment} seed=${r.seed} lr=${r.lr} ${Object.entries(r.condition)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}`;

function sameOrThrow(inputs: MergeInput[], what: string, of: (res: PaperResults) => string): void {
  const first = of(inputs[0].res);
  for (const x of inputs.slice(1))
    if (of(x.res) !== first)
      throw new UserError(
        `cannot pool ${inputs[0].dir} and ${x.dir}: their ${what} differ (${first} vs ${of(x.res)}); only runs of one protocol pool`,
      );
}

/**
 * Pool `inputs`; with `only`, just those experiments' rows (and protocol lines: the inputs' other
 * experiments may have run under another protocol, as long as these did not); with `drop`, without
 * those seeds' rows (a seed whose test set was looked at while the protocol was being chosen, say),
 * recorded in the pooled set's protocol.
 */
export function mergeResults(all: MergeInput[], only?: readonly ExperimentName[], drop: readonly number[] = []): PaperResults {
  if (all.length < 2) throw new UserError(`--merge needs at least two result folders, got ${all.length}`);
  for (const seed of drop)
    if (!all.some(({ res }) => res.seeds.includes(seed)))
      throw new UserError(
        `--drop-seeds ${seed}: no input holds seed ${seed} (they hold ${[...new Set(all.flatMap(({ res }) => res.seeds))].sort((a, b) => a - b).join(', ')})`,
      );
  const keep = (e: ExperimentName) => !only || only.includes(e);
  const inputs = all.map(({ dir, res }) => {
    const experiments = res.experiments.filter(keep);
    if (!experiments.length)
      throw new UserError(
        `${dir} holds none of the experiments to pool (${only?.join(', ')}); it has ${res.experiments.join(', ')}`,
      );
    const seeds = res.seeds.filter((s) => !drop.includes(s));
    if (!seeds.length)
      throw new UserError(`${dir} holds only seeds left out by --drop-seeds (${res.seeds.join(', ')}); leave it out of --merge`);
    return {
      dir,
      res: {
        ...res,
        experiments,
        seeds,
        rows: res.rows.filter((r) => keep(r.experiment) && !drop.includes(r.seed)),
        protocol: res.protocol.filter((line) => {
          const e = lineExperiment(line);
          return !e || keep(e);
        }),
      },
    };
  });
  sameOrThrow(inputs, 'presets', (r) => r.preset);
  sameOrThrow(inputs, 'targets', (r) => r.target);
  sameOrThrow(inputs, 'adapters', (r) => `${r.adapter.vendor} / ${r.adapter.architecture}`);

  sameOrThrow(inputs, 'settings', (r) => (r.settingsRun ?? ['regression']).join(', '));
  // Protocol texts: the same lines, except the seed lists; a difference is named by its first line.
  const lines = (r: PaperResults) => r.protocol.map((line) => line.replace(SEEDS_LINE, 'Seeds: …'));
  const base = lines(inputs[0].res);
  for (const x of inputs.slice(1)) {
    const other = lines(x.res);
    const at = Array.from({ length: Math.max(base.length, other.length) }, (_, i) => i).find((i) => base[i] !== other[i]);
    if (at !== undefined)
      throw new UserError(
        `cannot pool ${inputs[0].dir} and ${x.dir}: their protocol texts differ at line ${at + 1} ("${base[at] ?? '(none)'}" vs "${other[at] ?? '(none)'}"); only runs of one protocol pool`,
      );
  }

  // Rows: the union, a run measured twice kept once.
  const byRun = new Map<string, { row: Row; dir: string }>();
  let duplicates = 0;
  for (const { dir, res } of inputs)
    for (const r of res.rows) {
      const key = runKey(r);
      const seen = byRun.get(key);
      if (!seen) {
        byRun.set(key, { row: { ...r }, dir });
        continue;
      }
      const measured = (x: Row) => JSON.stringify([x.metrics, x.validation]);
      if (measured(seen.row) !== measured(r))
        throw new UserError(
          `cannot pool ${seen.dir} and ${dir}: the run "${key}" is in both with different numbers; pool runs on disjoint seeds, or runs that repeat each other exactly`,
        );
      if (seen.row.curve && r.curve && JSON.stringify(seen.row.curve) !== JSON.stringify(r.curve))
        throw new UserError(`cannot pool ${seen.dir} and ${dir}: the run "${key}" is in both with different RL curves`);
      if (!seen.row.curve && r.curve) seen.row.curve = r.curve;
      duplicates++;
    }
  const rows = [...byRun.values()].map((x) => x.row);

  // Learning rates: one grid per condition, every rate run on the same seeds; chosen again on the
  // pooled validation error (ties: the rate that comes first, as in the run itself).
  for (const [key, rs] of sweepsOf(rows)) {
    const lrs = [...new Set(rs.map((r) => r.lr))];
    const seedsOf = (lr: number) =>
      rs
        .filter((r) => r.lr === lr)
        .map((r) => r.seed)
        .sort((a, b) => a - b)
        .join(', ');
    for (const lr of lrs.slice(1))
      if (seedsOf(lr) !== seedsOf(lrs[0]))
        throw new UserError(
          `cannot pool: condition "${key}" has lr ${lrs[0]} on seeds ${seedsOf(lrs[0])} but lr ${lr} on seeds ${seedsOf(lr)}; the inputs' learning-rate grids differ`,
        );
    chooseLr(rs);
  }

  const seeds = [...new Set(inputs.flatMap((x) => x.res.seeds))].sort((a, b) => a - b);
  const sources: MergeSource[] = inputs.map(({ dir, res }, i) => ({
    dir,
    seeds: res.seeds,
    experiments: res.experiments,
    ...(res.experiments.length < all[i].res.experiments.length ? { ran: all[i].res.experiments } : {}),
    runs: res.runs,
    seconds: res.seconds,
    started: res.started,
  }));
  const first = inputs[0].res;
  const pooled = `Pooled by \`paper --merge\` from ${sources
    .map((s) => `${s.dir} (seeds ${s.seeds.join(', ')}; ${s.experiments.join(', ')})`)
    .join(
      ', ',
    )}${drop.length ? `, leaving out seed${drop.length > 1 ? 's' : ''} ${[...drop].sort((a, b) => a - b).join(', ')} (--drop-seeds)` : ''}: the learning rate of each condition chosen again by the mean validation error over all the seeds; ${duplicates} runs present in two inputs with identical numbers counted once.`;
  return {
    ...first,
    seeds,
    experiments: EXPERIMENTS.filter((e) => inputs.some((x) => x.res.experiments.includes(e))),
    started: sources.map((s) => s.started).sort()[0],
    seconds: Math.round(sources.reduce((a, s) => a + s.seconds, 0) * 10) / 10,
    runs: sources.reduce((a, s) => a + s.runs, 0),
    protocol: [...first.protocol.map((line) => line.replace(SEEDS_LINE, `Seeds: ${seeds.join(', ')}`)), pooled],
    rows,
    verdicts: verdicts(rows),
    sources,
  };
}
