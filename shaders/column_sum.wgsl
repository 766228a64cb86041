// column_sum: out[n] = sum over rows r of x[r, n], added in row order (deterministic, no atomics).
// A linear layer's bias gradient: the sum of the output gradient over the batch. The same additions
// in the same order as matmul's ones[1, R] · x, which this replaces (1 * x is exact), so the same bits.
// Written over the element type T: src/kernels/reduce.ts runs this text with T = f32 and, when N is
// a multiple of 4, with T = vec4f and N counting vec4s (four columns per invocation and load).
// Shapes: x [R, N], out [N] (any shape with N elements).
// Bindings: 0 params {R, N}, 1 x (read), 2 out (read_write).
// Dispatch: one invocation per column (per T), folded 2D grid of WG_X-wide workgroups:
// n = gid.x + gid.y * (num_workgroups.x * WG_X).
struct Params {
  R: u32,
  N: u32,
}

alias T = f32;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  var acc = T(0.0);
  for (var r = 0u; r < p.R; r++) {
    acc += x[r * p.N + n];
  }
  out[n] = acc;
}
