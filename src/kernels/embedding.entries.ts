/**
 * Registry entries for the embedding family: embedding_forward and embedding_backward (see
 * src/kernels/registry.ts for the KernelEntry contract). Token ids are checked on the CPU here
 * (InputError for an id >= V), since the kernels only clamp them.
 */
import { InputError } from '../gpu/errors.ts';
import { numel } from '../gpu/tensor.ts';
import * as ref from '../reference/embedding.ts';
import { type Rng, randomArray } from '../reference/random.ts';
import { embedding_backward, embedding_forward } from './embedding.ts';
import { checkIndices } from './entry.ts';
import type { CheckCase, HostTensor, KernelEntry, Options } from './registry.ts';

const f32 = (shape: number[], data?: Float32Array): HostTensor => ({ shape, data: data ?? new Float32Array(numel(shape)) });
const F = (t: HostTensor): Float32Array => t.data as Float32Array;
const num = (v: Options[string] | undefined, d: number): number => (typeof v === 'number' ? v : d);

/** Token ids must be integers in [0, V) (the kernels would clamp a larger one to V - 1). */
export function checkTokens(tokens: HostTensor, V: number, what: string): void {
  checkIndices('tokens', tokens, V, `V = ${what}`);
}

function tokenSizes(tokens: { shape: readonly number[] }, k: string): { B: number; T: number } {
  if (tokens.shape.length !== 2) throw new InputError(`${k}: tokens must be [B, T], got [${tokens.shape.join(', ')}]`);
  return { B: tokens.shape[0], T: tokens.shape[1] };
}

/** Tokens [B, T] in [0, V), with repeats when V is small, and the id V - 1 present (the backward's default V). */
function sampleTokens(rng: Rng, B: number, T: number, V: number): HostTensor {
  const data = new Uint32Array(B * T);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(V);
  data[data.length - 1] = V - 1;
  return { shape: [B, T], data };
}

/** Positions must be integers in [0, Tmax) (the kernel would clamp a larger one to Tmax - 1). */
function checkPositions(positions: HostTensor | undefined, Tmax: number, tokens: { shape: readonly number[] }): void {
  if (!positions) return;
  if (positions.shape.join() !== tokens.shape.join()) {
    throw new InputError(`input positions: shape [${positions.shape.join(', ')}] must match tokens [${tokens.shape.join(', ')}]`);
  }
  checkIndices('positions', positions, Tmax, "Tmax = wpe's first dimension");
}

const embeddingForwardEntry: KernelEntry = {
  name: 'embedding_forward',
  summary: 'out[b, t] = wte[tokens[b, t]] + wpe[t] (token plus position embedding), or wpe[positions[b, t]]',
  inputs: [
    { name: 'tokens', dtype: 'u32', shape: '[B, T], integers in [0, V)' },
    { name: 'wte', dtype: 'f32', shape: '[V, C]' },
    { name: 'wpe', dtype: 'f32', shape: '[Tmax, C], T <= Tmax without positions' },
    {
      name: 'positions',
      dtype: 'u32',
      shape: '[B, T], integers in [0, Tmax)',
      optional: true,
      doc: "each token's position (generation with a KV cache); without it, token t is at position t",
    },
  ],
  options: [],
  outputs: [{ name: 'out', dtype: 'f32', shape: '[B, T, C]' }],
  gpu(rt, { tokens, wte, wpe, positions }, _opts, host) {
    checkTokens(host.tokens, wte.shape[0], "wte's first dimension");
    checkPositions(host.positions, wpe.shape[0], tokens);
    const { B, T } = tokenSizes(tokens, 'embedding_forward');
    const out = rt.empty([B, T, wte.shape[wte.shape.length - 1]], 'f32', 'embedding_forward.out');
    embedding_forward(rt, out, tokens, wte, wpe, positions);
    return { out };
  },
  cpu({ tokens, wte, wpe, positions }) {
    const { B, T } = tokenSizes(tokens, 'embedding_forward');
    const [V, C] = wte.shape;
    checkTokens(tokens, V, "wte's first dimension");
    checkPositions(positions, wpe.shape[0], tokens);
    const out = f32([B, T, C]);
    const at = positions ? (positions.data as Uint32Array) : null;
    ref.embedding_forward(F(out), tokens.data as Uint32Array, F(wte), F(wpe), B, T, C, V, at);
    return { out };
  },
  // P = 1: with positions, drawn in [0, Tmax) (the last one Tmax - 1), Tmax free of T.
  sample: (rng, { B, T, V, C, Tmax = T, P = 0 }) => {
    const inputs: Record<string, HostTensor> = {
      tokens: sampleTokens(rng, B, T, V),
      wte: f32([V, C], randomArray(rng, V * C)),
      wpe: f32([Tmax, C], randomArray(rng, Tmax * C, { std: 0.3 })),
    };
    if (P) {
      const data = Uint32Array.from({ length: B * T }, () => rng.int(Tmax));
      data[data.length - 1] = Tmax - 1;
      inputs.positions = { shape: [B, T], data };
    }
    return inputs;
  },
  checkDims: { B: 4, T: 37, V: 129, C: 63 },
  cases: [
    { dims: { B: 1, T: 1, V: 1, C: 1 } },
    { dims: { B: 3, T: 17, V: 63, C: 129, Tmax: 20 } },
    { dims: { B: 2, T: 257, V: 3, C: 17 } },
    { dims: { B: 520, T: 3, V: 17, C: 3, Tmax: 1024 } },
    { dims: { B: 1, T: 512, V: 129, C: 63, Tmax: 600 } },
    { dims: { B: 2, T: 3, V: 600, C: 520 } },
    // With positions (one token per sequence, as generation embeds them; and a Tmax below T).
    { dims: { B: 1, T: 1, V: 1, C: 1, Tmax: 1, P: 1 } },
    { dims: { B: 17, T: 1, V: 63, C: 129, Tmax: 64, P: 1 } },
    { dims: { B: 3, T: 33, V: 17, C: 3, Tmax: 5, P: 1 } },
    { dims: { B: 520, T: 1, V: 3, C: 17, Tmax: 600, P: 1 } },
    // C a multiple of 4 (four elements per invocation), with and without positions.
    { dims: { B: 5, T: 9, V: 7, C: 12, Tmax: 16, P: 1 } },
    { dims: { B: 3, T: 11, V: 5, C: 36 } },
  ],
  // A gather and one f32 addition, correctly rounded on both sides: exact.
  tolerance: () => ({ atol: 0, rtol: 0 }),
};

/** V and Tmax of the backward: options, or (max token id + 1) and T. */
function backwardSizes(tokens: HostTensor | { shape: readonly number[] }, opts: Options, host?: HostTensor) {
  const { B, T } = tokenSizes(tokens, 'embedding_backward');
  const data = host?.data ?? (tokens as HostTensor).data;
  let maxId = 0;
  for (const v of data) maxId = Math.max(maxId, v);
  const V = num(opts.V, 0) || maxId + 1;
  const Tmax = num(opts.Tmax, 0) || T;
  return { B, T, V, Tmax };
}

const embeddingBackwardEntry: KernelEntry = {
  name: 'embedding_backward',
  summary: 'dwte[v] = sum of dout over positions with token v, dwpe[t] = sum_b dout[b, t] (both overwritten; no atomics)',
  inputs: [
    { name: 'dout', dtype: 'f32', shape: '[B, T, C]' },
    { name: 'tokens', dtype: 'u32', shape: '[B, T], integers in [0, V)' },
  ],
  options: [
    {
      name: 'V',
      type: 'number',
      default: 0,
      doc: 'vocabulary size (rows of dwte); 0 means the largest token id + 1',
      check: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'V must be an integer >= 0'),
    },
    {
      name: 'Tmax',
      type: 'number',
      default: 0,
      doc: 'rows of dwpe (the position table), >= T; 0 means T',
      check: (v) => (Number.isInteger(v) && v >= 0 ? undefined : 'Tmax must be an integer >= 0'),
    },
  ],
  outputs: [
    { name: 'dwte', dtype: 'f32', shape: '[V, C]' },
    { name: 'dwpe', dtype: 'f32', shape: '[Tmax, C]' },
  ],
  gpu(rt, { dout, tokens }, opts, host) {
    const { V, Tmax } = backwardSizes(tokens, opts, host.tokens);
    checkTokens(host.tokens, V, 'option V');
    const C = dout.shape[dout.shape.length - 1];
    const dwte = rt.empty([V, C], 'f32', 'embedding_backward.dwte');
    const dwpe = rt.empty([Tmax, C], 'f32', 'embedding_backward.dwpe');
    embedding_backward(rt, dwte, dwpe, dout, tokens);
    return { dwte, dwpe };
  },
  cpu({ dout, tokens }, opts) {
    const { B, T, V, Tmax } = backwardSizes(tokens, opts);
    checkTokens(tokens, V, 'option V');
    if (T > Tmax) throw new InputError(`embedding_backward: context T exceeds the position table Tmax: T = ${T}, Tmax = ${Tmax}`);
    const C = dout.shape[dout.shape.length - 1];
    const dwte = f32([V, C]);
    const dwpe = f32([Tmax, C]);
    ref.embedding_backward(F(dwte), F(dwpe), F(dout), tokens.data as Uint32Array, B, T, C, V, Tmax);
    return { dwte, dwpe };
  },
  sample: (rng, { B, T, V, C }, opts) => ({
    dout: f32([B, T, C], randomArray(rng, B * T * C)),
    tokens: sampleTokens(rng, B, T, num(opts.V, 0) || V),
  }),
  checkDims: { B: 4, T: 37, V: 129, C: 63 },
  cases: backwardCases(),
  // dwte sums up to B * T values in f32 (dwpe B values), in the reference's order.
  tolerance: ({ B, T }) => ({ atol: 2e-6 * Math.sqrt(B * T), rtol: 1e-5 }),
};

function backwardCases(): CheckCase[] {
  return [
    { dims: { B: 1, T: 1, V: 1, C: 1 } },
    { dims: { B: 3, T: 17, V: 63, C: 129 }, options: { Tmax: 20 } },
    { dims: { B: 2, T: 257, V: 3, C: 17 } },
    { dims: { B: 520, T: 3, V: 17, C: 3 }, options: { Tmax: 1024 } },
    { dims: { B: 1, T: 512, V: 129, C: 63 }, options: { Tmax: 600 } },
    { dims: { B: 2, T: 3, V: 600, C: 520 }, options: { V: 600 } },
    { dims: { B: 4, T: 64, V: 257, C: 64 }, options: { V: 1000 } },
  ];
}

export const embeddingKernels: KernelEntry[] = [embeddingForwardEntry, embeddingBackwardEntry];
