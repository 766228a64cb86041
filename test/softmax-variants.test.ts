/**
 * Softmax's two variants (one invocation per row; one workgroup per row with a reduction): which one
 * each adapter gets, and that the workgroup variant's fixed-order reduction gives the same bits on
 * every run. Both are checked against the CPU reference on awkward shapes by the registry's cases
 * (test/kernels.test.ts, option `workgroup`) and by the fuzzer (test/fuzz.test.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../src/gpu/runtime.ts';
import { defaultSoftmaxVariant, softmax_forward } from '../src/kernels/softmax.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

const withReport = (report: Partial<Runtime['report']>) => ({ report: { ...rt.report, ...report } }) as Runtime;

describe('softmax variants', () => {
  it('CPU adapters take one invocation per row; GPUs one workgroup per row from 128 columns on', () => {
    const gpu = withReport({ isFallbackAdapter: false, vendor: 'nvidia', architecture: 'hopper', device: 'h100' });
    expect(defaultSoftmaxVariant(gpu, 1024)).toBe('workgroup');
    expect(defaultSoftmaxVariant(gpu, 64)).toBe('row');
    const swiftshader = withReport({ isFallbackAdapter: false, vendor: 'google', architecture: 'swiftshader', device: '' });
    expect(defaultSoftmaxVariant(swiftshader, 1024)).toBe('row');
  });

  it('the workgroup variant gives the same bits twice, and agrees with the row variant', async () => {
    const [B, H, T] = [2, 3, 150];
    const x = rt.tensor(randomArray(new Rng(5), B * H * T * T, { std: 4 }), [B, H, T, T], 'f32', 'x');
    const y = rt.empty([B, H, T, T], 'f32', 'y');
    const run = async (variant: 'row' | 'workgroup') => {
      softmax_forward(rt, y, x, { causal: true, scale: 0.125, variant });
      return rt.readF32(y);
    };
    const a = await run('workgroup');
    const b = await run('workgroup');
    expect(new Uint32Array(b.buffer)).toEqual(new Uint32Array(a.buffer));
    const row = await run('row');
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - row[i]));
    expect(worst).toBeLessThan(1e-6);
    x.destroy();
    y.destroy();
  });
});
