// CTC forward-backward in log space (kernels/ctc.h has the equations).
//
// One sample per parallel task; per frame one pass over the extended-label states, each a
// log-sum-exp in double. The state's label l'_s is blank for even s and l_{s/2} for odd s; the
// skip transition s-2 -> s is allowed only for odd s >= 3 whose label differs from l_{s/2-1}.
//
// Work saved (the transcendentals are the cost):
//   - a log-sum-exp drops its largest term: lse(a,b) = m + log(1 + e^{-|a-b|}) (1 exp + 1 log),
//     lse(a,b,c) = m + log(1 + e^{x-m} + e^{y-m}) with x, y the two others; blank states and
//     repeated labels have no skip term and take the two-term form. (log(1 + e) rather than
//     log1p(e): 15% faster here, and its absolute error stays ~1e-16, which is all a log-space
//     sum needs);
//   - only the states that matter at frame t are computed: a path can be at s <= 2t+1 after
//     t+1 frames, and must be at s >= Ls - 2(n-t) to still reach a final state (Ls-1 or Ls-2) by
//     frame n-1 (each frame advances at most 2 states). The window [lo_t, hi_t) slides by 2 per
//     frame; states outside it are stored as -inf (alpha there either is -inf or never reaches
//     the end, so neither the loss nor the gradient changes).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/ctc.h"
#include "kernels/parallel.h"

namespace seqnn::kernels {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log(e^a + e^b); -inf when both are -inf (no -inf - -inf = NaN).
[[gnu::always_inline]] inline double lse2(double a, double b) {
  const double m = std::max(a, b);
  if (m == kNegInf) return kNegInf;
  return m + std::log(1.0 + std::exp(-std::fabs(a - b)));
}

// log(e^a + e^b + e^c), the largest term taken out of the sum (e^0 = 1 needs no exp).
[[gnu::always_inline]] inline double lse3(double a, double b, double c) {
  double m = a, x = b, y = c;
  if (b > m) std::swap(m, x);
  if (c > m) std::swap(m, y);
  if (m == kNegInf) return kNegInf;
  return m + std::log(1.0 + std::exp(x - m) + std::exp(y - m));
}

// The extended label l'_s of a sample whose labels are tg.
[[gnu::always_inline]] inline int64_t ext_label(const int64_t* tg, int64_t s, int64_t blank) {
  return (s & 1) ? tg[s >> 1] : blank;
}

// skip(s): the transition s-2 -> s is allowed (l'_s a label that differs from l'_{s-2}).
[[gnu::always_inline]] inline bool can_skip(const int64_t* tg, int64_t s) {
  return (s & 1) && s >= 3 && tg[s >> 1] != tg[(s >> 1) - 1];
}

// The states [lo, hi) that can be on a complete path at frame t of n (Ls states).
struct Window {
  int64_t lo, hi;
};
[[gnu::always_inline]] inline Window window(int64_t t, int64_t n, int64_t Ls) {
  return {std::max<int64_t>(0, Ls - 2 * (n - t)), std::min<int64_t>(Ls, 2 * t + 2)};
}

// row[s] = -inf outside [w.lo, w.hi) (s < Ls).
[[gnu::always_inline]] inline void clear_outside(double* row, Window w, int64_t Ls) {
  std::fill(row, row + std::min(w.lo, Ls), kNegInf);
  std::fill(row + std::max(w.hi, w.lo), row + Ls, kNegInf);
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
      const Window w0 = window(0, n, Ls);
      for (int64_t s = 0; s < Ls; ++s) A[s] = kNegInf;
      if (w0.lo <= 0) A[0] = y0[blank];
      if (S > 0 && w0.lo <= 1) A[1] = y0[tg[0]];
      for (int64_t t = 1; t < n; ++t) {
        const double* prev = A + (keep_alpha ? t - 1 : (t - 1) & 1) * L;
        double* cur = A + (keep_alpha ? t : t & 1) * L;
        const T* y = lp + (t * B + b) * C;
        const Window w = window(t, n, Ls);
        clear_outside(cur, w, Ls);
        for (int64_t s = w.lo; s < w.hi; ++s) {
          // prev[s-1], prev[s-2] for s >= lo_t lie in frame t-1's window or are -inf
          const double a2 = s >= 1 ? prev[s - 1] : kNegInf;
          const double v = can_skip(tg, s) ? lse3(prev[s], a2, prev[s - 2]) : lse2(prev[s], a2);
          cur[s] = v + y[ext_label(tg, s, blank)];
        }
      }
      const double* last = A + (keep_alpha ? n - 1 : (n - 1) & 1) * L;
      nll[b] = -(S == 0 ? last[0] : lse2(last[Ls - 1], last[Ls - 2]));
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
        const Window w = window(t, n, Ls);
        clear_outside(bx, w, Ls);
        if (t == n - 1) {
          for (int64_t s = w.lo; s < w.hi; ++s) bx[s] = s >= Ls - 2 ? 0.0 : kNegInf;
        } else {
          // bi[s..s+2] for s in the window lie in frame t+1's window or are -inf
          for (int64_t s = w.lo; s < w.hi; ++s) {
            const double b2 = s + 1 < Ls ? bi[s + 1] : kNegInf;
            bx[s] = s + 2 < Ls && can_skip(tg, s + 2) ? lse3(bi[s], b2, bi[s + 2]) : lse2(bi[s], b2);
          }
        }
        // gamma_t(c) = sum_{s: l'_s = c} exp(alpha_t(s) + beta'_t(s) - log p);  dy_t(c) = -g gamma_t(c)
        const double* At = A + t * L;
        const T* y = lp + (t * B + b) * C;
        std::fill(col, col + C, 0.0);
        for (int64_t s = w.lo; s < w.hi; ++s) col[ext_label(tg, s, blank)] += std::exp(At[s] + bx[s] + z);
        T* d = dlp + (t * B + b) * C;
        for (int64_t c = 0; c < C; ++c) d[c] = static_cast<T>(-gb * col[c]);
        // b_t = beta'_t + y_t, for frame t-1 (-inf outside the window)
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
