// token_logprobs: the log-probability of each row's chosen token and the entropy of the row's softmax,
// for a token policy:
//   logp[n]    = log_softmax(logits[n, :])[tokens[n]]
//   entropy[n] = -sum_v p_v * log(p_v),  p = softmax(logits[n, :])
// Both are 0 where mask[n] == 0. The mask is a gate, not a weight: any nonzero mask value keeps the
// full, unscaled value.
// Numerically stable: with m = z_k = max_v z_v (k the first argmax), r = sum_{v != k} exp(z_v - m),
// s = 1 + r and t = sum_v exp(z_v - m) * (z_v - m),
//   logp = (z_t - m) - log1p(r),  entropy = log1p(r) - t / s,
// where both terms of the entropy are >= 0 (no cancellation). Summing r without the 1 of the max and
// taking log1p by a series for small r keeps a peaked row's small entropy and log s accurate relative
// to their size (about 1e-6), not only to the ~1e-7 absolute error of rounding 1 + r. Logits of 1e4
// and all-equal rows are exact; V = 1 gives logp = 0 and entropy = 0.
// Shapes: logits [N, V], tokens [N] (u32 in [0, V); the caller checks the range), mask [N] (1-element
//         dummy when has_mask = 0), logp [N], entropy [N].
// Bindings: 0 params {N, V, has_mask}, 1 logits (read), 2 tokens (read), 3 mask (read),
//           4 logp (read_write), 5 entropy (read_write).
// Dispatch: one invocation per row, folded 2D grid (n = gid.x + gid.y * num_workgroups.x * WG_X).
// No barriers.
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
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> logp: array<f32>;
@group(0) @binding(5) var<storage, read_write> entropy: array<f32>;

// log(1 + x) for x >= 0, by a series below 0.01 (error < x^6 / 6), where log(1 + x) would lose x's low bits.
fn log1p(x: f32) -> f32 {
  if (x < 0.01) {
    return x * (1.0 - x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - x * 0.2))));
  }
  return log(1.0 + x);
}

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  if (p.has_mask != 0u && mask[n] == 0.0) {
    logp[n] = 0.0;
    entropy[n] = 0.0;
    return;
  }
  let base = n * p.V;
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
  var t = 0.0;
  for (var v = 0u; v < p.V; v++) {
    if (v != k) {
      let d = logits[base + v] - m;
      let e = exp(d);
      r += e;
      t += e * d;
    }
  }
  let log_s = log1p(r);
  // An id past the vocabulary reads the row's last logit, never past the row (in bounds without
  // robustness checks).
  logp[n] = (logits[base + min(tokens[n], p.V - 1u)] - m) - log_s;
  entropy[n] = log_s - t / (1.0 + r);
}
