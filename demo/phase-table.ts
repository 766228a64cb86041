/**
 * <phase-table>: the held-out metrics after each phase of the current run (and on the validation
 * split when the plan has one), and downloads of the run's results in the command line's format
 * (metrics.jsonl, selections.json, summary.json, metrics.csv).
 */
import { html } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { ControllerEvent, RunController } from '../src/train/controller.ts';
import { resultFiles } from '../src/train/results.ts';
import type { RunEvent } from '../src/train/scheduler.ts';
import { phasesOf } from '../src/train/curves.ts';
import { headline } from '../src/train/suite.ts';
import { ControllerElement } from './controller-element.ts';
import { download, fmt } from './format.ts';
import { shared } from './styles.ts';

const TYPES: Record<string, string> = {
  'metrics.jsonl': 'application/x-ndjson',
  'selections.json': 'application/json',
  'summary.json': 'application/json',
  'metrics.csv': 'text/csv',
};

@customElement('phase-table')
export class PhaseTable extends ControllerElement {
  static override styles = shared;
  @state() private log: RunEvent[] = [];

  protected override attached(c: RunController): void {
    this.log = [...c.events];
  }

  protected override onEvent(e: ControllerEvent): void {
    if (e.type === 'log-reset') this.log = [...e.log];
    else if (e.type === 'run') {
      // The log grows by one event per logged step: append in place, and redraw only when what is
      // shown changes (a phase ends, or the first event enables the downloads).
      this.log.push(e.event);
      if (e.event.type === 'phase-end' || this.log.length === 1) this.requestUpdate();
    }
  }

  private download(name: keyof typeof TYPES): void {
    const c = this.controller;
    if (!c?.adapter) return;
    const files = resultFiles(this.log, c.adapter, phasesOf(this.log));
    download(name, files[name as keyof typeof files], TYPES[name]);
  }

  override render() {
    const phases = phasesOf(this.log);
    const rows = phases.flatMap((p) => [
      { name: p.name, values: headline(p.metrics) },
      ...(p.validation ? [{ name: `${p.name} (validation)`, values: headline(p.validation) }] : []),
    ]);
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
    return html`
      ${
        rows.length
          ? html`<div class="scroll">
              <table data-testid="phase-table">
                <thead>
                  <tr>
                    <th scope="col">after phase</th>
                    ${columns.map((c) => html`<th scope="col">${c}</th>`)}
                  </tr>
                </thead>
                <tbody>
                  ${rows.map(
                    (r) => html`<tr>
                      <th scope="row">${r.name}</th>
                      ${columns.map((c) => html`<td>${fmt(r.values[c])}</td>`)}
                    </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
          : html`<p class="muted">The held-out metrics appear here as each phase ends.</p>`
      }
      <div class="row" style="margin-top: 0.5rem" role="group" aria-label="download results">
        <span class="muted">Download (the command line's format):</span>
        ${Object.keys(TYPES).map(
          (name) =>
            html`<button data-testid="download-${name}" ?disabled=${this.log.length === 0} @click=${() => this.download(name)}>
              ${name}
            </button>`,
        )}
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'phase-table': PhaseTable;
  }
}
