// seqnn/nn/linear_attention.h: "Transformers are RNNs" (Katharopoulos et al. 2020; seed 004).
//
// Per head (d = E / num_heads), feature map phi(x) = elu(x) + 1 > 0, eps = 1e-6:
//   q_i = W_q x_i + b_q,  k_j = W_k y_j + b_k,  v_j = W_v z_j + b_v      (q/k/v projections)
//   O_i = phi(q_i)^T S / (phi(q_i)^T Z + eps)
//     non-causal:  S = sum_j phi(k_j) v_j^T  (d,d),  Z = sum_j phi(k_j)  (d)      O(L d^2)
//     causal:      S_i = sum_{j<=i} phi(k_j) v_j^T,  Z_i = sum_{j<=i} phi(k_j)
//   out_i = W_o concat_heads(O_i) + b_o
// Masked (any AttentionMask, causal included), the same quantity over the allowed keys:
//   O_i = sum_{allowed j} (phi(q_i).phi(k_j)) v_j / (sum_{allowed j} phi(q_i).phi(k_j) + eps)
// computed in the quadratic parallel form; a row with no allowed key gives O_i = 0 (0 / eps).
// The recurrent form, for decoding one position at a time (equals the causal form):
//   S <- S + phi(k_t) v_t^T,  Z <- Z + phi(k_t),  O_t = phi(q_t)^T S / (phi(q_t)^T Z + eps)
#pragma once

#include <memory>

#include "seqnn/attention.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/module.h"

namespace seqnn::nn {

class LinearAttentionOptions {
 public:
  LinearAttentionOptions(int64_t embed_dim, int64_t num_heads) : embed_dim_(embed_dim), num_heads_(num_heads) {}
  LinearAttentionOptions& embed_dim(int64_t v) { embed_dim_ = v; return *this; }
  LinearAttentionOptions& num_heads(int64_t v) { num_heads_ = v; return *this; }
  LinearAttentionOptions& bias(bool v) { bias_ = v; return *this; }
  LinearAttentionOptions& eps(double v) { eps_ = v; return *this; }
  LinearAttentionOptions& dtype(DType v) { dtype_ = v; return *this; }
  int64_t embed_dim() const { return embed_dim_; }
  int64_t num_heads() const { return num_heads_; }
  bool bias() const { return bias_; }
  double eps() const { return eps_; }
  DType dtype() const { return dtype_; }

 private:
  int64_t embed_dim_, num_heads_;
  bool bias_ = true;
  double eps_ = 1e-6;
  DType dtype_ = DType::F32;
};

// The recurrent state of one sequence batch: S (B,N,d,d), Z (B,N,d); undefined = zeros.
struct LinearAttentionState {
  Tensor S;
  Tensor Z;
  int64_t steps = 0;
};

// Children "q_proj", "k_proj", "v_proj", "out_proj" (Linear(E,E) each, PyTorch's Linear init).
class LinearAttention : public Module {
 public:
  explicit LinearAttention(const LinearAttentionOptions& options, Generator* gen = nullptr);
  // query (B,Lq,E), key/value (B,Lk,E) -> (B,Lq,E). causal = the causal form (Lq == Lk).
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value, bool causal = false);
  // The masked form (quadratic), for any AttentionMask.
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value, const AttentionMask& mask);
  // Self-attention convenience: forward(x, x, x, causal).
  Tensor forward(const Tensor& x) override { return forward(x, x, x, false); }
  // One decoding step: x_t (B,E) used as query, key and value; state updated in place.
  Tensor step(const Tensor& x_t, LinearAttentionState& state);
  // One step with separate inputs (B,E) each.
  Tensor step(const Tensor& q_t, const Tensor& k_t, const Tensor& v_t, LinearAttentionState& state);
  const LinearAttentionOptions& options() const { return options_; }
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, out_proj;

 private:
  void check_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const char* op) const;
  LinearAttentionOptions options_;
};

}  // namespace seqnn::nn
