// Naive strided copy, gather and scatter-add: the oracles for kernels/cpu/index.cpp.
#include "kernels/index.h"

#include <vector>

namespace seqnn::kernels::ref {

template <class T>
void copy_strided(int64_t nd, const int64_t* shape, const T* src, const int64_t* src_strides, T* dst,
                  const int64_t* dst_strides) {
  int64_t n = 1;
  for (int64_t d = 0; d < nd; ++d) n *= shape[d];
  for (int64_t flat = 0; flat < n; ++flat) {
    // flat -> multi-index (row-major) -> one offset per side
    int64_t rem = flat, so = 0, d_o = 0;
    for (int64_t d = nd - 1; d >= 0; --d) {
      const int64_t i = rem % shape[d];
      rem /= shape[d];
      so += i * src_strides[d];
      d_o += i * dst_strides[d];
    }
    dst[d_o] = src[so];
  }
}

template <class T>
void index_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* x, const int64_t* idx, T* out) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t i = 0; i < inner; ++i) out[(o * m + j) * inner + i] = x[(o * n + idx[j]) * inner + i];
}

template <class T>
void index_add(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* g, const int64_t* idx, T* dx) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t i = 0; i < inner; ++i) dx[(o * n + idx[j]) * inner + i] += g[(o * m + j) * inner + i];
}

template void copy_strided<float>(int64_t, const int64_t*, const float*, const int64_t*, float*, const int64_t*);
template void copy_strided<double>(int64_t, const int64_t*, const double*, const int64_t*, double*, const int64_t*);
template void copy_strided<int64_t>(int64_t, const int64_t*, const int64_t*, const int64_t*, int64_t*,
                                    const int64_t*);
template void copy_strided<bool>(int64_t, const int64_t*, const bool*, const int64_t*, bool*, const int64_t*);
template void index_gather<float>(int64_t, int64_t, int64_t, int64_t, const float*, const int64_t*, float*);
template void index_gather<double>(int64_t, int64_t, int64_t, int64_t, const double*, const int64_t*, double*);
template void index_gather<int64_t>(int64_t, int64_t, int64_t, int64_t, const int64_t*, const int64_t*, int64_t*);
template void index_gather<bool>(int64_t, int64_t, int64_t, int64_t, const bool*, const int64_t*, bool*);
template void index_add<float>(int64_t, int64_t, int64_t, int64_t, const float*, const int64_t*, float*);
template void index_add<double>(int64_t, int64_t, int64_t, int64_t, const double*, const int64_t*, double*);

}  // namespace seqnn::kernels::ref
