// matmul (register tile + subgroup broadcast + vec4 loads of B), for SIMD-on-CPU adapters with
// 4-wide subgroups, when B is not transposed and N is a multiple of 4.
// The same contract as matmul.wgsl, and the same tiling as matmul_subgroup.wgsl; the difference: B is
// bound as array<vec4f>, so a lane's 4 columns of B at one k are ONE 16-byte load instead of four
// gathers (on SwiftShader every storage load with a run-time index is a per-lane gather). With A
// shared by subgroupBroadcast that halves the loads per k: 1 for B and 2 for A (8 rows / 4 lanes).
// Requires the `subgroups` feature, a subgroup size of exactly 4, TRANS_B false and N % 4 == 0
// (checked by the caller: then every batch's B starts on a vec4 boundary too).
// Shapes, bindings and dispatch as matmul_subgroup.wgsl: workgroups (ceil(N / (WG_X*4)), ceil(M / 8), Bt),
// each invocation an 8-row x 4-column tile; no early return (subgroup operations need every lane).
enable subgroups;

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
override TRANS_B: bool = false; // must be false here
override BATCH_B: bool = true;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
override LOWER_A: bool = false;
override LOWER_C: bool = false;
// K_REM: K may not be a multiple of 4 (then K's last few columns need the clamped step below).
override K_REM: bool = true;
// LOWER_A: A as stored is square (per batch) and lower triangular, zero above its diagonal (causal
// attention probabilities), so a row block needs only part of K: a hint, the result is the same.
// LOWER_C: C is square and only its lower triangle is wanted: entries above the diagonal are set
// to 0 (causal attention scores). Neither with bias or accumulate (checked by the caller).

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
// From shaders/matmul_common.wgsl, appended to this text by src/kernels/matmul.ts: the override
// constants C_LAYOUT and EPILOGUE, the bindings 5 (aux) and 6 (act), and storeTile (and what it uses).

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let n0 = gid.x * 4u;
  // One row block per workgroup, so every lane of any subgroup shares the 8 rows (WG_Y is 1).
  let m0 = wid.y * 8u;
  let z = gid.z;
  let aM = select(K, 1u, TRANS_A);
  let aK = select(1u, M, TRANS_A);
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
  // This lane's 4 columns of B, as one vec4 (columns past N read the last whole vec4; never stored).
  let bq = (bBase + min(n0, N - 4u)) / 4u;
  let nq = N / 4u;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  var acc4 = vec4f(0.0);
  var acc5 = vec4f(0.0);
  var acc6 = vec4f(0.0);
  var acc7 = vec4f(0.0);
  // The part of K where op(A) can be nonzero for rows m0 .. m0 + 7 (LOWER_A); none when the tile
  // lies wholly above C's diagonal (LOWER_C), judged for the whole workgroup so that its subgroups
  // stay uniform. Skipped terms are exact zeros: the same sums.
  var kBegin = 0u;
  var kEnd = K;
  if (LOWER_A) {
    if (TRANS_A) {
      kBegin = min(m0, K);
    } else {
      kEnd = min(K, m0 + 8u);
    }
  }
  if (LOWER_C && (wid.x * WG_X * 4u) > m0 + 7u) {
    kEnd = kBegin;
  }
  // Whole steps of 4 along K: every index is in range, no clamps.
  let K4 = kEnd - (kEnd - kBegin) % 4u;
  var k = kBegin;
  for (; k < K4; k += 4u) {
    // This lane's share of A: column k + lane of each of the 8 rows.
    let ka = (k + lane) * aK;
    let v0 = a[a0 + ka];
    let v1 = a[a1 + ka];
    let v2 = a[a2 + ka];
    let v3 = a[a3 + ka];
    let v4 = a[a4 + ka];
    let v5 = a[a5 + ka];
    let v6 = a[a6 + ka];
    let v7 = a[a7 + ka];
    {
      let bv = b[bq + (k + 0u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 0u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 0u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 0u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 0u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 0u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 0u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 0u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 0u)), bv, acc7);
    }
    {
      let bv = b[bq + (k + 1u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 1u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 1u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 1u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 1u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 1u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 1u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 1u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 1u)), bv, acc7);
    }
    {
      let bv = b[bq + (k + 2u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 2u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 2u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 2u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 2u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 2u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 2u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 2u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 2u)), bv, acc7);
    }
    {
      let bv = b[bq + (k + 3u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 3u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 3u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 3u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 3u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 3u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 3u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 3u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 3u)), bv, acc7);
    }
  }
  // The last (kEnd - kBegin) % 4 columns: loads clamped in range, A zeroed past the end (its
  // products vanish). Compiled out when K is a multiple of 4 (K_REM false): on SwiftShader the
  // block cost about a tenth of a small-K product even though it never ran.
  if (K_REM && k < kEnd) {
    // This lane's share of A: column k + lane of each of the 8 rows (0 past the end of K).
    let kl = k + lane;
    let live = kl < kEnd;
    let ka = min(kl, kEnd - 1u) * aK;
    let v0 = select(0.0, a[a0 + ka], live);
    let v1 = select(0.0, a[a1 + ka], live);
    let v2 = select(0.0, a[a2 + ka], live);
    let v3 = select(0.0, a[a3 + ka], live);
    let v4 = select(0.0, a[a4 + ka], live);
    let v5 = select(0.0, a[a5 + ka], live);
    let v6 = select(0.0, a[a6 + ka], live);
    let v7 = select(0.0, a[a7 + ka], live);
    {
      let bv = b[bq + min(k + 0u, kEnd - 1u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 0u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 0u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 0u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 0u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 0u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 0u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 0u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 0u)), bv, acc7);
    }
    {
      let bv = b[bq + min(k + 1u, kEnd - 1u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 1u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 1u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 1u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 1u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 1u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 1u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 1u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 1u)), bv, acc7);
    }
    {
      let bv = b[bq + min(k + 2u, kEnd - 1u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 2u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 2u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 2u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 2u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 2u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 2u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 2u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 2u)), bv, acc7);
    }
    {
      let bv = b[bq + min(k + 3u, kEnd - 1u) * nq];
      acc0 = fma(vec4f(subgroupBroadcast(v0, 3u)), bv, acc0);
      acc1 = fma(vec4f(subgroupBroadcast(v1, 3u)), bv, acc1);
      acc2 = fma(vec4f(subgroupBroadcast(v2, 3u)), bv, acc2);
      acc3 = fma(vec4f(subgroupBroadcast(v3, 3u)), bv, acc3);
      acc4 = fma(vec4f(subgroupBroadcast(v4, 3u)), bv, acc4);
      acc5 = fma(vec4f(subgroupBroadcast(v5, 3u)), bv, acc5);
      acc6 = fma(vec4f(subgroupBroadcast(v6, 3u)), bv, acc6);
      acc7 = fma(vec4f(subgroupBroadcast(v7, 3u)), bv, acc7);
    }
  }
  storeTile(m0, n0, z, acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7);
}
