// cross_entropy_forward: fused log-softmax + cross-entropy with a per-position mask.
// losses[n] = mask[n] * (logsumexp(logits[n, :]) - logits[n, targets[n]]).
// Shapes: logits [N, V], targets [N] (u32 in [0, V), checked before dispatch), mask [N] (weights;
// a 1-element dummy when has_mask = 0, meaning all ones), losses [N].
// Bindings: 0 params {N, V, has_mask}, 1 logits (read), 2 targets (read), 3 mask (read),
//           4 losses (read_write).
// Dispatch: one invocation per row, folded 2D grid (r = gid.x + gid.y * num_workgroups.x * WG_X).
struct Params {
  N: u32,
  V: u32,
  has_mask: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  let w = select(1.0, mask[n], p.has_mask != 0u);
  if (w == 0.0) {
    losses[n] = 0.0;
    return;
  }
  let base = n * p.V;
  var m = -3.0e38;
  var s = 0.0;
  for (var v = 0u; v < p.V; v++) {
    let z = logits[base + v];
    if (z > m) {
      s = s * exp(m - z) + 1.0;
      m = z;
    } else {
      s += exp(z - m);
    }
  }
  let lse = m + log(s);
  // A target past the vocabulary (refused before a dispatch from user data) reads the row's last
  // logit, never past the row: the clamp keeps the access in bounds without robustness checks.
  losses[n] = w * (lse - logits[base + min(targets[n], p.V - 1u)]);
}
