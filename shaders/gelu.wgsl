// gelu and gelu_grad: GELU's tanh approximation (GPT-2) and its derivative, over an element type T
// (f32 or vec4f) that the shader using them declares. Not a kernel: the one definition of both,
// appended to gelu_forward, gelu_backward and the matmul variants (whose epilogues apply them to
// the product) by src/kernels/*.ts, so the fused and the separate kernels compute the same bits.

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

// 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))). The tanh argument is clamped to [-15, 15] (tanh
// is +-1 in f32 there) so large |v| cannot overflow.
fn gelu(v: T) -> T {
  let u = clamp(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v), T(-15.0), T(15.0));
  return 0.5 * v * (1.0 + tanh(u));
}

// dy * d/dv gelu(v), with d/dv = 0.5 (1 + t) + 0.5 v (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 v^2) and
// t = tanh(u).
fn gelu_grad(dy: T, v: T) -> T {
  let u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
  // With e = exp(-2|u|): 0.5 (1 + t) = 1 / (1 + e) for u >= 0, e / (1 + e) for u < 0, and
  // 1 - t^2 = 4e / (1 + e)^2. Written with tanh, both cancel to 0 in f32 for u below about -4,
  // where the true values are small but dy times them is not (the fuzzer found |error| 6e-5).
  let e = exp(-2.0 * abs(u));
  let half_one_plus_t = select(T(1.0), e, u < T(0.0)) / (1.0 + e);
  let sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e));
  return dy * (half_one_plus_t + 0.5 * v * sech2 * du);
}
