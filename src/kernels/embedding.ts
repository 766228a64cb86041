/** Token plus position embedding (GPT-2's wte and wpe), forward and backward. */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import {
  WG_1D,
  dummy,
  expectDType,
  expectDistinct,
  expectRank,
  expectShape,
  grid1d,
  shapesOf,
  vec4Width,
  vec4Variant,
} from './common.ts';

const forwardSpec: KernelSpec<'N' | 'T' | 'C' | 'V' | 'has_pos' | 'Tmax'> = {
  name: 'embedding_forward',
  shader: shaders.embedding_forward,
  params: [
    ['N', 'u32'],
    ['T', 'u32'],
    ['C', 'u32'],
    ['V', 'u32'],
    ['has_pos', 'u32'],
    ['Tmax', 'u32'],
  ],
  bindings: [
    { name: 'tokens', access: 'read' },
    { name: 'wte', access: 'read' },
    { name: 'wpe', access: 'read' },
    { name: 'out', access: 'read_write' },
    { name: 'positions', access: 'read' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  dispatch: ({ N }) => grid1d(N),
};

const forwardVec4Spec = vec4Variant(forwardSpec);

const backwardSpec: KernelSpec<'B' | 'T' | 'C' | 'V' | 'Tmax'> = {
  name: 'embedding_backward',
  shader: shaders.embedding_backward,
  params: [
    ['B', 'u32'],
    ['T', 'u32'],
    ['C', 'u32'],
    ['V', 'u32'],
    ['Tmax', 'u32'],
  ],
  bindings: [
    { name: 'dout', access: 'read' },
    { name: 'index', access: 'read' },
    { name: 'dwte', access: 'read_write' },
    { name: 'dwpe', access: 'read_write' },
  ],
  workgroupSize: [WG_1D, 1, 1],
  // One invocation per element of dwte, then one per element of dwpe.
  dispatch: ({ V, C, Tmax }) => grid1d((V + Tmax) * C),
};
const backwardVec4Spec = vec4Variant(backwardSpec);

/** Token ids' positions, grouped by id (a counting sort in one invocation): see embedding_index.wgsl. */
const indexSpec: KernelSpec<'BT' | 'V'> = {
  name: 'embedding_index',
  shader: shaders.embedding_index,
  params: [
    ['BT', 'u32'],
    ['V', 'u32'],
  ],
  bindings: [
    { name: 'tokens', access: 'read' },
    { name: 'index', access: 'read_write' },
  ],
  workgroupSize: [1, 1, 1],
  dispatch: () => [1, 1, 1],
};

function checkTokens(k: string, tokens: Tensor): { B: number; T: number } {
  expectRank(k, 'tokens', tokens, [2]);
  expectDType(k, 'tokens', tokens, 'u32');
  const [B, T] = tokens.shape;
  return { B, T };
}

function checkContext(k: string, T: number, Tmax: number, tokens: Tensor, wpeName: string, wpe: Tensor): void {
  if (T > Tmax) {
    throw new ShapeError(
      `${k}: context T exceeds the position table Tmax: ${shapesOf({ tokens })} has T = ${T} but ${shapesOf({ [wpeName]: wpe })} has Tmax = ${Tmax}`,
    );
  }
}

/**
 * out [B, T, C] = wte[tokens[b, t]] + wpe[t], or wpe[positions[b, t]] when positions [B, T] u32 is
 * given (generation with a KV cache: one new token per sequence, each at its own position).
 * tokens [B, T] u32, wte [V, C], wpe [Tmax, C], T <= Tmax without positions. Token ids must be < V
 * and positions < Tmax; the caller checks the data (the registry does, with an InputError). The
 * kernel clamps both, so an unchecked bad value reads a wrong row, never out of bounds.
 */
export function embedding_forward(rt: Runtime, out: Tensor, tokens: Tensor, wte: Tensor, wpe: Tensor, positions?: Tensor): void {
  const k = 'embedding_forward';
  const { B, T } = checkTokens(k, tokens);
  expectRank(k, 'wte', wte, [2]);
  expectDType(k, 'wte', wte, 'f32');
  const [V, C] = wte.shape;
  expectRank(k, 'wpe', wpe, [2]);
  expectDType(k, 'wpe', wpe, 'f32');
  const Tmax = wpe.shape[0];
  expectShape(k, 'wpe', wpe, [Tmax, C]);
  if (positions) {
    expectDType(k, 'positions', positions, 'u32');
    expectShape(k, 'positions', positions, [B, T]);
  } else checkContext(k, T, Tmax, tokens, 'wpe', wpe);
  expectDType(k, 'out', out, 'f32');
  expectShape(k, 'out', out, [B, T, C]);
  expectDistinct(k, { out }, { tokens, wte, wpe, ...(positions ? { positions } : {}) });
  const w = vec4Width(C, [wte, wpe, out]);
  rt.dispatch(w === 4 ? forwardVec4Spec : forwardSpec, {
    params: { N: (B * T * C) / w, T, C: C / w, V, has_pos: positions ? 1 : 0, Tmax },
    tensors: { tokens, wte, wpe, out, positions: positions ?? dummy(rt) },
    shapes: shapesOf({ tokens, wte, wpe, out, ...(positions ? { positions } : {}) }),
  });
}

/**
 * Gradients of embedding_forward, overwritten: dwte [V, C] (row v = the sum of dout over the
 * positions holding token v; 0 for unused tokens) and dwpe [Tmax, C] (row t = sum over the batch for
 * t < T, 0 beyond). dout [B, T, C], tokens [B, T] u32 (ids < V, clamped like the forward). V and Tmax
 * are read from dwte and dwpe. Deterministic (no atomics): a first dispatch lists each token id's
 * positions (embedding_index, into a runtime scratch tensor), then each gradient element sums its
 * rows in position order, O(B * T * C) in all.
 */
export function embedding_backward(rt: Runtime, dwte: Tensor, dwpe: Tensor, dout: Tensor, tokens: Tensor): void {
  const k = 'embedding_backward';
  const { B, T } = checkTokens(k, tokens);
  expectRank(k, 'dout', dout, [3]);
  expectDType(k, 'dout', dout, 'f32');
  const C = dout.shape[2];
  expectShape(k, 'dout', dout, [B, T, C]);
  expectRank(k, 'dwte', dwte, [2]);
  expectDType(k, 'dwte', dwte, 'f32');
  const V = dwte.shape[0];
  expectShape(k, 'dwte', dwte, [V, C]);
  expectRank(k, 'dwpe', dwpe, [2]);
  expectDType(k, 'dwpe', dwpe, 'f32');
  const Tmax = dwpe.shape[0];
  expectShape(k, 'dwpe', dwpe, [Tmax, C]);
  checkContext(k, T, Tmax, tokens, 'dwpe', dwpe);
  expectDistinct(k, { dwte, dwpe }, { dout, tokens });
  const index = rt.scratch('embedding.index', V + 2 + B * T, 'u32');
  rt.dispatch(indexSpec, { params: { BT: B * T, V }, tensors: { tokens, index }, shapes: shapesOf({ tokens }) });
  const w = vec4Width(C, [dout, dwte, dwpe]);
  rt.dispatch(w === 4 ? backwardVec4Spec : backwardSpec, {
    params: { B, T, C: C / w, V, Tmax },
    tensors: { dout, index, dwte, dwpe },
    shapes: shapesOf({ dout, tokens, dwte, dwpe }),
  });
}
