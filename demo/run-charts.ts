/**
 * <run-charts>: live charts of the current run: training loss, held-out error or accuracy (overall
 * and per domain), mean reward (RL) and response length (token task), each against the global step
 * with the phase boundaries marked. Redrawn at most a few times a second while a run goes on.
 */
import { css, html, type PropertyValues } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { ControllerEvent, RunController } from '../src/train/controller.ts';
import { type Curves, curves, type Point } from '../src/train/curves.ts';
import type { Plan } from '../src/train/plan.ts';
import type { RunEvent } from '../src/train/scheduler.ts';
import { ControllerElement } from './controller-element.ts';
import { lineChart } from './line-chart.ts';
import { charts, shared } from './styles.ts';

const REDRAW_MS = 300;

interface Panel {
  id: 'loss' | 'held-out' | 'reward' | 'length';
  title: string;
  y: string;
  points: (c: Curves) => Point[];
  legend?: boolean;
  /** Why the panel is empty for this plan, when it can never fill. */
  never?: (plan: Plan) => string | undefined;
}

const PANELS: Panel[] = [
  { id: 'loss', title: 'Training loss (pretraining, SFT)', y: 'loss', points: (c) => c.loss },
  { id: 'held-out', title: 'Held-out', y: 'held-out', points: (c) => c.heldOut, legend: true },
  {
    id: 'reward',
    title: 'Mean reward (RL)',
    y: 'reward',
    points: (c) => c.reward,
    never: (p) => (p.phases.some((ph) => ph.kind === 'rl') ? undefined : 'This plan has no RL phase.'),
  },
  {
    id: 'length',
    title: 'Response length (tokens beyond the shortest correct chain)',
    y: 'excess tokens',
    points: (c) => c.length,
    never: (p) =>
      p.task.kind === 'pointer'
        ? undefined
        : 'The regression model answers with one vector: response length applies to the token task.',
  },
];

@customElement('run-charts')
export class RunCharts extends ControllerElement {
  static override styles = [
    shared,
    charts,
    css`
      .chart {
        min-height: 2rem;
      }
    `,
  ];

  @state() private plan: Plan | undefined;
  @state() private version = 0;
  private log: RunEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly resize = new ResizeObserver(() => this.redrawSoon());

  protected override attached(c: RunController): void {
    this.plan = c.currentPlan;
    this.log = [...c.events];
    this.redrawSoon();
  }

  protected override onEvent(e: ControllerEvent): void {
    if (e.type === 'log-reset') {
      this.plan = e.plan;
      this.log = [...e.log];
      this.redrawSoon();
    } else if (e.type === 'run' && ['step', 'eval', 'phase-start'].includes(e.event.type)) {
      this.log.push(e.event);
      this.redrawSoon();
    }
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.resize.observe(this);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resize.disconnect();
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private redrawSoon(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.version++;
    }, REDRAW_MS);
  }

  protected override updated(changed: PropertyValues<this>): void {
    super.updated(changed);
    const plan = this.plan;
    if (!plan) return;
    const c = curves(plan, this.log);
    for (const panel of PANELS) {
      const box = this.renderRoot.querySelector<HTMLElement>(`[data-chart='${panel.id}']`);
      if (!box) continue;
      const points = panel.points(c);
      const never = panel.never?.(plan);
      box.replaceChildren();
      box.dataset.points = String(points.length);
      if (points.length === 0) {
        const p = document.createElement('p');
        p.className = 'muted';
        p.textContent = never ?? 'No values yet.';
        box.append(p);
        continue;
      }
      const y = panel.id === 'held-out' ? c.heldOutLabel : panel.y;
      box.append(
        lineChart({ points, boundaries: c.boundaries, y, width: Math.max(260, box.clientWidth || 340), legend: panel.legend }),
      );
    }
  }

  override render() {
    if (!this.plan) return html`<p class="muted">Run a plan to see its curves here.</p>`;
    // `version` changes on every redraw; the charts themselves are drawn in updated().
    return html`<div class="charts" data-version=${this.version}>
      ${PANELS.map(
        (p) => html`<figure data-testid="chart-${p.id}">
          <figcaption>${p.title}</figcaption>
          <div class="chart" data-chart=${p.id}></div>
        </figure>`,
      )}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'run-charts': RunCharts;
  }
}
