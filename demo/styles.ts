/** Styles shared by the page's elements (each has its own shadow root). */
import { css } from 'lit';

export const shared = css`
  :host {
    display: block;
  }
  h2 {
    font-size: 1.05rem;
    margin: 0 0 0.5rem;
  }
  button {
    font: inherit;
    padding: 0.35rem 0.8rem;
    border: 1px solid var(--line, #ccc);
    border-radius: 6px;
    background: white;
    cursor: pointer;
  }
  button.primary {
    background: var(--accent, #1d5fbf);
    border-color: var(--accent, #1d5fbf);
    color: white;
  }
  button:disabled {
    opacity: 0.45;
    cursor: not-allowed;
  }
  button:focus-visible,
  input:focus-visible,
  select:focus-visible,
  textarea:focus-visible,
  summary:focus-visible {
    outline: 3px solid #8db4f0;
    outline-offset: 1px;
  }
  table {
    border-collapse: collapse;
    font-size: 0.9rem;
    font-variant-numeric: tabular-nums;
  }
  th,
  td {
    border-bottom: 1px solid var(--line, #ddd);
    padding: 0.25rem 0.5rem;
    text-align: right;
    white-space: nowrap;
  }
  th:first-child,
  td:first-child {
    text-align: left;
  }
  .scroll {
    overflow-x: auto;
    max-width: 100%;
  }
  .muted {
    color: var(--muted, #666);
    font-size: 0.9rem;
  }
  .error {
    color: var(--bad, #a00);
    white-space: pre-wrap;
  }
  .ok {
    color: var(--good, #060);
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
  }
`;

/** A grid of chart figures (live charts, the run comparison): as many columns as fit. */
export const charts = css`
  .charts {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(min(100%, 340px), 1fr));
    gap: 0.75rem 1rem;
  }
  figure {
    margin: 0;
    min-width: 0;
  }
  figcaption {
    font-weight: 600;
    font-size: 0.9rem;
  }
`;
