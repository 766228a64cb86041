/**
 * Bad input gets a clear error before anything reaches the GPU, and errors the GPU raises come back
 * with the kernel's name and shapes. Runs in Node and in Chromium.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError, InputError, KernelError, LimitError, ShapeError } from '../src/gpu/errors.ts';
import { ceilDiv, type KernelSpec } from '../src/gpu/kernel.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import { matmul } from '../src/kernels/matmul.ts';
import { findKernel } from '../src/kernels/registry.ts';
import { parseRequest, runKernel } from '../src/kernels/run.ts';
import { softmax_forward } from '../src/kernels/softmax.ts';
import { sum } from '../src/kernels/reduce.ts';
import { layernorm_forward } from '../src/kernels/layernorm.ts';
import { add } from '../src/kernels/elementwise.ts';
import { cross_entropy_forward } from '../src/kernels/cross_entropy.ts';
import { randomArray, Rng } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

describe('shape checks before encoding', () => {
  it('matmul with mismatched inner dimensions names both shapes', () => {
    const a = rt.empty([4, 3]);
    const b = rt.empty([5, 2]);
    const c = rt.empty([4, 2]);
    expect(() => matmul(rt, c, a, b)).toThrow(ShapeError);
    expect(() => matmul(rt, c, a, b)).toThrow(/inner dimensions differ: op\(a\) is \[4, 3\] but op\(b\) is \[5, 2\]/);
  });

  it('matmul with a wrong output shape says what was expected', () => {
    expect(() => matmul(rt, rt.empty([4, 3]), rt.empty([4, 5]), rt.empty([5, 2]))).toThrow(
      /c has shape \[4, 3\], expected \[4, 2\]/,
    );
  });

  it('matmul with a batch mismatch', () => {
    expect(() => matmul(rt, rt.empty([2, 4, 2]), rt.empty([2, 4, 5]), rt.empty([3, 5, 2]))).toThrow(
      /batch dimension of 3 but a has 2/,
    );
  });

  it('an output that is also an input is refused', () => {
    const x = rt.empty([3, 3]);
    expect(() => softmax_forward(rt, x, x)).toThrow(/output y is the same tensor as input x/);
  });

  it('causal softmax needs N >= Q', () => {
    expect(() => softmax_forward(rt, rt.empty([5, 3]), rt.empty([5, 3]), { causal: true })).toThrow(/N = 3 < Q = 5/);
  });

  it('non-finite options are refused', () => {
    expect(() => softmax_forward(rt, rt.empty([2, 3]), rt.empty([2, 3]), { scale: Number.NaN })).toThrow(
      /scale must be a finite number/,
    );
    const x = rt.empty([2, 3]);
    const w = rt.empty([3]);
    expect(() => layernorm_forward(rt, rt.empty([2, 3]), rt.empty([2]), rt.empty([2]), x, w, rt.empty([3]), { eps: 0 })).toThrow(
      /eps must be a positive number/,
    );
  });

  it('element counts must match for elementwise kernels', () => {
    expect(() => add(rt, rt.empty([4]), rt.empty([4]), rt.empty([5]))).toThrow(
      /add: b has 5 elements \(shape \[5\]\) but a has 4; they must match/,
    );
  });

  it('dtypes are checked', () => {
    const logits = rt.empty([2, 3]);
    expect(() => cross_entropy_forward(rt, rt.empty([2]), logits, rt.empty([2], 'f32'))).toThrow(/targets must be u32, got f32/);
  });

  it('negative, zero and fractional dimensions are refused', () => {
    expect(() => rt.empty([3, -1])).toThrow(/every dimension must be an integer >= 1/);
    expect(() => rt.empty([0])).toThrow(ShapeError);
    expect(() => rt.empty([2.5])).toThrow(ShapeError);
  });

  it('data that does not fill the shape', () => {
    expect(() => rt.tensor([1, 2, 3], [2, 2])).toThrow(/data has 3 values but shape \[2, 2\] holds 4/);
  });

  it('a tensor beyond the adapter limit names the limit', () => {
    const max = rt.limits.maxStorageBufferBindingSize;
    const n = Math.floor(max / 4) + 1;
    expect(() => rt.empty([n])).toThrow(LimitError);
    expect(() => rt.empty([n])).toThrow(/maxStorageBufferBindingSize/);
  });
});

describe('request parsing (the command line and the demo use it)', () => {
  const mm = findKernel('matmul');
  const good = {
    a: { shape: [2, 2], data: [1, 2, 3, 4] },
    b: {
      shape: [2, 2],
      data: [
        [1, 0],
        [0, 1],
      ],
    },
  };

  it('accepts nested data', () => {
    const { inputs } = parseRequest(mm, { inputs: good });
    expect(Array.from(inputs.b.data)).toEqual([1, 0, 0, 1]);
  });

  it.each([
    [{ inputs: { ...good, a: { shape: [2, 2], data: [1, null, 3, 4] } } }, /input a: value at flat index 1 is NaN/],
    [
      { inputs: { ...good, a: { shape: [2, 2], data: [1, 2, 3, Number.POSITIVE_INFINITY] } } },
      /input a: value at flat index 3 is Infinity/,
    ],
    [{ inputs: { ...good, a: { shape: [2, 2], data: [1, 2, '3', 4] } } }, /data\[2\] is "3", expected a number/],
    [{ inputs: { ...good, a: { shape: [2], data: [1, 2, 3, 4] } } }, /shape \[2\] holds 2 values but "data" has 4/],
    [{ inputs: { ...good, a: { shape: [], data: [] } } }, /"shape" must be a non-empty array of integers >= 1/],
    [{ inputs: { ...good, z: { shape: [1], data: [1] } } }, /matmul has no input "z"; its inputs are a, b, bias, c/],
    [{ inputs: good, options: { transC: true } }, /matmul has no option "transC"; valid options: transA \(boolean\)/],
    [{ inputs: good, options: { transA: 1 } }, /option transA must be a boolean, got 1/],
    [{ inputs: good, extra: 1 }, /unknown top-level field "extra"/],
    [[1, 2], /must hold a JSON object/],
  ])('refuses %#', (raw, message) => {
    expect(() => parseRequest(mm, raw)).toThrow(message);
  });

  it('refuses targets outside [0, V) and a missing required input', async () => {
    const ce = findKernel('cross_entropy');
    const { inputs } = parseRequest(ce, {
      inputs: { logits: { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }, targets: { shape: [2], data: [0, 3] } },
    });
    await expect(runKernel(rt, ce, inputs, {})).rejects.toThrow(/targets: value 3 at index 1 is not an integer in \[0, 3\)/);
    await expect(runKernel(rt, ce, { logits: inputs.logits }, {})).rejects.toThrow(/needs input "targets"/);
  });

  it('refuses fractional targets at parse time', () => {
    const ce = findKernel('cross_entropy');
    expect(() =>
      parseRequest(ce, { inputs: { logits: { shape: [1, 2], data: [1, 2] }, targets: { shape: [1], data: [0.5] } } }),
    ).toThrow(/value 0.5 at flat index 0 is not a non-negative integer \(targets is u32\)/);
  });

  it('unknown kernels list the valid ones', () => {
    expect(() => findKernel('matmull')).toThrow(InputError);
    expect(() => findKernel('matmull')).toThrow(/valid kernels: matmul, softmax/);
  });
});

describe('GPU errors carry the kernel name and shapes', () => {
  it('a shader that does not compile', async () => {
    const spec: KernelSpec<'N'> = {
      name: 'broken_kernel',
      shader: 'this is not WGSL',
      params: [['N', 'u32']],
      bindings: [{ name: 'x', access: 'read_write' }],
      workgroupSize: [64, 1, 1],
      dispatch: ({ N }) => [ceilDiv(N, 64), 1, 1],
    };
    rt.dispatch(spec, { params: { N: 4 }, tensors: { x: rt.empty([4]) }, shapes: 'x[4]' });
    const err = await rt.sync().catch((e) => e);
    expect(err).toBeInstanceOf(KernelError);
    expect(err.message).toMatch(/^kernel broken_kernel \(x\[4\]\): GPU validation error/);
    // The runtime stays usable after a reported error.
    const t = rt.tensor([1, 2], [2]);
    expect(Array.from(await rt.readF32(t))).toEqual([1, 2]);
  });

  it('a dispatch beyond the workgroup-count limit is refused before encoding', () => {
    const spec: KernelSpec<'N'> = {
      name: 'too_wide',
      shader: '',
      params: [['N', 'u32']],
      bindings: [],
      workgroupSize: [1, 1, 1],
      dispatch: ({ N }) => [N, 1, 1],
    };
    expect(() =>
      rt.dispatch(spec, { params: { N: rt.limits.maxComputeWorkgroupsPerDimension + 1 }, tensors: {}, shapes: 'n' }),
    ).toThrow(/too_wide \(n\) needs \d+ workgroups in one dimension, above this adapter's maxComputeWorkgroupsPerDimension/);
  });
});

describe('deterministic reductions', () => {
  it('the same input gives the same bits every run', async () => {
    const x = rt.tensor(randomArray(new Rng(3), 1_000_003, { std: 10 }), [1_000_003]);
    const out = rt.empty([1]);
    const bits = new Set<number>();
    for (let i = 0; i < 4; i++) {
      sum(rt, out, x);
      bits.add(new Uint32Array((await rt.readF32(out)).buffer)[0]);
    }
    expect(bits.size).toBe(1);
  });
});

it('DeviceLostError is exported for callers that recover', () => {
  expect(new DeviceLostError('x')).toBeInstanceOf(Error);
});
