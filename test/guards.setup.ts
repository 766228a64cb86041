/**
 * Setup of the Node test project: after each test file, the shared runtime's guard zones must be as
 * they were made (see test/runtime.ts and test/guard.node.test.ts). A file whose kernels wrote past
 * a tensor fails here, naming the tensor.
 */
import { afterAll, expect } from 'vitest';
import { madeTestRuntime } from './runtime.ts';

afterAll(async () => {
  const made = madeTestRuntime();
  if (!made) return;
  const rt = await made;
  if (rt.isLost) return;
  expect(await rt.checkGuards(), 'tensors whose guard zones a kernel wrote').toEqual([]);
});
