/**
 * Shape checks shared by the kernel wrappers. They run before anything is encoded, so a bad call
 * never reaches the GPU; each message names the kernel, the tensor and what would be valid.
 */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { type DType, type Shape, type Tensor, shapeString } from '../gpu/tensor.ts';

/** Rows/elements handled one per invocation, in workgroups of this many invocations. */
export const WG_1D = 64;

/**
 * Workgroup counts for `n` invocations in WG-wide workgroups, folded into two dimensions when one
 * would exceed the 65535 limit. Shaders recover i = gid.x + gid.y * (num_workgroups.x * WG).
 */
export function grid1d(n: number, wg: number = WG_1D, maxPerDim = 65535): [number, number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= maxPerDim) return [groups, 1, 1];
  return [maxPerDim, Math.ceil(groups / maxPerDim), 1];
}

export function expectShape(kernel: string, name: string, t: Tensor, shape: Shape): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${kernel}: ${name} has shape ${shapeString(t.shape)}, expected ${shapeString(shape)}`);
  }
}

export function expectDType(kernel: string, name: string, t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) throw new ShapeError(`${kernel}: ${name} must be ${dtype}, got ${t.dtype}`);
}

export function expectRank(kernel: string, name: string, t: Tensor, ranks: readonly number[]): void {
  if (!ranks.includes(t.shape.length)) {
    throw new ShapeError(
      `${kernel}: ${name} has shape ${shapeString(t.shape)} (rank ${t.shape.length}); rank must be ${ranks.join(' or ')}`,
    );
  }
}

export function expectSameSize(kernel: string, names: readonly string[], tensors: readonly Tensor[]): void {
  const n = tensors[0].size;
  tensors.forEach((t, i) => {
    if (t.size !== n) {
      throw new ShapeError(
        `${kernel}: ${names[i]} has ${t.size} elements (shape ${shapeString(t.shape)}) but ${names[0]} has ${n}; they must match`,
      );
    }
  });
}

/**
 * An output bound for writing may not share a buffer with an input of the same dispatch (WebGPU
 * forbids a buffer bound both for reading and writing, even in disjoint ranges), and two outputs may
 * not overlap (disjoint views of one buffer are fine: both are writable storage).
 */
export function expectDistinct(
  kernel: string,
  outputs: Record<string, Tensor>,
  inputs: Record<string, Tensor | undefined>,
): void {
  for (const [on, o] of Object.entries(outputs)) {
    for (const [inName, i] of Object.entries(inputs)) {
      if (i && i.buffer === o.buffer) {
        const what = i.overlaps(o) && i.offset === o.offset ? 'is the same tensor as' : 'shares a GPU buffer with';
        throw new ShapeError(`${kernel}: output ${on} ${what} input ${inName}; give the output its own tensor`);
      }
    }
  }
  const outs = Object.entries(outputs);
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length; j++) {
      if (outs[i][1].overlaps(outs[j][1])) {
        throw new ShapeError(`${kernel}: outputs ${outs[i][0]} and ${outs[j][0]} overlap in memory`);
      }
    }
  }
}

export function lastDim(t: Tensor): number {
  return t.shape[t.shape.length - 1];
}

export function shapesOf(tensors: Record<string, Tensor | undefined>): string {
  return Object.entries(tensors)
    .filter(([, t]) => t)
    .map(([n, t]) => `${n}${shapeString((t as Tensor).shape)}`)
    .join(', ');
}

/** One placeholder tensor per runtime and label, made on first use. */
const placeholders = new WeakMap<Runtime, Map<string, Tensor>>();
function placeholder(rt: Runtime, label: string): Tensor {
  const byLabel = placeholders.get(rt) ?? new Map<string, Tensor>();
  placeholders.set(rt, byLabel);
  const t = byLabel.get(label) ?? rt.empty([1], 'f32', label);
  byLabel.set(label, t);
  return t;
}

/** A one-element placeholder bound where an optional input is absent (WGSL bindings are fixed). */
export const dummy = (rt: Runtime): Tensor => placeholder(rt, 'dummy');

/**
 * A 1-element tensor for an unused read_write binding: its own buffer, apart from dummy()'s, which
 * read-only bindings of the same dispatch may hold (WebGPU refuses one buffer bound both ways).
 */
export const dummyOut = (rt: Runtime): Tensor => placeholder(rt, 'dummy (written)');

/**
 * Whether the adapter runs on the CPU (SwiftShader, llvmpipe, lavapipe, or any fallback adapter):
 * there barriers are costly and every indexed load a per-lane gather, so kernels pick other variants.
 */
export function isCpuAdapter(rt: Runtime): boolean {
  const r = rt.report;
  return r.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${r.architecture} ${r.vendor} ${r.device}`);
}

const SCALAR_ALIAS = 'alias T = f32;';

/**
 * The same shader text with T = vec4f: on SwiftShader every indexed storage access is a per-lane
 * gather and each invocation has a fixed cost, so a quarter of both makes these kernels about 2-3x
 * faster (measured on the tiny transformer's shapes). Per element the arithmetic is the same
 * (WGSL's vector operations are componentwise), so the results are bit-identical.
 */
export function vec4Variant<P extends string>(spec: KernelSpec<P>): KernelSpec<P> {
  if (spec.shader.split(SCALAR_ALIAS).length !== 2)
    throw new Error(`kernel ${spec.name}: its shader must declare \`${SCALAR_ALIAS}\` exactly once`);
  // A line `// vec4: CODE` replaces the line after it (what differs beyond the type, such as adding
  // a vec4's components to a sum one by one, in the scalar kernel's order).
  const shader = spec.shader
    .replace(SCALAR_ALIAS, 'alias T = vec4f;')
    .replace(/^([ \t]*)\/\/ vec4: (.*)\n.*$/gm, (_, indent: string, code: string) => `${indent}// vec4:\n${indent}${code}`);
  return { ...spec, name: `${spec.name}.vec4`, shader };
}

/** Whether every tensor can be bound as vec4s: whole vec4s, starting on a 16-byte boundary. */
function vec4Ready(tensors: readonly Tensor[]): boolean {
  return tensors.every((t) => t.size > 0 && t.size % 4 === 0 && t.offset % 16 === 0);
}

/**
 * Elements per invocation for a vec4Variant kernel: 4 when `allowed`, the row (what one T must not
 * straddle) is a multiple of 4 and every tensor binds as vec4s; else 1.
 */
export function vec4Width(row: number, tensors: readonly Tensor[], allowed = true): 1 | 4 {
  return allowed && row % 4 === 0 && vec4Ready(tensors) ? 4 : 1;
}
