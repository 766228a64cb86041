/**
 * Run the paper experiments and put the results together: results.json (every measured row, the
 * verdicts computed from them, the protocol, the adapter and the machine) and a self-contained
 * report.html (verdicts with their rules and numbers, one plot per experiment, tables, protocol).
 * No file I/O here: the command line (src/cli/paper.ts) writes what this returns.
 */
import type { AdapterReport } from '../device/index.ts';
import type { Runtime } from '../gpu/runtime.ts';
import {
  EXPERIMENT_TITLES,
  type ExperimentName,
  PRESET_TABLE,
  type PresetName,
  protocolText,
  TARGETS,
  type TargetName,
} from './protocol.ts';
import { REGRESSION_EXPERIMENTS, RegressionLab } from './regression.ts';
import { chosenRows, mean, type Row, type Verdict, verdicts } from './verdicts.ts';

export interface PaperResults {
  preset: PresetName;
  target: TargetName;
  seeds: number[];
  experiments: ExperimentName[];
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
}

export interface PaperOptions {
  preset: PresetName;
  target: TargetName;
  seeds?: number;
  experiments: ExperimentName[];
  machine: Record<string, string | number>;
  onProgress?: (msg: string) => void;
}

export async function runPaper(rt: Runtime, opts: PaperOptions): Promise<PaperResults> {
  const preset = PRESET_TABLE[opts.preset];
  const seeds = Array.from({ length: opts.seeds ?? preset.seeds }, (_, i) => i + 1);
  const started = new Date();
  const t0 = performance.now();
  const lab = new RegressionLab(rt, { preset, seeds, target: TARGETS[opts.target], onRun: (what) => opts.onProgress?.(what) });
  for (const e of opts.experiments) {
    const te = performance.now();
    opts.onProgress?.(`experiment ${EXPERIMENT_TITLES[e]}: start`);
    await REGRESSION_EXPERIMENTS[e](lab);
    opts.onProgress?.(`experiment ${EXPERIMENT_TITLES[e]}: done in ${((performance.now() - te) / 1000).toFixed(1)} s`);
  }
  return {
    preset: opts.preset,
    target: opts.target,
    seeds,
    experiments: opts.experiments,
    adapter: rt.report,
    machine: opts.machine,
    started: started.toISOString(),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    runs: lab.runsDone,
    settings: {
      regression: 'run (in-context weight prediction, factorised LSA)',
      tokens:
        'not run yet: the chain-of-thought token task (pointer chasing, tiny transformer) has its suite and verifier, but at the budgets that fit this machine its pretraining reaches about 15% held-out accuracy, too little for the post-training comparisons to mean anything',
    },
    protocol: protocolText(opts.preset, opts.target),
    rows: lab.rows,
    verdicts: verdicts(lab.rows),
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x: number) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3)) : '–');

/** A table of the chosen rows of an experiment: mean (min..max) over seeds per condition. */
export function summaryTable(rows: Row[], experiment: ExperimentName, metrics: string[]): { head: string[]; body: string[][] } {
  const chosen = chosenRows(rows, experiment, {});
  const groups = new Map<string, Row[]>();
  for (const r of chosen) {
    const { pretrainSteps: _, ...cond } = r.condition;
    const key = Object.entries(cond)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const body = [...groups].map(([key, rs]) => [
    key,
    rs[0].lr ? String(rs[0].lr) : '–',
    ...metrics.map((m) => {
      const xs = rs.map((r) => r.metrics[m]);
      return `${num(mean(xs))} (${num(Math.min(...xs))}..${num(Math.max(...xs))})`;
    }),
  ]);
  return { head: ['condition', 'lr', ...metrics], body };
}

export const TABLE_METRICS: Record<ExperimentName, string[]> = {
  sft: ['target', 'pretrain', 'mix', 'tail'],
  rl: ['target', 'pass target', 'tail'],
  balance: ['target', 'tail', 'pass tail'],
  recipe: ['target', 'pretrain', 'pass target'],
};

/** The verdicts and the tables in markdown (for the README and terminals). */
export function summaryMarkdown(res: PaperResults): string {
  const md = (t: { head: string[]; body: string[][] }) =>
    [
      `| ${t.head.join(' | ')} |`,
      `| ${t.head.map(() => '---').join(' | ')} |`,
      ...t.body.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  const verdictTable = {
    head: ['experiment', 'verdict', 'criteria (✔ held, ✘ not)'],
    body: res.verdicts.map((v) => [
      EXPERIMENT_TITLES[v.experiment],
      `**${v.verdict}**`,
      v.criteria.map((c) => `${c.held ? '✔' : '✘'} ${c.detail}`).join('; '),
    ]),
  };
  return [
    `Preset ${res.preset}, target ${res.target}, seeds ${res.seeds.join(', ')}; ${res.runs} runs in ${res.seconds} s on ${res.adapter.vendor} / ${res.adapter.architecture}${res.adapter.isFallbackAdapter ? ' (fallback adapter, on the CPU)' : ''}, ${res.machine.cpu} (${res.machine.cores} cores).`,
    '',
    md(verdictTable),
    ...res.experiments.flatMap((e) => [
      '',
      `**${EXPERIMENT_TITLES[e]}** (test errors, mean (min..max) over seeds, at the validation-chosen lr)`,
      '',
      md(summaryTable(res.rows, e, TABLE_METRICS[e])),
    ]),
    '',
  ].join('\n');
}

/** The report page: verdicts, plots, tables and protocol, with no external resources. */
export function reportHtml(res: PaperResults, svgs: Partial<Record<ExperimentName, string>>): string {
  const table = (t: { head: string[]; body: string[][] }) =>
    `<table><thead><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${t.body
      .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
      .join('')}</tbody></table>`;
  const sections = res.experiments.map((e) => {
    const v = res.verdicts.find((x) => x.experiment === e);
    return `<section id="${e}"><h2>${esc(EXPERIMENT_TITLES[e])}</h2>
${
  v
    ? `<p class="claim">Claim: ${esc(v.claim)}. <b class="v ${v.verdict.replace(' ', '-')}">${esc(v.verdict)}</b></p>
<p class="rule">Rule: ${esc(v.rule)}</p>
<ul>${v.criteria.map((c) => `<li>${c.held ? '✔' : '✘'} ${esc(c.name)}: ${esc(c.detail)}</li>`).join('')}</ul>`
    : ''
}
<figure>${svgs[e] ?? ''}<figcaption>Dots: one seed each at the validation-chosen learning rate; lines and bars: mean over seeds; dashed: before post-training.</figcaption></figure>
${table(summaryTable(res.rows, e, TABLE_METRICS[e]))}
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
<p>Preset <b>${esc(res.preset)}</b>, target <b>${esc(res.target)}</b>, seeds ${res.seeds.join(', ')}, ${res.runs} training runs in ${res.seconds} s, started ${esc(res.started)}.
Adapter: ${esc(`${res.adapter.vendor} / ${res.adapter.architecture}${res.adapter.isFallbackAdapter ? ' (fallback adapter, runs on the CPU)' : ''}`)}.
Machine: ${esc(
    Object.entries(res.machine)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  )}.</p>
<h2>Verdicts</h2>
<table><thead><tr><th>experiment</th><th>claim</th><th>verdict</th></tr></thead><tbody>
${res.verdicts.map((v) => `<tr><td><a href="#${v.experiment}">${esc(EXPERIMENT_TITLES[v.experiment])}</a></td><td>${esc(v.claim)}</td><td class="${v.verdict.replace(' ', '-')}">${esc(v.verdict)}</td></tr>`).join('\n')}
</tbody></table>
<p>Each verdict is computed from the rows in results.json by the rule printed with it; none is set by hand.</p>
<h2>Settings</h2><ul>${Object.entries(res.settings)
    .map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v)}</li>`)
    .join('')}</ul>
${sections.join('\n')}
<h2>Protocol</h2><ol>${res.protocol.map((p) => `<li>${esc(p)}</li>`).join('')}</ol>
</body></html>
`;
}
