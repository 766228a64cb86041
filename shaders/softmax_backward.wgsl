// softmax_backward: dx = scale * y * (dy - sum_j dy_j y_j), per row: the gradient with respect to x
// of y = softmax(scale * x). Masked (causal) entries have y = 0, so their dx is 0.
// Shapes: dx, dy, y [R, N].
// Bindings: 0 params {R, N, scale}, 1 dy (read), 2 y (read), 3 dx (read_write).
// Dispatch: one invocation per row, folded 2D grid as in softmax_forward.wgsl.
// Written over the element type T: src/kernels/softmax.ts runs this text with T = f32 and, when N
// is a multiple of 4, with T = vec4f and N counting vec4s (W = 4; lines marked `// vec4:` swapped
// in): a quarter of the loads, the same operations per element in the same order, so the same bits.
struct Params {
  R: u32,
  N: u32,
  scale: f32,
}

alias T = f32;

// s plus v's elements, one at a time in index order.
// vec4: fn addInOrder(s: f32, v: T) -> f32 { return s + v.x + v.y + v.z + v.w; }
fn addInOrder(s: f32, v: T) -> f32 { return s + v; }

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> y: array<T>;
@group(0) @binding(3) var<storage, read_write> dx: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG_X;
  if (r >= p.R) {
    return;
  }
  let base = r * p.N;
  var dot = 0.0;
  for (var j = 0u; j < p.N; j++) {
    dot = addInOrder(dot, dy[base + j] * y[base + j]);
  }
  for (var j = 0u; j < p.N; j++) {
    dx[base + j] = p.scale * y[base + j] * (dy[base + j] - dot);
  }
}
