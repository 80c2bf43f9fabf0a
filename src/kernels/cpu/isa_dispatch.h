// kernels/cpu/isa_dispatch.h (internal): run one loop body compiled for the widest ISA the CPU
// has. K::run(args...) is an always-inline static member written as plain (auto-vectorisable)
// C++; isa_dispatch<K>(args...) instantiates it three times, for AVX-512 (512-bit vectors),
// AVX2+FMA and the library's baseline, and calls the one vecmath_isa() detected.
#pragma once

#include "kernels/vecmath.h"

namespace seqnn::kernels::isa {

template <class K, class... A>
[[gnu::target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,prefer-vector-width=512")]] void run_avx512(
    A... a) {
  K::run(a...);
}
template <class K, class... A>
[[gnu::target("avx2,fma,bmi,bmi2")]] void run_avx2(A... a) {
  K::run(a...);
}
template <class K, class... A>
void run_base(A... a) {
  K::run(a...);
}

template <class K, class... A>
void dispatch(A... a) {
  const char* isa = vecmath_isa();  // "avx512", "avx2" or "sse4.2"; detected once by vecmath
  if (isa[0] == 'a' && isa[3] == '5') return run_avx512<K>(a...);
  if (isa[0] == 'a') return run_avx2<K>(a...);
  run_base<K>(a...);
}

}  // namespace seqnn::kernels::isa
