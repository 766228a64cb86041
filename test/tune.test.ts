/**
 * The kernel tuner, in Node and in Chromium: every matmul and softmax shape class gets the fastest
 * variant among those that matched the CPU reference; the training path uses the choice on the adapter it was measured
 * on, and a tuning of another adapter is ignored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adapterKey,
  applyTuning,
  choose,
  describeTuning,
  storedTunings,
  storeTuning,
  TUNE_MARGIN,
  tuneKernels,
  useTuning,
} from '../src/bench/tune.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import {
  defaultMatmulVariant,
  fitsVec4,
  MATMUL_CLASSES,
  matmulClass,
  matmulVariantFor,
  setMatmulTuning,
} from '../src/kernels/matmul.ts';
import {
  defaultSoftmaxVariant,
  SOFTMAX_CLASSES,
  setSoftmaxTuning,
  softmaxClass,
  softmaxVariantFor,
} from '../src/kernels/softmax.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});
afterAll(() => {
  setMatmulTuning(rt, undefined);
  setSoftmaxTuning(rt, undefined);
});

describe('kernel tuner', () => {
  it('chooses the fastest correct variant per shape class, and the training path uses it on this adapter only', async () => {
    const t = await tuneKernels(rt, { quick: true });
    expect(t.adapter).toBe(adapterKey(rt.report));
    for (const cls of MATMUL_CLASSES) {
      const chosen = t.matmul[cls];
      const ms = t.measured[cls]?.ms ?? {};
      expect(chosen, cls).toBeDefined();
      // The choice was timed, correct, and no slower than any other correct variant, but for the
      // margin the adapter's default keeps; another variant replaces the default only by beating it.
      const mine = ms[chosen as keyof typeof ms] as number;
      for (const v of Object.values(ms))
        if (v !== null && v !== undefined) expect(mine).toBeLessThanOrEqual(v * (1 + TUNE_MARGIN));
      const own = ms[defaultMatmulVariant(rt) as keyof typeof ms];
      if (chosen !== defaultMatmulVariant(rt) && typeof own === 'number') expect(mine * (1 + TUNE_MARGIN)).toBeLessThan(own);
      // B read as vec4s only where the class allows it.
      if (cls.startsWith('gather')) expect(chosen).not.toBe('subgroup-vec4');
    }
    expect(matmulClass(512, 512, 512, false)).toBe('vec4-large');
    expect(matmulClass(64, 63, 64, false)).toBe('gather-small');
    expect(matmulClass(1024, 1024, 1023, true)).toBe('gather-large');
    expect(matmulClass(1024, 1024, 1024, true)).toBe('gather-huge');
    expect(matmulClass(4096, 4096, 4096, false)).toBe('vec4-huge');
    // Every class timed every variant this device can run on its product, the double-buffered tiles too.
    for (const cls of MATMUL_CLASSES) expect(Object.keys(t.measured[cls]?.ms ?? {}), cls).toContain('tiled-db');
    expect(fitsVec4(64, true)).toBe(false);

    expect(applyTuning(rt, { ...t, adapter: 'another | adapter' })).toBe(false);
    setMatmulTuning(rt, undefined);
    const before = matmulVariantFor(rt, 512, 512, 512, false);
    expect(applyTuning(rt, t)).toBe(true);
    expect(matmulVariantFor(rt, 512, 512, 512, false)).toBe(t.matmul['vec4-large']);
    expect(matmulVariantFor(rt, 32, 32, 32, true)).toBe(t.matmul['gather-small']);
    expect(matmulVariantFor(rt, 2048, 1024, 1024, false)).toBe(t.matmul['vec4-huge']);
    setMatmulTuning(rt, undefined);
    expect(matmulVariantFor(rt, 512, 512, 512, false)).toBe(before);

    // Softmax: both variants timed per class (both correct), the faster chosen and used.
    for (const cls of SOFTMAX_CLASSES) {
      const ms = t.measuredSoftmax?.[cls]?.ms ?? {};
      expect(Object.keys(ms).sort(), cls).toEqual(['row', 'workgroup']);
      const chosen = t.softmax?.[cls] as 'row' | 'workgroup';
      for (const v of Object.values(ms)) expect(ms[chosen] as number).toBeLessThanOrEqual((v as number) * (1 + TUNE_MARGIN));
    }
    expect(softmaxClass(64)).toBe('short');
    expect(softmaxClass(1024)).toBe('long');
    expect(applyTuning(rt, t)).toBe(true);
    expect(softmaxVariantFor(rt, 1024)).toBe(t.softmax?.long);
    expect(softmaxVariantFor(rt, 64)).toBe(t.softmax?.short);
    expect(describeTuning(t)).toMatch(/^matmul vec4-small \S+, .*, softmax short \S+, softmax long \S+$/);
    // A tuning cached before softmax was tuned leaves softmax at its defaults.
    const { softmax: _s, measuredSoftmax: _m, ...old } = t;
    expect(applyTuning(rt, old)).toBe(true);
    expect(softmaxVariantFor(rt, 1024)).toBe(defaultSoftmaxVariant(rt, 1024));
    setMatmulTuning(rt, undefined);
  });

  it("keeps the adapter's default unless another variant is faster by the margin", () => {
    expect(choose<string>({ subgroup: 64.1, 'subgroup-vec4': 63.7, register: 80 }, 'subgroup')).toBe('subgroup');
    expect(choose<string>({ subgroup: 70, 'subgroup-vec4': 63.7 }, 'subgroup')).toBe('subgroup-vec4');
    // A default that differed from the reference (null) or was not timed cannot be kept.
    expect(choose<string>({ subgroup: null, register: 80 }, 'subgroup')).toBe('register');
    expect(choose<string>({ register: 80, tiled: 90 }, 'subgroup')).toBe('register');
    expect(choose<string>({ subgroup: null }, 'subgroup')).toBeUndefined();
    expect(TUNE_MARGIN).toBe(0.05);
  });

  it("the page's cache in browser storage: one tuning per adapter, this adapter's used, an unreadable one ignored", () => {
    const items = new Map<string, string>();
    const storage = { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => void items.set(k, v) };
    const mine = {
      adapter: adapterKey(rt.report),
      tunedAt: '2026-11-26T00:00:00.000Z',
      matmul: { 'vec4-large': 'register' as const },
      measured: {},
    };
    storeTuning(storage, { ...mine, adapter: 'another | adapter' });
    storeTuning(storage, mine);
    expect(Object.keys(storedTunings(storage))).toHaveLength(2);
    expect(useTuning(rt, storedTunings(storage))).toEqual(mine);
    expect(matmulVariantFor(rt, 512, 512, 512, false)).toBe('register');
    setMatmulTuning(rt, undefined);
    items.set([...items.keys()][0], '{"truncated": ');
    expect(storedTunings(storage)).toEqual({});
    expect(useTuning(rt, storedTunings(storage))).toBeUndefined();
  });
});
