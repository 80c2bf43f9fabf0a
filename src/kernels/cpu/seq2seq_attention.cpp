// kernels/cpu/seq2seq_attention.cpp: the additive score of the encoder-decoder models with the
// vectorised tanh (see kernels/seq2seq_attention.h for the equations).
#include "kernels/seq2seq_attention.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "kernels/cpu/isa_dispatch.h"
#include "kernels/parallel.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {
// Rows per task: ~32K tanh evaluations each.
int64_t grain_rows(int64_t per_row) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_row)); }

// t (Lk,A) = tanh(q (A) + k (Lk,A)) over the whole block: float with vtanh_fast (the forward's
// tanh, so backward recomputes the same t), double with std::tanh.
inline void tanh_inplace(float* t, int64_t n) { vtanh_fast(t, t, n); }
inline void tanh_inplace(double* t, int64_t n) { vtanh(t, t, n); }
template <class T>
void tanh_block(const T* q, const T* k, T* t, int64_t Lk, int64_t A) {
  for (int64_t j = 0; j < Lk; ++j) {
    const T* kj = k + j * A;
    T* tj = t + j * A;
    for (int64_t a = 0; a < A; ++a) tj[a] = q[a] + kj[a];
  }
  tanh_inplace(t, Lk * A);
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

// ------------------------------------------------------------ forward, float: fused
// Each group of G <= 4 query rows that share their keys (the Lq rows of one batch row, or the
// beams of one source when decoding) walks the keys once: per key j and 16 lanes of a,
// k_ja is loaded once and S_gj += v_a tanh(q_ga + k_ja) for the G rows, in registers (no t
// buffer, no separate add / tanh / dot passes over it). tanh is vm::tanh_fast (2.5 ulps, a
// quarter cheaper; a score sums A such terms, so its rounding is the sum's, not the tanh's).
struct AdditiveRows {
  template <int G>
  [[gnu::always_inline]] static inline void group(const float* const* q, const float* k, const float* v,
                                                  float* const* s, int64_t n, int64_t A) {
    const float* q0 = q[0];
    const float* q1 = q[G > 1 ? 1 : 0];
    const float* q2 = q[G > 2 ? 2 : 0];
    const float* q3 = q[G > 3 ? 3 : 0];
    for (int64_t j = 0; j < n; ++j) {
      const float* kj = k + j * A;
      float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
      for (int64_t a = 0; a < A; ++a) {
        const float kv = kj[a], va = v[a];
        a0 += va * vm::tanh_fast(q0[a] + kv);
        if constexpr (G > 1) a1 += va * vm::tanh_fast(q1[a] + kv);
        if constexpr (G > 2) a2 += va * vm::tanh_fast(q2[a] + kv);
        if constexpr (G > 3) a3 += va * vm::tanh_fast(q3[a] + kv);
      }
      s[0][j] = a0;
      if constexpr (G > 1) s[1][j] = a1;
      if constexpr (G > 2) s[2][j] = a2;
      if constexpr (G > 3) s[3][j] = a3;
    }
  }

  // Query rows [r0, r1) of (B*Lq): row r = (b, i) scores keys kp[key_row[b]] (or kp[b]).
  [[gnu::always_inline]] static inline void run(const float* qp, const float* kp, const float* v, float* s,
                                                int64_t r0, int64_t r1, int64_t Lq, int64_t Lk, int64_t A,
                                                const int64_t* key_len, const int64_t* key_row) {
    int64_t r = r0;
    while (r < r1) {
      const int64_t b = r / Lq, kb = key_row ? key_row[b] : b;
      const int64_t n = key_len ? std::clamp<int64_t>(key_len[b], 0, Lk) : Lk;
      // the run of following rows with the same keys and length, at most 4
      int64_t g = 1;
      while (g < 4 && r + g < r1) {
        const int64_t b2 = (r + g) / Lq;
        if (b2 != b && ((key_row ? key_row[b2] : b2) != kb ||
                        (key_len ? std::clamp<int64_t>(key_len[b2], 0, Lk) : Lk) != n))
          break;
        ++g;
      }
      const float* q[4];
      float* out[4];
      for (int64_t u = 0; u < g; ++u) {
        q[u] = qp + (r + u) * A;
        out[u] = s + (r + u) * Lk;
        std::fill(out[u] + n, out[u] + Lk, 0.0f);
      }
      const float* k = kp + kb * Lk * A;
      switch (g) {
        case 4: group<4>(q, k, v, out, n, A); break;
        case 3: group<3>(q, k, v, out, n, A); break;
        case 2: group<2>(q, k, v, out, n, A); break;
        default: group<1>(q, k, v, out, n, A); break;
      }
      r += g;
    }
  }
};

void additive_forward_rows(const float* qp, const float* kp, const float* v, float* s, int64_t B, int64_t Lq,
                           int64_t Lk, int64_t A, const int64_t* key_len, const int64_t* key_row) {
  parallel_for(B * Lq, grain_rows(Lk * A), [&](int64_t r0, int64_t r1) {
    isa::dispatch<AdditiveRows>(qp, kp, v, s, r0, r1, Lq, Lk, A, key_len, key_row);
  });
}

// ------------------------------------------------------------ forward, double: tanh per block
void additive_forward_rows(const double* qp, const double* kp, const double* v, double* s, int64_t B, int64_t Lq,
                           int64_t Lk, int64_t A, const int64_t* key_len, const int64_t* key_row) {
  parallel_for(B * Lq, grain_rows(Lk * A), [&](int64_t r0, int64_t r1) {
    std::vector<double> t(static_cast<size_t>(Lk * A));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / Lq, kb = key_row ? key_row[b] : b;
      const int64_t n = key_len ? std::clamp<int64_t>(key_len[b], 0, Lk) : Lk;
      tanh_block(qp + r * A, kp + kb * Lk * A, t.data(), n, A);
      for (int64_t j = 0; j < n; ++j) s[r * Lk + j] = dot(v, t.data() + j * A, A);  // S_ij = v . t_j
      std::fill(s + r * Lk + n, s + (r + 1) * Lk, 0.0);
    }
  });
}
}  // namespace

template <class T>
void seq2seq_additive_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk,
                              int64_t A, const int64_t* key_len, const int64_t* key_row) {
  additive_forward_rows(qp, kp, v, s, B, Lq, Lk, A, key_len, key_row);
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
                                              int64_t, int64_t, const int64_t*, const int64_t*);
template void seq2seq_additive_forward<double>(const double*, const double*, const double*, double*, int64_t, int64_t,
                                               int64_t, int64_t, const int64_t*, const int64_t*);
template void seq2seq_additive_backward<float>(const float*, const float*, const float*, const float*, float*, float*,
                                               float*, int64_t, int64_t, int64_t, int64_t, const int64_t*);
template void seq2seq_additive_backward<double>(const double*, const double*, const double*, const double*, double*,
                                                double*, double*, int64_t, int64_t, int64_t, int64_t, const int64_t*);

}  // namespace seqnn::kernels
