/** One Runtime shared by the tests of a file (creating a device per test is slow and wasteful). */
import { Runtime } from '../src/gpu/runtime.ts';

let shared: Promise<Runtime> | undefined;

export function getTestRuntime(): Promise<Runtime> {
  shared ??= Runtime.create();
  return shared;
}
