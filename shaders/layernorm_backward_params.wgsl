// layernorm_backward_params: dweight[c] = sum_n dy[n, c] * xhat[n, c], dbias[c] = sum_n dy[n, c],
// with xhat = (x - mean) * rstd. Overwrites dweight and dbias. Each column is summed by one
// invocation in row order: deterministic, no atomics.
// Shapes: dy, x [N, C], mean, rstd [N], dweight, dbias [C].
// Bindings: 0 params {N, C}, 1 dy, 2 x, 3 mean, 4 rstd (read), 5 dweight, 6 dbias (read_write).
// Dispatch: one invocation per column, folded 2D grid (c = gid.x + gid.y * num_workgroups.x * WG_X).
// Written over the element type T: src/kernels/layernorm.ts runs this text with T = f32 and, when C
// is a multiple of 4, with T = vec4f and C counting vec4s (four
// columns per invocation): a quarter of the loads, the same operations per element, so the same bits.
struct Params {
  N: u32,
  C: u32,
}

alias T = f32;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dweight: array<T>;
@group(0) @binding(6) var<storage, read_write> dbias: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * WG_X;
  if (c >= p.C) {
    return;
  }
  var dw = T(0.0);
  var db = T(0.0);
  for (var n = 0u; n < p.N; n++) {
    let g = dy[n * p.C + c];
    dw += g * (x[n * p.C + c] - mean[n]) * rstd[n];
    db += g;
  }
  dweight[c] = dw;
  dbias[c] = db;
}
