/**
 * The command line's tuning cache: one entry per adapter in a JSON file; a command uses its
 * adapter's entry; an unreadable cache is ignored with a message, never fatal.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterKey, type Tuning } from '../src/bench/tune.ts';
import { loadTuningCache, saveTuning, useCachedTuning } from '../src/cli/tuning.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { matmulTuning, setMatmulTuning } from '../src/kernels/matmul.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
let dir: string;
beforeAll(async () => {
  rt = await getTestRuntime();
  dir = mkdtempSync(join(tmpdir(), 'tuning-'));
  process.env.WEBGPU_TRAIN_CACHE = dir;
});
afterAll(() => {
  setMatmulTuning(rt, undefined);
  delete process.env.WEBGPU_TRAIN_CACHE;
  rmSync(dir, { recursive: true, force: true });
});

const tuning = (adapter: string): Tuning => ({
  adapter,
  tunedAt: '2026-11-26T00:00:00.000Z',
  matmul: { 'vec4-large': 'register' },
  measured: {},
});

describe('tuning cache (command line)', () => {
  it("keeps one tuning per adapter and uses this adapter's", () => {
    saveTuning(tuning('some other adapter'));
    expect(useCachedTuning(rt)).toBe('');
    expect(matmulTuning(rt)).toBeUndefined();
    saveTuning(tuning(adapterKey(rt.report)));
    expect(Object.keys(loadTuningCache().cache)).toHaveLength(2);
    expect(useCachedTuning(rt)).toMatch(
      /^kernel variants tuned for this adapter on 2026-11-26 \(.*tuning\.json\): matmul vec4-large register$/,
    );
    expect(matmulTuning(rt)).toEqual({ 'vec4-large': 'register' });
    setMatmulTuning(rt, undefined);
  });

  it('ignores an unreadable cache with a message that says how to rewrite it', () => {
    writeFileSync(join(dir, 'tuning.json'), '{"truncated": ');
    expect(useCachedTuning(rt)).toMatch(/^ignoring the tuning cache .*tuning\.json: .*`npm run bench -- --tune` rewrites it\)$/);
    expect(matmulTuning(rt)).toBeUndefined();
  });
});
