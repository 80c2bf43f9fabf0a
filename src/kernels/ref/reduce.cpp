// Naive reference reductions: the definitions, one element at a time (tested against cpu/).
#include <cmath>

#include "kernels/reduce.h"

namespace seqnn::kernels::ref {

template <class T>
void sum_reduce(const T* x, T* y, int64_t O, int64_t R, int64_t I, double scale) {  // x: (O,R,I)  y: (O,I)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      long double s = 0;
      for (int64_t r = 0; r < R; ++r) s += x[(o * R + r) * I + i];
      y[o * I + i] = static_cast<T>(s * scale);
    }
}

template <class T>
void max_reduce(const T* x, T* values, int64_t* indices, int64_t O, int64_t R, int64_t I) {  // x: (O,R,I)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      int64_t best = 0;
      for (int64_t r = 0; r < R; ++r) {
        const T v = x[(o * R + r) * I + i], m = x[(o * R + best) * I + i];
        if (std::isnan(m)) break;
        if (std::isnan(v) || v > m) best = r;
      }
      values[o * I + i] = x[(o * R + best) * I + i];
      indices[o * I + i] = best;
    }
}

template void sum_reduce<float>(const float*, float*, int64_t, int64_t, int64_t, double);
template void sum_reduce<double>(const double*, double*, int64_t, int64_t, int64_t, double);
template void max_reduce<float>(const float*, float*, int64_t*, int64_t, int64_t, int64_t);
template void max_reduce<double>(const double*, double*, int64_t*, int64_t, int64_t, int64_t);

}  // namespace seqnn::kernels::ref
