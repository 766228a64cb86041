// softmax_forward: y = softmax(scale * x) over the last axis, optionally causal.
// Shapes: x, y [R, N] (R rows of N). With causal, rows come in blocks of Q query positions (the
// second-to-last axis of attention scores [B, H, Q, N]); row r has query index i = r % Q and
// columns j > i + (N - Q) are masked: they get y = 0 and take no part in the normalisation.
// Numerically stable: one pass keeps a running max and a rescaled running sum (online softmax),
// so logits of 1e4 and all-equal rows are exact, summed by blocks of BLOCK columns (see below);
// a second pass writes y.
// Bindings: 0 params {R, N, Q, causal, scale}, 1 x (read), 2 y (read_write).
// Dispatch: one invocation per row, rows folded into a 2D grid of WG_X-wide workgroups:
// r = gid.x + gid.y * (num_workgroups.x * WG_X). No barriers (fast on SwiftShader).
struct Params {
  R: u32,
  N: u32,
  Q: u32,
  causal: u32,
  scale: f32,
}

const BLOCK: u32 = 256u;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG_X;
  if (r >= p.R) {
    return;
  }
  let base = r * p.N;
  // Number of visible columns in this row.
  var count = p.N;
  if (p.causal != 0u) {
    count = min(p.N, r % p.Q + (p.N - p.Q) + 1u);
  }
  // Two levels: each block of BLOCK columns keeps its own (max, sum), merged into the row's at the
  // block's end. Added to the whole row's sum one by one, a term below half an ulp of that sum is
  // lost, always downwards: with one dominant logit in a row of 65521 the sum came out 4e-4 low
  // (found by `fuzz --work`); by blocks a term only meets its block's sum.
  var m = -3.0e38;
  var s = 0.0;
  var j = 0u;
  loop {
    if (j >= count) {
      break;
    }
    let end = min(count, j + BLOCK);
    var mb = -3.0e38;
    var sb = 0.0;
    for (; j < end; j++) {
      let v = p.scale * x[base + j];
      if (v > mb) {
        sb = sb * exp(mb - v) + 1.0;
        mb = v;
      } else {
        sb += exp(v - mb);
      }
    }
    let mm = max(m, mb);
    s = s * exp(m - mm) + sb * exp(mb - mm);
    m = mm;
  }
  let inv = 1.0 / s;
  for (var j = 0u; j < count; j++) {
    y[base + j] = exp(p.scale * x[base + j] - m) * inv;
  }
  for (var j = count; j < p.N; j++) {
    y[base + j] = 0.0;
  }
}
