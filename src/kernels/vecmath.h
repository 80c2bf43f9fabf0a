// kernels/vecmath.h (internal): vectorised float32 transcendentals.
//
// Two layers:
//   vm::exp, vm::log, vm::tanh, ... : branch-free scalar element functions (float), written so
//       that a plain loop over them auto-vectorises: range reduction by bit manipulation,
//       polynomials in Horner form, special cases (+-inf, NaN, -0, overflow, denormal results)
//       folded in with clamps and selects, never with per-element branches.
//   vexp(x, y, n), vtanh(x, y, n), ... : array kernels over n contiguous elements. The float
//       overloads are compiled three times (AVX-512, AVX2+FMA, and the library's baseline
//       SSE4.2) and the widest one the CPU supports is picked once, at the first call. The
//       double overloads loop over the std:: functions: gradchecks run in double and keep
//       exactly the libm results.
// All array kernels allow y == x (in place) and n == 0; none allocates or spawns threads (the
// callers split work with parallel_for and call these on each chunk).
//
// Accuracy (float, max error in ulps of the exact result, measured by tests/test_vecmath.cpp
// against double libm over every 97th bit pattern plus the special values, all ISA paths):
//   exp 0.97   expm1 1.41   log 1.51   tanh 1.31   sigmoid 2.28   softplus 2.06   erf 2.43
//   tanh_fast (see there) 2.5
// (a correctly rounded function scores 0.5; erf's absolute error is at most 1.2e-7).
#pragma once

#include <bit>
#include <cstdint>

namespace seqnn::kernels {

namespace vm {

// ==================================================================== bit helpers

[[gnu::always_inline]] inline float as_float(int32_t i) { return std::bit_cast<float>(i); }
[[gnu::always_inline]] inline int32_t as_int(float f) { return std::bit_cast<int32_t>(f); }
[[gnu::always_inline]] inline float fabs_(float x) { return as_float(as_int(x) & 0x7fffffff); }
// |m| with the sign of s (m >= 0 expected)
[[gnu::always_inline]] inline float with_sign_of(float m, float s) {
  return as_float(as_int(m) | (as_int(s) & static_cast<int32_t>(0x80000000u)));
}
// min(max(x, lo), hi) that lets NaN through (x < lo and x > hi are both false for NaN)
[[gnu::always_inline]] inline float clamp_(float x, float lo, float hi) {
  x = x < lo ? lo : x;
  return x > hi ? hi : x;
}

// ==================================================================== exp / expm1
//
// x = n ln2 + r, n = round(x / ln2), |r| <= ln2/2 (ln2 split in a 9-bit head, so n*ln2_hi is
// exact, and a tail); e^r = 1 + r + r^2 P(r), P a degree-5 minimax fit of (e^r - 1 - r)/r^2
// (relative error 1e-9); e^x = e^r 2^n. n comes from the float "round by adding 1.5*2^23"
// trick, so no float->int conversion (and no UB for NaN).
namespace detail {
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
inline constexpr float kShifter = 0x1.8p23f;

// P's coefficients, highest degree first (the short attention kernel's zmm exp uses them too)
inline constexpr float kExpTail[6] = {1.979037188e-4f, 1.394465100e-3f, 8.333496749e-3f,
                                      4.166629538e-2f, 1.666666567e-1f, 0.5f};

// e^r - 1 - r for |r| <= ln2/2 (a bit more is fine)
[[gnu::always_inline]] inline float expm1_tail(float r) {
  float p = kExpTail[0];
  for (int c = 1; c < 6; ++c) p = p * r + kExpTail[c];
  return (r * r) * p;
}

// Splits x (finite, |x| <= ~150, or NaN) into n (as float and int) and r.
[[gnu::always_inline]] inline void reduce_ln2(float x, float& nf, int32_t& ni, float& r) {
  const float kn = x * kLog2e + kShifter;
  nf = kn - kShifter;
  ni = as_int(kn) - as_int(kShifter);
  r = x - nf * kLn2Hi;
  r = r - nf * kLn2Lo;
}
}  // namespace detail

// e^x. Overflows to +inf above 88.7228, underflows through the denormals to +0 below -103.97.
[[gnu::always_inline]] inline float exp(float x) {
  using namespace detail;
  x = clamp_(x, -104.0f, 89.0f);  // n in [-150, 129]; NaN passes
  float nf, r;
  int32_t ni;
  reduce_ln2(x, nf, ni, r);
  const float p = 1.0f + (r + expm1_tail(r));
  // 2^n as two normal factors (n/2 and n - n/2 are in [-75, 65]): p*s1 is exact, the second
  // product rounds once, straight into the denormals or to inf where it must.
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const float s1 = as_float((n1 + 127) << 23), s2 = as_float((n2 + 127) << 23);
  return (p * s1) * s2;
}

// e^x - 1 without cancellation near 0: with s = 2^(n-1),
//   e^x - 1 = 2 (s (e^r - 1) + (s - 1/2)),
// exact for n = 0 (it is e^r - 1 itself). Below -30 the result is -1 in float.
[[gnu::always_inline]] inline float expm1(float x) {
  using namespace detail;
  const float xc = clamp_(x, -30.0f, 89.0f);  // n in [-44, 128]
  float nf, r;
  int32_t ni;
  reduce_ln2(xc, nf, ni, r);
  const float q = r + expm1_tail(r);
  const float s = as_float((ni - 1 + 127) << 23);
  const float y = 2.0f * (s * q + (s - 0.5f));
  return x == 0.0f ? x : y;  // keeps -0
}

// ==================================================================== log / log1p
//
// x = 2^k m, m in [sqrt(1/2), sqrt(2)) taken from the bits (denormals scaled by 2^23 first);
// f = m - 1 (exact), log(1 + f) = f - f^2/2 + f^3 Q(f), Q a degree-7 minimax fit (relative
// error 8e-9 on f in [-0.293, 0.415]); log x = k ln2_hi + f + (k ln2_lo - f^2/2 + f^3 Q).
[[gnu::always_inline]] inline float log(float x) {
  using namespace detail;
  const bool sub = x < 0x1p-126f;  // denormal (also 0 and negatives, fixed below)
  const float xs = sub ? x * 0x1p23f : x;
  // Bit arithmetic in uint32 (wraps, defined) so the lanes of negative inputs, whose result
  // is replaced below, do not overflow a signed int.
  const uint32_t ix = static_cast<uint32_t>(as_int(xs));
  const int32_t k = static_cast<int32_t>(ix - 0x3f3504f3u) >> 23;  // 0x3f3504f3 = sqrt(1/2)
  const float f = as_float(static_cast<int32_t>(ix - (static_cast<uint32_t>(k) << 23))) - 1.0f;
  const float kf = static_cast<float>(k) - (sub ? 23.0f : 0.0f);
  float q = -7.634225488e-02f;
  q = q * f + 1.276146770e-01f;
  q = q * f - 1.316023320e-01f;
  q = q * f + 1.420177668e-01f;
  q = q * f - 1.662335396e-01f;
  q = q * f + 2.000122666e-01f;
  q = q * f - 2.500082254e-01f;
  q = q * f + 3.333333135e-01f;
  const float f2 = f * f;
  const float lo = kf * kLn2Lo - 0.5f * f2 + (f2 * f) * q;
  float y = (kf * kLn2Hi + f) + lo;
  // specials: log(+inf) = +inf, log(NaN) = NaN, log(x < 0) = NaN, log(+-0) = -inf
  y = x == __builtin_inff() ? x : y;
  y = x != x ? x : y;
  y = x < 0.0f ? __builtin_nanf("") : y;
  y = x == 0.0f ? -__builtin_inff() : y;
  return y;
}

// log(1 + u) for u >= 0 (used by softplus): with w = 1 + u rounded, the rounding error of w is
// corrected to first order: log1p(u) = log w - ((w - 1) - u) / w.
[[gnu::always_inline]] inline float log1p_nonneg(float u) {
  const float w = 1.0f + u;
  return vm::log(w) - ((w - 1.0f) - u) / w;
}

// ==================================================================== tanh / sigmoid
//
// tanh: |x| < 0.625: x + x^3 T(x^2), T a degree-5 minimax fit (relative error 2e-9);
//       otherwise sign(x) (1 - 2 / (e^{2|x|} + 1)), with 2|x| clamped at 20 (tanh = 1 there).
[[gnu::always_inline]] inline float tanh(float x) {
  const float s = x * x;
  float t = 2.142180223e-03f;
  t = t * s - 8.176513016e-03f;
  t = t * s + 2.170033194e-02f;
  t = t * s - 5.394669250e-02f;
  t = t * s + 1.333320588e-01f;
  t = t * s - 3.333333135e-01f;
  const float small = x == 0.0f ? x : x + (x * s) * t;  // keeps -0
  const float a = fabs_(x);
  const float e = vm::exp(clamp_(2.0f * a, 0.0f, 20.0f));
  const float large = with_sign_of(1.0f - 2.0f / (e + 1.0f), x);
  return a < 0.625f ? small : large;
}

// tanh_fast: one branch for every x, |tanh x| = -u / (u + 2) with u = expm1(-2|x|) (|x| clamped
// at 9, where the quotient rounds to 1), the sign of x put back. No cancellation near 0 (expm1
// is accurate there) but three roundings after expm1's: at most 2.5 ulps, against tanh's 1.31,
// for about 3/4 of its cost (no polynomial branch computed and discarded). For the sums of many
// tanh terms where that difference is far below the sum's own rounding: the additive
// attention score's forward (kernels/cpu/seq2seq_attention.cpp).
[[gnu::always_inline]] inline float tanh_fast(float x) {
  const float a = fabs_(x);
  const float u = vm::expm1(-2.0f * (a < 9.0f ? a : 9.0f));  // NaN takes the clamp; returned below
  const float t = with_sign_of(-u / (u + 2.0f), x);
  return x != x ? x : t;
}

// sigmoid: with e = e^{-|x|} (never overflows), 1/(1+e) for x >= 0 and e/(1+e) for x < 0,
// so large negative x reach the denormals instead of 1/inf.
[[gnu::always_inline]] inline float sigmoid(float x) {
  const float e = vm::exp(-fabs_(x));
  const float num = x >= 0.0f ? 1.0f : e;  // NaN: e is NaN
  return num / (1.0f + e);
}

// softplus log(1 + e^x) = max(x, 0) + log1p(e^{-|x|})
[[gnu::always_inline]] inline float softplus(float x) {
  const float m = x > 0.0f ? x : 0.0f;
  return m + log1p_nonneg(vm::exp(-fabs_(x)));  // NaN: e^-|x| is NaN
}

// ==================================================================== erf
//
// |x| < 0.875: x E(x^2), E a degree-5 minimax fit of erf(x)/x.
// otherwise:   sign(x) (1 - erfc|x|), erfc a = exp(-a^2 + H(a)), H a degree-8 minimax fit of
//              log(erfc a) + a^2 on [0.875, 3.92] (erfc error 3e-9); a is clamped at 3.92,
//              past which erf = 1 in float.
[[gnu::always_inline]] inline float erf(float x) {
  const float s = x * x;
  float p = -6.222414668e-04f;
  p = p * s + 5.035870709e-03f;
  p = p * s - 2.679395303e-02f;
  p = p * s + 1.128252447e-01f;
  p = p * s - 3.761255741e-01f;
  p = p * s + 1.128379107e+00f;
  const float small = x * p;
  const float a = fabs_(x);
  const float ac = a > 3.92f ? 3.92f : a;
  float h = 1.614659141e-06f;
  h = h * ac - 4.558799628e-05f;
  h = h * ac + 5.926220911e-04f;
  h = h * ac - 4.738929216e-03f;
  h = h * ac + 2.635929920e-02f;
  h = h * ac - 1.099655926e-01f;
  h = h * ac + 3.680461645e-01f;
  h = h * ac - 1.130154967e+00f;
  h = h * ac + 2.998585696e-04f;
  const float erfc = vm::exp(h - ac * ac);
  const float large = with_sign_of(1.0f - erfc, x);
  return a < 0.875f ? small : large;
}

}  // namespace vm

// ==================================================================== array kernels
//
// x, y: (n). float: vectorised (above); double: std:: functions.

void vexp(const float* x, float* y, int64_t n);
void vexp(const double* x, double* y, int64_t n);
void vexpm1(const float* x, float* y, int64_t n);
void vexpm1(const double* x, double* y, int64_t n);
void vlog(const float* x, float* y, int64_t n);
void vlog(const double* x, double* y, int64_t n);
void vtanh(const float* x, float* y, int64_t n);
void vtanh(const double* x, double* y, int64_t n);
void vtanh_fast(const float* x, float* y, int64_t n);  // vm::tanh_fast: at most 2.5 ulps
void vsigmoid(const float* x, float* y, int64_t n);  // 1 / (1 + e^-x)
void vsigmoid(const double* x, double* y, int64_t n);
void vsoftplus(const float* x, float* y, int64_t n);  // log(1 + e^x), stable
void vsoftplus(const double* x, double* y, int64_t n);
void verf(const float* x, float* y, int64_t n);
void verf(const double* x, double* y, int64_t n);

// y = exp(x - shift); returns sum_i y_i accumulated in double. y may be null (sum only).
double vexp_shift_sum(const float* x, float shift, float* y, int64_t n);
double vexp_shift_sum(const double* x, double shift, double* y, int64_t n);
// y_i = exp(x_i - shift_i).   x, shift, y: (n)
void vexp_sub(const float* x, const float* shift, float* y, int64_t n);
void vexp_sub(const double* x, const double* shift, double* y, int64_t n);

// max_i x_i (n >= 1; NaN in x gives an unspecified element or NaN, as softmax only needs a
// shift that makes the row NaN when any element is).
float vmax(const float* x, int64_t n);
double vmax(const double* x, int64_t n);

// Deterministic double-accumulated sums (32 interleaved partial sums combined pairwise, so the
// result does not depend on the ISA path).   x: (n)
double vsum(const float* x, int64_t n);
double vsum(const double* x, int64_t n);
// sum_i (x_i - mu)^2, the same way.   x: (n)
double vsum_sq_dev(const float* x, double mu, int64_t n);
double vsum_sq_dev(const double* x, double mu, int64_t n);

// Softmax (log = false) or log-softmax over each of `rows` contiguous rows of D >= 1 elements,
// float only (the double path stays in kernels/cpu/softmax.cpp).   x, y: (rows, D)
void vsoftmax_rows(const float* x, float* y, int64_t rows, int64_t D, bool log);

// Activations with their transcendental inside (same formulas as kernels/elementwise.h).
//   gelu       y = x/2 (1 + erf(x/sqrt2))          dx = dy (Phi(x) + x phi(x))
//   gelu_tanh  y = x/2 (1 + tanh(u)), u = sqrt(2/pi)(x + 0.044715 x^3)
//   elu        y = x > 0 ? x : alpha expm1(x)      dx = x > 0 ? dy : dy alpha e^x
void vgelu(const float* x, float* y, int64_t n);
void vgelu(const double* x, double* y, int64_t n);
void vgelu_backward(const float* dy, const float* x, float* dx, int64_t n);
void vgelu_backward(const double* dy, const double* x, double* dx, int64_t n);
void vgelu_tanh(const float* x, float* y, int64_t n);
void vgelu_tanh(const double* x, double* y, int64_t n);
void vgelu_tanh_backward(const float* dy, const float* x, float* dx, int64_t n);
void vgelu_tanh_backward(const double* dy, const double* x, double* dx, int64_t n);
void velu(const float* x, float* y, int64_t n, float alpha);
void velu(const double* x, double* y, int64_t n, double alpha);
void velu_backward(const float* dy, const float* x, float* dx, int64_t n, float alpha);
void velu_backward(const double* dy, const double* x, double* dx, int64_t n, double alpha);

// The float code path in use: "avx512", "avx2" or "sse4.2" (the widest the CPU supports,
// picked at the first call).
const char* vecmath_isa();
// Test hook: use the named path from now on; false (and no change) when the CPU lacks it.
bool vecmath_set_isa(const char* name);

}  // namespace seqnn::kernels
