// Fast reduction kernels (see kernels/reduce.h for the layouts and the math).
//
// Sums accumulate in double whatever T is (the rounding of a long float32 sum would otherwise
// dominate the error budget). Rows (I == 1) use vecmath's vsum (32 interleaved partial sums,
// vectorised for the CPU's ISA, deterministic); columns (I > 1) are processed in stack-held chunks of kCols accumulators.
#include <cmath>
#include <limits>

#include "kernels/parallel.h"
#include "kernels/reduce.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {
constexpr int64_t kGrain = 32768;  // elements per parallel task
constexpr int64_t kCols = 256;     // column accumulators held on the stack
constexpr int64_t kSplit = 64;     // fixed split of one long row (deterministic sum)

template <class T>
double row_sum(const T* x, int64_t n) {  // x: (n)
  return vsum(x, n);                      // 32 interleaved double partial sums, vectorised
}
}  // namespace

// ==================================================================== sum

template <class T>
void sum_reduce(const T* x, T* y, int64_t O, int64_t R, int64_t I, double scale) {
  if (I == 1) {
    if (O < 4 && R > kGrain) {
      // Few long rows: split each row into kSplit fixed pieces summed in parallel.
      for (int64_t o = 0; o < O; ++o) {
        const T* row = x + o * R;
        double part[kSplit];
        parallel_for(kSplit, 1, [&](int64_t b, int64_t e) {
          for (int64_t k = b; k < e; ++k) {
            const int64_t lo = R * k / kSplit, hi = R * (k + 1) / kSplit;
            part[k] = row_sum(row + lo, hi - lo);
          }
        });
        double s = 0;
        for (int64_t k = 0; k < kSplit; ++k) s += part[k];
        y[o] = static_cast<T>(s * scale);
      }
      return;
    }
    parallel_for(O, std::max<int64_t>(1, kGrain / std::max<int64_t>(R, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) y[o] = static_cast<T>(row_sum(x + o * R, R) * scale);
    });
    return;
  }
  // Columns: task = (o, chunk of kCols columns).
  const int64_t chunks = (I + kCols - 1) / kCols;
  parallel_for(O * chunks, std::max<int64_t>(1, kGrain / std::max<int64_t>(R * kCols, 1)), [&](int64_t b, int64_t e) {
    double acc[kCols];
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / chunks, i0 = (t % chunks) * kCols, w = std::min(kCols, I - i0);
      for (int64_t j = 0; j < w; ++j) acc[j] = 0;
      const T* base = x + o * R * I + i0;
      for (int64_t r = 0; r < R; ++r) {
        const T* p = base + r * I;
        for (int64_t j = 0; j < w; ++j) acc[j] += p[j];
      }
      T* out = y + o * I + i0;
      for (int64_t j = 0; j < w; ++j) out[j] = static_cast<T>(acc[j] * scale);
    }
  });
}

// ==================================================================== max

template <class T>
void max_reduce(const T* x, T* values, int64_t* indices, int64_t O, int64_t R, int64_t I) {
  if (I == 1) {
    parallel_for(O, std::max<int64_t>(1, kGrain / std::max<int64_t>(R, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const T* row = x + o * R;
        T m = row[0];
        int64_t idx = 0;
        for (int64_t r = 1; r < R && !std::isnan(m); ++r)
          if (!(row[r] <= m)) m = row[r], idx = r;  // strict: the first maximum wins; NaN takes over
        values[o] = m;
        indices[o] = idx;
      }
    });
    return;
  }
  const int64_t chunks = (I + kCols - 1) / kCols;
  parallel_for(O * chunks, std::max<int64_t>(1, kGrain / std::max<int64_t>(R * kCols, 1)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / chunks, i0 = (t % chunks) * kCols, w = std::min(kCols, I - i0);
      const T* base = x + o * R * I + i0;
      T* vm = values + o * I + i0;
      int64_t* im = indices + o * I + i0;
      for (int64_t j = 0; j < w; ++j) vm[j] = base[j], im[j] = 0;
      for (int64_t r = 1; r < R; ++r) {
        const T* p = base + r * I;
        for (int64_t j = 0; j < w; ++j) {
          const bool take = !std::isnan(vm[j]) && !(p[j] <= vm[j]);
          vm[j] = take ? p[j] : vm[j];
          im[j] = take ? r : im[j];
        }
      }
    }
  });
}

template <class T>
void max_reduce_backward(const T* g, const int64_t* idx, T* dx, int64_t O, int64_t R, int64_t I) {
  for (int64_t k = 0, n = O * R * I; k < n; ++k) dx[k] = T(0);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) dx[(o * R + idx[o * I + i]) * I + i] = g[o * I + i];
}

template <class T>
T max_all(const T* x, int64_t n) {
  T m = x[0];
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) {
    nan |= (x[i] != x[i]);
    m = x[i] > m ? x[i] : m;
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

template <class T>
void max_all_backward(const T* x, T m, T g, T* dx, int64_t n) {
  const bool want_nan = std::isnan(m);
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += want_nan ? (x[i] != x[i]) : (x[i] == m);
  const T share = g / static_cast<T>(count);
  for (int64_t i = 0; i < n; ++i) dx[i] = (want_nan ? (x[i] != x[i]) : (x[i] == m)) ? share : T(0);
}

// ==================================================================== expand (sum/mean backward)

template <class T>
void expand_scaled(const T* g, const int64_t* gstr, const int64_t* shape, int64_t nd, double scale, T* dx) {
  const T s = static_cast<T>(scale);
  if (nd == 0) {
    dx[0] = s * g[0];
    return;
  }
  int64_t n = 1;
  for (int64_t d = 0; d < nd; ++d) n *= shape[d];
  if (n == 0) return;
  const int64_t inner = shape[nd - 1], istr = gstr[nd - 1];
  const int64_t rows = n / inner;
  parallel_for(rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      // offset of this row in g: decompose row over the outer dims
      int64_t off = 0, rem = row;
      for (int64_t d = nd - 2; d >= 0; --d) {
        off += (rem % shape[d]) * gstr[d];
        rem /= shape[d];
      }
      T* out = dx + row * inner;
      if (istr == 0) {
        const T v = s * g[off];
        for (int64_t j = 0; j < inner; ++j) out[j] = v;
      } else if (istr == 1) {
        for (int64_t j = 0; j < inner; ++j) out[j] = s * g[off + j];
      } else {
        for (int64_t j = 0; j < inner; ++j) out[j] = s * g[off + j * istr];
      }
    }
  });
}

template void sum_reduce<float>(const float*, float*, int64_t, int64_t, int64_t, double);
template void sum_reduce<double>(const double*, double*, int64_t, int64_t, int64_t, double);
template void max_reduce<float>(const float*, float*, int64_t*, int64_t, int64_t, int64_t);
template void max_reduce<double>(const double*, double*, int64_t*, int64_t, int64_t, int64_t);
template void max_reduce_backward<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void max_reduce_backward<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);
template float max_all<float>(const float*, int64_t);
template double max_all<double>(const double*, int64_t);
template void max_all_backward<float>(const float*, float, float, float*, int64_t);
template void max_all_backward<double>(const double*, double, double, double*, int64_t);
template void expand_scaled<float>(const float*, const int64_t*, const int64_t*, int64_t, double, float*);
template void expand_scaled<double>(const double*, const int64_t*, const int64_t*, int64_t, double, double*);

}  // namespace seqnn::kernels
