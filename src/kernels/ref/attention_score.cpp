// kernels/ref/attention_score.cpp: the naive additive score, one (b,i,j,a) at a time, in
// float64 accumulation (the reference the fast kernel is tested against).
//   S[b,i,j] = sum_a v[a] tanh(qp[b,i,a] + kp[b,j,a])
#include <cmath>
#include <vector>

#include "kernels/attention_score.h"

namespace seqnn::kernels::ref {

template <class T>
void additive_score_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk, int64_t A) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j) {
        double acc = 0;
        for (int64_t a = 0; a < A; ++a)
          acc += double(v[a]) * std::tanh(double(qp[(b * Lq + i) * A + a]) + double(kp[(b * Lk + j) * A + a]));
        s[(b * Lq + i) * Lk + j] = T(acc);
      }
}

// u = dS v (1 - t^2): dqp sums u over j, dkp over i; dv sums dS t over (b,i,j).
template <class T>
void additive_score_backward(const T* qp, const T* kp, const T* v, const T* ds, T* dqp, T* dkp, T* dv, int64_t B,
                             int64_t Lq, int64_t Lk, int64_t A) {
  std::vector<double> gq(B * Lq * A, 0.0), gk(B * Lk * A, 0.0), gv(A, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j) {
        const double g = ds[(b * Lq + i) * Lk + j];
        for (int64_t a = 0; a < A; ++a) {
          const double t = std::tanh(double(qp[(b * Lq + i) * A + a]) + double(kp[(b * Lk + j) * A + a]));
          const double u = g * double(v[a]) * (1 - t * t);
          gq[(b * Lq + i) * A + a] += u;
          gk[(b * Lk + j) * A + a] += u;
          gv[a] += g * t;
        }
      }
  for (size_t e = 0; e < gq.size(); ++e) dqp[e] = T(gq[e]);
  for (size_t e = 0; e < gk.size(); ++e) dkp[e] = T(gk[e]);
  for (int64_t a = 0; a < A; ++a) dv[a] = T(gv[a]);
}

template void additive_score_forward<float>(const float*, const float*, const float*, float*, int64_t, int64_t,
                                            int64_t, int64_t);
template void additive_score_forward<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                             int64_t, int64_t);
template void additive_score_backward<float>(const float*, const float*, const float*, const float*, float*, float*,
                                             float*, int64_t, int64_t, int64_t, int64_t);
template void additive_score_backward<double>(const double*, const double*, const double*, const double*, double*,
                                              double*, double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace seqnn::kernels::ref
