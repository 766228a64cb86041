/**
 * <run-compare>: finished runs, kept in the browser's storage (they survive a reload). Tick runs to
 * overlay their held-out curves and training loss (for example hard against random SFT); a table
 * gives each run's held-out number after each phase. Runs can be removed or downloaded.
 */
import { css, html, type PropertyValues } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { ControllerEvent, KeptRun, RunController } from '../src/train/controller.ts';
import { curves, heldOutValues, type Point } from '../src/train/curves.ts';
import { resultFiles } from '../src/train/results.ts';
import { ControllerElement } from './controller-element.ts';
import { download, fmt } from './format.ts';
import { lineChart } from './line-chart.ts';
import { charts, shared } from './styles.ts';

const label = (r: KeptRun, i: number) => `#${i + 1} ${r.name} (seed ${r.plan.seed})`;

@customElement('run-compare')
export class RunCompare extends ControllerElement {
  static override styles = [
    shared,
    charts,
    css`
      .charts {
        margin-top: 0.75rem;
      }
      td button {
        padding: 0.1rem 0.5rem;
      }
    `,
  ];

  @state() private runs: KeptRun[] = [];
  @state() private picked = new Set<string>();
  @state() private error = '';

  protected override attached(_c: RunController): void {
    void this.load();
  }

  protected override onEvent(e: ControllerEvent): void {
    if (e.type === 'state' && e.status.state === 'done') void this.load(true);
  }

  private async load(pickNewest = false): Promise<void> {
    try {
      const runs = (await this.controller?.keptRuns()) ?? [];
      const picked = new Set([...this.picked].filter((id) => runs.some((r) => r.id === id)));
      if (pickNewest && runs.length) picked.add(runs[runs.length - 1].id);
      if (this.runs.length === 0) for (const r of runs.slice(-4)) picked.add(r.id);
      this.runs = runs;
      this.picked = picked;
    } catch (e) {
      this.error = `The kept runs could not be read: ${(e as Error).message}`;
    }
  }

  private toggle(id: string, on: boolean): void {
    const next = new Set(this.picked);
    if (on) next.add(id);
    else next.delete(id);
    this.picked = next;
  }

  private async forget(id: string): Promise<void> {
    await this.controller?.forgetRun(id);
    await this.load();
  }

  private save(r: KeptRun, i: number): void {
    const files = resultFiles(r.log, r.adapter, r.phases);
    download(`run-${i + 1}-${r.name}-summary.json`, files['summary.json'], 'application/json');
  }

  protected override updated(changed: PropertyValues<this>): void {
    super.updated(changed);
    const chosen = this.runs.map((r, i) => ({ r, i })).filter(({ r }) => this.picked.has(r.id));
    const held: Point[] = [];
    const loss: Point[] = [];
    let heldLabel = 'held-out';
    for (const { r, i } of chosen) {
      const c = curves(r.plan, r.log);
      heldLabel = c.heldOutLabel;
      const series = label(r, i);
      held.push(...c.heldOut.filter((p) => p.series === 'all').map((p) => ({ ...p, series })));
      loss.push(...c.loss.map((p) => ({ ...p, series })));
    }
    for (const [id, points, y] of [
      ['held-out', held, heldLabel],
      ['loss', loss, 'training loss'],
    ] as const) {
      const box = this.renderRoot.querySelector<HTMLElement>(`[data-chart='${id}']`);
      if (!box) continue;
      box.replaceChildren();
      box.dataset.points = String(points.length);
      if (points.length) box.append(lineChart({ points, y, width: Math.max(280, box.clientWidth || 380), legend: true }));
    }
  }

  override render() {
    if (this.error) return html`<p class="error" role="alert">${this.error}</p>`;
    if (this.runs.length === 0) return html`<p class="muted">Finished runs are kept here (in this browser) to compare them.</p>`;
    const phaseNames = [...new Set(this.runs.flatMap((r) => r.phases.map((p) => p.name)))];
    return html`
      <div class="scroll">
        <table data-testid="compare-table">
          <thead>
            <tr>
              <th scope="col">show</th>
              <th scope="col">run</th>
              <th scope="col">held-out metric</th>
              ${phaseNames.map((n) => html`<th scope="col">after ${n}</th>`)}
              <th scope="col">finished</th>
              <th scope="col"><span class="muted">actions</span></th>
            </tr>
          </thead>
          <tbody>
            ${this.runs.map((r, i) => {
              const byName = new Map(r.phases.map((p) => [p.name, heldOutValues(p.metrics).values.all]));
              return html`<tr>
                <td>
                  <input
                    type="checkbox"
                    aria-label="show ${label(r, i)}"
                    .checked=${this.picked.has(r.id)}
                    @change=${(e: Event) => this.toggle(r.id, (e.target as HTMLInputElement).checked)}
                  />
                </td>
                <td>${label(r, i)}</td>
                <td class="muted">${r.phases[0] ? heldOutValues(r.phases[0].metrics).label : ''}</td>
                ${phaseNames.map((n) => html`<td>${fmt(byName.get(n))}</td>`)}
                <td class="muted">${new Date(r.finishedAt).toLocaleTimeString()}</td>
                <td>
                  <button aria-label="download ${label(r, i)}" @click=${() => this.save(r, i)}>summary.json</button>
                  <button aria-label="remove ${label(r, i)}" @click=${() => void this.forget(r.id)}>Remove</button>
                </td>
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
      <div class="charts">
        <figure data-testid="compare-held-out"><figcaption>Held-out, overlaid</figcaption><div data-chart="held-out"></div></figure>
        <figure data-testid="compare-loss"><figcaption>Training loss, overlaid</figcaption><div data-chart="loss"></div></figure>
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'run-compare': RunCompare;
  }
}
