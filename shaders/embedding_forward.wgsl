// embedding_forward: out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :] (token plus position embedding),
// or wpe[positions[b, t], :] when a positions tensor is bound (has_pos = 1: generation with a KV cache
// embeds one new token per sequence, each at its own position).
// Token ids must be < V: the wrappers' callers check the data on the CPU (the registry and the
// command line refuse ids >= V with an InputError). As a guard, the kernel clamps the id to V - 1,
// so an unchecked bad id reads a wrong row but never out of bounds. Positions likewise must be < Tmax
// (checked by the callers) and are clamped to Tmax - 1.
// Shapes: tokens [B, T] u32, wte [V, C], wpe [Tmax, C] (T <= Tmax without positions), positions
// [B, T] u32, out [B, T, C] (N = B * T * C).
// Bindings: 0 params {N, T, C, V, has_pos, Tmax}, 1 tokens (read), 2 wte (read), 3 wpe (read),
//           4 out (read_write), 5 positions (read; any small buffer when has_pos = 0).
// Dispatch: one invocation per output element, folded 2D grid: i = gid.x + gid.y * (num_workgroups.x * WG_X).
// Written over the element type T: src/kernels/embedding.ts runs this text with T = f32 and, when C
// is a multiple of 4, with T = vec4f and N and C counting vec4s (four elements of a row per
// invocation; the same additions, so the same bits).
struct Params {
  N: u32,
  T: u32,
  C: u32,
  V: u32,
  has_pos: u32,
  Tmax: u32,
}

alias T = f32;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
@group(0) @binding(2) var<storage, read> wte: array<T>;
@group(0) @binding(3) var<storage, read> wpe: array<T>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;
@group(0) @binding(5) var<storage, read> positions: array<u32>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.N) {
    return;
  }
  let c = i % p.C;
  let bt = i / p.C;
  var t = bt % p.T;
  if (p.has_pos != 0u) {
    t = min(positions[bt], p.Tmax - 1u);
  }
  let v = min(tokens[bt], p.V - 1u);
  out[i] = wte[v * p.C + c] + wpe[t * p.C + c];
}
