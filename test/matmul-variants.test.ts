/**
 * Every matmul variant against the CPU reference: the training path picks one per adapter (and shape), so
 * the others are never exercised by test/kernels.test.ts on this adapter. Awkward shapes, every transpose,
 * bias, accumulate, batched with a shared and a batched B.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isNode } from '../src/device/index.ts';
import { InputError } from '../src/gpu/errors.ts';
import type { Runtime } from '../src/gpu/runtime.ts';
import type { KernelEntry } from '../src/kernels/entry.ts';
import { kernels } from '../src/kernels/registry.ts';
import { runKernel } from '../src/kernels/run.ts';
import {
  canUseSubgroupMatmul,
  defaultMatmulVariant,
  fitsVec4,
  type MatmulVariant,
  matmul,
  matmulVariantFor,
} from '../src/kernels/matmul.ts';
import { add, gelu_backward, gelu_forward } from '../src/kernels/elementwise.ts';
import { compare } from '../src/reference/compare.ts';
import * as ref from '../src/reference/kernels.ts';
import { Rng, randomArray } from '../src/reference/random.ts';
import { getTestRuntime } from './runtime.ts';

let rt: Runtime;
beforeAll(async () => {
  rt = await getTestRuntime();
});

interface Case {
  B: number;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batchB?: boolean;
  bias?: boolean;
  accumulate?: boolean;
}

const cases: Case[] = [
  { B: 1, M: 1, N: 1, K: 1 },
  { B: 1, M: 3, N: 17, K: 63, bias: true },
  { B: 1, M: 129, N: 65, K: 17, transA: true, accumulate: true },
  { B: 1, M: 63, N: 129, K: 257, transB: true, bias: true },
  { B: 2, M: 17, N: 3, K: 129, transA: true, transB: true, batchB: true },
  { B: 3, M: 65, N: 63, K: 64, batchB: false, bias: true, accumulate: true },
  { B: 1, M: 512, N: 520, K: 513 },
];

/** More for subgroup-vec4, which takes only N a multiple of 4 with B not transposed. */
const vec4Cases: Case[] = [
  { B: 1, M: 1, N: 4, K: 1 },
  { B: 1, M: 3, N: 20, K: 63, bias: true },
  { B: 1, M: 129, N: 68, K: 17, transA: true, accumulate: true },
  { B: 3, M: 65, N: 132, K: 61, batchB: true, bias: true },
];

/** For the tiled variants: C of whole 128 x 128 tiles (the double-buffered tiles' stores without edge checks). */
const fullTileCases: Case[] = [{ B: 2, M: 128, N: 256, K: 20, transA: true, batchB: true, accumulate: true }];

async function check(variant: MatmulVariant, c: Case): Promise<void> {
  const rng = new Rng(11);
  const { B, M, N, K, transA = false, transB = false, batchB = false, accumulate = false } = c;
  const aShape = transA ? [K, M] : [M, K];
  const bShape = transB ? [N, K] : [K, N];
  const aHost = randomArray(rng, B * M * K);
  const bHost = randomArray(rng, (batchB ? B : 1) * K * N);
  const biasHost = c.bias ? randomArray(rng, N) : null;
  const cInit = randomArray(rng, B * M * N);
  const a = rt.tensor(aHost, B > 1 ? [B, ...aShape] : aShape);
  const b = rt.tensor(bHost, batchB ? [B, ...bShape] : bShape);
  const bias = biasHost ? rt.tensor(biasHost, [N]) : undefined;
  const out = rt.tensor(cInit, B > 1 ? [B, M, N] : [M, N]);
  matmul(rt, out, a, b, { bias, transA, transB, accumulate, variant });
  const got = await rt.readF32(out);
  const want = Float32Array.from(cInit);
  ref.matmul(want, aHost, bHost, biasHost, B, M, N, K, { transA, transB, accumulate, batchB });
  const cmp = compare(got, want, { atol: 2e-5 * Math.sqrt(K) * 8, rtol: 1e-4 }, `matmul ${variant}`);
  for (const t of [a, b, bias, out]) t?.destroy();
  expect(cmp.ok, cmp.report).toBe(true);
}

/** The bit patterns of f32 values, for comparisons that must be exact. */
const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));

const VARIANTS: MatmulVariant[] = ['register', 'subgroup', 'subgroup-vec4', 'tiled', 'tiled-db'];

/**
 * The workgroup-memory tiles (for GPUs) compile slowly on SwiftShader, and each set of options is a
 * pipeline: the 64 x 64 tiles in 1-2 s (Node) and 1-4 s (Chromium), the double-buffered 128 x 128
 * ones in 2-3 s and 4-5 s. So they take a part of each group below: `tiled` the 64 x 64 tiles' in
 * Node (every case where absent), `db` the double-buffered tiles' in Node, `page` both in Chromium
 * (indices into the group). Exact-size operands are tested through the 512 x 520 x 513 product,
 * bound so by default, against the reference; the causal triangles through lower 'c' (neither
 * variant skips work for lower 'a'). In Node the double-buffered part covers every transpose,
 * batches with a batched and a shared B, bias, accumulate, products of several 128 x 128 tiles
 * with edges and of whole tiles, K not a multiple of the K step, the causal zero, both head layouts
 * and an epilogue; Chromium's part, both transposes with a batched B, several tiles with edges,
 * whole tiles with accumulate and a head layout (the causal zero and the epilogues are
 * matmul_common.wgsl's code, which every variant appends: tested in Chromium through the others).
 */
const tileSubset =
  (variant: MatmulVariant, keep: { tiled?: number[]; db: number[]; page: number[] }) => (_c: unknown, i: number) => {
    if (!variant.startsWith('tiled')) return true;
    const list = !isNode ? keep.page : variant === 'tiled-db' ? keep.db : keep.tiled;
    return list === undefined || list.includes(i);
  };

/** A describe per variant (`matmul variant V, what`) with a test per case that variant takes. */
function perVariant<C>(
  what: string,
  casesOf: (variant: MatmulVariant) => C[],
  run: (variant: MatmulVariant, c: C) => Promise<void>,
) {
  for (const variant of VARIANTS) {
    const list = casesOf(variant);
    if (list.length === 0) continue;
    describe(`matmul variant ${variant}${what}`, () => {
      for (const c of list) {
        it(JSON.stringify(c), async (ctx) => {
          if (variant.startsWith('subgroup') && !canUseSubgroupMatmul(rt)) ctx.skip('this device has no subgroups of 4+ lanes');
          await run(variant, c);
        });
      }
    });
  }
}

// The vec4 form takes only what it can compute; the others take every case.
perVariant(
  '',
  (variant) =>
    variant === 'subgroup-vec4'
      ? [...cases.filter((c) => fitsVec4(c.N, c.transB === true)), ...vec4Cases]
      : [...cases, ...(variant.startsWith('tiled') ? fullTileCases : [])].filter(
          tileSubset(variant, { db: [3, 4, 5, 6, 7], page: [4, 6, 7] }),
        ),
  check,
);

/**
 * Operands bound as arrays of their exact sizes (option sized; the default from SIZED_WORK
 * multiply-adds on, as the 512 x 520 x 513 case above is) give the runtime-sized arrays' bits, on
 * awkward shapes of several sizes in one runtime (each size its own pipeline).
 */
const sizedCases: Case[] = [
  { B: 1, M: 3, N: 20, K: 63, bias: true },
  { B: 1, M: 129, N: 68, K: 17, transA: true, accumulate: true },
  { B: 2, M: 17, N: 8, K: 129, transA: true, transB: true, batchB: true },
  { B: 3, M: 65, N: 64, K: 64, bias: true, accumulate: true },
];

async function checkSized(variant: MatmulVariant, c: Case): Promise<void> {
  const rng = new Rng(13);
  const { B, M, N, K, transA = false, transB = false, batchB = false, accumulate = false } = c;
  const a = rt.tensor(randomArray(rng, B * M * K), B > 1 ? [B, ...(transA ? [K, M] : [M, K])] : transA ? [K, M] : [M, K]);
  const bShape = transB ? [N, K] : [K, N];
  const b = rt.tensor(randomArray(rng, (batchB ? B : 1) * K * N), batchB ? [B, ...bShape] : bShape);
  const bias = c.bias ? rt.tensor(randomArray(rng, N), [N]) : undefined;
  const cInit = randomArray(rng, B * M * N);
  const run = async (sized: boolean) => {
    const out = rt.tensor(cInit, B > 1 ? [B, M, N] : [M, N]);
    matmul(rt, out, a, b, { bias, transA, transB, accumulate, variant, sized });
    const got = await rt.readF32(out);
    out.destroy();
    return bits(got);
  };
  const plain = await run(false);
  const sized = await run(true);
  for (const t of [a, b, bias]) t?.destroy();
  expect(sized).toEqual(plain);
}

perVariant(
  ', operands of their exact sizes',
  (variant) =>
    sizedCases
      .filter((c) => variant !== 'subgroup-vec4' || fitsVec4(c.N, c.transB === true))
      .filter(tileSubset(variant, { tiled: [], db: [], page: [] })),
  checkSized,
);

describe('matmul subgroup-vec4', () => {
  it('refuses a transposed B or N not a multiple of 4, naming what it needs', async (ctx) => {
    if (!canUseSubgroupMatmul(rt)) ctx.skip('this device has no subgroups of 4+ lanes');
    const a = rt.empty([4, 4]);
    const b = rt.empty([4, 6]);
    const c = rt.empty([4, 6]);
    expect(() => matmul(rt, c, a, b, { variant: 'subgroup-vec4' })).toThrow(/needs B not transposed and N a multiple of 4/);
    for (const t of [a, b, c]) t.destroy();
  });
});

describe('matmul variant choice', () => {
  it('picks a register tile on a CPU (fallback) adapter and the tiled form on a GPU', () => {
    const cpu = rt.report.isFallbackAdapter || rt.report.architecture === 'swiftshader';
    const want = cpu ? (canUseSubgroupMatmul(rt) ? 'subgroup' : 'register') : 'tiled';
    expect(defaultMatmulVariant(rt)).toBe(want);
    // Untuned, every product gets the default (the tuner may choose subgroup-vec4: test/tune.test.ts).
    expect(matmulVariantFor(rt, 64, 64, 64, false)).toBe(want);
    expect(matmulVariantFor(rt, 64, 64, 64, true)).toBe(want);
  });
});

/**
 * Causal attention's triangles on every variant: lower 'a' (A lower triangular) gives the bits of
 * the full product (the skipped products are exact zeros); lower 'c' gives the full product's bits
 * on and below the diagonal and 0 above it. Batched, off the 8-row and 4-column tiles, transposed.
 */
const triangleCases: (Case & { lower: 'a' | 'c' })[] = [
  { B: 4, M: 64, N: 16, K: 64, lower: 'a' },
  { B: 4, M: 64, N: 16, K: 64, transA: true, batchB: true, lower: 'a' },
  { B: 2, M: 37, N: 7, K: 37, batchB: true, lower: 'a' },
  { B: 2, M: 45, N: 13, K: 45, transA: true, lower: 'a' },
  { B: 4, M: 64, N: 64, K: 16, transB: true, batchB: true, lower: 'c' },
  { B: 3, M: 37, N: 37, K: 5, transB: true, batchB: true, lower: 'c' },
  { B: 1, M: 70, N: 70, K: 9, lower: 'c' },
];

async function checkTriangle(variant: MatmulVariant, c: Case & { lower: 'a' | 'c' }): Promise<void> {
  const rng = new Rng(12);
  const { B, M, N, K, transA = false, transB = false, batchB = false, lower } = c;
  const aShape = transA ? [K, M] : [M, K];
  const aHost = randomArray(rng, B * M * K);
  if (lower === 'a') for (let i = 0; i < aHost.length; i++) if (i % K > Math.floor(i / K) % M) aHost[i] = 0;
  const a = rt.tensor(aHost, B > 1 ? [B, ...aShape] : aShape);
  const b = rt.tensor(
    randomArray(rng, (batchB ? B : 1) * K * N),
    batchB ? [B, ...(transB ? [N, K] : [K, N])] : transB ? [N, K] : [K, N],
  );
  const run = async (withLower: boolean) => {
    const out = rt.tensor(randomArray(rng, B * M * N), B > 1 ? [B, M, N] : [M, N]);
    matmul(rt, out, a, b, { transA, transB, variant, lower: withLower ? lower : undefined });
    const got = new Uint32Array((await rt.readF32(out)).buffer);
    out.destroy();
    return got;
  };
  const full = await run(false);
  const tri = await run(true);
  for (const t of [a, b]) t.destroy();
  const want = Uint32Array.from(full, (x, i) => (lower === 'c' && i % N > Math.floor(i / N) % M ? 0 : x));
  expect(Array.from(tri)).toEqual(Array.from(want));
}

perVariant(
  ', causal triangles',
  (variant) =>
    triangleCases
      .filter((c) => variant !== 'subgroup-vec4' || fitsVec4(c.N, c.transB === true))
      .filter(tileSubset(variant, { tiled: [4], db: [4], page: [] })),
  checkTriangle,
);

/**
 * Attention's head layouts (option heads) on every variant: 'split' writes an unbatched [B·T, H·hs]
 * product into [B, H, T, hs], 'merge' a batched [B·H, T, hs] one into [B, T, H, hs]. Each gives, bit
 * for bit, the plain product's elements at their permuted places (and reads an accumulated C's
 * initial values from there); the plain product is checked against the CPU reference as well.
 */
interface HeadsCase {
  heads: 'split' | 'merge';
  B: number;
  T: number;
  H: number;
  hs: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batchB?: boolean;
  bias?: boolean;
  accumulate?: boolean;
  lower?: 'a';
}

const headsCases: HeadsCase[] = [
  { heads: 'split', B: 3, T: 5, H: 3, hs: 7, K: 9, transB: true, bias: true },
  { heads: 'split', B: 2, T: 64, H: 4, hs: 16, K: 64, transB: true, bias: true },
  { heads: 'split', B: 2, T: 9, H: 2, hs: 8, K: 13, accumulate: true },
  { heads: 'merge', B: 2, T: 37, H: 3, hs: 5, K: 37, lower: 'a' },
  { heads: 'merge', B: 2, T: 64, H: 4, hs: 16, K: 64, transA: true, batchB: true, lower: 'a' },
  { heads: 'merge', B: 3, T: 6, H: 2, hs: 12, K: 7, batchB: true, accumulate: true, bias: true },
];

async function checkHeads(variant: MatmulVariant, hc: HeadsCase): Promise<void> {
  const rng = new Rng(13);
  const { heads, B, T, H, hs, K, transA = false, transB = false, batchB = false, accumulate = false, lower } = hc;
  const split = heads === 'split';
  const [Bt, M, N] = split ? [1, B * T, H * hs] : [B * H, T, hs];
  const aHost = randomArray(rng, Bt * M * K);
  // lower 'a' promises zeros above each (square) stored A's diagonal.
  if (lower === 'a') for (let i = 0; i < aHost.length; i++) if (i % K > Math.floor(i / K) % M) aHost[i] = 0;
  const bHost = randomArray(rng, (batchB ? Bt : 1) * K * N);
  const biasHost = hc.bias ? randomArray(rng, N) : null;
  const cInit = randomArray(rng, Bt * M * N);
  /** The place of the plain product's element i. */
  const place = (i: number) => {
    const [z, row, col] = [Math.floor(i / (M * N)), Math.floor(i / N) % M, i % N];
    if (split) return ((Math.floor(row / T) * H + Math.floor(col / hs)) * T + (row % T)) * hs + (col % hs);
    return ((Math.floor(z / H) * T + row) * H + (z % H)) * hs + col;
  };
  const placed = new Float32Array(cInit.length);
  cInit.forEach((v, i) => {
    placed[place(i)] = v;
  });
  const batch = Bt > 1 ? [Bt] : [];
  const a = rt.tensor(aHost, [...batch, ...(transA ? [K, M] : [M, K])]);
  const b = rt.tensor(bHost, [...(batchB ? [Bt] : []), ...(transB ? [N, K] : [K, N])]);
  const bias = biasHost ? rt.tensor(biasHost, [N]) : undefined;
  const plain = rt.tensor(cInit, [...batch, M, N]);
  const laid = rt.tensor(placed, split ? [B, H, T, hs] : [B, T, H, hs]);
  const opts = { bias, transA, transB, accumulate, lower, variant };
  matmul(rt, plain, a, b, opts);
  matmul(rt, laid, a, b, { ...opts, heads });
  const [want, got] = [await rt.readF32(plain), await rt.readF32(laid)];
  for (const t of [a, b, bias, plain, laid]) t?.destroy();
  const refC = Float32Array.from(cInit);
  ref.matmul(refC, aHost, bHost, biasHost, Bt, M, N, K, { transA, transB, accumulate, batchB });
  const cmp = compare(want, refC, { atol: 2e-5 * Math.sqrt(K) * 8, rtol: 1e-4 }, `matmul ${variant}`);
  expect(cmp.ok, cmp.report).toBe(true);
  const moved = new Float32Array(want.length);
  want.forEach((v, i) => {
    moved[place(i)] = v;
  });
  expect(bits(got)).toEqual(bits(moved));
}

// The tiled variants (for GPUs) compile slowly on SwiftShader: a part of the cases (tileSubset).
perVariant(
  ', head layouts',
  (variant) =>
    headsCases
      .filter((c) => variant !== 'subgroup-vec4' || fitsVec4(c.heads === 'split' ? c.H * c.hs : c.hs, c.transB === true))
      .filter(tileSubset(variant, { tiled: [0, 3], db: [0, 3], page: [3] })),
  checkHeads,
);

describe('matmul heads option', () => {
  it('refuses a batch with split, none with merge, a c that does not fit, and a bad value, naming what is wrong', () => {
    const a2 = rt.empty([6, 4]);
    const a3 = rt.empty([4, 3, 5]);
    const w = rt.empty([4, 6]);
    const v = rt.empty([4, 5, 2]);
    const c4 = rt.empty([2, 2, 3, 3]);
    const bad = rt.empty([2, 3, 2, 3]);
    const merged = rt.empty([2, 3, 2, 2]);
    expect(() => matmul(rt, c4, a3, v, { heads: 'split' })).toThrow(/heads 'split' takes an unbatched product/);
    expect(() => matmul(rt, merged, a2, w, { heads: 'merge' })).toThrow(/heads 'merge' takes a batched product/);
    expect(() => matmul(rt, bad, a2, w, { heads: 'split' })).toThrow(/B·T = 6 and H·hs = 6, got c \[2, 3, 2, 3\]/);
    expect(() => matmul(rt, c4, a3, v, { heads: 'merge' })).toThrow(/B·H = 4, T = 3 and hs = 2, got c \[2, 2, 3, 3\]/);
    expect(() => matmul(rt, c4, a2, w, { heads: 'x' as 'split' })).toThrow(/must be 'split' or 'merge'/);
    matmul(rt, c4, a2, w, { heads: 'split' });
    matmul(rt, merged, a3, v, { heads: 'merge' });
    for (const t of [a2, a3, w, v, c4, bad, merged]) t.destroy();
  });
});

/**
 * The epilogues on every variant: residual, geluOut and geluGradAt give the bits of the product
 * followed by the separate kernel (add, gelu_forward, gelu_backward), and match the CPU reference's
 * product and function within the product's tolerance.
 */
interface EpilogueCase {
  epilogue: 'residual' | 'geluOut' | 'geluGradAt';
  B: number;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
}

const epilogueCases: EpilogueCase[] = [
  { epilogue: 'residual', B: 1, M: 37, N: 29, K: 13, transB: true, bias: true },
  { epilogue: 'residual', B: 2, M: 9, N: 20, K: 64, bias: true },
  { epilogue: 'geluOut', B: 1, M: 65, N: 36, K: 17, transB: true, bias: true },
  { epilogue: 'geluOut', B: 1, M: 5, N: 7, K: 3, transA: true },
  { epilogue: 'geluGradAt', B: 1, M: 33, N: 68, K: 21 },
  { epilogue: 'geluGradAt', B: 3, M: 7, N: 13, K: 9, transA: true, transB: true },
];

async function checkEpilogue(variant: MatmulVariant, ec: EpilogueCase): Promise<void> {
  const rng = new Rng(14);
  const { epilogue, B, M, N, K, transA = false, transB = false } = ec;
  const batch = B > 1 ? [B] : [];
  const aHost = randomArray(rng, B * M * K);
  const bHost = randomArray(rng, K * N);
  const biasHost = ec.bias ? randomArray(rng, N) : null;
  // Values of both signs and the large ones where GELU's branches change.
  const xHost = randomArray(rng, B * M * N).map((v, i) => (i % 7 === 0 ? v * 12 : v));
  const a = rt.tensor(aHost, [...batch, ...(transA ? [K, M] : [M, K])]);
  const b = rt.tensor(bHost, transB ? [N, K] : [K, N]);
  const bias = biasHost ? rt.tensor(biasHost, [N]) : undefined;
  const x = rt.tensor(xHost, [...batch, M, N]);
  const plain = rt.empty([...batch, M, N]);
  const fused = rt.empty([...batch, M, N]);
  const after = rt.empty([...batch, M, N]);
  const fusedExtra = rt.empty([...batch, M, N]);
  const opts = { bias, transA, transB, variant };
  matmul(rt, plain, a, b, opts);
  if (epilogue === 'residual') {
    add(rt, after, x, plain);
    matmul(rt, fused, a, b, { ...opts, residual: x });
  } else if (epilogue === 'geluOut') {
    gelu_forward(rt, after, plain);
    matmul(rt, fused, a, b, { ...opts, geluOut: fusedExtra });
  } else {
    gelu_backward(rt, after, plain, x);
    matmul(rt, fused, a, b, { ...opts, geluGradAt: x });
  }
  const [p, f, want, extra] = await Promise.all([plain, fused, after, fusedExtra].map((t) => rt.readF32(t)));
  for (const t of [a, b, bias, x, plain, fused, after, fusedExtra]) t?.destroy();
  // geluOut leaves C the plain product and writes GELU(C) beside it; the others change C.
  if (epilogue === 'geluOut') {
    expect(bits(f)).toEqual(bits(p));
    expect(bits(extra)).toEqual(bits(want));
  } else expect(bits(f)).toEqual(bits(want));
  const refC = new Float32Array(B * M * N);
  ref.matmul(refC, aHost, bHost, biasHost, B, M, N, K, { transA, transB, batchB: false });
  const refOut = new Float32Array(refC.length);
  if (epilogue === 'residual') ref.add(refOut, xHost, refC, refC.length);
  else if (epilogue === 'geluOut') ref.gelu_forward(refOut, refC, refC.length);
  else ref.gelu_backward(refOut, refC, xHost, refC.length);
  const cmp = compare(
    epilogue === 'geluOut' ? extra : f,
    refOut,
    { atol: 2e-5 * Math.sqrt(K) * 8, rtol: 1e-4 },
    `matmul ${variant} ${epilogue}`,
  );
  expect(cmp.ok, cmp.report).toBe(true);
}

// The tiled variants: a part of the cases (tileSubset).
perVariant(
  ', epilogues',
  (variant) =>
    epilogueCases
      .filter((c) => variant !== 'subgroup-vec4' || fitsVec4(c.N, c.transB === true))
      .filter(tileSubset(variant, { tiled: [0, 2, 4], db: [2], page: [] })),
  checkEpilogue,
);

describe('matmul epilogue options', () => {
  it('refuses two epilogues, one with accumulate, lower or heads, a wrong shape, and an output shared with an input', () => {
    const a = rt.empty([4, 6]);
    const b = rt.empty([6, 6]);
    const c = rt.empty([4, 6]);
    const x = rt.empty([4, 6]);
    const g = rt.empty([4, 6]);
    const wrong = rt.empty([6, 4]);
    expect(() => matmul(rt, c, a, b, { residual: x, geluOut: g })).toThrow(/residual and geluOut cannot be combined/);
    expect(() => matmul(rt, c, a, b, { residual: x, accumulate: true })).toThrow(
      /residual cannot be combined with accumulate, lower or heads/,
    );
    expect(() => matmul(rt, c, a, b, { geluGradAt: wrong })).toThrow(/geluGradAt/);
    expect(() => matmul(rt, c, a, b, { geluOut: a })).toThrow(/output geluOut is the same tensor as input a/);
    expect(() => matmul(rt, c, a, b, { residual: c })).toThrow(/output c is the same tensor as input residual/);
    for (const t of [a, b, c, x, g, wrong]) t.destroy();
  });
});

describe('matmul lower option', () => {
  it('refuses a non-square triangle, bias, accumulate, and a bad value, naming what is wrong', () => {
    const a = rt.empty([4, 6]);
    const b = rt.empty([6, 6]);
    const c = rt.empty([4, 6]);
    const sq = rt.empty([6, 6]);
    const bias = rt.empty([6]);
    expect(() => matmul(rt, c, a, b, { lower: 'a' })).toThrow(/lower 'a' needs a square A/);
    expect(() => matmul(rt, c, a, b, { lower: 'c' })).toThrow(/lower 'c' needs a square C/);
    expect(() => matmul(rt, sq, b, b, { lower: 'a', bias })).toThrow(/cannot be combined with bias or accumulate/);
    expect(() => matmul(rt, sq, b, b, { lower: 'c', accumulate: true })).toThrow(/cannot be combined/);
    expect(() => matmul(rt, sq, b, b, { lower: 'x' as 'a' })).toThrow(/must be 'a' or 'c'/);
    for (const t of [a, b, c, sq, bias]) t.destroy();
  });
});

describe('triangle promises on host data', () => {
  it('refuses, with the offending entry, a matmul lowerA input or a causal attention_backward att that is not zero above the diagonal', async () => {
    const mm = kernels.find((k) => k.name === 'matmul') as KernelEntry;
    const a = { shape: [2, 3, 3], data: Float32Array.from([1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0.5, 1, 1, 1]) };
    const b = { shape: [3, 2], data: new Float32Array(6).fill(1) };
    await expect(runKernel(rt, mm, { a, b }, { lowerA: true })).rejects.toThrow(InputError);
    await expect(runKernel(rt, mm, { a, b }, { lowerA: true })).rejects.toThrow(/a\[\.\., 1, 2\] = 0\.5/);
    // The same data zeroed where it must be runs, and equals the product without the promise.
    a.data[14] = 0;
    const [tri, full] = [await runKernel(rt, mm, { a, b }, { lowerA: true }), await runKernel(rt, mm, { a, b }, {})];
    expect(Array.from(tri.c.data)).toEqual(Array.from(full.c.data));
    const back = kernels.find((k) => k.name === 'attention_backward') as KernelEntry;
    const rng = new Rng(3);
    const t = (shape: number[]) => ({
      shape,
      data: randomArray(
        rng,
        shape.reduce((x, y) => x * y, 1),
      ),
    });
    const inputs = { dout: t([1, 1, 4, 2]), q: t([1, 1, 4, 2]), k: t([1, 1, 4, 2]), v: t([1, 1, 4, 2]), att: t([1, 1, 4, 4]) };
    await expect(runKernel(rt, back, inputs, { causal: true })).rejects.toThrow(/causal needs zeros above the diagonal/);
  });
});
