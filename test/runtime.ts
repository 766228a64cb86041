/**
 * One Runtime shared by the tests of a file (creating a device per test is slow and wasteful). In
 * Node, where Dawn's robustness checks are off (src/device/node.ts), it puts guard zones around
 * every tensor, and test/guards.setup.ts checks them after each test file: a kernel that reads or
 * writes past a tensor fails the file that ran it.
 */
import { isNode } from '../src/device/index.ts';
import { Runtime } from '../src/gpu/runtime.ts';

let shared: Promise<Runtime> | undefined;

export function getTestRuntime(): Promise<Runtime> {
  shared ??= Runtime.create({ guard: isNode });
  return shared;
}

/** The shared runtime if a test has made it (undefined otherwise: nothing to check). */
export function madeTestRuntime(): Promise<Runtime> | undefined {
  return shared;
}
