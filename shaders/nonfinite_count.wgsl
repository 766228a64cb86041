// nonfinite_count: one pass of an exact, deterministic count of the NaN and +-Inf values of a tensor.
// With classify = 1, x holds the f32 tensor's bits and each element counts 1 when its exponent bits
// are all ones ((bits & 0x7f800000) == 0x7f800000: NaN with any payload, +Inf, -Inf); finite values
// (the largest f32, denormals, -0) count 0. The test is on the bits, not `x != x`, because shader
// compilers may assume floats are finite and fold that away. With classify = 0, x holds u32 partial
// counts from an earlier pass and is summed. out[g] = the count over the chunk of workgroup g;
// passes repeat until one value is left. Integer sums are exact, so the result is the same on every
// run and adapter; the order is fixed anyway (strided slices, then a tree in workgroup memory).
// Shapes: x [N] (f32 bits or u32 counts), out [ceil(N / chunk)] u32, chunk = WG_X * per_thread.
// Bindings: 0 params {N, per_thread, classify}, 1 x (read), 2 out (read_write).
// Dispatch: one workgroup per chunk, folded 2D grid: g = wid.x + wid.y * num_workgroups.x.
struct Params {
  N: u32,
  per_thread: u32,
  classify: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

var<workgroup> partial: array<u32, WG_X>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = wid.x + wid.y * nwg.x;
  let start = g * WG_X * p.per_thread;
  var s = 0u;
  for (var k = 0u; k < p.per_thread; k++) {
    let i = start + k * WG_X + lid.x;
    if (i < p.N) {
      let b = x[i];
      s += select(b, select(0u, 1u, (b & 0x7f800000u) == 0x7f800000u), p.classify != 0u);
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
    out[g] = partial[0];
  }
}
