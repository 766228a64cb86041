/**
 * Pooling result sets (`paper --merge`, src/paper/merge.ts): rows united, learning rates chosen again
 * over all the seeds, and every input that does not pool refused with the reason.
 */
import { describe, expect, it } from 'vitest';
import { UserError } from '../src/device/errors.ts';
import { mergeResults } from '../src/paper/merge.ts';
import type { PaperResults } from '../src/paper/report.ts';
import { type Row, verdicts } from '../src/paper/verdicts.ts';

/** A recipe-experiment row: `val` the validation target error, `test` the test one. */
const row = (seed: number, variant: string, lr: number, val: number, test = val): Row => ({
  experiment: 'recipe',
  setting: 'token',
  seed,
  condition: { variant },
  lr,
  chosen: false,
  metrics: { target: test },
  validation: { target: val },
});

/** A results set of `rows` on `seeds`, each condition's lr chosen within it as a run would. */
function results(seeds: number[], rows: Row[], extra: Partial<PaperResults> = {}): PaperResults {
  for (const variant of new Set(rows.map((r) => r.condition.variant))) {
    const own = rows.filter((r) => r.condition.variant === variant);
    const score = (lr: number) => own.filter((r) => r.lr === lr).reduce((a, r) => a + r.validation.target, 0);
    const best = [...new Set(own.map((r) => r.lr))].reduce((x, y) => (score(y) < score(x) ? y : x));
    for (const r of own) r.chosen = r.lr === best;
  }
  return {
    preset: 'small',
    target: 'rare',
    seeds,
    experiments: ['recipe'],
    settingsRun: ['token'],
    adapter: { vendor: 'google', architecture: 'swiftshader' } as PaperResults['adapter'],
    machine: { cpu: 'test' },
    started: `2026-12-0${seeds[0]}T00:00:00.000Z`,
    seconds: 10,
    runs: rows.length,
    settings: { token: 'run' },
    protocol: ['Task: pointer chasing.', `Seeds: ${seeds.join(', ')}.`],
    rows,
    verdicts: verdicts(rows),
    ...extra,
  };
}

/**
 * Seeds 1-2 prefer lr 0.001 for the recipe (validation 0.4 vs 0.5); seeds 3-4 prefer 0.003 by much
 * more (0.2 vs 0.9): pooled, 0.003 wins (mean 0.35 vs 0.65).
 */
const low = () =>
  results(
    [1, 2],
    [1, 2].flatMap((s) => [row(s, 'recipe', 0.001, 0.4), row(s, 'recipe', 0.003, 0.5), row(s, 'small-rl', 0.001, 0.6)]),
  );
const high = () =>
  results(
    [3, 4],
    [3, 4].flatMap((s) => [row(s, 'recipe', 0.001, 0.9), row(s, 'recipe', 0.003, 0.2), row(s, 'small-rl', 0.001, 0.6)]),
  );

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('paper --merge', () => {
  it('unites the rows, chooses each condition lr again over all the seeds, and judges the pooled rows', () => {
    const a = low();
    const m = mergeResults([
      { dir: 'a', res: a },
      { dir: 'b', res: high() },
    ]);
    expect(m.seeds).toEqual([1, 2, 3, 4]);
    expect(m.rows).toHaveLength(12);
    const chosen = (variant: string) => [
      ...new Set(m.rows.filter((r) => r.condition.variant === variant && r.chosen).map((r) => r.lr)),
    ];
    expect(chosen('recipe')).toEqual([0.003]);
    expect(chosen('small-rl')).toEqual([0.001]);
    // Seeds 1-2 on their own chose 0.001 for the recipe; their input is left as it was.
    expect(a.rows.filter((r) => r.chosen && r.condition.variant === 'recipe').map((r) => r.lr)).toEqual([0.001, 0.001]);
    expect(m.verdicts).toEqual(verdicts(m.rows));
    expect(m.protocol).toEqual([
      'Task: pointer chasing.',
      'Seeds: 1, 2, 3, 4.',
      expect.stringMatching(
        /^Pooled by `paper --merge` from a \(seeds 1, 2; recipe\), b \(seeds 3, 4; recipe\).*0 runs present in two inputs/,
      ),
    ]);
    expect(m.sources?.map((s) => [s.dir, s.seeds])).toEqual([
      ['a', [1, 2]],
      ['b', [3, 4]],
    ]);
    expect([m.runs, m.seconds, m.started]).toEqual([12, 20, '2026-12-01T00:00:00.000Z']);
  });

  it('keeps a run present in two inputs once when its numbers agree, with its RL curve', () => {
    const a = low();
    const curve = { step: [1], reward: [0.5], length: [6], excess: [0] };
    const b = results([1], [{ ...a.rows[0], curve }]);
    const m = mergeResults([
      { dir: 'a', res: a },
      { dir: 'b', res: b },
    ]);
    expect(m.rows).toHaveLength(a.rows.length);
    expect(m.rows.find((r) => r.seed === 1 && r.lr === 0.001 && r.condition.variant === 'recipe')?.curve).toEqual(curve);
    expect(m.protocol.at(-1)).toMatch(/1 runs present in two inputs with identical numbers counted once/);
  });

  it('with --only pools just those experiments, whatever protocol the others ran under', () => {
    const withRl = (res: PaperResults, rlLine: string): PaperResults => ({
      ...res,
      experiments: ['rl', 'recipe'],
      protocol: [res.protocol[0], `2. RL: ${rlLine}`, '4. Recipe: five variants.', res.protocol[1]],
      rows: [...res.rows, { ...res.rows[0], experiment: 'rl', condition: { band: 'medium', N: 8 } }],
    });
    const a = withRl(low(), 'lr 0.001');
    const b = withRl(high(), 'lr 0.01');
    const pair = [
      { dir: 'a', res: a },
      { dir: 'b', res: b },
    ];
    // Whole, they do not pool: experiment 2's protocol differs.
    expect(refusal(() => mergeResults(pair))).toMatch(/their protocol texts differ/);
    const m = mergeResults(pair, ['recipe']);
    expect(m.experiments).toEqual(['recipe']);
    expect(m.rows.every((r) => r.experiment === 'recipe')).toBe(true);
    expect(m.rows).toHaveLength(12);
    expect(m.protocol.slice(0, 3)).toEqual(['Task: pointer chasing.', '4. Recipe: five variants.', 'Seeds: 1, 2, 3, 4.']);
    expect(m.sources?.map((s) => [s.experiments, s.ran])).toEqual([
      [['recipe'], ['rl', 'recipe']],
      [['recipe'], ['rl', 'recipe']],
    ]);
    expect(refusal(() => mergeResults(pair, ['sft']))).toMatch(
      /a holds none of the experiments to pool \(sft\); it has rl, recipe/,
    );
  });

  it('with --drop-seeds leaves those seeds out: rows, seed lists, learning rates and verdicts', () => {
    const pair = [
      { dir: 'a', res: low() },
      { dir: 'b', res: high() },
    ];
    const m = mergeResults(pair, undefined, [1]);
    expect(m.seeds).toEqual([2, 3, 4]);
    expect(m.rows.map((r) => r.seed).sort()).toEqual([2, 2, 2, 3, 3, 3, 4, 4, 4]);
    expect(m.sources?.map((s) => [s.dir, s.seeds])).toEqual([
      ['a', [2]],
      ['b', [3, 4]],
    ]);
    // Without seed 1, the recipe's pooled choice is still 0.003 (mean 0.3 vs 0.733), and the
    // verdicts are those of the kept rows alone.
    expect([...new Set(m.rows.filter((r) => r.chosen && r.condition.variant === 'recipe').map((r) => r.lr))]).toEqual([0.003]);
    expect(m.verdicts).toEqual(verdicts(m.rows));
    expect(m.protocol[1]).toBe('Seeds: 2, 3, 4.');
    expect(m.protocol.at(-1)).toMatch(
      /from a \(seeds 2; recipe\), b \(seeds 3, 4; recipe\), leaving out seed 1 \(--drop-seeds\):/,
    );
    // Dropping seeds 1 and 2 leaves input a with nothing: a refusal, as is a seed no input holds.
    expect(refusal(() => mergeResults(pair, undefined, [1, 2]))).toMatch(/a holds only seeds left out by --drop-seeds \(1, 2\)/);
    expect(refusal(() => mergeResults(pair, undefined, [7]))).toMatch(
      /--drop-seeds 7: no input holds seed 7 \(they hold 1, 2, 3, 4\)/,
    );
  });

  it('refuses what does not pool, naming the conflict', () => {
    const pair = (b: PaperResults) => () =>
      mergeResults([
        { dir: 'a', res: low() },
        { dir: 'b', res: b },
      ]);
    expect(refusal(pair({ ...high(), preset: 'tiny' }))).toMatch(/cannot pool a and b: their presets differ \(small vs tiny\)/);
    expect(refusal(pair({ ...high(), target: 'shifted' }))).toMatch(/their targets differ/);
    expect(refusal(pair({ ...high(), settingsRun: ['regression', 'token'] }))).toMatch(/their settings differ/);
    expect(refusal(pair({ ...high(), protocol: ['Task: another task.', 'Seeds: 3, 4.'] }))).toMatch(
      /their protocol texts differ/,
    );
    // The same run with other numbers: not a re-run of the same code.
    const clash = low();
    clash.rows[0] = { ...clash.rows[0], metrics: { target: 0.01 } };
    expect(refusal(pair(clash))).toMatch(
      /the run "token recipe seed=1 lr=0.001 variant=recipe" is in both with different numbers/,
    );
    // Another lr grid for a condition: its lrs would be chosen over different seeds.
    const grid = high();
    grid.rows = grid.rows.map((r) => (r.lr === 0.003 ? { ...r, lr: 0.01 } : r));
    expect(refusal(pair(grid))).toMatch(
      /condition "token recipe variant=recipe" has lr 0.001 on seeds 1, 2, 3, 4 but lr 0.003 on seeds 1, 2/,
    );
    expect(refusal(() => mergeResults([{ dir: 'a', res: low() }]))).toMatch(/at least two result folders, got 1/);
  });
});
