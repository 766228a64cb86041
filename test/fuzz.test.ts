/**
 * Kernel fuzzing (src/kernels/fuzz.ts): every kernel against its CPU reference on seeded random
 * shapes (1, primes, near powers of two, one size near a device limit scaled down), with a fixed
 * seed. Node checks 500 shapes per kernel; Chromium, where each round trip to the GPU process costs
 * more, checks fewer. A deliberately broken entry shows the fuzzer reports what it should.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isNode } from '../src/device/index.ts';
import { InputError } from '../src/gpu/errors.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { type KernelFuzzReport, fuzzKernel } from '../src/kernels/fuzz.ts';
import { findKernel, type KernelEntry, kernels } from '../src/kernels/registry.ts';
import { getTestRuntime } from './runtime.ts';

const SEED = 1;
const SHAPES = isNode ? 500 : 40;

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const describeFailures = (r: KernelFuzzReport) =>
  r.failures
    .slice(0, 3)
    .map((f) => `${f.message}\n  rerun: ${f.command}`)
    .join('\n');

/**
 * Kernels the fuzzer still finds wrong, each with its reason: `it.fails` keeps the suite green and
 * turns red when the kernel is fixed, so the entry is removed then.
 */
const KNOWN_FAILURES: Record<string, string> = {};

describe(`kernel fuzzing, ${SHAPES} shapes per kernel, seed ${SEED}`, () => {
  for (const entry of kernels) {
    (KNOWN_FAILURES[entry.name] ? it.fails : it)(entry.name, async () => {
      const r = await fuzzKernel(rt, entry, { seed: SEED, shapes: SHAPES });
      expect(r.failures, describeFailures(r)).toEqual([]);
      expect(r.checked).toBeGreaterThanOrEqual(SHAPES);
      // Refusals (invalid option combinations) must not crowd out the checks.
      expect(r.refused).toBeLessThan(r.checked);
      expect(r.withOne, 'shapes with a size 1').toBeGreaterThan(0);
      expect(r.withPrime, 'shapes with a prime size').toBeGreaterThan(0);
      expect(r.withLarge, 'shapes with one large size').toBeGreaterThan(0);
      // The largest size seen (the large draws aim near a device limit scaled down to largeWork);
      // with Chromium's 40 shapes a kernel gets about 5 large draws, too few to require it there.
      if (isNode) expect(r.maxSize).toBeGreaterThanOrEqual(1021);
    });
  }
});

describe('the fuzzer itself', () => {
  const add = findKernel('add');

  it('reports a mismatch, with the command that reproduces it', async () => {
    const broken: KernelEntry = {
      ...add,
      cpu(inputs, opts) {
        const out = add.cpu(inputs, opts);
        const c = out.c.data as Float32Array;
        c[c.length - 1] += 1e-3;
        return out;
      },
    };
    const r = await fuzzKernel(rt, broken, { seed: SEED, shapes: 20 });
    expect(r.failures.length).toBe(20);
    const f = r.failures[0];
    expect(f.message).toMatch(/add\.c: 1 of \d+ values outside/);
    expect(f.command).toBe(`npx tsx src/cli/main.ts kernel add --check --dims N=${f.dims.N} --seed ${f.seed}`);
  });

  it('counts a UserError as a refusal and any other error as a failure, and stops when refusals use up the draws', async () => {
    const picky: KernelEntry = {
      ...add,
      gpu(rt2, inputs, opts, host) {
        const N = inputs.a.size;
        if (N % 2 === 0) throw new InputError(`add: N = ${N} is even`);
        if (N === 3) throw new Error('add: a crash');
        return add.gpu(rt2, inputs, opts, host);
      },
    };
    const r = await fuzzKernel(rt, picky, { seed: SEED, shapes: 100 });
    expect(Object.keys(r.refusals)).toEqual(['InputError: add: N = # is even']);
    expect(r.refused).toBeGreaterThan(0);
    const crashes = r.failures.filter((f) => f.message.startsWith('Error: add: a crash'));
    expect(crashes.length).toBeGreaterThan(0);
    expect(crashes.every((f) => f.dims.N === 3)).toBe(true);

    const refuseAll: KernelEntry = {
      ...add,
      gpu() {
        throw new InputError('add: never');
      },
    };
    const none = await fuzzKernel(rt, refuseAll, { seed: SEED, shapes: 10 });
    expect(none.checked).toBe(0);
    expect(none.exhausted).toBe(true);
    expect(none.failures.map((f) => f.message)).toEqual([
      'fuzzing stopped before 10 shapes were checked: 30 draws gave 0 checked shapes and 30 refusals (cap: 3 draws per shape)',
    ]);
  });
});
