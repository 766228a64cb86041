// layernorm_backward (input gradient): with xhat = (x - mean) * rstd and g = dy * weight,
// dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat)), per row; with HAS_RES, res + that (the
// residual connection's gradient added in the same pass: the bits of a separate add).
// The parameter gradients are layernorm_backward_params.wgsl (a column reduction).
// Shapes: dy, x, dx [N, C], weight [C], mean, rstd [N] (from layernorm_forward).
// Bindings: 0 params {N, C}, 1 dy, 2 x, 3 weight, 4 mean, 5 rstd (read), 6 dx (read_write), 7 res
//           (read, [N, C]; without HAS_RES any tensor of dy's size, unread).
// Dispatch: one invocation per row, folded 2D grid (r = gid.x + gid.y * num_workgroups.x * WG_X).
// Written over the element type T: src/kernels/layernorm.ts runs this text with T = f32 and, when C
// is a multiple of 4, with T = vec4f and C counting vec4s (W = 4; lines marked `// vec4:` swapped
// in): a quarter of the loads, the same operations per element in the same order, so the same bits.
struct Params {
  N: u32,
  C: u32,
}

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
override HAS_RES: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read> x: array<T>;
@group(0) @binding(3) var<storage, read> weight: array<T>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<T>;
@group(0) @binding(7) var<storage, read> res: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  let base = n * p.C;
  let mu = mean[n];
  let rs = rstd[n];
  var gMean = 0.0;
  var gxMean = 0.0;
  for (var c = 0u; c < p.C; c++) {
    let g = dy[base + c] * weight[c];
    gMean = addInOrder(gMean, g);
    gxMean = addInOrder(gxMean, g * (x[base + c] - mu) * rs);
  }
  gMean /= f32(p.C * W);
  gxMean /= f32(p.C * W);
  for (var c = 0u; c < p.C; c++) {
    let g = dy[base + c] * weight[c];
    let xhat = (x[base + c] - mu) * rs;
    let d = rs * (g - gMean - xhat * gxMean);
    if (HAS_RES) {
      dx[base + c] = res[base + c] + d;
    } else {
      dx[base + c] = d;
    }
  }
}
