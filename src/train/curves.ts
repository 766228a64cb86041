/**
 * A run's log as curves against the global step (the steps of all phases so far): the training loss,
 * the mean reward (RL), the held-out metrics at each evaluation, the response length (token task:
 * the tokens beyond the shortest correct answer, held out and in the RL samples) and the phase boundaries. What the demo page's
 * charts and its run comparison draw; plain data, no UI.
 */
import type { Plan } from './plan.ts';
import type { PhaseResult, RunEvent } from './scheduler.ts';
import { withoutSuperseded } from './results.ts';
import type { SuiteMetrics } from './suite.ts';

export interface Point {
  /** Global step: steps of the earlier phases plus the step within this phase. */
  x: number;
  phase: string;
  /** Which curve of the chart (held-out: 'all' or a domain). */
  series: string;
  y: number;
}

export interface Curves {
  loss: Point[];
  reward: Point[];
  /** Held-out error (regression: mse) or accuracy (token task), overall and per domain. */
  heldOut: Point[];
  heldOutLabel: string;
  /**
   * Token task: mean excess response length, of the held-out answers at each evaluation (series
   * 'excess length') and of the completions sampled at each logged RL step ('RL samples'); empty for
   * regression.
   */
  length: Point[];
  /** Where each phase starts (global step) and its name. */
  boundaries: { x: number; phase: string }[];
}

/** The held-out number a chart shows for a task: the error (lower is better) or the accuracy. */
export function heldOutValues(m: SuiteMetrics): { label: string; values: Record<string, number> } {
  if ('mse' in m) return { label: 'held-out error (mse)', values: { all: m.mse, ...m.perDomain } };
  const values: Record<string, number> = { all: m.accuracy };
  for (const [v, g] of Object.entries(m.byVariant)) if (g) values[v] = g.accuracy;
  return { label: 'held-out accuracy', values };
}

export function curves(plan: Plan, log: readonly RunEvent[]): Curves {
  const offsets: number[] = [];
  let total = 0;
  for (const p of plan.phases) {
    offsets.push(total);
    total += p.steps;
  }
  const indexOf = new Map(plan.phases.map((p, i) => [p.name, i]));
  const at = (phase: string, step: number) => (offsets[indexOf.get(phase) ?? 0] ?? 0) + step;
  const out: Curves = {
    loss: [],
    reward: [],
    heldOut: [],
    heldOutLabel: plan.task.kind === 'pointer' ? 'held-out accuracy' : 'held-out error (mse)',
    length: [],
    boundaries: [],
  };
  // A resumed run repeats events from its checkpoint on: keep the last value per (curve, x).
  const seen = new Map<string, number>();
  const put = (list: Point[], name: string, p: Point) => {
    const key = `${name}|${p.series}|${p.x}`;
    const i = seen.get(key);
    if (i === undefined) {
      seen.set(key, list.length);
      list.push(p);
    } else list[i] = p;
  };
  const starts = new Set<string>();
  for (const e of withoutSuperseded(log)) {
    if (e.type === 'phase-start' && !starts.has(e.phase)) {
      starts.add(e.phase);
      out.boundaries.push({ x: at(e.phase, 0), phase: e.phase });
    } else if (e.type === 'step') {
      const x = at(e.phase, e.step);
      if (e.loss !== undefined) put(out.loss, 'loss', { x, phase: e.phase, series: 'loss', y: e.loss });
      if (e.reward !== undefined) put(out.reward, 'reward', { x, phase: e.phase, series: 'reward', y: e.reward });
      if (e.rollout) put(out.length, 'length', { x, phase: e.phase, series: 'RL samples', y: e.rollout.excess });
    } else if (e.type === 'eval') {
      const x = at(e.phase, e.step);
      const { label, values } = heldOutValues(e.metrics);
      out.heldOutLabel = label;
      for (const [series, y] of Object.entries(values)) put(out.heldOut, 'held', { x, phase: e.phase, series, y });
      if ('meanExcess' in e.metrics)
        put(out.length, 'length', { x, phase: e.phase, series: 'excess length', y: e.metrics.meanExcess });
    }
  }
  for (const list of [out.loss, out.reward, out.heldOut, out.length]) list.sort((a, b) => a.x - b.x);
  return out;
}

/** The phases finished in a log (a resumed run's log holds each once). */
export function phasesOf(log: readonly RunEvent[]): PhaseResult[] {
  const out = new Map<string, PhaseResult>();
  for (const e of log) {
    if (e.type === 'phase-end')
      out.set(e.phase, { name: e.phase, metrics: e.metrics, ...(e.validation ? { validation: e.validation } : {}) });
  }
  return [...out.values()];
}
