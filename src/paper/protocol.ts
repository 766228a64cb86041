/**
 * The protocol of the paper experiments (issue 5), declared once: the scenario every experiment
 * shares, the grids per preset, and the rules the verdicts follow. The report prints this text, so
 * what was run and how it was judged are read from one place.
 *
 * Setting A (in-context weight prediction), factorised LSA, d = 8, n = 32, head/tail domains of 4
 * directions each, rotated by a random orthogonal basis per seed (so Adam's per-coordinate scaling
 * cannot equalise rare and common directions).
 */
import type { PlanInput } from '../train/plan.ts';

export type PresetName = 'tiny' | 'small' | 'full';
export const PRESETS: readonly PresetName[] = ['tiny', 'small', 'full'];

export type ExperimentName = 'sft' | 'rl' | 'balance' | 'recipe';
export const EXPERIMENTS: readonly ExperimentName[] = ['sft', 'rl', 'balance', 'recipe'];

export const EXPERIMENT_TITLES: Record<ExperimentName, string> = {
  sft: '1. SFT size × selection',
  rl: '2. RL data size × difficulty',
  balance: '3. Pretraining balance (latent capability)',
  recipe: '4. The recipe against the alternatives',
};

export interface Preset {
  seeds: number;
  /** Pretraining steps (constant learning rate, so a shorter run is a prefix of a longer one). */
  pretrainSteps: number;
  pretrainLr: number;
  /** Held-out test and validation sizes (each). */
  evalSize: number;
  /** SFT: candidate pool, set sizes, step budgets (fixed budget and near convergence), lr grid. */
  sftPool: number;
  sftSizes: number[];
  sftBudget: number;
  sftConverge: number;
  sftLrs: number[];
  /** RL: distinct prompt counts, updates, lr grid; the pool is 3x the largest N (a band is a third). */
  rlSizes: number[];
  rlSteps: number;
  rlLrs: number[];
  /** RL phases' batch, prompts x group (default: the setting's batch; experiments 2, 3 and 4). */
  rlBatch?: number;
  /**
   * Experiments 3 and 4: one lr grid shared by the SFT and RL phases of a post-training run.
   * Grid history (each choice made on the validation split): a first run chose the top of the SFT
   * and RL grids, so they were widened (SFT to 0.1, chosen for some m; RL to 0.03, then 0.1); a run
   * with RL up to 0.1 and this grid up to 0.03 never chose 0.1 or 0.03 there, so those were dropped
   * to keep the default run well under 20 minutes.
   */
  postLrs: number[];
  /** Balanced-pretraining snapshots every this many steps, for the matched-start comparison. */
  snapshotEvery: number;
  /**
   * Experiment 3's short and long post-training budgets (science notes): the same post-training
   * from each full pretraining with its SFT steps and RL updates times these factors. Setting A's
   * small and full presets have them (0.25x and 4x; the default run takes 11 minutes here with them
   * (2026-12-06; 13 before the matmuls' fma) and 7 without (before fma), 22 and 14 before the
   * eleventh session's speed-ups); `paper --budgets S,L` sets
   * others and `--budgets none` leaves them out.
   */
  postBudgets?: PostBudgets;
  /** The RL set of experiments 3 and 4 ("large medium RL"; default: the largest of rlSizes; pool 3x). */
  postRlN?: number;
  /** Setting A's transformer in experiment 3 (absent in the token setting, where the transformer is the model). */
  icl?: IclPreset;
  /**
   * Experiments 1 and 2 start each seed from the balanced pretraining's snapshot (every
   * snapshotEvery steps, the end included) whose validation target error is closest to this,
   * instead of the end of pretraining (`paper --start-error E`; unset: the end).
   */
  startError?: number;
  /**
   * How every SFT selection (experiments 1, 3 and 4) ranks its pool for hardest / easiest: 'loss'
   * (the pretrained model's error on each example; unset means this) or 'pass-rate' (1 - its pass
   * rate over the RL's samples per prompt, as the RL bands are ranked: the paper's "hard for the
   * pretrained model").
   */
  sftBy?: SftDifficulty;
}

/** How SFT selections rank their pool (`paper --sft-difficulty`). */
export type SftDifficulty = 'loss' | 'pass-rate';
export const SFT_DIFFICULTIES: readonly SftDifficulty[] = ['loss', 'pass-rate'];

/**
 * The options that shape a run beyond its preset (`paper --budgets`, `--pretrain-factor`,
 * `--start-error`, `--snapshot-every`, `--sft-difficulty`); each shows in the protocol text where it changes what runs,
 * so runs pool only with runs of the same shape.
 */
export interface RunShape {
  /** Experiment 3's budgets: undefined, the preset's own; null, none. */
  budgets?: PostBudgets | null;
  /** Every pretraining this many times as long (undefined: the preset's steps). */
  pretrainFactor?: number;
  /** Experiments 1 and 2 from the snapshot nearest this validation target error (Preset.startError). */
  startError?: number;
  /** Balanced pretraining snapshots every this many steps (after the pretraining factor; undefined: the preset's). */
  snapshotEvery?: number;
  /** Every SFT selection's difficulty score (undefined: 'loss'). */
  sftDifficulty?: SftDifficulty;
}

/** Factors on post-training's SFT steps and RL updates: a short and a long budget. */
export interface PostBudgets {
  short: number;
  long: number;
}

/** Setting A's default short and long budgets (presets small and full). */
export const DEFAULT_BUDGETS: PostBudgets = { short: 0.25, long: 4 };

/** A preset with experiment 3's budgets set (undefined: the preset's own; null: none). */
function withBudgets<P extends Preset>(p: P, budgets: PostBudgets | null | undefined): P {
  if (budgets === null) {
    const { postBudgets: _, ...rest } = p;
    return rest as P;
  }
  return budgets ? { ...p, postBudgets: budgets } : p;
}

/**
 * A preset with every pretraining `factor` times as long (both settings; setting A's ICL transformer
 * too), its matched-start snapshots as many times as far apart, so the snapshots fall at the same
 * fractions of pretraining. Undefined or 1: the preset as it is. The protocol text shows the steps.
 */
function withPretrainFactor<P extends Preset>(p: P, factor: number | undefined): P {
  if (factor === undefined || factor === 1) return p;
  const times = (n: number) => Math.max(1, Math.round(n * factor));
  return {
    ...p,
    pretrainSteps: times(p.pretrainSteps),
    snapshotEvery: times(p.snapshotEvery),
    ...(p.icl ? { icl: { ...p.icl, pretrainSteps: times(p.icl.pretrainSteps) } } : {}),
  };
}

/**
 * A preset as a run uses it: experiment 3's budgets set, every pretraining scaled, the snapshots'
 * spacing and the start of experiments 1 and 2 chosen (the run's options; undefined: the preset's
 * own). A setting and its protocol text both take it from here.
 */
export function adjustPreset<P extends Preset>(p: P, shape: RunShape = {}): P {
  const adjusted = withPretrainFactor(withBudgets(p, shape.budgets), shape.pretrainFactor);
  const byPass = shape.sftDifficulty === 'pass-rate';
  if (shape.startError === undefined && shape.snapshotEvery === undefined && !byPass) return adjusted;
  return {
    ...adjusted,
    ...(shape.startError === undefined ? {} : { startError: shape.startError }),
    ...(shape.snapshotEvery === undefined ? {} : { snapshotEvery: shape.snapshotEvery }),
    ...(byPass ? { sftBy: 'pass-rate' as const } : {}),
  };
}

/** Experiments 1 and 2's start in words (protocol text), when it is not the end of pretraining. */
export const startText = (p: Preset): string =>
  p.startError === undefined
    ? ''
    : ` Experiments 1 and 2 start each seed not from the end of pretraining but from the balanced pretraining's snapshot (every ${p.snapshotEvery} steps, the end included) whose validation target error is closest to ${p.startError}; "pretrained" below means that snapshot, which ranks the SFT pool and the RL bands, and the rows give its steps.`;

/** The budgets in words (protocol text). */
export const budgetText = (b: PostBudgets | undefined, sftBudget: number, rlSteps: number): string =>
  b
    ? `Short and long post-training budgets beside it: from each full pretraining, the same post-training with ${b.short}x and ${b.long}x the SFT steps and RL updates (${Math.max(1, Math.round(sftBudget * b.short))} + ${Math.max(1, Math.round(rlSteps * b.short))} and ${Math.max(1, Math.round(sftBudget * b.long))} + ${Math.max(1, Math.round(rlSteps * b.long))}); balanced vs imbalanced compared at each budget.`
    : '';

/** The ICL transformer's arm of experiment 3 (setting A). */
export interface IclPreset {
  /** Pretraining steps (snapshots every tenth) and lr, the post-training lr grid. */
  pretrainSteps: number;
  pretrainLr: number;
  postLrs: number[];
  /** Post-training pools and held-out sets: SFT pool, RL set N (pool 3N), eval size. */
  sftPool: number;
  rlN: number;
  evalSize: number;
}

export const PRESET_TABLE: Record<PresetName, Preset> = {
  tiny: {
    // A smoke test of the whole pipeline (a test runs it): every experiment and condition, little data.
    seeds: 2,
    pretrainSteps: 60,
    pretrainLr: 0.01,
    evalSize: 64,
    sftPool: 256,
    sftSizes: [16, 128],
    sftBudget: 10,
    sftConverge: 30,
    sftLrs: [0.003, 0.01],
    rlSizes: [8, 64],
    rlSteps: 10,
    rlLrs: [0.003, 0.01],
    postLrs: [0.003],
    snapshotEvery: 20,
    icl: { pretrainSteps: 10, pretrainLr: 0.003, postLrs: [0.001], sftPool: 64, rlN: 16, evalSize: 32 },
  },
  small: {
    seeds: 3,
    pretrainSteps: 300,
    pretrainLr: 0.01,
    evalSize: 1024,
    sftPool: 4096,
    sftSizes: [16, 64, 256, 1024, 4096],
    sftBudget: 100,
    sftConverge: 400,
    sftLrs: [0.001, 0.003, 0.01, 0.03, 0.1],
    rlSizes: [8, 32, 128, 512, 2048],
    rlSteps: 200,
    rlLrs: [0.001, 0.003, 0.01, 0.03],
    postLrs: [0.003, 0.01],
    snapshotEvery: 10,
    icl: { pretrainSteps: 300, pretrainLr: 0.003, postLrs: [0.001, 0.003], sftPool: 1024, rlN: 512, evalSize: 512 },
    postBudgets: DEFAULT_BUDGETS,
  },
  full: {
    seeds: 5,
    pretrainSteps: 600,
    pretrainLr: 0.01,
    evalSize: 2048,
    sftPool: 4096,
    sftSizes: [16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
    sftBudget: 100,
    sftConverge: 1500,
    sftLrs: [0.001, 0.003, 0.01, 0.03, 0.1],
    rlSizes: [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
    rlSteps: 400,
    rlLrs: [0.001, 0.003, 0.01, 0.03],
    postLrs: [0.003, 0.01],
    snapshotEvery: 10,
    icl: { pretrainSteps: 600, pretrainLr: 0.003, postLrs: [0.001, 0.003], sftPool: 1024, rlN: 512, evalSize: 512 },
    postBudgets: DEFAULT_BUDGETS,
  },
};

/** Mixtures over the head/tail domains. The tail is the rare part under imbalanced pretraining. */
export const MIXTURES = {
  balanced: { head: 0.5, tail: 0.5 },
  imbalanced: { head: 0.95, tail: 0.05 },
} as const;

export type TargetName = 'rare' | 'shifted';
export const TARGET_NAMES: readonly TargetName[] = ['rare', 'shifted'];

/**
 * The post-training target (the distribution of the SFT and RL pools and of the "target" error);
 * it differs from both pretraining mixtures. 'rare' (the default): tail tasks only. For the LSA
 * optimum this moves Γ a long way (the head directions to 0, the tail ones up), so post-training has
 * room to help (about 40% of the balanced model's target error, by the closed form) and forgetting
 * shows as head error. 'shifted': head 0.2, tail 0.8, a milder shift with only a few percent of
 * room, where seed noise competes with the effects measured.
 */
export const TARGETS: Record<TargetName, Readonly<Record<string, number>>> = {
  rare: { tail: 1 },
  shifted: { head: 0.2, tail: 0.8 },
};

/** The task every experiment shares. */
export const TASK = { kind: 'regression', d: 8, n: 32, noise: 0.1, domains: 'head-tail', head: 4, rotate: true, tau: 1 } as const;
/** 'lsa' and 'icl': setting A's models; 'gpt': the token setting's decoder-only transformer. */
export type ModelName = 'lsa' | 'icl' | 'gpt';
/**
 * The models: the factorised LSA of the theory (every experiment), and the small softmax-attention
 * transformer (experiment 3, where a capability must be able to stay latent), with its own batch,
 * pretraining lr and lr grid (a step costs about 50 ms on a CPU adapter, 30x an LSA step).
 */
export const MODELS = {
  lsa: { kind: 'lsa-factorised', initStd: 0.02 },
  icl: { kind: 'icl-transformer', dModel: 16, layers: 1, heads: 2 },
} as const;
export const MODEL_BATCH: Record<Exclude<ModelName, 'gpt'>, number> = { lsa: 64, icl: 32 };
/**
 * Each model's output layer, what the output-only probe of experiment 3 trains: the LSA's P (in
 * ŵ = P·Q·h, Q makes the features and P reads them out), the ICL transformer's output projection and
 * the token transformer's head.
 */
export const OUTPUT_PARAMS: Record<ModelName, string[]> = { lsa: ['P'], icl: ['out.w', 'out.b'], gpt: ['head'] };
/** The output-only probe, in words (protocol text, both settings). */
const PROBE_TEXT = (sftBudget: number) =>
  `An output-only probe beside it: from each full pretraining, SFT on the ${RECIPE.sftM} hardest (${sftBudget} steps, the post-training lr grid) training the output layer alone (the LSA's P, the transformers' output projection), the rest frozen; its relative tail gain, balanced vs imbalanced, asks whether balanced pretraining built rare-domain features that a new read-out can use.`;
/** RL: group size, policy std, binary reward below tau; prompts drawn with replacement. */
export const RL = { group: 8, sigma: 0.2, reward: 'pass', samples: 16 } as const;
/** SFT and RL in experiments 3 and 4: the recipe's small hard SFT set and large medium RL set. */
export const RECIPE = { sftM: 64, sftRule: 'hardest' } as const;

/** A run is worse than its start when its final target error exceeds the start by this fraction. */
export const COLLAPSE_MARGIN = 0.02;
/** "A plateau reached early": the smallest m within this fraction of the best error. */
export const PLATEAU_MARGIN = 0.05;
/**
 * A criterion that held counts as significant when its paired sign-flip test over seeds gives
 * p <= this. The verdicts themselves follow the means; this qualifies them (3 seeds cannot reach it).
 */
export const SIGNIFICANCE_LEVEL = 0.05;
/**
 * A best (or plateau) m at most this is "small": 1/16 of the small preset's pool. It must also lie
 * below the largest m of the grid: a plateau only at the largest m says more data helps (setting B's
 * grid ends at 256, so without this the criterion could not fail there).
 */
export const SMALL_M = 256;

/** The plan of one run: the shared task and model, with `phases` and the seed. */
export function basePlan(
  seed: number,
  preset: Preset,
  phases: PlanInput['phases'],
  name: string,
  model: Exclude<ModelName, 'gpt'> = 'lsa',
): PlanInput {
  const evalSize = model === 'icl' ? (preset.icl?.evalSize ?? preset.evalSize) : preset.evalSize;
  return {
    name,
    seed,
    task: { ...TASK },
    model: { ...MODELS[model] },
    batch: MODEL_BATCH[model],
    eval: { size: evalSize, every: 1_000_000, mixture: { ...MIXTURES.balanced }, validation: evalSize },
    phases,
  };
}

/** The protocol in words, for the report (every number is read from the constants above). */
export function protocolText(preset: PresetName, target: TargetName, seeds: readonly number[], shape: RunShape = {}): string[] {
  const p = adjustPreset(PRESET_TABLE[preset], shape);
  const t = TARGETS[target];
  const icl = p.icl as IclPreset;
  return [
    `Setting A, in-context weight prediction: d = ${TASK.d}, n = ${TASK.n}, label noise ${TASK.noise}; two domains of ${TASK.head} directions each (head, tail), w ~ N(0, I) on its domain's directions; the directions are rotated by a random orthogonal basis per seed. Model: factorised LSA (ŵ = P·Q·(1/n)Σ x_i y_i), AdamW, batch 64.`,
    `Pretraining: ${p.pretrainSteps} steps at a constant learning rate ${p.pretrainLr} on the balanced mixture (head ${MIXTURES.balanced.head}, tail ${MIXTURES.balanced.tail}) or the imbalanced one (head ${MIXTURES.imbalanced.head}, tail ${MIXTURES.imbalanced.tail}).${startText(p)}`,
    `Post-training target '${target}': ${Object.entries(t)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )} (it differs from both pretraining mixtures; the SFT and RL pools are drawn from it). Errors ||ŵ − w||² are measured per domain on held-out sets of ${p.evalSize}, then weighted: "target" by the target mixture, "pretrain" by the pretraining mixture (forgetting), "mix" half and half; "tail" is the rare domain. An answer passes when its error is below τ = ${TASK.tau}.`,
    `Learning rates are chosen on a validation split (${p.evalSize} prompts from a separate stream, disjoint from the test set and every pool) by the lowest mean target error over seeds, per condition; the test numbers of the chosen rate are reported, and every rate's rows are kept in results.json.`,
    `1. SFT: m ∈ {${p.sftSizes.join(', ')}} examples of a ${p.sftPool}-example target pool, chosen hardest / random / easiest by the pretrained model's ${p.sftBy === 'pass-rate' ? `pass rate (${RL.samples} samples ŵ + ${RL.sigma}·ξ per example, as the RL bands below; every SFT selection, in experiments 3 and 4 too, ranks by it)` : 'error'}; lr ∈ {${p.sftLrs.join(', ')}}; a fixed budget of ${p.sftBudget} steps and a near-convergence run of ${p.sftConverge} steps.`,
    `2. RL: N ∈ {${p.rlSizes.join(', ')}} distinct target prompts from the easy / medium / too-hard third of a ${3 * Math.max(...p.rlSizes)}-prompt pool ordered by the pretrained pass rate (${RL.samples} samples ŵ + ${RL.sigma}·ξ per prompt); ${p.rlSteps} updates, prompts drawn with replacement, group ${RL.group}, GRPO advantages, a 0/1 reward (error below τ); lr ∈ {${p.rlLrs.join(', ')}}. A run collapses when its final target error is more than ${COLLAPSE_MARGIN * 100}% above its start.`,
    `3. Balance, for the factorised LSA and for a softmax-attention transformer (1 layer, width ${MODELS.icl.dModel}, ${MODELS.icl.heads} heads, batch ${MODEL_BATCH.icl}, ${icl.pretrainSteps} pretraining steps at lr ${icl.pretrainLr}, snapshots every ${Math.ceil(icl.pretrainSteps / 10)}, post-training lr ∈ {${icl.postLrs.join(', ')}}; for its cost, its SFT pool is ${icl.sftPool}, its RL set ${icl.rlN} of ${3 * icl.rlN} and its held-out sets ${icl.evalSize}): balanced vs imbalanced pretraining, then the same post-training (SFT on the ${RECIPE.sftM} hardest of the pool, ${p.sftBudget} steps, then RL on the largest medium set, ${p.rlSteps} updates; one lr ∈ {${p.postLrs.join(', ')}} for both phases). Gains on the rare (tail) domain as a share of the starting error, unmatched and at a matched start: balanced pretraining stopped at the snapshot (every ${p.snapshotEvery} steps) whose validation target error, or tail error, is closest to the imbalanced model's (one match when the target is the tail alone, where the two errors are the same). ${PROBE_TEXT(p.sftBudget)}${p.postBudgets ? ` ${budgetText(p.postBudgets, p.sftBudget, p.rlSteps)}` : ''}`,
    `4. Recipe: balanced pretraining → SFT on the ${RECIPE.sftM} hardest → RL on the largest medium set, against large random SFT (all ${p.sftPool}), small RL (N = ${Math.min(...p.rlSizes)}), too-hard RL, and imbalanced pretraining; final target error.`,
    `Seeds: ${seeds.join(', ')} (mean and spread = min..max over seeds; the standard deviation where stated).`,
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Setting B: the chain-of-thought token task

export type SettingName = 'regression' | 'token';
export const SETTING_NAMES: readonly SettingName[] = ['regression', 'token'];

/** The key of a setting's figure for an experiment (and its SVG file's name): `sft`, `sft-token`. */
export function figureKey(setting: SettingName, e: ExperimentName): string {
  return setting === 'regression' ? e : `${e}-${setting}`;
}

/** The key of a setting's response-length-over-RL figure (and its SVG file's name): `rl-token-length`. */
export function lengthFigureKey(setting: SettingName): string {
  return `${figureKey(setting, 'rl')}-length`;
}

/**
 * Pointer chasing with the permutation written as a table (π(0) .. π(P-1): each hop a lookup by
 * position), two variants as the domains: 'forward' (x -> π(x), the common one: "head") and
 * 'inverse' (x -> π⁻¹(x), a lookup by content: the rare one, "tail"). Difficulty = hop count k.
 * The shuffled-pairs layout needs an induction-style lookup a model of this size learns too slowly
 * for this machine's budget (see the README).
 */
export const TOKEN_TASK = {
  kind: 'pointer',
  nodes: 8,
  maxHops: 6,
  variants: ['forward', 'inverse'],
  layout: 'table',
} as const;
/** Which variant plays which domain: errors are reported as head (forward) and tail (inverse). */
export const TOKEN_DOMAINS = { head: 'forward', tail: 'inverse' } as const;
/**
 * A decoder-only transformer of width 32, 2 layers, 2 heads, initial weights of std 0.18 (about
 * 1/sqrt(32); GPT-2's 0.02 leaves attention untrained for thousands of steps at this width).
 */
export const TOKEN_MODEL = { kind: 'transformer', dModel: 32, layers: 2, heads: 2, initStd: 0.18 } as const;
export const TOKEN_BATCH = 16;
export const TOKEN_MIXTURES = {
  balanced: { forward: 0.5, inverse: 0.5 },
  imbalanced: { forward: 0.95, inverse: 0.05 },
} as const;
/** The post-training targets, as in setting A: the rare variant alone, or mostly. */
export const TOKEN_TARGETS: Record<TargetName, Readonly<Record<string, number>>> = {
  rare: { inverse: 1 },
  shifted: { forward: 0.2, inverse: 0.8 },
};
/** RL: group size; difficulty by the pass rate over this many answers sampled at temperature 1. */
export const TOKEN_RL = { group: 8, samples: 4 } as const;

/**
 * The token setting's scale per preset (its steps cost about 60 ms on a CPU adapter, 40x an LSA
 * step, and every evaluation generates answers token by token, so its grids are smaller).
 */
export const TOKEN_PRESET_TABLE: Record<PresetName, Preset> = {
  tiny: {
    // A smoke test (a test runs it beside setting A's tiny preset): every experiment, one size each.
    seeds: 2,
    pretrainSteps: 10,
    pretrainLr: 0.003,
    evalSize: 16,
    sftPool: 64,
    sftSizes: [16],
    sftBudget: 2,
    sftConverge: 4,
    sftLrs: [0.003],
    rlSizes: [8],
    rlSteps: 2,
    rlLrs: [0.003],
    rlBatch: 32,
    postLrs: [0.003],
    snapshotEvery: 5,
  },
  small: {
    // About 4.5 minutes per seed on a 2-core CPU adapter (seed 1: 268 s for 62 runs, 2026-12-06;
    // 374 s on 2026-12-05, 661 s before Dawn's busy poll was paced, about 54 minutes before
    // generation had a KV cache).
    seeds: 3,
    pretrainSteps: 800,
    pretrainLr: 0.003,
    evalSize: 128,
    sftPool: 512,
    sftSizes: [16, 64, 256],
    sftBudget: 40,
    sftConverge: 120,
    sftLrs: [0.001, 0.003],
    rlSizes: [8, 64, 256],
    // RL history: a first run (30 updates of 2 prompts x 8, lr {0.001, 0.003}, post-training lr
    // 0.003) improved nothing; a diagnostic on seed 1 (README) found 2 prompts per update too noisy
    // for AdamW (lr 0.001: inverse accuracy 0.42 -> 0.31 after 30 updates; 0.0003: -> 0.51 after
    // 150) and 8 prompts per update working (lr 0.001, 40 updates: 0.42 -> 0.58).
    rlSteps: 30,
    rlLrs: [0.0003, 0.001],
    rlBatch: 64,
    // One lr for experiments 3 and 4, for time: the RL lr that worked in the diagnostic and the SFT
    // lr experiment 1's validation split chose for half of its conditions.
    postLrs: [0.001],
    // Scoring a pool by pass rate generates 4 answers per prompt after every SFT phase: 3 x 64, not 3 x 256.
    postRlN: 64,
    snapshotEvery: 100,
  },
  full: {
    seeds: 5,
    pretrainSteps: 2000,
    pretrainLr: 0.003,
    evalSize: 512,
    sftPool: 2048,
    sftSizes: [16, 64, 256, 1024, 2048],
    sftBudget: 100,
    sftConverge: 600,
    sftLrs: [0.0003, 0.001, 0.003],
    rlSizes: [8, 32, 128, 512, 2048],
    rlSteps: 200,
    rlLrs: [0.0003, 0.001, 0.003],
    rlBatch: 64,
    postLrs: [0.0003, 0.001, 0.003],
    snapshotEvery: 200,
  },
};

/** The plan of one token-setting run. */
export function tokenPlan(seed: number, preset: Preset, phases: PlanInput['phases'], name: string): PlanInput {
  return {
    name,
    seed,
    task: { ...TOKEN_TASK, variants: [...TOKEN_TASK.variants] },
    model: { ...TOKEN_MODEL },
    batch: TOKEN_BATCH,
    eval: { size: preset.evalSize, every: 1_000_000, mixture: { ...TOKEN_MIXTURES.balanced }, validation: preset.evalSize },
    phases,
  };
}

/** The token setting's protocol in words (what differs from setting A; the rules are the same). */
export function tokenProtocolText(
  preset: PresetName,
  target: TargetName,
  seeds: readonly number[],
  shape: RunShape = {},
): string[] {
  const p = adjustPreset(TOKEN_PRESET_TABLE[preset], shape);
  const t = TOKEN_TARGETS[target];
  const mix = (m: Readonly<Record<string, number>>) =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  return [
    `Setting B, chain of thought on tokens: pointer chasing over a random permutation of ${TOKEN_TASK.nodes} nodes written as a table in the prompt, start s and hop count k ∈ 1..${TOKEN_TASK.maxHops} (the difficulty); the answer is the chain π(s), π²(s), ..., then ANS, the last state, EOS. Variants (domains): forward (x → π(x), "head") and inverse (x → π⁻¹(x), "tail"). Model: decoder-only transformer, width ${TOKEN_MODEL.dModel}, ${TOKEN_MODEL.layers} layers, ${TOKEN_MODEL.heads} heads, initial std ${TOKEN_MODEL.initStd}, batch ${TOKEN_BATCH}, AdamW.`,
    `Pretraining: ${p.pretrainSteps} steps at a constant learning rate ${p.pretrainLr} on fresh problems of every k, balanced (${mix(TOKEN_MIXTURES.balanced)}) or imbalanced (${mix(TOKEN_MIXTURES.imbalanced)}).${startText(p)}`,
    `Post-training target '${target}': ${mix(t)}. Error = 1 − accuracy of greedy answers checked by the exact verifier (the answer right and well formed), per variant on held-out sets of ${p.evalSize} prompts (every k, both variants), weighted as in setting A ("target", "pretrain", "mix", "head", "tail"); also the overthinking measures (chain length minus k, repeated states, answers not finished within the context).`,
    `Learning rates chosen on a validation split of ${p.evalSize} prompts as in setting A.`,
    `1. SFT: m ∈ {${p.sftSizes.join(', ')}} of a ${p.sftPool}-problem target pool, hardest / random / easiest by the pretrained model's ${p.sftBy === 'pass-rate' ? `pass rate (${TOKEN_RL.samples} answers sampled at temperature 1 per problem, as the RL bands below; every SFT selection, in experiments 3 and 4 too, ranks by it)` : 'completion loss (teacher-forced)'}; lr ∈ {${p.sftLrs.join(', ')}}; ${p.sftBudget} steps (budget) and ${p.sftConverge} steps (near convergence).`,
    `2. RL: N ∈ {${p.rlSizes.join(', ')}} target prompts from the easy / medium / too-hard third of a ${3 * Math.max(...p.rlSizes)}-prompt pool ordered by the pretrained pass rate (${TOKEN_RL.samples} answers sampled at temperature 1 per prompt); ${p.rlSteps} updates of ${(p.rlBatch ?? TOKEN_BATCH) / TOKEN_RL.group} prompts × group ${TOKEN_RL.group}, prompts drawn with replacement, GRPO advantages, reward 1 when the verifier passes; lr ∈ {${p.rlLrs.join(', ')}}. A run collapses when its final target error is more than ${COLLAPSE_MARGIN * 100}% above its start.`,
    `3. Balance: balanced vs imbalanced pretraining, then the same post-training (SFT on the ${RECIPE.sftM} hardest, ${p.sftBudget} steps, then RL on N = ${p.postRlN ?? Math.max(...p.rlSizes)} medium prompts of ${3 * (p.postRlN ?? Math.max(...p.rlSizes))}, ${p.rlSteps} updates; lr ∈ {${p.postLrs.join(', ')}}), unmatched and at a matched start (balanced snapshots every ${p.snapshotEvery} steps). ${PROBE_TEXT(p.sftBudget)}${p.postBudgets ? ` ${budgetText(p.postBudgets, p.sftBudget, p.rlSteps)}` : ''}`,
    `4. Recipe: as in setting A with the same post-training as experiment 3 (large random SFT = all ${p.sftPool}; small RL N = ${Math.min(...p.rlSizes)}).`,
    `Seeds: ${seeds.join(', ')}.`,
  ];
}
