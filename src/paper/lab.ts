/**
 * The paper experiments in setting A (in-context weight prediction), run through the scheduler: each
 * run is a plan (pretraining, or post-training started from a pretrained checkpoint with
 * `initFrom`), so the experiments use exactly the kernels, optimizer and curation of every other run.
 * Learning rates are swept per condition and chosen on the validation split.
 */
import type { Runtime } from '../gpu/runtime.ts';
import type { RegressionMetrics } from '../tasks/regression.ts';
import type { Checkpoint } from '../train/checkpoint.ts';
import type { PlanInput } from '../train/plan.ts';
import { evaluateParams, type PhaseResult, runPlan } from '../train/scheduler.ts';
import { basePlan, type ExperimentName, MIXTURES, type ModelName, type Preset, RECIPE, RL } from './protocol.ts';
import { mean, RECIPE_VARIANTS, type Row } from './verdicts.ts';

type Mixture = Readonly<Record<string, number>>;
type Phases = PlanInput['phases'];

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

export interface LabOptions {
  preset: Preset;
  /** The post-training target mixture (TARGETS in protocol.ts). */
  target: Mixture;
  seeds: number[];
  /** Called after every run, with a short description. */
  onRun?: (what: string) => void;
}

/** One runtime, a cache of pretrained checkpoints and of finished runs, and the rows measured. */
export class RegressionLab {
  readonly rows: Row[] = [];
  private readonly pretrained = new Map<string, Promise<Pretrained>>();
  private readonly runs = new Map<string, Promise<PhaseResult>>();
  private readonly measured = new Map<string, Promise<Omit<PhaseResult, 'name'>>>();
  private readonly ids = new WeakMap<Checkpoint, string>();
  runsDone = 0;

  constructor(
    readonly rt: Runtime,
    readonly opts: LabOptions,
  ) {}

  get preset(): Preset {
    return this.opts.preset;
  }

  get target(): Mixture {
    return this.opts.target;
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
    if (id === undefined) throw new Error("RegressionLab: this checkpoint was not made by the lab's pretraining");
    return id;
  }

  /** Pretraining on `mix` (constant lr), with snapshots every `preset.snapshotEvery` steps; cached. */
  pretrain(seed: number, mix: 'balanced' | 'imbalanced', model: ModelName = 'lsa'): Promise<Pretrained> {
    return this.once(this.pretrained, `${seed}:${mix}:${model}`, () => this.runPretrain(seed, mix, model));
  }

  private async runPretrain(seed: number, mix: 'balanced' | 'imbalanced', model: ModelName): Promise<Pretrained> {
    const icl = model === 'icl';
    const steps = icl ? this.preset.iclPretrainSteps : this.preset.pretrainSteps;
    const lr = icl ? this.preset.iclPretrainLr : this.preset.pretrainLr;
    const snapshotEvery = icl ? Math.ceil(steps / 10) : this.preset.snapshotEvery;
    const plan = basePlan(
      seed,
      this.preset,
      [{ name: 'pretrain', kind: 'pretrain', mixture: { ...MIXTURES[mix] }, steps, lr, schedule: { kind: 'constant' } }],
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
    this.opts.onRun?.(`pretrain ${mix} ${model} seed ${seed}`);
    const final = snapshots[snapshots.length - 1].checkpoint;
    return { mix, seed, model, final, snapshots };
  }

  /** Held-out metrics of a checkpoint without training (cached: experiments share starting points). */
  measure(seed: number, from: Checkpoint, model: ModelName = 'lsa', validationOnly = false): Promise<Omit<PhaseResult, 'name'>> {
    return this.once(this.measured, `${this.idOf(from)}|${validationOnly}`, () =>
      evaluateParams(
        this.rt,
        basePlan(seed, this.preset, [{ name: 'none', kind: 'sft', steps: 1, lr: 1 }], 'measure', model),
        from,
        validationOnly,
      ),
    );
  }

  /** A post-training run from `from` (cached: the same plan from the same checkpoint runs once). */
  post(seed: number, from: Checkpoint, phases: Phases, name: string, model: ModelName = 'lsa'): Promise<PhaseResult> {
    const plan = basePlan(seed, this.preset, phases, name, model);
    return this.once(this.runs, `${this.idOf(from)}|${JSON.stringify(plan.phases)}`, async () => {
      const results = await runPlan(this.rt, plan, () => {}, { logEvery: 1_000_000, initFrom: from });
      this.runsDone++;
      this.opts.onRun?.(name);
      return results[results.length - 1];
    });
  }

  /** A row of `experiment`: the test and validation metrics of `result`, weighted for this lab's target. */
  private row(
    experiment: ExperimentName,
    seed: number,
    condition: Row['condition'],
    lr: number,
    result: Omit<PhaseResult, 'name'>,
    pretrainMix: Mixture,
  ): Row {
    return {
      experiment,
      setting: 'regression',
      seed,
      condition,
      lr,
      chosen: false,
      metrics: metricsOf(result.metrics as RegressionMetrics, pretrainMix, this.target),
      validation: metricsOf(result.validation as RegressionMetrics, pretrainMix, this.target),
    };
  }

  /** A row without training (a starting point): lr 0, always "chosen". */
  async startRow(
    experiment: ExperimentName,
    seed: number,
    from: Checkpoint,
    pretrainMix: Mixture,
    condition: Row['condition'],
    model: ModelName = 'lsa',
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
    run: (seed: number, lr: number) => Promise<{ result: PhaseResult; pretrainMix: Mixture; extra?: Row['condition'] }>,
  ): Promise<void> {
    const added: Row[] = [];
    for (const lr of lrs)
      for (const seed of this.opts.seeds) {
        const { result, pretrainMix, extra } = await run(seed, lr);
        added.push(this.row(experiment, seed, { ...condition, ...extra }, lr, result, pretrainMix));
      }
    const score = (lr: number) => mean(added.filter((r) => r.lr === lr).map((r) => r.validation.target));
    const best = lrs.reduce((a, b) => (score(b) < score(a) ? b : a));
    for (const r of added) r.chosen = r.lr === best;
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

const sftPhase = (lab: RegressionLab, rule: string, m: number, steps: number, lr: number, pool = lab.preset.sftPool) => ({
  name: 'sft',
  kind: 'sft' as const,
  mixture: { ...lab.target },
  pool,
  select: { rule: rule as 'hardest' | 'random' | 'easiest', m },
  steps,
  lr,
});

const rlPhase = (
  lab: RegressionLab,
  band: 'easy' | 'medium' | 'hard',
  N: number,
  lr: number,
  pool = 3 * Math.max(...lab.preset.rlSizes),
) => ({
  name: 'rl',
  kind: 'rl' as const,
  mixture: { ...lab.target },
  pool,
  select: { rule: 'band' as const, band, m: N, by: 'pass-rate' as const, samples: RL.samples },
  reward: RL.reward,
  group: RL.group,
  sigma: RL.sigma,
  steps: lab.preset.rlSteps,
  lr,
});

/** Experiment 1: SFT size x selection rule, at a fixed budget and near convergence. */
export async function sftExperiment(lab: RegressionLab): Promise<void> {
  const p = lab.preset;
  for (const seed of lab.opts.seeds) {
    const pre = await lab.pretrain(seed, 'balanced');
    await lab.startRow('sft', seed, pre.final, MIXTURES.balanced, { stage: 'pretrained' });
  }
  for (const [regime, steps] of [
    ['budget', p.sftBudget],
    ['converge', p.sftConverge],
  ] as const)
    for (const rule of ['hardest', 'random', 'easiest'])
      for (const m of p.sftSizes.filter((m) => m <= p.sftPool))
        await lab.sweep('sft', { regime, rule, m }, p.sftLrs, async (seed, lr) => ({
          result: await lab.post(
            seed,
            (await lab.pretrain(seed, 'balanced')).final,
            [sftPhase(lab, rule, m, steps, lr)],
            `sft ${regime} ${rule} m=${m} lr=${lr} seed ${seed}`,
          ),
          pretrainMix: MIXTURES.balanced,
        }));
}

/** Experiment 2: RL data size x difficulty band (by the pretrained pass rate), a fixed number of updates. */
export async function rlExperiment(lab: RegressionLab): Promise<void> {
  const p = lab.preset;
  for (const seed of lab.opts.seeds) {
    const pre = await lab.pretrain(seed, 'balanced');
    await lab.startRow('rl', seed, pre.final, MIXTURES.balanced, { stage: 'pretrained' });
  }
  for (const band of ['easy', 'medium', 'hard'] as const)
    for (const N of p.rlSizes)
      await lab.sweep('rl', { band, N }, p.rlLrs, async (seed, lr) => ({
        result: await lab.post(
          seed,
          (await lab.pretrain(seed, 'balanced')).final,
          [rlPhase(lab, band, N, lr)],
          `rl ${band} N=${N} lr=${lr} seed ${seed}`,
        ),
        pretrainMix: MIXTURES.balanced,
      }));
}

/** The recipe's post-training: SFT on a small hard set, then RL on the largest medium set. */
function postPhases(
  lab: RegressionLab,
  lr: number,
  over: { sftRule?: string; sftM?: number; band?: 'easy' | 'medium' | 'hard'; N?: number } = {},
  model: ModelName = 'lsa',
) {
  const p = lab.preset;
  // The transformer's arm draws from smaller pools (its forward passes cost 30x the LSA's).
  const sftPool = model === 'icl' ? p.iclSftPool : p.sftPool;
  const N = over.N ?? (model === 'icl' ? p.iclRlN : Math.max(...p.rlSizes));
  return [
    sftPhase(lab, over.sftRule ?? RECIPE.sftRule, over.sftM ?? RECIPE.sftM, p.sftBudget, lr, sftPool),
    rlPhase(lab, over.band ?? 'medium', N, lr, 3 * N),
  ];
}

/**
 * Experiment 3: balanced vs imbalanced pretraining, then the same post-training, for the factorised
 * LSA and the ICL transformer; the balanced model also at a matched start (the snapshot whose
 * validation target error, or tail error, is closest to the imbalanced model's).
 */
export async function balanceExperiment(lab: RegressionLab): Promise<void> {
  const p = lab.preset;
  // With a tail-only target the target error is the tail error: one match, not two equal ones.
  const tailOnly = Object.keys(lab.target).every((k) => k === 'tail');
  const conditions = [
    ['balanced', 'unmatched'],
    ['balanced', 'matched-target'],
    ...(tailOnly ? [] : [['balanced', 'matched-tail'] as const]),
    ['imbalanced', 'unmatched'],
  ] as const;
  for (const model of ['lsa', 'icl'] as const) {
    /** Per seed: the starting checkpoint of each condition, and the pretraining steps it had. */
    const starts = new Map<string, { from: Checkpoint; steps: number; mix: 'balanced' | 'imbalanced' }>();
    for (const seed of lab.opts.seeds) {
      const bal = await lab.pretrain(seed, 'balanced', model);
      const imb = await lab.pretrain(seed, 'imbalanced', model);
      // Matching looks at the validation split only (never at the test set).
      const ref = (await lab.measure(seed, imb.final, model, true)).validation as RegressionMetrics;
      const refM = metricsOf(ref, MIXTURES.imbalanced, lab.target);
      const snaps: { step: number; checkpoint: Checkpoint; v: Record<string, number> }[] = [];
      for (const s of bal.snapshots) {
        const v = (await lab.measure(seed, s.checkpoint, model, true)).validation as RegressionMetrics;
        snaps.push({ ...s, v: metricsOf(v, MIXTURES.balanced, lab.target) });
      }
      const closest = (key: 'target' | 'tail') =>
        snaps.reduce((a, b) => (Math.abs(b.v[key] - refM[key]) < Math.abs(a.v[key] - refM[key]) ? b : a));
      const t = closest('target');
      const r = closest('tail');
      const steps = model === 'icl' ? p.iclPretrainSteps : p.pretrainSteps;
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
    for (const [pretrain, match] of conditions) {
      for (const seed of lab.opts.seeds) {
        const s = start(seed, pretrain, match);
        const cond = { model, pretrain, match, stage: 'start', pretrainSteps: s.steps };
        await lab.startRow('balance', seed, s.from, MIXTURES[s.mix], cond, model);
      }
      const lrs = model === 'icl' ? p.iclPostLrs : p.postLrs;
      await lab.sweep('balance', { model, pretrain, match, stage: 'post' }, lrs, async (seed, lr) => {
        const s = start(seed, pretrain, match);
        const name = `balance ${model} ${pretrain} ${match} lr=${lr} seed ${seed}`;
        return {
          result: await lab.post(seed, s.from, postPhases(lab, lr, {}, model), name, model),
          pretrainMix: MIXTURES[s.mix],
          extra: { pretrainSteps: s.steps },
        };
      });
    }
  }
}

/** Experiment 4: the recipe against large random SFT, small RL, too-hard RL and imbalanced pretraining. */
export async function recipeExperiment(lab: RegressionLab): Promise<void> {
  const p = lab.preset;
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
    const pre = await lab.pretrain(seed, 'balanced');
    await lab.startRow('recipe', seed, pre.final, MIXTURES.balanced, { stage: 'pretrained' });
  }
  for (const variant of RECIPE_VARIANTS) {
    const v = variants[variant];
    await lab.sweep('recipe', { variant }, p.postLrs, async (seed, lr) => ({
      result: await lab.post(
        seed,
        (await lab.pretrain(seed, v.mix)).final,
        postPhases(lab, lr, v.over),
        `recipe ${variant} lr=${lr} seed ${seed}`,
      ),
      pretrainMix: MIXTURES[v.mix],
    }));
  }
}

export const REGRESSION_EXPERIMENTS: Record<ExperimentName, (lab: RegressionLab) => Promise<void>> = {
  sft: sftExperiment,
  rl: rlExperiment,
  balance: balanceExperiment,
  recipe: recipeExperiment,
};
