// gelu_backward: dx = dy * d/dx gelu(x) for the tanh approximation (see gelu_forward.wgsl):
// d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u).
// Shapes: dy, x, dx [N].
// Bindings: 0 params {N}, 1 dy (read), 2 x (read), 3 dx (read_write).
// Dispatch: one invocation per element, folded into a 2D grid of WG_X-wide workgroups:
// i = gid.x + gid.y * (num_workgroups.x * WG_X).
struct Params {
  N: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.N) {
    return;
  }
  let v = x[i];
  let t = tanh(clamp(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v), -15.0, 15.0));
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
  dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
}
