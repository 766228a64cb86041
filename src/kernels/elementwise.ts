/**
 * Elementwise kernels: add, scale, copy, threshold, and GELU forward/backward. One invocation per
 * element, or per four when the element count is a multiple of 4 (the shaders are written over an
 * element type T, run as f32 or as vec4f; see vec4Variant).
 */
import { ShapeError } from '../gpu/errors.ts';
import type { KernelSpec } from '../gpu/kernel.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { shaders } from '../gpu/shaders.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { WG_1D, expectDType, expectDistinct, expectSameSize, grid1d, shapesOf, vec4Width, vec4Variant } from './common.ts';

/** A spec whose inputs are `inputs` (read) and whose single output is the last binding. */
function elementwiseSpec<P extends string>(
  name: keyof typeof shaders,
  inputs: readonly string[],
  output: string,
  extra: readonly (readonly [P, 'f32'])[] = [],
  functions = '',
): Specs<P> {
  const scalar: KernelSpec<'N' | P> = {
    name,
    shader: functions ? `${shaders[name]}\n${functions}` : shaders[name],
    params: [['N', 'u32'], ...extra],
    bindings: [...inputs.map((n) => ({ name: n, access: 'read' as const })), { name: output, access: 'read_write' }],
    workgroupSize: [WG_1D, 1, 1],
    dispatch: ({ N }) => grid1d(N),
  };
  return { scalar, vec4: vec4Variant(scalar) };
}

/** A kernel as written (T = f32) and its four-elements-per-invocation twin (T = vec4f). */
interface Specs<P extends string> {
  scalar: KernelSpec<'N' | P>;
  vec4: KernelSpec<'N' | P>;
}

const addSpec = elementwiseSpec('add', ['a', 'b'], 'c');
const scaleSpec = elementwiseSpec('scale', ['x'], 'y', [['alpha', 'f32']]);
const copySpec = elementwiseSpec('copy', ['x'], 'y');
const thresholdSpec = elementwiseSpec('threshold', ['x'], 'y', [['tau', 'f32']]);
// GELU's functions (shaders/gelu.wgsl) follow the text: the matmul epilogues use the same ones.
const geluForwardSpec = elementwiseSpec('gelu_forward', ['x'], 'y', [], shaders.gelu);
const geluBackwardSpec = elementwiseSpec('gelu_backward', ['dy', 'x'], 'dx', [], shaders.gelu);

/** Checks dtypes and element counts; the output may have another shape with the same count. */
function run<P extends string>(
  rt: Runtime,
  specs: Specs<P>,
  output: Record<string, Tensor>,
  inputs: Record<string, Tensor>,
  extra: Record<P, number>,
): void {
  const all = { ...inputs, ...output };
  const name = specs.scalar.name;
  for (const [n, t] of Object.entries(all)) expectDType(name, n, t, 'f32');
  expectSameSize(name, Object.keys(all), Object.values(all));
  expectDistinct(name, output, inputs);
  const N = Object.values(output)[0].size;
  const w = vec4Width(N, Object.values(all));
  rt.dispatch(w === 4 ? specs.vec4 : specs.scalar, {
    params: { N: N / w, ...extra } as Record<'N' | P, number>,
    tensors: all,
    shapes: shapesOf(all),
  });
}

/** c = a + b. */
export function add(rt: Runtime, c: Tensor, a: Tensor, b: Tensor): void {
  run(rt, addSpec, { c }, { a, b }, {});
}

/** y = alpha * x. */
export function scale(rt: Runtime, y: Tensor, x: Tensor, alpha: number): void {
  if (!Number.isFinite(alpha)) throw new ShapeError(`scale: alpha must be a finite number, got ${alpha}`);
  run(rt, scaleSpec, { y }, { x }, { alpha });
}

/** y = 1 where x < tau, else 0 (NaN gives 0): a pass/fail reward from an error. */
export function threshold(rt: Runtime, y: Tensor, x: Tensor, tau: number): void {
  if (!Number.isFinite(tau)) throw new ShapeError(`threshold: tau must be a finite number, got ${tau}`);
  run(rt, thresholdSpec, { y }, { x }, { tau });
}

/** y = x. */
export function copy(rt: Runtime, y: Tensor, x: Tensor): void {
  run(rt, copySpec, { y }, { x }, {});
}

/** y = gelu(x), tanh approximation. */
export function gelu_forward(rt: Runtime, y: Tensor, x: Tensor): void {
  run(rt, geluForwardSpec, { y }, { x }, {});
}

/** dx = dy * gelu'(x). */
export function gelu_backward(rt: Runtime, dx: Tensor, dy: Tensor, x: Tensor): void {
  run(rt, geluBackwardSpec, { dx }, { dy, x }, {});
}
