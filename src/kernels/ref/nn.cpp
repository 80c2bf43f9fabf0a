// Naive reference layer norm: the formulas of kernels/nn.h in long double, one row at a time.
#include <cmath>

#include "kernels/nn.h"

namespace seqnn::kernels::ref {

template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M, int64_t N,
                        double eps) {  // x, y: (M,N)
  for (int64_t r = 0; r < M; ++r) {
    long double mu = 0, var = 0;
    for (int64_t j = 0; j < N; ++j) mu += x[r * N + j];
    mu /= N;
    for (int64_t j = 0; j < N; ++j) var += (x[r * N + j] - mu) * (x[r * N + j] - mu);
    var /= N;
    const long double rs = 1.0L / std::sqrt(var + eps);
    mean[r] = static_cast<T>(mu);
    rstd[r] = static_cast<T>(rs);
    for (int64_t j = 0; j < N; ++j)
      y[r * N + j] = static_cast<T>((x[r * N + j] - mu) * rs * (w ? w[j] : T(1)) + (b ? b[j] : T(0)));
  }
}

template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db,
                         int64_t M, int64_t N) {
  for (int64_t j = 0; j < N; ++j) {
    if (dw) dw[j] = 0;
    if (db) db[j] = 0;
  }
  for (int64_t r = 0; r < M; ++r) {
    long double s1 = 0, s2 = 0;
    for (int64_t j = 0; j < N; ++j) {
      const long double xh = (x[r * N + j] - static_cast<long double>(mean[r])) * rstd[r];
      const long double dxh = static_cast<long double>(dy[r * N + j]) * (w ? w[j] : T(1));
      s1 += dxh;
      s2 += dxh * xh;
      if (dw) dw[j] += static_cast<T>(dy[r * N + j] * xh);
      if (db) db[j] += dy[r * N + j];
    }
    if (!dx) continue;
    for (int64_t j = 0; j < N; ++j) {
      const long double xh = (x[r * N + j] - static_cast<long double>(mean[r])) * rstd[r];
      const long double dxh = static_cast<long double>(dy[r * N + j]) * (w ? w[j] : T(1));
      dx[r * N + j] = static_cast<T>(rstd[r] * (dxh - s1 / N - xh * s2 / N));
    }
  }
}

template void layer_norm_forward<float>(const float*, const float*, const float*, float*, float*, float*, int64_t,
                                        int64_t, double);
template void layer_norm_forward<double>(const double*, const double*, const double*, double*, double*, double*,
                                         int64_t, int64_t, double);
template void layer_norm_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                         float*, float*, float*, int64_t, int64_t);
template void layer_norm_backward<double>(const double*, const double*, const double*, const double*,
                                          const double*, double*, double*, double*, int64_t, int64_t);

}  // namespace seqnn::kernels::ref
