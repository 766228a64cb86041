// sumsq_into: one pass of the deterministic sum of reduce.wgsl, writing its partial sums at an offset:
// out[offset + g] = sum over the chunk of workgroup g of f(x[i]), with f(v) = v * v when square = 1,
// else v. Passes over the partials (square = 0) shrink any N to one value, which the last pass writes
// at out[offset]: so the sum of squares of tensor t of a list lands in element t of a partials
// tensor [T] (global_norm_sumsq). Same order of additions as reduce.wgsl (it depends only on N):
// each invocation sums a strided slice in index order, then a fixed tree in workgroup memory
// combines the WG_X slices. No atomics: the same input gives the same bits every run.
// Shapes: x [N], out [offset + ceil(N / chunk)] or larger, chunk = WG_X * per_thread.
// Bindings: 0 params {N, per_thread, square, offset}, 1 x (read), 2 out (read_write).
// Dispatch: one workgroup per chunk, folded 2D grid: g = wid.x + wid.y * num_workgroups.x.
struct Params {
  N: u32,
  per_thread: u32,
  square: u32,
  offset: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WG_X>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = wid.x + wid.y * nwg.x;
  let start = g * WG_X * p.per_thread;
  var s = 0.0;
  for (var k = 0u; k < p.per_thread; k++) {
    let i = start + k * WG_X + lid.x;
    if (i < p.N) {
      let v = x[i];
      s += select(v, v * v, p.square != 0u);
    }
  }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var stride = WG_X / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      partial[lid.x] += partial[lid.x + stride];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    out[p.offset + g] = partial[0];
  }
}
