/**
 * The paper experiments in both settings (A: in-context weight prediction; B: the chain-of-thought
 * token task), run through the scheduler: each run is a plan (pretraining, or post-training started
 * from a pretrained checkpoint with `initFrom`), so the experiments use exactly the kernels,
 * optimizer and curation of every other run. Learning rates are swept per condition and chosen on
 * the validation split. A setting (SettingSpec) says how to make a run's plan and read its metrics;
 * the experiments themselves are the same code for both.
 */
import type { Runtime } from '../gpu/runtime.ts';
import type { PointerMetrics } from '../tasks/pointer.ts';
import type { RegressionMetrics } from '../tasks/regression.ts';
import type { Checkpoint } from '../train/checkpoint.ts';
import type { PlanInput } from '../train/plan.ts';
import { evaluateParams, type PhaseResult, runPlan } from '../train/scheduler.ts';
import {
  basePlan,
  type ExperimentName,
  type IclPreset,
  MIXTURES,
  type ModelName,
  OUTPUT_PARAMS,
  PRESET_TABLE,
  type PresetName,
  type Preset,
  RECIPE,
  RL,
  type SettingName,
  TARGETS,
  type TargetName,
  TOKEN_DOMAINS,
  TOKEN_MIXTURES,
  TOKEN_PRESET_TABLE,
  adjustPreset,
  type RunShape,
  TOKEN_RL,
  TOKEN_TARGETS,
  tokenPlan,
} from './protocol.ts';
import { chooseLr, RECIPE_VARIANTS, type RlCurve, type Row } from './verdicts.ts';

type Mixture = Readonly<Record<string, number>>;
type Phases = PlanInput['phases'];
/** A post-training run's result: its last phase's metrics, and that phase's RL curve when recorded. */
type PostResult = PhaseResult & { curve?: RlCurve };

/** Errors weighted by the target, the pretraining mixture and half of each; per domain; pass rates. */
export function metricsOf(m: RegressionMetrics, pretrainMix: Mixture, targetMix: Mixture): Record<string, number> {
  const weighted = (mix: Mixture, per: Record<string, number>) => {
    const total = Object.values(mix).reduce((a, b) => a + b, 0);
    return Object.entries(mix).reduce((s, [k, w]) => s + (w / total) * (per[k] ?? Number.NaN), 0);
  };
  const target = weighted(targetMix, m.perDomain);
  const pretrain = weighted(pretrainMix, m.perDomain);
  const pass = m.perDomainPass ?? {};
  return {
    target,
    pretrain,
    mix: (target + pretrain) / 2,
    head: m.perDomain.head,
    tail: m.perDomain.tail,
    'pass target': weighted(targetMix, pass),
    'pass tail': pass.tail ?? Number.NaN,
  };
}

/**
 * The token setting's metrics in the same terms: errors are 1 - accuracy per variant (head =
 * forward, tail = inverse), weighted by the target and pretraining mixtures; pass rates are the
 * accuracies; and the overthinking measures over the whole held-out set.
 */
export function tokenMetricsOf(m: PointerMetrics, pretrainMix: Mixture, targetMix: Mixture): Record<string, number> {
  const acc = (v: string) => m.byVariant[v as keyof PointerMetrics['byVariant']]?.accuracy ?? Number.NaN;
  const weighted = (mix: Mixture) => {
    const total = Object.values(mix).reduce((a, b) => a + b, 0);
    return Object.entries(mix).reduce((s, [k, w]) => s + (w / total) * (1 - acc(k)), 0);
  };
  const target = weighted(targetMix);
  const pretrain = weighted(pretrainMix);
  return {
    target,
    pretrain,
    mix: (target + pretrain) / 2,
    head: 1 - acc(TOKEN_DOMAINS.head),
    tail: 1 - acc(TOKEN_DOMAINS.tail),
    'pass target': 1 - target,
    'pass tail': acc(TOKEN_DOMAINS.tail),
    excess: m.meanExcess,
    repeats: m.meanRepeatedStates,
    unfinished: m.notFinished,
  };
}

/** How one setting makes its runs and reads their results; the experiments are shared. */
export interface SettingSpec {
  name: SettingName;
  preset: Preset;
  /** The post-training target mixture. */
  target: Mixture;
  /** The pretraining mixtures (balanced, and imbalanced with a rare domain). */
  mixtures: { balanced: Mixture; imbalanced: Mixture };
  /** The models experiment 3 compares balance on. */
  balanceModels: ModelName[];
  /** The plan of one run. */
  plan(seed: number, phases: Phases, name: string, model: ModelName): PlanInput;
  /** A run's held-out metrics as the rows record them (errors: lower is better). */
  metrics(m: unknown, pretrainMix: Mixture, targetMix: Mixture): Record<string, number>;
  /**
   * The RL phase's setting-specific fields: group, reward, policy std, how difficulty is measured;
   * `curves`: record the samples of every RL update in the rows (settings whose completions have a
   * length).
   */
  rl: { group: number; samples: number; reward: 'pass'; sigma?: number; curves?: boolean };
}

/** Setting A: the factorised LSA everywhere, and the ICL transformer beside it in experiment 3. */
export function regressionSetting(preset: PresetName, target: TargetName, shape: RunShape = {}): SettingSpec {
  const p = adjustPreset(PRESET_TABLE[preset], shape);
  return {
    name: 'regression',
    preset: p,
    target: TARGETS[target],
    mixtures: MIXTURES,
    balanceModels: ['lsa', 'icl'],
    plan: (seed, phases, name, model) => basePlan(seed, p, phases, name, model === 'gpt' ? 'lsa' : model),
    metrics: (m, pre, tgt) => metricsOf(m as RegressionMetrics, pre, tgt),
    rl: { group: RL.group, samples: RL.samples, reward: RL.reward, sigma: RL.sigma },
  };
}

/** Setting B: the token task with its transformer. */
export function tokenSetting(preset: PresetName, target: TargetName, shape: RunShape = {}): SettingSpec {
  const p = adjustPreset(TOKEN_PRESET_TABLE[preset], shape);
  return {
    name: 'token',
    preset: p,
    target: TOKEN_TARGETS[target],
    mixtures: TOKEN_MIXTURES,
    balanceModels: ['gpt'],
    plan: (seed, phases, name) => tokenPlan(seed, p, phases, name),
    metrics: (m, pre, tgt) => tokenMetricsOf(m as PointerMetrics, pre, tgt),
    rl: { group: TOKEN_RL.group, samples: TOKEN_RL.samples, reward: 'pass', curves: true },
  };
}

export interface LabOptions {
  setting: SettingSpec;
  seeds: number[];
  /** Called after every run, with a short description. */
  onRun?: (what: string) => void;
}

/** The pretraining and post-training sizes of one model of a setting (the ICL transformer has its own). */
function modelScale(
  p: Preset,
  model: ModelName,
): Pick<IclPreset, 'pretrainSteps' | 'pretrainLr' | 'postLrs' | 'sftPool'> & {
  snapshotEvery: number;
  rlN: number;
} {
  if (model === 'icl') {
    if (!p.icl) throw new Error('this preset has no ICL transformer arm');
    return { ...p.icl, snapshotEvery: Math.ceil(p.icl.pretrainSteps / 10) };
  }
  const { pretrainSteps, pretrainLr, postLrs, sftPool, snapshotEvery } = p;
  return { pretrainSteps, pretrainLr, postLrs, sftPool, snapshotEvery, rlN: p.postRlN ?? Math.max(...p.rlSizes) };
}

/** One runtime, a cache of pretrained checkpoints, of finished runs and of curation scores, and the rows measured. */
export class Lab {
  readonly rows: Row[] = [];
  private readonly pretrained = new Map<string, Promise<Pretrained>>();
  private readonly runs = new Map<string, Promise<PostResult>>();
  private readonly measured = new Map<string, Promise<Omit<PhaseResult, 'name'>>>();
  private readonly ids = new WeakMap<Checkpoint, string>();
  private readonly scores = new Map<string, Promise<ArrayLike<number>>>();
  runsDone = 0;

  constructor(
    readonly rt: Runtime,
    readonly opts: LabOptions,
  ) {}

  get setting(): SettingSpec {
    return this.opts.setting;
  }

  get preset(): Preset {
    return this.opts.setting.preset;
  }

  get target(): Mixture {
    return this.opts.setting.target;
  }

  get mixtures(): SettingSpec['mixtures'] {
    return this.opts.setting.mixtures;
  }

  /** The setting's plan of one run. */
  plan(seed: number, phases: Phases, name: string, model: ModelName): PlanInput {
    return this.setting.plan(seed, phases, name, model);
  }

  /** The cached promise under `key`, made by `make` the first time. */
  private once<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
    let p = cache.get(key);
    if (!p) {
      p = make();
      cache.set(key, p);
    }
    return p;
  }

  /** The id of a pretraining snapshot (runs and measurements from it are cached under it). */
  private idOf(from: Checkpoint): string {
    const id = this.ids.get(from);
    if (id === undefined) throw new Error("Lab: this checkpoint was not made by the lab's pretraining");
    return id;
  }

  /** Pretraining on `mix` (constant lr), with snapshots every `preset.snapshotEvery` steps; cached. */
  pretrain(seed: number, mix: 'balanced' | 'imbalanced', model: ModelName): Promise<Pretrained> {
    return this.once(this.pretrained, `${seed}:${mix}:${model}`, () => this.runPretrain(seed, mix, model));
  }

  private async runPretrain(seed: number, mix: 'balanced' | 'imbalanced', model: ModelName): Promise<Pretrained> {
    const { pretrainSteps: steps, pretrainLr: lr, snapshotEvery } = modelScale(this.preset, model);
    const plan = this.plan(
      seed,
      [{ name: 'pretrain', kind: 'pretrain', mixture: { ...this.mixtures[mix] }, steps, lr, schedule: { kind: 'constant' } }],
      `pretrain-${mix}`,
      model,
    );
    const snapshots: { step: number; checkpoint: Checkpoint }[] = [];
    await runPlan(this.rt, plan, () => {}, {
      logEvery: steps,
      checkpointEvery: snapshotEvery,
      onCheckpoint: (c) => {
        // Mid-phase snapshots come with (phase 0, step s); the end of the phase with (phase 1, step 0).
        const step = c.phase === 0 ? c.step : steps;
        this.ids.set(c, `${seed}:${mix}:${model}:${step}`);
        snapshots.push({ step, checkpoint: c });
      },
    });
    this.opts.onRun?.(`${this.setting.name}: pretrain ${mix} ${model} seed ${seed}`);
    const final = snapshots[snapshots.length - 1].checkpoint;
    return { mix, seed, model, final, snapshots };
  }

  /**
   * Where experiments 1 and 2 start for `seed`: the end of the balanced pretraining, or with the
   * preset's startError, the balanced snapshot (the end included) whose validation target error is
   * closest to it (the earliest of equally close ones; the validation split only, never the test
   * set); with the pretraining steps it had.
   */
  async postStart(seed: number, model: ModelName): Promise<{ from: Checkpoint; steps: number }> {
    const pre = await this.pretrain(seed, 'balanced', model);
    const goal = this.preset.startError;
    if (goal === undefined) return { from: pre.final, steps: modelScale(this.preset, model).pretrainSteps };
    const s = await this.nearestSnapshot(pre, 'target', goal);
    return { from: s.checkpoint, steps: s.step };
  }

  /**
   * The snapshot of balanced pretraining `pre` whose validation error `key` is closest to `goal`
   * (the earliest of equally close ones). The validation split only, never the test set.
   */
  async nearestSnapshot(pre: Pretrained, key: 'target' | 'tail', goal: number): Promise<Pretrained['snapshots'][number]> {
    let best: { snapshot: Pretrained['snapshots'][number]; gap: number } | undefined;
    for (const s of pre.snapshots) {
      const v = (await this.measure(pre.seed, s.checkpoint, pre.model, true)).validation;
      const gap = Math.abs(this.setting.metrics(v, this.mixtures.balanced, this.target)[key] - goal);
      if (!best || gap < best.gap) best = { snapshot: s, gap };
    }
    if (!best) throw new Error('Lab: the pretraining left no snapshot');
    return best.snapshot;
  }

  /** Held-out metrics of a checkpoint without training (cached: experiments share starting points). */
  measure(seed: number, from: Checkpoint, model: ModelName, validationOnly = false): Promise<Omit<PhaseResult, 'name'>> {
    return this.once(this.measured, `${this.idOf(from)}|${validationOnly}`, () =>
      evaluateParams(
        this.rt,
        this.plan(seed, [{ name: 'none', kind: 'sft', steps: 1, lr: 1 }], 'measure', model),
        from,
        validationOnly,
      ),
    );
  }

  /** A post-training run from `from` (cached: the same plan from the same checkpoint runs once). */
  post(seed: number, from: Checkpoint, phases: Phases, name: string, model: ModelName): Promise<PostResult> {
    const plan = this.plan(seed, phases, name, model);
    const id = this.idOf(from);
    const last = plan.phases[plan.phases.length - 1];
    const curves = this.setting.rl.curves === true && last.kind === 'rl';
    return this.once(this.runs, `${id}|${JSON.stringify(plan.phases)}`, async () => {
      // The last phase's logged RL steps, by step (a repeated step, after a rollback, replaces the first).
      const logged = new Map<number, { reward: number; length: number; excess: number }>();
      const results = await runPlan(
        this.rt,
        plan,
        (e) => {
          if (e.type === 'step' && e.phase === last.name && e.reward !== undefined && e.rollout)
            logged.set(e.step, { reward: e.reward, ...e.rollout });
        },
        {
          // Supervised losses are not read back per step; with curves, every RL step's samples are.
          logEvery: curves ? { pretrain: 1_000_000, sft: 1_000_000, rl: 1 } : 1_000_000,
          initFrom: from,
          // Runs from the same checkpoint score the same pools once (the scheduler's key names the rest).
          memoScores: (key, compute) => this.once(this.scores, `${id}|${key}`, compute),
        },
      );
      this.runsDone++;
      this.opts.onRun?.(`${this.setting.name}: ${name}`);
      const result: PostResult = results[results.length - 1];
      if (!curves) return result;
      const steps = [...logged.keys()].sort((a, b) => a - b);
      const series = (k: 'reward' | 'length' | 'excess') => steps.map((s) => logged.get(s)?.[k] ?? Number.NaN);
      return { ...result, curve: { step: steps, reward: series('reward'), length: series('length'), excess: series('excess') } };
    });
  }

  /** A row of `experiment`: the test and validation metrics of `result`, weighted for this lab's target. */
  private row(
    experiment: ExperimentName,
    seed: number,
    condition: Row['condition'],
    lr: number,
    result: Omit<PostResult, 'name'>,
    pretrainMix: Mixture,
  ): Row {
    return {
      experiment,
      setting: this.setting.name,
      seed,
      condition,
      lr,
      chosen: false,
      metrics: this.setting.metrics(result.metrics, pretrainMix, this.target),
      validation: this.setting.metrics(result.validation, pretrainMix, this.target),
      ...(result.curve ? { curve: result.curve } : {}),
    };
  }

  /** A row without training (a starting point): lr 0, always "chosen". */
  async startRow(
    experiment: ExperimentName,
    seed: number,
    from: Checkpoint,
    pretrainMix: Mixture,
    condition: Row['condition'],
    model: ModelName,
  ) {
    const r = await this.measure(seed, from, model);
    this.rows.push({ ...this.row(experiment, seed, condition, 0, r, pretrainMix), chosen: true });
  }

  /**
   * Run a condition over every seed and learning rate, record every run as a row, and mark the lr
   * whose mean validation target error over seeds is lowest as chosen.
   */
  async sweep(
    experiment: ExperimentName,
    condition: Row['condition'],
    lrs: number[],
    run: (seed: number, lr: number) => Promise<{ result: PostResult; pretrainMix: Mixture; extra?: Row['condition'] }>,
  ): Promise<void> {
    const added: Row[] = [];
    for (const lr of lrs)
      for (const seed of this.opts.seeds) {
        const { result, pretrainMix, extra } = await run(seed, lr);
        added.push(this.row(experiment, seed, { ...condition, ...extra }, lr, result, pretrainMix));
      }
    chooseLr(added);
    this.rows.push(...added);
  }
}

export interface Pretrained {
  mix: 'balanced' | 'imbalanced';
  seed: number;
  model: ModelName;
  final: Checkpoint;
  snapshots: { step: number; checkpoint: Checkpoint }[];
}

/** The model every experiment of the setting uses (experiment 3 may add others). */
const mainModel = (lab: Lab): ModelName => lab.setting.balanceModels[0];

/**
 * An SFT phase of the setting: m of a target pool chosen by `rule`, ranked by the pretrained model's
 * error, or with the preset's sftBy 'pass-rate' by its pass rate as the RL bands are (the same
 * samples per prompt and, in setting A, the RL policy's std).
 */
export const sftPhase = (lab: Lab, rule: string, m: number, steps: number, lr: number, pool = lab.preset.sftPool) => {
  const { samples, sigma } = lab.setting.rl;
  const byPass = lab.preset.sftBy === 'pass-rate';
  return {
    name: 'sft',
    kind: 'sft' as const,
    mixture: { ...lab.target },
    pool,
    select: { rule: rule as 'hardest' | 'random' | 'easiest', m, ...(byPass ? { by: 'pass-rate' as const, samples } : {}) },
    ...(byPass && sigma !== undefined ? { sigma } : {}),
    steps,
    lr,
  };
};

/** An RL phase of the setting: N prompts of a difficulty band, the preset's updates and RL batch. */
export const rlPhase = (
  lab: Lab,
  band: 'easy' | 'medium' | 'hard',
  N: number,
  lr: number,
  pool = 3 * Math.max(...lab.preset.rlSizes),
  steps = lab.preset.rlSteps,
) => {
  const { group, samples, reward, sigma } = lab.setting.rl;
  return {
    name: 'rl',
    kind: 'rl' as const,
    mixture: { ...lab.target },
    pool,
    select: { rule: 'band' as const, band, m: N, by: 'pass-rate' as const, samples },
    reward,
    group,
    ...(sigma === undefined ? {} : { sigma }),
    steps,
    ...(lab.preset.rlBatch === undefined ? {} : { batch: lab.preset.rlBatch }),
    lr,
  };
};

/**
 * The pretraining steps of experiments 1 and 2's start, for their rows' conditions, when the start
 * is chosen by its error (preset startError); without it the rows stay as they were (the end).
 */
const startSteps = (lab: Lab, s: { steps: number }): Record<string, number> =>
  lab.preset.startError === undefined ? {} : { pretrainSteps: s.steps };

/** Experiment 1: SFT size x selection rule, at a fixed budget and near convergence. */
export async function sftExperiment(lab: Lab): Promise<void> {
  const p = lab.preset;
  const model = mainModel(lab);
  const balanced = lab.mixtures.balanced;
  for (const seed of lab.opts.seeds) {
    const s = await lab.postStart(seed, model);
    await lab.startRow('sft', seed, s.from, balanced, { stage: 'pretrained', ...startSteps(lab, s) }, model);
  }
  for (const [regime, steps] of [
    ['budget', p.sftBudget],
    ['converge', p.sftConverge],
  ] as const)
    for (const rule of ['hardest', 'random', 'easiest'])
      for (const m of p.sftSizes.filter((m) => m <= p.sftPool))
        await lab.sweep('sft', { regime, rule, m }, p.sftLrs, async (seed, lr) => {
          const s = await lab.postStart(seed, model);
          return {
            result: await lab.post(
              seed,
              s.from,
              [sftPhase(lab, rule, m, steps, lr)],
              `sft ${regime} ${rule} m=${m} lr=${lr} seed ${seed}`,
              model,
            ),
            pretrainMix: balanced,
            extra: startSteps(lab, s),
          };
        });
}

/** Experiment 2: RL data size x difficulty band (by the pretrained pass rate), a fixed number of updates. */
export async function rlExperiment(lab: Lab): Promise<void> {
  const p = lab.preset;
  const model = mainModel(lab);
  const balanced = lab.mixtures.balanced;
  for (const seed of lab.opts.seeds) {
    const s = await lab.postStart(seed, model);
    await lab.startRow('rl', seed, s.from, balanced, { stage: 'pretrained', ...startSteps(lab, s) }, model);
  }
  for (const band of ['easy', 'medium', 'hard'] as const)
    for (const N of p.rlSizes)
      await lab.sweep('rl', { band, N }, p.rlLrs, async (seed, lr) => {
        const s = await lab.postStart(seed, model);
        return {
          result: await lab.post(seed, s.from, [rlPhase(lab, band, N, lr)], `rl ${band} N=${N} lr=${lr} seed ${seed}`, model),
          pretrainMix: balanced,
          extra: startSteps(lab, s),
        };
      });
}

/** The recipe's post-training: SFT on a small hard set, then RL on the largest medium set. */
/** Post-training's SFT steps and RL updates times `factor` (experiment 3's budgets), at least 1 each. */
const budgeted = (steps: number, factor: number) => Math.max(1, Math.round(steps * factor));

function postPhases(
  lab: Lab,
  lr: number,
  over: { sftRule?: string; sftM?: number; band?: 'easy' | 'medium' | 'hard'; N?: number },
  model: ModelName,
  budget = 1,
) {
  const p = lab.preset;
  // The ICL transformer's arm draws from smaller pools (its forward passes cost 30x the LSA's).
  const scale = modelScale(p, model);
  const N = over.N ?? scale.rlN;
  return [
    sftPhase(lab, over.sftRule ?? RECIPE.sftRule, over.sftM ?? RECIPE.sftM, budgeted(p.sftBudget, budget), lr, scale.sftPool),
    rlPhase(lab, over.band ?? 'medium', N, lr, 3 * N, budgeted(p.rlSteps, budget)),
  ];
}

/**
 * Experiment 3: balanced vs imbalanced pretraining, then the same post-training, for each of the
 * setting's models; the balanced model also at a matched start (the snapshot whose validation target
 * error, or tail error, is closest to the imbalanced model's).
 */
export async function balanceExperiment(lab: Lab): Promise<void> {
  const { imbalanced } = lab.mixtures;
  // With a tail-only target the target error is the tail error: one match, not two equal ones.
  const tailOnly = Object.keys(lab.target).length === 1;
  const conditions = [
    ['balanced', 'unmatched'],
    ['balanced', 'matched-target'],
    ...(tailOnly ? [] : [['balanced', 'matched-tail'] as const]),
    ['imbalanced', 'unmatched'],
  ] as const;
  for (const model of lab.setting.balanceModels) {
    const scale = modelScale(lab.preset, model);
    /** Per seed: the starting checkpoint of each condition, and the pretraining steps it had. */
    const starts = new Map<string, { from: Checkpoint; steps: number; mix: 'balanced' | 'imbalanced' }>();
    for (const seed of lab.opts.seeds) {
      const bal = await lab.pretrain(seed, 'balanced', model);
      const imb = await lab.pretrain(seed, 'imbalanced', model);
      // Matching looks at the validation split only (never at the test set).
      const refM = lab.setting.metrics((await lab.measure(seed, imb.final, model, true)).validation, imbalanced, lab.target);
      const t = await lab.nearestSnapshot(bal, 'target', refM.target);
      const r = await lab.nearestSnapshot(bal, 'tail', refM.tail);
      const steps = scale.pretrainSteps;
      starts.set(`${seed}:balanced:unmatched`, { from: bal.final, steps, mix: 'balanced' });
      starts.set(`${seed}:balanced:matched-target`, { from: t.checkpoint, steps: t.step, mix: 'balanced' });
      starts.set(`${seed}:balanced:matched-tail`, { from: r.checkpoint, steps: r.step, mix: 'balanced' });
      starts.set(`${seed}:imbalanced:unmatched`, { from: imb.final, steps, mix: 'imbalanced' });
    }
    const start = (seed: number, pretrain: string, match: string) => {
      const s = starts.get(`${seed}:${pretrain}:${match}`);
      if (!s) throw new Error(`no start for ${seed}:${pretrain}:${match}`);
      return s;
    };
    /**
     * One compared arm: its start (the pretraining `from` match) measured per seed as match `match`,
     * then post-training `phases(lr)` from it over the lr grid; runs named by `label`.
     */
    const arm = async (
      pretrain: 'balanced' | 'imbalanced',
      match: string,
      from: string,
      label: string,
      phases: (lr: number) => ReturnType<typeof postPhases>,
    ) => {
      for (const seed of lab.opts.seeds) {
        const s = start(seed, pretrain, from);
        const cond = { model, pretrain, match, stage: 'start', pretrainSteps: s.steps };
        await lab.startRow('balance', seed, s.from, lab.mixtures[s.mix], cond, model);
      }
      await lab.sweep('balance', { model, pretrain, match, stage: 'post' }, scale.postLrs, async (seed, lr) => {
        const s = start(seed, pretrain, from);
        const name = `balance ${model} ${pretrain} ${label} lr=${lr} seed ${seed}`;
        return {
          result: await lab.post(seed, s.from, phases(lr), name, model),
          pretrainMix: lab.mixtures[s.mix],
          extra: { pretrainSteps: s.steps },
        };
      });
    };
    for (const [pretrain, match] of conditions) {
      await arm(pretrain, match, match, match, (lr) => postPhases(lab, lr, {}, model));
    }
    // The output-only probe: post-training's SFT from each full pretraining, training the output
    // layer alone. Rows: match 'probe' (its start is the unmatched start, measured again under it).
    for (const pretrain of ['balanced', 'imbalanced'] as const) {
      await arm(pretrain, 'probe', 'unmatched', 'probe', (lr) => [
        { ...sftPhase(lab, RECIPE.sftRule, RECIPE.sftM, lab.preset.sftBudget, lr, scale.sftPool), train: OUTPUT_PARAMS[model] },
      ]);
    }
    // Short and long post-training budgets (science notes): the same post-training from each full
    // pretraining with its SFT steps and RL updates scaled. Rows: match 'short' / 'long'.
    for (const [match, factor] of Object.entries(lab.preset.postBudgets ?? {})) {
      for (const pretrain of ['balanced', 'imbalanced'] as const) {
        await arm(pretrain, match, 'unmatched', `${match} budget`, (lr) => postPhases(lab, lr, {}, model, factor));
      }
    }
  }
}

/** Experiment 4: the recipe against large random SFT, small RL, too-hard RL and imbalanced pretraining. */
export async function recipeExperiment(lab: Lab): Promise<void> {
  const p = lab.preset;
  const model = mainModel(lab);
  const variants: Record<
    (typeof RECIPE_VARIANTS)[number],
    { mix: 'balanced' | 'imbalanced'; over: Parameters<typeof postPhases>[2] }
  > = {
    recipe: { mix: 'balanced', over: {} },
    'large-random-sft': { mix: 'balanced', over: { sftRule: 'random', sftM: p.sftPool } },
    'small-rl': { mix: 'balanced', over: { N: Math.min(...p.rlSizes) } },
    'too-hard-rl': { mix: 'balanced', over: { band: 'hard' } },
    'imbalanced-pretrain': { mix: 'imbalanced', over: {} },
  };
  for (const seed of lab.opts.seeds) {
    const pre = await lab.pretrain(seed, 'balanced', model);
    await lab.startRow('recipe', seed, pre.final, lab.mixtures.balanced, { stage: 'pretrained' }, model);
  }
  for (const variant of RECIPE_VARIANTS) {
    const v = variants[variant];
    await lab.sweep('recipe', { variant }, p.postLrs, async (seed, lr) => ({
      result: await lab.post(
        seed,
        (await lab.pretrain(seed, v.mix, model)).final,
        postPhases(lab, lr, v.over, model),
        `recipe ${variant} lr=${lr} seed ${seed}`,
        model,
      ),
      pretrainMix: lab.mixtures[v.mix],
    }));
  }
}

export const EXPERIMENT_RUNNERS: Record<ExperimentName, (lab: Lab) => Promise<void>> = {
  sft: sftExperiment,
  rl: rlExperiment,
  balance: balanceExperiment,
  recipe: recipeExperiment,
};
