/**
 * The benchmark suite (`npm run bench`, and the demo's kernel panel), in Node and in Chromium, at tiny
 * shapes: every figure timed, the peer (tfjs-backend-webgpu) beside ours, each of our variants checked against the CPU reference first, rates
 * positive, one variant per kernel marked as the one in use.
 */
import { describe, expect, it } from 'vitest';
import { markdownTable, matmulEntry, ratioSummary, runSuite, sampleIndices } from '../src/bench/suite.ts';
import * as ref from '../src/reference/kernels.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

describe('benchmark suite', () => {
  it('times matmul and softmax, ours against the CPU reference, each variant checked first', async () => {
    const rt = await getTestRuntime();
    const results = await runSuite(rt, { repeats: 2, smoke: true });
    // The peer, tfjs-backend-webgpu (a dev dependency), runs on the same device and matches the reference.
    const peer = results.filter((r) => r.impl === 'tfjs-webgpu');
    expect(peer.map((r) => r.kernel)).toEqual(['matmul', 'softmax']);
    for (const r of peer) expect(r.correct, `tfjs ${r.kernel} ${r.shape}`).toBe(true);
    // The peer and our variant in use are timed interleaved, in the same rounds; other variants alone.
    for (const r of peer) {
      const inUse = results.find((o) => o.impl === 'ours' && o.default && o.kernel === r.kernel && o.shape === r.shape);
      expect([r.interleaved, inUse?.interleaved, inUse?.repeats]).toEqual([true, true, r.repeats]);
    }
    expect(results.filter((r) => r.impl === 'ours' && !r.default).every((r) => !r.interleaved)).toBe(true);
    const kernels = new Set(results.map((r) => r.kernel));
    expect([...kernels].sort()).toEqual(['adamw', 'layernorm', 'matmul', 'softmax']);
    for (const r of results) {
      expect(r.median_ms, `${r.kernel} ${r.variant}`).toBeGreaterThan(0);
      expect((r.gflops ?? r.gbps ?? 0) > 0, `${r.kernel} ${r.variant} has a rate`).toBe(true);
      if (r.impl === 'ours') expect(r.correct, `${r.kernel} ${r.variant} ${r.shape}`).toBe(true);
      // Ours also in GPU time, from timestamp queries, where the adapter has them (not the peer's or the reference's).
      if (r.impl === 'ours' && rt.device.features.has('timestamp-query')) expect(r.gpu_ms).toBeGreaterThanOrEqual(0);
      else expect(r.gpu_ms).toBeUndefined();
    }
    for (const shape of new Set(results.map((r) => `${r.kernel} ${r.shape}`))) {
      const rows = results.filter((r) => `${r.kernel} ${r.shape}` === shape);
      expect(rows.filter((r) => r.impl === 'cpu-reference')).toHaveLength(1);
      expect(rows.filter((r) => r.impl === 'ours' && r.default)).toHaveLength(1);
    }
    // Registry kernels are timed in GB/s of what they read and write, each checked first.
    for (const k of ['layernorm', 'adamw'])
      expect(results.find((r) => r.kernel === k && r.impl === 'ours')?.gbps).toBeGreaterThan(0);
    expect(markdownTable(results)).toMatch(/\| matmul/);
    // Every shape gets a line with our speed-up over the peer and the reference.
    const lines = ratioSummary(results);
    expect(lines).toHaveLength(4);
    for (const l of lines.slice(0, 2)) expect(l).toMatch(/: ours \([\w-]+\) \d+\.\d\dx tfjs-webgpu, \d+\.\d\dx cpu-reference$/);
    for (const l of lines.slice(2)) expect(l).toMatch(/: ours \(registry call\) \d+\.\d\dx cpu-reference$/);
  });

  it('times a training step per model and generation, each checked against the CPU reference model first', async () => {
    const rt = await getTestRuntime();
    let settled = 0;
    const results = await runSuite(rt, {
      repeats: 1,
      smoke: true,
      train: true,
      peer: false,
      budgetSeconds: 2,
      settle: () => settled++,
    });
    const steps = results.filter((r) => r.kernel === 'train step' || r.kernel === 'generate');
    const shapes = [...new Set(steps.map((r) => `${r.kernel}: ${r.shape}`))];
    expect(shapes).toEqual([
      'train step: LSA merged d=8 n=32 B=64',
      'train step: LSA factorised d=8 n=32 B=64',
      'generate: transformer smoke C=16 L=1 B=2: 4-token prompts + 12 new tokens',
      'train step: transformer smoke C=16 L=1 H=2 B=2 T=16',
    ]);
    for (const r of steps) {
      expect(r.median_ms, `${r.kernel} ${r.variant}`).toBeGreaterThan(0);
      expect(r.items_per_s, `${r.kernel} ${r.variant}`).toBeGreaterThan(0);
      expect(r.items).toBe(r.shape.startsWith('LSA') ? 'examples' : 'tokens');
      // Ours only after its first loss (steps) or every token (generation) matched the reference model.
      if (r.impl === 'ours') {
        expect(r.correct, `${r.kernel} ${r.variant} ${r.shape}`).toBe(true);
        expect(r.gpu_bytes).toBeGreaterThan(0);
      }
    }
    // Training steps: the reference and ours timed interleaved, in the same rounds.
    const trainRows = steps.filter((r) => r.kernel === 'train step');
    for (const r of trainRows) expect(r.interleaved, `${r.impl} ${r.shape}`).toBe(true);
    for (const shape of new Set(trainRows.map((r) => r.shape))) {
      const [refRow, ourRow] = ['cpu-reference', 'ours'].map((impl) =>
        trainRows.find((r) => r.shape === shape && r.impl === impl),
      );
      expect(refRow?.repeats).toBeGreaterThan(0);
      expect(ourRow?.repeats).toBe(refRow?.repeats);
    }
    // The heap is settled before every timing (at least one per timed repeat of every row).
    expect(settled).toBeGreaterThanOrEqual(results.reduce((n, r) => n + r.repeats, 0));
    // Generation: the KV cache (in use) and a full forward per token, both against the reference.
    expect(steps.filter((r) => r.kernel === 'generate').map((r) => `${r.impl} ${r.variant}`)).toEqual([
      'cpu-reference f64 model, full forward per token',
      'ours KV cache',
      'ours full forward per token',
    ]);
    const lines = ratioSummary(results).filter((l) => /^(train step|generate)/.test(l));
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).toMatch(/: ours \([\w ]+\) \d+\.\d\dx cpu-reference$/);
  });

  it('past 2048³ matmul is checked on a sample: the sampled reference entries equal the full reference', () => {
    const rng = new Rng(3);
    const [M, N, K] = [13, 7, 5];
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      const a = randomArray(rng, M * K);
      const b = randomArray(rng, K * N);
      const c = new Float32Array(M * N);
      ref.matmul(c, a, b, null, 1, M, N, K, { transA, transB });
      const at = sampleIndices(rng, M * N, 20);
      expect(new Set(at).size).toBe(20);
      for (const i of at) expect(matmulEntry(a, b, M, N, K, transA, transB, i)).toBeCloseTo(c[i], 5);
    }
  });
});
