/**
 * What the scheduler needs from a task suite: a model whose parameters live in arenas, a way to make
 * a phase's data (a fresh stream, or a set curated from a candidate pool by the current model), one
 * training step (supervised or RL), the value to log, and held-out evaluation. The scheduler owns the
 * loop, the optimizer, the schedule, checkpoints and events; a suite owns its task and model.
 */
import type { Arena } from '../gpu/arena.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { copy } from '../kernels/elementwise.ts';
import type { PointerMetrics } from '../tasks/pointer.ts';
import type { RegressionMetrics } from '../tasks/regression.ts';
import type { StreamRng } from '../tasks/regression.ts';
import type { Phase } from './plan.ts';

export type SuiteMetrics = RegressionMetrics | PointerMetrics;

/** A curated selection, reported as an event so a result can be traced. */
export interface Selection {
  rule: string;
  pool: number;
  ids: number[];
  scores: number[];
}

/** Wraps the computation of a pool's difficulty scores (RunOptions.memoScores, keyed by the scheduler). */
export type ScoreMemo = (compute: () => Promise<ArrayLike<number>>) => Promise<ArrayLike<number>>;

/** The completions sampled in one RL step, in means over the batch. */
export interface RolloutStats {
  /** Generated tokens per completion (the end token included; unfinished ones count the length limit). */
  length: number;
  /** Chain steps beyond the minimal number (the verifier's excess length; overthinking). */
  excess: number;
}

export interface Suite {
  readonly params: Arena;
  readonly grads: Arena;
  /** GPU bytes the suite's model holds (with its copy for evaluation, once made). */
  readonly bytes: number;
  /**
   * Prepare phase `index`'s data: select from its candidate pool by the current model (reporting the
   * selection through `onSelect`), or use `kept` (a resumed run's selection). Returns the ids in use,
   * or undefined for a fresh stream. `memo`, when given, wraps the scoring (scores computed before
   * for the same pool from the same parameters may be returned instead).
   */
  prepare(
    phase: Phase,
    index: number,
    kept: number[] | undefined,
    onSelect: (s: Selection) => void,
    memo?: ScoreMemo,
  ): Promise<number[] | undefined>;
  /**
   * One step: upload the batch, then (inside one submission) forward, backward, `record()` (the
   * NaN monitor) and `update()` (the optimizer). RL rollouts may read back before the submission.
   */
  step(phase: Phase, index: number, rng: StreamRng, globalStep: number, record: () => void, update: () => void): Promise<void>;
  /** The value to log after a step: the mean loss (supervised) or the mean reward (RL). */
  readValue(phase: Phase): Promise<number>;
  /** The last RL step's completions (suites that generate token sequences; absent otherwise). */
  rollout?(): RolloutStats;
  /** Held-out metrics on the test set, or on the validation split (plans with eval.validation > 0). */
  evaluate(split?: 'test' | 'validation'): Promise<SuiteMetrics>;
  destroy(): void;
}

/** The headline numbers of a suite's metrics, for tables: name -> value. */
export function headline(m: SuiteMetrics): Record<string, number> {
  if ('mse' in m)
    return {
      'held-out mse': m.mse,
      ...Object.fromEntries(Object.entries(m.perDomain).map(([d, v]) => [`mse ${d}`, v])),
      ...(m.passRate !== undefined ? { 'pass rate': m.passRate } : {}),
    };
  return {
    accuracy: m.accuracy,
    ...Object.fromEntries(Object.entries(m.byVariant).map(([v, g]) => [`acc ${v}`, g?.accuracy ?? Number.NaN])),
    'excess length': m.meanExcess,
    'not finished': m.notFinished,
  };
}

/**
 * The model a suite evaluates with (held-out sets, pool scores): the model itself, or where its
 * held-out sets hold more than its batch B, a copy of batch min(cap, the larger set) made by
 * `make` at the first call, its parameters copied from the model at every call. A row's output
 * depends on that row alone, so both give the same bits; on SwiftShader a larger batch costs far
 * fewer milliseconds per row (fewer dispatches and read-backs).
 */
export function evaluationModel<M extends { readonly params: Arena; readonly bytes: number; destroy(): void }>(
  rt: Runtime,
  model: M,
  B: number,
  held: { size: number; validation: number },
  cap: number,
  make: (batch: number) => M,
): { current(): { model: M; batch: number }; readonly bytes: number; destroy(): void } {
  const batch = Math.max(B, Math.min(cap, Math.max(held.size, held.validation)));
  let wide: M | undefined;
  return {
    current() {
      if (batch === B) return { model, batch: B };
      wide ??= make(batch);
      copy(rt, wide.params.all, model.params.all);
      return { model: wide, batch };
    },
    get bytes() {
      return wide?.bytes ?? 0;
    },
    destroy() {
      wide?.destroy();
    },
  };
}
