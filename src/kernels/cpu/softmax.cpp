// Fast softmax / log-softmax kernels (math in kernels/softmax.h). The exponentials and the
// row max run the array kernels of kernels/vecmath.h (vectorised for float); row sums are
// accumulated in double.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/parallel.h"
#include "kernels/softmax.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {
constexpr int64_t kGrain = 16384;  // elements per parallel task
constexpr int64_t kCols = 64;      // columns per stack chunk (general layout)

// ---------------------------------------------------------------- one contiguous row
template <class T>
void row_forward(const T* x, T* y, int64_t D, bool log) {  // x: (D)  y: (D)
  const T m = vmax(x, D);
  if (log) {
    const T ls = static_cast<T>(std::log(vexp_shift_sum(x, m, static_cast<T*>(nullptr), D)));
    for (int64_t d = 0; d < D; ++d) y[d] = (x[d] - m) - ls;
  } else {
    const T inv = static_cast<T>(1.0 / vexp_shift_sum(x, m, y, D));
    for (int64_t d = 0; d < D; ++d) y[d] *= inv;
  }
}

template <class T>
void row_backward(const T* y, const T* g, T* dx, int64_t D, bool log) {  // all (D)
  T s = 0;
  if (log) {
    for (int64_t d = 0; d < D; ++d) s += g[d];
    vexp(y, dx, D);
    for (int64_t d = 0; d < D; ++d) dx[d] = g[d] - dx[d] * s;
  } else {
    for (int64_t d = 0; d < D; ++d) s += g[d] * y[d];
    for (int64_t d = 0; d < D; ++d) dx[d] = y[d] * (g[d] - s);
  }
}

// ---------------------------------------------------------------- a chunk of w columns
// x, y: (D, stride I) starting at the chunk's first column
template <class T>
void cols_forward(const T* x, T* y, int64_t D, int64_t I, int64_t w, bool log) {
  T m[kCols], s[kCols];
  for (int64_t j = 0; j < w; ++j) m[j] = x[j], s[j] = 0;
  for (int64_t d = 1; d < D; ++d)
    for (int64_t j = 0; j < w; ++j) m[j] = x[d * I + j] > m[j] ? x[d * I + j] : m[j];
  // e = exp(x - m) into y (for log_softmax y is scratch, overwritten below)
  for (int64_t d = 0; d < D; ++d) {
    vexp_sub(x + d * I, m, y + d * I, w);
    for (int64_t j = 0; j < w; ++j) s[j] += y[d * I + j];
  }
  if (log) {
    for (int64_t j = 0; j < w; ++j) s[j] = std::log(s[j]);
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < w; ++j) y[d * I + j] = (x[d * I + j] - m[j]) - s[j];
  } else {
    for (int64_t j = 0; j < w; ++j) s[j] = T(1) / s[j];
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < w; ++j) y[d * I + j] *= s[j];
  }
}

template <class T>
void cols_backward(const T* y, const T* g, T* dx, int64_t D, int64_t I, int64_t w, bool log) {
  T s[kCols];
  for (int64_t j = 0; j < w; ++j) s[j] = 0;
  for (int64_t d = 0; d < D; ++d)
    for (int64_t j = 0; j < w; ++j) s[j] += log ? g[d * I + j] : g[d * I + j] * y[d * I + j];
  for (int64_t d = 0; d < D; ++d) {
    const int64_t k = d * I;
    if (log) {
      vexp(y + k, dx + k, w);
      for (int64_t j = 0; j < w; ++j) dx[k + j] = g[k + j] - dx[k + j] * s[j];
    } else {
      for (int64_t j = 0; j < w; ++j) dx[k + j] = y[k + j] * (g[k + j] - s[j]);
    }
  }
}
}  // namespace

// ==================================================================== entry points

template <class T>
void softmax_forward(const T* x, T* y, int64_t O, int64_t D, int64_t I, bool log) {
  if (D == 0 || O == 0 || I == 0) return;
  if (I == 1) {
    parallel_for(O, std::max<int64_t>(1, kGrain / D), [&](int64_t b, int64_t e) {
      if constexpr (std::is_same_v<T, float>) {
        vsoftmax_rows(x + b * D, y + b * D, e - b, D, log);  // one dispatch per chunk of rows
      } else {
        for (int64_t o = b; o < e; ++o) row_forward(x + o * D, y + o * D, D, log);
      }
    });
    return;
  }
  const int64_t chunks = (I + kCols - 1) / kCols;
  parallel_for(O * chunks, std::max<int64_t>(1, kGrain / (D * kCols)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / chunks, i0 = (t % chunks) * kCols;
      cols_forward(x + o * D * I + i0, y + o * D * I + i0, D, I, std::min(kCols, I - i0), log);
    }
  });
}

template <class T>
void softmax_backward(const T* y, const T* g, T* dx, int64_t O, int64_t D, int64_t I, bool log) {
  if (D == 0 || O == 0 || I == 0) return;
  if (I == 1) {
    parallel_for(O, std::max<int64_t>(1, kGrain / D), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) row_backward(y + o * D, g + o * D, dx + o * D, D, log);
    });
    return;
  }
  const int64_t chunks = (I + kCols - 1) / kCols;
  parallel_for(O * chunks, std::max<int64_t>(1, kGrain / (D * kCols)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / chunks, i0 = (t % chunks) * kCols, off = o * D * I + i0;
      cols_backward(y + off, g + off, dx + off, D, I, std::min(kCols, I - i0), log);
    }
  });
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, int64_t, bool);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, int64_t, bool);

}  // namespace seqnn::kernels
