// kernels/attention.h (internal): fused scaled-dot-product attention on raw pointers.
//
// One problem: per batch b < B and head n < N, Q (Lq,D), K (Lk,D), V (Lk,Dv), read through
// element strides per batch, head and row (the last dim contiguous):
//   S_ij = scale q_i.k_j + A_ij               A = additive mask (0 without one)
//   allowed(i,j) = lo_i <= j < hi_i (causal / window / key length)  and  j in graph row i
//                  and  !bool_mask_ij  and  A_ij != -inf
//   lse_i = log sum_{allowed j} exp(S_ij)      (-inf for a row with no allowed key)
//   P_ij  = allowed ? exp(S_ij - lse_i) : 0    W = P * keep / (1-p)   (dropout; W = P when p=0)
//   O_i   = sum_j W_ij v_j                      (0 for a row with no allowed key)
// Backward, with dO and an optional dW (the gradient arriving through the returned weights):
//   Dl_i = rowsum(dO_i * O_i) + rowsum(W_i * dW_i)
//   dV = W^T dO      dP = (dO V^T + dW) * keep/(1-p)      dS = P * (dP - Dl)
//   dQ = scale dS K  dK = scale dS^T Q     dA = dS (float mask gradient, full (B,N,Lq,Lk))
// Rows with no allowed key have P = 0, hence zero output and zero gradients.
//
// Dropout keeps (b,n,i,j) when hash(seed, ((b N + n) Lq + i) Lk + j) >= p (a counter hash: no
// stored mask, the backward regenerates it). ref:: and the fast kernel share dropout_keep().
#pragma once

#include <algorithm>
#include <cstdint>

namespace seqnn::kernels {

template <class T>
struct AttentionProblem {
  int64_t B = 0, N = 0, Lq = 0, Lk = 0, D = 0, Dv = 0;
  // q: (B,N,Lq,D)  k: (B,N,Lk,D)  v: (B,N,Lk,Dv), strides in elements per batch / head / row
  const T* q = nullptr;
  int64_t q_sb = 0, q_sn = 0, q_sl = 0;
  const T* k = nullptr;
  int64_t k_sb = 0, k_sn = 0, k_sl = 0;
  const T* v = nullptr;
  int64_t v_sb = 0, v_sn = 0, v_sl = 0;
  T scale = 1;
  // structural masks
  bool causal = false;
  bool window = false;
  int64_t window_left = 0, window_right = 0;
  int64_t offset = 0;                    // 0 (top-left) or Lk - Lq (bottom-right)
  const int64_t* key_lengths = nullptr;  // (B) or null
  const int64_t* indptr = nullptr;       // (Lq+1) CSR, or null (no graph)
  const int64_t* indices = nullptr;      // (E)
  // dense masks, broadcast strides (0 on broadcast dims) per b / n / i / j
  const bool* mask_bool = nullptr;  // true = not allowed
  const T* mask_add = nullptr;      // added to S
  int64_t m_sb = 0, m_sn = 0, m_sq = 0, m_sk = 0;
  // dropout (p = 0: none)
  double dropout_p = 0;
  uint64_t seed = 0;
};

// [lo, hi): the keys that causal / window / key length leave for query i of batch b (lo == hi:
// none). Shared by the tiled and the short-key kernel (the reference tests each (i, j) on its own).
// Key lengths are
// clamped to [0, Lk] (the op validates them; a kernel never reads past Lk either way).
template <class T>
inline void row_range(const AttentionProblem<T>& pr, int64_t b, int64_t i, int64_t& lo, int64_t& hi) {
  lo = 0;
  hi = pr.key_lengths ? std::clamp<int64_t>(pr.key_lengths[b], 0, pr.Lk) : pr.Lk;
  if (pr.causal) hi = std::min(hi, i + pr.offset + 1);
  if (pr.window) {
    lo = std::max(lo, i + pr.offset - pr.window_left);
    hi = std::min(hi, i + pr.offset + pr.window_right + 1);
  }
  if (lo > hi) lo = hi;
}

// Counter-based keep decision for dropout element `idx` (splitmix64 finaliser on seed ^ idx):
// uniform u in [0,1) from the top 53 bits, kept when u >= p.
inline bool dropout_keep(uint64_t seed, uint64_t idx, double p) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (idx + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53 >= p;
}

// Forward. o: (B,N,Lq,Dv) contiguous; lse: (B,N,Lq); w: (B,N,Lq,Lk) contiguous or null (the
// returned weights W, written only when non-null).
template <class T>
void attention_forward(const AttentionProblem<T>& pr, T* o, T* lse, T* w);

// Backward. do_, o: (B,N,Lq,Dv) contiguous; lse: (B,N,Lq); dw: (B,N,Lq,Lk) or null;
// dq: (B,N,Lq,D), dk: (B,N,Lk,D), dv: (B,N,Lk,Dv) contiguous, overwritten; dmask: (B,N,Lq,Lk)
// contiguous or null (overwritten with dS where allowed, 0 elsewhere).
template <class T>
void attention_backward(const AttentionProblem<T>& pr, const T* do_, const T* o, const T* lse, const T* dw, T* dq,
                        T* dk, T* dv, T* dmask);

namespace detail {
// Short key sets and narrow heads, float32 on AVX-512 (kernels/cpu/attention_short.cpp), the
// path attention_forward / attention_backward take when attention_short_ok(pr): Lk, D, Dv in
// [1, 64], Lq <= 4096, no graph, no dense mask (so no mask gradient), no dropout. The forward
// and the backward of one problem must take the same path: a row with one key has P == 1
// exactly only when both compute S the same way (exact_one_ds). One call per head (b, n); `scratch` holds attention_short_scratch(pr) floats (per
// thread). The forward writes o, lse (and w when non-null) rows of that head; the backward
// overwrites the head's dq, dk, dv rows.
inline constexpr int64_t kShortAttentionMaxL = 64;
inline constexpr int64_t kShortAttentionMaxLq = 4096;
bool attention_short_ok(const AttentionProblem<float>& pr);
int64_t attention_short_scratch(const AttentionProblem<float>& pr);
void attention_short_forward_head(const AttentionProblem<float>& pr, int64_t b, int64_t n, float* o, float* lse,
                                  float* w, float* scratch);
void attention_short_backward_head(const AttentionProblem<float>& pr, int64_t b, int64_t n, const float* do_,
                                   const float* o, const float* lse, const float* dw, float* dq, float* dk,
                                   float* dv, float* scratch);
}  // namespace detail

namespace ref {
// The naive O(Lq Lk) reference: materialises S and P per head, plain loops. Same contract.
template <class T>
void attention_forward(const AttentionProblem<T>& pr, T* o, T* lse, T* w);
template <class T>
void attention_backward(const AttentionProblem<T>& pr, const T* do_, const T* o, const T* lse, const T* dw, T* dq,
                        T* dk, T* dv, T* dmask);
}  // namespace ref

}  // namespace seqnn::kernels
