// attention_decode: one new position per sequence against a key/value cache (generation with a KV
// cache), first of two dispatches: the cache update and the attention probabilities. For each
// sequence b and head h, with P = pos[b] (the new token's position):
//   kcache[b, h, P, :] = k[b, h, :] and vcache[b, h, P, :] = v[b, h, :] (the cache gains the new entry);
//   s_j = scale * (q[b, h, :] · kcache[b, h, j, :]) for j = 0..P (causal: earlier positions and itself);
//   probs[b, h, j] = exp(s_j - max_j s_j) * (1 / sum_j exp(s_j - max)) for j <= P (entries past P
//   are left as they were and never read).
// The same steps as attention's softmax (scale inside, max subtracted, times the inverse sum), in
// f32; the order of the sums may differ from the batched path's. attention_decode_values.wgsl then
// forms out = probs · vcache.
// Positions must be < Tmax (the caller checks the data; the registry refuses others with an
// InputError); the kernel clamps P to Tmax - 1 as a guard, so it never reads or writes out of bounds.
// Shapes: q, k, v [B, H, hs]; kcache, vcache [B, H, Tmax, hs]; pos [B] u32; probs [B, H, Tmax].
// Bindings: 0 params {BH, H, Tmax, hs, scale}, 1 q, 2 k, 3 v, 4 pos (read), 5 kcache, 6 vcache,
//           7 probs (read_write).
// Dispatch: one invocation per (b, h) (BH = B * H of them), folded 2D grid:
// bh = gid.x + gid.y * (num_workgroups.x * WG_X). Each invocation writes only its own head's cache
// row and probabilities, and reads only its own head's rows: no races, no barriers.
struct Params {
  BH: u32,
  H: u32,
  Tmax: u32,
  hs: u32,
  scale: f32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> pos: array<u32>;
@group(0) @binding(5) var<storage, read_write> kcache: array<f32>;
@group(0) @binding(6) var<storage, read_write> vcache: array<f32>;
@group(0) @binding(7) var<storage, read_write> probs: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let bh = gid.x + gid.y * nwg.x * WG_X;
  if (bh >= p.BH) {
    return;
  }
  let last = min(pos[bh / p.H], p.Tmax - 1u);
  let qb = bh * p.hs;
  let cache = bh * p.Tmax * p.hs;
  for (var d = 0u; d < p.hs; d++) {
    kcache[cache + last * p.hs + d] = k[qb + d];
    vcache[cache + last * p.hs + d] = v[qb + d];
  }
  let pb = bh * p.Tmax;
  // Scores (kept in probs), then the sum of exponentials, then the probabilities.
  var m = -3.4028234663852886e38;
  for (var j = 0u; j <= last; j++) {
    var dot = 0.0;
    for (var d = 0u; d < p.hs; d++) {
      dot += q[qb + d] * kcache[cache + j * p.hs + d];
    }
    let s = p.scale * dot;
    probs[pb + j] = s;
    m = max(m, s);
  }
  var sum = 0.0;
  for (var j = 0u; j <= last; j++) {
    let e = exp(probs[pb + j] - m);
    probs[pb + j] = e;
    sum += e;
  }
  let inv = 1.0 / sum;
  for (var j = 0u; j <= last; j++) {
    probs[pb + j] = probs[pb + j] * inv;
  }
}
