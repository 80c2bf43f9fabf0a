// kernels/cpu/seq2seq_attention.cpp: the additive score of the encoder-decoder models with the
// vectorised tanh (see kernels/seq2seq_attention.h for the equations).
#include "kernels/seq2seq_attention.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {
// Rows per task: ~32K tanh evaluations each.
int64_t grain_rows(int64_t per_row) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_row)); }

// t (Lk,A) = tanh(q (A) + k (Lk,A)), vtanh over the whole block.
template <class T>
void tanh_block(const T* q, const T* k, T* t, int64_t Lk, int64_t A) {
  for (int64_t j = 0; j < Lk; ++j) {
    const T* kj = k + j * A;
    T* tj = t + j * A;
    for (int64_t a = 0; a < A; ++a) tj[a] = q[a] + kj[a];
  }
  vtanh(t, t, Lk * A);
}

// x . y with 8 independent partial sums (a plain `acc +=` loop does not vectorise without
// reassociation).
template <class T>
T dot(const T* x, const T* y, int64_t n) {
  T part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t a = 0;
  for (; a + 8 <= n; a += 8)
    for (int k = 0; k < 8; ++k) part[k] += x[a + k] * y[a + k];
  T acc = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; a < n; ++a) acc += x[a] * y[a];
  return acc;
}
}  // namespace

template <class T>
void seq2seq_additive_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk,
                              int64_t A, const int64_t* key_len) {
  parallel_for(B * Lq, grain_rows(Lk * A), [&](int64_t r0, int64_t r1) {
    std::vector<T> t(static_cast<size_t>(Lk * A));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / Lq, n = key_len ? std::clamp<int64_t>(key_len[b], 0, Lk) : Lk;
      tanh_block(qp + r * A, kp + b * Lk * A, t.data(), n, A);
      for (int64_t j = 0; j < n; ++j) s[r * Lk + j] = dot(v, t.data() + j * A, A);  // S_ij = v . t_j
      std::fill(s + r * Lk + n, s + (r + 1) * Lk, T(0));
    }
  });
}

template <class T>
void seq2seq_additive_backward(const T* qp, const T* kp, const T* v, const T* ds, T* dqp, T* dkp, T* dv, int64_t B,
                               int64_t Lq, int64_t Lk, int64_t A, const int64_t* key_len) {
  std::fill(dv, dv + A, T(0));
  std::mutex mu;
  // One batch row b per unit: dkp[b] sums over its own queries only, so rows never collide.
  parallel_for(B, grain_rows(Lq * Lk * A), [&](int64_t b0, int64_t b1) {
    std::vector<T> t(static_cast<size_t>(Lk * A)), gv(static_cast<size_t>(A), T(0));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = key_len ? std::clamp<int64_t>(key_len[b], 0, Lk) : Lk;
      T* gk = dkp + b * Lk * A;
      std::fill(gk, gk + Lk * A, T(0));
      for (int64_t i = 0; i < Lq; ++i) {
        const int64_t r = b * Lq + i;
        T* gq = dqp + r * A;
        std::fill(gq, gq + A, T(0));
        tanh_block(qp + r * A, kp + b * Lk * A, t.data(), n, A);
        for (int64_t j = 0; j < n; ++j) {
          const T g = ds[r * Lk + j];
          if (g == T(0)) continue;  // padded keys (weight 0) cost nothing
          const T* tj = t.data() + j * A;
          T* gkj = gk + j * A;
          for (int64_t a = 0; a < A; ++a) {
            const T ua = g * v[a] * (T(1) - tj[a] * tj[a]);  // u = dS v (1 - t^2)
            gq[a] += ua;
            gkj[a] += ua;
            gv[a] += g * tj[a];
          }
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (int64_t a = 0; a < A; ++a) dv[a] += gv[a];
  });
}

template void seq2seq_additive_forward<float>(const float*, const float*, const float*, float*, int64_t, int64_t,
                                              int64_t, int64_t, const int64_t*);
template void seq2seq_additive_forward<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                               int64_t, int64_t, const int64_t*);
template void seq2seq_additive_backward<float>(const float*, const float*, const float*, const float*, float*, float*,
                                               float*, int64_t, int64_t, int64_t, int64_t, const int64_t*);
template void seq2seq_additive_backward<double>(const double*, const double*, const double*, const double*, double*,
                                                double*, double*, int64_t, int64_t, int64_t, int64_t, const int64_t*);

}  // namespace seqnn::kernels
