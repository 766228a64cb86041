// softmax_forward: y = softmax(scale * x) over the last axis, optionally causal.
// Shapes: x, y [R, N] (R rows of N). With causal, rows come in blocks of Q query positions (the
// second-to-last axis of attention scores [B, H, Q, N]); row r has query index i = r % Q and
// columns j > i + (N - Q) are masked: they get y = 0 and take no part in the normalisation.
// Numerically stable: one pass keeps a running max and a rescaled running sum (online softmax),
// so logits of 1e4 and all-equal rows are exact; a second pass writes y.
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
  var m = -3.0e38;
  var s = 0.0;
  for (var j = 0u; j < count; j++) {
    let v = p.scale * x[base + j];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  let inv = 1.0 / s;
  for (var j = 0u; j < count; j++) {
    y[base + j] = exp(p.scale * x[base + j] - m) * inv;
  }
  for (var j = count; j < p.N; j++) {
    y[base + j] = 0.0;
  }
}
