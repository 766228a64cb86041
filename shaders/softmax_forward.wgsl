// softmax_forward: y = softmax(scale * x) over the last axis, optionally causal.
// Shapes: x, y [R, N] (R rows of N). With causal, rows come in blocks of Q query positions (the
// second-to-last axis of attention scores [B, H, Q, N]); row r has query index i = r % Q and
// columns j > i + (N - Q) are masked: they get y = 0 and take no part in the normalisation.
// Numerically stable: one pass keeps a running max and a rescaled running sum (online softmax),
// so logits of 1e4 and all-equal rows are exact, summed by blocks of BLOCK columns (see below);
// a second pass writes y.
// Bindings: 0 params {R, N, Q, causal, scale}, 1 x (read), 2 y (read_write).
// Dispatch: one invocation per row, rows folded into a 2D grid of WG_X-wide workgroups:
// r = gid.x + gid.y * (num_workgroups.x * WG_X). No barriers (fast on SwiftShader).
// Written over the element type T: src/kernels/softmax.ts runs this text with T = f32 and, when N
// is a multiple of 4, with T = vec4f (W = 4; lines marked `// vec4:` swapped in): x and y are read
// and written four columns at a time, and each column goes through the same steps in the same
// order as with T = f32, so the same bits.
struct Params {
  R: u32,
  N: u32,
  Q: u32,
  causal: u32,
  scale: f32,
}

const BLOCK: u32 = 256u;

alias T = f32;
// Elements per T.
// vec4: const W: u32 = 4u;
const W: u32 = 1u;

// Element e < W of v.
// vec4: fn elem(v: T, e: u32) -> f32 { return v[e]; }
fn elem(v: T, e: u32) -> f32 { return v; }

// y's column `col`: exp(scale * x - m) / sum where visible, 0 where masked.
fn outCol(xc: f32, col: u32, count: u32, m: f32, inv: f32) -> f32 {
  return select(0.0, exp(p.scale * xc - m) * inv, col < count);
}

// y's T at index q of the row.
// vec4: fn outChunk(xv: T, q: u32, count: u32, m: f32, inv: f32) -> T { return T(outCol(xv.x, 4u * q, count, m, inv), outCol(xv.y, 4u * q + 1u, count, m, inv), outCol(xv.z, 4u * q + 2u, count, m, inv), outCol(xv.w, 4u * q + 3u, count, m, inv)); }
fn outChunk(xv: T, q: u32, count: u32, m: f32, inv: f32) -> T { return outCol(xv, q, count, m, inv); }

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG_X;
  if (r >= p.R) {
    return;
  }
  // Row r's first T (N is a multiple of W).
  let base = r * (p.N / W);
  // Number of visible columns in this row.
  var count = p.N;
  if (p.causal != 0u) {
    count = min(p.N, r % p.Q + (p.N - p.Q) + 1u);
  }
  // Two levels: each block of BLOCK columns keeps its own (max, sum), merged into the row's at the
  // block's end. Added to the whole row's sum one by one, a term below half an ulp of that sum is
  // lost, always downwards: with one dominant logit in a row of 65521 the sum came out 4e-4 low
  // (found by `fuzz --work`); by blocks a term only meets its block's sum.
  var m = -3.0e38;
  var s = 0.0;
  var j = 0u;
  loop {
    if (j >= count) {
      break;
    }
    let end = min(count, j + BLOCK);
    var mb = -3.0e38;
    var sb = 0.0;
    // j steps by W (BLOCK is a multiple of 4); columns from `end` on are skipped.
    for (; j < end; j += W) {
      let xv = x[base + j / W];
      // Without branches (on SwiftShader a branch per element costs more than the arithmetic): a new
      // maximum rescales the sum by exp(mb - v) and adds 1, another value adds exp(v - mb); one exp
      // either way, the same operations as the branches they replace. Columns from `end` on change
      // nothing.
      for (var e = 0u; e < W; e++) {
        let v = p.scale * elem(xv, e);
        let live = j + e < end;
        let up = v > mb;
        let ev = exp(select(v - mb, mb - v, up));
        sb = select(sb, select(sb + ev, sb * ev + 1.0, up), live);
        mb = select(mb, select(mb, v, up), live);
      }
    }
    j = end;
    let mm = max(m, mb);
    s = s * exp(m - mm) + sb * exp(mb - mm);
    m = mm;
  }
  let inv = 1.0 / s;
  for (var q = 0u; q < p.N / W; q++) {
    y[base + q] = outChunk(x[base + q], q, count, m, inv);
  }
}
