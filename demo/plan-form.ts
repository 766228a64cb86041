/**
 * <plan-form>: pick a preset plan, change its knobs (seed, model, each phase's steps and learning
 * rate, the pretraining mixture, SFT size and selection rule, RL data size and difficulty band), or
 * edit the whole plan as JSON. Every change is validated with the scheduler's own plan schema; a
 * message appears beside the field it concerns. Fires `plan-change` with the plan (undefined while
 * it is invalid). `?preset=ID` in the address picks the preset.
 */
import { css, html, LitElement } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { domainNames, type PlanInput, PlanError, parsePlan } from '../src/train/plan.ts';
import { findPreset, MODEL_CHOICES, PLAN_PRESETS } from '../src/train/presets.ts';
import { shared } from './styles.ts';

type Key = string | number;

interface Knob {
  path: string;
  label: string;
  kind: 'int' | 'number' | 'select';
  options?: { value: string; label: string }[];
  hint?: string;
}

interface Group {
  title: string;
  knobs: Knob[];
}

function keysOf(path: string): Key[] {
  return path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter(Boolean)
    .map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

function getAt(obj: unknown, path: string): unknown {
  let v = obj as Record<Key, unknown> | undefined;
  for (const k of keysOf(path)) v = v?.[k] as Record<Key, unknown> | undefined;
  return v;
}

function setAt(obj: Record<Key, unknown>, path: string, value: unknown): void {
  const keys = keysOf(path);
  let v = obj;
  for (const [i, k] of keys.slice(0, -1).entries()) {
    if (typeof v[k] !== 'object' || v[k] === null) v[k] = typeof keys[i + 1] === 'number' ? [] : {};
    v = v[k] as Record<Key, unknown>;
  }
  v[keys[keys.length - 1]] = value;
}

const BANDS = ['easy', 'medium', 'hard'];
const RULES = ['hardest', 'random', 'easiest', 'band'];
const KIND_TITLE = { pretrain: 'Pretraining', sft: 'SFT', rl: 'RL' } as const;

function initialPreset(): string {
  const id = new URLSearchParams(globalThis.location?.search ?? '').get('preset');
  return id && PLAN_PRESETS.some((p) => p.id === id) ? id : 'recipe';
}

@customElement('plan-form')
export class PlanForm extends LitElement {
  static override styles = [
    shared,
    css`
      fieldset {
        border: 1px solid var(--line);
        border-radius: 6px;
        margin: 0 0 0.75rem;
        padding: 0.5rem 0.75rem;
      }
      legend {
        font-weight: 600;
        padding: 0 0.25rem;
      }
      .field {
        display: grid;
        grid-template-columns: 9.5rem minmax(0, 1fr);
        gap: 0.15rem 0.5rem;
        align-items: center;
        margin: 0.3rem 0;
      }
      .field .error {
        grid-column: 2;
        font-size: 0.85rem;
      }
      input,
      select,
      textarea {
        font: inherit;
        min-width: 0;
        width: 100%;
        box-sizing: border-box;
        padding: 0.2rem 0.35rem;
        border: 1px solid var(--line);
        border-radius: 4px;
      }
      input[aria-invalid='true'] {
        border-color: var(--bad);
        background: #fff4f4;
      }
      textarea {
        font-family: ui-monospace, monospace;
        font-size: 0.8rem;
        height: 22rem;
      }
      label {
        font-size: 0.92rem;
      }
    `,
  ];

  @state() private preset = initialPreset();
  @state() private plan: PlanInput = structuredClone(findPreset(this.preset).plan);
  @state() private jsonText = JSON.stringify(this.plan, null, 2);
  @state() private jsonError = '';
  /** Values typed that are not numbers, by path. */
  @state() private typed: Record<string, string> = {};
  @state() private issues: { path: string; message: string }[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    this.validate();
  }

  private groups(): Group[] {
    const plan = this.plan as Record<string, unknown> & PlanInput;
    const taskKind = plan.task?.kind === 'pointer' ? 'pointer' : 'regression';
    const groups: Group[] = [
      {
        title: 'Run',
        knobs: [
          { path: 'seed', label: 'seed', kind: 'int' },
          {
            path: 'model',
            label: 'model',
            kind: 'select',
            options: MODEL_CHOICES[taskKind].map((m) => ({ value: m.id, label: m.title })),
          },
        ],
      },
    ];
    let domains: string[] = [];
    try {
      domains = domainNames(parsePlan({ ...plan, phases: [{ name: 'x', kind: 'pretrain', steps: 1, lr: 1 }] }).task);
    } catch {
      // An invalid task: its own field says why.
    }
    for (const [i, p] of (plan.phases ?? []).entries()) {
      const at = `phases[${i}]`;
      const knobs: Knob[] = [
        { path: `${at}.steps`, label: 'steps', kind: 'int' },
        { path: `${at}.lr`, label: 'learning rate', kind: 'number' },
      ];
      if (p.kind === 'pretrain' && domains.length > 1) {
        for (const d of domains)
          knobs.push({ path: `${at}.mixture.${d}`, label: `mixture: ${d}`, kind: 'number', hint: 'weight' });
      }
      if (p.select) {
        const size = p.kind === 'rl' ? 'RL prompts (m)' : 'SFT examples (m)';
        knobs.push({ path: `${at}.select.m`, label: size, kind: 'int' });
        knobs.push({ path: `${at}.pool`, label: 'candidate pool', kind: 'int' });
        knobs.push({
          path: `${at}.select.rule`,
          label: 'selection',
          kind: 'select',
          options: RULES.map((r) => ({ value: r, label: r })),
        });
        if (p.select.rule === 'band') {
          knobs.push({
            path: `${at}.select.band`,
            label: 'difficulty band',
            kind: 'select',
            options: BANDS.map((b) => ({ value: b, label: b })),
          });
        }
      }
      if (p.kind === 'rl') knobs.push({ path: `${at}.group`, label: 'group size', kind: 'int' });
      groups.push({ title: `${KIND_TITLE[p.kind] ?? p.kind}: ${p.name}`, knobs });
    }
    return groups;
  }

  /** The knob value as shown. */
  private shown(k: Knob): string {
    if (k.path in this.typed) return this.typed[k.path];
    if (k.path === 'model') {
      const m = (this.plan.model ?? {}) as Record<string, unknown>;
      const kind = this.plan.task?.kind === 'pointer' ? 'pointer' : 'regression';
      const found = MODEL_CHOICES[kind].find((c) => {
        const cm = c.model as Record<string, unknown>;
        return cm.kind === m.kind && (cm.dModel === undefined || cm.dModel === m.dModel);
      });
      return found?.id ?? '';
    }
    const v = getAt(this.plan, k.path);
    // A phase without a mixture draws every domain equally.
    if (v === undefined && this.mixtureOf(k) && getAt(this.plan, this.mixtureOf(k) as string) === undefined) return '1';
    return Array.isArray(v) ? '' : v === undefined ? '' : String(v);
  }

  /** The mixture path a knob belongs to (phases[i].mixture), if any. */
  private mixtureOf(k: Knob): string | undefined {
    return /^(phases\[\d+\]\.mixture)\./.exec(k.path)?.[1];
  }

  private change(k: Knob, raw: string): void {
    const plan = structuredClone(this.plan) as Record<string, unknown>;
    const typed = { ...this.typed };
    delete typed[k.path];
    if (k.path === 'model') {
      const kind = this.plan.task?.kind === 'pointer' ? 'pointer' : 'regression';
      const choice = MODEL_CHOICES[kind].find((c) => c.id === raw);
      if (choice) plan.model = structuredClone(choice.model);
    } else if (k.kind === 'select') {
      setAt(plan, k.path, raw);
      if (k.path.endsWith('select.rule') && raw === 'band' && !getAt(plan, k.path.replace(/rule$/, 'band'))) {
        setAt(plan, k.path.replace(/rule$/, 'band'), 'medium');
      }
      if (k.path.endsWith('select.rule') && raw !== 'band') {
        const sel = getAt(plan, k.path.replace(/\.rule$/, '')) as Record<string, unknown>;
        delete sel.band;
      }
    } else {
      const mixture = this.mixtureOf(k);
      if (mixture && getAt(plan, mixture) === undefined) {
        // Spell out the equal weights the phase had, then change this one.
        for (const other of this.groups().flatMap((g) => g.knobs))
          if (this.mixtureOf(other) === mixture) setAt(plan, other.path, 1);
      }
      const n = raw.trim() === '' ? Number.NaN : Number(raw);
      if (Number.isFinite(n)) setAt(plan, k.path, n);
      else typed[k.path] = raw;
    }
    this.typed = typed;
    this.plan = plan as PlanInput;
    this.jsonText = JSON.stringify(plan, null, 2);
    this.jsonError = '';
    this.validate();
  }

  private pickPreset(id: string): void {
    this.preset = id;
    this.plan = structuredClone(findPreset(id).plan);
    this.jsonText = JSON.stringify(this.plan, null, 2);
    this.jsonError = '';
    this.typed = {};
    this.validate();
  }

  private editJson(text: string): void {
    this.jsonText = text;
    try {
      const parsed = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('a plan is a JSON object');
      this.plan = parsed as PlanInput;
      this.jsonError = '';
      this.typed = {};
    } catch (e) {
      this.jsonError = `not valid JSON: ${(e as Error).message}`;
    }
    this.validate();
  }

  private validate(): void {
    let issues: { path: string; message: string }[] = [];
    try {
      parsePlan(this.plan);
    } catch (e) {
      issues = e instanceof PlanError ? e.issues : [{ path: '(plan)', message: (e as Error).message }];
    }
    for (const path of Object.keys(this.typed)) issues.unshift({ path, message: 'enter a number' });
    this.issues = issues;
    const valid = issues.length === 0 && !this.jsonError;
    this.dispatchEvent(
      new CustomEvent('plan-change', {
        detail: { plan: valid ? structuredClone(this.plan) : undefined },
        bubbles: true,
        composed: true,
      }),
    );
  }

  /** The issues shown beside knob `k`, and those no knob shows. */
  private placed(): { byKnob: Map<string, string[]>; rest: string[] } {
    const knobs = this.groups().flatMap((g) => g.knobs);
    const byKnob = new Map<string, string[]>();
    const rest: string[] = [];
    for (const issue of this.issues) {
      const knob =
        knobs.find((k) => issue.path === k.path || issue.path.startsWith(`${k.path}.`) || issue.path.startsWith(`${k.path}[`)) ??
        knobs.find((k) => k.path.startsWith(`${issue.path}.`));
      if (knob) byKnob.set(knob.path, [...(byKnob.get(knob.path) ?? []), issue.message]);
      else rest.push(`${issue.path}: ${issue.message}`);
    }
    return { byKnob, rest };
  }

  private renderKnob(k: Knob, errors: string[] | undefined) {
    const id = `k-${k.path.replace(/[^a-z0-9]+/gi, '-')}`;
    const value = this.shown(k);
    const described = errors ? `${id}-err` : '';
    const control =
      k.kind === 'select'
        ? html`<select id=${id} data-path=${k.path} aria-describedby=${described} @change=${(e: Event) => this.change(k, (e.target as HTMLSelectElement).value)}>
            ${value === '' ? html`<option value="" selected>(custom: see JSON)</option>` : ''}
            ${k.options?.map((o) => html`<option value=${o.value} ?selected=${o.value === value}>${o.label}</option>`)}
          </select>`
        : html`<input
            id=${id}
            data-path=${k.path}
            type="text"
            inputmode=${k.kind === 'int' ? 'numeric' : 'decimal'}
            .value=${value}
            aria-invalid=${errors ? 'true' : 'false'}
            aria-describedby=${described}
            @change=${(e: Event) => this.change(k, (e.target as HTMLInputElement).value)}
          />`;
    return html`<div class="field">
      <label for=${id}>${k.label}</label>
      ${control}
      ${errors ? html`<span class="error" id=${described} data-testid="field-error">${errors.join('; ')}</span>` : ''}
    </div>`;
  }

  override render() {
    const about = PLAN_PRESETS.find((p) => p.id === this.preset)?.about;
    const { byKnob, rest } = this.placed();
    return html`
      <div class="field">
        <label for="preset">preset</label>
        <select id="preset" data-testid="preset" @change=${(e: Event) => this.pickPreset((e.target as HTMLSelectElement).value)}>
          ${PLAN_PRESETS.map((p) => html`<option value=${p.id} ?selected=${p.id === this.preset}>${p.title}</option>`)}
        </select>
      </div>
      <p class="muted">${about}</p>
      ${this.groups().map(
        (g) => html`<fieldset>
          <legend>${g.title}</legend>
          ${g.knobs.map((k) => this.renderKnob(k, byKnob.get(k.path)))}
        </fieldset>`,
      )}
      ${
        rest.length
          ? html`<ul class="error" role="alert" data-testid="plan-errors">
              ${rest.map((r) => html`<li>${r}</li>`)}
            </ul>`
          : ''
      }
      <details>
        <summary>Plan as JSON (every field)</summary>
        <textarea
          aria-label="plan as JSON"
          spellcheck="false"
          .value=${this.jsonText}
          @input=${(e: Event) => this.editJson((e.target as HTMLTextAreaElement).value)}
        ></textarea>
        ${this.jsonError ? html`<p class="error" role="alert">${this.jsonError}</p>` : ''}
      </details>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'plan-form': PlanForm;
  }
}
