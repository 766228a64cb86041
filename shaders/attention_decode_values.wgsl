// attention_decode_values: the second dispatch of attention_decode (see attention_decode.wgsl):
// out[b, h, d] = sum_{j <= P} probs[b, h, j] * vcache[b, h, j, d], P = min(pos[b], Tmax - 1), summed
// in j order in f32 (the cache's row P holds the new value, written by the first dispatch).
// Shapes: probs [B, H, Tmax]; vcache [B, H, Tmax, hs]; pos [B] u32; out [B, H, hs] (N = B * H * hs).
// Bindings: 0 params {N, H, Tmax, hs}, 1 probs, 2 vcache, 3 pos (read), 4 out (read_write).
// Dispatch: one invocation per output element (b, h, d), folded 2D grid:
// i = gid.x + gid.y * (num_workgroups.x * WG_X).
struct Params {
  N: u32,
  H: u32,
  Tmax: u32,
  hs: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> probs: array<f32>;
@group(0) @binding(2) var<storage, read> vcache: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.N) {
    return;
  }
  let d = i % p.hs;
  let bh = i / p.hs;
  let last = min(pos[bh / p.H], p.Tmax - 1u);
  var acc = 0.0;
  for (var j = 0u; j <= last; j++) {
    acc += probs[bh * p.Tmax + j] * vcache[(bh * p.Tmax + j) * p.hs + d];
  }
  out[i] = acc;
}
