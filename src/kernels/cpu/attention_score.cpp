// kernels/cpu/attention_score.cpp: the additive score without the (B,Lq,Lk,A) tensor, and the
// rotary rotation.
//
//   S[b,i,j] = sum_a v[a] tanh(qp[b,i,a] + kp[b,j,a])
// Forward: one (b,i) row per task, the a-loop innermost (contiguous rows of qp and kp).
// Backward recomputes t = tanh(qp + kp) instead of storing it (O(B*(Lq+Lk)*A) memory):
//   pass 1, per (b,i):  dqp[b,i,a] = sum_j dS_ij v_a (1 - t^2);   dv[a] += sum_j dS_ij t (per thread)
//   pass 2, per (b,j):  dkp[b,j,a] = sum_i dS_ij v_a (1 - t^2)
#include <cmath>
#include <mutex>
#include <vector>

#include "kernels/attention_score.h"
#include "kernels/parallel.h"

namespace seqnn::kernels {

namespace {
// Rows per task: ~32K tanh evaluations each.
int64_t grain_rows(int64_t per_row) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_row)); }
}  // namespace

template <class T>
void additive_score_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk, int64_t A) {
  parallel_for(B * Lq, grain_rows(Lk * A), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / Lq;
      const T* q = qp + r * A;
      for (int64_t j = 0; j < Lk; ++j) {
        const T* k = kp + (b * Lk + j) * A;
        T acc = 0;
        for (int64_t a = 0; a < A; ++a) acc += v[a] * std::tanh(q[a] + k[a]);
        s[r * Lk + j] = acc;
      }
    }
  });
}

template <class T>
void additive_score_backward(const T* qp, const T* kp, const T* v, const T* ds, T* dqp, T* dkp, T* dv, int64_t B,
                             int64_t Lq, int64_t Lk, int64_t A) {
  for (int64_t a = 0; a < A; ++a) dv[a] = 0;
  std::mutex mu;
  // pass 1: rows (b,i) -> dqp, dv
  parallel_for(B * Lq, grain_rows(Lk * A), [&](int64_t r0, int64_t r1) {
    std::vector<T> gv(A, T(0));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / Lq;
      const T* q = qp + r * A;
      T* gq = dqp + r * A;
      for (int64_t a = 0; a < A; ++a) gq[a] = 0;
      for (int64_t j = 0; j < Lk; ++j) {
        const T g = ds[r * Lk + j];
        if (g == T(0)) continue;
        const T* k = kp + (b * Lk + j) * A;
        for (int64_t a = 0; a < A; ++a) {
          const T t = std::tanh(q[a] + k[a]);
          gq[a] += g * v[a] * (T(1) - t * t);
          gv[a] += g * t;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (int64_t a = 0; a < A; ++a) dv[a] += gv[a];
  });
  // pass 2: key rows (b,j) -> dkp
  parallel_for(B * Lk, grain_rows(Lq * A), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / Lk, j = r % Lk;
      const T* k = kp + r * A;
      T* gk = dkp + r * A;
      for (int64_t a = 0; a < A; ++a) gk[a] = 0;
      for (int64_t i = 0; i < Lq; ++i) {
        const T g = ds[(b * Lq + i) * Lk + j];
        if (g == T(0)) continue;
        const T* q = qp + (b * Lq + i) * A;
        for (int64_t a = 0; a < A; ++a) {
          const T t = std::tanh(q[a] + k[a]);
          gk[a] += g * v[a] * (T(1) - t * t);
        }
      }
    }
  });
}

// y = R(sign * angle) x on each pair (2m, 2m+1) of each row; rows r = (outer, l).
template <class T>
void rotary_apply(const T* x, T* y, const double* cs, const double* sn, int64_t R, int64_t L, int64_t D, int sign) {
  const int64_t H = D / 2;
  parallel_for(R * L, grain_rows(D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t l = r % L;
      const double* c = cs + l * H;
      const double* s = sn + l * H;
      const T* xr = x + r * D;
      T* yr = y + r * D;
      for (int64_t m = 0; m < H; ++m) {
        const T cm = T(c[m]), sm = T(sign * s[m]);
        const T x0 = xr[2 * m], x1 = xr[2 * m + 1];
        yr[2 * m] = x0 * cm - x1 * sm;
        yr[2 * m + 1] = x0 * sm + x1 * cm;
      }
    }
  });
}

template void additive_score_forward<float>(const float*, const float*, const float*, float*, int64_t, int64_t,
                                            int64_t, int64_t);
template void additive_score_forward<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                             int64_t, int64_t);
template void additive_score_backward<float>(const float*, const float*, const float*, const float*, float*, float*,
                                             float*, int64_t, int64_t, int64_t, int64_t);
template void additive_score_backward<double>(const double*, const double*, const double*, const double*, double*,
                                              double*, double*, int64_t, int64_t, int64_t, int64_t);
template void rotary_apply<float>(const float*, float*, const double*, const double*, int64_t, int64_t, int64_t, int);
template void rotary_apply<double>(const double*, double*, const double*, const double*, int64_t, int64_t, int64_t,
                                   int);

}  // namespace seqnn::kernels
