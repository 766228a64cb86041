/**
 * <train-app>: the page. Opens the checkpoint store (IndexedDB), makes the one RunController (which
 * acquires this browser's WebGPU device), and lays out the panels; each panel subscribes to the
 * controller itself. Without WebGPU it says so plainly and what to use instead.
 */
import { css, html, LitElement } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { storedTunings, useTuning } from '../src/bench/tune.ts';
import { NoWebGPUError } from '../src/device/errors.ts';
import { Runtime } from '../src/gpu/runtime.ts';
import { RunController } from '../src/train/controller.ts';
import type { PlanInput } from '../src/train/plan.ts';
import { type CheckpointStore, indexedDbStore, memoryStore } from '../src/train/store.ts';
import { shared } from './styles.ts';
import './adapter-info.ts';
import './kernel-panel.ts';
import './paper-results.ts';
import './phase-table.ts';
import './plan-form.ts';
import './run-charts.ts';
import './run-compare.ts';
import './run-controls.ts';

type Gpu = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string; noWebGPU: boolean };

@customElement('train-app')
export class TrainApp extends LitElement {
  static override styles = [
    shared,
    css`
      :host {
        max-width: 1400px;
        margin: 0 auto;
        padding: 1rem;
      }
      header {
        display: flex;
        flex-wrap: wrap;
        justify-content: space-between;
        align-items: baseline;
        gap: 0.5rem 2rem;
        border-bottom: 1px solid var(--line);
        margin-bottom: 1rem;
      }
      h1 {
        font-size: 1.4rem;
        margin: 0 0 0.25rem;
      }
      .layout {
        display: grid;
        grid-template-columns: minmax(280px, 380px) minmax(0, 1fr);
        gap: 1rem;
        align-items: start;
      }
      .layout > * {
        min-width: 0;
      }
      section {
        border: 1px solid var(--line);
        border-radius: 8px;
        padding: 0.75rem 1rem;
        margin-bottom: 1rem;
        background: white;
      }
      .notice {
        border: 2px solid var(--bad);
        border-radius: 8px;
        padding: 1rem;
      }
      @media (max-width: 860px) {
        .layout {
          grid-template-columns: minmax(0, 1fr);
        }
        :host {
          padding: 0.5rem;
        }
      }
    `,
  ];

  @state() private gpu: Gpu = { kind: 'loading' };
  @state() private plan: PlanInput | undefined;
  @state() private storeNote = '';
  private controller: RunController | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.controller) void this.init();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.controller?.destroy();
    this.controller = undefined;
  }

  private async init(): Promise<void> {
    let store: CheckpointStore;
    try {
      store = await indexedDbStore();
    } catch (e) {
      store = memoryStore();
      this.storeNote = `Checkpoints are kept in memory only (${(e as Error).message}): a reload loses the run.`;
    }
    const controller = new RunController({
      store,
      keepFinished: true,
      checkpointEvery: 20,
      logEvery: 5,
      // Every device (the first, and one acquired after a loss) uses this adapter's matmul tuning.
      acquire: async () => {
        const rt = await Runtime.create();
        if (typeof localStorage !== 'undefined') useTuning(rt, storedTunings(localStorage));
        return rt;
      },
    });
    this.controller = controller;
    try {
      await controller.runtime();
      // A run saved before a reload: its charts, progress and table are shown until it is resumed.
      await controller.showSaved().catch(() => undefined);
      this.gpu = { kind: 'ready' };
    } catch (e) {
      this.gpu = { kind: 'error', message: (e as Error).message, noWebGPU: e instanceof NoWebGPUError };
    }
  }

  override render() {
    return html`
      <header>
        <div>
          <h1>webgpu-train</h1>
          <p class="muted">
            Pretraining, SFT and RL of small models with hand-written WGSL kernels, in this browser. The same plans and
            scheduler as <code>npm start</code> in Node.
          </p>
        </div>
        ${this.gpu.kind === 'ready' && this.controller ? html`<adapter-info .controller=${this.controller}></adapter-info>` : ''}
      </header>
      ${this.body()}
    `;
  }

  private body() {
    const g = this.gpu;
    if (g.kind === 'loading') return html`<p role="status">Looking for a WebGPU adapter…</p>`;
    if (g.kind === 'error') {
      return html`<div class="notice" role="alert" data-testid="no-webgpu">
        <h2>${g.noWebGPU ? 'WebGPU is not available here' : 'The GPU could not be started'}</h2>
        <p>${g.message}</p>
        <p class="muted">
          Everything on this page also runs headless in Node: <code>npm install && npm start</code> runs the recipe,
          <code>npm run cli -- run --plan FILE</code> runs any plan, and <code>npm run bench</code> benchmarks the kernels.
        </p>
      </div>`;
    }
    const c = this.controller as RunController;
    return html`
      ${this.storeNote ? html`<p class="error" role="alert">${this.storeNote}</p>` : ''}
      <div class="layout">
        <section aria-labelledby="plan-h">
          <h2 id="plan-h">Plan</h2>
          <plan-form @plan-change=${(e: CustomEvent<{ plan?: PlanInput }>) => (this.plan = e.detail.plan)}></plan-form>
        </section>
        <div>
          <section aria-labelledby="run-h">
            <h2 id="run-h">Run</h2>
            <run-controls .controller=${c} .plan=${this.plan}></run-controls>
          </section>
          <section aria-labelledby="charts-h">
            <h2 id="charts-h">Live charts</h2>
            <run-charts .controller=${c}></run-charts>
          </section>
          <section aria-labelledby="table-h">
            <h2 id="table-h">Metrics after each phase</h2>
            <phase-table .controller=${c}></phase-table>
          </section>
        </div>
      </div>
      <section aria-labelledby="compare-h">
        <h2 id="compare-h">Compare finished runs</h2>
        <run-compare .controller=${c}></run-compare>
      </section>
      <section aria-labelledby="paper-h">
        <h2 id="paper-h">The paper's claims: what reproduces here</h2>
        <paper-results></paper-results>
      </section>
      <section aria-labelledby="kernels-h">
        <h2 id="kernels-h">Kernels on this adapter</h2>
        <kernel-panel .controller=${c}></kernel-panel>
      </section>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'train-app': TrainApp;
  }
}
