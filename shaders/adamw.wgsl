// adamw: one fused AdamW step (PyTorch semantics, decoupled weight decay) over flat arrays, in place.
//   clip  = max_norm > 0 ? min(1, max_norm / (sqrt(grad_sumsq[0]) + 1e-6)) : 1
//   g     = grads[i] * clip
//   m[i]  = beta1 * m[i] + (1 - beta1) * g
//   v[i]  = beta2 * v[i] + (1 - beta2) * g * g
//   params[i] -= decay * params[i] + lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + eps)
// with bc1 = 1 - beta1^step, bc2 = 1 - beta2^step and decay = lr * weight_decay, all computed by the
// caller in f64 (as are 1 - beta1 and 1 - beta2), so the CPU reference sees the same constants.
// The clip factor comes from grad_sumsq on the GPU (the sum of squares of every gradient of the
// model), so clipping needs no readback. Weight decay uses the parameter before the step.
// Shapes: params, m, v, grads [N]; grad_sumsq [1].
// Bindings: 0 params {N, lr, beta1, beta2, one_minus_beta1, one_minus_beta2, bc1, bc2, eps, decay,
//           max_norm}, 1 grads (read), 2 grad_sumsq (read), 3 params (read_write), 4 m (read_write),
//           5 v (read_write).
// Dispatch: one invocation per element, folded 2D grid: i = gid.x + gid.y * (num_workgroups.x * WG_X).
// Written over the element type T: src/kernels/optim.ts runs this text with T = f32 and, when N is
// a multiple of 4, with T = vec4f and N counting vec4s (four elements per invocation; the same
// operations per element, so the same bits).
struct Params {
  N: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  bc1: f32,
  bc2: f32,
  eps: f32,
  decay: f32,
  max_norm: f32,
}

alias T = f32;

override WG_X: u32;
override WG_Y: u32;
override WG_Z: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grads: array<T>;
@group(0) @binding(2) var<storage, read> grad_sumsq: array<f32>;
@group(0) @binding(3) var<storage, read_write> params: array<T>;
@group(0) @binding(4) var<storage, read_write> m: array<T>;
@group(0) @binding(5) var<storage, read_write> v: array<T>;

@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= p.N) {
    return;
  }
  var clip = 1.0;
  if (p.max_norm > 0.0) {
    clip = min(1.0, p.max_norm / (sqrt(grad_sumsq[0]) + 1e-6));
  }
  let g = grads[i] * clip;
  let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi / p.bc1;
  let vhat = vi / p.bc2;
  let old = params[i];
  params[i] = old - p.decay * old - p.lr * mhat / (sqrt(vhat) + p.eps);
}
