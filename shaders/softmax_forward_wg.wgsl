// softmax_forward_wg: y = softmax(scale * x) over the last axis, optionally causal: the same result
// as softmax_forward.wgsl, computed by one workgroup per row instead of one invocation per row.
// Each of the WG_X invocations keeps an online (running max, rescaled running sum) pair over the
// columns j = lid.x, lid.x + WG_X, ... of the row; the pairs are merged by a tree in workgroup
// memory ((m1, s1) + (m2, s2) = (m, s1 exp(m1 - m) + s2 exp(m2 - m)), m = max(m1, m2)), in a fixed
// order, so a row's result is the same on every run; then every invocation writes its columns.
// For long rows and few rows (a GPU has thousands of lanes; one row per lane leaves most idle and
// makes each walk the whole row); on CPU adapters the barriers cost more than they save.
// Shapes: x, y [R, N]; with causal, row r has query index i = r % Q and its columns j > i + (N - Q)
// get y = 0 and take no part in the normalisation (see softmax_forward.wgsl).
// Bindings: 0 params {R, N, Q, causal, scale}, 1 x (read), 2 y (read_write).
// Dispatch: one workgroup per row, folded 2D grid: r = wid.x + wid.y * num_workgroups.x; WG_X a
// power of two.
struct Params {
  R: u32,
  N: u32,
  Q: u32,
  causal: u32,
  scale: f32,
}

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> wm: array<f32, WG_X>;
var<workgroup> ws: array<f32, WG_X>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = wid.x + wid.y * nwg.x;
  // Every invocation of a workgroup takes the same branch: the barriers below stay uniform.
  if (r >= p.R) {
    return;
  }
  let base = r * p.N;
  var count = p.N;
  if (p.causal != 0u) {
    count = min(p.N, r % p.Q + (p.N - p.Q) + 1u);
  }
  var m = -3.0e38;
  var s = 0.0;
  for (var j = lid.x; j < count; j += WG_X) {
    let v = p.scale * x[base + j];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  wm[lid.x] = m;
  ws[lid.x] = s;
  workgroupBarrier();
  for (var stride = WG_X / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      let m1 = wm[lid.x];
      let m2 = wm[lid.x + stride];
      let mm = max(m1, m2);
      ws[lid.x] = ws[lid.x] * exp(m1 - mm) + ws[lid.x + stride] * exp(m2 - mm);
      wm[lid.x] = mm;
    }
    workgroupBarrier();
  }
  let row_max = wm[0];
  let inv = 1.0 / ws[0];
  for (var j = lid.x; j < count; j += WG_X) {
    y[base + j] = exp(p.scale * x[base + j] - row_max) * inv;
  }
  for (var j = count + lid.x; j < p.N; j += WG_X) {
    y[base + j] = 0.0;
  }
}
