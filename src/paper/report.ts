/**
 * Run the paper experiments and put the results together: results.json (every measured row, the
 * verdicts computed from them, the protocol, the adapter and the machine) and a self-contained
 * report.html (verdicts with their rules and numbers, one plot per experiment, tables, protocol).
 * No file I/O here: the command line (src/cli/paper.ts) writes what this returns.
 */
import type { AdapterReport } from '../device/index.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { EXPERIMENT_RUNNERS, Lab, regressionSetting, tokenSetting } from './lab.ts';
import {
  EXPERIMENT_TITLES,
  type ExperimentName,
  figureKey,
  lengthFigureKey,
  type RunShape,
  type PresetName,
  protocolText,
  type SettingName,
  SIGNIFICANCE_LEVEL,
  type TargetName,
  tokenProtocolText,
} from './protocol.ts';
import { chosenRows, conditionKey, mean, type Row, type Verdict, verdicts } from './verdicts.ts';

export const SETTING_TITLES: Record<SettingName, string> = {
  regression: 'Setting A: in-context weight prediction',
  token: 'Setting B: chain of thought on tokens',
};

export interface PaperResults {
  preset: PresetName;
  target: TargetName;
  seeds: number[];
  experiments: ExperimentName[];
  /** The settings run, in order. */
  settingsRun: SettingName[];
  adapter: AdapterReport;
  machine: Record<string, string | number>;
  started: string;
  seconds: number;
  runs: number;
  /** Which settings ran; a setting not run says why. */
  settings: Record<string, string>;
  protocol: string[];
  rows: Row[];
  verdicts: Verdict[];
  /** A pooled set (`paper --merge`): the runs it was pooled from. */
  sources?: MergeSource[];
  /** A run split by `paper --jobs N` (one process per setting and seed, N at a time): N. */
  jobs?: number;
}

/** One run a pooled results set was made from. */
export interface MergeSource {
  dir: string;
  seeds: number[];
  /** The experiments taken from it. */
  experiments: ExperimentName[];
  /** Where it ran more than was taken (`--merge --only`): every experiment it ran. */
  ran?: ExperimentName[];
  /** Of the whole run (all it ran). */
  runs: number;
  seconds: number;
  started: string;
}

export interface PaperOptions extends RunShape {
  preset: PresetName;
  target: TargetName;
  /** How many seeds (default: the preset's), numbered from firstSeed (default 1). */
  seeds?: number;
  firstSeed?: number;
  experiments: ExperimentName[];
  settings: SettingName[];
  machine: Record<string, string | number>;
  onProgress?: (msg: string) => void;
}

/** The seeds of a run: `count` of them from `first` (default 1) on. */
export function seedList(count: number, first = 1): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

/** The seeds a run with these options covers: the option's count (default: the first setting's preset's) from firstSeed on. */
export function runSeeds(
  opts: Pick<PaperOptions, 'settings' | 'preset' | 'target' | 'seeds' | 'firstSeed'> & RunShape,
): number[] {
  return seedList(opts.seeds ?? settingSpec(opts.settings[0], opts).preset.seeds, opts.firstSeed);
}

const settingSpec = (name: SettingName, opts: Pick<PaperOptions, 'preset' | 'target'> & RunShape) =>
  name === 'regression' ? regressionSetting(opts.preset, opts.target, opts) : tokenSetting(opts.preset, opts.target, opts);

export async function runPaper(rt: Runtime, opts: PaperOptions): Promise<PaperResults> {
  const seeds = runSeeds(opts);
  const started = new Date();
  const t0 = performance.now();
  const rows: Row[] = [];
  let runs = 0;
  for (const name of opts.settings) {
    const setting = settingSpec(name, opts);
    const lab = new Lab(rt, { setting, seeds, onRun: (what) => opts.onProgress?.(what) });
    for (const e of opts.experiments) {
      const te = performance.now();
      const title = `${SETTING_TITLES[setting.name]}, ${EXPERIMENT_TITLES[e]}`;
      opts.onProgress?.(`experiment ${title}: start`);
      await EXPERIMENT_RUNNERS[e](lab);
      opts.onProgress?.(`experiment ${title}: done in ${((performance.now() - te) / 1000).toFixed(1)} s`);
    }
    rows.push(...lab.rows);
    runs += lab.runsDone;
  }
  return paperResults(opts, { seeds, rows, runs, adapter: rt.report, started, seconds: (performance.now() - t0) / 1000 });
}

/** A run's results from its options and what it measured: the protocol in words, the verdicts from the rows. */
export function paperResults(
  opts: Omit<PaperOptions, 'onProgress'>,
  measured: { seeds: number[]; rows: Row[]; runs: number; adapter: AdapterReport; started: Date; seconds: number },
): PaperResults {
  const { seeds, rows } = measured;
  const ran = (s: SettingName) => opts.settings.includes(s);
  return {
    preset: opts.preset,
    target: opts.target,
    seeds,
    experiments: opts.experiments,
    settingsRun: opts.settings,
    adapter: measured.adapter,
    machine: opts.machine,
    started: measured.started.toISOString(),
    seconds: Math.round(measured.seconds * 10) / 10,
    runs: measured.runs,
    settings: {
      regression: ran('regression')
        ? 'run (in-context weight prediction, factorised LSA; the ICL transformer in experiment 3)'
        : 'not run in this invocation (--settings)',
      token: ran('token')
        ? 'run (pointer chasing written as a table, forward and inverse variants, a 2-layer transformer of width 32)'
        : 'not run in this invocation (--settings)',
    },
    protocol: [
      ...(ran('regression') ? protocolText(opts.preset, opts.target, seeds, opts) : []),
      ...(ran('token') ? tokenProtocolText(opts.preset, opts.target, seeds, opts) : []),
    ],
    rows,
    verdicts: verdicts(rows),
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x: number) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3)) : '–');

/** How the paired tests are made and what they add to a verdict. */
export const SIGNIFICANCE_NOTE = `The verdicts follow the means over seeds. Each criterion that compares two conditions also gets a paired test: per seed (runs of one seed share their pretrained model and data streams) the difference in the claimed direction, how many seeds agree, and the one-sided p of the exact sign-flip test of the mean difference (the share of the 2^n sign assignments whose mean is at least the observed). A criterion that held is called significant at p <= ${SIGNIFICANCE_LEVEL}; with n seeds p cannot fall below 2^-n, so 3 seeds (0.125) cannot make any criterion significant and 5 seeds (0.031) are the fewest that can.`;

/** What the curve table and figure show. */
const CURVE_NOTE =
  'the completions sampled at each update (temperature 1, not held out), at the validation-chosen lr. Response length counts the generated tokens, the end token included; excess chain length is the chain beyond the minimal k steps (negative: answers that skip steps).';
const CURVE_TABLE_NOTE = 'Mean over seeds of the first fifth of the updates → the last fifth.';

/**
 * Rows grouped by condition (the seeds of one condition together), keyed by conditionKey.
 */
function byCondition(rows: Row[]): Map<string, Row[]> {
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(conditionKey(r), [...(groups.get(conditionKey(r)) ?? []), r]);
  return groups;
}

/** A table of the chosen rows of an experiment: mean (min..max) over seeds per condition. */
export function summaryTable(rows: Row[], experiment: ExperimentName, metrics: string[]): { head: string[]; body: string[][] } {
  const body = [...byCondition(chosenRows(rows, experiment, {}))].map(([key, rs]) => [
    key,
    rs[0].lr ? String(rs[0].lr) : '–',
    ...metrics.map((m) => {
      const xs = rs.map((r) => r.metrics[m]);
      return `${num(mean(xs))} (${num(Math.min(...xs))}..${num(Math.max(...xs))})`;
    }),
  ]);
  return { head: ['condition', 'lr', ...metrics], body };
}

/**
 * The RL samples over training (rows with curves; the token setting): per condition at the chosen
 * lr, the mean over seeds of the samples' reward, response length and excess chain length in the
 * first and the last fifth of the updates (at least one update each). Undefined without curves.
 */
export function curveTable(rows: Row[], experiment: ExperimentName): { head: string[]; body: string[][] } | undefined {
  const chosen = chosenRows(rows, experiment, {}).filter((r) => r.curve && r.curve.step.length > 0);
  if (!chosen.length) return undefined;
  const part = (xs: number[], end: 'first' | 'last') => {
    const n = Math.max(1, Math.floor(xs.length / 5));
    return mean(end === 'first' ? xs.slice(0, n) : xs.slice(xs.length - n));
  };
  const series = ['reward', 'length', 'excess'] as const;
  const body = [...byCondition(chosen)].map(([key, rs]) => [
    key,
    String(rs[0].lr),
    String(Math.max(...rs.map((r) => r.curve?.step.length ?? 0))),
    ...series.map((k) => {
      const of = (end: 'first' | 'last') => num(mean(rs.map((r) => part(r.curve?.[k] ?? [], end))));
      return `${of('first')} → ${of('last')}`;
    }),
  ]);
  return { head: ['condition', 'lr', 'updates', 'sampled reward', 'response length (tokens)', 'excess chain length'], body };
}

export const TABLE_METRICS: Record<ExperimentName, string[]> = {
  sft: ['target', 'pretrain', 'mix', 'tail'],
  rl: ['target', 'pass target', 'tail'],
  balance: ['target', 'tail', 'pass tail'],
  recipe: ['target', 'pretrain', 'pass target'],
};

/** The token setting's tables add the overthinking measures where the claims name them (RL, balance). */
export function tableMetrics(setting: SettingName, e: ExperimentName): string[] {
  const extra =
    setting === 'token' && (e === 'rl' || e === 'balance' || e === 'recipe') ? ['excess', 'repeats', 'unfinished'] : [];
  return [...TABLE_METRICS[e], ...extra];
}

/** Each (setting, experiment) that ran, in order, with its rows and verdict. */
function sectionsOf(res: PaperResults): { setting: SettingName; e: ExperimentName; rows: Row[]; verdict?: Verdict }[] {
  const settings = res.settingsRun ?? ['regression'];
  return settings.flatMap((setting) =>
    res.experiments.map((e) => ({
      setting,
      e,
      rows: res.rows.filter((r) => (r.setting ?? 'regression') === setting),
      verdict: res.verdicts.find((v) => v.experiment === e && (v.setting ?? 'regression') === setting),
    })),
  );
}

/** "N runs in S s", or for a pooled set what it was pooled from. */
function runsLine(res: PaperResults): string {
  if (!res.sources)
    return `${res.runs} training runs in ${res.seconds} s${res.jobs ? ` (${res.jobs} processes at once, one per setting and seed)` : ''}`;
  const from = res.sources.map(
    (s) =>
      `${s.dir}: seeds ${s.seeds.join(', ')}, ${s.experiments.join(', ')}${s.ran ? ` (its run: ${s.ran.join(', ')})` : ''}, ${s.runs} runs in ${s.seconds} s`,
  );
  return `pooled from ${res.sources.length} result sets (${from.join('; ')})`;
}

/** The verdicts and the tables in markdown (for the README and terminals). */
export function summaryMarkdown(res: PaperResults): string {
  const md = (t: { head: string[]; body: string[][] }) =>
    [
      `| ${t.head.join(' | ')} |`,
      `| ${t.head.map(() => '---').join(' | ')} |`,
      ...t.body.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  const verdictTable = {
    head: ['setting', 'experiment', 'verdict', 'criteria (✔ held, ✘ not)', 'paired tests over seeds'],
    body: res.verdicts.map((v) => [
      SETTING_TITLES[v.setting ?? 'regression'],
      EXPERIMENT_TITLES[v.experiment],
      `**${v.verdict}**`,
      v.criteria.map((c) => `${c.held ? '✔' : '✘'} ${c.detail}`).join('; '),
      v.significance ?? '–',
    ]),
  };
  return [
    `Preset ${res.preset}, target ${res.target}, seeds ${res.seeds.join(', ')}; ${runsLine(res)} on ${res.adapter.vendor} / ${res.adapter.architecture}${res.adapter.isFallbackAdapter ? ' (fallback adapter, on the CPU)' : ''}, ${res.machine.cpu} (${res.machine.cores} cores).`,
    '',
    md(verdictTable),
    '',
    SIGNIFICANCE_NOTE,
    ...sectionsOf(res).flatMap(({ setting, e, rows }) => {
      const curves = e === 'rl' ? curveTable(rows, e) : undefined;
      return [
        '',
        `**${SETTING_TITLES[setting]}, ${EXPERIMENT_TITLES[e]}** (test errors, mean (min..max) over seeds, at the validation-chosen lr)`,
        '',
        md(summaryTable(rows, e, tableMetrics(setting, e))),
        ...(curves ? ['', `The RL samples over training: ${CURVE_NOTE} ${CURVE_TABLE_NOTE}`, '', md(curves)] : []),
      ];
    }),
    '',
  ].join('\n');
}

/** The report page: verdicts, plots, tables and protocol, with no external resources. */
export function reportHtml(res: PaperResults, svgs: Record<string, string>): string {
  const table = (t: { head: string[]; body: string[][] }) =>
    `<table><thead><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${t.body
      .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
      .join('')}</tbody></table>`;
  const sections = sectionsOf(res).map(({ setting, e, rows, verdict: v }) => {
    const key = figureKey(setting, e);
    const lengthSvg = e === 'rl' ? svgs[lengthFigureKey(setting)] : undefined;
    const curves = e === 'rl' ? curveTable(rows, e) : undefined;
    return `<section id="${key}"><h2>${esc(`${SETTING_TITLES[setting]}: ${EXPERIMENT_TITLES[e]}`)}</h2>
${
  v
    ? `<p class="claim">Claim: ${esc(v.claim)}. <b class="v ${v.verdict.replace(' ', '-')}">${esc(v.verdict)}</b></p>
<p class="rule">Rule: ${esc(v.rule)}</p>
<ul>${v.criteria.map((c) => `<li>${c.held ? '✔' : '✘'} ${esc(c.name)}: ${esc(c.detail)}</li>`).join('')}</ul>
<p class="rule">Paired tests over seeds: ${esc(v.significance ?? '–')}.</p>`
    : ''
}
<figure>${svgs[key] ?? ''}<figcaption>Dots: one seed each at the validation-chosen learning rate; lines and bars: mean over seeds; dashed: before post-training.${setting === 'token' ? ' Errors here are 1 − accuracy.' : ''}</figcaption></figure>
${table(summaryTable(rows, e, tableMetrics(setting, e)))}
${
  lengthSvg
    ? `<h3>Response length over RL training</h3>
<figure>${lengthSvg}<figcaption>${esc(`The RL samples: ${CURVE_NOTE}`)} Thin lines: one seed each; thick: their mean.</figcaption></figure>`
    : ''
}${curves ? `<p>${esc(CURVE_TABLE_NOTE)}</p>${table(curves)}` : ''}
</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Paper experiments: ${esc(res.preset)} preset</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5rem 0 1.5rem; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
.v { padding: 1px 6px; border-radius: 3px; }
.confirmed { background: #cfc; } .not-confirmed { background: #fcc; } .mixed { background: #ffc; }
svg { max-width: 100%; height: auto; } .rule { color: #555; font-size: 13px; }
</style></head><body>
<h1>Data quality across pre- and post-training: the experiments</h1>
<p>Preset <b>${esc(res.preset)}</b>, target <b>${esc(res.target)}</b>, seeds ${res.seeds.join(', ')}, ${esc(runsLine(res))}, started ${esc(res.started)}.
Adapter: ${esc(`${res.adapter.vendor} / ${res.adapter.architecture}${res.adapter.isFallbackAdapter ? ' (fallback adapter, runs on the CPU)' : ''}`)}.
Machine: ${esc(
    Object.entries(res.machine)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  )}.</p>
<h2>Verdicts</h2>
<table><thead><tr><th>setting</th><th>experiment</th><th>claim</th><th>verdict</th><th>paired tests over seeds</th></tr></thead><tbody>
${res.verdicts.map((v) => `<tr><td>${esc(SETTING_TITLES[v.setting ?? 'regression'])}</td><td><a href="#${figureKey(v.setting ?? 'regression', v.experiment)}">${esc(EXPERIMENT_TITLES[v.experiment])}</a></td><td>${esc(v.claim)}</td><td class="${v.verdict.replace(' ', '-')}">${esc(v.verdict)}</td><td>${esc(v.significance ?? '–')}</td></tr>`).join('\n')}
</tbody></table>
<p>Each verdict is computed from the rows in results.json by the rule printed with it; none is set by hand. ${esc(SIGNIFICANCE_NOTE)}</p>
<h2>Settings</h2><ul>${Object.entries(res.settings)
    .map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v)}</li>`)
    .join('')}</ul>
${sections.join('\n')}
<h2>Protocol</h2><ol>${res.protocol.map((p) => `<li>${esc(p)}</li>`).join('')}</ol>
</body></html>
`;
}
