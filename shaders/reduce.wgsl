// reduce: one pass of a deterministic sum: out[offset + g] = scale * sum_{j < per_thread} f(x[g * per_thread + j])
// over the indices below N, with f(v) = v, or v * v when square = 1. Repeating passes over the partial
// sums (square = 0) reduces any N to one value. Each invocation adds its contiguous chunk in index
// order, so the order of additions depends only on N: the same input gives the same bits every run.
// No atomics and no workgroup barriers (barriers are very costly on CPU adapters such as SwiftShader).
// Shapes: x [N], out [offset + ceil(N / per_thread)] or larger.
// Bindings: 0 params {N, per_thread, square, scale, offset}, 1 x (read), 2 out (read_write).
// Dispatch: one invocation per chunk, folded 2D grid: g = gid.x + gid.y * (num_workgroups.x * WG_X).
struct Params {
  N: u32,
  per_thread: u32,
  square: u32,
  scale: f32,
  offset: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = gid.x + gid.y * nwg.x * WG_X;
  let start = g * p.per_thread;
  if (start >= p.N) {
    return;
  }
  let end = min(start + p.per_thread, p.N);
  var s = 0.0;
  for (var i = start; i < end; i++) {
    let v = x[i];
    s += select(v, v * v, p.square != 0u);
  }
  out[p.offset + g] = p.scale * s;
}
