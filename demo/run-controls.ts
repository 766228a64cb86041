/**
 * <run-controls>: run, pause, resume and stop; the run's state in words; a progress bar per phase
 * (steps done, pace, time left); the curated selections; and a run saved before a reload (or a stop),
 * which can be resumed or discarded.
 */
import { css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { ControllerEvent, RunController, RunState, SavedRun } from '../src/train/controller.ts';
import type { Plan, PlanInput } from '../src/train/plan.ts';
import type { RunEvent } from '../src/train/scheduler.ts';
import { ControllerElement } from './controller-element.ts';
import { shared } from './styles.ts';

interface Progress {
  name: string;
  kind: string;
  steps: number;
  done: number;
  /** When the phase's first step of this session was seen, and at which step (for the pace). */
  since?: { at: number; step: number };
}

const describe = (s: RunState): string => {
  switch (s.state) {
    case 'idle':
      return 'Ready.';
    case 'running':
      return 'Running…';
    case 'pausing':
      return 'Pausing after this step (saving a checkpoint)…';
    case 'stopping':
      return 'Stopping after this step (saving a checkpoint)…';
    case 'paused':
      return `Paused in ${s.phase} before step ${s.step + 1}${s.saved ? '; checkpoint saved' : ''}.`;
    case 'stopped':
      return `Stopped in ${s.phase} before step ${s.step + 1}; checkpoint saved: resume continues from there.`;
    case 'recovering':
      return s.message;
    case 'done':
      return 'Done: all phases finished.';
    case 'failed':
      return `Failed: ${s.message}${s.resumable ? ' Resume continues from the last checkpoint.' : ''}`;
  }
};

@customElement('run-controls')
export class RunControls extends ControllerElement {
  static override styles = [
    shared,
    css`
      .phases {
        display: grid;
        grid-template-columns: max-content minmax(6rem, 1fr) max-content;
        gap: 0.3rem 0.75rem;
        align-items: center;
        margin: 0.75rem 0 0.25rem;
      }
      progress {
        width: 100%;
        height: 0.9rem;
      }
      .saved {
        background: var(--bg-soft);
        border-radius: 6px;
        padding: 0.5rem 0.75rem;
        margin: 0.5rem 0;
      }
      [data-state='failed'],
      [data-state='recovering'] {
        color: var(--bad);
      }
      [data-state='done'] {
        color: var(--good);
      }
      ul {
        margin: 0.25rem 0;
        padding-left: 1.2rem;
      }
    `,
  ];

  /** The plan from the form (undefined while it is invalid). */
  @property({ attribute: false }) plan: PlanInput | undefined;
  @state() private status: RunState = { state: 'idle' };
  @state() private progress: Progress[] = [];
  @state() private selections: string[] = [];
  @state() private saved: SavedRun | undefined;
  @state() private savedError = '';
  @state() private error = '';

  protected override attached(c: RunController): void {
    this.status = c.status;
    if (c.currentPlan) this.reset(c.currentPlan, c.events);
    void this.refreshSaved();
  }

  protected override onEvent(e: ControllerEvent): void {
    if (e.type === 'state') {
      this.status = e.status;
      if (!this.controller?.busy) void this.refreshSaved();
    } else if (e.type === 'log-reset') {
      this.reset(e.plan, e.log);
    } else this.follow(e.event);
  }

  private reset(plan: Plan, log: readonly RunEvent[]): void {
    this.progress = plan.phases.map((p) => ({ name: p.name, kind: p.kind, steps: p.steps, done: 0 }));
    this.selections = [];
    for (const ev of log) this.follow(ev, false);
  }

  private follow(e: RunEvent, live = true): void {
    if (e.type === 'step' || e.type === 'phase-end') {
      const i = this.progress.findIndex((p) => p.name === e.phase);
      if (i < 0) return;
      const p = { ...this.progress[i] };
      p.done = e.type === 'step' ? e.step : p.steps;
      if (live && e.type === 'step' && !p.since) p.since = { at: performance.now(), step: e.step };
      this.progress = this.progress.map((q, j) => (j === i ? p : q));
    } else if (e.type === 'selection') {
      this.selections = [
        ...this.selections.filter((s) => !s.startsWith(`${e.phase}:`)),
        `${e.phase}: ${e.ids.length} of a pool of ${e.pool}, by rule ${e.rule}`,
      ];
    }
  }

  private async refreshSaved(): Promise<void> {
    const c = this.controller;
    if (!c) return;
    try {
      this.saved = await c.saved();
      this.savedError = '';
    } catch (e) {
      this.saved = undefined;
      this.savedError = (e as Error).message;
    }
  }

  private async discard(): Promise<void> {
    await this.controller?.discardSaved();
    await this.refreshSaved();
  }

  private act(fn: () => Promise<void> | void): void {
    this.error = '';
    Promise.resolve()
      .then(fn)
      .catch((e) => {
        this.error = (e as Error).message;
      });
  }

  private pace(p: Progress): string {
    if (!p.since || p.done <= p.since.step || p.done >= p.steps) return '';
    const perStep = (performance.now() - p.since.at) / (p.done - p.since.step);
    const left = ((p.steps - p.done) * perStep) / 1000;
    return ` · ${(1000 / perStep).toFixed(1)} steps/s · ${left < 60 ? `${left.toFixed(0)} s` : `${(left / 60).toFixed(1)} min`} left`;
  }

  override render() {
    const c = this.controller;
    const s = this.status.state;
    const busy = c?.busy ?? false;
    const canResume = s === 'paused' || (!busy && this.saved !== undefined);
    const savedPhase = this.saved ? (this.saved.plan.phases[this.saved.phase]?.name ?? 'the end') : '';
    return html`
      <div class="row" role="group" aria-label="run controls">
        <button
          class="primary"
          data-testid="run"
          ?disabled=${busy || !this.plan}
          title=${this.plan ? 'Start a new run of this plan' : 'The plan has errors: see the messages beside its fields'}
          @click=${() => this.act(() => c?.start(this.plan))}
        >
          Run
        </button>
        <button data-testid="pause" ?disabled=${s !== 'running'} @click=${() => c?.pause()}>Pause</button>
        <button data-testid="resume" ?disabled=${!canResume} @click=${() => this.act(() => c?.resume())}>Resume</button>
        <button data-testid="stop" ?disabled=${!['running', 'pausing', 'paused'].includes(s)} @click=${() => c?.stop()}>Stop</button>
      </div>
      <p role="status" aria-live="polite" data-testid="status" data-state=${s}>${describe(this.status)}</p>
      ${this.error ? html`<p class="error" role="alert" data-testid="run-error">${this.error}</p>` : ''}
      ${
        !busy && this.saved && s !== 'paused'
          ? html`<div class="saved" data-testid="saved-run">
              A saved run: <strong>${this.saved.plan.name}</strong>, checkpoint in phase ${savedPhase} at step
              ${this.saved.step} (${this.saved.globalStep} steps done). Resume continues it; Run starts this plan afresh.
              <button data-testid="discard" @click=${() => this.act(() => this.discard())}>
                Discard it
              </button>
            </div>`
          : ''
      }
      ${this.savedError ? html`<p class="error" role="alert">${this.savedError} <button @click=${() => this.act(() => this.discard())}>Discard it</button></p>` : ''}
      ${
        this.progress.length
          ? html`<div class="phases" data-testid="progress">
              ${this.progress.map(
                (p) => html`
                  <label for="p-${p.name}">${p.name} <span class="muted">(${p.kind})</span></label>
                  <progress id="p-${p.name}" max=${p.steps} .value=${p.done}></progress>
                  <span class="muted">${p.done}/${p.steps}${this.pace(p)}</span>
                `,
              )}
            </div>`
          : ''
      }
      ${this.selections.length ? html`<ul class="muted" aria-label="curated selections">${this.selections.map((x) => html`<li>${x}</li>`)}</ul>` : ''}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'run-controls': RunControls;
  }
}
