/**
 * The typed description of one WGSL compute kernel. A wrapper in src/kernels/ fills in the
 * parameters and tensors; the Runtime turns the description into a cached pipeline and a dispatch.
 *
 * Conventions every shader in shaders/ follows:
 *  - binding 0 is a uniform struct `Params` whose fields are `params` below, in order, all 4 bytes;
 *  - bindings 1.. are the storage buffers in `bindings` order;
 *  - `@workgroup_size(WG_X, WG_Y, WG_Z)` with those three override constants, which the runtime
 *    sets from `workgroupSize`, so the dispatch arithmetic here and the shader cannot disagree.
 */
export type ParamType = 'u32' | 'i32' | 'f32';

export interface BindingSpec {
  name: string;
  /** 'read' binds as read-only storage; 'read_write' as storage. */
  access: 'read' | 'read_write';
}

export interface KernelSpec<P extends string = string> {
  /** Used in pipeline labels and in every error message. */
  name: string;
  /** WGSL source, from src/gpu/shaders.ts. */
  shader: string;
  entryPoint?: string;
  /** Fields of the uniform `Params` struct, in declaration order. */
  params: readonly (readonly [P, ParamType])[];
  bindings: readonly BindingSpec[];
  workgroupSize: readonly [number, number, number];
  /** Workgroup counts from the parameter values (may use the device limits to fold a grid). */
  dispatch: (p: Readonly<Record<P, number>>) => readonly [number, number, number];
}

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}
