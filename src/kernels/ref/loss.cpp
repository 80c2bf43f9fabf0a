// Naive reference losses: materialise log-softmax and the target distribution q per row in
// long double, then apply the definitions of kernels/loss.h literally.
#include <cmath>
#include <vector>

#include "kernels/loss.h"

namespace seqnn::kernels::ref {

namespace {
// log-softmax of row r = (n,k) of x: (N,C,K)
template <class T>
std::vector<long double> log_softmax_row(const T* x, int64_t n, int64_t C, int64_t K, int64_t k) {
  long double m = x[n * C * K + k], s = 0;
  for (int64_t c = 0; c < C; ++c) m = std::max<long double>(m, x[(n * C + c) * K + k]);
  for (int64_t c = 0; c < C; ++c) s += std::exp(x[(n * C + c) * K + k] - m);
  std::vector<long double> lp(C);
  for (int64_t c = 0; c < C; ++c) lp[c] = x[(n * C + c) * K + k] - m - std::log(s);
  return lp;
}

// q for an index target (zeros when ignored)
template <class T>
std::vector<long double> q_index(int64_t t, const T* w, int64_t C, int64_t ignore, double ls) {
  std::vector<long double> q(C, 0.0L);
  if (t == ignore) return q;
  for (int64_t c = 0; c < C; ++c) q[c] = (ls / C) * (w ? w[c] : 1) + (c == t ? (1 - ls) * (w ? w[t] : 1) : 0);
  return q;
}
}  // namespace

template <class T>
void ce_index_forward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                      int64_t ignore_index, double ls, T* lse, T* loss, T* row_w) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t r = n * K + k, t = target[r];
      const auto lp = log_softmax_row(x, n, C, K, k);
      const auto q = q_index(t, weight, C, ignore_index, ls);
      long double v = 0;
      for (int64_t c = 0; c < C; ++c) v -= q[c] * lp[c];
      lse[r] = static_cast<T>(x[n * C * K + k] - lp[0]);
      loss[r] = static_cast<T>(v);
      row_w[r] = t == ignore_index ? T(0) : (weight ? weight[t] : T(1));
    }
}

template <class T>
void ce_index_backward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                       int64_t ignore_index, double ls, const T* lse, const T* grow, int64_t grow_stride, T* dx) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t r = n * K + k;
      const auto lp = log_softmax_row(x, n, C, K, k);
      const auto q = q_index(target[r], weight, C, ignore_index, ls);
      long double Q = 0;
      for (int64_t c = 0; c < C; ++c) Q += q[c];
      for (int64_t c = 0; c < C; ++c)
        dx[(n * C + c) * K + k] = static_cast<T>(grow[r * grow_stride] * (std::exp(lp[c]) * Q - q[c]));
    }
}

template <class T>
void ce_prob_forward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls,
                     T* lse, T* loss) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const auto lp = log_softmax_row(x, n, C, K, k);
      long double v = 0;
      for (int64_t c = 0; c < C; ++c) {
        const long double tc = target[(n * C + c) * K + k] * (1 - ls) + ls / C;
        v -= (weight ? weight[c] : 1) * tc * lp[c];
      }
      lse[n * K + k] = static_cast<T>(x[n * C * K + k] - lp[0]);
      loss[n * K + k] = static_cast<T>(v);
    }
}

template <class T>
void ce_prob_backward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls,
                      const T* lse, const T* grow, int64_t grow_stride, T* dx, T* dtarget) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t r = n * K + k;
      const auto lp = log_softmax_row(x, n, C, K, k);
      std::vector<long double> q(C);
      long double Q = 0;
      for (int64_t c = 0; c < C; ++c) {
        q[c] = (weight ? weight[c] : 1) * (target[(n * C + c) * K + k] * (1 - ls) + ls / C);
        Q += q[c];
      }
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = (n * C + c) * K + k;
        if (dx) dx[i] = static_cast<T>(grow[r * grow_stride] * (std::exp(lp[c]) * Q - q[c]));
        if (dtarget) dtarget[i] = static_cast<T>(-grow[r * grow_stride] * (weight ? weight[c] : 1) * (1 - ls) * lp[c]);
      }
    }
}

// loss = -(pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), evaluated directly
template <class T>
void bce_logits_forward(const T* x, const T* t, const T* pw, int64_t n, int64_t L, T* loss) {
  for (int64_t i = 0; i < n; ++i) {
    const long double s = 1.0L / (1.0L + std::exp(-static_cast<long double>(x[i])));
    const long double p = pw ? pw[i % L] : 1;
    loss[i] = static_cast<T>(-(p * t[i] * std::log(s) + (1 - t[i]) * std::log(1 - s)));
  }
}

template void ce_index_forward<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t,
                                      double, float*, float*, float*);
template void ce_index_forward<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t,
                                       int64_t, double, double*, double*, double*);
template void ce_index_backward<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t,
                                       int64_t, double, const float*, const float*, int64_t, float*);
template void ce_index_backward<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t,
                                        int64_t, double, const double*, const double*, int64_t, double*);
template void ce_prob_forward<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, double,
                                     float*, float*);
template void ce_prob_forward<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t, double,
                                      double*, double*);
template void ce_prob_backward<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, double,
                                      const float*, const float*, int64_t, float*, float*);
template void ce_prob_backward<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t,
                                       double, const double*, const double*, int64_t, double*, double*);
template void bce_logits_forward<float>(const float*, const float*, const float*, int64_t, int64_t, float*);
template void bce_logits_forward<double>(const double*, const double*, const double*, int64_t, int64_t, double*);

}  // namespace seqnn::kernels::ref
