/**
 * Verdicts computed from measured rows by rules written down here (and printed in the report). No
 * verdict is set by hand: each function reads only the rows it is given, so the same rows always
 * give the same verdict and changed rows change it.
 */
import {
  COLLAPSE_MARGIN,
  type ExperimentName,
  PLATEAU_MARGIN,
  SETTING_NAMES,
  type SettingName,
  SIGNIFICANCE_LEVEL,
  SMALL_M,
} from './protocol.ts';
import { Rng } from '../reference/random.ts';

/** One measured run: a condition, a seed, a learning rate, and its held-out metrics. */
export interface Row {
  experiment: ExperimentName;
  /** Setting A ('regression': in-context weight prediction) or B ('token': the chain-of-thought task). */
  setting: SettingName;
  seed: number;
  /** What distinguishes this run (rule, m, regime, band, N, pretraining, match, variant, stage). */
  condition: Record<string, string | number>;
  /** 0 for a measurement without training (the pretrained start). */
  lr: number;
  /** Whether lr is the one chosen on the validation split for this condition. */
  chosen: boolean;
  /** Test-set metrics: target, pretrain, mix, head, tail errors; pass rates. */
  metrics: Record<string, number>;
  /** The same on the validation split. */
  validation: Record<string, number>;
  /** Runs ending in RL, in settings that record it (the token task): the samples of every update. */
  curve?: RlCurve;
}

/**
 * The completions sampled at each RL update (not held out): the mean reward, response length
 * (generated tokens, the end token included) and excess chain length (steps beyond the minimal).
 */
export interface RlCurve {
  step: number[];
  reward: number[];
  length: number[];
  excess: number[];
}

/** One criterion of a verdict's rule. */
export interface Criterion {
  name: string;
  held: boolean;
  detail: string;
  /** The comparison seed by seed, where the criterion compares two conditions run on the same seeds. */
  test?: SeedTest;
}

/**
 * A paired test over seeds: per seed the difference between the two sides of a comparison, signed
 * so that a positive difference goes the way the claim says. Seeds pair runs that start from the
 * same pretrained model and see the same data streams.
 */
export interface SeedTest {
  /** Seeds with both sides measured. */
  seeds: number;
  /** Seeds whose difference goes the claimed way (> 0). */
  agree: number;
  /** Mean of the per-seed differences. */
  meanDiff: number;
  /**
   * One-sided p of the paired sign-flip (randomisation) test of the mean difference: the share of
   * the 2^n ways of flipping the per-seed differences' signs whose mean is at least the observed
   * one. Exact; its smallest possible value is 2^-n (0.125 with 3 seeds).
   */
  p: number;
}

export type VerdictValue = 'confirmed' | 'not confirmed' | 'mixed';

export interface Verdict {
  experiment: ExperimentName;
  /** The setting whose rows it was computed from (each setting is judged on its own rows). */
  setting: SettingName;
  claim: string;
  verdict: VerdictValue;
  /** The rule, in words. */
  rule: string;
  /** Each criterion of the rule, whether it held, and (where it compares two conditions seed by seed) a paired test. */
  criteria: Criterion[];
  /**
   * How many of the criteria that held also pass their paired test over seeds, in words (absent in
   * results files written before the tests existed; `paper --render` adds it).
   */
  significance?: string;
  /** The numbers the criteria rest on. */
  numbers: Record<string, number>;
}

/** What one experiment's rule returns (verdicts() adds the setting and the significance line). */
type RuleResult = Omit<Verdict, 'setting' | 'significance'>;

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const std = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
};

/**
 * A row's condition as `k=v ...`, the same for every seed of one condition: a matched start's
 * pretraining steps (which differ by seed) are left out.
 */
export function conditionKey(r: Row): string {
  const { pretrainSteps: _, ...cond } = r.condition;
  return Object.entries(cond)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

const matches = (r: Row, cond: Record<string, string | number>) => Object.entries(cond).every(([k, v]) => r.condition[k] === v);

/** The chosen rows of an experiment matching `cond` (one per seed). */
export function chosenRows(rows: Row[], experiment: ExperimentName, cond: Record<string, string | number>): Row[] {
  return rows.filter((r) => r.experiment === experiment && r.chosen && matches(r, cond));
}

/** Mean over seeds of `metric` for the chosen rows matching `cond` (NaN when there are none). */
export function meanOf(rows: Row[], experiment: ExperimentName, cond: Record<string, string | number>, metric: string): number {
  const rs = chosenRows(rows, experiment, cond);
  return rs.length ? mean(rs.map((r) => r.metrics[metric])) : Number.NaN;
}

/**
 * The learning-rate sweeps among `rows`: the trained rows (lr > 0) of each setting, experiment and
 * condition (its per-seed pretraining steps aside), in row order, keyed by those.
 */
export function sweepsOf(rows: readonly Row[]): Map<string, Row[]> {
  const sweeps = new Map<string, Row[]>();
  for (const r of rows) {
    if (r.lr <= 0) continue;
    const key = `${r.setting} ${r.experiment} ${conditionKey(r)}`;
    const rs = sweeps.get(key);
    if (rs) rs.push(r);
    else sweeps.set(key, [r]);
  }
  return sweeps;
}

/**
 * Mark as chosen the learning rate whose mean validation target error over `rows` (one condition's
 * runs, every rate on the same seeds) is lowest; a tie goes to the rate that comes first.
 */
export function chooseLr(rows: Row[]): void {
  const lrs = [...new Set(rows.map((r) => r.lr))];
  const score = (lr: number) => mean(rows.filter((r) => r.lr === lr).map((r) => r.validation.target));
  const best = lrs.reduce((a, b) => (score(b) < score(a) ? b : a));
  for (const r of rows) r.chosen = r.lr === best;
}

/** Per seed, `metric` of the chosen row matching `cond` (seeds without one are absent). */
export function perSeed(
  rows: Row[],
  experiment: ExperimentName,
  cond: Record<string, string | number>,
  metric: string,
): Map<number, number> {
  return new Map(chosenRows(rows, experiment, cond).map((r) => [r.seed, r.metrics[metric]]));
}

/** Exact enumeration up to this many seeds; beyond it, a fixed-seed sample of sign flips. */
const EXACT_SEEDS = 20;
const SAMPLED_FLIPS = 1 << 17;

/**
 * One-sided p of the paired sign-flip test: the share of sign assignments s (s_i = ±1) with
 * sum s_i |d_i| >= sum d_i. The observed assignment is one of them, so p >= 2^-n; all-zero
 * differences give p = 1. No differences: NaN.
 */
export function signFlipP(d: number[]): number {
  const n = d.length;
  if (n === 0) return Number.NaN;
  const abs = d.map(Math.abs);
  const observed = d.reduce((a, b) => a + b, 0);
  // Sums equal up to rounding count as ties (the observed one among them).
  const tol = 1e-12 * abs.reduce((a, b) => a + b, 0);
  const sumOf = (bits: (i: number) => boolean) => abs.reduce((acc, x, i) => acc + (bits(i) ? -x : x), 0);
  if (n <= EXACT_SEEDS) {
    let atLeast = 0;
    for (let mask = 0; mask < 1 << n; mask++) if (sumOf((i) => ((mask >> i) & 1) === 1) >= observed - tol) atLeast++;
    return atLeast / 2 ** n;
  }
  // A fixed stream, so the same differences always give the same p.
  const rng = new Rng(0x9e3779b9);
  let atLeast = 1; // the observed assignment
  for (let k = 1; k < SAMPLED_FLIPS; k++) if (sumOf(() => rng.next() < 0.5) >= observed - tol) atLeast++;
  return atLeast / SAMPLED_FLIPS;
}

/**
 * The paired test of a claim that per seed `larger` exceeds `smaller` (e.g. the error of the
 * alternative over the recipe's), on the seeds both sides have.
 */
export function pairedTest(larger: Map<number, number>, smaller: Map<number, number>): SeedTest {
  const d = [...larger]
    .filter(([seed]) => smaller.has(seed))
    .map(([seed, x]) => x - (smaller.get(seed) as number))
    .filter(Number.isFinite);
  return { seeds: d.length, agree: d.filter((x) => x > 0).length, meanDiff: d.length ? mean(d) : Number.NaN, p: signFlipP(d) };
}

/** What a test adds to a criterion's detail: "in 5 of 6 seeds, p 0.031". */
export const testDetail = (t: SeedTest) => `in ${t.agree} of ${t.seeds} seeds, paired p ${fmt(t.p)}`;

/** The verdict's significance line: of the criteria that held and have a test, how many pass it. */
export function significanceOf(criteria: Criterion[]): string {
  const tested = criteria.filter((c) => c.held && c.test);
  if (!tested.length) return 'no criterion that held has a paired test';
  const pass = tested.filter((c) => (c.test as SeedTest).p <= SIGNIFICANCE_LEVEL).length;
  const n = Math.min(...tested.map((c) => (c.test as SeedTest).seeds));
  const floor = n > 0 && 2 ** -n > SIGNIFICANCE_LEVEL ? ` (with ${n} seeds the smallest possible p is ${fmt(2 ** -n)})` : '';
  return `${pass} of the ${tested.length} criteria that held with a paired test reach p <= ${SIGNIFICANCE_LEVEL}${floor}`;
}

function verdictOf(criteria: { held: boolean }[]): VerdictValue {
  // Nothing measured is nothing confirmed.
  if (criteria.length === 0) return 'not confirmed';
  const held = criteria.filter((c) => c.held).length;
  if (held === criteria.length) return 'confirmed';
  if (held === 0) return 'not confirmed';
  return 'mixed';
}

const values = (rows: Row[], experiment: ExperimentName, key: string): number[] =>
  [...new Set(rows.filter((r) => r.experiment === experiment).map((r) => r.condition[key]))]
    .filter((v): v is number => typeof v === 'number')
    .sort((a, b) => a - b);

const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : String(x));

/** Claim 1, in one regime: hardest beats random at small m, and the best m is small. */
function sftRegime(rows: Row[], regime: string): { criteria: Verdict['criteria']; numbers: Record<string, number> } {
  const sizes = values(rows, 'sft', 'm');
  const small = sizes.slice(0, Math.max(1, Math.ceil(sizes.length / 3)));
  const err = (rule: string, m: number) => meanOf(rows, 'sft', { rule, m, regime }, 'target');
  const numbers: Record<string, number> = {};
  for (const rule of ['hardest', 'random', 'easiest']) for (const m of sizes) numbers[`${regime} ${rule} m=${m}`] = err(rule, m);
  const wins = small.filter((m) => err('hardest', m) < err('random', m));
  const hard = sizes.map((m) => err('hardest', m));
  const best = Math.min(...hard);
  const bestM = sizes[hard.indexOf(best)];
  const plateauM = sizes[hard.findIndex((e) => e <= best * (1 + PLATEAU_MARGIN))];
  numbers[`${regime} hardest best m`] = bestM;
  numbers[`${regime} hardest plateau m`] = plateauM;
  // Per seed: random - hardest, averaged over the small m (seeds with every small m measured).
  const overSmall = (rule: string) => {
    const per = small.map((m) => perSeed(rows, 'sft', { rule, m, regime }, 'target'));
    const seeds = [...per[0].keys()].filter((seed) => per.every((p) => p.has(seed)));
    return new Map(seeds.map((seed) => [seed, mean(per.map((p) => p.get(seed) as number))]));
  };
  const test = pairedTest(overSmall('random'), overSmall('hardest'));
  return {
    criteria: [
      {
        name: `${regime}: hardest beats random at small m`,
        held: wins.length * 2 > small.length,
        detail: `hardest < random at ${wins.length} of the ${small.length} smallest m (${small.join(', ')}); random - hardest averaged over them: ${fmt(test.meanDiff)}, ${testDetail(test)}`,
        test,
      },
      {
        name: `${regime}: the best m for hardest is small`,
        held: plateauM <= SMALL_M && plateauM < sizes[sizes.length - 1],
        detail: `best m ${bestM}; within ${PLATEAU_MARGIN * 100}% of the best from m = ${plateauM} (small: <= ${SMALL_M} and below the grid's largest, ${sizes[sizes.length - 1]})`,
      },
    ],
    numbers,
  };
}

export function sftVerdict(rows: Row[]): RuleResult {
  const budget = sftRegime(rows, 'budget');
  const converge = sftRegime(rows, 'converge');
  // Dilution / forgetting: the pretraining-distribution error after the largest random set.
  const sizes = values(rows, 'sft', 'm');
  const start = meanOf(rows, 'sft', { stage: 'pretrained' }, 'pretrain');
  const numbers = {
    ...budget.numbers,
    ...converge.numbers,
    'pretrained pretrain-error': start,
    [`budget random m=${sizes.at(-1)} pretrain-error`]: meanOf(
      rows,
      'sft',
      { rule: 'random', m: sizes.at(-1) ?? 0, regime: 'budget' },
      'pretrain',
    ),
    [`budget hardest m=${sizes[0]} pretrain-error`]: meanOf(
      rows,
      'sft',
      { rule: 'hardest', m: sizes[0], regime: 'budget' },
      'pretrain',
    ),
  };
  const criteria = [...budget.criteria, ...converge.criteria];
  return {
    experiment: 'sft',
    claim: 'SFT learns most from a small set of examples that are hard for the pretrained model',
    verdict: verdictOf(criteria),
    rule: `In each regime (fixed budget; near convergence), on the mean test target error over seeds at each rule's validation-chosen lr: (a) hardest < random at most of the smallest third of the m grid; (b) for hardest, the smallest m within ${PLATEAU_MARGIN * 100}% of its best error is <= ${SMALL_M} and below the largest m of the grid (a plateau only at the largest m says more data helps). All four hold: confirmed; none: not confirmed; otherwise mixed.`,
    criteria,
    numbers,
  };
}

/** Per (band, N): mean final target error, spread (std over seeds), and the share of runs worse than their start. */
export function rlStats(rows: Row[], band: string, N: number) {
  const rs = chosenRows(rows, 'rl', { band, N });
  const starts = new Map(chosenRows(rows, 'rl', { stage: 'pretrained' }).map((r) => [r.seed, r.metrics.target]));
  const finals = rs.map((r) => r.metrics.target);
  const gains = rs.map((r) => (starts.get(r.seed) ?? Number.NaN) - r.metrics.target);
  const worse = rs.filter((r) => r.metrics.target > (starts.get(r.seed) ?? Number.NaN) * (1 + COLLAPSE_MARGIN)).length;
  return { final: mean(finals), gain: mean(gains), spread: std(finals), collapse: rs.length ? worse / rs.length : Number.NaN };
}

export function rlVerdict(rows: Row[]): RuleResult {
  const sizes = values(rows, 'rl', 'N');
  const lo = sizes[0];
  const hi = sizes[sizes.length - 1];
  const numbers: Record<string, number> = {};
  for (const band of ['easy', 'medium', 'hard'])
    for (const N of sizes) {
      const s = rlStats(rows, band, N);
      numbers[`${band} N=${N} gain`] = s.gain;
      numbers[`${band} N=${N} spread`] = s.spread;
      numbers[`${band} N=${N} collapse`] = s.collapse;
    }
  const mLo = rlStats(rows, 'medium', lo);
  const mHi = rlStats(rows, 'medium', hi);
  const hHi = rlStats(rows, 'hard', hi);
  // Paired by seed (one pretrained start per seed, so a gain difference is a final-error difference).
  const final = (band: string, N: number) => perSeed(rows, 'rl', { band, N }, 'target');
  const moreData = pairedTest(final('medium', lo), final('medium', hi));
  const bands = pairedTest(final('hard', hi), final('medium', hi));
  const criteria: Criterion[] = [
    {
      name: 'more medium data gives a larger gain',
      held: mHi.gain > mLo.gain,
      detail: `medium gain ${fmt(mHi.gain)} at N=${hi} vs ${fmt(mLo.gain)} at N=${lo}; ${testDetail(moreData)}`,
      test: moreData,
    },
    {
      name: 'more medium data is more stable',
      held: mHi.spread <= mLo.spread && mHi.collapse <= mLo.collapse,
      detail: `spread ${fmt(mHi.spread)} vs ${fmt(mLo.spread)}, runs worse than start ${fmt(mHi.collapse)} vs ${fmt(mLo.collapse)}`,
    },
    {
      name: 'the too-hard band learns less than the medium band',
      held: hHi.gain < mHi.gain,
      detail: `gain at N=${hi}: hard ${fmt(hHi.gain)} vs medium ${fmt(mHi.gain)}; ${testDetail(bands)}`,
      test: bands,
    },
  ];
  return {
    experiment: 'rl',
    claim: 'RL needs large data of moderate difficulty; small RL sets are unstable',
    verdict: verdictOf(criteria),
    rule: `On test target error at each (band, N)'s validation-chosen lr, gain = start - final (mean over seeds): (a) medium gain at the largest N > at the smallest N; (b) at the largest N the seed spread (std of the final error) and the share of runs ending more than ${COLLAPSE_MARGIN * 100}% worse than their start are no larger than at the smallest N; (c) the hard band's gain at the largest N < the medium band's. All hold: confirmed; none: not confirmed; otherwise mixed.`,
    criteria,
    numbers,
  };
}

/** Relative tail gain of post-training per seed: (start - end) / start on the rare domain. */
export function tailGains(rows: Row[], model: string, pretrain: string, match: string): Map<number, number> {
  const end = chosenRows(rows, 'balance', { model, pretrain, match, stage: 'post' });
  const start = perSeed(rows, 'balance', { model, pretrain, match, stage: 'start' }, 'tail');
  return new Map(
    end.map((r) => [r.seed, ((start.get(r.seed) ?? Number.NaN) - r.metrics.tail) / (start.get(r.seed) ?? Number.NaN)]),
  );
}

export function balanceVerdict(rows: Row[]): RuleResult {
  const balance = rows.filter((r) => r.experiment === 'balance');
  const models = [...new Set(balance.map((r) => String(r.condition.model)))];
  const numbers: Record<string, number> = {};
  const criteria = models.flatMap((model) => {
    const imbSeeds = tailGains(rows, model, 'imbalanced', 'unmatched');
    const imb = mean([...imbSeeds.values()]);
    numbers[`${model} imbalanced tail gain`] = imb;
    const matches = ['unmatched', 'matched-target', 'matched-tail', 'probe', 'short', 'long'].filter((match) =>
      balance.some((r) => r.condition.model === model && r.condition.pretrain === 'balanced' && r.condition.match === match),
    );
    return matches.map((match) => {
      const balSeeds = tailGains(rows, model, 'balanced', match);
      const bal = mean([...balSeeds.values()]);
      numbers[`${model} balanced ${match} tail gain`] = bal;
      // The probe and the budgets compare like with like: both pretrainings probed, or post-trained
      // with the same budget.
      const alike = match === 'probe' || match === 'short' || match === 'long';
      const otherSeeds = alike ? tailGains(rows, model, 'imbalanced', match) : imbSeeds;
      const other = mean([...otherSeeds.values()]);
      if (alike) numbers[`${model} imbalanced ${match} tail gain`] = other;
      const test = pairedTest(balSeeds, otherSeeds);
      return {
        name: `${model}: balanced > imbalanced (${match})`,
        held: bal > other,
        detail: `${model} ${match}: relative tail gain ${fmt(bal)} vs ${fmt(other)}; ${testDetail(test)}`,
        test,
      };
    });
  });
  return {
    experiment: 'balance',
    claim: 'Balanced pretraining builds latent capability that post-training activates (larger gains on rare directions)',
    verdict: verdictOf(criteria),
    rule: "For each model (factorised LSA, ICL transformer): relative gain on the rare (tail) domain, (start - end) / start of the test tail error, mean over seeds, after the same post-training: balanced pretraining (full length; stopped to match the imbalanced model's validation target error; stopped to match its validation tail error, the last only when the target is not the tail alone) vs imbalanced pretraining; and, where the rows have it, under the output-only probe (the output layer alone trained, from each full pretraining, both probed) and after short and long post-training (the same post-training with its SFT steps and RL updates scaled, from each full pretraining, both at the same budget). Balanced larger in every comparison: confirmed; in none: not confirmed; otherwise mixed.",
    criteria,
    numbers,
  };
}

export const RECIPE_VARIANTS = ['recipe', 'large-random-sft', 'small-rl', 'too-hard-rl', 'imbalanced-pretrain'] as const;

export function recipeVerdict(rows: Row[]): RuleResult {
  const err = (variant: string) => meanOf(rows, 'recipe', { variant }, 'target');
  const recipe = err('recipe');
  const numbers: Record<string, number> = Object.fromEntries(RECIPE_VARIANTS.map((v) => [`${v} target error`, err(v)]));
  const recipeSeeds = perSeed(rows, 'recipe', { variant: 'recipe' }, 'target');
  const criteria: Criterion[] = RECIPE_VARIANTS.slice(1).map((v) => {
    const test = pairedTest(perSeed(rows, 'recipe', { variant: v }, 'target'), recipeSeeds);
    return {
      name: `recipe beats ${v}`,
      held: recipe < err(v),
      detail: `target error ${fmt(recipe)} vs ${fmt(err(v))}; ${testDetail(test)}`,
      test,
    };
  });
  const held = criteria.filter((c) => c.held).length;
  return {
    experiment: 'recipe',
    claim: 'Balanced pretraining → small hard SFT → large medium RL beats the alternatives',
    verdict: held === criteria.length ? 'confirmed' : held * 2 >= criteria.length ? 'mixed' : 'not confirmed',
    rule: "Mean test target error over seeds at each variant's validation-chosen lr. The recipe lower than every alternative: confirmed; than at least half: mixed; otherwise not confirmed.",
    criteria,
    numbers,
  };
}

const RULES: Record<ExperimentName, (rows: Row[]) => RuleResult> = {
  sft: sftVerdict,
  rl: rlVerdict,
  balance: balanceVerdict,
  recipe: recipeVerdict,
};

/** The verdict of every experiment that has rows, per setting (each from that setting's rows alone). */
export function verdicts(rows: Row[]): Verdict[] {
  return SETTING_NAMES.flatMap((setting) => {
    const own = rows.filter((r) => r.setting === setting);
    return (Object.keys(RULES) as ExperimentName[])
      .filter((e) => own.some((r) => r.experiment === e))
      .map((e) => {
        const v = RULES[e](own);
        return { ...v, setting, significance: significanceOf(v.criteria) };
      });
  });
}
