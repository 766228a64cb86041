/**
 * The paper experiments (src/paper): verdicts follow their written rules on synthetic rows (so they
 * can come out either way), and `paper --preset tiny` writes a complete results.json whose verdicts
 * are the ones its own rows give.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.ts';
import { Lab, regressionSetting, rlPhase, type SettingSpec, sftPhase, tokenMetricsOf, tokenSetting } from '../src/paper/lab.ts';
import {
  EXPERIMENTS,
  PRESET_TABLE,
  protocolText,
  RL,
  TOKEN_PRESET_TABLE,
  TOKEN_RL,
  tokenPlan,
  tokenProtocolText,
} from '../src/paper/protocol.ts';
import { type PaperResults, runPaper, seedList } from '../src/paper/report.ts';
import { paperOptions, saveResults } from '../src/cli/paper.ts';
import { getTestRuntime } from './runtime.ts';
import { parsePlan } from '../src/train/plan.ts';
import {
  balanceVerdict,
  recipeVerdict,
  RECIPE_VARIANTS,
  type Row,
  rlVerdict,
  pairedTest,
  sftVerdict,
  significanceOf,
  signFlipP,
  verdicts,
} from '../src/paper/verdicts.ts';

const row = (experiment: Row['experiment'], seed: number, condition: Row['condition'], metrics: Record<string, number>): Row => ({
  experiment,
  setting: 'regression',
  seed,
  condition,
  lr: 0.01,
  chosen: true,
  metrics,
  validation: metrics,
});

/** SFT rows: target error per rule and m from `err`, for two seeds (seed 2 adds a little). */
function sftRows(err: (rule: string, m: number) => number, grid = [16, 64, 256, 1024, 4096]): Row[] {
  const rows = [1, 2].map((s) => row('sft', s, { stage: 'pretrained' }, { target: 1, pretrain: 1 }));
  for (const regime of ['budget', 'converge'])
    for (const rule of ['hardest', 'random', 'easiest'])
      for (const m of grid)
        for (const seed of [1, 2])
          rows.push(row('sft', seed, { regime, rule, m }, { target: err(rule, m) + 0.001 * seed, pretrain: 1 }));
  return rows;
}

describe('verdicts follow their rules', () => {
  it('SFT: hard beating random at small m with an early best m confirms; the reverse does not', () => {
    const paper = (rule: string, m: number) => (rule === 'hardest' ? (m <= 64 ? 0.5 : 0.6) : 1 - Math.log2(m) / 20);
    expect(sftVerdict(sftRows(paper)).verdict).toBe('confirmed');
    const against = (rule: string, m: number) => (rule === 'hardest' ? 1.2 - Math.log2(m) / 20 : 1 - Math.log2(m) / 20);
    const v = sftVerdict(sftRows(against));
    expect(v.verdict).toBe('not confirmed');
    expect(v.criteria.every((c) => !c.held)).toBe(true);
  });

  it('SFT: a best m only at the largest m of the grid is not small, even at or below 256 (setting B grid)', () => {
    const grid = [16, 64, 256];
    const isSmall = (v: ReturnType<typeof sftVerdict>) =>
      v.criteria.filter((c) => c.name.endsWith('the best m for hardest is small')).map((c) => c.held);
    // Hardest beats random everywhere, and keeps improving up to the largest m: more data helps.
    const growing = (rule: string, m: number) => (rule === 'hardest' ? 0.9 : 1) - Math.log2(m) / 20;
    expect(isSmall(sftVerdict(sftRows(growing, grid)))).toEqual([false, false]);
    expect(sftVerdict(sftRows(growing, grid)).verdict).toBe('mixed');
    // A plateau from m = 64 on is small.
    const plateau = (rule: string, m: number) => (rule === 'hardest' ? (m <= 16 ? 0.6 : 0.5) : 1 - Math.log2(m) / 20);
    expect(isSmall(sftVerdict(sftRows(plateau, grid)))).toEqual([true, true]);
    expect(sftVerdict(sftRows(plateau, grid)).verdict).toBe('confirmed');
  });

  it('RL: gains, stability and the too-hard band decide', () => {
    const build = (gain: (band: string, N: number, seed: number) => number): Row[] => {
      const rows = [1, 2, 3].map((s) => row('rl', s, { stage: 'pretrained' }, { target: 1 }));
      for (const band of ['easy', 'medium', 'hard'])
        for (const N of [8, 128, 2048])
          for (const s of [1, 2, 3]) rows.push(row('rl', s, { band, N }, { target: 1 - gain(band, N, s) }));
      return rows;
    };
    // The paper's picture: medium gains grow with N, small N scatters (some runs end worse), hard gains little.
    const paper = build((band, N, s) => (band === 'hard' ? 0.01 : N === 8 ? [0.2, -0.1, 0.05][s - 1] : 0.3));
    const v = rlVerdict(paper);
    expect(v.verdict).toBe('confirmed');
    expect(v.numbers['medium N=8 collapse']).toBeCloseTo(1 / 3);
    // Gains pair by seed (seed 1: 0.3 vs 0.2; seed 2: 0.3 vs -0.1; seed 3: 0.3 vs 0.05); spread does not pair.
    expect(v.criteria.map((c) => c.test?.agree)).toEqual([3, undefined, 3]);
    // The reverse: small N best and steady, large N scattered, hard the best band.
    const reverse = build((band, N, s) => (band === 'hard' ? 0.5 : N === 8 ? 0.3 : 0.05 * s));
    expect(rlVerdict(reverse).verdict).toBe('not confirmed');
  });

  it('balance: relative tail gains, balanced vs imbalanced, in each match', () => {
    /** Rows for both models; `gain(model)` is the balanced model's relative tail gain (imbalanced: 0.3). */
    const build = (gain: (model: string) => number): Row[] =>
      ['lsa', 'icl'].flatMap((model) =>
        [1, 2].flatMap((s) =>
          (
            [
              ['balanced', 'unmatched'],
              ['balanced', 'matched-target'],
              ['balanced', 'matched-tail'],
              ['imbalanced', 'unmatched'],
            ] as const
          ).flatMap(([pretrain, match]) => [
            row('balance', s, { model, pretrain, match, stage: 'start' }, { tail: 2 }),
            row(
              'balance',
              s,
              { model, pretrain, match, stage: 'post' },
              { tail: 2 * (1 - (pretrain === 'balanced' ? gain(model) : 0.3)) },
            ),
          ]),
        ),
      );
    const yes = balanceVerdict(build(() => 0.5));
    expect(yes.verdict).toBe('confirmed');
    expect(yes.criteria).toHaveLength(6); // 3 comparisons per model
    expect(balanceVerdict(build(() => 0.1)).verdict).toBe('not confirmed');
    expect(balanceVerdict(build((m) => (m === 'lsa' ? 0.5 : 0.1))).verdict).toBe('mixed');
    // No rows to judge: never "confirmed".
    expect(balanceVerdict([]).verdict).toBe('not confirmed');
  });

  it('balance: the short and long budgets compare each pretraining at the same budget', () => {
    // Unmatched: balanced 0.5 vs imbalanced 0.3 (held). Short: balanced 0.2 vs imbalanced 0.1 (held,
    // though below the imbalanced unmatched 0.3). Long: balanced 0.6 vs imbalanced 0.7 (fails).
    const gains: Record<string, Record<string, number>> = {
      unmatched: { balanced: 0.5, imbalanced: 0.3 },
      short: { balanced: 0.2, imbalanced: 0.1 },
      long: { balanced: 0.6, imbalanced: 0.7 },
    };
    const rows = [1, 2, 3].flatMap((s) =>
      Object.entries(gains).flatMap(([match, g]) =>
        (['balanced', 'imbalanced'] as const).flatMap((pretrain) => [
          row('balance', s, { model: 'lsa', pretrain, match, stage: 'start' }, { tail: 2 }),
          row('balance', s, { model: 'lsa', pretrain, match, stage: 'post' }, { tail: 2 * (1 - g[pretrain] - s / 1000) }),
        ]),
      ),
    );
    const v = balanceVerdict(rows);
    expect(v.criteria.map((c) => [c.name, c.held])).toEqual([
      ['lsa: balanced > imbalanced (unmatched)', true],
      ['lsa: balanced > imbalanced (short)', true],
      ['lsa: balanced > imbalanced (long)', false],
    ]);
    expect(v.verdict).toBe('mixed');
    expect(v.numbers['lsa imbalanced short tail gain']).toBeCloseTo(0.102, 6);
  });

  it('recipe: lowest target error among the variants confirms', () => {
    const build = (recipe: number) =>
      [1, 2].flatMap((s) =>
        RECIPE_VARIANTS.map((variant) => row('recipe', s, { variant }, { target: variant === 'recipe' ? recipe : 1 })),
      );
    expect(recipeVerdict(build(0.5)).verdict).toBe('confirmed');
    expect(recipeVerdict(build(2)).verdict).toBe('not confirmed');
  });

  it('each setting is judged on its own rows', () => {
    const paper = (rule: string, m: number) => (rule === 'hardest' ? (m <= 64 ? 0.5 : 0.6) : 1 - Math.log2(m) / 20);
    const against = (rule: string, m: number) => (rule === 'hardest' ? 1.2 - Math.log2(m) / 20 : 1 - Math.log2(m) / 20);
    const rows = [...sftRows(paper), ...sftRows(against).map((r) => ({ ...r, setting: 'token' as const }))];
    expect(verdicts(rows).map((v) => [v.setting, v.experiment, v.verdict])).toEqual([
      ['regression', 'sft', 'confirmed'],
      ['token', 'sft', 'not confirmed'],
    ]);
  });

  it('only the chosen learning rate counts', () => {
    const rows = sftRows((rule, m) => (rule === 'hardest' ? (m <= 64 ? 0.5 : 0.6) : 1 - Math.log2(m) / 20));
    const unchosen = rows.map((r) => ({ ...r, lr: 0.1, chosen: false, metrics: { ...r.metrics, target: 5 } }));
    expect(sftVerdict([...rows, ...unchosen]).verdict).toBe('confirmed');
  });
});

describe('paired tests over seeds', () => {
  it('the sign-flip p counts the sign assignments at least as extreme (hand-counted)', () => {
    // Differences 1, 2, 3 all positive: only the observed assignment reaches the sum 6 of 8.
    expect(signFlipP([1, 2, 3])).toBe(1 / 8);
    // 1, -2, 3 (sum 2): the assignments of (1, 2, 3) with sums 6, 4 (-1+2+3) and 2 (1-2+3) reach it.
    expect(signFlipP([1, -2, 3])).toBe(3 / 8);
    // Ties count: two equal and opposite differences (sum 0) are matched by 3 of the 4 assignments.
    expect(signFlipP([1, -1])).toBe(3 / 4);
    expect(signFlipP([0, 0, 0])).toBe(1);
    expect(signFlipP([-1, -2])).toBe(1);
    expect(signFlipP(Array(6).fill(0.1))).toBe(1 / 64);
    expect(signFlipP([])).toBeNaN();
    // Beyond exact enumeration a fixed sample of flips: the same input gives the same p, near the truth.
    const many = Array.from({ length: 24 }, (_, i) => (i % 2 ? 1 : -1) * (1 + i / 10));
    const p = signFlipP(many);
    expect(signFlipP(many)).toBe(p);
    expect(p).toBeGreaterThan(0.3);
    expect(p).toBeLessThan(0.7);
    expect(signFlipP(Array(24).fill(1))).toBeLessThan(1e-5);
  });

  it('pairs by seed, counts the seeds that agree, and skips seeds one side lacks', () => {
    const t = pairedTest(
      new Map([
        [1, 0.5],
        [2, 0.2],
        [3, 0.9],
        [7, 1],
      ]),
      new Map([
        [1, 0.3],
        [2, 0.4],
        [3, 0.5],
      ]),
    );
    expect(t.seeds).toBe(3);
    expect(t.agree).toBe(2);
    expect(t.meanDiff).toBeCloseTo((0.2 - 0.2 + 0.4) / 3);
    // |d| = 0.2, 0.2, 0.4 with observed sum 0.4: reached by (+,+,+), (+,-,+) and (-,+,+) of the 8.
    expect(t.p).toBeCloseTo(3 / 8, 12);
  });

  it('criteria carry their tests; the significance line counts the held criteria that pass', () => {
    const build = (seeds: number[], recipe: (s: number) => number) =>
      seeds.flatMap((s) =>
        RECIPE_VARIANTS.map((variant) => row('recipe', s, { variant }, { target: variant === 'recipe' ? recipe(s) : 1 })),
      );
    const three = recipeVerdict(build([1, 2, 3], () => 0.5));
    for (const c of three.criteria) expect(c.test).toMatchObject({ seeds: 3, agree: 3, p: 1 / 8 });
    expect(significanceOf(three.criteria)).toBe(
      '0 of the 4 criteria that held with a paired test reach p <= 0.05 (with 3 seeds the smallest possible p is 0.1250)',
    );
    // Six seeds, one the other way (differences 0.5 x 5 and -0.1, sum 2.4): only keeping all five
    // 0.5 positive reaches 2.4 (2.6 or 2.4), so p = 2/64 = 0.031.
    const six = recipeVerdict(build([1, 2, 3, 4, 5, 6], (s) => (s === 6 ? 1.1 : 0.5)));
    expect(six.verdict).toBe('confirmed');
    for (const c of six.criteria) expect(c.test).toMatchObject({ seeds: 6, agree: 5 });
    expect(significanceOf(six.criteria)).toBe('4 of the 4 criteria that held with a paired test reach p <= 0.05');
    for (const c of six.criteria) expect(c.test?.p).toBeCloseTo(2 / 64, 12);
    // The verdicts of a setting carry the line.
    const [v] = verdicts(build([1, 2, 3], () => 0.5));
    expect(v.significance).toBe(significanceOf(v.criteria));
  });
});

describe('token setting metrics', () => {
  it('are errors (1 - accuracy) per variant, weighted like setting A, with the overthinking measures', () => {
    const group = (accuracy: number) => ({
      n: 10,
      accuracy,
      meanExcess: 0.5,
      meanRepeatedStates: 0.25,
      notFinished: 0.1,
      chainValid: accuracy,
      wellFormed: 1,
    });
    const m = { ...group(0.6), byK: {}, byVariant: { forward: group(0.9), inverse: group(0.3) } };
    const out = tokenMetricsOf(m, { forward: 0.5, inverse: 0.5 }, { inverse: 1 });
    expect(out.head).toBeCloseTo(0.1);
    expect(out.tail).toBeCloseTo(0.7);
    expect(out.target).toBeCloseTo(0.7);
    expect(out.pretrain).toBeCloseTo(0.4);
    expect(out.mix).toBeCloseTo(0.55);
    expect(out['pass target']).toBeCloseTo(0.3);
    expect(out['pass tail']).toBeCloseTo(0.3);
    expect([out.excess, out.repeats, out.unfinished]).toEqual([0.5, 0.25, 0.1]);
    // A variant missing from the held-out set is not silently an error of 0.
    expect(tokenMetricsOf({ ...m, byVariant: { forward: group(0.9) } }, { forward: 1 }, { inverse: 1 }).target).toBeNaN();
  });
});

describe('RL phases', () => {
  it("take the preset's RL batch where it has one (token setting), else the plan's", () => {
    // rlPhase builds plans only: no runtime is needed.
    const token = new Lab(undefined as never, { setting: tokenSetting('small', 'rare'), seeds: [1] });
    const phase = rlPhase(token, 'medium', 64, 0.001);
    expect(phase).toMatchObject({ kind: 'rl', batch: TOKEN_PRESET_TABLE.small.rlBatch, group: 8, steps: 30, lr: 0.001 });
    expect(TOKEN_PRESET_TABLE.small.rlBatch).toBe(64);
    // The plan is valid: the batch holds whole groups and whole pass-rate samples.
    const plan = parsePlan(tokenPlan(1, TOKEN_PRESET_TABLE.small, [phase], 'rl'));
    expect(plan.phases[0].batch).toBe(64);
    const regression = new Lab(undefined as never, { setting: regressionSetting('small', 'rare'), seeds: [1] });
    expect(rlPhase(regression, 'medium', 64, 0.01)).not.toHaveProperty('batch');
  });
});

/** `paper ARGS` as its own process (npx tsx, as npm run paper), with `env` added to this one's. */
function paperCli(args: string[], env: Record<string, string> = {}) {
  return spawnSync('npx', ['tsx', 'src/cli/main.ts', 'paper', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/**
 * `paper ARGS` through main() in this process (no GPU work: --render, --merge, refusals), saving a
 * process start each: its exit status and what it printed to stderr (console.error and commander).
 */
async function paperInProcess(...args: string[]): Promise<{ status: number; stderr: string }> {
  const printed: string[] = [];
  const spy = vi.spyOn(console, 'error').mockImplementation((...a) => void printed.push(a.join(' ')));
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  // commander prints its own refusals (a bad option value) to stderr directly.
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    printed.push(String(chunk).trimEnd());
    return true;
  });
  process.exitCode = undefined;
  try {
    await main(['node', 'main.ts', 'paper', ...args]);
  } finally {
    spy.mockRestore();
    log.mockRestore();
    err.mockRestore();
  }
  const status = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { status, stderr: printed.join('\n') };
}

describe('npm run paper -- --preset tiny', () => {
  it('writes results.json with every experiment, seed and condition, and verdicts computed from its rows', async () => {
    const out = mkdtempSync(join(tmpdir(), 'paper-'));
    try {
      // Both settings are the default; one process (--jobs 1), to compare with a split run below.
      const r = paperCli(['--preset', 'tiny', '--jobs', '1', '--out', out]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/paper --jobs/);
      const written = readFileSync(join(out, 'results.json'), 'utf8');
      const res = JSON.parse(written) as PaperResults;
      expect(res.experiments).toEqual([...EXPERIMENTS]);
      expect(res.settingsRun).toEqual(['regression', 'token']);
      expect(res.seeds).toEqual([1, 2]);
      expect(res.adapter.vendor).toBeTruthy();
      // Every condition of every experiment, for every seed and every learning rate of its grid.
      const count = (setting: string, e: string, pred: (r: Row) => boolean = () => true) =>
        res.rows.filter((r) => r.setting === setting && r.experiment === e && pred(r)).length;
      for (const [setting, p] of [
        ['regression', PRESET_TABLE.tiny],
        ['token', TOKEN_PRESET_TABLE.tiny],
      ] as const) {
        expect(count(setting, 'sft', (r) => r.lr > 0)).toBe(2 * 3 * p.sftSizes.length * p.sftLrs.length * p.seeds);
        expect(count(setting, 'rl', (r) => r.lr > 0)).toBe(3 * p.rlSizes.length * p.rlLrs.length * p.seeds);
        // Balanced unmatched, balanced matched (one match: the rare target is the tail alone), imbalanced;
        // setting A for the LSA (its lr grid) and the ICL transformer (its own grid), the token setting for its transformer.
        // Then the output-only probe from both full pretrainings (the budgets only with --budgets: below).
        const balanceLrs = p.postLrs.length + (p.icl?.postLrs.length ?? 0);
        expect(count(setting, 'balance', (r) => r.condition.stage === 'post')).toBe((3 + 2) * balanceLrs * p.seeds);
        expect(count(setting, 'balance', (r) => r.condition.match === 'probe' && r.condition.stage === 'post')).toBe(
          2 * balanceLrs * p.seeds,
        );
        expect(count(setting, 'recipe', (r) => r.lr > 0)).toBe(RECIPE_VARIANTS.length * p.postLrs.length * p.seeds);
      }
      // The token rows carry the overthinking measures.
      for (const r of res.rows.filter((x) => x.setting === 'token')) expect(Object.keys(r.metrics)).toContain('excess');
      // Token runs that end in RL carry the samples of every RL update (response length over training);
      // no other row does (setting A records none).
      // (experiments 3-4 post-train with SFT then RL, but for experiment 3's output-only probe, SFT
      // alone; lr 0 marks a measurement without training.)
      const endsInRl = (r: Row) => r.setting === 'token' && r.lr > 0 && r.experiment !== 'sft' && r.condition.match !== 'probe';
      for (const r of res.rows) {
        expect(r.curve !== undefined, `${r.setting} ${r.experiment} ${JSON.stringify(r.condition)}`).toBe(endsInRl(r));
        if (!r.curve) continue;
        expect(r.curve.step).toEqual(Array.from({ length: TOKEN_PRESET_TABLE.tiny.rlSteps }, (_, k) => k + 1));
        for (const k of ['reward', 'length', 'excess'] as const) expect(r.curve[k].every(Number.isFinite), k).toBe(true);
        expect(r.curve.reward.every((x) => x >= 0 && x <= 1)).toBe(true);
        expect(r.curve.length.every((x) => x >= 1)).toBe(true);
      }
      // One chosen lr per condition and seed; every metric finite.
      for (const r of res.rows)
        for (const [k, v] of Object.entries(r.metrics)) expect(Number.isFinite(v), `${r.experiment} ${k}`).toBe(true);
      // The verdicts are what the rows give, by the same rules, one per setting and experiment.
      expect(res.verdicts).toEqual(verdicts(res.rows));
      expect(res.verdicts.map((v) => `${v.setting} ${v.experiment}`)).toEqual(
        ['regression', 'token'].flatMap((s) => EXPERIMENTS.map((e) => `${s} ${e}`)),
      );
      for (const v of res.verdicts) expect(['confirmed', 'not confirmed', 'mixed']).toContain(v.verdict);
      // Experiment 3 judges the probe beside post-training, for each model.
      const probes = res.verdicts
        .filter((v) => v.experiment === 'balance')
        .flatMap((v) => v.criteria.filter((c) => c.name.endsWith('(probe)')));
      expect(probes.map((c) => c.name)).toEqual([
        'lsa: balanced > imbalanced (probe)',
        'icl: balanced > imbalanced (probe)',
        'gpt: balanced > imbalanced (probe)',
      ]);
      expect(res.protocol.join('\n')).not.toMatch(/Short and long post-training budgets/);
      // The report and one SVG per experiment.
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      for (const e of EXPERIMENTS)
        for (const file of [`${e}.svg`, `${e}-token.svg`])
          expect(readFileSync(join(out, file), 'utf8')).toMatch(/^<svg[^>]*xmlns/);
      expect(readFileSync(join(out, 'rl-token-length.svg'), 'utf8')).toMatch(/^<svg[^>]*xmlns/);
      expect(existsSync(join(out, 'rl-length.svg'))).toBe(false);
      expect(html).toContain('<svg');
      expect(html).toContain('Response length over RL training');
      const md = readFileSync(join(out, 'summary.md'), 'utf8');
      for (const v of res.verdicts) expect(md).toContain(`**${v.verdict}**`);
      expect(md.match(/The RL samples over training/g)?.length).toBe(1); // the token setting's RL section
      // --render draws the report again from results.json alone (no runs), recomputing the verdicts.
      rmSync(join(out, 'report.html'));
      const again = await paperInProcess('--render', out);
      expect(again.status, again.stderr).toBe(0);
      expect(readFileSync(join(out, 'report.html'), 'utf8')).toBe(html);
      // It writes back the verdicts only: with the same rules, results.json is byte-identical.
      expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe(written);
      // --jobs 2 splits a run into one process per setting and seed (here setting B's two seeds) and
      // joins them into what one process writes: the same rows in the same order, the same chosen
      // learning rates, protocol and verdicts.
      const split = `${out}-jobs`;
      try {
        const j = paperCli(['--preset', 'tiny', '--settings', 'token', '--jobs', '2', '--out', split]);
        expect(j.status, j.stderr).toBe(0);
        expect(j.stderr).toMatch(/paper --jobs 2: 2 units \(settings x seeds\), 2 processes at once/);
        const s = JSON.parse(readFileSync(join(split, 'results.json'), 'utf8')) as PaperResults;
        expect(s.rows.length).toBeGreaterThan(0);
        expect(s.rows).toEqual(res.rows.filter((r) => r.setting === 'token'));
        expect(s.verdicts).toEqual(res.verdicts.filter((v) => v.setting === 'token'));
        expect(s.protocol).toEqual(res.protocol.slice(-s.protocol.length));
        expect(s.jobs).toBe(2);
        expect(readFileSync(join(split, 'summary.md'), 'utf8')).toMatch(/\(2 processes at once, one per setting and seed\)/);
      } finally {
        rmSync(split, { recursive: true, force: true });
      }
      // --merge pools result folders of one protocol: here the same rows under seeds 11 and 12.
      const other = `${out}-other`;
      const merged = `${out}-merged`;
      try {
        const renumber = (line: string) => line.replace(/^Seeds: 1, 2/, 'Seeds: 11, 12');
        const shifted = {
          ...res,
          seeds: [11, 12],
          protocol: res.protocol.map(renumber),
          rows: res.rows.map((r) => ({ ...r, seed: r.seed + 10 })),
        };
        mkdirSync(other);
        writeFileSync(join(other, 'results.json'), JSON.stringify(shifted));
        const pool = (...args: string[]) => paperInProcess('--merge', `${out},${other}`, ...args);
        const noOut = await pool();
        expect(noOut.status).toBe(1);
        expect(noOut.stderr).toMatch(/--merge needs --out DIR/);
        const p = await pool('--out', merged);
        expect(p.status, p.stderr).toBe(0);
        const m = JSON.parse(readFileSync(join(merged, 'results.json'), 'utf8')) as PaperResults;
        expect(m.seeds).toEqual([1, 2, 11, 12]);
        expect(m.rows).toHaveLength(2 * res.rows.length);
        expect(m.verdicts).toEqual(verdicts(m.rows));
        expect(m.sources?.map((x) => x.dir)).toEqual([out, other]);
        expect(m.protocol.filter((l) => l.startsWith('Seeds: 1, 2, 11, 12')).length).toBe(2);
        expect(readFileSync(join(merged, 'report.html'), 'utf8')).toContain('Pooled by');
        // --drop-seeds leaves seeds out of the pool; it refuses a bad list and a use without --merge.
        const dropped = await pool('--out', merged, '--drop-seeds', '1,12');
        expect(dropped.status, dropped.stderr).toBe(0);
        const d = JSON.parse(readFileSync(join(merged, 'results.json'), 'utf8')) as PaperResults;
        expect(d.seeds).toEqual([2, 11]);
        expect(d.rows.every((r) => r.seed === 2 || r.seed === 11)).toBe(true);
        expect(d.protocol.at(-1)).toMatch(/leaving out seeds 1, 12 \(--drop-seeds\)/);
        const badList = await pool('--out', merged, '--drop-seeds', '1,x');
        expect(badList.status).toBe(1);
        expect(badList.stderr).toMatch(
          /--drop-seeds takes comma-separated seeds, positive integers \(e.g. 1 or 1,4\), got "1,x"/,
        );
        const noMerge = await paperInProcess('--render', out, '--drop-seeds', '1');
        expect(noMerge.status).toBe(1);
        expect(noMerge.stderr).toMatch(/--drop-seeds works with --merge only/);
        // Options that shape a run would be ignored by --merge and --render: refused, named.
        const runOnly = await pool('--out', merged, '--pretrain-factor', '3', '--seeds', '2');
        expect(runOnly.status).toBe(1);
        expect(runOnly.stderr).toMatch(
          /--seeds, --pretrain-factor have no effect with --merge, which runs nothing; leave them out/,
        );
        const jobsRender = await paperInProcess('--render', out, '--jobs', '2');
        expect(jobsRender.status).toBe(1);
        expect(jobsRender.stderr).toMatch(/--jobs has no effect with --render, which runs nothing; leave it out/);
        const renderOnly = await paperInProcess('--render', out, '--preset', 'tiny');
        expect(renderOnly.status).toBe(1);
        expect(renderOnly.stderr).toMatch(/--preset has no effect with --render, which runs nothing; leave it out/);
      } finally {
        rmSync(other, { recursive: true, force: true });
        rmSync(merged, { recursive: true, force: true });
      }
      writeFileSync(join(out, 'results.json'), '{"rows": []}');
      const bad = await paperInProcess('--render', out);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/is not a results file of this version of `paper` \(missing: preset, target/);
      for (const v of res.verdicts) expect(html).toContain(v.rule.slice(0, 40));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);

  it('a finished run is not lost: a folder removed meanwhile is made again, a failed write leaves its results in a file the error names', () => {
    const res = JSON.parse(readFileSync('results/paper-token-start50/results.json', 'utf8')) as PaperResults;
    const root = mkdtempSync(join(tmpdir(), 'paper-save-'));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const gone = join(root, 'gone');
      saveResults(gone, res);
      expect(JSON.parse(readFileSync(join(gone, 'results.json'), 'utf8'))).toEqual(res);
      expect(existsSync(join(gone, 'report.html'))).toBe(true);
      expect(err.mock.calls.flat().join('\n')).toMatch(
        /--out .*gone: the folder is gone \(removed while the run went on\); making it again/,
      );
      // A file where the folder should be: no folder can be made there.
      const file = join(root, 'file');
      writeFileSync(file, 'x');
      let message = '';
      try {
        saveResults(file, res);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(
        /^cannot write .*results\.json: .*; the run's results are saved in \S+ \(copy it into a folder as results\.json and run paper --render on that folder\)$/,
      );
      const saved = /saved in (\S+) \(/.exec(message)?.[1] ?? '';
      expect(JSON.parse(readFileSync(saved, 'utf8'))).toEqual(res);
      rmSync(saved);
    } finally {
      err.mockRestore();
      log.mockRestore();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('numbers the seeds from --first-seed, in results.json and the protocol text', async () => {
    expect(paperOptions({ preset: 'tiny', target: 'rare', seeds: 3, firstSeed: 4 })).toMatchObject({ seeds: 3, firstSeed: 4 });
    const rt = await getTestRuntime();
    const res = await runPaper(rt, {
      preset: 'tiny',
      target: 'rare',
      seeds: 2,
      firstSeed: 4,
      experiments: [],
      settings: ['regression', 'token'],
      machine: {},
    });
    expect(res.seeds).toEqual([4, 5]);
    expect(res.protocol.filter((l) => l.startsWith('Seeds: 4, 5')).length).toBe(2);
    expect(seedList(3)).toEqual([1, 2, 3]);
  });

  it('--budgets adds short and long post-training to experiment 3, judged at each budget', () => {
    const out = mkdtempSync(join(tmpdir(), 'paper-budgets-'));
    try {
      const r = paperCli([
        '--preset',
        'tiny',
        '--settings',
        'regression',
        '--jobs',
        '1',
        '--only',
        'balance',
        '--budgets',
        '0.5,2',
        '--out',
        out,
      ]);
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as PaperResults;
      const p = PRESET_TABLE.tiny;
      const balanceLrs = p.postLrs.length + (p.icl?.postLrs.length ?? 0);
      const post = (match: string) => res.rows.filter((x) => x.condition.match === match && x.condition.stage === 'post');
      for (const match of ['probe', 'short', 'long']) expect(post(match)).toHaveLength(2 * balanceLrs * p.seeds);
      expect(res.rows.filter((x) => x.condition.stage === 'post')).toHaveLength((3 + 2 + 4) * balanceLrs * p.seeds);
      const [v] = res.verdicts;
      expect(v.criteria.filter((c) => /\((short|long)\)$/.test(c.name)).map((c) => c.name)).toEqual([
        'lsa: balanced > imbalanced (short)',
        'lsa: balanced > imbalanced (long)',
        'icl: balanced > imbalanced (short)',
        'icl: balanced > imbalanced (long)',
      ]);
      expect(res.verdicts).toEqual(verdicts(res.rows));
      // The protocol says so, with the steps (SFT 10 and RL 10 at this preset: 5 + 5 and 20 + 20).
      expect(res.protocol.join('\n')).toMatch(
        /Short and long post-training budgets beside it: .* 0\.5x and 2x .* \(5 \+ 5 and 20 \+ 20\)/,
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it("setting A's small and full presets post-train experiment 3 at short and long budgets too; --budgets none leaves them out", () => {
    const base = { preset: 'small', target: 'rare' } as const;
    expect(PRESET_TABLE.small.postBudgets).toEqual({ short: 0.25, long: 4 });
    expect(PRESET_TABLE.full.postBudgets).toEqual({ short: 0.25, long: 4 });
    // The tiny preset (a smoke test) and the token setting (its budgets cost 27 minutes for 3 seeds) have none.
    expect(PRESET_TABLE.tiny.postBudgets).toBeUndefined();
    for (const p of Object.values(TOKEN_PRESET_TABLE)) expect(p.postBudgets).toBeUndefined();
    expect(paperOptions(base).budgets).toBeUndefined();
    expect(regressionSetting('small', 'rare', { budgets: paperOptions(base).budgets }).preset.postBudgets).toEqual({
      short: 0.25,
      long: 4,
    });
    expect(paperOptions({ ...base, budgets: 'none' }).budgets).toBeNull();
    expect(regressionSetting('small', 'rare', { budgets: null }).preset.postBudgets).toBeUndefined();
    expect(regressionSetting('small', 'rare', { budgets: { short: 0.5, long: 2 } }).preset.postBudgets).toEqual({
      short: 0.5,
      long: 2,
    });
    const said = (budgets?: { short: number; long: number } | null) =>
      /Short and long post-training budgets beside it/.test(protocolText('small', 'rare', [1, 2, 3], { budgets }).join('\n'));
    expect([said(), said(null), said({ short: 0.5, long: 2 })]).toEqual([true, false, true]);
  });

  it('--pretrain-factor makes every pretraining that many times as long, snapshots as far apart, in the protocol', () => {
    const base = { preset: 'small', target: 'rare' } as const;
    expect(paperOptions(base).pretrainFactor).toBeUndefined();
    const f = paperOptions({ ...base, pretrainFactor: '3' }).pretrainFactor;
    expect(f).toBe(3);
    const token = tokenSetting('small', 'rare', { pretrainFactor: f }).preset;
    expect([token.pretrainSteps, token.snapshotEvery]).toEqual([3 * 800, 3 * 100]);
    const regression = regressionSetting('small', 'rare', { pretrainFactor: f }).preset;
    expect([regression.pretrainSteps, regression.snapshotEvery, regression.icl?.pretrainSteps]).toEqual([
      3 * PRESET_TABLE.small.pretrainSteps,
      3 * PRESET_TABLE.small.snapshotEvery,
      3 * (PRESET_TABLE.small.icl?.pretrainSteps ?? 0),
    ]);
    // Everything else as the preset has it; without the option, the preset itself.
    expect({ ...token, pretrainSteps: 800, snapshotEvery: 100 }).toEqual(TOKEN_PRESET_TABLE.small);
    expect(tokenSetting('small', 'rare').preset).toBe(TOKEN_PRESET_TABLE.small);
    expect(tokenProtocolText('small', 'rare', [1], { pretrainFactor: 3 }).join('\n')).toMatch(/Pretraining: 2400 steps/);
    expect(protocolText('small', 'rare', [1], { pretrainFactor: 3 }).join('\n')).toMatch(
      new RegExp(`Pretraining: ${3 * PRESET_TABLE.small.pretrainSteps} steps`),
    );
  });

  it('--start-error starts experiments 1 and 2 from the balanced snapshot nearest that validation target error', async () => {
    expect(paperOptions({ preset: 'tiny', target: 'rare' }).startError).toBeUndefined();
    expect(paperOptions({ preset: 'tiny', target: 'rare', startError: '0.5' }).startError).toBe(0.5);
    const rt = await getTestRuntime();
    // The snapshots' validation target errors, measured by a lab of this test's own.
    const probe = new Lab(rt, { setting: regressionSetting('tiny', 'rare'), seeds: [1] });
    const pre = await probe.pretrain(1, 'balanced', 'lsa');
    const snaps: { step: number; err: number }[] = [];
    for (const s of pre.snapshots) {
      const v = (await probe.measure(1, s.checkpoint, 'lsa', true)).validation;
      snaps.push({ step: s.step, err: probe.setting.metrics(v, probe.mixtures.balanced, probe.target).target });
    }
    // A goal met by a snapshot before the end (so the end is not chosen by default).
    const goal = snaps[1].err;
    const nearest = snaps.reduce((a, b) => (Math.abs(b.err - goal) < Math.abs(a.err - goal) ? b : a));
    expect(nearest.step).toBeLessThan(PRESET_TABLE.tiny.pretrainSteps);
    const run = (startError?: number, snapshotEvery?: number) =>
      runPaper(rt, {
        preset: 'tiny',
        target: 'rare',
        seeds: 1,
        experiments: ['sft', 'rl'],
        settings: ['regression'],
        ...(startError === undefined ? {} : { startError }),
        ...(snapshotEvery === undefined ? {} : { snapshotEvery }),
        machine: {},
      });
    const res = await run(goal);
    for (const r of res.rows)
      expect(r.condition.pretrainSteps, `${r.experiment} ${JSON.stringify(r.condition)}`).toBe(nearest.step);
    const starts = res.rows.filter((r) => r.condition.stage === 'pretrained');
    expect(starts).toHaveLength(2);
    for (const r of starts) expect(r.validation.target).toBe(nearest.err);
    expect(res.protocol.join('\n')).toContain(`whose validation target error is closest to ${goal}`);
    // Without it, the end of pretraining, and the rows as they were (no pretrainSteps).
    const plain = await run();
    expect(plain.rows.every((r) => r.condition.pretrainSteps === undefined)).toBe(true);
    expect(plain.rows.find((r) => r.condition.stage === 'pretrained')?.validation.target).toBe(snaps.at(-1)?.err);
    expect(plain.protocol.join('\n')).not.toContain('Experiments 1 and 2 start each seed');
    // --snapshot-every: snapshots leave training as it was (the same rows from the end of pretraining),
    // and the start is chosen among the new ones (every 10 steps of 60 here).
    expect(paperOptions({ preset: 'tiny', target: 'rare', snapshotEvery: '10' }).snapshotEvery).toBe(10);
    expect((await run(undefined, 10)).rows).toEqual(plain.rows);
    const finer = await run(goal, 10);
    expect(finer.protocol.join('\n')).toContain('(every 10 steps, the end included)');
    expect(finer.rows.every((r) => (r.condition.pretrainSteps as number) % 10 === 0)).toBe(true);
  });

  it('--sft-difficulty pass-rate ranks every SFT pool by the pretrained pass rate, as the RL bands, in the protocol', async () => {
    const base = { preset: 'tiny', target: 'rare' } as const;
    expect(paperOptions(base).sftDifficulty).toBeUndefined();
    // loss is the default: the same preset (and plans) as without the option.
    expect(paperOptions({ ...base, sftDifficulty: 'loss' }).sftDifficulty).toBeUndefined();
    expect(paperOptions({ ...base, sftDifficulty: 'pass-rate' }).sftDifficulty).toBe('pass-rate');
    expect(tokenSetting('small', 'rare', { sftDifficulty: 'pass-rate' }).preset).toEqual({
      ...TOKEN_PRESET_TABLE.small,
      sftBy: 'pass-rate',
    });
    expect(tokenProtocolText('small', 'rare', [1], { sftDifficulty: 'pass-rate' }).join('\n')).toMatch(
      /hardest \/ random \/ easiest by the pretrained model's pass rate \(4 answers sampled at temperature 1 per problem/,
    );
    expect(tokenProtocolText('small', 'rare', [1]).join('\n')).toMatch(/by the pretrained model's completion loss/);
    const rt = await getTestRuntime();
    const run = (sftDifficulty?: 'pass-rate') =>
      runPaper(rt, {
        ...base,
        seeds: 1,
        experiments: ['sft'],
        settings: ['regression'],
        ...(sftDifficulty ? { sftDifficulty } : {}),
        machine: {},
      });
    // Every SFT phase of the lab asks the scheduler for pass-rate scores: the RL's samples per prompt,
    // and in setting A its policy's std; by default the phase is as it was (no `by`, no sigma).
    const phase = (setting: SettingSpec) => sftPhase(new Lab(rt, { setting, seeds: [1] }), 'hardest', 16, 10, 0.01);
    expect(phase(regressionSetting('tiny', 'rare', { sftDifficulty: 'pass-rate' }))).toMatchObject({
      select: { rule: 'hardest', m: 16, by: 'pass-rate', samples: RL.samples },
      sigma: RL.sigma,
    });
    const token = phase(tokenSetting('tiny', 'rare', { sftDifficulty: 'pass-rate' }));
    expect([token.select, 'sigma' in token]).toEqual([
      { rule: 'hardest', m: 16, by: 'pass-rate', samples: TOKEN_RL.samples },
      false,
    ]);
    const plain = phase(regressionSetting('tiny', 'rare'));
    expect([plain.select, 'sigma' in plain]).toEqual([{ rule: 'hardest', m: 16 }, false]);
    const [byError, byPass] = [await run(), await run('pass-rate')];
    expect(byPass.protocol.join('\n')).toMatch(/by the pretrained model's pass rate \(16 samples ŵ \+ 0\.2·ξ per example/);
    // Other sets: random ones too, as a random m is shuffled from the pool in the order of its scores.
    const rows = (res: typeof byError, rule: string) =>
      res.rows.filter((r) => r.condition.rule === rule).map((r) => r.metrics.target);
    for (const rule of ['hardest', 'random', 'easiest']) expect(rows(byPass, rule)).not.toEqual(rows(byError, rule));
  });

  it('--jobs auto, the default: one process per CPU core, at most one per setting and seed', () => {
    const out = mkdtempSync(join(tmpdir(), 'paper-jobs-auto-'));
    try {
      // Without a driver the run stops early (in its units, or in this process with one core), after
      // it has said how it splits: both settings x 2 seeds at the tiny preset.
      const r = paperCli(['--preset', 'tiny', '--out', out], { VK_ICD_FILENAMES: join(tmpdir(), 'no-such-driver.json') });
      expect(r.status).toBe(1);
      const n = Math.min(availableParallelism(), 4);
      if (n > 1)
        expect(r.stderr).toMatch(new RegExp(`paper --jobs ${n}: 4 units \\(settings x seeds\\), ${n} processes at once`));
      else expect(r.stderr).not.toMatch(/paper --jobs/);
      expect(r.stderr).toMatch(/WebGPU found no adapter/);
      expect(existsSync(join(out, 'results.json'))).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('--jobs: a unit that fails stops the run with its output, exit 1 and no results', () => {
    const out = mkdtempSync(join(tmpdir(), 'paper-jobs-fail-'));
    try {
      // No Vulkan driver for the units: each fails as it looks for an adapter (the parent needs none).
      const r = paperCli(['--preset', 'tiny', '--settings', 'token', '--jobs', '2', '--out', out], {
        VK_ICD_FILENAMES: join(tmpdir(), 'no-such-driver.json'),
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(
        /error: paper --jobs: the run of Setting B: chain of thought on tokens, seed [12] failed \(exit code 1\); the end of its output:/,
      );
      expect(r.stderr).toMatch(/WebGPU found no adapter/);
      expect(existsSync(join(out, 'results.json'))).toBe(false);
      // The units' temporary folder is gone.
      const work = /their output in (\S+)/.exec(r.stderr)?.[1];
      expect(work).toBeTruthy();
      expect(existsSync(work as string)).toBe(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses an unknown experiment, preset, setting or bad budgets with the valid values and exit 1', async () => {
    for (const [args, msg] of [
      [['--only', 'sft,nope'], /--only: unknown experiment "nope"; valid experiments: sft, rl, balance, recipe/],
      [['--preset', 'huge'], /--preset: unknown preset "huge"; valid presets: tiny, small, full/],
      [['--settings', 'regression,nope'], /--settings: unknown setting "nope"; valid settings: regression, token/],
      [['--first-seed', '0'], /--first-seed must be at least 1 \(seeds are numbered from 1\), got 0/],
      [['--jobs', '0'], /--jobs must be auto or a whole number of processes at once, at least 1; got "0"/],
      [['--jobs', 'all'], /--jobs must be auto or a whole number of processes at once, at least 1; got "all"/],
      [
        ['--budgets', '4,0.25'],
        /--budgets: expected two factors "short,long" with 0 < short < 1 < long \(e\.g\. 0\.25,4\), or "none", got "4,0\.25"/,
      ],
      [['--budgets', '0.5'], /--budgets: expected two factors/],
      [['--pretrain-factor', '0'], /--pretrain-factor: expected a number above 0 and at most 100 \(e\.g\. 3: .*\), got "0"/],
      [['--pretrain-factor', 'x'], /--pretrain-factor: expected a number above 0/],
      [['--start-error', '1'], /--start-error: expected a target error between 0 and 1, exclusive \(e\.g\. 0\.5: .*\), got "1"/],
      [['--start-error', 'half'], /--start-error: expected a target error between 0 and 1/],
      [['--sft-difficulty', 'hard'], /--sft-difficulty: unknown score "hard"; valid: loss, pass-rate \(loss: .*\)/],
      [
        ['--snapshot-every', '2.5'],
        /--snapshot-every: expected a whole number of pretraining steps, at least 1 \(e\.g\. 100\), got "2\.5"/,
      ],
    ] as const) {
      // main() in this process (the refusals come before any GPU work): what it printed, its exit code.
      const r = await paperInProcess(...args, '--out', join(tmpdir(), 'never'));
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(tmpdir(), 'never'))).toBe(false);
    }
  });
});
