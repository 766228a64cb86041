// matmul (double-buffered 128 x 128 workgroup-memory tiles): the same contract as matmul.wgsl, for
// large products on real GPUs, where the 64 x 64 tiles of matmul_tiled.wgsl do too few multiply-adds
// per byte moved.
// C = op(A) · op(B) (+ bias) (+ C when accumulating), batched.
// Shapes (row-major): op(A) is [M, K], stored as A [Bt, M, K], or [Bt, K, M] when TRANS_A.
//                     op(B) is [K, N], stored as B [Bt, K, N], or [Bt, N, K] when TRANS_B; without
//                     BATCH_B, B has no batch dim and is shared by all Bt batches.
//                     bias [N] (HAS_BIAS), C [Bt, M, N].
// Bindings: as matmul_tiled.wgsl.
// Dispatch: workgroups (ceil(N / 128), ceil(M / 128), Bt) of 16 x 16 invocations. Each invocation
// accumulates an 8 x 8 block of C in registers: rows 4ty .. 4ty + 3 and 64 + 4ty .. 64 + 4ty + 3,
// columns 4tx .. 4tx + 3 and 64 + 4tx .. 64 + 4tx + 3 of the workgroup's tile (two vec4s of op(A)
// and two of op(B) from workgroup memory feed 64 multiply-adds). Per K step of 8, the workgroup
// stages an 8 x 128 slice of op(A) and of op(B) in workgroup memory, k-major (As[k][m], Bs[k][n],
// as vec4s along m and n). Two stages: while the invocations multiply from one, the next slice is
// loaded from global memory into registers and then written into the other, so one barrier per K
// step separates them. Each invocation loads four consecutive elements along whichever axis is
// contiguous in memory (zero-padded at C's and K's edges).
// Workgroup memory: 2 stages x 2 operands x 8 x 32 vec4s = 16 KiB, WebGPU's guaranteed minimum.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  LA: u32,
  LB: u32,
}

override WG_X: u32; // must be 16
override WG_Y: u32; // must be 16
override WG_Z: u32; // must be 1
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override BATCH_B: bool = true;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
// LOWER_A and K_REM: given to every variant; the result is the same without them, and this one
// does not use them (as matmul_tiled.wgsl).
override LOWER_A: bool = false;
override LOWER_C: bool = false;
override K_REM: bool = true;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 8u;
// vec4s in one stage of one operand: BK rows of 128 / 4.
const STAGE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
// From shaders/matmul_common.wgsl, appended to this text by src/kernels/matmul.ts: the override
// constants C_LAYOUT, EPILOGUE and FULL_TILES, the bindings 5 (aux) and 6 (act), and zOff, rowOff,
// colOff, storeFull and storeEdge.

var<workgroup> As: array<vec4f, 512>; // [stage][k][m / 4]
var<workgroup> Bs: array<vec4f, 512>; // [stage][k][n / 4]

fn elemA(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) {
    return 0.0;
  }
  if (TRANS_A) {
    return a[base + k * p.M + m];
  }
  return a[base + m * p.K + k];
}

fn elemB(base: u32, k: u32, n: u32) -> f32 {
  if (n >= p.N || k >= p.K) {
    return 0.0;
  }
  if (TRANS_B) {
    return b[base + n * p.K + k];
  }
  return b[base + k * p.N + n];
}

// Invocation t's four elements of op(A)'s slice at kt (rows m0 ..): along m when A is stored
// [K, M] (slice row t / 32, vec4 column t % 32), along k when [M, K] (row t / 2, k 4 (t % 2) ..).
fn fetchA(base: u32, m0: u32, kt: u32, t: u32) -> vec4f {
  if (TRANS_A) {
    let k = kt + t / 32u;
    let m = m0 + (t % 32u) * 4u;
    return vec4f(elemA(base, m, k), elemA(base, m + 1u, k), elemA(base, m + 2u, k), elemA(base, m + 3u, k));
  }
  let m = m0 + t / 2u;
  let k = kt + (t % 2u) * 4u;
  return vec4f(elemA(base, m, k), elemA(base, m, k + 1u), elemA(base, m, k + 2u), elemA(base, m, k + 3u));
}

// The same for op(B)'s slice at kt (columns n0 ..): along n when B is stored [K, N], along k when
// [N, K].
fn fetchB(base: u32, n0: u32, kt: u32, t: u32) -> vec4f {
  if (!TRANS_B) {
    let k = kt + t / 32u;
    let n = n0 + (t % 32u) * 4u;
    return vec4f(elemB(base, k, n), elemB(base, k, n + 1u), elemB(base, k, n + 2u), elemB(base, k, n + 3u));
  }
  let n = n0 + t / 2u;
  let k = kt + (t % 2u) * 4u;
  return vec4f(elemB(base, k, n), elemB(base, k + 1u, n), elemB(base, k + 2u, n), elemB(base, k + 3u, n));
}

// Invocation t's fetched elements into stage s (0 or STAGE): one vec4 when they lie along m (n),
// four lanes of four k rows when they lie along k.
fn putA(s: u32, t: u32, v: vec4f) {
  if (TRANS_A) {
    As[s + t] = v;
    return;
  }
  let m = t / 2u;
  let at = s + (t % 2u) * 4u * 32u + m / 4u;
  let lane = m % 4u;
  As[at][lane] = v.x;
  As[at + 32u][lane] = v.y;
  As[at + 64u][lane] = v.z;
  As[at + 96u][lane] = v.w;
}

fn putB(s: u32, t: u32, v: vec4f) {
  if (!TRANS_B) {
    Bs[s + t] = v;
    return;
  }
  let n = t / 2u;
  let at = s + (t % 2u) * 4u * 32u + n / 4u;
  let lane = n % 4u;
  Bs[at][lane] = v.x;
  Bs[at + 32u][lane] = v.y;
  Bs[at + 64u][lane] = v.z;
  Bs[at + 96u][lane] = v.w;
}

fn put(row: u32, n0: u32, zo: u32, co: vec4u, acc: vec4f) {
  if (FULL_TILES) {
    storeFull(row, n0, zo, co, acc);
  } else {
    storeEdge(row, n0, zo, co, acc);
  }
}

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let mBase = wid.y * BM;
  let nBase = wid.x * BN;
  let z = wid.z;
  let aBase = z * p.M * p.K;
  let bBase = select(0u, z * p.K * p.N, BATCH_B);
  // cRH: row R (0-3: 4ty + R; 4-7: 64 + 4ty + R - 4) of the block, column half H (0: 4tx ..; 1: 64 + 4tx ..).
  var c00 = vec4f(0.0);
  var c01 = vec4f(0.0);
  var c10 = vec4f(0.0);
  var c11 = vec4f(0.0);
  var c20 = vec4f(0.0);
  var c21 = vec4f(0.0);
  var c30 = vec4f(0.0);
  var c31 = vec4f(0.0);
  var c40 = vec4f(0.0);
  var c41 = vec4f(0.0);
  var c50 = vec4f(0.0);
  var c51 = vec4f(0.0);
  var c60 = vec4f(0.0);
  var c61 = vec4f(0.0);
  var c70 = vec4f(0.0);
  var c71 = vec4f(0.0);
  let steps = (p.K + BK - 1u) / BK;
  var fa = fetchA(aBase, mBase, 0u, t);
  var fb = fetchB(bBase, nBase, 0u, t);
  putA(0u, t, fa);
  putB(0u, t, fb);
  workgroupBarrier();
  for (var step = 0u; step < steps; step++) {
    let s = (step % 2u) * STAGE;
    let more = step + 1u < steps;
    if (more) {
      fa = fetchA(aBase, mBase, (step + 1u) * BK, t);
      fb = fetchB(bBase, nBase, (step + 1u) * BK, t);
    }
    for (var kk = 0u; kk < BK; kk++) {
      let o = s + kk * 32u;
      let a0 = As[o + ty];
      let a1 = As[o + ty + 16u];
      let b0 = Bs[o + tx];
      let b1 = Bs[o + tx + 16u];
      c00 = fma(vec4f(a0.x), b0, c00);
      c01 = fma(vec4f(a0.x), b1, c01);
      c10 = fma(vec4f(a0.y), b0, c10);
      c11 = fma(vec4f(a0.y), b1, c11);
      c20 = fma(vec4f(a0.z), b0, c20);
      c21 = fma(vec4f(a0.z), b1, c21);
      c30 = fma(vec4f(a0.w), b0, c30);
      c31 = fma(vec4f(a0.w), b1, c31);
      c40 = fma(vec4f(a1.x), b0, c40);
      c41 = fma(vec4f(a1.x), b1, c41);
      c50 = fma(vec4f(a1.y), b0, c50);
      c51 = fma(vec4f(a1.y), b1, c51);
      c60 = fma(vec4f(a1.z), b0, c60);
      c61 = fma(vec4f(a1.z), b1, c61);
      c70 = fma(vec4f(a1.w), b0, c70);
      c71 = fma(vec4f(a1.w), b1, c71);
    }
    // The other stage was last read before the previous step's barrier: free to overwrite.
    if (more) {
      putA(STAGE - s, t, fa);
      putB(STAGE - s, t, fb);
    }
    workgroupBarrier();
  }
  let zo = zOff(z);
  let n0 = nBase + 4u * tx;
  let n1 = n0 + 64u;
  let co0 = vec4u(colOff(n0), colOff(n0 + 1u), colOff(n0 + 2u), colOff(n0 + 3u));
  let co1 = vec4u(colOff(n1), colOff(n1 + 1u), colOff(n1 + 2u), colOff(n1 + 3u));
  let m0 = mBase + 4u * ty;
  let m1 = m0 + 64u;
  put(m0, n0, zo, co0, c00);
  put(m0, n1, zo, co1, c01);
  put(m0 + 1u, n0, zo, co0, c10);
  put(m0 + 1u, n1, zo, co1, c11);
  put(m0 + 2u, n0, zo, co0, c20);
  put(m0 + 2u, n1, zo, co1, c21);
  put(m0 + 3u, n0, zo, co0, c30);
  put(m0 + 3u, n1, zo, co1, c31);
  put(m1, n0, zo, co0, c40);
  put(m1, n1, zo, co1, c41);
  put(m1 + 1u, n0, zo, co0, c50);
  put(m1 + 1u, n1, zo, co1, c51);
  put(m1 + 2u, n0, zo, co0, c60);
  put(m1 + 2u, n1, zo, co1, c61);
  put(m1 + 3u, n0, zo, co0, c70);
  put(m1 + 3u, n1, zo, co1, c71);
}
