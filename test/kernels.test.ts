/**
 * Every kernel against its CPU reference on awkward shapes (1, primes, around powers of two, and at
 * least 512 in each dimension), with seeded inputs that include outliers. The same file runs in Node
 * (Dawn) and in headless Chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { kernels } from '../src/kernels/registry.ts';
import { checkKernel } from '../src/kernels/run.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});
afterAll(() => {});

for (const entry of kernels) {
  describe(entry.name, () => {
    for (const c of entry.cases) {
      const label = `${Object.entries(c.dims)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}${c.options ? ` ${JSON.stringify(c.options)}` : ''}`;
      it(label, async () => {
        const result = await checkKernel(rt, entry, c.dims, c.options ?? {}, 7);
        for (const cmp of Object.values(result.outputs)) expect(cmp.ok, cmp.report).toBe(true);
      });
    }
  });
}
