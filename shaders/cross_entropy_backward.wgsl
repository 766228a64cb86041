// cross_entropy_backward: gradient of scale * sum_n losses[n] (see cross_entropy_forward.wgsl)
// with respect to the logits: dlogits[n, v] = scale * mask[n] * (softmax(logits[n, :])[v] - [v == t]).
// scale is usually 1 / (sum of the mask), for a mean over the unmasked positions.
// Shapes: logits, dlogits [N, V], targets [N] (u32), mask [N] (1-element dummy when has_mask = 0).
// Bindings: 0 params {N, V, has_mask, scale}, 1 logits (read), 2 targets (read), 3 mask (read),
//           4 dlogits (read_write).
// Dispatch: one invocation per row, folded 2D grid (r = gid.x + gid.y * num_workgroups.x * WG_X).
struct Params {
  N: u32,
  V: u32,
  has_mask: u32,
  scale: f32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  let base = n * p.V;
  let g = p.scale * select(1.0, mask[n], p.has_mask != 0u);
  if (g == 0.0) {
    for (var v = 0u; v < p.V; v++) {
      dlogits[base + v] = 0.0;
    }
    return;
  }
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
  let inv = 1.0 / s;
  let t = targets[n];
  for (var v = 0u; v < p.V; v++) {
    let prob = exp(logits[base + v] - m) * inv;
    dlogits[base + v] = g * (prob - select(0.0, 1.0, v == t));
  }
}
