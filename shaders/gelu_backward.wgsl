// gelu_backward: dx = dy * d/dx gelu(x) for the tanh approximation (see gelu_forward.wgsl):
// d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u).
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

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

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
  let v = x[i];
  let u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
  // With e = exp(-2|u|): 0.5 (1 + t) = 1 / (1 + e) for u >= 0, e / (1 + e) for u < 0, and
  // 1 - t^2 = 4e / (1 + e)^2. Written with tanh, both cancel to 0 in f32 for u below about -4,
  // where the true values are small but dy times them is not (the fuzzer found |error| 6e-5).
  let e = exp(-2.0 * abs(u));
  let half_one_plus_t = select(T(1.0), e, u < T(0.0)) / (1.0 + e);
  let sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e));
  dx[i] = dy[i] * (half_one_plus_t + 0.5 * v * sech2 * du);
}
