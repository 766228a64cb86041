/**
 * The scheduler: one loop runs every phase of a plan on one model and one device; the phases differ
 * only in their data source (a fresh stream, or a set curated from a candidate pool by the current
 * model) and their objective (supervised for pretraining and SFT, a policy gradient with a
 * verifiable, outcome-only reward for RL). The task suite (suite-regression.ts, suite-pointer.ts)
 * supplies the model, the data, the step and the evaluation; the loop owns the optimizer, the
 * schedule, the NaN monitor, checkpoints and the events (run, phase, selection, step, eval,
 * checkpoint) that the command line and the demo page consume. No UI code; the same in Node and in
 * the browser.
 *
 * Within a step nothing is read back (RL rollouts aside): the step is one submission. The loss or
 * reward is read every `logEvery` steps; held-out metrics at each evaluation.
 */
import type { AdapterReport } from '../device/index.ts';
import type { Runtime } from '../gpu/runtime.ts';
import type { Arena } from '../gpu/arena.ts';
import { copy } from '../kernels/elementwise.ts';
import { StreamRng } from '../tasks/regression.ts';
import { type Checkpoint, CheckpointError } from './checkpoint.ts';
import { FiniteMonitor, LastGood, NonFiniteError } from './monitor.ts';
import { AdamW } from './optimizer.ts';
import { type Phase, type Plan, PlanError, parsePlan } from './plan.ts';
import { pointerSuite } from './suite-pointer.ts';
import { regressionSuite } from './suite-regression.ts';
import type { RolloutStats, Suite, SuiteMetrics } from './suite.ts';

export { selectIds } from './select.ts';
export { taskConfig } from './suite-regression.ts';

export type RunEvent =
  | { type: 'run-start'; plan: Plan; adapter: AdapterReport; resumed?: { phase: number; step: number } }
  | { type: 'phase-start'; phase: string; index: number; kind: Phase['kind']; steps: number; batch: number }
  | { type: 'selection'; phase: string; rule: string; pool: number; ids: number[]; scores: number[] }
  /** `rollout`: what the RL step's sampled completions looked like (suites whose completions are token sequences). */
  | { type: 'step'; phase: string; step: number; lr: number; loss?: number; reward?: number; rollout?: RolloutStats }
  | { type: 'eval'; phase: string; step: number; metrics: SuiteMetrics }
  | { type: 'phase-end'; phase: string; index: number; metrics: SuiteMetrics; validation?: SuiteMetrics }
  | { type: 'checkpoint'; phase: number; step: number; globalStep: number }
  /**
   * NaN/Inf found at `step` (plan.onNonFinite 'rollback'): the phase went back to step `to` (the last
   * checked state) with its learning rate now `lrScale` times the schedule's. Step and eval events
   * of this phase after `to` that came before this event are superseded by the ones after it.
   */
  | {
      type: 'rollback';
      phase: string;
      index: number;
      step: number;
      to: number;
      tensors: string[];
      lrScale: number;
      rollbacks: number;
      message: string;
    }
  | { type: 'paused'; phase: string; index: number; step: number; saved: boolean }
  | { type: 'resumed'; phase: string; index: number; step: number }
  | { type: 'run-end'; phases: PhaseResult[] };

/** Held-out metrics after a phase: on the test set, and on the validation split when the plan has one. */
export interface PhaseResult {
  name: string;
  metrics: SuiteMetrics;
  validation?: SuiteMetrics;
}

export interface RunOptions {
  /**
   * Read the loss (or mean reward) back every this many steps (default 10); or per phase kind (a kind
   * left out: 10), e.g. `{ rl: 1, sft: 1000 }` for a reward curve without a loss readback per SFT step.
   */
  logEvery?: number | Partial<Record<Phase['kind'], number>>;
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
  /**
   * Pause and stop between steps (the demo page's buttons). At a pause or a stop the run first saves
   * a checkpoint of where it stands (when onCheckpoint is given), so a reload loses nothing.
   */
  control?: RunControl;
  /** Faults injected for tests of the recovery paths. */
  faults?: Faults;
  /**
   * Reuse of curation scores between runs: called with a key that names everything the scores of a
   * phase's pool depend on within this plan (seed, batch, the phases before it, the pool and how
   * difficulty is measured), and the function that computes them. A caller that knows the starting
   * parameters (e.g. one pretrained checkpoint shared by many post-training runs, `initFrom`) may
   * return scores it computed before under the same key and the same parameters; without it every
   * run scores its pools anew.
   */
  memoScores?: (key: string, compute: () => Promise<ArrayLike<number>>) => Promise<ArrayLike<number>>;
}

/** Faults to inject (tests of the recovery paths): each happens once per Faults object, even across runs. */
export interface Faults {
  /** Before global step `nanAt` (0-based), write NaN into the first parameter (its gradients follow). */
  nanAt?: number;
  /** Before global step `overflowAt`, write 3e38 (finite) into the first parameter: the step overflows. */
  overflowAt?: number;
  /** After global step `nanAfter`, write NaN into the last parameter: its gradients were finite. */
  nanAfter?: number;
  /** Before global step `loseDeviceAt`, destroy the GPU device (as a driver reset or a lost tab would). */
  loseDeviceAt?: number;
}

/**
 * What the curation scores of phase `index`'s pool depend on, given the run's starting parameters:
 * the task, model and held-out sets too (a pool excludes the held-out items), so that a cache shared
 * between different plans cannot hand one plan another's scores.
 */
function scoreKey(plan: Plan, index: number, batch: number): string {
  const { pool, mixture, hops, select, sigma } = plan.phases[index];
  const measure = select ? { by: select.by, samples: select.samples } : undefined;
  return JSON.stringify({
    task: plan.task,
    model: plan.model,
    eval: plan.eval,
    seed: plan.seed,
    batch,
    before: plan.phases.slice(0, index),
    index,
    pool,
    mixture,
    hops,
    measure,
    sigma,
  });
}

/** The global steps at which each Faults object's faults have happened. */
const fired = new WeakMap<Faults, Set<number>>();

/** Write `value` into the first element of the parameter arena (its first tensor), or into all of its last tensor. */
function poison(rt: Runtime, params: Arena, value: number, last = false): void {
  const views = Object.values(params.views);
  if (last) {
    const t = views[views.length - 1];
    rt.write(t, new Float32Array(t.size).fill(value));
  } else rt.write(rt.view(views[0], 0, [1], 'fault'), [value]);
}

/** Asked before every step whether to go on; the demo's controller implements it. */
export interface RunControl {
  /** What to do before the next step. */
  request(): 'go' | 'pause' | 'stop';
  /** While paused: resolves with 'go' when resumed, or 'stop'. */
  paused(): Promise<'go' | 'stop'>;
}

/** A run stopped on request (RunControl), after saving a checkpoint of phase `phase`, step `step`. */
export class RunStopped extends Error {
  override name = 'RunStopped';
  constructor(
    readonly phase: number,
    readonly step: number,
  ) {
    super(`run stopped at phase ${phase}, step ${step}`);
  }
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

function makeSuite(rt: Runtime, plan: Plan): Suite {
  // parsePlan has checked that the model kind matches the task.
  if (plan.task.kind === 'pointer') return pointerSuite(rt, plan as Parameters<typeof pointerSuite>[1]);
  return regressionSuite(rt, plan as Parameters<typeof regressionSuite>[1]);
}

const layout = (shapes: { name: string; shape: number[] }[]) => shapes.map((p) => `${p.name}[${p.shape.join(',')}]`).join(' ');

/** The names and shapes of a suite's parameter tensors, as checkpoints record them. */
const paramShapesOf = (suite: Suite) => Object.entries(suite.params.views).map(([name, t]) => ({ name, shape: [...t.shape] }));

/** Write a checkpoint's parameters into the suite's model, after checking that the shapes match. */
function loadParams(rt: Runtime, suite: Suite, from: Checkpoint, what: string): void {
  const shapes = paramShapesOf(suite);
  if (layout(from.paramShapes) !== layout(shapes) || from.params.length !== suite.params.all.size) {
    throw new CheckpointError(
      `${what} is from another model shape: it holds ${layout(from.paramShapes)}, this plan's model has ${layout(shapes)}`,
    );
  }
  rt.write(suite.params.all, from.params);
}

/**
 * Held-out metrics of given parameters (a checkpoint of a plan with the same model shape) under a
 * plan's task, without training: on the test set, and on the validation split when the plan has one
 * (or on the validation split alone, with `validationOnly`: `metrics` is then the validation's).
 */
export async function evaluateParams(
  rt: Runtime,
  planInput: unknown,
  from: Checkpoint,
  validationOnly = false,
): Promise<Omit<PhaseResult, 'name'>> {
  const plan = parsePlan(planInput);
  const suite = makeSuite(rt, plan);
  try {
    loadParams(rt, suite, from, 'the checkpoint');
    if (validationOnly) {
      const validation = await suite.evaluate('validation');
      return { metrics: validation, validation };
    }
    const metrics = await suite.evaluate();
    return plan.eval.validation > 0 ? { metrics, validation: await suite.evaluate('validation') } : { metrics };
  } finally {
    suite.destroy();
  }
}

/** Run a plan (validated first) to the end; resolves with the held-out metrics after each phase. */
export async function runPlan(
  rt: Runtime,
  planInput: unknown,
  onEvent: (e: RunEvent) => void = () => {},
  opts: RunOptions = {},
): Promise<PhaseResult[]> {
  const plan = parsePlan(planInput);
  const logEveryOf = (kind: Phase['kind']): number =>
    typeof opts.logEvery === 'number' ? opts.logEvery : (opts.logEvery?.[kind] ?? 10);
  // The suite holds the model's buffers for one batch size; a phase with another batch gets a new
  // suite (the parameters copied over exactly) at its start.
  let batch = plan.phases[0].batch ?? plan.batch;
  let suite = makeSuite(rt, { ...plan, batch });
  // NaN/Inf in the gradients is counted on the GPU every step and checked with each loss readback.
  // Checks come every logEvery steps and at the end of each phase, so no more steps than this pass
  // between two checks: the monitor's ring needs no more slots (a huge logEvery allocates nothing extra).
  const ring = Math.max(...plan.phases.map((p) => Math.min(logEveryOf(p.kind), p.steps)));
  let monitor = new FiniteMonitor(rt, suite.params, suite.grads, ring);
  const paramShapes = paramShapesOf(suite);
  // A phase that trains some tensors only must name this model's tensors (known once the model is).
  const names = paramShapes.map((s) => s.name);
  const unknown = plan.phases.flatMap((p, i) =>
    (p.train ?? [])
      .filter((n) => !names.includes(n))
      .map((n) => ({
        path: `phases[${i}].train`,
        message: `unknown parameter "${n}"; this model's parameters: ${names.join(', ')}`,
      })),
  );
  if (unknown.length) {
    monitor.destroy();
    suite.destroy();
    throw new PlanError(unknown);
  }
  const resume = opts.resume;
  const results: PhaseResult[] = resume ? [...resume.results] : [];
  let globalStep = resume?.globalStep ?? 0;
  let opt: AdamW | undefined;
  let lastGood: LastGood | undefined;
  const injected = opts.faults ? (fired.get(opts.faults) ?? new Set<number>()) : new Set<number>();
  if (opts.faults) fired.set(opts.faults, injected);
  try {
    startingParameters();
    onEvent({
      type: 'run-start',
      plan,
      adapter: rt.report,
      ...(resume ? { resumed: { phase: resume.phase, step: resume.step } } : {}),
    });
    for (const [index, phase] of plan.phases.entries()) {
      if (resume && index < resume.phase) continue;
      const resuming = resume !== undefined && index === resume.phase && resume.step > 0 ? resume : undefined;
      if ((phase.batch ?? plan.batch) !== batch) {
        batch = phase.batch ?? plan.batch;
        const next = makeSuite(rt, { ...plan, batch });
        copy(rt, next.params.all, suite.params.all);
        monitor.destroy();
        suite.destroy();
        suite = next;
        monitor = new FiniteMonitor(rt, suite.params, suite.grads, ring);
      }
      onEvent({ type: 'phase-start', phase: phase.name, index, kind: phase.kind, steps: phase.steps, batch });
      const rng = new StreamRng(`phase:${index}:${phase.name}`, plan.seed);
      const memo = opts.memoScores;
      const selection = await suite.prepare(
        phase,
        index,
        resuming?.selection,
        (s) => onEvent({ type: 'selection', phase: phase.name, ...s }),
        memo && ((compute) => memo(scoreKey(plan, index, batch), compute)),
      );
      const phaseOpt = new AdamW(rt, suite.params, suite.grads, {
        lr: phase.lr,
        weightDecay: phase.weightDecay,
        decay: phase.decayParams,
        ...(phase.train ? { trainable: phase.train } : {}),
        maxNorm: phase.maxNorm,
      });
      opt = phaseOpt;
      if (resuming) {
        rng.setState(resuming.rng);
        rt.write(phaseOpt.m, resuming.m);
        rt.write(phaseOpt.v, resuming.v);
        phaseOpt.step = resuming.optStep;
      }
      let rollbacks = resuming?.rollbacks ?? 0;
      let lrScale = resuming?.lrScale ?? 1;
      let step = resuming?.step ?? 0;
      const logEvery = logEveryOf(phase.kind);
      const policy = plan.onNonFinite;
      const good = policy.action === 'rollback' ? new LastGood(rt, [suite.params.all, phaseOpt.m, phaseOpt.v]) : undefined;
      lastGood = good;
      const goodState = () => ({ step, globalStep, optStep: phaseOpt.step, rng: rng.getState() });
      good?.take(goodState());
      /** Steps done in the phase at the last passed check (a checkpoint right after one needs none). */
      let checked = step;
      /**
       * Check the steps since the last check (and the loss `value`): on NaN/Inf roll back to the last
       * checked state (returns true) or throw, as the plan's policy says.
       */
      const verify = async (value?: number): Promise<boolean> => {
        try {
          await monitor.check(value);
        } catch (e) {
          if (!(e instanceof NonFiniteError)) throw e;
          // The monitor counts global steps from 0; report the step within this phase, from 1.
          const at = e.step >= 0 ? e.step - (globalStep - step) + 1 : step;
          const where = `phase ${phase.name}, step ${at}`;
          if (!good || rollbacks >= policy.retries) {
            const after = good ? ` (after ${rollbacks} rollbacks, the most onNonFinite.retries allows)` : '';
            throw new NonFiniteError(e.step, e.tensors, `${where}: ${e.message}${after}`);
          }
          const back = good.restore();
          rollbacks++;
          lrScale *= policy.lrFactor;
          ({ step, globalStep } = back);
          checked = step;
          phaseOpt.step = back.optStep;
          rng.setState(back.rng);
          onEvent({
            type: 'rollback',
            phase: phase.name,
            index,
            step: at,
            to: step,
            tensors: e.tensors,
            lrScale,
            rollbacks,
            message: `${where}: ${e.message}; rolled back to step ${step}, learning rate x${lrScale}`,
          });
          return true;
        }
        good?.take(goodState());
        checked = step;
        return false;
      };
      /** Save a checkpoint here, once the steps since the last check are checked; false after a rollback. */
      const saveHere = async (): Promise<boolean> => {
        if (checked !== step && (await verify())) return false;
        await checkpoint({
          phase: index,
          step,
          m: await rt.readF32(phaseOpt.m),
          v: await rt.readF32(phaseOpt.v),
          optStep: phaseOpt.step,
          rng: rng.getState(),
          selection,
          rollbacks,
          lrScale,
        });
        return true;
      };
      while (step < phase.steps) {
        const asked = opts.control?.request() ?? 'go';
        if (asked !== 'go') {
          const saved = opts.onCheckpoint !== undefined;
          if (saved && !(await saveHere())) continue;
          onEvent({ type: 'paused', phase: phase.name, index, step, saved });
          const next = asked === 'stop' ? 'stop' : await (opts.control as RunControl).paused();
          if (next === 'stop') throw new RunStopped(index, step);
          onEvent({ type: 'resumed', phase: phase.name, index, step });
        }
        const gstep = globalStep;
        const lr = learningRate(phase, step) * lrScale;
        const fault = injected.has(gstep) ? undefined : opts.faults;
        if (fault && [fault.nanAt, fault.overflowAt, fault.nanAfter, fault.loseDeviceAt].includes(gstep)) injected.add(gstep);
        if (fault?.nanAt === gstep) poison(rt, suite.params, Number.NaN);
        if (fault?.overflowAt === gstep) poison(rt, suite.params, 3e38);
        if (fault?.loseDeviceAt === gstep) rt.device.destroy();
        await suite.step(
          phase,
          index,
          rng,
          gstep,
          () => monitor.record(gstep),
          () => phaseOpt.update(lr),
        );
        if (fault?.nanAfter === gstep) poison(rt, suite.params, Number.NaN, true);
        globalStep++;
        step++;
        const last = step === phase.steps;
        if (step % logEvery === 0 || last) {
          const value = await suite.readValue(phase);
          if (await verify(value)) continue;
          onEvent({
            type: 'step',
            phase: phase.name,
            step,
            lr,
            ...(phase.kind === 'rl' ? { reward: value } : { loss: value }),
            ...(phase.kind === 'rl' && suite.rollout ? { rollout: suite.rollout() } : {}),
          });
        }
        if (step % (phase.evalEvery ?? plan.eval.every) === 0 && !last) {
          onEvent({ type: 'eval', phase: phase.name, step, metrics: await suite.evaluate() });
        }
        if (opts.checkpointEvery && step % opts.checkpointEvery === 0 && !last) await saveHere();
      }
      good?.destroy();
      lastGood = undefined;
      phaseOpt.destroy();
      opt = undefined;
      const metrics = await suite.evaluate();
      onEvent({ type: 'eval', phase: phase.name, step: phase.steps, metrics });
      const validation = plan.eval.validation > 0 ? await suite.evaluate('validation') : undefined;
      onEvent({ type: 'phase-end', phase: phase.name, index, metrics, ...(validation ? { validation } : {}) });
      results.push({ name: phase.name, metrics, ...(validation ? { validation } : {}) });
      if (opts.checkpointEvery) {
        const none = new Float32Array(0);
        await checkpoint({ phase: index + 1, step: 0, m: none, v: none, optStep: 0, rng: { counter: 0, pos: 4 } });
      }
    }
  } finally {
    lastGood?.destroy();
    opt?.destroy();
    monitor.destroy();
    suite.destroy();
  }
  onEvent({ type: 'run-end', phases: results });
  return results;

  /** Load the starting parameters from --init-from or the resumed checkpoint, after checking they fit. */
  function startingParameters(): void {
    const from = resume ?? opts.initFrom;
    if (!from) return;
    // Parsed again: a checkpoint's plan lacks fields added (with their defaults) since it was made.
    if (resume && JSON.stringify(parsePlan(resume.plan)) !== JSON.stringify(plan)) {
      throw new CheckpointError(
        'the checkpoint was made for another plan; resume with the plan it was made with (it is stored in it)',
      );
    }
    loadParams(rt, suite, from, `the ${resume ? '' : 'starting '}checkpoint`);
  }

  /** Save a checkpoint of the run as it stands (the parameters are read back here). */
  async function checkpoint(at: Omit<Checkpoint, 'plan' | 'globalStep' | 'paramShapes' | 'params' | 'results'>): Promise<void> {
    const c: Checkpoint = {
      plan,
      globalStep,
      paramShapes,
      params: await rt.readF32(suite.params.all),
      results: [...results],
      ...at,
    };
    await opts.onCheckpoint?.(c);
    onEvent({ type: 'checkpoint', phase: at.phase, step: at.step, globalStep });
  }
}
