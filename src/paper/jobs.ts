/**
 * `paper --jobs N`: a run split into units, one per setting and seed, each run by its own process
 * (src/cli/paper.ts starts them, N at a time), and put back together here as the one run they
 * split: the same rows in the same order, the learning rates chosen over all the seeds, the same
 * protocol and verdicts. Every seed's runs depend on that seed alone (its pretraining, data
 * streams and sampling; a unit's lab caches nothing across seeds), so a unit's rows are the ones
 * the whole run would measure for its seed, and only the order of the rows and the choice of each
 * condition's learning rate (a mean over seeds) join the seeds. No file I/O here.
 */
import type { SettingName } from './protocol.ts';
import { type PaperOptions, type PaperResults, paperResults } from './report.ts';
import { chooseLr, conditionKey, type Row, sweepsOf } from './verdicts.ts';

/** One unit of a split run: one setting, one seed. */
export interface Unit {
  setting: SettingName;
  seed: number;
}

/**
 * The units of a run over `settings` and `seeds`, in the order they are best started: setting B's
 * first (a token-setting seed took longer than a setting-A one at the tiny and small presets on
 * this project's machine), so the last to finish are the short ones.
 */
export function splitRun(settings: readonly SettingName[], seeds: readonly number[]): Unit[] {
  const order = [...settings].sort((a, b) => (a === b ? 0 : a === 'token' ? -1 : 1));
  return order.flatMap((setting) => seeds.map((seed) => ({ setting, seed })));
}

/** A row's place in its run, the same for every seed: experiment, condition (its per-seed steps aside) and lr. */
const slotOf = (r: Row) => `${r.experiment} | ${conditionKey(r)} | lr ${r.lr}`;
/** A sweep's or a measurement's rows: the slots made together (every lr of a condition). */
const blockOf = (r: Row) => `${r.experiment} | ${conditionKey(r)}`;

/**
 * The rows of one setting's units (one seed each, in seed order) in the order one lab over all
 * those seeds makes them: a block at a time (a condition's measurement, or its sweep), within it
 * each learning rate, within that each seed. Every unit must have made the same slots in the same
 * order (the experiments run the same code for every seed); anything else is an error.
 */
export function interleaveSeeds(units: readonly { seed: number; rows: readonly Row[] }[]): Row[] {
  const [first] = units;
  const slots = units.map(({ seed, rows }) => {
    const bySlot = new Map<string, Row>();
    for (const r of rows) {
      if (r.seed !== seed) throw new Error(`paper --jobs: the unit of seed ${seed} holds a row of seed ${r.seed}`);
      if (bySlot.has(slotOf(r))) throw new Error(`paper --jobs: seed ${seed} measured "${slotOf(r)}" twice`);
      bySlot.set(slotOf(r), r);
    }
    const order = rows.map(slotOf).join('\n');
    if (order !== first.rows.map(slotOf).join('\n'))
      throw new Error(`paper --jobs: seeds ${first.seed} and ${seed} made different runs; their rows do not line up`);
    return bySlot;
  });
  const out: Row[] = [];
  for (let i = 0; i < first.rows.length; ) {
    let end = i;
    while (end < first.rows.length && blockOf(first.rows[end]) === blockOf(first.rows[i])) end++;
    for (let k = i; k < end; k++) for (const bySlot of slots) out.push({ ...(bySlot.get(slotOf(first.rows[k])) as Row) });
    i = end;
  }
  return out;
}

/**
 * The results of the run `opts` describes from its units' results (each run with the same options
 * but one setting and one seed): the rows of each setting interleaved as one lab makes them, each
 * condition's learning rate chosen again over all the seeds, the protocol and verdicts of the whole.
 */
export function joinUnits(
  opts: Omit<PaperOptions, 'onProgress'>,
  seeds: readonly number[],
  units: readonly { unit: Unit; res: PaperResults }[],
  timing: { started: Date; seconds: number; jobs: number },
): PaperResults {
  const rows: Row[] = [];
  for (const setting of opts.settings) {
    const mine = seeds.map((seed) => {
      const u = units.find((x) => x.unit.setting === setting && x.unit.seed === seed);
      if (!u) throw new Error(`paper --jobs: no results for setting ${setting}, seed ${seed}`);
      return { seed, rows: u.res.rows };
    });
    rows.push(...interleaveSeeds(mine));
  }
  for (const rs of sweepsOf(rows).values()) chooseLr(rs);
  const adapters = new Set(units.map((u) => JSON.stringify(u.res.adapter)));
  if (adapters.size > 1) throw new Error('paper --jobs: the units ran on different adapters');
  const res = paperResults(opts, {
    seeds: [...seeds],
    rows,
    runs: units.reduce((n, u) => n + u.res.runs, 0),
    adapter: units[0].res.adapter,
    started: timing.started,
    seconds: timing.seconds,
  });
  return { ...res, jobs: timing.jobs };
}
