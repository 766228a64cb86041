/** Small helpers of the page: number formatting and file downloads. */

/** A metric for a table: 4 decimals, or exponent notation when very large or small; NaN (null once stored as JSON) as a dash. */
export const fmt = (v: number | null | undefined): string =>
  v === undefined || v === null || Number.isNaN(v)
    ? '–'
    : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3)
      ? v.toExponential(3)
      : v.toFixed(4);

/** Offer `text` as a file download. */
export function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
