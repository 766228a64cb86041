// layernorm_forward: y = (x - mean) * rstd * weight + bias over the last axis, rstd = 1/sqrt(var + eps)
// with the biased variance (divide by C), computed in two passes (mean, then squared deviations).
// Shapes: x, y [N, C], weight, bias [C], mean, rstd [N] (kept for the backward pass).
// Bindings: 0 params {N, C, eps}, 1 x (read), 2 weight (read), 3 bias (read), 4 y, 5 mean,
//           6 rstd (read_write).
// Dispatch: one invocation per row, folded 2D grid (r = gid.x + gid.y * num_workgroups.x * WG_X).
// Written over the element type T: src/kernels/layernorm.ts runs this text with T = f32 and, when C
// is a multiple of 4, with T = vec4f and C counting vec4s (W = 4; lines marked `// vec4:` swapped
// in): a quarter of the loads, the same operations per element in the same order, so the same bits.
struct Params {
  N: u32,
  C: u32,
  eps: f32,
}

const BLOCK: u32 = 256u;

alias T = f32;
// Elements per T.
// vec4: const W: u32 = 4u;
const W: u32 = 1u;

// s plus v's elements, one at a time in index order.
// vec4: fn addInOrder(s: f32, v: T) -> f32 { return s + v.x + v.y + v.z + v.w; }
fn addInOrder(s: f32, v: T) -> f32 { return s + v; }

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> weight: array<T>;
@group(0) @binding(3) var<storage, read> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  let base = n * p.C;
  let block = BLOCK / W;
  // Both sums by blocks of BLOCK values: added one by one to a long row's running sum, each term
  // loses up to half an ulp of that sum (the sum of squares always downwards): with C = 262145 a
  // y came out 3.6e-4 off (found by `fuzz --work`).
  var s = 0.0;
  for (var c0 = 0u; c0 < p.C; c0 += block) {
    var sb = 0.0;
    for (var c = c0; c < min(p.C, c0 + block); c++) {
      sb = addInOrder(sb, x[base + c]);
    }
    s += sb;
  }
  let mu = s / f32(p.C * W);
  var ss = 0.0;
  for (var c0 = 0u; c0 < p.C; c0 += block) {
    var sb = 0.0;
    for (var c = c0; c < min(p.C, c0 + block); c++) {
      let d = x[base + c] - mu;
      sb = addInOrder(sb, d * d);
    }
    ss += sb;
  }
  let rs = 1.0 / sqrt(ss / f32(p.C * W) + p.eps);
  for (var c = 0u; c < p.C; c++) {
    y[base + c] = (x[base + c] - mu) * rs * weight[c] + bias[c];
  }
  mean[n] = mu;
  rstd[n] = rs;
}
