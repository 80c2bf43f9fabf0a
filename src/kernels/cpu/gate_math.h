// kernels/cpu/gate_math.h (internal): the gate activations of the fused recurrent kernels
// (recurrent_seq.cpp, recurrent_step.cpp), on whole vectors of 16 floats (GCC vector
// extensions, so each kernel's ISA instantiation compiles them for its own registers).
//
//   sigmoid(x) = 1 / (1 + e^-x)        with e = e^-|x|:  1/(1+e) for x >= 0, e/(1+e) below
//   tanh(x)    = x + x^3 T(x^2)         |x| < 0.625 (vm::tanh's polynomial)
//              = sign(x) (1-e)/(1+e)    otherwise, e = e^-2|x|
//
// Why not vm::sigmoid / vm::tanh: those keep every float input exact to ~2 ulps down to the
// denormal results, which needs an exp whose 2^n scale is split in two factors, clamps at both
// ends and, for tanh, 2/(e^2|x| + 1) from an exp that can reach e^20. A gate's argument is a sum
// of products, and its activation multiplies a state: here the exp's argument is never positive
// (|x| is clamped at 87, so 2^n stays a normal number and one factor builds it), and the
// polynomial for e^r is one Horner chain: about a quarter fewer operations per LSTM unit, whose
// five activations were 10-20% of the recurrent forward (bench_rnn, two builds run in turn, 10
// runs each, medians: LSTM forward 100x64x512 92.5 -> 90.7 ms, GRU 69.6 -> 67.7 ms, 2-4%).
// Accuracy (tests/test_vecmath.cpp, against double): at most 3 ulps wherever the result is a
// normal float. Differences from the exact function, all below float resolution of a gate:
// sigmoid(x) for x < -87 is e^-87/(1+e^-87) ~ 1.6e-38 instead of the smaller denormal (or 0) the
// exact value rounds to. NaN gives NaN, tanh keeps -0, +-inf give the limits.
// Measured: sigmoid 2.40 ulps, tanh 1.52 (the fused kernels' AVX-512 build and the baseline).
#pragma once

#include <bit>
#include <cstdint>

#include "kernels/vecmath.h"
#include "seqnn/recurrent.h"

// v16 arguments and results are always inlined into one ISA's code: no call ABI involved.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace seqnn::kernels::gate {

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

// m ? a : b lane by lane (m: all ones or all zeros per lane, as comparisons give)
[[gnu::always_inline]] inline v16 select(v16i m, v16 a, v16 b) {
  return reinterpret_cast<v16>((reinterpret_cast<v16i>(a) & m) | (reinterpret_cast<v16i>(b) & ~m));
}
[[gnu::always_inline]] inline v16 vabs(v16 x) { return reinterpret_cast<v16>(reinterpret_cast<v16i>(x) & 0x7fffffff); }

// e^-a for a in [0, 87] (or NaN): a = -n ln2 - r, e^-a = 2^n e^r with n in [-126, 0]; e^r =
// 1 + r (1 + r P(r)), P vm::exp's degree-5 fit, in one Horner chain.
[[gnu::always_inline]] inline v16 exp_neg(v16 a) {
  using namespace vm::detail;
  const v16 x = -a;
  const v16 kn = x * kLog2e + kShifter;
  const v16 nf = kn - kShifter;
  const v16i n = reinterpret_cast<v16i>(kn) - std::bit_cast<int32_t>(kShifter);
  v16 r = x - nf * kLn2Hi;
  r = r - nf * kLn2Lo;
  v16 p = v16{} + kExpTail[0];
#pragma GCC unroll 8
  for (int c = 1; c < 6; ++c) p = p * r + kExpTail[c];
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * reinterpret_cast<v16>((n + 127) << 23);
}

[[gnu::always_inline]] inline v16 sigmoid(v16 x) {
  v16 a = vabs(x);
  a = select(a > 87.0f, v16{} + 87.0f, a);  // NaN stays
  const v16 e = exp_neg(a);
  const v16 num = select(x >= 0.0f, v16{} + 1.0f, e);  // NaN: e
  return num / (1.0f + e);
}

[[gnu::always_inline]] inline v16 tanh(v16 x) {
  const v16 a = vabs(x);  // tanh is odd: |tanh x| from |x|, x's sign put back at the end
  const v16 s = a * a;
  v16 t = v16{} + 2.142180223e-03f;
  t = t * s - 8.176513016e-03f;
  t = t * s + 2.170033194e-02f;
  t = t * s - 5.394669250e-02f;
  t = t * s + 1.333320588e-01f;
  t = t * s - 3.333333135e-01f;
  const v16 small = a + (a * s) * t;
  v16 a2 = a + a;
  a2 = select(a2 > 18.0f, v16{} + 18.0f, a2);  // e^-18 < 2^-25: the quotient rounds to 1
  const v16 e = exp_neg(a2);
  const v16 large = (1.0f - e) / (1.0f + e);
  const v16 m = select(a < 0.625f, small, large);  // NaN: large (e is NaN)
  return reinterpret_cast<v16>(reinterpret_cast<v16i>(m) |
                               (reinterpret_cast<v16i>(x) & static_cast<int32_t>(0x80000000u)));
}

// The LSTM's cell activation, of g and of c (LSTMOptions::activation; tanh in PyTorch). ReLU
// gives 0 for NaN, as the reference's x > 0 ? x : 0 does.
template <Activation A>
[[gnu::always_inline]] inline v16 act(v16 x) {
  if constexpr (A == Activation::Tanh) return tanh(x);
  if constexpr (A == Activation::Sigmoid) return sigmoid(x);
  if constexpr (A == Activation::Relu) return select(x > 0.0f, x, v16{});
  if constexpr (A == Activation::Identity) return x;
}

}  // namespace seqnn::kernels::gate

#pragma GCC diagnostic pop
