// gelu_forward: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh approximation (GPT-2).
// gelu() comes from shaders/gelu.wgsl, appended to this text by src/kernels/elementwise.ts.
// Shapes: x, y [N] (any shape, N elements).
// Bindings: 0 params {N}, 1 x (read), 2 y (read_write).
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
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.N) {
    return;
  }
  y[i] = gelu(x[i]);
}
