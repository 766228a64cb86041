// advantages: per-sample advantages for group-sampled RL (P prompts, G samples of each), one group per
// invocation. With mean = (1/G) sum_g R[p, g]:
//   mode 0, GRPO:      adv = (R - mean) / (std + eps), std = sqrt((1/G) sum_g (R - mean)^2), the
//                      population std (divides by G, not G - 1).
//   mode 1, RLOO:      adv_i = R_i - (1/(G-1)) sum_{j != i} R_j, the leave-one-out baseline (needs G >= 2;
//                      the wrapper refuses G = 1). Computed as G/(G-1) * (R_i - mean), the same value
//                      without the cancellation of sum - R_i.
//   mode 2, REINFORCE: adv = R - b with b = baseline[p] (baseline_kind 1, per prompt) or baseline[0]
//                      (baseline_kind 2, one value for all, e.g. the batch mean the wrapper computes).
// flat[p] = 1 when all G rewards of group p are equal (such a group carries no learning signal; callers
// may skip it), else 0. In modes 0 and 1 a flat group gets adv = 0 exactly (not NaN, and not the
// rounding residue of R - mean); mode 2 ignores flat.
// All sums run in index order in f32: the same input gives the same bits every run.
// Shapes: rewards, adv [P, G]; baseline [P] or [1] (1-element dummy when baseline_kind = 0); flat [P].
// Bindings: 0 params {P, G, mode, baseline_kind, eps}, 1 rewards (read), 2 baseline (read),
//           3 adv (read_write), 4 flat (read_write).
// Dispatch: one invocation per group, folded 2D grid (g = gid.x + gid.y * num_workgroups.x * WG_X).
struct Params {
  P: u32,
  G: u32,
  mode: u32,
  baseline_kind: u32,
  eps: f32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> rewards: array<f32>;
@group(0) @binding(2) var<storage, read> baseline: array<f32>;
@group(0) @binding(3) var<storage, read_write> adv: array<f32>;
@group(0) @binding(4) var<storage, read_write> flat_out: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = gid.x + gid.y * nwg.x * WG_X;
  if (g >= p.P) {
    return;
  }
  let base = g * p.G;
  let first = rewards[base];
  var is_flat = true;
  var s = 0.0;
  for (var i = 0u; i < p.G; i++) {
    let r = rewards[base + i];
    s += r;
    is_flat = is_flat && r == first;
  }
  flat_out[g] = select(0.0, 1.0, is_flat);

  if (p.mode == 2u) {
    let b = select(baseline[0], baseline[g], p.baseline_kind == 1u);
    for (var i = 0u; i < p.G; i++) {
      adv[base + i] = rewards[base + i] - b;
    }
    return;
  }
  if (is_flat) {
    for (var i = 0u; i < p.G; i++) {
      adv[base + i] = 0.0;
    }
    return;
  }
  let mean = s / f32(p.G);
  var factor: f32;
  if (p.mode == 0u) {
    var ss = 0.0;
    for (var i = 0u; i < p.G; i++) {
      let d = rewards[base + i] - mean;
      ss += d * d;
    }
    factor = 1.0 / (sqrt(ss / f32(p.G)) + p.eps);
  } else {
    factor = f32(p.G) / f32(p.G - 1u);
  }
  for (var i = 0u; i < p.G; i++) {
    adv[base + i] = (rewards[base + i] - mean) * factor;
  }
}
