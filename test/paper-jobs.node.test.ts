/**
 * Joining a run split by `paper --jobs` (src/paper/jobs.ts): the units' rows back in the order one
 * lab makes them, each condition's learning rate chosen over all the seeds, the protocol and the
 * verdicts of the whole run; units that do not line up refused. (The end-to-end check, a split
 * run's results.json against one process's, is in paper.node.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { interleaveSeeds, joinUnits, splitRun, type Unit } from '../src/paper/jobs.ts';
import type { PaperResults } from '../src/paper/report.ts';
import { type Row, verdicts } from '../src/paper/verdicts.ts';

const row = (seed: number, condition: Row['condition'], lr: number, val: number): Row => ({
  experiment: 'recipe',
  setting: 'token',
  seed,
  condition,
  lr,
  chosen: lr === 0,
  metrics: { target: val + 0.01 },
  validation: { target: val },
});

/**
 * One seed's rows as its own process makes them: the start measured (lr 0), then the recipe's sweep
 * over two learning rates, each chosen within the seed alone; `pref` the lr this seed prefers.
 */
function unitRows(seed: number, pref: number, margin: number): Row[] {
  const rows = [
    row(seed, { variant: 'start', pretrainSteps: 100 * seed }, 0, 0.9),
    row(seed, { variant: 'recipe' }, 0.001, pref === 0.001 ? 0.5 : 0.5 + margin),
    row(seed, { variant: 'recipe' }, 0.003, pref === 0.003 ? 0.5 : 0.5 + margin),
  ];
  for (const r of rows.slice(1)) r.chosen = r.lr === pref;
  return rows;
}

const unitResults = (unit: Unit, rows: Row[]): PaperResults => ({
  preset: 'tiny',
  target: 'rare',
  seeds: [unit.seed],
  experiments: ['recipe'],
  settingsRun: [unit.setting],
  adapter: { vendor: 'google', architecture: 'swiftshader' } as PaperResults['adapter'],
  machine: { cpu: 'test' },
  started: '2026-12-06T00:00:00.000Z',
  seconds: 5,
  runs: 2,
  settings: { token: 'run' },
  protocol: [],
  rows,
  verdicts: verdicts(rows),
});

const opts = {
  preset: 'tiny' as const,
  target: 'rare' as const,
  experiments: ['recipe' as const],
  settings: ['token' as const],
  machine: { cpu: 'test' },
};

describe('paper --jobs', () => {
  it("splits a run into one unit per setting and seed, setting B's first", () => {
    expect(splitRun(['regression', 'token'], [1, 2])).toEqual([
      { setting: 'token', seed: 1 },
      { setting: 'token', seed: 2 },
      { setting: 'regression', seed: 1 },
      { setting: 'regression', seed: 2 },
    ]);
    expect(splitRun(['regression'], [4])).toEqual([{ setting: 'regression', seed: 4 }]);
  });

  it('puts the rows in the order one lab makes them: a block at a time, then lr, then seed', () => {
    const rows = interleaveSeeds([1, 2, 3].map((seed) => ({ seed, rows: unitRows(seed, 0.001, 0.1) })));
    expect(rows.map((r) => `${r.condition.variant} ${r.lr} s${r.seed}`)).toEqual([
      'start 0 s1',
      'start 0 s2',
      'start 0 s3',
      'recipe 0.001 s1',
      'recipe 0.001 s2',
      'recipe 0.001 s3',
      'recipe 0.003 s1',
      'recipe 0.003 s2',
      'recipe 0.003 s3',
    ]);
    // Each seed's own condition fields (its pretraining steps) kept.
    expect(rows.slice(0, 3).map((r) => r.condition.pretrainSteps)).toEqual([100, 200, 300]);
  });

  it('chooses each learning rate again over all the seeds, and judges the whole run', () => {
    // Seed 1 prefers 0.001 by a little, seeds 2 and 3 prefer 0.003 by more: over the three, 0.003.
    const units = [
      { unit: { setting: 'token' as const, seed: 1 }, rows: unitRows(1, 0.001, 0.05) },
      { unit: { setting: 'token' as const, seed: 2 }, rows: unitRows(2, 0.003, 0.2) },
      { unit: { setting: 'token' as const, seed: 3 }, rows: unitRows(3, 0.003, 0.2) },
    ].map(({ unit, rows }) => ({ unit, res: unitResults(unit, rows) }));
    const started = new Date('2026-12-06T01:00:00.000Z');
    const res = joinUnits(opts, [1, 2, 3], units, { started, seconds: 12.34, jobs: 2 });
    const chosen = res.rows.filter((r) => r.lr > 0 && r.chosen);
    expect(chosen.map((r) => `${r.lr} s${r.seed}`)).toEqual(['0.003 s1', '0.003 s2', '0.003 s3']);
    expect(res.rows.filter((r) => r.lr === 0).every((r) => r.chosen)).toBe(true);
    expect(res.verdicts).toEqual(verdicts(res.rows));
    expect(res.seeds).toEqual([1, 2, 3]);
    expect(res.runs).toBe(6);
    expect(res.seconds).toBe(12.3);
    expect(res.started).toBe(started.toISOString());
    expect(res.jobs).toBe(2);
    expect(res.protocol.some((l) => l.startsWith('Seeds: 1, 2, 3'))).toBe(true);
  });

  it('refuses units that do not line up', () => {
    const a = unitRows(1, 0.001, 0.1);
    const b = unitRows(2, 0.001, 0.1);
    expect(() =>
      interleaveSeeds([
        { seed: 1, rows: a },
        { seed: 2, rows: b.slice(0, 2) },
      ]),
    ).toThrow(/seeds 1 and 2 made different runs/);
    expect(() =>
      interleaveSeeds([
        { seed: 1, rows: a },
        { seed: 2, rows: a },
      ]),
    ).toThrow(/unit of seed 2 holds a row of seed 1/);
    expect(() => interleaveSeeds([{ seed: 1, rows: [...a, a[1]] }])).toThrow(/seed 1 measured .* twice/);
    const one = { unit: { setting: 'token' as const, seed: 1 }, res: unitResults({ setting: 'token', seed: 1 }, a) };
    expect(() => joinUnits(opts, [1, 2], [one], { started: new Date(), seconds: 1, jobs: 2 })).toThrow(
      /no results for setting token, seed 2/,
    );
  });
});
