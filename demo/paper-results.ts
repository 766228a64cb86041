/**
 * <paper-results>: the paper's claims and this project's verdicts, as last measured by `npm run
 * paper` and committed under results/ (the default run, both settings; setting A with two post-training targets: the rare
 * directions, and a shifted distribution; setting B, the token task: its runs, their pools over
 * seeds, and the runs with longer pretraining and from a given starting error), with the rule
 * behind each verdict, the criteria that held or not, and the plots. Read from those files at build
 * time: what the page shows is what the command line wrote. A result set is one entry of SETS below
 * (its folder, title and plots); what the page shows of every results.json comes from the build's
 * virtual:paper-results (vite.config.ts), and the plots are found by glob.
 */
import { css, html, LitElement } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { until } from 'lit/directives/until.js';
import { unsafeSVG } from 'lit/directives/unsafe-svg.js';
import summaries from 'virtual:paper-results';
import { shared } from './styles.ts';

interface Verdict {
  /** 'regression' (setting A) or 'token' (setting B). */
  setting: string;
  experiment: string;
  claim: string;
  verdict: string;
  rule: string;
  criteria: { name: string; held: boolean; detail: string }[];
  /** The paired tests over seeds, in words (result sets rendered since the tests exist). */
  significance?: string;
}

interface ResultSet {
  id: string;
  title: string;
  /** `pooledFrom`: a set pooled by `paper --merge` from this many runs (runs and seconds are their sums). */
  meta: { preset: string; target: string; seeds: number[]; runs: number; seconds: number; pooledFrom?: number };
  settings: Record<string, string>;
  verdicts: Verdict[];
  /** Each plot's title and the key of its SVG in PLOTS. */
  plots: [string, string][];
}

// The plots, each fetched when a set that shows it is opened (one small chunk per SVG).
const PLOTS = import.meta.glob<string>('../results/paper*/*.svg', { query: '?raw', import: 'default' });

/**
 * A result set from results/`dir`: its title and plots (title -> file name without `.svg`, in `dir`
 * or as `other-dir/name`). A folder or plot that does not exist is an error when the page loads.
 */
function resultSet(id: string, dir: string, title: string, plots: Record<string, string>): ResultSet {
  const r = summaries[dir];
  if (!r) throw new Error(`paper results: no results/${dir}/results.json (result set "${id}")`);
  const { verdicts, settings, ...meta } = r;
  return {
    id,
    title,
    meta,
    settings,
    verdicts: verdicts as Verdict[],
    plots: Object.entries(plots).map(([name, file]) => {
      const key = `../results/${file.includes('/') ? file : `${dir}/${file}`}.svg`;
      if (!(key in PLOTS)) throw new Error(`paper results: no ${key.slice(3)} (result set "${id}", plot "${name}")`);
      return [name, key];
    }),
  };
}

const A = { sft: 'sft', rl: 'rl', balance: 'balance', recipe: 'recipe' };
const B = {
  sft: 'sft-token',
  rl: 'rl-token',
  'rl response length': 'rl-token-length',
  balance: 'balance-token',
  recipe: 'recipe-token',
};
const { sft, rl, 'rl response length': length, balance, recipe } = B;
/** Experiments 1 and 2 with the response length over RL training (the runs from a chosen start). */
const sftRl = { sft, rl, 'rl response length': length };

/** A verdict's setting, named as the README and the report name it. */
const SETTING_LABEL: Record<string, string> = { regression: 'setting A', token: 'setting B' };

const SETS: ResultSet[] = [
  // The default run: both settings (since the eighteenth session), each plot under its setting.
  resultSet('rare', 'paper', 'The default run, both settings: the rare directions / variant', {
    ...Object.fromEntries(Object.entries(A).map(([k, v]) => [`setting A: ${k}`, v])),
    ...Object.fromEntries(Object.entries(B).map(([k, v]) => [`setting B: ${k}`, v])),
  }),
  resultSet('shifted', 'paper-shifted', 'Regression (setting A): a shifted distribution', A),
  resultSet('token', 'paper-token', 'Token task (setting B), first run: the rare variant', { sft, rl, balance, recipe }),
  // Experiments 2-4 again with 8 prompts per RL update (the first run's 2 were too noisy; README);
  // response length from the same experiment 2 run again with every update's samples recorded.
  resultSet('token-rl', 'paper-token-rl', 'Token task (setting B), second run: experiments 2-4', {
    rl,
    'rl response length': 'paper-token-curves/rl-token-length',
    balance,
    recipe,
  }),
  // The second run's protocol on seeds 4-6, which no choice was made with in view (README).
  resultSet('token-seeds', 'paper-token-seeds456', 'Token task (setting B), third run: fresh seeds 4-6', {
    rl,
    'rl response length': length,
    balance,
    recipe,
  }),
  // The second and third runs pooled (`paper --merge`): six seeds, learning rates chosen over all of them.
  resultSet('token-pooled', 'paper-token-seeds1-6', 'Token task (setting B): seeds 1-6 pooled', {
    rl,
    'rl response length': length,
    balance,
    recipe,
  }),
  // The default run and the same protocol on seeds 4-6, pooled: six seeds, with the output-only probe.
  resultSet('rare-pooled', 'paper-seeds1-6', 'Regression (setting A): seeds 1-6 pooled', A),
  // Experiment 1 of the token setting: the first run's seeds 1-3 and a run on seeds 4-6, pooled.
  resultSet('token-sft-pooled', 'paper-token-sft-seeds1-6', 'Token task (setting B): SFT, seeds 1-6 pooled', { sft }),
  // The first run with experiment 3's short and long post-training budgets (--budgets 0.25,4, the
  // ninth session); the default run has them since the eleventh, with the same rows.
  resultSet('rare-budgets', 'paper-budgets', 'Regression (setting A): short and long post-training, first run', A),
  // The token setting's experiment 3 with the same budgets (seeds 1-3).
  resultSet('token-budgets', 'paper-token-budgets', 'Token task (setting B): balance with short and long post-training', {
    balance,
  }),
  // Setting B over twelve seeds (fresh seeds 7-12 added; three pools, as the sources' protocols differ per experiment).
  resultSet('token-sft-twelve', 'paper-token-sft-seeds1-12', 'Token task (setting B): SFT, seeds 1-12 pooled', { sft }),
  resultSet('token-rl-twelve', 'paper-token-seeds1-12', 'Token task (setting B): RL and the recipe, seeds 1-12 pooled', {
    rl,
    'rl response length': length,
    recipe,
  }),
  resultSet(
    'token-balance-twelve',
    'paper-token-balance-seeds1-12',
    'Token task (setting B): balance with the probe, seeds 1-12 pooled',
    { balance },
  ),
  // Twelve clean seeds: seed 1 (whose test set a diagnostic looked at) left out, fresh seed 13 added (--drop-seeds 1).
  resultSet('token-sft-clean', 'paper-token-sft-seeds2-13', 'Token task (setting B): SFT, seeds 2-13 pooled (seed 1 left out)', {
    sft,
  }),
  resultSet(
    'token-rl-clean',
    'paper-token-seeds2-13',
    'Token task (setting B): RL and the recipe, seeds 2-13 pooled (seed 1 left out)',
    { rl, 'rl response length': length, recipe },
  ),
  resultSet(
    'token-balance-clean',
    'paper-token-balance-seeds2-13',
    'Token task (setting B): balance with the probe, seeds 2-13 pooled (seed 1 left out)',
    { balance },
  ),
  // Every pretraining 3x as long (--pretrain-factor 3, seeds 2-4): comparable starts.
  resultSet('token-pretrain3x', 'paper-token-pretrain3x', 'Token task (setting B): three times the pretraining, seeds 2-4', B),
  // Experiments 1 and 2 from each seed's balanced snapshot nearest validation target error 0.5
  // (--pretrain-factor 3 --start-error 0.5, seeds 2-7): snapshots every 300 steps, then every 100.
  resultSet(
    'token-start50',
    'paper-token-start50',
    'Token task (setting B): SFT and RL from a half-learned start, seeds 2-7 (snapshots every 300 steps)',
    sftRl,
  ),
  resultSet(
    'token-start50-fine',
    'paper-token-start50-fine',
    'Token task (setting B): SFT and RL from a half-learned start, seeds 2-7 (snapshots every 100 steps)',
    sftRl,
  ),
  // The same on seeds 8-13, pooled with seeds 2-7 (paper --merge).
  resultSet(
    'token-start50-seeds2-13',
    'paper-token-start50-seeds2-13',
    'Token task (setting B): SFT and RL from a half-learned start, seeds 2-13 pooled',
    sftRl,
  ),
  // Experiment 1 from the same starts with hardest / easiest by the pretrained pass rate
  // (--sft-difficulty pass-rate), seeds 2-7 and 8-13, and the two pooled.
  resultSet(
    'token-start50-passrate',
    'paper-token-start50-passrate',
    'Token task (setting B): SFT from a half-learned start, hard by pass rate, seeds 2-7',
    { sft },
  ),
  resultSet(
    'token-start50-passrate-seeds8-13',
    'paper-token-start50-passrate-seeds8-13',
    'Token task (setting B): SFT from a half-learned start, hard by pass rate, seeds 8-13',
    { sft },
  ),
  resultSet(
    'token-start50-passrate-seeds2-13',
    'paper-token-start50-passrate-seeds2-13',
    'Token task (setting B): SFT from a half-learned start, hard by pass rate, seeds 2-13 pooled',
    { sft },
  ),
  // Experiments 1 and 2 from each seed's snapshot nearest validation target error 0.2 (--start-error 0.2,
  // seeds 2-7, then 8-13), the two pooled, and experiment 1 from the same starts with hard by pass rate
  // (seeds 2-7, 8-13, pooled).
  resultSet(
    'token-start20',
    'paper-token-start20',
    'Token task (setting B): SFT and RL from a mostly learned start, seeds 2-7',
    sftRl,
  ),
  resultSet(
    'token-start20-seeds8-13',
    'paper-token-start20-seeds8-13',
    'Token task (setting B): SFT and RL from a mostly learned start, seeds 8-13',
    sftRl,
  ),
  resultSet(
    'token-start20-seeds2-13',
    'paper-token-start20-seeds2-13',
    'Token task (setting B): SFT and RL from a mostly learned start, seeds 2-13 pooled',
    sftRl,
  ),
  resultSet(
    'token-start20-passrate',
    'paper-token-start20-passrate',
    'Token task (setting B): SFT from a mostly learned start, hard by pass rate, seeds 2-7',
    { sft },
  ),
  resultSet(
    'token-start20-passrate-seeds8-13',
    'paper-token-start20-passrate-seeds8-13',
    'Token task (setting B): SFT from a mostly learned start, hard by pass rate, seeds 8-13',
    { sft },
  ),
  resultSet(
    'token-start20-passrate-seeds2-13',
    'paper-token-start20-passrate-seeds2-13',
    'Token task (setting B): SFT from a mostly learned start, hard by pass rate, seeds 2-13 pooled',
    { sft },
  ),
];

/** Each plot's SVG text, fetched once (the promise is kept, so a redraw does not fetch again). */
const fetched = new Map<string, Promise<unknown>>();
function plot(key: string): Promise<unknown> {
  let p = fetched.get(key);
  if (!p) {
    p = PLOTS[key]().then(
      (svg) => unsafeSVG(svg),
      () => {
        fetched.delete(key); // the next redraw tries again
        return html`<span class="muted">this plot could not be loaded (offline?)</span>`;
      },
    );
    fetched.set(key, p);
  }
  return p;
}

@customElement('paper-results')
export class PaperResults extends LitElement {
  static override styles = [
    shared,
    css`
      .verdict {
        font-weight: 700;
        white-space: nowrap;
      }
      .v-confirmed {
        color: var(--good);
      }
      .v-not-confirmed {
        color: var(--bad);
      }
      .v-mixed {
        color: #8a5a00;
      }
      th,
      td {
        white-space: normal;
        text-align: left;
        vertical-align: top;
      }
      ul {
        margin: 0;
        padding-left: 1.1rem;
      }
      .plot svg {
        max-width: 100%;
        height: auto;
      }
      .targets {
        margin-bottom: 0.5rem;
      }
      button[aria-pressed='true'] {
        border-color: var(--accent);
        box-shadow: inset 0 -3px 0 var(--accent);
      }
    `,
  ];

  @state() private set = SETS[0].id;

  override render() {
    const s = SETS.find((x) => x.id === this.set) ?? SETS[0];
    return html`
      <p class="muted">
        The paper's claims tested at small scale with this project's kernels and scheduler (<code>npm run paper</code>; the
        rules are fixed in advance in <code>src/paper/verdicts.ts</code>). Preset ${s.meta.preset}, seeds
        ${s.meta.seeds.join(', ')}, ${s.meta.pooledFrom ? `pooled from ${s.meta.pooledFrom} runs of ` : ''}${s.meta.runs} training
        runs in ${(s.meta.seconds / 60).toFixed(0)} min.
      </p>
      <div class="row targets" role="group" aria-label="setting and post-training target">
        ${SETS.map(
          (x) => html`<button aria-pressed=${x.id === s.id ? 'true' : 'false'} @click=${() => (this.set = x.id)}>
            ${x.title}
          </button>`,
        )}
      </div>
      <div class="scroll">
        <table data-testid="paper-verdicts">
          <thead>
            <tr>
              <th scope="col">claim</th>
              <th scope="col">verdict</th>
              <th scope="col">criteria (✔ held, ✘ not)</th>
            </tr>
          </thead>
          <tbody>
            ${s.verdicts.map(
              (v) => html`<tr>
                <td title=${v.rule}>
                  ${v.claim}${Object.keys(s.settings).length > 1 ? html` <span class="muted">(${SETTING_LABEL[v.setting] ?? v.setting})</span>` : ''}
                </td>
                <td class="verdict v-${v.verdict.replace(/ /g, '-')}">${v.verdict}</td>
                <td>
                  <ul>
                    ${v.criteria.map((c) => html`<li>${c.held ? '✔' : '✘'} ${c.name}: <span class="muted">${c.detail}</span></li>`)}
                  </ul>
                  ${v.significance ? html`<p class="muted">Paired tests over seeds: ${v.significance}.</p>` : ''}
                </td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${Object.entries(s.settings).map(([k, v]) => html`<p class="muted"><strong>${k}</strong>: ${v}</p>`)}
      <details>
        <summary>Plots</summary>
        ${s.plots.map(
          ([k, key]) =>
            html`<figure class="plot" aria-label="${k} plot">${until(plot(key), html`<span class="muted">loading…</span>`)}</figure>`,
        )}
      </details>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'paper-results': PaperResults;
  }
}
