// matmul (register tile, no barriers): C = op(A) · op(B) (+ bias) (+ C when accumulating), batched.
// Shapes (row-major): op(A) is [M, K], stored as A [Bt, M, K], or [Bt, K, M] when TRANS_A.
//                     op(B) is [K, N], stored as B [Bt, K, N], or [Bt, N, K] when TRANS_B; without
//                     BATCH_B, B has no batch dim and is shared by all Bt batches.
//                     bias [N] (HAS_BIAS), C [Bt, M, N].
// Bindings: 0 params {M, N, K, LA, LB}, 1 a (read), 2 b (read), 3 bias (read; a 1-element dummy without bias),
//           4 c (read_write), 5 aux (read; a dummy without EPILOGUE 1 or 3), 6 act (read_write; a
//           dummy without EPILOGUE 2).
// Dispatch: workgroups (ceil(N / (WG_X*4)), ceil(M / (WG_Y*8)), Bt); each invocation computes an
// 8-row x 4-column tile of C in registers. Loads past the edge are clamped to the last row/column
// (valid memory, results discarded), so any M, N, K work and the inner loop has no branches.
// No workgroup memory and no barriers: the fastest form on SwiftShader, where barriers are costly.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  LA: u32,
  LB: u32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override BATCH_B: bool = true;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override LOWER_A: bool = false;
override LOWER_C: bool = false;
// K_REM: K may not be a multiple of 4 (given to every variant; only the subgroup ones use it).
override K_REM: bool = true;
// LOWER_A: A as stored is square (per batch) and lower triangular, zero above its diagonal (causal
// attention probabilities), so a row block needs only part of K: a hint, the result is the same.
// LOWER_C: C is square and only its lower triangle is wanted: entries above the diagonal are set
// to 0 (causal attention scores). Neither with bias or accumulate (checked by the caller).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
// From shaders/matmul_common.wgsl, appended to this text by src/kernels/matmul.ts: the override
// constants C_LAYOUT and EPILOGUE, the bindings 5 (aux) and 6 (act), and storeTile (and what it uses).

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let n0 = gid.x * 4u;
  let m0 = gid.y * 8u;
  let z = gid.z;
  if (n0 >= N || m0 >= M) {
    return;
  }
  // Element strides of A along its rows (m) and along k, and of B along its columns (n) and k.
  let aM = select(K, 1u, TRANS_A);
  let aK = select(1u, M, TRANS_A);
  let bN = select(1u, K, TRANS_B);
  let bK = select(N, 1u, TRANS_B);
  let aBase = z * M * K;
  let bBase = select(0u, z * K * N, BATCH_B);
  let a0 = aBase + min(m0, M - 1u) * aM;
  let a1 = aBase + min(m0 + 1u, M - 1u) * aM;
  let a2 = aBase + min(m0 + 2u, M - 1u) * aM;
  let a3 = aBase + min(m0 + 3u, M - 1u) * aM;
  let a4 = aBase + min(m0 + 4u, M - 1u) * aM;
  let a5 = aBase + min(m0 + 5u, M - 1u) * aM;
  let a6 = aBase + min(m0 + 6u, M - 1u) * aM;
  let a7 = aBase + min(m0 + 7u, M - 1u) * aM;
  let b0 = bBase + min(n0, N - 1u) * bN;
  let b1 = bBase + min(n0 + 1u, N - 1u) * bN;
  let b2 = bBase + min(n0 + 2u, N - 1u) * bN;
  let b3 = bBase + min(n0 + 3u, N - 1u) * bN;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var acc4 = vec4f(0.0);
  var acc5 = vec4f(0.0);
  var acc6 = vec4f(0.0);
  var acc7 = vec4f(0.0);
  // The part of K where op(A) can be nonzero for rows m0 .. m0 + 7 (LOWER_A); none when the tile
  // lies wholly above C's diagonal (LOWER_C). Skipped terms are exact zeros: the same sums.
  var kBegin = 0u;
  var kEnd = K;
  if (LOWER_A) {
    if (TRANS_A) {
      kBegin = min(m0, K);
    } else {
      kEnd = min(K, m0 + 8u);
    }
  }
  if (LOWER_C && n0 > m0 + 7u) {
    kEnd = kBegin;
  }
  for (var k = kBegin; k < kEnd; k++) {
    let ka = k * aK;
    let kb = k * bK;
    let bv = vec4f(b[b0 + kb], b[b1 + kb], b[b2 + kb], b[b3 + kb]);
    acc0 = fma(vec4f(a[a0 + ka]), bv, acc0);
    acc1 = fma(vec4f(a[a1 + ka]), bv, acc1);
    acc2 = fma(vec4f(a[a2 + ka]), bv, acc2);
    acc3 = fma(vec4f(a[a3 + ka]), bv, acc3);
    acc4 = fma(vec4f(a[a4 + ka]), bv, acc4);
    acc5 = fma(vec4f(a[a5 + ka]), bv, acc5);
    acc6 = fma(vec4f(a[a6 + ka]), bv, acc6);
    acc7 = fma(vec4f(a[a7 + ka]), bv, acc7);
  }
  storeTile(m0, n0, z, acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7);
}
