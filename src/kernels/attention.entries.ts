/** Registry entries for head permutation and attention (see attention.ts). */
import { InputError, ShapeError } from '../gpu/errors.ts';
import { shapeString } from '../gpu/tensor.ts';
import * as ref from '../reference/attention.ts';
import { attention_backward, attention_decode, attention_forward, attentionScratch, permute_0213 } from './attention.ts';
import { copy } from './elementwise.ts';
import {
  aboveDiagonal,
  bool,
  type CheckCase,
  checkIndices,
  type Dims,
  f32,
  type HostTensor,
  type KernelEntry,
  normal,
  outputs,
} from './entry.ts';

function headDims(q: { shape: readonly number[] }): { B: number; H: number; T: number; hs: number } {
  if (q.shape.length !== 4) throw new ShapeError(`attention: q must be [B, H, T, hs], got ${shapeString(q.shape)}`);
  const [B, H, T, hs] = q.shape;
  return { B, H, T, hs };
}

const attentionCases: CheckCase[] = [
  { dims: { B: 1, H: 1, T: 1, hs: 1 } },
  { dims: { B: 2, H: 3, T: 17, hs: 3 }, options: { causal: true } },
  { dims: { B: 1, H: 2, T: 63, hs: 17 } },
  { dims: { B: 1, H: 1, T: 129, hs: 8 }, options: { causal: true } },
  { dims: { B: 1, H: 1, T: 520, hs: 16 }, options: { causal: true } },
  { dims: { B: 1, H: 2, T: 24, hs: 512 } },
  // Outputs with the heads merged (the models' layout).
  { dims: { B: 3, H: 2, T: 17, hs: 5 }, options: { causal: true, merged: true } },
  { dims: { B: 2, H: 4, T: 64, hs: 16 }, options: { causal: true, merged: true } },
  { dims: { B: 2, H: 3, T: 9, hs: 4 }, options: { merged: true } },
];

/** [B, H, T, hs] host data as [B, T, H, hs] (the outputs' layout with the option merged). */
function merge(t: HostTensor, { B, H, T, hs }: { B: number; H: number; T: number; hs: number }): HostTensor {
  const y = f32([B, T, H, hs]);
  ref.permute_0213(y.data as Float32Array, t.data as Float32Array, B, H, T, hs);
  return y;
}

const mergedOption = {
  name: 'merged',
  type: 'boolean',
  default: false,
  doc: 'the outputs as [B, T, H, hs] (heads merged into rows), written in place by the last products',
} as const;

const qkv = (rng: Parameters<KernelEntry['sample']>[0], { B, H, T, hs }: Dims): Record<string, HostTensor> => ({
  q: normal(rng, [B, H, T, hs]),
  k: normal(rng, [B, H, T, hs]),
  v: normal(rng, [B, H, T, hs]),
});

const attentionEntry: KernelEntry = {
  name: 'attention',
  summary: 'multi-head attention: att = softmax(q·kᵀ/sqrt(hs), causal), out = att·v (matmul + softmax kernels)',
  inputs: [
    { name: 'q', dtype: 'f32', shape: '[B, H, T, hs]' },
    { name: 'k', dtype: 'f32', shape: '[B, H, T, hs]' },
    { name: 'v', dtype: 'f32', shape: '[B, H, T, hs]' },
  ],
  options: [{ name: 'causal', type: 'boolean', default: false, doc: 'position i attends to j <= i only' }, mergedOption],
  outputs: [
    { name: 'out', dtype: 'f32', shape: '[B, H, T, hs] ([B, T, H, hs] merged)' },
    { name: 'att', dtype: 'f32', shape: '[B, H, T, T]', doc: 'the attention probabilities' },
  ],
  gpu(rt, { q, k, v }, opts) {
    const { B, H, T, hs } = headDims(q);
    const merged = bool(opts.merged);
    const o = outputs(rt, { out: merged ? [B, T, H, hs] : [B, H, T, hs], att: [B, H, T, T] }, 'attention');
    const scratch = attentionScratch(rt, B, H, T);
    attention_forward(rt, o.out, o.att, q, k, v, scratch, { causal: bool(opts.causal), merged });
    scratch.s0.destroy();
    scratch.s1.destroy();
    return o;
  },
  cpu({ q, k, v }, opts) {
    const { B, H, T, hs } = headDims(q);
    const out = f32([B, H, T, hs]);
    const att = f32([B, H, T, T]);
    ref.attention_forward(
      out.data as Float32Array,
      att.data as Float32Array,
      q.data as Float32Array,
      k.data as Float32Array,
      v.data as Float32Array,
      B,
      H,
      T,
      hs,
      { causal: bool(opts.causal) },
    );
    return { out: bool(opts.merged) ? merge(out, { B, H, T, hs }) : out, att };
  },
  sample: qkv,
  checkDims: { B: 2, H: 2, T: 33, hs: 8 },
  cases: attentionCases,
  tolerance: ({ hs }) => ({ atol: 2e-6 * Math.sqrt(hs) * 8, rtol: 1e-4 }),
};

/** With causal, att must be zero above each [T, T] matrix's diagonal (as attention's causal output is). */
function checkCausal(att: HostTensor, T: number): void {
  const bad = aboveDiagonal(att, T);
  if (bad) {
    throw new InputError(
      `input att: causal needs zeros above the diagonal, but att[.., ${bad.row}, ${bad.col}] = ${bad.value}; give the causal attention's att, or leave causal off`,
    );
  }
}

const attentionBackwardEntry: KernelEntry = {
  name: 'attention_backward',
  summary: 'dq, dk, dv of attention from dout and the forward att (matmul + softmax_backward kernels)',
  inputs: [
    { name: 'dout', dtype: 'f32', shape: '[B, H, T, hs]' },
    { name: 'q', dtype: 'f32', shape: '[B, H, T, hs]' },
    { name: 'k', dtype: 'f32', shape: '[B, H, T, hs]' },
    { name: 'v', dtype: 'f32', shape: '[B, H, T, hs]' },
    { name: 'att', dtype: 'f32', shape: '[B, H, T, T] (from attention)' },
  ],
  options: [
    {
      name: 'causal',
      type: 'boolean',
      default: false,
      doc: 'att is causal (zero above its diagonal): the products skip that part',
    },
    mergedOption,
  ],
  outputs: [
    { name: 'dq', dtype: 'f32', shape: '[B, H, T, hs] ([B, T, H, hs] merged)' },
    { name: 'dk', dtype: 'f32', shape: '[B, H, T, hs] ([B, T, H, hs] merged)' },
    { name: 'dv', dtype: 'f32', shape: '[B, H, T, hs] ([B, T, H, hs] merged)' },
  ],
  gpu(rt, { dout, q, k, v, att }, opts, host) {
    const { B, H, T, hs } = headDims(q);
    if (bool(opts.causal)) checkCausal(host.att, T);
    const merged = bool(opts.merged);
    const shape = merged ? [B, T, H, hs] : [B, H, T, hs];
    const o = outputs(rt, { dq: shape, dk: shape, dv: shape }, 'attention_backward');
    const scratch = attentionScratch(rt, B, H, T);
    attention_backward(rt, o.dq, o.dk, o.dv, dout, q, k, v, att, scratch, { causal: bool(opts.causal), merged });
    scratch.s0.destroy();
    scratch.s1.destroy();
    return o;
  },
  cpu({ dout, q, k, v, att }, opts) {
    const dims = headDims(q);
    const { B, H, T, hs } = dims;
    const [dq, dk, dv] = [f32([B, H, T, hs]), f32([B, H, T, hs]), f32([B, H, T, hs])];
    const d = (t: HostTensor) => t.data as Float32Array;
    ref.attention_backward(d(dq), d(dk), d(dv), d(dout), d(q), d(k), d(v), d(att), B, H, T, hs);
    if (bool(opts.merged)) return { dq: merge(dq, dims), dk: merge(dk, dims), dv: merge(dv, dims) };
    return { dq, dk, dv };
  },
  sample(rng, dims, opts) {
    const inputs = qkv(rng, dims);
    const { att } = attentionEntry.cpu(inputs, { causal: bool(opts.causal) });
    return { dout: normal(rng, [dims.B, dims.H, dims.T, dims.hs]), ...inputs, att };
  },
  checkDims: { B: 2, H: 2, T: 33, hs: 8 },
  // The causal mask lives in att (its zeros); the option lets the products skip them. Every case also
  // runs without it (a causal att through the full products).
  cases: [
    ...attentionCases,
    ...attentionCases.filter((c) => c.options?.causal).map((c) => ({ dims: c.dims, options: { merged: !!c.options?.merged } })),
  ],
  tolerance: ({ T, hs }) => ({ atol: 2e-6 * Math.sqrt(T * hs) * 8, rtol: 1e-4 }),
};

const permuteEntry: KernelEntry = {
  name: 'permute_0213',
  summary: 'y[a, c, b, d] = x[a, b, c, d]: split or merge attention heads',
  inputs: [{ name: 'x', dtype: 'f32', shape: '[A, B, C, D]' }],
  options: [],
  outputs: [{ name: 'y', dtype: 'f32', shape: '[A, C, B, D]' }],
  gpu(rt, { x }) {
    if (x.shape.length !== 4) throw new ShapeError(`permute_0213: x must have rank 4, got ${shapeString(x.shape)}`);
    const [A, B, C, D] = x.shape;
    const { y } = outputs(rt, { y: [A, C, B, D] }, 'permute_0213');
    permute_0213(rt, y, x);
    return { y };
  },
  cpu({ x }) {
    const [A, B, C, D] = x.shape;
    const y = f32([A, C, B, D]);
    ref.permute_0213(y.data as Float32Array, x.data as Float32Array, A, B, C, D);
    return { y };
  },
  sample: (rng, { A, B, C, D }) => ({ x: normal(rng, [A, B, C, D]) }),
  checkDims: { A: 2, B: 5, C: 3, D: 7 },
  cases: [
    { dims: { A: 1, B: 1, C: 1, D: 1 } },
    { dims: { A: 3, B: 17, C: 4, D: 63 } },
    { dims: { A: 2, B: 129, C: 257, D: 3 } },
    { dims: { A: 1, B: 512, C: 2, D: 513 } },
    // D a multiple of 4: the vec4 variant.
    { dims: { A: 1, B: 1, C: 1, D: 4 } },
    { dims: { A: 3, B: 17, C: 5, D: 16 } },
    { dims: { A: 2, B: 64, C: 4, D: 8 } },
  ],
  tolerance: () => ({ atol: 0, rtol: 0 }),
};

/** B, H, hs from q [B, H, hs] and Tmax from kcache [B, H, Tmax, hs], with every shape checked. */
function decodeDims(q: { shape: readonly number[] }, kcache: { shape: readonly number[] }) {
  if (q.shape.length !== 3) throw new ShapeError(`attention_decode: q must be [B, H, hs], got ${shapeString(q.shape)}`);
  const [B, H, hs] = q.shape;
  if (kcache.shape.length !== 4 || kcache.shape[0] !== B || kcache.shape[1] !== H || kcache.shape[3] !== hs) {
    throw new ShapeError(
      `attention_decode: kcache must be [B, H, Tmax, hs] = [${B}, ${H}, Tmax, ${hs}], got ${shapeString(kcache.shape)}`,
    );
  }
  return { B, H, hs, Tmax: kcache.shape[2] };
}

/** Each position must be an integer in [0, Tmax) (the kernel would clamp a larger one). */
const checkPositions = (pos: HostTensor, Tmax: number) => checkIndices('pos', pos, Tmax, "Tmax = kcache's third dimension");

const attentionDecodeEntry: KernelEntry = {
  name: 'attention_decode',
  summary:
    'one new position per sequence against a KV cache: cache row pos[b] = k, v; out = softmax(q·kcacheᵀ/sqrt(hs)) · vcache over rows 0..pos[b]',
  inputs: [
    { name: 'q', dtype: 'f32', shape: '[B, H, hs]' },
    { name: 'k', dtype: 'f32', shape: '[B, H, hs]', doc: 'the new key, written into kcache' },
    { name: 'v', dtype: 'f32', shape: '[B, H, hs]', doc: 'the new value, written into vcache' },
    { name: 'kcache', dtype: 'f32', shape: '[B, H, Tmax, hs]', doc: 'earlier keys (rows below pos[b] are read)' },
    { name: 'vcache', dtype: 'f32', shape: '[B, H, Tmax, hs]' },
    { name: 'pos', dtype: 'u32', shape: '[B], integers in [0, Tmax)', doc: "each sequence's new position" },
  ],
  options: [],
  outputs: [
    { name: 'out', dtype: 'f32', shape: '[B, H, hs]' },
    { name: 'kcache', dtype: 'f32', shape: '[B, H, Tmax, hs]', doc: 'the cache with row pos[b] written' },
    { name: 'vcache', dtype: 'f32', shape: '[B, H, Tmax, hs]' },
  ],
  gpu(rt, { q, k, v, kcache, vcache, pos }, _opts, host) {
    const { B, H, hs, Tmax } = decodeDims(q, kcache);
    checkPositions(host.pos, Tmax);
    // The kernel updates the caches in place: it works on copies, so the inputs stay as given.
    const o = outputs(rt, { out: [B, H, hs], kcache: [B, H, Tmax, hs], vcache: [B, H, Tmax, hs] }, 'attention_decode');
    copy(rt, o.kcache, kcache);
    copy(rt, o.vcache, vcache);
    attention_decode(rt, o.out, o.kcache, o.vcache, q, k, v, pos);
    return o;
  },
  cpu({ q, k, v, kcache, vcache, pos }) {
    const { B, H, hs, Tmax } = decodeDims(q, kcache);
    checkPositions(pos, Tmax);
    const out = f32([B, H, hs]);
    const kc = f32([B, H, Tmax, hs], Float32Array.from(kcache.data as Float32Array));
    const vc = f32([B, H, Tmax, hs], Float32Array.from(vcache.data as Float32Array));
    ref.attention_decode(
      out.data as Float32Array,
      kc.data as Float32Array,
      vc.data as Float32Array,
      q.data as Float32Array,
      k.data as Float32Array,
      v.data as Float32Array,
      pos.data as Uint32Array,
      B,
      H,
      Tmax,
      hs,
    );
    return { out, kcache: kc, vcache: vc };
  },
  // Positions drawn in [0, Tmax), the first 0 and the last Tmax - 1 (the cache's ends).
  sample: (rng, { B, H, Tmax, hs }) => {
    const pos = Uint32Array.from({ length: B }, () => rng.int(Tmax));
    pos[0] = 0;
    pos[B - 1] = Tmax - 1;
    return {
      q: normal(rng, [B, H, hs]),
      k: normal(rng, [B, H, hs]),
      v: normal(rng, [B, H, hs]),
      kcache: normal(rng, [B, H, Tmax, hs]),
      vcache: normal(rng, [B, H, Tmax, hs]),
      pos: { shape: [B], data: pos },
    };
  },
  checkDims: { B: 3, H: 2, Tmax: 33, hs: 8 },
  cases: [
    { dims: { B: 1, H: 1, Tmax: 1, hs: 1 } },
    { dims: { B: 3, H: 2, Tmax: 17, hs: 3 } },
    { dims: { B: 8, H: 4, Tmax: 64, hs: 16 } },
    { dims: { B: 2, H: 1, Tmax: 520, hs: 8 } },
    { dims: { B: 520, H: 1, Tmax: 3, hs: 4 } },
    { dims: { B: 1, H: 2, Tmax: 24, hs: 512 } },
  ],
  // attention's bound (the same sums: a dot product of hs terms, softmax over the visible row).
  tolerance: ({ hs }) => ({ atol: 2e-6 * Math.sqrt(hs) * 8, rtol: 1e-4 }),
};

export const attentionKernels: KernelEntry[] = [permuteEntry, attentionEntry, attentionBackwardEntry, attentionDecodeEntry];
