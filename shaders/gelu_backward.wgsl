// gelu_backward: dx = dy * d/dx gelu(x) for the tanh approximation (see gelu_forward.wgsl);
// gelu_grad() comes from shaders/gelu.wgsl, appended to this text by src/kernels/elementwise.ts.
// Shapes: dy, x, dx [N].
// Bindings: 0 params {N}, 1 dy (read), 2 x (read), 3 dx (read_write).
// Dispatch: one invocation per element, folded into a 2D grid of WG_X-wide workgroups:
// i = gid.x + gid.y * (num_workgroups.x * WG_X).
// Written over the element type T: src/kernels/elementwise.ts runs this text with T = f32 (one
// element per invocation) and, when the element count is a multiple of 4, with T = vec4f and N
// counting vec4s (four elements per invocation, a quarter of the loads and invocations; the same
// arithmetic per element, so the same bits).
struct Params {
  N: u32,
}

alias T = f32;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.N) {
    return;
  }
  dx[i] = gelu_grad(dy[i], x[i]);
}
