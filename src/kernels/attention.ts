/**
 * Multi-head attention composed from the kernels: permute_0213 (heads), batched matmul and softmax.
 *   forward:  att = softmax(q·kᵀ / sqrt(hs), causal), out = att·v
 *   backward: dv = attᵀ·dout, datt = dout·vᵀ, dscores = softmax_backward(datt, att, 1/sqrt(hs)),
 *             dq = dscores·k, dk = dscoresᵀ·q
 * q, k, v, out are [B, H, T, hs]; att is [B, H, T, T] (kept for the backward pass). With `merged`,
 * the outputs (out; dq, dk, dv) are [B, T, H, hs] instead: the heads merged into rows of width H·hs,
 * written in place by the last products (matmul's heads 'merge'), so no permute is needed.
 */
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import {
  WG_1D,
  expectDType,
  expectDistinct,
  expectRank,
  expectShape,
  grid1d,
  shapesOf,
  vec4Width,
  vec4Variant,
} from './common.ts';
import { matmul } from './matmul.ts';
import { softmax_backward, softmax_forward } from './softmax.ts';

const permuteSpec: KernelSpec<'A' | 'Bd' | 'Cd' | 'D' | 'N'> = {
  name: 'permute_0213',
  shader: shaders.permute_0213,
  params: [
    ['A', 'u32'],
    ['Bd', 'u32'],
    ['Cd', 'u32'],
    ['D', 'u32'],
  ],
  bindings: [
    { name: 'x', access: 'read' },
    { name: 'y', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};
const permuteVec4Spec = vec4Variant(permuteSpec);

/** y [A, C, B, D] = x [A, B, C, D] with the middle axes swapped (four elements per invocation when D % 4 is 0). */
export function permute_0213(rt: Runtime, y: Tensor, x: Tensor): void {
  const k = 'permute_0213';
  expectRank(k, 'x', x, [4]);
  expectDType(k, 'x', x, 'f32');
  expectDType(k, 'y', y, 'f32');
  const [A, Bd, Cd, D] = x.shape;
  expectShape(k, 'y', y, [A, Cd, Bd, D]);
  expectDistinct(k, { y }, { x });
  const w = vec4Width(D, [x, y]);
  rt.dispatch(w === 4 ? permuteVec4Spec : permuteSpec, {
    params: { A, Bd, Cd, D: D / w, N: x.size / w },
    tensors: { x, y },
    shapes: shapesOf({ x, y }),
  });
}

function heads(k: string, q: Tensor, kt: Tensor, v: Tensor): { B: number; H: number; T: number; hs: number } {
  expectRank(k, 'q', q, [4]);
  const [B, H, T, hs] = q.shape;
  expectShape(k, 'k', kt, q.shape);
  expectShape(k, 'v', v, q.shape);
  return { B, H, T, hs };
}

/** [B, H, R, C] as a batch of B*H matrices, for the batched matmul. */
const asBatch = (rt: Runtime, t: Tensor): Tensor => rt.view(t, 0, [t.shape[0] * t.shape[1], t.shape[2], t.shape[3]], t.label);

export interface AttentionOptions {
  causal?: boolean;
  /** The outputs in [B, T, H, hs] (heads merged) instead of [B, H, T, hs]. */
  merged?: boolean;
}

/** The outputs' shape: [B, H, T, hs], or [B, T, H, hs] merged. */
const outShape = (B: number, H: number, T: number, hs: number, opts: AttentionOptions) =>
  opts.merged ? [B, T, H, hs] : [B, H, T, hs];

/**
 * An output as the last product's C: merged, the [B, T, H, hs] tensor itself, which the product
 * writes through matmul's heads 'merge'; otherwise [B, H, T, hs] viewed as a batch of B*H matrices.
 */
const outputAs = (rt: Runtime, t: Tensor, opts: AttentionOptions): { c: Tensor; heads?: 'merge' } =>
  opts.merged ? { c: t, heads: 'merge' } : { c: asBatch(rt, t) };

/**
 * Two [B, H, T, T] work tensors the caller allocates once per model (WebGPU cannot read and write
 * one buffer in a dispatch, so the scores and their gradients need their own).
 */
export interface AttentionScratch {
  s0: Tensor;
  s1: Tensor;
}

export function attentionScratch(rt: Runtime, B: number, H: number, T: number, label = 'attention'): AttentionScratch {
  return { s0: rt.empty([B, H, T, T], 'f32', `${label}.s0`), s1: rt.empty([B, H, T, T], 'f32', `${label}.s1`) };
}

function checkScratch(name: string, scratch: AttentionScratch, B: number, H: number, T: number): void {
  expectShape(name, 'scratch.s0', scratch.s0, [B, H, T, T]);
  expectShape(name, 'scratch.s1', scratch.s1, [B, H, T, T]);
}

/** out [B, H, T, hs] and att [B, H, T, T] (the probabilities, kept for backward) from q, k, v. */
export function attention_forward(
  rt: Runtime,
  out: Tensor,
  att: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scratch: AttentionScratch,
  opts: AttentionOptions = {},
): void {
  const name = 'attention_forward';
  const { B, H, T, hs } = heads(name, q, k, v);
  expectShape(name, 'out', out, outShape(B, H, T, hs, opts));
  expectShape(name, 'att', att, [B, H, T, T]);
  checkScratch(name, scratch, B, H, T);
  expectDistinct(name, { out, att, scores: scratch.s0 }, { q, k, v });
  const scores = asBatch(rt, scratch.s0);
  const P = asBatch(rt, att);
  // Causal: only the scores' lower triangle is needed, and att is zero above its diagonal, so the
  // products skip those parts (the same bits: the skipped terms are exact zeros).
  const causal = opts.causal ?? false;
  matmul(rt, scores, asBatch(rt, q), asBatch(rt, k), { transB: true, lower: causal ? 'c' : undefined });
  softmax_forward(rt, P, scores, { scale: 1 / Math.sqrt(hs), causal });
  const o = outputAs(rt, out, opts);
  matmul(rt, o.c, P, asBatch(rt, v), { lower: causal ? 'a' : undefined, heads: o.heads });
}

/**
 * dq, dk, dv [B, H, T, hs] from dout [B, H, T, hs] and the forward's q, k, v, att. With causal, att
 * must be the causal forward's (zero above its diagonal): the products then skip the zero parts.
 */
export function attention_backward(
  rt: Runtime,
  dq: Tensor,
  dk: Tensor,
  dv: Tensor,
  dout: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  att: Tensor,
  scratch: AttentionScratch,
  opts: AttentionOptions = {},
): void {
  const name = 'attention_backward';
  const { B, H, T, hs } = heads(name, q, k, v);
  for (const [n, t] of [
    ['dq', dq],
    ['dk', dk],
    ['dv', dv],
  ] as const)
    expectShape(name, n, t, outShape(B, H, T, hs, opts));
  expectShape(name, 'dout', dout, q.shape);
  expectShape(name, 'att', att, [B, H, T, T]);
  checkScratch(name, scratch, B, H, T);
  expectDistinct(name, { dq, dk, dv, datt: scratch.s0, dscores: scratch.s1 }, { dout, q, k, v, att });
  const P = asBatch(rt, att);
  const dO = asBatch(rt, dout);
  const datt = asBatch(rt, scratch.s0);
  const dscores = asBatch(rt, scratch.s1);
  // Causal: att and dscores (att times something) are zero above the diagonal, and datt is only
  // read where att is not.
  const lowerA = opts.causal ? 'a' : undefined;
  const [gq, gk, gv] = [dq, dk, dv].map((t) => outputAs(rt, t, opts));
  matmul(rt, gv.c, P, dO, { transA: true, lower: lowerA, heads: gv.heads });
  matmul(rt, datt, dO, asBatch(rt, v), { transB: true, lower: opts.causal ? 'c' : undefined });
  softmax_backward(rt, dscores, datt, P, { scale: 1 / Math.sqrt(hs) });
  matmul(rt, gq.c, dscores, asBatch(rt, k), { lower: lowerA, heads: gq.heads });
  matmul(rt, gk.c, dscores, asBatch(rt, q), { transA: true, lower: lowerA, heads: gk.heads });
}

const decodeSpec: KernelSpec<'BH' | 'H' | 'Tmax' | 'hs' | 'scale'> = {
  name: 'attention_decode',
  shader: shaders.attention_decode,
  params: [
    ['BH', 'u32'],
    ['H', 'u32'],
    ['Tmax', 'u32'],
    ['hs', 'u32'],
    ['scale', 'f32'],
  ],
  bindings: [
    { name: 'q', access: 'read' },
    { name: 'k', access: 'read' },
    { name: 'v', access: 'read' },
    { name: 'pos', access: 'read' },
    { name: 'kcache', access: 'read_write' },
    { name: 'vcache', access: 'read_write' },
    { name: 'probs', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ BH }) => grid1d(BH),
};

const decodeValuesSpec: KernelSpec<'N' | 'H' | 'Tmax' | 'hs'> = {
  name: 'attention_decode_values',
  shader: shaders.attention_decode_values,
  params: [
    ['N', 'u32'],
    ['H', 'u32'],
    ['Tmax', 'u32'],
    ['hs', 'u32'],
  ],
  bindings: [
    { name: 'probs', access: 'read' },
    { name: 'vcache', access: 'read' },
    { name: 'pos', access: 'read' },
    { name: 'out', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

/**
 * One new position per sequence against a key/value cache (generation): the new k, v [B, H, hs]
 * are written into kcache, vcache [B, H, Tmax, hs] at row pos[b] ([B] u32, each < Tmax: the caller
 * checks the data; the kernel clamps), and out [B, H, hs] = causal softmax(q·kᵀ / sqrt(hs)) · v over
 * the cache's rows 0..pos[b]. The math of attention_forward's row pos[b], with the earlier rows'
 * keys and values taken from the cache: two dispatches, the cache update and the probabilities per
 * (sequence, head), then their products with the values; see shaders/attention_decode.wgsl.
 */
export function attention_decode(
  rt: Runtime,
  out: Tensor,
  kcache: Tensor,
  vcache: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  pos: Tensor,
): void {
  const name = 'attention_decode';
  expectRank(name, 'q', q, [3]);
  const [B, H, hs] = q.shape;
  for (const [n, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
    ['out', out],
    ['kcache', kcache],
    ['vcache', vcache],
  ] as const)
    expectDType(name, n, t, 'f32');
  expectShape(name, 'k', k, q.shape);
  expectShape(name, 'v', v, q.shape);
  expectShape(name, 'out', out, q.shape);
  expectRank(name, 'kcache', kcache, [4]);
  const Tmax = kcache.shape[2];
  expectShape(name, 'kcache', kcache, [B, H, Tmax, hs]);
  expectShape(name, 'vcache', vcache, [B, H, Tmax, hs]);
  expectDType(name, 'pos', pos, 'u32');
  expectShape(name, 'pos', pos, [B]);
  expectDistinct(name, { kcache, vcache, out }, { q, k, v, pos });
  // The probabilities [B, H, Tmax] live in a runtime scratch tensor between the two dispatches.
  const probs = rt.view(rt.scratch('attention_decode.probs', B * H * Tmax), 0, [B, H, Tmax]);
  rt.dispatch(decodeSpec, {
    params: { BH: B * H, H, Tmax, hs, scale: 1 / Math.sqrt(hs) },
    tensors: { q, k, v, pos, kcache, vcache, probs },
    shapes: shapesOf({ q, k, v, pos, kcache, vcache }),
  });
  rt.dispatch(decodeValuesSpec, {
    params: { N: B * H * hs, H, Tmax, hs },
    tensors: { probs, vcache, pos, out },
    shapes: shapesOf({ vcache, pos, out }),
  });
}
