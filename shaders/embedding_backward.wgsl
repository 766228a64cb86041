// embedding_backward: gradients of out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :], overwritten:
//   dwte[v, c] = sum over positions (b, t) with tokens[b, t] = v of dout[b, t, c]  (0 if v never occurs)
//   dwpe[t, c] = sum_b dout[b, t, c] for t < T, and 0 for T <= t < Tmax.
// Deterministic without atomics: each output element is owned by one invocation, which sums in
// index order. A dwte invocation scans all B * T token ids, so dwte costs O(V * C * B * T) reads
// (the dout reads are only the matching ones): meant for small vocabularies (V up to a few
// thousand, C up to ~1k, B * T up to a few thousand); dwpe costs O(Tmax * C * B). Token ids are
// clamped to V - 1 as in embedding_forward.wgsl (callers check ids < V on the CPU).
// Shapes: dout [B, T, C], tokens [B, T] u32, dwte [V, C], dwpe [Tmax, C].
// Bindings: 0 params {B, T, C, V, Tmax}, 1 dout (read), 2 tokens (read), 3 dwte (read_write),
//           4 dwpe (read_write).
// Dispatch: V * C + Tmax * C invocations, folded 2D grid: i = gid.x + gid.y * (num_workgroups.x * WG_X);
// i < V * C computes dwte[i], the next Tmax * C compute dwpe[i - V * C].
struct Params {
  B: u32,
  T: u32,
  C: u32,
  V: u32,
  Tmax: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> dwte: array<f32>;
@group(0) @binding(4) var<storage, read_write> dwpe: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  let nte = p.V * p.C;
  if (i < nte) {
    let v = i / p.C;
    let c = i % p.C;
    let BT = p.B * p.T;
    var acc = 0.0;
    for (var n = 0u; n < BT; n++) {
      if (min(tokens[n], p.V - 1u) == v) {
        acc += dout[n * p.C + c];
      }
    }
    dwte[i] = acc;
    return;
  }
  let j = i - nte;
  if (j >= p.Tmax * p.C) {
    return;
  }
  let t = j / p.C;
  let c = j % p.C;
  var acc = 0.0;
  if (t < p.T) {
    for (var b = 0u; b < p.B; b++) {
      acc += dout[(b * p.T + t) * p.C + c];
    }
  }
  dwpe[j] = acc;
}
