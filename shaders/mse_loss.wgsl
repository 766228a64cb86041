// mse_loss: squared error per row and its gradient, fused.
// losses[b] = sum_d (pred[b, d] - target[b, d])^2; dpred[b, d] = scale * 2 * (pred[b, d] - target[b, d]),
// the gradient of scale * sum_b losses[b] (scale = 1/B for a mean over rows).
// Shapes: pred, target, dpred [B, D]; losses [B].
// Bindings: 0 params {B, D, scale}, 1 pred (read), 2 target (read; `tgt` here: `target` is a WGSL keyword), 3 losses (read_write), 4 dpred (read_write).
// Dispatch: one invocation per row, folded 2D grid (b = gid.x + gid.y * num_workgroups.x * WG_X).
struct Params {
  B: u32,
  D: u32,
  scale: f32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pred: array<f32>;
@group(0) @binding(2) var<storage, read> tgt: array<f32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> dpred: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = gid.x + gid.y * nwg.x * WG_X;
  if (b >= p.B) {
    return;
  }
  var s = 0.0;
  for (var d = 0u; d < p.D; d++) {
    let i = b * p.D + d;
    let e = pred[i] - tgt[i];
    s += e * e;
    dpred[i] = p.scale * 2.0 * e;
  }
  losses[b] = s;
}
