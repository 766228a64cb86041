/**
 * The shape of a registry entry (see registry.ts) and small helpers for writing one. Entry files
 * (`*.entries.ts`) import from here, and registry.ts collects them.
 */
import { InputError } from '../gpu/errors.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { type DType, type Shape, type Tensor, numel } from '../gpu/tensor.ts';
import type { Tolerance } from '../reference/compare.ts';
import { type Rng, randomArray } from '../reference/random.ts';

export interface HostTensor {
  shape: number[];
  data: Float32Array | Uint32Array;
}

export type OptionValue = boolean | number;
export type Options = Record<string, OptionValue>;
export type Dims = Record<string, number>;

export interface TensorDoc {
  name: string;
  dtype: DType;
  /** Shape in named letters, e.g. "[M, K] ([K, M] with transA)". */
  shape: string;
  optional?: boolean;
  doc?: string;
}

export interface OptionDoc {
  name: string;
  type: 'boolean' | 'number';
  default: OptionValue;
  doc: string;
  /** Returns an error message when the value is not allowed. */
  check?: (v: number) => string | undefined;
}

export interface CheckCase {
  dims: Dims;
  options?: Options;
}

export interface KernelEntry {
  name: string;
  summary: string;
  inputs: TensorDoc[];
  options: OptionDoc[];
  outputs: TensorDoc[];
  /**
   * Allocate the outputs and dispatch (the wrapper validates shapes before encoding). `host` holds
   * the same inputs on the CPU, for the few scalars derived from data (the mask's sum).
   */
  gpu(rt: Runtime, inputs: Record<string, Tensor>, opts: Options, host: Record<string, HostTensor>): Record<string, Tensor>;
  /** The same computation with the hand-written CPU reference. */
  cpu(inputs: Record<string, HostTensor>, opts: Options): Record<string, HostTensor>;
  /** Seeded inputs, with outliers, for the sizes in `dims`. */
  sample(rng: Rng, dims: Dims, opts: Options): Record<string, HostTensor>;
  /** Sizes for `kernel NAME --check` and for the quick tests. */
  checkDims: Dims;
  /** Awkward shapes the tests run (1, primes, around powers of two, and >= 512 in each dimension). */
  cases: CheckCase[];
  /** The comparison bound for these sizes and options (options: where the conditioning depends on them). */
  tolerance(dims: Dims, opts?: Options): Tolerance;
}

export const f32 = (shape: number[], data?: Float32Array): HostTensor => ({
  shape,
  data: data ?? new Float32Array(numel(shape)),
});
export const normal = (rng: Rng, shape: number[], std = 1): HostTensor => f32(shape, randomArray(rng, numel(shape), { std }));
export const bool = (v: OptionValue | undefined): boolean => v === true;
export const num = (v: OptionValue | undefined, d: number): number => (typeof v === 'number' ? v : d);
export const last = (s: readonly number[]): number => s[s.length - 1];
export const arr = (t: HostTensor | undefined): Float32Array | null => (t ? (t.data as Float32Array) : null);

/** Output tensors are allocated from shapes computed here; the wrapper re-checks everything. */
export function outputs(rt: Runtime, shapes: Record<string, Shape>, name: string): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, s] of Object.entries(shapes)) out[k] = rt.empty(s, 'f32', `${name}.${k}`);
  return out;
}

/**
 * The first nonzero entry above the diagonal of any of t's square [n, n] matrices (its last two
 * axes), or undefined: inputs promised lower triangular (causal attention) are checked with it.
 */
/**
 * Index data (token ids, targets, positions) must be integers in [0, limit): the kernels clamp, so
 * a bad index would read a wrong row rather than fail. The InputError names the input, the first bad
 * value and its index, and where the limit comes from (`limitName`, e.g. "V = logits' last dimension").
 */
export function checkIndices(input: string, t: HostTensor, limit: number, limitName: string): void {
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    if (!Number.isInteger(v) || v < 0 || v >= limit) {
      throw new InputError(`input ${input}: value ${v} at index ${i} is not an integer in [0, ${limit}) (${limitName})`);
    }
  }
}

export function aboveDiagonal(t: HostTensor, n: number): { row: number; col: number; value: number } | undefined {
  for (let i = 0; i < t.data.length; i++) {
    const row = Math.floor(i / n) % n;
    const col = i % n;
    if (col > row && t.data[i] !== 0) return { row, col, value: t.data[i] };
  }
  return undefined;
}

export const finite = (name: string) => (v: number) => (Number.isFinite(v) ? undefined : `${name} must be a finite number`);

/** Sizes as the command line takes them: "M=64,N=32,K=17" (`kernel NAME --check --dims`). */
export const formatDims = (d: Dims): string =>
  Object.entries(d)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
