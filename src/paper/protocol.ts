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
  /** The transformer in experiment 3: pretraining steps (snapshots every tenth) and lr, the post-training lr grid. */
  iclPretrainSteps: number;
  iclPretrainLr: number;
  iclPostLrs: number[];
  /** The transformer's post-training pools and held-out sets: SFT pool, RL set N (pool 3N), eval size. */
  iclSftPool: number;
  iclRlN: number;
  iclEvalSize: number;
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
    iclPretrainSteps: 10,
    iclPretrainLr: 0.003,
    iclPostLrs: [0.001],
    iclSftPool: 64,
    iclRlN: 16,
    iclEvalSize: 32,
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
    iclPretrainSteps: 300,
    iclPretrainLr: 0.003,
    iclPostLrs: [0.001, 0.003],
    iclSftPool: 1024,
    iclRlN: 512,
    iclEvalSize: 512,
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
    iclPretrainSteps: 600,
    iclPretrainLr: 0.003,
    iclPostLrs: [0.001, 0.003],
    iclSftPool: 1024,
    iclRlN: 512,
    iclEvalSize: 512,
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
export type ModelName = 'lsa' | 'icl';
/**
 * The models: the factorised LSA of the theory (every experiment), and the small softmax-attention
 * transformer (experiment 3, where a capability must be able to stay latent), with its own batch,
 * pretraining lr and lr grid (a step costs about 50 ms on a CPU adapter, 30x an LSA step).
 */
export const MODELS = {
  lsa: { kind: 'lsa-factorised', initStd: 0.02 },
  icl: { kind: 'icl-transformer', dModel: 16, layers: 1, heads: 2 },
} as const;
export const MODEL_BATCH: Record<ModelName, number> = { lsa: 64, icl: 32 };
/** RL: group size, policy std, binary reward below tau; prompts drawn with replacement. */
export const RL = { group: 8, sigma: 0.2, reward: 'pass', samples: 16 } as const;
/** SFT and RL in experiments 3 and 4: the recipe's small hard SFT set and large medium RL set. */
export const RECIPE = { sftM: 64, sftRule: 'hardest' } as const;

/** A run is worse than its start when its final target error exceeds the start by this fraction. */
export const COLLAPSE_MARGIN = 0.02;
/** "A plateau reached early": the smallest m within this fraction of the best error. */
export const PLATEAU_MARGIN = 0.05;
/** A best (or plateau) m at most this is "small": 1/16 of the small preset's pool. */
export const SMALL_M = 256;

/** The plan of one run: the shared task and model, with `phases` and the seed. */
export function basePlan(
  seed: number,
  preset: Preset,
  phases: PlanInput['phases'],
  name: string,
  model: ModelName = 'lsa',
): PlanInput {
  const evalSize = model === 'icl' ? preset.iclEvalSize : preset.evalSize;
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
export function protocolText(preset: PresetName, target: TargetName): string[] {
  const p = PRESET_TABLE[preset];
  const t = TARGETS[target];
  return [
    `Setting A, in-context weight prediction: d = ${TASK.d}, n = ${TASK.n}, label noise ${TASK.noise}; two domains of ${TASK.head} directions each (head, tail), w ~ N(0, I) on its domain's directions; the directions are rotated by a random orthogonal basis per seed. Model: factorised LSA (ŵ = P·Q·(1/n)Σ x_i y_i), AdamW, batch 64.`,
    `Pretraining: ${p.pretrainSteps} steps at a constant learning rate ${p.pretrainLr} on the balanced mixture (head ${MIXTURES.balanced.head}, tail ${MIXTURES.balanced.tail}) or the imbalanced one (head ${MIXTURES.imbalanced.head}, tail ${MIXTURES.imbalanced.tail}).`,
    `Post-training target '${target}': ${Object.entries(t)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )} (it differs from both pretraining mixtures; the SFT and RL pools are drawn from it). Errors ||ŵ − w||² are measured per domain on held-out sets of ${p.evalSize}, then weighted: "target" by the target mixture, "pretrain" by the pretraining mixture (forgetting), "mix" half and half; "tail" is the rare domain. An answer passes when its error is below τ = ${TASK.tau}.`,
    `Learning rates are chosen on a validation split (${p.evalSize} prompts from a separate stream, disjoint from the test set and every pool) by the lowest mean target error over seeds, per condition; the test numbers of the chosen rate are reported, and every rate's rows are kept in results.json.`,
    `1. SFT: m ∈ {${p.sftSizes.join(', ')}} examples of a ${p.sftPool}-example target pool, chosen hardest / random / easiest by the pretrained model's error; lr ∈ {${p.sftLrs.join(', ')}}; a fixed budget of ${p.sftBudget} steps and a near-convergence run of ${p.sftConverge} steps.`,
    `2. RL: N ∈ {${p.rlSizes.join(', ')}} distinct target prompts from the easy / medium / too-hard third of a ${3 * Math.max(...p.rlSizes)}-prompt pool ordered by the pretrained pass rate (${RL.samples} samples ŵ + ${RL.sigma}·ξ per prompt); ${p.rlSteps} updates, prompts drawn with replacement, group ${RL.group}, GRPO advantages, a 0/1 reward (error below τ); lr ∈ {${p.rlLrs.join(', ')}}. A run collapses when its final target error is more than ${COLLAPSE_MARGIN * 100}% above its start.`,
    `3. Balance, for the factorised LSA and for a softmax-attention transformer (1 layer, width ${MODELS.icl.dModel}, ${MODELS.icl.heads} heads, batch ${MODEL_BATCH.icl}, ${p.iclPretrainSteps} pretraining steps at lr ${p.iclPretrainLr}, snapshots every ${Math.ceil(p.iclPretrainSteps / 10)}, post-training lr ∈ {${p.iclPostLrs.join(', ')}}; for its cost, its SFT pool is ${p.iclSftPool}, its RL set ${p.iclRlN} of ${3 * p.iclRlN} and its held-out sets ${p.iclEvalSize}): balanced vs imbalanced pretraining, then the same post-training (SFT on the ${RECIPE.sftM} hardest of the pool, ${p.sftBudget} steps, then RL on the largest medium set, ${p.rlSteps} updates; one lr ∈ {${p.postLrs.join(', ')}} for both phases). Gains on the rare (tail) domain as a share of the starting error, unmatched and at a matched start: balanced pretraining stopped at the snapshot (every ${p.snapshotEvery} steps) whose validation target error, or tail error, is closest to the imbalanced model's (one match when the target is the tail alone, where the two errors are the same).`,
    `4. Recipe: balanced pretraining → SFT on the ${RECIPE.sftM} hardest → RL on the largest medium set, against large random SFT (all ${p.sftPool}), small RL (N = ${Math.min(...p.rlSizes)}), too-hard RL, and imbalanced pretraining; final target error.`,
    `Seeds: ${p.seeds} (mean and spread = min..max over seeds; the standard deviation where stated).`,
  ];
}
