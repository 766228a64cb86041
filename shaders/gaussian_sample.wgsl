// gaussian_sample: a draw from the Gaussian policy N(mean, sigma^2), elementwise:
// sample[b, d] = mean[b, d] + sigma_d * xi[b, d], with sigma_d = exp(log_sigma[d]) when learned
// (has_log_sigma = 1), else the scalar sigma; xi is also written out (the REINFORCE backward and
// the tests use it).
// Noise (Box-Muller): element i = b * D + d takes x = philox4x32_10(counter = (i, step, stream, 1),
// key = (seed_lo, seed_hi)) and uses words x0, x1 (x2, x3 are unused):
//   u1 = ((x0 >> 8) + 1) * 2^-24 in (0, 1],  u2 = (x1 >> 8) * 2^-24 in [0, 1),
//   xi = sqrt(-2 ln u1) * cos(2 pi (u2 - 1/2)),  so |xi| <= sqrt(48 ln 2) ~ 5.77.
// The 4th counter word (1) keeps these counters apart from sample_tokens' (n, step, stream, 0).
// Numerics: ln and cos are computed here from +, -, *, / and frexp (ln_accurate, cos_turns below,
// a few ulp in f32) rather than with the builtins, whose precision WGSL leaves loose (cos: absolute
// error up to 2^-11, measured 2e-4 on SwiftShader; log: absolute 2^-21 near 1, which sqrt magnifies
// to 1e-3): so xi agrees with the f64 reference to about 1e-6 on any conforming GPU.
// Shapes: mean, sample, xi [B, D] (N = B * D elements), log_sigma [D] (1-element dummy when fixed).
// Bindings: 0 params {N, D, has_log_sigma, sigma, seed_lo, seed_hi, step, stream}, 1 mean (read),
//           2 log_sigma (read), 3 sample (read_write), 4 xi (read_write).
// Dispatch: one invocation per element, folded 2D grid: i = gid.x + gid.y * (num_workgroups.x * WG_X).
struct Params {
  N: u32,
  D: u32,
  has_log_sigma: u32,
  sigma: f32,
  seed_lo: u32,
  seed_hi: u32,
  step: u32,
  stream: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> log_sigma: array<f32>;
@group(0) @binding(3) var<storage, read_write> sample: array<f32>;
@group(0) @binding(4) var<storage, read_write> xi: array<f32>;

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

const TWO_PI: f32 = 6.283185307179586;
// ln 2 split so that e * LN2_HI is exact for |e| < 256 (fdlibm's logf constants).
const LN2_HI: f32 = 6.9313812256e-1;
const LN2_LO: f32 = 9.0580006145e-6;

// ln(x) for a positive normal f32 x: x = m * 2^e with m in [sqrt(1/2), sqrt(2)) (frexp, exact), and
// ln m = 2 atanh(s) = 2 (s + s^3/3 + ... + s^11/11), s = (m - 1) / (m + 1), |s| < 0.172 (m - 1 exact).
fn ln_accurate(x: f32) -> f32 {
  let fe = frexp(x);
  var m = fe.fract;
  var e = f32(fe.exp);
  if (m < 0.70710678) {
    m *= 2.0;
    e -= 1.0;
  }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
  return e * LN2_HI + (e * LN2_LO + 2.0 * s * series);
}

// cos(2 pi t) for t in [-1/2, 1/2] (t in turns): by symmetry a = |t| in [0, 1/8] for the cosine
// series or (1/8, 1/4] for the sine series, at x = 2 pi a' <= pi / 4 (the reductions are exact).
fn cos_turns(t: f32) -> f32 {
  var a = abs(t);
  var sign = 1.0;
  if (a > 0.25) {
    a = 0.5 - a; // cos(2 pi a) = -cos(2 pi (1/2 - a))
    sign = -1.0;
  }
  if (a > 0.125) {
    let x = TWO_PI * (0.25 - a); // cos(2 pi a) = sin(2 pi (1/4 - a))
    let x2 = x * x;
    return sign * x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  }
  let x = TWO_PI * a;
  let x2 = x * x;
  return sign * (1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0))))));
}

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.N) {
    return;
  }
  let x = philox4x32_10(vec4u(i, p.step, p.stream, 1u), vec2u(p.seed_lo, p.seed_hi));
  let u1 = philox_uniform_open0(x.x);
  let u2 = philox_uniform(x.y);
  let z = sqrt(-2.0 * ln_accurate(u1)) * cos_turns(u2 - 0.5);
  var sigma = p.sigma;
  if (p.has_log_sigma != 0u) {
    sigma = exp(log_sigma[i % p.D]);
  }
  xi[i] = z;
  sample[i] = mean[i] + sigma * z;
}
