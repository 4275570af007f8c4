// Vectorisable float math shared by the CPU kernels (internal header, not part of the C++ API).
// libm's expf/erff/tanhf are calls GCC does not vectorise without -ffast-math (libmvec); these are
// branch-free polynomials that it does vectorise inside `omp simd` loops.
#pragma once
#include <cstdint>
#include <cstring>

namespace rl {

// ---- exp ----------------------------------------------------------------------------------------
// Cephes expf: x = n·ln2 + r with |r| <= ln2/2, exp(r) by a degree-7 polynomial, 2^n by building
// the float's exponent bits. Relative error ~1.5e-7 on [−87.3, 88]; exactly 0 below −87.33654
// (where exp would be subnormal). Arguments above 88 overflow the exponent bits: callers keep x
// below 88 (every caller here passes x <= ~0 or a clamped argument).
constexpr float kExpLo = -87.33654f;  // log(2^-126)

inline float exp_approx(float x) {
  const float xc = x < kExpLo ? kExpLo : x;
  float fx = xc * 1.44269504088896341f;
  fx = (fx + 12582912.0f) - 12582912.0f;  // round to nearest integer (1.5·2^23 trick)
  float r = xc - fx * 0.693359375f;       // ln2 split in two for an exact reduction
  r = r - fx * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float e = y * scale;
  return x < kExpLo ? 0.0f : e;
}

// ---- erf ----------------------------------------------------------------------------------------
// Two minimax polynomials (after N. Juffa's erff): |x| <= 0.921875: erf(x) = x + x·P(x²);
// above: erf(|x|) = 1 − exp(Q(|x|)) with Q a polynomial in |x| (exactly 1 from |x| ≈ 3.92 on).
// Both branches are computed and one is selected, so the loop vectorises. With this exp: max
// absolute error 6.6e-8, max relative error 9.4e-8 (about 1 ulp) against double erf on [−6, 6].
inline float erf_approx(float x) {
  const float a = x < 0.0f ? -x : x;
  const float s = x * x;
  // small |x|
  float p = -5.96761703e-4f;
  p = p * s + 4.99119423e-3f;
  p = p * s - 2.67681349e-2f;
  p = p * s + 1.12819925e-1f;
  p = p * s - 3.76125336e-1f;
  p = p * s + 1.28379166e-1f;
  const float small = p * x + x;
  // large |x|
  const float t = a > 3.92f ? 3.92f : a;
  const float ts = t * t;
  float r = -1.72853470e-5f * t + 3.83197126e-4f;
  const float u = -3.88396438e-3f * t + 2.42546219e-2f;
  r = r * ts + u;
  r = r * t - 1.06777877e-1f;
  r = r * t - 6.34846687e-1f;
  r = r * t - 1.28717512e-1f;
  r = r * t - t;
  float large = 1.0f - exp_approx(r);
  large = a > 3.92f ? 1.0f : large;
  large = x < 0.0f ? -large : large;
  return a <= 0.921875f ? small : large;
}

// ---- tanh ---------------------------------------------------------------------------------------
// tanh(x) = sign(x)·(1 − 2/(exp(2|x|) + 1)), |x| clamped at 9 (tanh(9) rounds to 1 in float).
// Max absolute error 1.2e-7 against double tanh (relative error grows near 0, where the GELU
// multiplies it by a small x).
inline float tanh_approx(float x) {
  float a = x < 0.0f ? -x : x;
  a = a > 9.0f ? 9.0f : a;
  const float e = exp_approx(2.0f * a);
  const float t = 1.0f - 2.0f / (e + 1.0f);
  return x < 0.0f ? -t : t;
}

}  // namespace rl
