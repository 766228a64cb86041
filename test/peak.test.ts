/**
 * The real-GPU target's arithmetic (src/bench/peak.ts): the card's f32 peak by the adapter's name,
 * and each square product's fastest correct variant as a fraction of it.
 */
import { describe, expect, it } from 'vitest';
import { datasheetPeak, PEAK_TARGET, peakFractions, peakLines } from '../src/bench/peak.ts';
import type { BenchResult } from '../src/bench/suite.ts';

const nvidia = (device: string, description = '') => ({ vendor: 'nvidia', device, description });

describe('datasheet peak', () => {
  it('finds the card by the name a Vulkan driver gives it, the more specific names first', () => {
    expect(datasheetPeak(nvidia('NVIDIA H100 80GB HBM3'))?.tflops).toBe(67);
    expect(datasheetPeak(nvidia('NVIDIA H100 PCIe'))?.tflops).toBe(51);
    expect(datasheetPeak(nvidia('NVIDIA H100 NVL'))?.tflops).toBe(60);
    expect(datasheetPeak(nvidia('', 'NVIDIA H200'))?.tflops).toBe(67);
    expect(datasheetPeak(nvidia('NVIDIA A100-SXM4-80GB'))?.tflops).toBe(19.5);
    expect(datasheetPeak(nvidia('NVIDIA L4'))?.tflops).toBe(30.3);
    expect(datasheetPeak(nvidia('NVIDIA L40S'))?.tflops).toBe(91.6);
    expect(datasheetPeak(nvidia('NVIDIA H100 80GB HBM3'))?.source).toMatch(
      /H100 SXM5 datasheet.*matched "NVIDIA H100 80GB HBM3"/,
    );
  });

  it('knows no peak for a card outside the table, another vendor, or SwiftShader', () => {
    expect(datasheetPeak(nvidia('NVIDIA GeForce GTX 1060'))).toBeUndefined();
    expect(datasheetPeak({ vendor: 'amd', device: 'Radeon L4 Pro', description: '' })).toBeUndefined();
    expect(datasheetPeak({ vendor: 'google', device: '', description: 'SwiftShader device (Subzero)' })).toBeUndefined();
  });
});

const row = (shape: string, variant: string, gflops: number, extra: Partial<BenchResult> = {}): BenchResult => ({
  kernel: 'matmul',
  impl: 'ours',
  variant,
  shape,
  median_ms: 1,
  min_ms: 1,
  max_ms: 1,
  repeats: 5,
  per_timing: 1,
  gflops,
  correct: true,
  ...extra,
});

describe('fractions of the peak', () => {
  const results: BenchResult[] = [
    row('4096x4096 · 4096x4096', 'tiled', 20_000),
    row('4096x4096 · 4096x4096', 'tiled-db', 30_000),
    // Faster but wrong: never counted.
    row('4096x4096 · 4096x4096', 'register', 90_000, { correct: false }),
    row('512x512 · 512x512', 'subgroup', 800),
    // Transposed, not square, or not ours: not among the square products.
    row('512x512 · (512x512)ᵀ', 'subgroup', 9_000),
    row('512x64 · 64x192 (tiny transformer qkv)', 'subgroup', 9_000),
    row('4096x4096 · 4096x4096', 'matMul', 50_000, { impl: 'tfjs-webgpu' }),
    row('4096x4096 · 4096x4096', 'f64 triple loop', 1, { impl: 'cpu-reference' }),
  ];

  it('takes the fastest correct variant of ours per square product, smallest first, as a fraction of the peak', () => {
    const peak = { tflops: 67, source: 'test' };
    const f = peakFractions(results, peak);
    expect(f.map((x) => [x.shape, x.variant])).toEqual([
      ['512x512 · 512x512', 'subgroup'],
      ['4096x4096 · 4096x4096', 'tiled-db'],
    ]);
    expect(f[1].fraction).toBeCloseTo(30 / 67, 12);
    const lines = peakLines(f, peak);
    expect(lines[1]).toMatch(
      /^matmul 4096x4096 · 4096x4096: 30\.00 TFLOP\/s \(tiled-db, the fastest correct variant\), 44\.8% of the f32 peak 67 TFLOP\/s \(test\); target 40%: met$/,
    );
    expect(lines[0]).not.toMatch(/target/);
    expect(peakLines(peakFractions(results, { tflops: 80, source: 'test' }), { tflops: 80, source: 'test' })[1]).toMatch(
      /37\.5% .*target 40%: not met/,
    );
    expect(PEAK_TARGET).toBe(0.4);
  });

  it('gives the speeds without a fraction when the peak is not known', () => {
    const f = peakFractions(results, undefined);
    expect(f.every((x) => x.fraction === undefined)).toBe(true);
    expect(peakLines(f, undefined)[0]).toBe('matmul 512x512 · 512x512: 800.0 GFLOP/s (subgroup, the fastest correct variant)');
  });
});
