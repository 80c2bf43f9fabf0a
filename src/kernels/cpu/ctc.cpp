// CTC forward-backward in log space (kernels/ctc.h has the equations).
//
// One sample per parallel task; per frame one pass over the 2S+1 extended-label states, each a
// three-term log-sum-exp in double. The state's label l'_s is blank for even s and l_{s/2} for
// odd s; the skip transition s-2 -> s is allowed only for odd s >= 3 whose label differs from
// l_{s/2-1}. The loops over s have no loop-carried dependence (they read the previous frame's
// row only), so the compiler may vectorise what the transcendentals allow.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/ctc.h"
#include "kernels/parallel.h"

namespace seqnn::kernels {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log(e^a + e^b + e^c); -inf when all three are -inf (no -inf - -inf = NaN).
[[gnu::always_inline]] inline double lse3(double a, double b, double c) {
  const double m = std::max(a, std::max(b, c));
  if (m == kNegInf) return kNegInf;
  return m + std::log(std::exp(a - m) + std::exp(b - m) + std::exp(c - m));
}

// The extended label l'_s of a sample whose labels are tg.
[[gnu::always_inline]] inline int64_t ext_label(const int64_t* tg, int64_t s, int64_t blank) {
  return (s & 1) ? tg[s >> 1] : blank;
}

// skip(s): the transition s-2 -> s is allowed (l'_s a label that differs from l'_{s-2}).
[[gnu::always_inline]] inline bool can_skip(const int64_t* tg, int64_t s) {
  return (s & 1) && s >= 3 && tg[s >> 1] != tg[(s >> 1) - 1];
}

}  // namespace

// ==================================================================== forward (alpha)

template <class T>
void ctc_forward(const T* lp, const int64_t* targets, const int64_t* tg_off, const int64_t* il, const int64_t* tl,
                 int64_t Tn, int64_t B, int64_t C, int64_t L, int64_t blank, bool keep_alpha, double* alpha,
                 double* nll) {
  const int64_t rows = keep_alpha ? Tn : 2;
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t S = tl[b], Ls = 2 * S + 1, n = il[b];
      const int64_t* tg = targets + tg_off[b];
      double* A = alpha + b * rows * L;
      if (n == 0) {  // no frames: only the empty labelling has a (single, empty) path
        nll[b] = S == 0 ? 0.0 : std::numeric_limits<double>::infinity();
        continue;
      }
      // alpha_0: blank or the first label
      const T* y0 = lp + b * C;
      for (int64_t s = 0; s < Ls; ++s) A[s] = kNegInf;
      A[0] = y0[blank];
      if (S > 0) A[1] = y0[tg[0]];
      for (int64_t t = 1; t < n; ++t) {
        const double* prev = A + (keep_alpha ? t - 1 : (t - 1) & 1) * L;
        double* cur = A + (keep_alpha ? t : t & 1) * L;
        const T* y = lp + (t * B + b) * C;
        cur[0] = prev[0] + y[blank];
        for (int64_t s = 1; s < Ls; ++s) {
          const double a3 = can_skip(tg, s) ? prev[s - 2] : kNegInf;
          cur[s] = lse3(prev[s], prev[s - 1], a3) + y[ext_label(tg, s, blank)];
        }
      }
      const double* last = A + (keep_alpha ? n - 1 : (n - 1) & 1) * L;
      nll[b] = -(S == 0 ? last[0] : lse3(last[Ls - 1], last[Ls - 2], kNegInf));
    }
  });
}

// ==================================================================== backward (beta, gradient)

template <class T>
void ctc_backward(const T* lp, const int64_t* targets, const int64_t* tg_off, const int64_t* il, const int64_t* tl,
                  int64_t Tn, int64_t B, int64_t C, int64_t L, int64_t blank, const double* alpha, const double* nll,
                  const double* g, bool zero_infinity, double* work, T* dlp) {
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t S = tl[b], Ls = 2 * S + 1, n = il[b];
      const int64_t* tg = targets + tg_off[b];
      const double* A = alpha + b * Tn * L;
      // padding frames t >= input_length: zero
      for (int64_t t = n; t < Tn; ++t) std::fill(dlp + (t * B + b) * C, dlp + (t * B + b + 1) * C, T(0));
      const double z = nll[b];
      if (z == std::numeric_limits<double>::infinity()) {
        // infeasible: the loss is the constant +inf; zero_infinity -> 0, else undefined (NaN, as PyTorch)
        const T v = zero_infinity ? T(0) : std::numeric_limits<T>::quiet_NaN();
        for (int64_t t = 0; t < n; ++t) std::fill(dlp + (t * B + b) * C, dlp + (t * B + b + 1) * C, v);
        continue;
      }
      double* bx = work + b * ctc_backward_work(L, C);  // beta'_t (excludes y_t)
      double* bi = bx + L;                             // b_{t+1} = beta'_{t+1} + y_{t+1}
      double* col = bi + L;                            // gamma_t(c), collected over s
      const double gb = g[b];
      for (int64_t t = n - 1; t >= 0; --t) {
        // beta'_t from b_{t+1}; at the last frame only the two final states end a path
        if (t == n - 1) {
          for (int64_t s = 0; s < Ls; ++s) bx[s] = s >= Ls - 2 ? 0.0 : kNegInf;
        } else {
          for (int64_t s = 0; s < Ls; ++s) {
            const double b2 = s + 1 < Ls ? bi[s + 1] : kNegInf;
            const double b3 = s + 2 < Ls && can_skip(tg, s + 2) ? bi[s + 2] : kNegInf;
            bx[s] = lse3(bi[s], b2, b3);
          }
        }
        // gamma_t(c) = sum_{s: l'_s = c} exp(alpha_t(s) + beta'_t(s) - log p);  dy_t(c) = -g gamma_t(c)
        const double* At = A + t * L;
        const T* y = lp + (t * B + b) * C;
        std::fill(col, col + C, 0.0);
        for (int64_t s = 0; s < Ls; ++s) col[ext_label(tg, s, blank)] += std::exp(At[s] + bx[s] + z);
        T* d = dlp + (t * B + b) * C;
        for (int64_t c = 0; c < C; ++c) d[c] = static_cast<T>(-gb * col[c]);
        // b_t = beta'_t + y_t, for frame t-1
        for (int64_t s = 0; s < Ls; ++s) bi[s] = bx[s] + y[ext_label(tg, s, blank)];
      }
    }
  });
}

template void ctc_forward<float>(const float*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                 int64_t, int64_t, int64_t, int64_t, int64_t, bool, double*, double*);
template void ctc_forward<double>(const double*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                  int64_t, int64_t, int64_t, int64_t, int64_t, bool, double*, double*);
template void ctc_backward<float>(const float*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                  int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const double*,
                                  const double*, bool, double*, float*);
template void ctc_backward<double>(const double*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                   int64_t, int64_t, int64_t, int64_t, int64_t, const double*, const double*,
                                   const double*, bool, double*, double*);

}  // namespace seqnn::kernels
