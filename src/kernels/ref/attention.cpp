// kernels/ref/attention.cpp: the naive O(Lq Lk) attention the fused kernel is tested against.
// Per head it materialises the allowed set, S, P and W with plain loops (see kernels/attention.h
// for the math).
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention.h"

namespace seqnn::kernels::ref {

namespace {

// allowed (Lq,Lk) and S (Lq,Lk) of head (b,n); S = -inf where not allowed.
template <class T>
void scores(const AttentionProblem<T>& pr, int64_t b, int64_t n, std::vector<uint8_t>& ok, std::vector<T>& s) {
  const int64_t Lq = pr.Lq, Lk = pr.Lk;
  ok.assign(static_cast<size_t>(Lq * Lk), 0);
  s.assign(static_cast<size_t>(Lq * Lk), -std::numeric_limits<T>::infinity());
  const T* q = pr.q + b * pr.q_sb + n * pr.q_sn;
  const T* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  for (int64_t i = 0; i < Lq; ++i) {
    for (int64_t j = 0; j < Lk; ++j) {
      bool a = true;
      if (pr.causal && j > i + pr.offset) a = false;
      if (pr.window && (j < i + pr.offset - pr.window_left || j > i + pr.offset + pr.window_right)) a = false;
      if (pr.key_lengths && j >= pr.key_lengths[b]) a = false;
      if (pr.indptr) {
        bool edge = false;
        for (int64_t e = pr.indptr[i]; e < pr.indptr[i + 1]; ++e) edge = edge || pr.indices[e] == j;
        a = a && edge;
      }
      const int64_t mo = b * pr.m_sb + n * pr.m_sn + i * pr.m_sq + j * pr.m_sk;
      if (pr.mask_bool && pr.mask_bool[mo]) a = false;
      T add = 0;
      if (pr.mask_add) {
        add = pr.mask_add[mo];
        if (std::isinf(add) && add < 0) a = false;
      }
      if (!a) continue;
      T dot = 0;
      for (int64_t d = 0; d < pr.D; ++d) dot += q[i * pr.q_sl + d] * k[j * pr.k_sl + d];
      ok[i * Lk + j] = 1;
      s[i * Lk + j] = pr.scale * dot + add;
    }
  }
}

// keep / (1-p) of element (b,n,i,j)
template <class T>
T drop_factor(const AttentionProblem<T>& pr, int64_t b, int64_t n, int64_t i, int64_t j) {
  if (pr.dropout_p <= 0) return T(1);
  const uint64_t idx = static_cast<uint64_t>(((b * pr.N + n) * pr.Lq + i) * pr.Lk + j);
  return dropout_keep(pr.seed, idx, pr.dropout_p) ? static_cast<T>(1.0 / (1.0 - pr.dropout_p)) : T(0);
}

// P (Lq,Lk) from S and the row lse: P = exp(S - lse) where allowed.
template <class T>
void probs(const AttentionProblem<T>& pr, const std::vector<uint8_t>& ok, const std::vector<T>& s, const T* lse,
           std::vector<T>& p) {
  p.assign(s.size(), T(0));
  for (int64_t i = 0; i < pr.Lq; ++i)
    for (int64_t j = 0; j < pr.Lk; ++j)
      if (ok[i * pr.Lk + j]) p[i * pr.Lk + j] = std::exp(s[i * pr.Lk + j] - lse[i]);
}

}  // namespace

// ==================================================================== forward
template <class T>
void attention_forward(const AttentionProblem<T>& pr, T* o, T* lse, T* w) {
  const int64_t Lq = pr.Lq, Lk = pr.Lk, Dv = pr.Dv;
  std::vector<uint8_t> ok;
  std::vector<T> s, p;
  for (int64_t b = 0; b < pr.B; ++b)
    for (int64_t n = 0; n < pr.N; ++n) {
      const int64_t h = b * pr.N + n;
      scores(pr, b, n, ok, s);
      T* lh = lse + h * Lq;
      // lse_i = m_i + log sum_j exp(S_ij - m_i) over allowed j
      for (int64_t i = 0; i < Lq; ++i) {
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t j = 0; j < Lk; ++j)
          if (ok[i * Lk + j] && s[i * Lk + j] > m) m = s[i * Lk + j];
        if (std::isinf(m) && m < 0) {
          lh[i] = m;
          continue;
        }
        T l = 0;
        for (int64_t j = 0; j < Lk; ++j)
          if (ok[i * Lk + j]) l += std::exp(s[i * Lk + j] - m);
        lh[i] = m + std::log(l);
      }
      probs(pr, ok, s, lh, p);
      const T* v = pr.v + b * pr.v_sb + n * pr.v_sn;
      T* oh = o + h * Lq * Dv;
      for (int64_t i = 0; i < Lq; ++i) {
        for (int64_t d = 0; d < Dv; ++d) oh[i * Dv + d] = 0;
        for (int64_t j = 0; j < Lk; ++j) {
          const T wij = p[i * Lk + j] * drop_factor(pr, b, n, i, j);
          if (w) w[(h * Lq + i) * Lk + j] = wij;
          if (wij == T(0)) continue;
          for (int64_t d = 0; d < Dv; ++d) oh[i * Dv + d] += wij * v[j * pr.v_sl + d];
        }
      }
    }
}

// ==================================================================== backward
template <class T>
void attention_backward(const AttentionProblem<T>& pr, const T* do_, const T* o, const T* lse, const T* dw, T* dq,
                        T* dk, T* dv, T* dmask) {
  const int64_t Lq = pr.Lq, Lk = pr.Lk, D = pr.D, Dv = pr.Dv;
  std::vector<uint8_t> ok;
  std::vector<T> s, p;
  for (int64_t b = 0; b < pr.B; ++b)
    for (int64_t n = 0; n < pr.N; ++n) {
      const int64_t h = b * pr.N + n;
      scores(pr, b, n, ok, s);
      probs(pr, ok, s, lse + h * Lq, p);
      const T* q = pr.q + b * pr.q_sb + n * pr.q_sn;
      const T* k = pr.k + b * pr.k_sb + n * pr.k_sn;
      const T* v = pr.v + b * pr.v_sb + n * pr.v_sn;
      const T* doh = do_ + h * Lq * Dv;
      const T* oh = o + h * Lq * Dv;
      T* dqh = dq + h * Lq * D;
      T* dkh = dk + h * Lk * D;
      T* dvh = dv + h * Lk * Dv;
      for (int64_t e = 0; e < Lq * D; ++e) dqh[e] = 0;
      for (int64_t e = 0; e < Lk * D; ++e) dkh[e] = 0;
      for (int64_t e = 0; e < Lk * Dv; ++e) dvh[e] = 0;
      for (int64_t i = 0; i < Lq; ++i) {
        // Dl_i = rowsum(dO_i O_i) + rowsum(W_i dW_i)
        T dl = 0;
        for (int64_t d = 0; d < Dv; ++d) dl += doh[i * Dv + d] * oh[i * Dv + d];
        if (dw)
          for (int64_t j = 0; j < Lk; ++j)
            dl += p[i * Lk + j] * drop_factor(pr, b, n, i, j) * dw[(h * Lq + i) * Lk + j];
        for (int64_t j = 0; j < Lk; ++j) {
          T* dm = dmask ? dmask + (h * Lq + i) * Lk + j : nullptr;
          if (dm) *dm = 0;
          const T pij = p[i * Lk + j];
          if (pij == T(0)) continue;
          const T f = drop_factor(pr, b, n, i, j);
          // dV_j += W_ij dO_i
          for (int64_t d = 0; d < Dv; ++d) dvh[j * Dv + d] += pij * f * doh[i * Dv + d];
          // dP_ij = (dO_i . v_j + dW_ij) keep/(1-p);  dS_ij = P_ij (dP_ij - Dl_i)
          T dp = 0;
          for (int64_t d = 0; d < Dv; ++d) dp += doh[i * Dv + d] * v[j * pr.v_sl + d];
          if (dw) dp += dw[(h * Lq + i) * Lk + j];
          const T ds = pij == T(1) ? T(0) : pij * (dp * f - dl);  // exact 0 at P == 1 (cpu: exact_one_ds)
          if (dm) *dm = ds;
          // dQ_i += scale dS_ij k_j;  dK_j += scale dS_ij q_i
          for (int64_t d = 0; d < D; ++d) {
            dqh[i * D + d] += pr.scale * ds * k[j * pr.k_sl + d];
            dkh[j * D + d] += pr.scale * ds * q[i * pr.q_sl + d];
          }
        }
      }
    }
}

template void attention_forward<float>(const AttentionProblem<float>&, float*, float*, float*);
template void attention_forward<double>(const AttentionProblem<double>&, double*, double*, double*);
template void attention_backward<float>(const AttentionProblem<float>&, const float*, const float*, const float*,
                                        const float*, float*, float*, float*, float*);
template void attention_backward<double>(const AttentionProblem<double>&, const double*, const double*,
                                         const double*, const double*, double*, double*, double*, double*);

}  // namespace seqnn::kernels::ref
