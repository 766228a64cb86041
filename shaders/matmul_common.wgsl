// matmul_common: where C's elements go and what is done to them on the way (bias, accumulate, the
// epilogues, the causal zero), shared by the matmul variants. Not a kernel: appended to each
// variant's text by src/kernels/matmul.ts (WGSL has no includes), so it uses what the variant
// declares: Params p (M, N, LA, LB), the bindings bias and c, the override constants HAS_BIAS,
// ACCUMULATE and LOWER_C; and gelu and gelu_grad (shaders/gelu.wgsl, appended too). It declares
// what only C's side uses: the override constants C_LAYOUT and EPILOGUE and the bindings 5 (aux)
// and 6 (act). storeTile stores an 8 x 4 register tile (eight rows of four consecutive columns);
// the tiled variant stores its own way through finish.
// Every variant accumulates its products by fma(a, b, acc). SwiftShader's JIT lowers fma to a
// multiply and an add, so the sums there are bit for bit those of acc + a * b (the paper runs' rows
// and the model hashes are unchanged), yet the step measured 0.93x and 512³ 0.95x its time (raw
// WGSL and interleaved A/B runs, 2026-12-06); a GPU fuses it, one rounding fewer, inside the
// reference's tolerance.

override C_LAYOUT: u32 = 0u;
// EPILOGUE, applied to each element of C after bias and accumulate: 0 none; 1 residual, C += aux
// (a residual connection); 2 GELU, act = gelu(C) written beside C (a linear layer and its
// activation); 3 GELU's backward, C = gelu_grad(C, aux): the product times gelu'(aux). aux and act
// are laid out as C. gelu and gelu_grad come from shaders/gelu.wgsl; T is their element type here.
override EPILOGUE: u32 = 0u;
// FULL_TILES: every tile an invocation stores lies wholly inside C (M and N fit the dispatch's
// tiles; set by the caller per variant), so storeTile's edge path is compiled out: on SwiftShader
// even a never-taken path costs time.
override FULL_TILES: bool = false;
alias T = f32;

@group(0) @binding(5) var<storage, read> aux: array<f32>;
@group(0) @binding(6) var<storage, read_write> act: array<f32>;

// Where C's element (batch z, row, col) is stored (C_LAYOUT), as zOff(z) + rowOff(row) + colOff(col):
// 0 row-major [Bt, M, N]; 1 heads split: an unbatched C [M, N] with M = B·T rows (LA = T) and
// N = H·hs columns (LB = hs) stored as [B, H, T, hs] (attention's queries, keys and values straight
// from their projections); 2 heads merged: C [Bt, M, N] with Bt = B·H (LA = H), M = T and N = hs
// stored as [B, T, H, hs] (attention's output per head straight into the rows of the output
// projection's input). The same values either way, only their places differ. The invocation
// computes its batch's and its columns' parts once, so a store costs no integer division (slow on
// SwiftShader) except the split layout's row part.
fn zOff(z: u32) -> u32 {
  if (C_LAYOUT == 2u) {
    return ((z / p.LA) * p.M * p.LA + z % p.LA) * p.N;
  }
  return z * p.M * p.N;
}

fn rowOff(row: u32) -> u32 {
  if (C_LAYOUT == 1u) {
    return (row / p.LA) * p.N * p.LA + (row % p.LA) * p.LB;
  }
  if (C_LAYOUT == 2u) {
    return row * p.LA * p.N;
  }
  return row * p.N;
}

fn colOff(col: u32) -> u32 {
  if (C_LAYOUT == 1u) {
    return (col / p.LB) * p.LA * p.LB + col % p.LB;
  }
  return col;
}

// C's element (row, col) at idx from its product acc: bias, accumulate, the epilogue, the causal
// zero (a select: no branch), and the store.
fn finish(row: u32, col: u32, idx: u32, acc: f32) {
  var v = acc;
  if (HAS_BIAS) {
    v += bias[col];
  }
  if (ACCUMULATE) {
    v += c[idx];
  }
  if (EPILOGUE == 1u) {
    v += aux[idx];
  }
  if (EPILOGUE == 3u) {
    v = gelu_grad(v, aux[idx]);
  }
  if (LOWER_C) {
    v = select(v, 0.0, col > row);
  }
  c[idx] = v;
  if (EPILOGUE == 2u) {
    act[idx] = gelu(v);
  }
}

// Row `row` of a tile wholly inside C: no bounds checks (on SwiftShader a branch per element cost
// more than the stores themselves).
fn storeFull(row: u32, n0: u32, zo: u32, co: vec4u, acc: vec4f) {
  let base = zo + rowOff(row);
  finish(row, n0, base + co.x, acc.x);
  finish(row, n0 + 1u, base + co.y, acc.y);
  finish(row, n0 + 2u, base + co.z, acc.z);
  finish(row, n0 + 3u, base + co.w, acc.w);
}

// Row `row` of a tile on C's edge: only the elements inside C.
fn storeEdge(row: u32, n0: u32, zo: u32, co: vec4u, acc: vec4f) {
  if (row >= p.M) {
    return;
  }
  let base = zo + rowOff(row);
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < p.N) {
      finish(row, n0 + j, base + co[j], acc[j]);
    }
  }
}

// The 8 x 4 tile at rows m0.., columns n0.. of batch z: the batch's and the columns' parts of the
// places once, then each row through storeEdge (the tile crosses C's edge) or storeFull.
fn storeTile(
  m0: u32,
  n0: u32,
  z: u32,
  acc0: vec4f,
  acc1: vec4f,
  acc2: vec4f,
  acc3: vec4f,
  acc4: vec4f,
  acc5: vec4f,
  acc6: vec4f,
  acc7: vec4f,
) {
  let zo = zOff(z);
  let co = vec4u(colOff(n0), colOff(n0 + 1u), colOff(n0 + 2u), colOff(n0 + 3u));
  if (!FULL_TILES && (m0 + 7u >= p.M || n0 + 3u >= p.N)) {
    storeEdge(m0, n0, zo, co, acc0);
    storeEdge(m0 + 1u, n0, zo, co, acc1);
    storeEdge(m0 + 2u, n0, zo, co, acc2);
    storeEdge(m0 + 3u, n0, zo, co, acc3);
    storeEdge(m0 + 4u, n0, zo, co, acc4);
    storeEdge(m0 + 5u, n0, zo, co, acc5);
    storeEdge(m0 + 6u, n0, zo, co, acc6);
    storeEdge(m0 + 7u, n0, zo, co, acc7);
    return;
  }
  storeFull(m0, n0, zo, co, acc0);
  storeFull(m0 + 1u, n0, zo, co, acc1);
  storeFull(m0 + 2u, n0, zo, co, acc2);
  storeFull(m0 + 3u, n0, zo, co, acc3);
  storeFull(m0 + 4u, n0, zo, co, acc4);
  storeFull(m0 + 5u, n0, zo, co, acc5);
  storeFull(m0 + 6u, n0, zo, co, acc6);
  storeFull(m0 + 7u, n0, zo, co, acc7);
}
