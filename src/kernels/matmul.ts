/**
 * matmul: C = op(A) · op(B) (+ bias) (+ C), batched. The backward pass of a linear layer is this
 * kernel again with transposes: dA = dC · Bᵀ (transB), dB = Aᵀ · dC (transA), summed over a batch
 * with accumulate.
 */
import { ShapeError } from '../gpu/errors.ts';
import { type KernelSpec, ceilDiv } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { dummy, dummyOut, expectDType, expectDistinct, expectRank, expectShape, isCpuAdapter, shapesOf } from './common.ts';

export type MatmulVariant = 'register' | 'subgroup' | 'subgroup-vec4' | 'tiled' | 'tiled-db';

const bindings = [
  { name: 'a', access: 'read' },
  { name: 'b', access: 'read' },
  { name: 'bias', access: 'read' },
  { name: 'c', access: 'read_write' },
  { name: 'aux', access: 'read' },
  { name: 'act', access: 'read_write' },
] as const;

/**
 * Every variant's text is followed by what they share (shaders/matmul_common.wgsl: C's layouts,
 * the epilogues and the stores) and GELU's functions (shaders/gelu.wgsl) for the epilogues.
 */
const withShared = (text: string) => `${text}\n${shaders.matmul_common}\n${shaders.gelu}`;
const params = [
  ['M', 'u32'],
  ['N', 'u32'],
  ['K', 'u32'],
  ['LA', 'u32'],
  ['LB', 'u32'],
] as const;

type P = 'M' | 'N' | 'K' | 'LA' | 'LB' | 'Bt';

/** 8 x 4 outputs per invocation in registers, no barriers: fastest on SwiftShader (CPU). */
export const matmulRegister: KernelSpec<P> = {
  name: 'matmul',
  shader: withShared(shaders.matmul),
  params,
  bindings,
  workgroupSize: [8, 8, 1],
  dispatch: ({ M, N, Bt }) => [ceilDiv(N, 8 * 4), ceilDiv(M, 8 * 8), Bt],
};

/**
 * The register tile with A shared through subgroupBroadcast: a quarter of the A loads. Needs the
 * `subgroups` feature and subgroups of at least 4 lanes. A workgroup is one 8-row block of WG_X * 4
 * columns; every lane computes (no early return, subgroup operations need them all), so WG_X follows
 * N: 4 to 32 lanes, the fewest that cover N, and narrow outputs (attention heads) waste no lanes.
 */
function subgroupSpec(wg: number, name: 'matmul_subgroup' | 'matmul_subgroup_vec4'): KernelSpec<P> {
  return {
    name,
    shader: withShared(shaders[name]),
    params,
    bindings,
    workgroupSize: [wg, 1, 1],
    dispatch: ({ M, N, Bt }) => [ceilDiv(N, wg * 4), ceilDiv(M, 8), Bt],
  };
}
const subgroupSpecs = new Map<number, KernelSpec<P>>([4, 8, 16, 32].map((wg) => [wg, subgroupSpec(wg, 'matmul_subgroup')]));

/** The subgroup variant with B read as vec4s (B not transposed, N a multiple of 4). */
const subgroupVec4Specs = new Map<number, KernelSpec<P>>(
  [4, 8, 16, 32].map((wg) => [wg, subgroupSpec(wg, 'matmul_subgroup_vec4')]),
);

/** Whether the subgroup-vec4 variant can compute this product (besides the device's subgroups). */
export function fitsVec4(N: number, transB: boolean): boolean {
  return !transB && N % 4 === 0;
}

/** The subgroup variant's workgroup width for N output columns. */
export function subgroupWidth(N: number): number {
  let wg = 4;
  while (wg < 32 && wg * 4 < N) wg *= 2;
  return wg;
}

/** Workgroup-memory tiles of `tile` x `tile` outputs, 16 x 16 invocations a workgroup. */
function tiledSpec(name: 'matmul_tiled' | 'matmul_tiled_db', tile: number): KernelSpec<P> {
  return {
    name,
    shader: withShared(shaders[name]),
    params,
    bindings,
    workgroupSize: [16, 16, 1],
    dispatch: ({ M, N, Bt }) => [ceilDiv(N, tile), ceilDiv(M, tile), Bt],
  };
}

/** 64 x 64 workgroup tiles staged in workgroup memory: the usual form for real GPUs. */
export const matmulTiled = tiledSpec('matmul_tiled', 64);

/**
 * 128 x 128 workgroup tiles, 8 x 8 outputs per invocation, the next K slice loaded while the
 * current one is multiplied (two stages of workgroup memory): the usual form for large products on
 * real GPUs, where a 64 x 64 tile moves too many bytes per multiply-add. 16 KiB of workgroup memory.
 */
export const matmulTiledDb = tiledSpec('matmul_tiled_db', 128);

/**
 * Products of at least this many multiply-adds (Bt·M·N·K, 256³) bind a, b and c as arrays of their
 * exact sizes instead of runtime-sized arrays: the robustness clamp of every load is then against a
 * constant, not arrayLength. On SwiftShader that made 512³ 0.87x its time (raw WGSL, interleaved);
 * at the small training-step shapes it was within noise (0.98-1.02x), and every new size is a new
 * pipeline to compile, so smaller products keep the one shader for all sizes.
 */
export const SIZED_WORK = 2 ** 24;

const sizedSpecs = new Map<string, KernelSpec<P>>();

/**
 * `spec` with its bindings a, b and c declared as arrays of `sizes` f32 elements (vec4s where the
 * shader reads vec4s: a quarter as many), cached per spec and sizes.
 */
function sizedSpec(spec: KernelSpec<P>, sizes: Readonly<Record<'a' | 'b' | 'c', number>>): KernelSpec<P> {
  const key = `${spec.name}/${spec.workgroupSize.join('x')}/${sizes.a},${sizes.b},${sizes.c}`;
  let sized = sizedSpecs.get(key);
  if (!sized) {
    let shader = spec.shader;
    for (const name of ['a', 'b', 'c'] as const) {
      const decl = new RegExp(`(var<storage, read(?:_write)?> ${name}: array<)(f32|vec4f)>;`);
      const m = decl.exec(shader);
      if (!m) throw new Error(`matmul: ${spec.name} declares no runtime-sized binding ${name} to size`);
      shader = shader.replace(decl, `$1$2, ${m[2] === 'vec4f' ? sizes[name] / 4 : sizes[name]}>;`);
    }
    sized = { ...spec, shader };
    sizedSpecs.set(key, sized);
  }
  return sized;
}

/** Whether this device can run the subgroup variant (the feature, and subgroups of 4+ lanes). */
export function canUseSubgroupMatmul(rt: Runtime): boolean {
  const info = rt.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
  return rt.device.features.has('subgroups') && (info.subgroupMinSize ?? 0) >= 4;
}

/**
 * Every variant this device can run for a product of N columns (B transposed or not), in the
 * benchmark's order: what the tuner and the benchmark time.
 */
export function matmulVariantsFor(rt: Runtime, N: number, transB: boolean): MatmulVariant[] {
  const subgroups = canUseSubgroupMatmul(rt);
  return [
    'register',
    ...(subgroups ? (['subgroup'] as const) : []),
    ...(subgroups && fitsVec4(N, transB) ? (['subgroup-vec4'] as const) : []),
    'tiled',
    'tiled-db',
  ];
}

/**
 * The variant for an adapter. On CPU implementations (SwiftShader) barriers are very costly and
 * every indexed load is a per-lane gather: the register tiles win there, the subgroup one when the
 * device has subgroups (see `npm run bench`). GPUs get the workgroup-memory tiles.
 */
export function defaultMatmulVariant(rt: Runtime): MatmulVariant {
  if (!isCpuAdapter(rt)) return 'tiled';
  return canUseSubgroupMatmul(rt) ? 'subgroup' : 'register';
}

/**
 * Shape classes for tuning: whether B can be read as vec4s, and the size: small (under 128³
 * multiply-adds, where dispatch cost dominates), large, or huge (1024³ and over, where a GPU's
 * largest tiles fill it: at 512³ the double-buffered 128 x 128 tiles make 16 workgroups).
 */
export type MatmulClass = `${'vec4' | 'gather'}-${'small' | 'large' | 'huge'}`;
export const MATMUL_CLASSES: readonly MatmulClass[] = [
  'vec4-small',
  'vec4-large',
  'vec4-huge',
  'gather-small',
  'gather-large',
  'gather-huge',
];

export function matmulClass(M: number, N: number, K: number, transB: boolean): MatmulClass {
  const work = M * N * K;
  return `${fitsVec4(N, transB) ? 'vec4' : 'gather'}-${work < 128 ** 3 ? 'small' : work < 1024 ** 3 ? 'large' : 'huge'}`;
}

/**
 * Measured choices for this device (`npm run bench -- --tune`, src/bench/tune.ts): the fastest
 * correct variant per shape class. The training path only looks them up.
 */
const tunings = new WeakMap<Runtime, Partial<Record<MatmulClass, MatmulVariant>>>();

export function setMatmulTuning(rt: Runtime, table: Partial<Record<MatmulClass, MatmulVariant>> | undefined): void {
  if (table) tunings.set(rt, table);
  else tunings.delete(rt);
}

export function matmulTuning(rt: Runtime): Partial<Record<MatmulClass, MatmulVariant>> | undefined {
  return tunings.get(rt);
}

/**
 * The variant the training path uses for a product: the tuned choice for its shape class when this
 * device has been tuned, otherwise the adapter's default. (subgroup-vec4 is left to the tuner: on
 * SwiftShader it measured 1.3x faster than subgroup in one session's interleaved runs and 0.8-1.0x in
 * the next; the difference is within this machine's noise.)
 */
export function matmulVariantFor(rt: Runtime, M: number, N: number, K: number, transB: boolean): MatmulVariant {
  return tunings.get(rt)?.[matmulClass(M, N, K, transB)] ?? defaultMatmulVariant(rt);
}

export interface MatmulOptions {
  /** [N], added to every row of C. */
  bias?: Tensor;
  /** A is stored [.., K, M]. */
  transA?: boolean;
  /** B is stored [.., N, K]. */
  transB?: boolean;
  /** C += result instead of C = result. */
  accumulate?: boolean;
  /**
   * Causal attention's triangles (square matrices per batch). 'a': A as stored is lower triangular
   * (zero above its diagonal), so the CPU variants skip the zero part of K: a hint that leaves the
   * result as it is (bit for bit: the skipped products are exact zeros). 'c': only C's lower
   * triangle is wanted; the entries above its diagonal are set to 0, and the CPU variants skip the
   * tiles that lie wholly above it. Neither with bias or accumulate.
   */
  lower?: 'a' | 'c';
  /**
   * Where C's elements go, for attention's heads (the same values in other places, so no permute
   * dispatch is needed): 'split', an unbatched product [B·T, H·hs] written into c [B, H, T, hs];
   * 'merge', a batched product [B·H, T, hs] written into c [B, T, H, hs]. With accumulate, C's
   * initial values are read from the same places.
   */
  heads?: 'split' | 'merge';
  /**
   * Epilogues (at most one; shapes as C; not with accumulate, lower or heads), each the same bits as
   * the separate kernel after the product: residual, C = product (+ bias) + residual (add); geluOut,
   * C as usual and GELU(C) written into geluOut too (gelu_forward); geluGradAt, C = product ⊙
   * GELU'(geluGradAt) (gelu_backward with dy the product).
   */
  residual?: Tensor;
  geluOut?: Tensor;
  geluGradAt?: Tensor;
  variant?: MatmulVariant;
  /**
   * Bind a, b and c as arrays of their exact sizes (default: for products of at least SIZED_WORK
   * multiply-adds). The same results bit for bit; a pipeline per size.
   */
  sized?: boolean;
}

/**
 * c [Bt, M, N] (or [M, N]) = op(a) · op(b). a is [Bt, M, K] or [M, K] (transposed: [.., K, M]);
 * b is [Bt, K, N] or [K, N] (transposed: [.., N, K]); a 2-D b is shared by every batch.
 */
export function matmul(rt: Runtime, c: Tensor, a: Tensor, b: Tensor, opts: MatmulOptions = {}): void {
  const k = 'matmul';
  const { bias, transA = false, transB = false, accumulate = false } = opts;
  expectRank(k, 'a', a, [2, 3]);
  expectRank(k, 'b', b, [2, 3]);
  for (const [n, t] of [
    ['a', a],
    ['b', b],
    ['c', c],
  ] as const)
    expectDType(k, n, t, 'f32');
  const batched = a.shape.length === 3;
  const Bt = batched ? a.shape[0] : 1;
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const M = transA ? aCols : aRows;
  const K = transA ? aRows : aCols;
  const Kb = transB ? bCols : bRows;
  const N = transB ? bRows : bCols;
  const shapes = shapesOf({ a, b, bias, c }) + (transA ? ' transA' : '') + (transB ? ' transB' : '');
  if (K !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: op(a) is [${M}, ${K}] but op(b) is [${Kb}, ${N}] (${shapes}); op(a)'s columns must equal op(b)'s rows`,
    );
  }
  const batchB = b.shape.length === 3;
  if (batchB && (!batched || b.shape[0] !== Bt)) {
    throw new ShapeError(`matmul: b has a batch dimension of ${b.shape[0]} but a has ${batched ? Bt : 'none'} (${shapes})`);
  }
  const { heads } = opts;
  let LA = 1;
  let LB = 1;
  if (heads === undefined) expectShape(k, 'c', c, batched ? [Bt, M, N] : [M, N]);
  else if (heads === 'split') {
    if (batched)
      throw new ShapeError(`matmul: heads 'split' takes an unbatched product [B·T, H·hs], got a batch of ${Bt} (${shapes})`);
    expectRank(k, 'c', c, [4]);
    const [Bc, H, T, hs] = c.shape;
    if (Bc * T !== M || H * hs !== N)
      throw new ShapeError(
        `matmul: heads 'split' writes the [${M}, ${N}] product into c [B, H, T, hs] with B·T = ${M} and H·hs = ${N}, got c [${c.shape.join(', ')}]`,
      );
    [LA, LB] = [T, hs];
  } else if (heads === 'merge') {
    if (!batched)
      throw new ShapeError(`matmul: heads 'merge' takes a batched product [B·H, T, hs], got an unbatched one (${shapes})`);
    expectRank(k, 'c', c, [4]);
    const [Bc, T, H, hs] = c.shape;
    if (Bc * H !== Bt || T !== M || hs !== N)
      throw new ShapeError(
        `matmul: heads 'merge' writes the [${Bt}, ${M}, ${N}] product into c [B, T, H, hs] with B·H = ${Bt}, T = ${M} and hs = ${N}, got c [${c.shape.join(', ')}]`,
      );
    LA = H;
  } else throw new ShapeError(`matmul: option heads must be 'split' or 'merge', got ${String(heads)}`);
  if (bias) {
    expectDType(k, 'bias', bias, 'f32');
    expectShape(k, 'bias', bias, [N]);
  }
  const { lower } = opts;
  if (lower !== undefined) {
    if (lower !== 'a' && lower !== 'c') throw new ShapeError(`matmul: option lower must be 'a' or 'c', got ${String(lower)}`);
    if (bias || accumulate) throw new ShapeError(`matmul: option lower cannot be combined with bias or accumulate (${shapes})`);
    if (lower === 'a' && aRows !== aCols)
      throw new ShapeError(`matmul: lower 'a' needs a square A (per batch), got [${aRows}, ${aCols}] (${shapes})`);
    if (lower === 'c' && M !== N)
      throw new ShapeError(`matmul: lower 'c' needs a square C (per batch), got [${M}, ${N}] (${shapes})`);
  }
  const { residual, geluOut, geluGradAt } = opts;
  const epilogues = { residual, geluOut, geluGradAt };
  const used = Object.entries(epilogues).filter(([, t]) => t);
  if (used.length > 1)
    throw new ShapeError(`matmul: options ${used.map(([n]) => n).join(' and ')} cannot be combined (one epilogue at most)`);
  const [epilogue, extra] = used[0] ?? [];
  if (epilogue && extra) {
    if (accumulate || lower || heads)
      throw new ShapeError(`matmul: option ${epilogue} cannot be combined with accumulate, lower or heads (${shapes})`);
    expectDType(k, epilogue, extra, 'f32');
    expectShape(k, epilogue, extra, c.shape);
  }
  expectDistinct(k, geluOut ? { c, geluOut } : { c }, { a, b, bias, residual, geluGradAt });
  const variant = opts.variant ?? matmulVariantFor(rt, M, N, K, transB);
  if ((variant === 'subgroup' || variant === 'subgroup-vec4') && !canUseSubgroupMatmul(rt)) {
    throw new ShapeError(`matmul: the ${variant} variant needs the subgroups feature with at least 4 lanes; this device has not`);
  }
  if (variant === 'subgroup-vec4' && !fitsVec4(N, transB)) {
    throw new ShapeError(`matmul: the subgroup-vec4 variant needs B not transposed and N a multiple of 4 (${shapes})`);
  }
  // With lower 'c' the subgroup variants skip whole workgroups above the diagonal: keep them narrow.
  const width = lower === 'c' ? 4 : subgroupWidth(N);
  const generic =
    variant === 'subgroup'
      ? (subgroupSpecs.get(width) as KernelSpec<P>)
      : variant === 'subgroup-vec4'
        ? (subgroupVec4Specs.get(width) as KernelSpec<P>)
        : variant === 'tiled'
          ? matmulTiled
          : variant === 'tiled-db'
            ? matmulTiledDb
            : matmulRegister;
  const sized = opts.sized ?? Bt * M * N * K >= SIZED_WORK;
  const spec = sized ? sizedSpec(generic, { a: a.size, b: b.size, c: c.size }) : generic;
  // Whether every stored 8 x 4 tile lies inside C: the subgroup variants' workgroups span whole
  // rows of `width` lanes (no early return), the register variant returns from tiles past C, the
  // double-buffered tiles are 128 x 128 (the 64 x 64 tiled variant checks every store).
  const fullTiles =
    variant === 'tiled-db'
      ? M % 128 === 0 && N % 128 === 0
      : M % 8 === 0 && (variant === 'register' ? N % 4 === 0 : N % (width * 4) === 0);
  rt.dispatch(spec, {
    params: { M, N, K, LA, LB, Bt },
    tensors: { a, b, bias: bias ?? dummy(rt), c, aux: residual ?? geluGradAt ?? dummy(rt), act: geluOut ?? dummyOut(rt) },
    constants: {
      TRANS_A: Number(transA),
      TRANS_B: Number(transB),
      BATCH_B: Number(batchB),
      HAS_BIAS: Number(!!bias),
      ACCUMULATE: Number(accumulate),
      LOWER_A: Number(lower === 'a'),
      LOWER_C: Number(lower === 'c'),
      K_REM: Number(K % 4 !== 0),
      FULL_TILES: Number(fullTiles),
      C_LAYOUT: heads === 'split' ? 1 : heads === 'merge' ? 2 : 0,
      EPILOGUE: residual ? 1 : geluOut ? 2 : geluGradAt ? 3 : 0,
    },
    shapes: shapes + (lower ? ` lower-${lower}` : '') + (heads ? ` heads-${heads}` : '') + (epilogue ? ` ${epilogue}` : ''),
  });
}
