/**
 * The scheduler: one loop runs every phase of a plan on one model and one device; the phases differ
 * only in their data source (a fresh stream, or a set curated from a candidate pool by the current
 * model) and their objective (the regression loss for pretraining and SFT, a policy gradient with an
 * outcome-only reward for RL). It emits events (run, phase, selection, step, eval, phase end) that
 * the command line and the demo page consume; it contains no UI code and runs the same in Node and
 * in the browser.
 *
 * Within a step nothing is read back: the step is one submission (forward, backward, AdamW). The loss
 * is read every `logEvery` steps; held-out predictions at each evaluation.
 */
import type { AdapterReport } from '../device/index.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { scale } from '../kernels/elementwise.ts';
import { AdvantageMode, advantages } from '../kernels/policy.ts';
import { sum } from '../kernels/reduce.ts';
import { mse_loss } from '../kernels/regression.ts';
import { gaussian_reinforce_backward, gaussian_sample } from '../kernels/sampling.ts';
import { LsaModel } from '../models/lsa.ts';
import {
  balancedDomains,
  exampleErrors,
  headTailDomains,
  makeEvalSet,
  makePool,
  poolBatch,
  type RegressionBatch,
  type RegressionMetrics,
  type RegressionPool,
  type RegressionTaskConfig,
  regressionMetrics,
  StreamRng,
  sampleBatch,
} from '../tasks/regression.ts';
import { type Checkpoint, CheckpointError } from './checkpoint.ts';
import { FiniteMonitor, NonFiniteError } from './monitor.ts';
import { AdamW } from './optimizer.ts';
import { type Phase, type Plan, parsePlan } from './plan.ts';

export type RunEvent =
  | { type: 'run-start'; plan: Plan; adapter: AdapterReport; resumed?: { phase: number; step: number } }
  | { type: 'phase-start'; phase: string; index: number; kind: Phase['kind']; steps: number }
  | { type: 'selection'; phase: string; rule: string; pool: number; ids: number[]; scores: number[] }
  | { type: 'step'; phase: string; step: number; lr: number; loss?: number; reward?: number }
  | { type: 'eval'; phase: string; step: number; metrics: RegressionMetrics }
  | { type: 'phase-end'; phase: string; index: number; metrics: RegressionMetrics }
  | { type: 'checkpoint'; phase: number; step: number; globalStep: number }
  | { type: 'run-end'; phases: { name: string; metrics: RegressionMetrics }[] };

export interface RunOptions {
  /** Read the loss (or mean reward) back every this many steps (default 10). */
  logEvery?: number;
  /** Save a checkpoint every this many steps within a phase, and at the end of every phase. */
  checkpointEvery?: number;
  /** Where checkpoints go (a file in Node, browser storage in the page); awaited before training goes on. */
  onCheckpoint?: (c: Checkpoint) => Promise<void> | void;
  /** Continue from this checkpoint (made with the same plan). */
  resume?: Checkpoint;
  /**
   * Start from these parameters instead of the plan's initialisation: a checkpoint of another run
   * with the same model shape (one pretrained model serving many post-training variants).
   */
  initFrom?: Checkpoint;
}

/** The task configuration a plan describes. */
export function taskConfig(plan: Plan): RegressionTaskConfig {
  const { d, n, noise, domains, head, rest } = plan.task;
  return { d, n, noise, domains: domains === 'balanced' ? balancedDomains(d) : headTailDomains(d, head, rest) };
}

/** The learning rate at `step` (0-based) of `steps`: linear warm-up, then constant or cosine to floor. */
export function learningRate(phase: Phase, step: number): number {
  const { kind, warmup, floor } = phase.schedule;
  if (warmup > 0 && step < warmup) return (phase.lr * (step + 1)) / warmup;
  if (kind === 'constant') return phase.lr;
  const span = Math.max(1, phase.steps - warmup);
  const t = Math.min(1, (step - warmup) / span);
  return phase.lr * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** Run a plan (validated first) to the end; resolves with the held-out metrics after each phase. */
export async function runPlan(
  rt: Runtime,
  planInput: unknown,
  onEvent: (e: RunEvent) => void = () => {},
  opts: RunOptions = {},
): Promise<{ name: string; metrics: RegressionMetrics }[]> {
  const plan = parsePlan(planInput);
  const logEvery = opts.logEvery ?? 10;
  const cfg = taskConfig(plan);
  const B = plan.batch;
  const { d, n } = cfg;
  const model = new LsaModel(rt, {
    form: plan.model.kind === 'lsa-merged' ? 'merged' : 'factorised',
    d,
    n,
    batch: B,
    k: plan.model.k,
    initStd: plan.model.initStd,
    seed: plan.seed,
  });
  // RL work tensors (allocated once).
  const rl = {
    sample: rt.empty([B, d], 'f32', 'rl.sample'),
    xi: rt.empty([B, d], 'f32', 'rl.xi'),
    errs: rt.empty([B], 'f32', 'rl.errs'),
    derr: rt.empty([B, d], 'f32', 'rl.derr'),
    rewards: rt.empty([B], 'f32', 'rl.rewards'),
    adv: rt.empty([B], 'f32', 'rl.adv'),
    flat: rt.empty([B], 'f32', 'rl.flat'),
    dmean: rt.empty([B, d], 'f32', 'rl.dmean'),
    meanReward: rt.empty([1], 'f32', 'rl.mean_reward'),
  };
  // NaN/Inf in the gradients is counted on the GPU every step and checked with each loss readback.
  const monitor = new FiniteMonitor(rt, model.params, model.grads, logEvery);
  const evalSet = makeEvalSet(plan.seed, cfg, plan.eval.mixture, plan.eval.size);
  const resume = opts.resume;
  const paramShapes = Object.entries(model.params.views).map(([name, t]) => ({ name, shape: [...t.shape] }));
  const layout = (shapes: { name: string; shape: number[] }[]) => shapes.map((p) => `${p.name}[${p.shape.join(',')}]`).join(' ');
  const results: { name: string; metrics: RegressionMetrics }[] = resume ? [...resume.results] : [];
  onEvent({
    type: 'run-start',
    plan,
    adapter: rt.report,
    ...(resume ? { resumed: { phase: resume.phase, step: resume.step } } : {}),
  });
  let globalStep = resume?.globalStep ?? 0;
  try {
    startingParameters();
    for (const [index, phase] of plan.phases.entries()) {
      if (resume && index < resume.phase) continue;
      const resuming = resume !== undefined && index === resume.phase && resume.step > 0 ? resume : undefined;
      onEvent({ type: 'phase-start', phase: phase.name, index, kind: phase.kind, steps: phase.steps });
      const rng = new StreamRng(`phase:${index}:${phase.name}`, plan.seed);
      const source = await dataSource(phase, index, resuming?.selection);
      const opt = new AdamW(rt, model.params, model.grads, {
        lr: phase.lr,
        weightDecay: phase.weightDecay,
        maxNorm: phase.maxNorm,
      });
      if (resuming) {
        rng.setState(resuming.rng);
        rt.write(opt.m, resuming.m);
        rt.write(opt.v, resuming.v);
        opt.step = resuming.optStep;
      }
      for (let step = resuming?.step ?? 0; step < phase.steps; step++) {
        const lr = learningRate(phase, step);
        if (phase.kind === 'rl') {
          const P = B / phase.group;
          const prompts = source.draw(rng, P);
          const batch = repeatEach(prompts, phase.group, cfg);
          model.setBatch(batch.X, batch.y, batch.w);
          const seed = plan.seed;
          const gstep = globalStep;
          rt.batch(`${phase.name} step ${step}`, () => {
            model.forward();
            gaussian_sample(rt, rl.sample, rl.xi, model.pred, undefined, { seed, step: gstep, sigma: phase.sigma });
            // The reward sees only the outcome: minus the squared error of the sampled answer.
            mse_loss(rt, rl.errs, rl.derr, rl.sample, model.w);
            scale(rt, rl.rewards, rl.errs, -1);
            advantages(
              rt,
              rt.view(rl.adv, 0, [P, phase.group]),
              rt.view(rl.flat, 0, [P]),
              rt.view(rl.rewards, 0, [P, phase.group]),
              undefined,
              {
                mode: AdvantageMode.GRPO,
              },
            );
            gaussian_reinforce_backward(rt, rl.dmean, undefined, model.pred, rl.sample, rl.adv, undefined, {
              sigma: phase.sigma,
            });
            sum(rt, rl.meanReward, rl.rewards, { scale: 1 / B });
            model.backward(rl.dmean);
            monitor.record(gstep);
            opt.update(lr);
          });
        } else {
          const batch = source.draw(rng, B);
          model.setBatch(batch.X, batch.y, batch.w);
          const gstep = globalStep;
          rt.batch(`${phase.name} step ${step}`, () => {
            model.forwardBackward();
            monitor.record(gstep);
            opt.update(lr);
          });
        }
        globalStep++;
        const last = step === phase.steps - 1;
        if ((step + 1) % logEvery === 0 || last) {
          const value = (await rt.readF32(phase.kind === 'rl' ? rl.meanReward : model.loss))[0];
          try {
            await monitor.check(value);
          } catch (e) {
            if (!(e instanceof NonFiniteError)) throw e;
            // The monitor counts global steps; report the step within this phase (1-based).
            const at = e.step >= 0 ? e.step - (globalStep - step - 1) + 1 : step + 1;
            throw new NonFiniteError(e.step, e.tensors, `phase ${phase.name}, step ${at}: ${e.message}`);
          }
          onEvent({
            type: 'step',
            phase: phase.name,
            step: step + 1,
            lr,
            ...(phase.kind === 'rl' ? { reward: value } : { loss: value }),
          });
        }
        if ((step + 1) % plan.eval.every === 0 && !last) {
          onEvent({ type: 'eval', phase: phase.name, step: step + 1, metrics: await evaluate(evalSet) });
        }
        if (opts.checkpointEvery && (step + 1) % opts.checkpointEvery === 0 && !last) {
          await checkpoint({
            phase: index,
            step: step + 1,
            m: await rt.readF32(opt.m),
            v: await rt.readF32(opt.v),
            optStep: opt.step,
            rng: rng.getState(),
            selection: source.selection,
          });
        }
      }
      opt.destroy();
      const metrics = await evaluate(evalSet);
      onEvent({ type: 'eval', phase: phase.name, step: phase.steps, metrics });
      onEvent({ type: 'phase-end', phase: phase.name, index, metrics });
      results.push({ name: phase.name, metrics });
      if (opts.checkpointEvery) {
        const none = new Float32Array(0);
        await checkpoint({ phase: index + 1, step: 0, m: none, v: none, optStep: 0, rng: { counter: 0, pos: 4 } });
      }
    }
  } finally {
    monitor.destroy();
    model.destroy();
    for (const t of Object.values(rl) as Tensor[]) t.destroy();
  }
  onEvent({ type: 'run-end', phases: results });
  return results;

  /** Load the starting parameters from --init-from or the resumed checkpoint, after checking they fit. */
  function startingParameters(): void {
    if (opts.initFrom && !resume) {
      if (layout(opts.initFrom.paramShapes) !== layout(paramShapes)) {
        throw new CheckpointError(
          `the starting checkpoint is from another model shape: it holds ${layout(opts.initFrom.paramShapes)}, this plan's model has ${layout(paramShapes)}`,
        );
      }
      rt.write(model.params.all, opts.initFrom.params);
    }
    if (resume) {
      if (JSON.stringify(resume.plan) !== JSON.stringify(plan)) {
        throw new CheckpointError(
          'the checkpoint was made for another plan; resume with the plan it was made with (it is stored in it)',
        );
      }
      if (layout(resume.paramShapes) !== layout(paramShapes) || resume.params.length !== model.params.all.size) {
        throw new CheckpointError(
          `the checkpoint is from another model shape: it holds ${layout(resume.paramShapes)}, this plan's model has ${layout(paramShapes)}`,
        );
      }
      rt.write(model.params.all, resume.params);
    }
  }

  /** Save a checkpoint of the run as it stands (the parameters are read back here). */
  async function checkpoint(at: Omit<Checkpoint, 'plan' | 'globalStep' | 'paramShapes' | 'params' | 'results'>): Promise<void> {
    const c: Checkpoint = {
      plan,
      globalStep,
      paramShapes,
      params: await rt.readF32(model.params.all),
      results: [...results],
      ...at,
    };
    await opts.onCheckpoint?.(c);
    onEvent({ type: 'checkpoint', phase: at.phase, step: at.step, globalStep });
  }

  /** The model's predictions for every example of `set`, in chunks of B (the last one padded). */
  async function predict(set: RegressionPool): Promise<Float32Array> {
    const count = set.w.length / d;
    const out = new Float32Array(count * d);
    for (let start = 0; start < count; start += B) {
      const ids = Array.from({ length: B }, (_, i) => Math.min(start + i, count - 1));
      const chunk = poolBatch(set, ids);
      model.setBatch(chunk.X, chunk.y, chunk.w);
      model.forward();
      const pred = await rt.readF32(model.pred);
      out.set(pred.subarray(0, Math.min(B, count - start) * d), start * d);
    }
    return out;
  }

  async function evaluate(set: RegressionPool): Promise<RegressionMetrics> {
    return regressionMetrics(await predict(set), set, cfg);
  }

  /** Where a phase's data comes from: a fresh stream, or a set curated from a candidate pool. */
  /**
   * Where a phase's data comes from: a fresh stream, or a set curated from a candidate pool by the
   * current model (or, on resume, the selection the checkpoint kept).
   */
  async function dataSource(
    phase: Phase,
    index: number,
    kept?: number[],
  ): Promise<{ draw: (rng: StreamRng, count: number) => RegressionBatch; selection?: number[] }> {
    if (phase.pool === undefined || phase.select === undefined) {
      return { draw: (rng, count) => sampleBatch(rng, cfg, phase.mixture, count) };
    }
    const pool = makePool(plan.seed * 1000 + index + 1, cfg, phase.mixture, phase.pool);
    let ids = kept;
    if (!ids) {
      const scores = exampleErrors(await predict(pool), pool);
      const chosen = selectIds(scores, phase.select, new StreamRng(`select:${index}`, plan.seed));
      onEvent({
        type: 'selection',
        phase: phase.name,
        rule: phase.select.rule,
        pool: phase.pool,
        ids: chosen,
        scores: chosen.map((i) => scores[i]),
      });
      ids = chosen;
    }
    const selected = ids;
    return {
      draw: (rng, count) =>
        poolBatch(
          pool,
          Array.from({ length: count }, () => selected[rng.int(selected.length)]),
        ),
      selection: selected,
    };
  }
}

/**
 * Curation: pick m ids of a pool by their difficulty scores (higher = harder): the hardest, the
 * easiest, a random m, or a random m among those whose score lies in the [lo, hi) quantile band.
 */
export function selectIds(
  scores: ArrayLike<number>,
  select: { rule: NonNullable<Phase['select']>['rule']; m: number; band?: [number, number] },
  rng: StreamRng,
): number[] {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b);
  const { rule, m } = select;
  if (rule === 'hardest') return order.slice(order.length - m).reverse();
  if (rule === 'easiest') return order.slice(0, m);
  const candidates =
    rule === 'band' && select.band
      ? order.slice(Math.floor(select.band[0] * order.length), Math.ceil(select.band[1] * order.length))
      : order;
  // A seeded partial Fisher-Yates shuffle: m distinct ids (all of them when the band is smaller).
  const pick = [...candidates];
  const k = Math.min(m, pick.length);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(pick.length - i);
    [pick[i], pick[j]] = [pick[j], pick[i]];
  }
  return pick.slice(0, k);
}

/** A batch holding each prompt of `prompts` `group` times in a row (the RL groups). */
function repeatEach(prompts: RegressionBatch, group: number, cfg: RegressionTaskConfig): RegressionBatch {
  const P = prompts.w.length / cfg.d;
  const ids = Array.from({ length: P * group }, (_, i) => Math.floor(i / group));
  const asPool: RegressionPool = { ...prompts, kind: 'pool', seed: 0, size: P, cfg, mixture: {} };
  return poolBatch(asPool, ids);
}
