// kernels/cpu/isa_dispatch.h (internal): run one loop body compiled for the widest ISA the CPU
// has. K::run(args...) is an always-inline static member written as plain (auto-vectorisable)
// C++; isa::dispatch<K>(args...) instantiates it three times, for AVX-512 (512-bit vectors),
// AVX2+FMA and the library's baseline, and calls the one vecmath_isa() detected.
// isa::dispatch_widths<K, W512, W2, WBase>(args...) does the same for a body K::run<W> that takes
// a width per ISA (the recurrent kernels' row block: 32 zmm registers hold more than 16 ymm).
#pragma once

#include "kernels/vecmath.h"

namespace seqnn::kernels::isa {

// W > 0: the body is K::run<W>, a width (e.g. rows per register block) chosen per ISA by
// dispatch_widths; W == 0: K::run.
template <class K, int W, class... A>
[[gnu::always_inline]] inline void call(A... a) {
  if constexpr (W == 0)
    K::run(a...);
  else
    K::template run<W>(a...);
}
template <class K, int W, class... A>
[[gnu::target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,prefer-vector-width=512")]] void run_avx512(
    A... a) {
  call<K, W>(a...);
}
template <class K, int W, class... A>
[[gnu::target("avx2,fma,bmi,bmi2")]] void run_avx2(A... a) {
  call<K, W>(a...);
}
template <class K, int W, class... A>
void run_base(A... a) {
  call<K, W>(a...);
}

// K::run<W512 | W2 | WBase>(a...) for AVX-512 | AVX2+FMA | the baseline.
template <class K, int W512, int W2, int WBase, class... A>
void dispatch_widths(A... a) {
  const char* isa = vecmath_isa();  // "avx512", "avx2" or "sse4.2"; detected once by vecmath
  if (isa[0] == 'a' && isa[3] == '5') return run_avx512<K, W512>(a...);
  if (isa[0] == 'a') return run_avx2<K, W2>(a...);
  run_base<K, WBase>(a...);
}

// K::run(a...) for the widest ISA the CPU has.
template <class K, class... A>
void dispatch(A... a) {
  dispatch_widths<K, 0, 0, 0>(a...);
}

}  // namespace seqnn::kernels::isa
