// permute_0213: y[a, c, b, d] = x[a, b, c, d]: swaps the two middle axes of a 4-D tensor.
// Splits attention heads ([B, T, H, hs] -> [B, H, T, hs]) and merges them back (the same kernel
// with the middle sizes swapped), forward and backward.
// Shapes: x [A, Bd, Cd, D], y [A, Cd, Bd, D].
// Bindings: 0 params {A, Bd, Cd, D}, 1 x (read), 2 y (read_write).
// Dispatch: one invocation per element of y, folded 2D grid of WG_X-wide workgroups:
// i = gid.x + gid.y * (num_workgroups.x * WG_X); each reads the matching x element.
// Written over the element type T: src/kernels/attention.ts runs this text with T = f32 and, when D
// is a multiple of 4, with T = vec4f and D counting vec4s (a quarter of the loads and invocations;
// a copy either way, so the same bits).
struct Params {
  A: u32,
  Bd: u32,
  Cd: u32,
  D: u32,
}

alias T = f32;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.A * p.Bd * p.Cd * p.D) {
    return;
  }
  // i indexes y [A, Cd, Bd, D].
  let d = i % p.D;
  let b = (i / p.D) % p.Bd;
  let c = (i / (p.D * p.Bd)) % p.Cd;
  let a = i / (p.D * p.Bd * p.Cd);
  y[i] = x[((a * p.Bd + b) * p.Cd + c) * p.D + d];
}
