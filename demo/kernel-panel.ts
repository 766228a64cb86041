/**
 * <kernel-panel>: every kernel of the registry run in this browser against its CPU reference (the
 * error per kernel and output), and the quick benchmark (`npm run bench -- --quick`'s suite: GFLOP/s
 * or GB/s per kernel and variant, a training step per model preset and generation in items/s, ours
 * against the CPU reference and tfjs-backend-webgpu on the same device) on this adapter (with
 * `?bench=smoke` in the address: the same suite at tiny shapes, a check of its plumbing in
 * seconds); and the matmul tuner, whose choices (kept in this browser) the training path then
 * uses. Waits while a run is going on: the two would share the device and skew the timings.
 */
import { css, html } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { type BenchResult, ratioSummary, runSuite } from '../src/bench/suite.ts';
import { adapterKey, applyTuning, storedTunings, storeTuning, type Tuning, tuneKernels } from '../src/bench/tune.ts';
import { kernels } from '../src/kernels/registry.ts';
import { type CheckResult, checkKernel } from '../src/kernels/run.ts';
import type { ControllerEvent, RunController } from '../src/train/controller.ts';
import { ControllerElement } from './controller-element.ts';
import { fmt } from './format.ts';
import { shared } from './styles.ts';

type Row = { kernel: string; dims: string; result?: CheckResult; error?: string };

const dimsOf = (d: Record<string, number>) =>
  Object.entries(d)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

@customElement('kernel-panel')
export class KernelPanel extends ControllerElement {
  static override styles = [
    shared,
    css`
      .bad {
        color: var(--bad);
        font-weight: 600;
      }
      details {
        margin-top: 0.5rem;
      }
    `,
  ];

  @state() private busy = false;
  @state() private runBusy = false;
  @state() private checks: Row[] = [];
  @state() private bench: BenchResult[] = [];
  @state() private note = '';
  @state() private tuning: Tuning | undefined;

  protected override attached(c: RunController): void {
    this.runBusy = c.busy;
    void c.runtime().then(
      (rt) => {
        // The app already uses this tuning on every device it acquires: here it is only shown.
        if (typeof localStorage !== 'undefined') this.tuning = storedTunings(localStorage)[adapterKey(rt.report)];
      },
      () => {},
    );
  }

  private async tune(): Promise<void> {
    const c = this.controller;
    if (!c || this.busy) return;
    this.busy = true;
    try {
      const rt = await c.runtime();
      this.note = 'tuning matmul and softmax: every variant per shape class, checked, then timed…';
      const t = await tuneKernels(rt, { log: (line) => (this.note = line) });
      if (typeof localStorage !== 'undefined') storeTuning(localStorage, t);
      applyTuning(rt, t);
      this.tuning = t;
      this.note = 'Tuned: training on this adapter now uses these variants (kept in this browser).';
    } catch (e) {
      this.note = (e as Error).message;
    } finally {
      this.busy = false;
    }
  }

  private tuningTable() {
    const t = this.tuning;
    if (!t) return html`<p class="muted">Matmul and softmax variants: the adapter's defaults (not tuned in this browser).</p>`;
    const rows = [
      ...Object.entries(t.measured).map(([cls, m]) => ({
        cls: `matmul ${cls}`,
        m,
        chosen: t.matmul[cls as keyof typeof t.matmul],
      })),
      ...Object.entries(t.measuredSoftmax ?? {}).map(([cls, m]) => ({
        cls: `softmax ${cls}`,
        m,
        chosen: t.softmax?.[cls as keyof NonNullable<typeof t.softmax>],
      })),
    ];
    return html`<div class="scroll">
      <table data-testid="tuning-table">
        <caption class="muted">Variant per shape class, tuned ${t.tunedAt.slice(0, 10)} (ms per call; – differed from the reference)</caption>
        <thead>
          <tr>
            <th scope="col">class</th>
            <th scope="col">problem timed</th>
            <th scope="col">chosen</th>
            <th scope="col">timings</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            ({ cls, m, chosen }) => html`<tr>
              <td>${cls}</td>
              <td class="muted">${m?.shape}</td>
              <td>${chosen ?? '–'}</td>
              <td class="muted">${Object.entries(m?.ms ?? {})
                .map(([v, ms]) => `${v} ${ms === null || ms === undefined ? '–' : ms.toFixed(1)}`)
                .join(', ')}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>`;
  }

  protected override onEvent(e: ControllerEvent): void {
    if (e.type === 'state') this.runBusy = this.controller?.busy ?? false;
  }

  private async checkAll(): Promise<void> {
    const c = this.controller;
    if (!c || this.busy) return;
    this.busy = true;
    this.checks = kernels.map((k) => ({ kernel: k.name, dims: dimsOf(k.checkDims) }));
    this.note = '';
    try {
      const rt = await c.runtime();
      for (const [i, entry] of kernels.entries()) {
        this.note = `checking ${entry.name} (${i + 1} of ${kernels.length})…`;
        let row: Row;
        try {
          row = { ...this.checks[i], result: await checkKernel(rt, entry, entry.checkDims) };
        } catch (e) {
          row = { ...this.checks[i], error: (e as Error).message };
        }
        this.checks = this.checks.map((r, j) => (j === i ? row : r));
      }
      const bad = this.checks.filter((r) => !r.result?.ok).length;
      this.note = bad
        ? `${bad} of ${kernels.length} kernels differ from the CPU reference.`
        : `All ${kernels.length} kernels match the CPU reference.`;
    } catch (e) {
      this.note = (e as Error).message;
    } finally {
      this.busy = false;
    }
  }

  private async benchmark(): Promise<void> {
    const c = this.controller;
    if (!c || this.busy) return;
    this.busy = true;
    this.bench = [];
    try {
      const rt = await c.runtime();
      this.note = 'benchmarking (a few seconds per figure)…';
      const smoke = new URLSearchParams(globalThis.location?.search ?? '').get('bench') === 'smoke';
      this.bench = await runSuite(rt, {
        repeats: 5,
        quick: true,
        train: true,
        smoke,
        budgetSeconds: 1.5,
        log: (line) => (this.note = line),
      });
      this.note =
        'Benchmark done: wall clock from the first dispatch to the completed submission (no readback), the same for ours and tfjs; median of the repeats.';
    } catch (e) {
      this.note = (e as Error).message;
    } finally {
      this.busy = false;
    }
  }

  private checkTable() {
    return html`<div class="scroll">
      <table data-testid="kernel-table">
        <thead>
          <tr>
            <th scope="col">kernel</th>
            <th scope="col">sizes</th>
            <th scope="col">max abs error</th>
            <th scope="col">max rel error</th>
            <th scope="col">vs CPU reference</th>
          </tr>
        </thead>
        <tbody>
          ${this.checks.map((r) => {
            const outs = r.result ? Object.values(r.result.outputs) : [];
            const abs = outs.length ? Math.max(...outs.map((o) => o.maxAbsError)) : undefined;
            const rel = outs.length ? Math.max(...outs.map((o) => o.maxRelError)) : undefined;
            const verdict = r.error
              ? html`<span class="bad" title=${r.error}>error</span>`
              : !r.result
                ? html`<span class="muted">…</span>`
                : r.result.ok
                  ? html`<span class="ok">within tolerance</span>`
                  : html`<span class="bad">differs</span>`;
            return html`<tr data-ok=${r.result?.ok ? 'true' : r.result || r.error ? 'false' : ''}>
              <td>${r.kernel}</td>
              <td class="muted">${r.dims}</td>
              <td>${fmt(abs)}</td>
              <td>${fmt(rel)}</td>
              <td>${verdict}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>`;
  }

  private benchTable() {
    return html`<div class="scroll">
      <table data-testid="bench-table">
        <thead>
          <tr>
            <th scope="col">kernel</th>
            <th scope="col">implementation</th>
            <th scope="col">shape</th>
            <th scope="col">median ms</th>
            <th scope="col" title="GPU time of one call from timestamp queries, where the adapter has them">GPU ms</th>
            <th scope="col">GFLOP/s</th>
            <th scope="col">GB/s</th>
            <th scope="col">items/s</th>
            <th scope="col">correct</th>
          </tr>
        </thead>
        <tbody>
          ${this.bench.map(
            (b) => html`<tr>
              <td>${b.kernel}</td>
              <td>
                ${b.impl === 'ours' ? `ours (${b.variant}${b.default ? ', in use' : ''})` : b.impl === 'tfjs-webgpu' ? `tfjs-backend-webgpu ${b.variant}` : `CPU reference (${b.variant})`}
              </td>
              <td class="muted">${b.shape}</td>
              <td>${fmt(b.median_ms)}</td>
              <td>${b.gpu_ms === undefined ? '' : fmt(b.gpu_ms)}</td>
              <td>${b.gflops === undefined ? '' : b.gflops.toFixed(2)}</td>
              <td>${b.gbps === undefined ? '' : b.gbps.toFixed(2)}</td>
              <td>${b.items_per_s === undefined ? '' : `${fmt(b.items_per_s)} ${b.items ?? ''}`}</td>
              <td>${b.correct === undefined ? '' : b.correct ? 'yes' : html`<span class="bad">no</span>`}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    <ul data-testid="bench-ratios">
      ${ratioSummary(this.bench).map((l) => html`<li>${l}</li>`)}
    </ul>`;
  }

  override render() {
    const disabled = this.busy || this.runBusy;
    return html`
      <div class="row">
        <button data-testid="check-kernels" ?disabled=${disabled} @click=${() => void this.checkAll()}>
          Check every kernel against the CPU reference
        </button>
        <button data-testid="bench" ?disabled=${disabled} @click=${() => void this.benchmark()}>Quick benchmark</button>
        <button data-testid="tune" ?disabled=${disabled} @click=${() => void this.tune()}>Tune matmul and softmax for this adapter</button>
        ${this.runBusy ? html`<span class="muted">(waits while a run is going on)</span>` : ''}
      </div>
      <p role="status" aria-live="polite" class="muted" data-testid="kernel-note">${this.note}</p>
      ${this.checks.length ? this.checkTable() : ''} ${this.bench.length ? this.benchTable() : ''} ${this.tuningTable()}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'kernel-panel': KernelPanel;
  }
}
