// seqnn/attention.h: the fused scaled-dot-product attention op and its structural masks.
//
// Per batch b and head n, with Q (Lq,D), K (Lk,D), V (Lk,Dv):
//   S_ij = scale * q_i . k_j + A_ij            scale = 1/sqrt(D) unless given; A = additive mask
//   allowed(i,j) = every mask below allows key j for query i (and A_ij != -inf)
//   P_ij = exp(S_ij - m_i) / sum_{allowed j'} exp(S_ij' - m_i)   over allowed j, else 0
//   O_i  = sum_j dropout(P)_ij v_j
// A query row with NO allowed key outputs zeros and passes zero gradient (PyTorch returns NaN
// there, pytorch/pytorch#41508); its returned weights are all zero.
//
// The kernel (src/kernels/cpu/attention.cpp) never forms the (Lq,Lk) matrix: it walks query
// blocks x key blocks with an online softmax (running max m_i and sum l_i per row, normalised
// at the end), so the extra memory is O(Lq) per head. Backward keeps the row log-sum-exp
// lse_i = m_i + log l_i, computes D_i = rowsum(dO_i * O_i) and recomputes P per tile:
//   dV = P^T dO      dP = dO V^T      dS = P * (dP - D)      dQ = scale dS K      dK = scale dS^T Q
// Key blocks that no allowed (i,j) of the query block can reach are never visited: causal costs
// about half of unmasked, a window of width w costs O(L*w), a graph O(edges).
//
// Masks (AttentionMask below) combine by intersection:
//   causal               j <= i + off
//   window(wl, wr)       i + off - wl <= j <= i + off + wr      (the notes' truncated attention)
//     off = 0 with MaskAlign::TopLeft (PyTorch's tril), Lk - Lq with BottomRight (the last query
//     sees the last key: decoding with a cache of earlier keys)
//   key_lengths (B)      j < len_b                              (padding; len_b may be 0)
//   graph (CSR)          j in indices[indptr[i] .. indptr[i+1])  (attention along edges only;
//                        one graph shared by the batch and heads; batch graphs block-diagonally)
//   dense                Bool: true = NOT allowed (PyTorch's attn_mask / key_padding_mask);
//                        float: added to S (-inf = not allowed); broadcastable to (B,N,Lq,Lk)
//
// Dropout (training only) drops P_ij with probability p and scales the kept by 1/(1-p), PyTorch's
// F.dropout on the attention weights. The keep decision is a counter-based hash of (seed, b, n,
// i, j) with the seed drawn from the generator, so backward regenerates it without storing it.
#pragma once

#include <cstdint>
#include <optional>

#include "seqnn/random.h"
#include "seqnn/tensor.h"

namespace seqnn {

enum class MaskAlign { TopLeft, BottomRight };

// Builder-style description of which keys each query may attend to. Setters validate what they
// can on their own (negative window widths, dtypes, ranks) and throw seqnn::Error; the shapes
// against a particular (B,N,Lq,Lk) are checked by validate().
class AttentionMask {
 public:
  AttentionMask() = default;

  AttentionMask& causal(bool v = true);
  // Keys within [i + off - left, i + off + right]; both >= 0 (Error otherwise).
  AttentionMask& window(int64_t left, int64_t right);
  AttentionMask& align(MaskAlign v);
  // I64 (B): keys j >= key_lengths[b] are masked for batch row b.
  AttentionMask& key_lengths(Tensor v);
  // CSR adjacency over query rows: indptr I64 (Lq+1), non-decreasing from 0 to E; indices I64
  // (E), key ids in [0, Lk). Duplicate edges count once.
  AttentionMask& graph(Tensor indptr, Tensor indices);
  // Bool (true = masked) or F32/F64 additive; any shape broadcastable to (B,N,Lq,Lk).
  AttentionMask& dense(Tensor v);

  bool is_causal() const { return causal_; }
  std::optional<int64_t> window_left() const { return window_left_; }
  std::optional<int64_t> window_right() const { return window_right_; }
  MaskAlign alignment() const { return align_; }
  const Tensor& key_lengths() const { return key_lengths_; }
  const Tensor& graph_indptr() const { return graph_indptr_; }
  const Tensor& graph_indices() const { return graph_indices_; }
  const Tensor& dense() const { return dense_; }
  // No mask at all: every key allowed.
  bool empty() const;

  // Throws Error naming `op` unless every part fits (B,N,Lq,Lk): key_lengths (B) in [0,Lk],
  // indptr (Lq+1) non-decreasing 0..E, indices in [0,Lk), dense broadcastable.
  void validate(int64_t B, int64_t N, int64_t Lq, int64_t Lk, const char* op) const;

  // The mask as dense tensors, for the naive paths (scoring rules other than dot, tests):
  //   allowed(...)  Bool (B,N,Lq,Lk): true where key j is allowed for query i (a -inf in a
  //                 float dense mask counts as not allowed)
  //   additive(...) (B,N,Lq,Lk) of dtype dt: the float dense mask's values where allowed, else
  //                 -inf; all zeros/-inf when there is no float dense mask
  // Both validate first. O(B*N*Lq*Lk) memory: never used by the fused kernel.
  Tensor allowed(int64_t B, int64_t N, int64_t Lq, int64_t Lk) const;
  Tensor additive(int64_t B, int64_t N, int64_t Lq, int64_t Lk, DType dt) const;

 private:
  bool causal_ = false;
  std::optional<int64_t> window_left_;
  std::optional<int64_t> window_right_;
  MaskAlign align_ = MaskAlign::TopLeft;
  Tensor key_lengths_;
  Tensor graph_indptr_;
  Tensor graph_indices_;
  Tensor dense_;
};

struct SDPAOptions {
  std::optional<double> scale;   // default 1/sqrt(D)
  double dropout_p = 0.0;        // applied only when training
  bool training = false;
  Generator* generator = nullptr;  // for the dropout seed; default_generator() when null
  bool need_weights = false;     // also return P (after dropout, as PyTorch's MHA does)
};

struct SDPAResult {
  Tensor output;   // (B,N,Lq,Dv)
  Tensor weights;  // (B,N,Lq,Lk) when need_weights, else undefined
};

// q (B,N,Lq,D), k (B,N,Lk,D), v (B,N,Lk,Dv), one floating dtype (F32 or F64). Inputs whose last
// dimension is contiguous are read in place through their strides (so the per-head views of a
// (L,B,E) projection cost no copy). Differentiable in q, k, v, a float dense mask, and through
// the returned weights. Shapes, masks and options are checked: seqnn::Error naming
// "scaled_dot_product_attention" with expected and actual shapes.
SDPAResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const AttentionMask& mask = AttentionMask(),
                                        const SDPAOptions& options = SDPAOptions());

}  // namespace seqnn
