/**
 * The benchmark suite (`npm run bench`, and the demo's kernel panel), in Node and in Chromium, at tiny
 * shapes: every figure timed, the peer (tfjs-backend-webgpu) beside ours, each of our variants checked against the CPU reference first, rates
 * positive, one variant per kernel marked as the one in use.
 */
import { describe, expect, it } from 'vitest';
import { markdownTable, ratioSummary, runSuite } from '../src/bench/suite.ts';
import { getTestRuntime } from './runtime.ts';

describe('benchmark suite', () => {
  it('times matmul and softmax, ours against the CPU reference, each variant checked first', async () => {
    const results = await runSuite(await getTestRuntime(), { repeats: 2, smoke: true });
    // The peer, tfjs-backend-webgpu (a dev dependency), runs on the same device and matches the reference.
    const peer = results.filter((r) => r.impl === 'tfjs-webgpu');
    expect(peer.map((r) => r.kernel)).toEqual(['matmul', 'softmax']);
    for (const r of peer) expect(r.correct, `tfjs ${r.kernel} ${r.shape}`).toBe(true);
    const kernels = new Set(results.map((r) => r.kernel));
    expect([...kernels].sort()).toEqual(['matmul', 'softmax']);
    for (const r of results) {
      expect(r.median_ms, `${r.kernel} ${r.variant}`).toBeGreaterThan(0);
      expect((r.gflops ?? r.gbps ?? 0) > 0, `${r.kernel} ${r.variant} has a rate`).toBe(true);
      if (r.impl === 'ours') expect(r.correct, `${r.kernel} ${r.variant} ${r.shape}`).toBe(true);
    }
    for (const shape of new Set(results.map((r) => `${r.kernel} ${r.shape}`))) {
      const rows = results.filter((r) => `${r.kernel} ${r.shape}` === shape);
      expect(rows.filter((r) => r.impl === 'cpu-reference')).toHaveLength(1);
      expect(rows.filter((r) => r.impl === 'ours' && r.default)).toHaveLength(1);
    }
    expect(markdownTable(results)).toMatch(/\| matmul/);
    // Every shape gets a line with our speed-up over the peer and the reference.
    const lines = ratioSummary(results);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/: ours \([\w-]+\) \d+\.\d\dx tfjs-webgpu, \d+\.\d\dx cpu-reference$/);
  });
});
