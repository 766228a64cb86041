/**
 * Verdicts computed from measured rows by rules written down here (and printed in the report). No
 * verdict is set by hand: each function reads only the rows it is given, so the same rows always
 * give the same verdict and changed rows change it.
 */
import { COLLAPSE_MARGIN, type ExperimentName, PLATEAU_MARGIN, SETTING_NAMES, type SettingName, SMALL_M } from './protocol.ts';

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

export type VerdictValue = 'confirmed' | 'not confirmed' | 'mixed';

export interface Verdict {
  experiment: ExperimentName;
  /** The setting whose rows it was computed from (each setting is judged on its own rows). */
  setting: SettingName;
  claim: string;
  verdict: VerdictValue;
  /** The rule, in words. */
  rule: string;
  /** Each criterion of the rule and whether it held. */
  criteria: { name: string; held: boolean; detail: string }[];
  /** The numbers the criteria rest on. */
  numbers: Record<string, number>;
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const std = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
};

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
  return {
    criteria: [
      {
        name: `${regime}: hardest beats random at small m`,
        held: wins.length * 2 > small.length,
        detail: `hardest < random at ${wins.length} of the ${small.length} smallest m (${small.join(', ')})`,
      },
      {
        name: `${regime}: the best m for hardest is small`,
        held: plateauM <= SMALL_M,
        detail: `best m ${bestM}; within ${PLATEAU_MARGIN * 100}% of the best from m = ${plateauM} (small: <= ${SMALL_M})`,
      },
    ],
    numbers,
  };
}

export function sftVerdict(rows: Row[]): Omit<Verdict, 'setting'> {
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
    rule: `In each regime (fixed budget; near convergence), on the mean test target error over seeds at each rule's validation-chosen lr: (a) hardest < random at most of the smallest third of the m grid; (b) for hardest, the smallest m within ${PLATEAU_MARGIN * 100}% of its best error is <= ${SMALL_M}. All four hold: confirmed; none: not confirmed; otherwise mixed.`,
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

export function rlVerdict(rows: Row[]): Omit<Verdict, 'setting'> {
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
  const criteria = [
    {
      name: 'more medium data gives a larger gain',
      held: mHi.gain > mLo.gain,
      detail: `medium gain ${fmt(mHi.gain)} at N=${hi} vs ${fmt(mLo.gain)} at N=${lo}`,
    },
    {
      name: 'more medium data is more stable',
      held: mHi.spread <= mLo.spread && mHi.collapse <= mLo.collapse,
      detail: `spread ${fmt(mHi.spread)} vs ${fmt(mLo.spread)}, runs worse than start ${fmt(mHi.collapse)} vs ${fmt(mLo.collapse)}`,
    },
    {
      name: 'the too-hard band learns less than the medium band',
      held: hHi.gain < mHi.gain,
      detail: `gain at N=${hi}: hard ${fmt(hHi.gain)} vs medium ${fmt(mHi.gain)}`,
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

/** Relative tail gain of post-training: (start - end) / start on the rare domain, mean over seeds. */
export function tailGain(rows: Row[], model: string, pretrain: string, match: string): number {
  const end = chosenRows(rows, 'balance', { model, pretrain, match, stage: 'post' });
  const start = new Map(
    chosenRows(rows, 'balance', { model, pretrain, match, stage: 'start' }).map((r) => [r.seed, r.metrics.tail]),
  );
  return mean(end.map((r) => ((start.get(r.seed) ?? Number.NaN) - r.metrics.tail) / (start.get(r.seed) ?? Number.NaN)));
}

export function balanceVerdict(rows: Row[]): Omit<Verdict, 'setting'> {
  const balance = rows.filter((r) => r.experiment === 'balance');
  const models = [...new Set(balance.map((r) => String(r.condition.model)))];
  const numbers: Record<string, number> = {};
  const criteria = models.flatMap((model) => {
    const imb = tailGain(rows, model, 'imbalanced', 'unmatched');
    numbers[`${model} imbalanced tail gain`] = imb;
    const matches = ['unmatched', 'matched-target', 'matched-tail'].filter((match) =>
      balance.some((r) => r.condition.model === model && r.condition.pretrain === 'balanced' && r.condition.match === match),
    );
    return matches.map((match) => {
      const bal = tailGain(rows, model, 'balanced', match);
      numbers[`${model} balanced ${match} tail gain`] = bal;
      return {
        name: `${model}: balanced > imbalanced (${match})`,
        held: bal > imb,
        detail: `${model} ${match}: relative tail gain ${fmt(bal)} vs ${fmt(imb)}`,
      };
    });
  });
  return {
    experiment: 'balance',
    claim: 'Balanced pretraining builds latent capability that post-training activates (larger gains on rare directions)',
    verdict: verdictOf(criteria),
    rule: "For each model (factorised LSA, ICL transformer): relative gain on the rare (tail) domain, (start - end) / start of the test tail error, mean over seeds, after the same post-training: balanced pretraining (full length; stopped to match the imbalanced model's validation target error; stopped to match its validation tail error, the last only when the target is not the tail alone) vs imbalanced pretraining. Balanced larger in every comparison: confirmed; in none: not confirmed; otherwise mixed.",
    criteria,
    numbers,
  };
}

export const RECIPE_VARIANTS = ['recipe', 'large-random-sft', 'small-rl', 'too-hard-rl', 'imbalanced-pretrain'] as const;

export function recipeVerdict(rows: Row[]): Omit<Verdict, 'setting'> {
  const err = (variant: string) => meanOf(rows, 'recipe', { variant }, 'target');
  const recipe = err('recipe');
  const numbers: Record<string, number> = Object.fromEntries(RECIPE_VARIANTS.map((v) => [`${v} target error`, err(v)]));
  const criteria = RECIPE_VARIANTS.slice(1).map((v) => ({
    name: `recipe beats ${v}`,
    held: recipe < err(v),
    detail: `target error ${fmt(recipe)} vs ${fmt(err(v))}`,
  }));
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

const RULES: Record<ExperimentName, (rows: Row[]) => Omit<Verdict, 'setting'>> = {
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
      .map((e) => ({ ...RULES[e](own), setting }));
  });
}
