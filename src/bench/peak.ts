/**
 * The real-GPU target of the benchmark: f32 matmul 4096³ at 40% or more of the card's f32 peak.
 * WebGPU does not report a card's peak, so it is looked up by the adapter's name among NVIDIA's
 * datasheet figures (FP32 on the CUDA cores, not the tensor cores, at the boost clock), or given on
 * the command line (`bench --peak-tflops`). The fraction is of the fastest correct variant's
 * wall-clock GFLOP/s (the suite's figure: dispatches batched per timing, to the completed
 * submission), the conservative one of the two timings the suite takes.
 */
import type { AdapterReport } from '../device/index.ts';
import type { BenchResult } from './suite.ts';

export interface Peak {
  tflops: number;
  /** Where the figure comes from: the datasheet entry matched, or the command line. */
  source: string;
}

/** The target fraction of the peak for f32 matmul 4096³ (the bar). */
export const PEAK_TARGET = 0.4;

/**
 * NVIDIA datasheet FP32 peaks in TFLOP/s, by the name a Vulkan driver gives the card (the more
 * specific names first: "H100 PCIe" before "H100").
 */
const DATASHEET: readonly [RegExp, string, number][] = [
  [/H100.*PCIe/i, 'NVIDIA H100 PCIe', 51],
  [/H100.*NVL/i, 'NVIDIA H100 NVL', 60],
  [/H100/i, 'NVIDIA H100 SXM5', 67],
  [/H200.*NVL/i, 'NVIDIA H200 NVL', 60],
  [/H200/i, 'NVIDIA H200 SXM', 67],
  [/A100/i, 'NVIDIA A100', 19.5],
  [/L40S/i, 'NVIDIA L40S', 91.6],
  [/\bL4\b/i, 'NVIDIA L4', 30.3],
  [/\bA10\b/i, 'NVIDIA A10', 31.2],
  [/\bT4\b/i, 'NVIDIA T4', 8.1],
  [/RTX 4090/i, 'NVIDIA GeForce RTX 4090', 82.6],
  [/RTX 3090/i, 'NVIDIA GeForce RTX 3090', 35.6],
];

/** The card's peak from the datasheet table, by the adapter's device name and description. */
export function datasheetPeak(report: Pick<AdapterReport, 'vendor' | 'device' | 'description'>): Peak | undefined {
  const name = `${report.device} ${report.description}`;
  if (!/nvidia/i.test(`${report.vendor} ${name}`)) return undefined;
  for (const [re, card, tflops] of DATASHEET)
    if (re.test(name)) return { tflops, source: `${card} datasheet, FP32 at boost clock (matched "${name.trim()}")` };
  return undefined;
}

export interface PeakFraction {
  shape: string;
  variant: string;
  gflops: number;
  /** Of the peak; absent when the peak is not known. */
  fraction?: number;
}

/**
 * For each square matmul (M = K = N, neither operand transposed) the fastest correct variant of
 * ours and its fraction of the peak, smallest first.
 */
export function peakFractions(results: readonly BenchResult[], peak: Peak | undefined): PeakFraction[] {
  const best = new Map<string, BenchResult>();
  for (const r of results) {
    if (r.kernel !== 'matmul' || r.impl !== 'ours' || r.correct === false || r.gflops === undefined) continue;
    const m = /^(\d+)x(\d+) · (\d+)x(\d+)$/.exec(r.shape);
    if (!m || new Set(m.slice(1)).size !== 1) continue;
    const held = best.get(r.shape);
    if (!held || (held.gflops ?? 0) < r.gflops) best.set(r.shape, r);
  }
  return [...best.values()]
    .sort((x, y) => Number.parseInt(x.shape, 10) - Number.parseInt(y.shape, 10))
    .map((r) => ({
      shape: r.shape,
      variant: r.variant,
      gflops: r.gflops as number,
      ...(peak ? { fraction: (r.gflops as number) / (peak.tflops * 1000) } : {}),
    }));
}

/** One line per square product: "matmul 4096x4096 · 4096x4096: 21.4 TFLOP/s (tiled-db), 32.0% of ...". */
export function peakLines(fractions: readonly PeakFraction[], peak: Peak | undefined): string[] {
  return fractions.map((f) => {
    const speed = f.gflops >= 1000 ? `${(f.gflops / 1000).toFixed(2)} TFLOP/s` : `${f.gflops.toFixed(1)} GFLOP/s`;
    const of =
      peak && f.fraction !== undefined
        ? `, ${(100 * f.fraction).toFixed(1)}% of the f32 peak ${peak.tflops} TFLOP/s (${peak.source})` +
          (f.shape.startsWith('4096x') ? `; target ${100 * PEAK_TARGET}%: ${f.fraction >= PEAK_TARGET ? 'met' : 'not met'}` : '')
        : '';
    return `matmul ${f.shape}: ${speed} (${f.variant}, the fastest correct variant)${of}`;
  });
}
