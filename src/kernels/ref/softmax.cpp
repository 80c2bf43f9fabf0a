// Naive reference softmax / log-softmax: the definitions, element by element, in long double.
#include <cmath>

#include "kernels/softmax.h"

namespace seqnn::kernels::ref {

template <class T>
void softmax_forward(const T* x, T* y, int64_t O, int64_t D, int64_t I, bool log) {  // x, y: (O,D,I)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      auto at = [&](int64_t d) { return (o * D + d) * I + i; };
      long double m = x[at(0)], s = 0;
      for (int64_t d = 1; d < D; ++d) m = std::max<long double>(m, x[at(d)]);
      for (int64_t d = 0; d < D; ++d) s += std::exp(static_cast<long double>(x[at(d)]) - m);
      for (int64_t d = 0; d < D; ++d)
        y[at(d)] = static_cast<T>(log ? x[at(d)] - m - std::log(s) : std::exp(x[at(d)] - m) / s);
    }
}

template <class T>
void softmax_backward(const T* y, const T* g, T* dx, int64_t O, int64_t D, int64_t I, bool log) {
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      auto at = [&](int64_t d) { return (o * D + d) * I + i; };
      long double s = 0;
      for (int64_t d = 0; d < D; ++d) s += log ? g[at(d)] : static_cast<long double>(g[at(d)]) * y[at(d)];
      for (int64_t d = 0; d < D; ++d)
        dx[at(d)] = static_cast<T>(log ? g[at(d)] - std::exp(static_cast<long double>(y[at(d)])) * s
                                       : y[at(d)] * (g[at(d)] - s));
    }
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool);

}  // namespace seqnn::kernels::ref
