/**
 * The base of the panels that follow a run: holds the page's RunController (a property), subscribes
 * to it while connected, and hands each event to onEvent(). Not an element itself.
 */
import { LitElement, type PropertyValues } from 'lit';
import { property } from 'lit/decorators.js';
import type { ControllerEvent, RunController } from '../src/train/controller.ts';

export abstract class ControllerElement extends LitElement {
  @property({ attribute: false }) controller: RunController | undefined;
  private unsubscribe: (() => void) | undefined;

  /** Called for each event of the controller. */
  protected abstract onEvent(e: ControllerEvent): void;

  /** Called when a controller is attached (catch up with its current state here). */
  protected attached(_c: RunController): void {}

  override connectedCallback(): void {
    super.connectedCallback();
    this.subscribe();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('controller')) this.subscribe();
  }

  private subscribe(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const c = this.controller;
    if (!c || !this.isConnected) return;
    this.unsubscribe = c.subscribe((e) => this.onEvent(e));
    this.attached(c);
  }
}
