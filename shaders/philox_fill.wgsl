// philox_fill: out[n] = philox4x32_10(counter_n, key) for n < N, four u32 words each: the plain
// Philox4x32-10 stream, for checking the WGSL generator against src/reference/philox.ts bit for
// bit, and for any kernel that wants raw random words.
// counter_n = (n, c1, c2, c3), or counters[n] when has_counters = 1; key = (key0, key1).
// Shapes: counters [N, 4] u32 (1-element dummy when has_counters = 0), out [N, 4] u32.
// Bindings: 0 params {N, has_counters, c1, c2, c3, key0, key1}, 1 counters (read), 2 out (read_write).
// Dispatch: one invocation per counter, folded 2D grid: n = gid.x + gid.y * (num_workgroups.x * WG_X).
struct Params {
  N: u32,
  has_counters: u32,
  c1: u32,
  c2: u32,
  c3: u32,
  key0: u32,
  key1: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> counters: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

// ---- philox4x32-10 begin: identical text in every shader that uses it (test/sampling.test.ts checks) ----
// Philox4x32-10 (Salmon et al., SC'11; Random123), bit-exact with src/reference/philox.ts.
// philox4x32_10(counter, key) -> 4 random u32 words. WGSL has no 64-bit integers, so the high
// word of each 32x32-bit product is assembled from 16-bit halves (every partial product fits in
// a u32); u32 multiplication and addition wrap, as the algorithm needs.
const PHILOX_M0: u32 = 0xd2511f53u;
const PHILOX_M1: u32 = 0xcd9e8d57u;
const PHILOX_W0: u32 = 0x9e3779b9u;
const PHILOX_W1: u32 = 0xbb67ae85u;

fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let ll = a_lo * b_lo;
  let lh = a_lo * b_hi;
  let hl = a_hi * b_lo;
  let hh = a_hi * b_hi;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox4x32_10(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) {
      k += vec2u(PHILOX_W0, PHILOX_W1);
    }
    let hi0 = philox_mulhi(PHILOX_M0, c.x);
    let lo0 = PHILOX_M0 * c.x;
    let hi1 = philox_mulhi(PHILOX_M1, c.z);
    let lo1 = PHILOX_M1 * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// Uniform in [0, 1) from the top 24 bits of a word: (x >> 8) * 2^-24, exact in f32.
fn philox_uniform(x: u32) -> f32 {
  return f32(x >> 8u) * 5.9604644775390625e-8;
}

// Uniform in (0, 1] from the top 24 bits: ((x >> 8) + 1) * 2^-24, never 0 (safe for log).
fn philox_uniform_open0(x: u32) -> f32 {
  return f32((x >> 8u) + 1u) * 5.9604644775390625e-8;
}
// ---- philox4x32-10 end ----

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  var counter = vec4u(n, p.c1, p.c2, p.c3);
  if (p.has_counters != 0u) {
    counter = vec4u(counters[4u * n], counters[4u * n + 1u], counters[4u * n + 2u], counters[4u * n + 3u]);
  }
  let x = philox4x32_10(counter, vec2u(p.key0, p.key1));
  out[4u * n] = x.x;
  out[4u * n + 1u] = x.y;
  out[4u * n + 2u] = x.z;
  out[4u * n + 3u] = x.w;
}
