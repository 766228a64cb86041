// embedding_backward: gradients of out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :], overwritten:
//   dwte[v, c] = sum over positions (b, t) with tokens[b, t] = v of dout[b, t, c]  (0 if v never occurs)
//   dwpe[t, c] = sum_b dout[b, t, c] for t < T, and 0 for T <= t < Tmax.
// Deterministic without atomics: each output element is owned by one invocation, which sums in
// position order. A dwte invocation reads token v's positions from `index` (embedding_index.wgsl,
// dispatched just before: positions grouped by token id, ascending), so dwte costs O(B * T * C)
// reads in all, whatever V; dwpe costs O(Tmax * C * B).
// Written over the element type T: src/kernels/embedding.ts runs this text with T = f32 and, when C
// is a multiple of 4, with T = vec4f and C counting vec4s (four columns per invocation; the same sums
// in the same order, so the same bits).
// Shapes: dout [B, T, C], index [V + 2 + B * T] u32, dwte [V, C], dwpe [Tmax, C].
// Bindings: 0 params {B, T, C, V, Tmax}, 1 dout (read), 2 index (read), 3 dwte (read_write),
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

alias T = f32;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dout: array<T>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read_write> dwte: array<T>;
@group(0) @binding(4) var<storage, read_write> dwpe: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  let nte = p.V * p.C;
  if (i < nte) {
    let v = i / p.C;
    let c = i % p.C;
    let list = p.V + 2u;
    let end = index[v + 1u];
    var acc = T(0.0);
    for (var j = index[v]; j < end; j++) {
      acc += dout[index[list + j] * p.C + c];
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
  var acc = T(0.0);
  if (t < p.T) {
    for (var b = 0u; b < p.B; b++) {
      acc += dout[(b * p.T + t) * p.C + c];
    }
  }
  dwpe[j] = acc;
}
