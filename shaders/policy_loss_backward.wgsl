// policy_loss_backward: the gradient with respect to the logits of the clipped-ratio policy loss with a
// KL penalty and an entropy bonus (PPO / GRPO style), to be minimised, and the per-token loss and clip flag.
// Per token n (z = logits[n, :], p = softmax(z), t = tokens[n], A = adv[n]):
//   logp  = log p_t                                   the current policy's log-probability of the token
//   ratio = exp(logp - old_logp[n])
//   J     = min(ratio * A, clamp(ratio, 1 - eps_low, 1 + eps_high) * A)
//   kl    = exp(ref_logp[n] - logp) - (ref_logp[n] - logp) - 1       (k3 estimator; only when beta != 0)
//   H     = -sum_v p_v log p_v
//   loss_n = -(J - beta * kl + ent_coef * H)
// Total loss = scale * sum_n mask[n] * loss_n.
// Derivative. With d logp / d z_v = [v == t] - p_v and d H / d z_v = -p_v (log p_v + H):
//   dJ/dlogp  = ratio * A when the unclipped term is the min, 0 when the clipped term is strictly smaller
//               (clamp(ratio) * A < ratio * A: A > 0 and ratio > 1 + eps_high, or A < 0 and
//               ratio < 1 - eps_low); at a tie the unclipped gradient is used (the min is not
//               differentiable exactly at ratio = 1 +- eps).
//   dkl/dlogp = 1 - exp(ref_logp - logp)
//   a         = d loss_n / d logp = -dJ/dlogp + beta * dkl/dlogp
//   dlogits[n, v] = scale * mask[n] * (a * ([v == t] - p_v) + ent_coef * p_v * (log p_v + H))
// Outputs: dlogits; losses[n] = mask[n] * loss_n (so scale * sum(losses) is the total loss);
// clipped[n] = 1 when the clipped term is strictly the min (its gradient is 0), else 0. A row with
// mask[n] == 0 gets all zeros.
// Numerics: m = z_k = max z (k the first argmax), r = sum_{v != k} exp(z_v - m), s = 1 + r,
// log s = log1p(r) (a series for small r, so a peaked row keeps its small log s and entropy accurate),
// log p_v = (z_v - m) - log s, H = log s - mean_d with mean_d = sum_v p_v (z_v - m), as in
// token_logprobs.wgsl; exp(x) - 1 in kl and dkl/dlogp uses a series for |x| < 0.1 (no cancellation
// when ref ~ logp). The gradient avoids two f32 cancellations: 1 - p_k (token = argmax of a peaked
// row, p_k ~ 1) is r / s, not 1 - p_k (which kept only ~ulp(1) / (1 - p_k) relative accuracy: 7e-4
// at 1 - p_k = 8.6e-5), and log p_v + H is (z_v - m) - mean_d, where log s cancels exactly.
// Remaining limit: logp is rounded at ~ulp(|z_t - m|), so the differences logp - old_logp and
// ref_logp - logp carry an absolute error ~ulp(|logp|), as large as rounding old_logp or ref_logp
// to f32 does (the kernel is as accurate as its inputs are); a compensated z_t - m (two-sum) does not
// survive SwiftShader's compiler. Where a = beta * dkl/dlogp alone (clipped, or adv = 0) and
// ref_logp ~ logp, that is a large relative error of a small gradient: see the tolerance in
// src/kernels/policy.entries.ts.
// scale: the parameter, or (scale_from_sum = 1) 1 / mask_sum[0] (0 when that sum is <= 0).
// Shapes: logits, dlogits [N, V]; tokens [N] (u32 in [0, V)); mask [N] (1-element dummy when
//         has_mask = 0); token_in [3 * S]: adv at [0, N), old_logp at [S, S + N), ref_logp at
//         [2S, 2S + N) (S >= N; ref_logp is read only when beta != 0); mask_sum [1]; losses, clipped [N].
// Bindings: 0 params {N, V, S, has_mask, scale_from_sum, scale, eps_low, eps_high, beta, ent_coef},
//           1 logits (read), 2 tokens (read), 3 mask (read), 4 token_in (read), 5 mask_sum (read),
//           6 dlogits (read_write), 7 losses (read_write), 8 clipped (read_write).
// Dispatch: one invocation per row, folded 2D grid (n = gid.x + gid.y * num_workgroups.x * WG_X).
struct Params {
  N: u32,
  V: u32,
  S: u32,
  has_mask: u32,
  scale_from_sum: u32,
  scale: f32,
  eps_low: f32,
  eps_high: f32,
  beta: f32,
  ent_coef: f32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> token_in: array<f32>;
@group(0) @binding(5) var<storage, read> mask_sum: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(7) var<storage, read_write> losses: array<f32>;
@group(0) @binding(8) var<storage, read_write> clipped: array<f32>;

// log(1 + x) for x >= 0, by a series below 0.01 (error < x^6 / 6), where log(1 + x) would lose x's low bits.
fn log1p(x: f32) -> f32 {
  if (x < 0.01) {
    return x * (1.0 - x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - x * 0.2))));
  }
  return log(1.0 + x);
}

// exp(x) - 1 without cancellation near 0.
fn expm1(x: f32) -> f32 {
  if (abs(x) < 0.1) {
    return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0))))));
  }
  return exp(x) - 1.0;
}

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  let base = n * p.V;
  let w = select(1.0, mask[n], p.has_mask != 0u);
  if (w == 0.0) {
    for (var v = 0u; v < p.V; v++) {
      dlogits[base + v] = 0.0;
    }
    losses[n] = 0.0;
    clipped[n] = 0.0;
    return;
  }
  var scale = p.scale;
  if (p.scale_from_sum != 0u) {
    let total = mask_sum[0];
    scale = select(0.0, 1.0 / total, total > 0.0);
  }

  // Row statistics: max, normaliser, entropy.
  var m = logits[base];
  var k = 0u;
  for (var v = 1u; v < p.V; v++) {
    let z = logits[base + v];
    if (z > m) {
      m = z;
      k = v;
    }
  }
  var r = 0.0;
  var sd = 0.0;
  for (var v = 0u; v < p.V; v++) {
    if (v != k) {
      let d = logits[base + v] - m;
      let e = exp(d);
      r += e;
      sd += e * d;
    }
  }
  let log_s = log1p(r);
  let inv_s = 1.0 / (1.0 + r);
  let mean_d = sd * inv_s;
  let H = log_s - mean_d;
  let t = tokens[n];
  // An id past the vocabulary reads the row's last logit, never past the row (in bounds without
  // robustness checks); its gradient below matches no column.
  let logp = (logits[base + min(t, p.V - 1u)] - m) - log_s;

  // Clipped surrogate.
  let A = token_in[n];
  let ratio = exp(logp - token_in[p.S + n]);
  let unclipped = ratio * A;
  let clipped_term = clamp(ratio, 1.0 - p.eps_low, 1.0 + p.eps_high) * A;
  let is_clipped = clipped_term < unclipped;
  let J = min(unclipped, clipped_term);
  let dJ = select(unclipped, 0.0, is_clipped);

  // k3 KL to the reference policy.
  var kl = 0.0;
  var dkl = 0.0;
  if (p.beta != 0.0) {
    let x = token_in[2u * p.S + n] - logp;
    let em1 = expm1(x);
    kl = em1 - x;
    dkl = -em1;
  }

  losses[n] = w * -(J - p.beta * kl + p.ent_coef * H);
  clipped[n] = select(0.0, 1.0, is_clipped);

  let g = scale * w;
  let a = -dJ + p.beta * dkl;
  let c = p.ent_coef;
  for (var v = 0u; v < p.V; v++) {
    let d = logits[base + v] - m;
    let pv = exp(d) * inv_s;
    // [v == t] - p_v; at the argmax 1 - p_k is r / s, which does not cancel against p_k ~ 1.
    var dlogp = -pv;
    if (v == t) {
      dlogp = select(1.0 - pv, r * inv_s, v == k);
    }
    // log p_v + H = (d - log s) + (log s - mean_d) = d - mean_d.
    dlogits[base + v] = g * (a * dlogp + c * pv * (d - mean_d));
  }
}
