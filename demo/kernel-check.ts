/**
 * <kernel-check>: acquires a Runtime on this browser's WebGPU and says which adapter it got, or,
 * when WebGPU is missing, a plain message that says what to do.
 */
import { css, html, LitElement } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { describeAdapter } from '../src/device/index.ts';
import { Runtime } from '../src/gpu/runtime.ts';

type Status = { kind: 'loading' } | { kind: 'ready'; runtime: Runtime } | { kind: 'error'; message: string };

@customElement('kernel-check')
export class KernelCheck extends LitElement {
  static override styles = css`
    :host {
      display: block;
    }
    .error {
      color: #a00;
      white-space: pre-wrap;
    }
    code {
      font-size: 0.95em;
    }
  `;

  @state() private status: Status = { kind: 'loading' };

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.status.kind === 'loading') void this.acquire();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.status.kind === 'ready') this.status.runtime.destroy();
    this.status = { kind: 'loading' };
  }

  private async acquire(): Promise<void> {
    try {
      const runtime = await Runtime.create();
      if (!this.isConnected) {
        runtime.destroy();
        return;
      }
      this.status = { kind: 'ready', runtime };
    } catch (err) {
      this.status = { kind: 'error', message: err instanceof Error ? err.message : String(err) };
    }
  }

  override render() {
    const s = this.status;
    if (s.kind === 'loading') return html`<p>Looking for a WebGPU adapter…</p>`;
    if (s.kind === 'error') return html`<p class="error" role="alert">${s.message}</p>`;
    const { report, limits } = s.runtime;
    return html`
      <p data-testid="adapter"><code>${describeAdapter(report)}</code></p>
      <ul>
        <li>features: ${report.features.join(', ') || 'none'}</li>
        <li>max storage buffer binding: ${(limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB</li>
        <li>max invocations per workgroup: ${limits.maxComputeInvocationsPerWorkgroup}</li>
      </ul>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'kernel-check': KernelCheck;
  }
}
