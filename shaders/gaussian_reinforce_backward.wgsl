// gaussian_reinforce_backward: REINFORCE gradients of the Gaussian policy's loss
//   L = -scale * sum_b adv[b] * log N(sample[b, :]; mean[b, :], sigma^2)
// (sample and adv are data: no gradient flows through them):
//   dmean[b, d]   = -scale * adv[b] * (sample[b, d] - mean[b, d]) / sigma_d^2
//   dlog_sigma[d] = -scale * sum_b adv[b] * ((sample[b, d] - mean[b, d])^2 / sigma_d^2 - 1)
// with sigma_d = exp(log_sigma[d]) when learned (has_log_sigma = 1), else the scalar sigma (and
// no dlog_sigma). Both are overwritten. The column sum runs over b in index order, one invocation
// per d: deterministic, no atomics.
// Shapes: mean, sample, dmean [B, D] (N = B * D), adv [B], log_sigma, dlog_sigma [D] (1-element
// dummies when fixed).
// Bindings: 0 params {N, D, has_log_sigma, sigma, scale}, 1 mean (read), 2 sample (read),
//           3 adv (read), 4 log_sigma (read), 5 dmean (read_write), 6 dlog_sigma (read_write).
// Dispatch: N invocations (N + D when learned), folded 2D grid: i = gid.x + gid.y * (num_workgroups.x * WG_X);
// i < N writes dmean[i], N <= i < N + D writes dlog_sigma[i - N].
struct Params {
  N: u32,
  D: u32,
  has_log_sigma: u32,
  sigma: f32,
  scale: f32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> sample: array<f32>;
@group(0) @binding(3) var<storage, read> adv: array<f32>;
@group(0) @binding(4) var<storage, read> log_sigma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dmean: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlog_sigma: array<f32>;

// 1 / sigma_d^2.
fn inv_var(d: u32) -> f32 {
  if (p.has_log_sigma != 0u) {
    return exp(-2.0 * log_sigma[d]);
  }
  return 1.0 / (p.sigma * p.sigma);
}

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i < p.N) {
    let d = i % p.D;
    dmean[i] = -p.scale * adv[i / p.D] * (sample[i] - mean[i]) * inv_var(d);
    return;
  }
  if (p.has_log_sigma == 0u || i >= p.N + p.D) {
    return;
  }
  let d = i - p.N;
  let iv = inv_var(d);
  let B = p.N / p.D;
  var acc = 0.0;
  for (var b = 0u; b < B; b++) {
    let diff = sample[b * p.D + d] - mean[b * p.D + d];
    acc += adv[b] * (diff * diff * iv - 1.0);
  }
  dlog_sigma[d] = -p.scale * acc;
}
