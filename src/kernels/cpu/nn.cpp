// Fast layer norm / dropout / embedding kernels (math in kernels/nn.h).
//
// Layer norm: rows in parallel, statistics accumulated in double (two passes: mean, then the
// centred sum of squares). The parameter gradients dw/db are column sums over rows, computed
// per chunk of kCols columns (stack accumulators), chunks in parallel; up to kCols columns, per
// fixed block of rows instead.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/isa_dispatch.h"
#include "kernels/nn.h"
#include "kernels/parallel.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {
constexpr int64_t kGrain = 16384;
constexpr int64_t kCols = 64;
constexpr int64_t kRowBlocks = 8;  // layer_norm_backward's dw, db for N <= kCols
}  // namespace

// ==================================================================== layer norm

template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M, int64_t N,
                        double eps) {
  parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * N;
      T* yr = y + r * N;
      // mean and biased variance, double-accumulated (vecmath's vectorised sums)
      const double mu = vsum(xr, N) / N;
      const double ss = vsum_sq_dev(xr, mu, N);
      const T m = static_cast<T>(mu), rs = static_cast<T>(1.0 / std::sqrt(ss / N + eps));
      mean[r] = m;
      rstd[r] = rs;
      if (w && b) {
        for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * rs * w[j] + b[j];
      } else if (w) {
        for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * rs * w[j];
      } else if (b) {
        for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * rs + b[j];
      } else {
        for (int64_t j = 0; j < N; ++j) yr[j] = (xr[j] - m) * rs;
      }
    }
  });
}

// float rows of layer_norm_backward's dx, compiled per ISA (isa_dispatch.h): the row sums in
// float vector lanes (the double accumulators of the generic loop kept it scalar, at SSE4.2:
// 5% of a ViT training step).
namespace {
struct LnBwdRowsF32 {
  [[gnu::always_inline]] static inline void run(const float* dy, const float* x, const float* mean,
                                                const float* rstd, const float* w, float* dx, int64_t r0, int64_t r1,
                                                int64_t N) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * N;
      const float* gr = dy + r * N;
      float* dr = dx + r * N;  // dx may even alias dy: each element is read before it is written
      const float m = mean[r], rs = rstd[r];
      float s1 = 0, s2 = 0;  // sum dxhat, sum dxhat * xhat
      if (w) {
        // dxhat goes through dr, rounded once: the final pass must subtract the very values the
        // sums added (a contracted gr * w - a there left rounding noise where dx is exactly 0)
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) dr[j] = gr[j] * w[j];
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t j = 0; j < N; ++j) {
          s1 += dr[j];
          s2 += dr[j] * ((xr[j] - m) * rs);
        }
      } else {
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t j = 0; j < N; ++j) {
          s1 += gr[j];
          s2 += gr[j] * ((xr[j] - m) * rs);
        }
      }
      const float a = s1 / static_cast<float>(N), c = s2 / static_cast<float>(N);
      if (w) {
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) dr[j] = rs * (dr[j] - a - (xr[j] - m) * rs * c);
      } else {
#pragma omp simd
        for (int64_t j = 0; j < N; ++j) dr[j] = rs * (gr[j] - a - (xr[j] - m) * rs * c);
      }
    }
  }
};
}  // namespace

template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db,
                         int64_t M, int64_t N) {
  if constexpr (std::is_same_v<T, float>) {
    if (dx) {
      parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
        isa::dispatch<LnBwdRowsF32>(dy, x, mean, rstd, w, dx, r0, r1, N);
      });
      dx = nullptr;  // done
    }
  }
  if (dx) {
    parallel_for(M, std::max<int64_t>(1, kGrain / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T *xr = x + r * N, *gr = dy + r * N;
        const T m = mean[r], rs = rstd[r];
        double s1 = 0, s2 = 0;  // sum dxhat, sum dxhat * xhat
        for (int64_t j = 0; j < N; ++j) {
          const T dxh = w ? gr[j] * w[j] : gr[j];
          s1 += dxh;
          s2 += dxh * ((xr[j] - m) * rs);
        }
        const T a = static_cast<T>(s1 / N), c = static_cast<T>(s2 / N);
        T* dr = dx + r * N;
        for (int64_t j = 0; j < N; ++j) {
          const T dxh = w ? gr[j] * w[j] : gr[j];
          dr[j] = rs * (dxh - a - (xr[j] - m) * rs * c);
        }
      }
    });
  }
  if (!dw && !db) return;
  if (N <= kCols) {
    // Few columns (LayerNorm(64) over B*L rows): column chunks would leave one thread summing
    // all rows. Fixed blocks of rows instead (their count does not depend on the threads, so
    // neither do the sums), each into its own double partials, added in block order.
    const int64_t nblk = std::min<int64_t>(kRowBlocks, M);
    double part[kRowBlocks * 2 * kCols] = {};  // on the stack: kernels do not allocate
    parallel_for(nblk, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double* aw = part + 2 * c * N;
        double* ab = aw + N;
        for (int64_t r = M * c / nblk, r1 = M * (c + 1) / nblk; r < r1; ++r) {
          const T *xr = x + r * N, *gr = dy + r * N;
          const T m = mean[r], rs = rstd[r];
          for (int64_t j = 0; j < N; ++j) {
            aw[j] += gr[j] * ((xr[j] - m) * rs);
            ab[j] += gr[j];
          }
        }
      }
    });
    for (int64_t j = 0; j < N; ++j) {
      double sw = 0, sb = 0;
      for (int64_t c = 0; c < nblk; ++c) sw += part[2 * c * N + j], sb += part[(2 * c + 1) * N + j];
      if (dw) dw[j] = static_cast<T>(sw);
      if (db) db[j] = static_cast<T>(sb);
    }
    return;
  }
  const int64_t chunks = (N + kCols - 1) / kCols;
  parallel_for(chunks, std::max<int64_t>(1, kGrain / std::max<int64_t>(M * kCols, 1)), [&](int64_t c0, int64_t c1) {
    double aw[kCols], ab[kCols];
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t j0 = c * kCols, wd = std::min(kCols, N - j0);
      for (int64_t j = 0; j < wd; ++j) aw[j] = 0, ab[j] = 0;
      for (int64_t r = 0; r < M; ++r) {
        const T *xr = x + r * N + j0, *gr = dy + r * N + j0;
        const T m = mean[r], rs = rstd[r];
        for (int64_t j = 0; j < wd; ++j) {
          aw[j] += gr[j] * ((xr[j] - m) * rs);
          ab[j] += gr[j];
        }
      }
      for (int64_t j = 0; j < wd; ++j) {
        if (dw) dw[j0 + j] = static_cast<T>(aw[j]);
        if (db) db[j0 + j] = static_cast<T>(ab[j]);
      }
    }
  });
}

// ==================================================================== dropout

template <class T>
void dropout_apply(const T* x, const bool* keep, T scale, T* y, int64_t n) {
  parallel_for(n, 4 * kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = keep[i] ? x[i] * scale : T(0);
  });
}

// ==================================================================== embedding

template <class T>
void embedding_forward(const int64_t* idx, const T* w, T* y, int64_t K, int64_t E) {
  parallel_for(K, std::max<int64_t>(1, kGrain / std::max<int64_t>(E, 1)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) std::memcpy(y + k * E, w + idx[k] * E, sizeof(T) * E);
  });
}

template <class T>
void embedding_backward(const int64_t* idx, const T* g, T* dw, int64_t K, int64_t V, int64_t E, int64_t pad) {
  std::fill(dw, dw + V * E, T(0));
  for (int64_t k = 0; k < K; ++k) {
    if (idx[k] == pad) continue;
    T* row = dw + idx[k] * E;
    const T* gr = g + k * E;
    for (int64_t j = 0; j < E; ++j) row[j] += gr[j];
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
template void dropout_apply<float>(const float*, const bool*, float, float*, int64_t);
template void dropout_apply<double>(const double*, const bool*, double, double*, int64_t);
template void embedding_forward<float>(const int64_t*, const float*, float*, int64_t, int64_t);
template void embedding_forward<double>(const int64_t*, const double*, double*, int64_t, int64_t);
template void embedding_backward<float>(const int64_t*, const float*, float*, int64_t, int64_t, int64_t, int64_t);
template void embedding_backward<double>(const int64_t*, const double*, double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace seqnn::kernels
