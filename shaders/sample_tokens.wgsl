// sample_tokens: tokens[n] ~ softmax(logits[n, :] / temperature), one draw per row, by inverse CDF.
// The uniform for row n is u = (x0 >> 8) * 2^-24 in [0, 1), x0 the first word of
// philox4x32_10(counter = (r, step, stream, 0), key = (seed_lo, seed_hi)) with r = n, or r = rows[n]
// when a rows tensor is bound (has_rows = 1: generation with a KV cache samples row b of its [B, V]
// logits with the counter of position b * T + t, the row the full-sequence logits would have); so a
// draw depends only on (row, step, stream, seed), never on the dispatch or the hardware's scheduling.
// With m = max_j logits[n, j] and w_j = exp((logits[n, j] - m) / temperature), the token is the
// first j (in index order) with u * S < w_0 + ... + w_j, S = sum_j w_j; entries with w_j = 0 are
// skipped, and if rounding leaves u * S past the last partial sum the token is the last j with
// w_j > 0. temperature < 2^-126 (0 included) is argmax: the first index of the maximum.
// Numerics: f32 sums in index order (src/reference/sampling.ts does the same in f64, so the two
// can differ only when u lies within about 1e-6 of a CDF boundary).
// Cost: three passes over the row per invocation (max, sum, scan); rows are independent.
// Shapes: logits [N, V] f32, tokens [N] u32, rows [N] u32.
// Bindings: 0 params {N, V, temperature, seed_lo, seed_hi, step, stream, has_rows}, 1 logits (read),
//           2 tokens (read_write), 3 rows (read; any small buffer when has_rows = 0).
// Dispatch: one invocation per row, folded 2D grid: n = gid.x + gid.y * (num_workgroups.x * WG_X).
struct Params {
  N: u32,
  V: u32,
  temperature: f32,
  seed_lo: u32,
  seed_hi: u32,
  step: u32,
  stream: u32,
  has_rows: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;
@group(0) @binding(3) var<storage, read> rows: array<u32>;

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

// The smallest normal f32, 2^-126: temperatures below it are treated as 0 (argmax).
const MIN_TEMPERATURE: f32 = 1.1754943508222875e-38;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * WG_X;
  if (n >= p.N) {
    return;
  }
  let base = n * p.V;
  var m = logits[base];
  var arg = 0u;
  for (var j = 1u; j < p.V; j++) {
    let z = logits[base + j];
    if (z > m) {
      m = z;
      arg = j;
    }
  }
  let temperature = p.temperature;
  if (temperature < MIN_TEMPERATURE) {
    tokens[n] = arg;
    return;
  }
  var s = 0.0;
  for (var j = 0u; j < p.V; j++) {
    s += exp((logits[base + j] - m) / temperature);
  }
  var r = n;
  if (p.has_rows != 0u) {
    r = rows[n];
  }
  let x = philox4x32_10(vec4u(r, p.step, p.stream, 0u), vec2u(p.seed_lo, p.seed_hi));
  let goal = philox_uniform(x.x) * s;
  var token = arg;
  var acc = 0.0;
  for (var j = 0u; j < p.V; j++) {
    let w = exp((logits[base + j] - m) / temperature);
    if (w > 0.0) {
      token = j;
      acc += w;
      if (goal < acc) {
        break;
      }
    }
  }
  tokens[n] = token;
}
