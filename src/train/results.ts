/**
 * A run's results as files, in one format for the command line (`run --out DIR` writes them) and the
 * demo page (its download buttons): metrics.jsonl (every event, one JSON object per line),
 * selections.json (the curated ids and their scores), summary.json (the adapter and the held-out
 * metrics after each phase) and metrics.csv (the logged steps and evaluations as a table; what a NaN
 * rollback superseded left out, metrics.jsonl keeps every event).
 */
import type { AdapterReport } from '../device/index.ts';
import type { PhaseResult, RunEvent } from './scheduler.ts';
import { headline } from './suite.ts';

export interface ResultFiles {
  'metrics.jsonl': string;
  'selections.json': string;
  'summary.json': string;
  'metrics.csv': string;
}

/** A CSV field: quoted when it holds a comma, a quote or a line break. */
function field(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan') : v;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The events without those a NaN rollback superseded: a rollback event of a phase drops the step
 * and eval events of that phase after its `to` step that came before it (the replay logs them again).
 */
export function withoutSuperseded(events: readonly RunEvent[]): RunEvent[] {
  let out: RunEvent[] = [];
  for (const e of events) {
    if (e.type === 'rollback') {
      out = out.filter((x) => !((x.type === 'step' || x.type === 'eval') && x.phase === e.phase && x.step > e.to));
    }
    out.push(e);
  }
  return out;
}

/**
 * The logged steps and the evaluations, one row each: event, phase, step (within the phase), lr,
 * loss or reward (steps), the RL samples' mean length and excess chain length (when any step has
 * them: the token task), then one column per headline metric (evaluations).
 */
export function metricsCsv(events: readonly RunEvent[]): string {
  const rows = withoutSuperseded(events).filter((e) => e.type === 'step' || e.type === 'eval');
  const metricColumns: string[] = [];
  const values = rows.map((e) => (e.type === 'eval' ? headline(e.metrics) : {}));
  for (const v of values) for (const k of Object.keys(v)) if (!metricColumns.includes(k)) metricColumns.push(k);
  const samples = rows.some((e) => e.type === 'step' && e.rollout);
  const sampleColumns = samples ? ['sample length', 'sample excess'] : [];
  const head = ['event', 'phase', 'step', 'lr', 'loss', 'reward', ...sampleColumns, ...metricColumns];
  const lines = rows.map((e, i) => {
    const step = e.type === 'step' ? e : undefined;
    const rollout = samples ? [step?.rollout?.length, step?.rollout?.excess] : [];
    return [e.type, e.phase, e.step, step?.lr, step?.loss, step?.reward, ...rollout, ...metricColumns.map((c) => values[i][c])]
      .map(field)
      .join(',');
  });
  return `${[head.map(field).join(','), ...lines].join('\n')}\n`;
}

/** Events as JSON lines (metrics.jsonl): one object per line, each line ended. */
export function jsonLines(events: readonly RunEvent[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join('');
}

/** Every file of a run's results, from its events (in order), its adapter and its phase results. */
export function resultFiles(events: readonly RunEvent[], adapter: AdapterReport, phases: readonly PhaseResult[]): ResultFiles {
  const selections = events.filter((e) => e.type === 'selection');
  return {
    'metrics.jsonl': jsonLines(events),
    'selections.json': `${JSON.stringify(selections, null, 1)}\n`,
    'summary.json': `${JSON.stringify({ adapter, phases }, null, 2)}\n`,
    'metrics.csv': metricsCsv(events),
  };
}
