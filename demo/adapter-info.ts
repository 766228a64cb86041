/** <adapter-info>: the adapter in use (vendor, architecture, fallback or not), updated after a device loss. */
import { html } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { type AdapterReport, describeAdapter } from '../src/device/index.ts';
import type { ControllerEvent, RunController } from '../src/train/controller.ts';
import { ControllerElement } from './controller-element.ts';
import { shared } from './styles.ts';

@customElement('adapter-info')
export class AdapterInfo extends ControllerElement {
  static override styles = shared;
  @state() private report: AdapterReport | undefined;

  protected override attached(c: RunController): void {
    this.report = c.adapter;
  }

  protected override onEvent(_e: ControllerEvent): void {
    if (this.controller?.adapter !== this.report) this.report = this.controller?.adapter;
  }

  override render() {
    const r = this.report;
    if (!r) return html``;
    return html`<p data-testid="adapter">
      <code>${describeAdapter(r)}</code>
      ${r.isFallbackAdapter ? html`<br /><span class="muted">A CPU adapter: training works, slowly; a GPU is many times faster.</span>` : ''}
    </p>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'adapter-info': AdapterInfo;
  }
}
