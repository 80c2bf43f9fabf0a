// Naive reference CTC: Graves et al. (2006) section 4.1 in linear space, long double, one
// sample at a time, full alpha and beta tables (beta here includes y_t, as in the paper):
//   alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2)) y_t(l'_s)
//   beta_t(s)  = (beta_{t+1}(s) + beta_{t+1}(s+1) + [skip] beta_{t+1}(s+2)) y_t(l'_s)
//   p = alpha_{T-1}(|l'|-1) + alpha_{T-1}(|l'|-2)
//   dloss/dlog y_t(c) = -(1/p) sum_{s: l'_s=c} alpha_t(s) beta_t(s) / y_t(c)
// long double's range (~1e-4951) keeps the products of test-sized inputs from underflowing.
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/ctc.h"

namespace seqnn::kernels::ref {

template <class T>
void ctc_loss_grad(const T* lp, const int64_t* targets, const int64_t* tg_off, const int64_t* il, const int64_t* tl,
                   int64_t Tn, int64_t B, int64_t C, int64_t blank, const double* g, bool zero_infinity, double* nll,
                   T* dlp) {
  using LD = long double;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = il[b], S = tl[b];
    std::vector<int64_t> ext(2 * S + 1, blank);  // l'
    for (int64_t k = 0; k < S; ++k) ext[2 * k + 1] = targets[tg_off[b] + k];
    const int64_t Ls = static_cast<int64_t>(ext.size());
    auto y = [&](int64_t t, int64_t c) { return std::exp(static_cast<LD>(lp[(t * B + b) * C + c])); };
    auto skip_ok = [&](int64_t s) { return s >= 2 && ext[s] != blank && ext[s] != ext[s - 2]; };

    std::vector<std::vector<LD>> alpha(n, std::vector<LD>(Ls, 0)), beta(n, std::vector<LD>(Ls, 0));
    LD p = (n == 0 && S == 0) ? 1 : 0;
    if (n > 0) {
      alpha[0][0] = y(0, blank);
      if (Ls > 1) alpha[0][1] = y(0, ext[1]);
      for (int64_t t = 1; t < n; ++t)
        for (int64_t s = 0; s < Ls; ++s) {
          LD a = alpha[t - 1][s];
          if (s >= 1) a += alpha[t - 1][s - 1];
          if (skip_ok(s)) a += alpha[t - 1][s - 2];
          alpha[t][s] = a * y(t, ext[s]);
        }
      p = alpha[n - 1][Ls - 1] + (Ls > 1 ? alpha[n - 1][Ls - 2] : 0);
      beta[n - 1][Ls - 1] = y(n - 1, ext[Ls - 1]);
      if (Ls > 1) beta[n - 1][Ls - 2] = y(n - 1, ext[Ls - 2]);
      for (int64_t t = n - 2; t >= 0; --t)
        for (int64_t s = 0; s < Ls; ++s) {
          LD v = beta[t + 1][s];
          if (s + 1 < Ls) v += beta[t + 1][s + 1];
          if (s + 2 < Ls && skip_ok(s + 2)) v += beta[t + 1][s + 2];
          beta[t][s] = v * y(t, ext[s]);
        }
    }
    const bool infeasible = p == 0;
    nll[b] = infeasible ? std::numeric_limits<double>::infinity() : static_cast<double>(-std::log(p));
    if (!dlp) continue;
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t c = 0; c < C; ++c) {
        T& d = dlp[(t * B + b) * C + c];
        if (t >= n || (infeasible && zero_infinity)) {
          d = 0;
        } else if (infeasible) {
          d = std::numeric_limits<T>::quiet_NaN();
        } else {
          LD sum = 0;
          for (int64_t s = 0; s < Ls; ++s)
            if (ext[s] == c) sum += alpha[t][s] * beta[t][s];
          d = static_cast<T>(-g[b] * sum / (y(t, c) * p));
        }
      }
  }
}

template void ctc_loss_grad<float>(const float*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                   int64_t, int64_t, int64_t, int64_t, const double*, bool, double*, float*);
template void ctc_loss_grad<double>(const double*, const int64_t*, const int64_t*, const int64_t*, const int64_t*,
                                    int64_t, int64_t, int64_t, int64_t, const double*, bool, double*, double*);

}  // namespace seqnn::kernels::ref
