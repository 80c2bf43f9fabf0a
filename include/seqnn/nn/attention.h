// seqnn/nn/attention.h: attention as three reusable steps (seed 002, seed 004): a scoring rule
// alpha(q, k), a normalisation alpha -> alpha', and the weighted sum of the values.
//
// Scoring rules, one module each, all with score(q (B,Lq,Dq), k (B,Lk,Dk)) -> S (B,Lq,Lk):
//   Dot          S_ij = q_i . k_j                                   (Dq == Dk)
//   ScaledDot    S_ij = q_i . k_j / sqrt(d)     d = Dk (or a given scale)       (Dq == Dk)
//   General      S_ij = q_i^T W k_j             W: (Dq,Dk)   (Luong's "general", bilinear)
//   Additive     S_ij = v^T tanh(W_q q_i + W_k k_j + b)   W_q (A,Dq), W_k (A,Dk), b (A), v (A)
//                (Bahdanau; seed 002's "concat, linear, tanh, sum" rule: W [q;k] = W_q q + W_k k)
//                computed without the (B,Lq,Lk,A) tensor: a dedicated op walks (i, j) pairs and
//                keeps only S; backward recomputes tanh per pair.
//   ConcatLinear S_ij = w^T [q_i; k_j] + c = w_q . q_i + w_k . k_j + c     w (1,Dq+Dk), c (1)
//                (seed 002's first rule; note that under softmax the w_q . q_i + c part is the
//                same for every key of a row and cancels: the weights depend on the keys only)
//
// Normalisation over the allowed keys of each query row (AttentionMask, seqnn/attention.h):
//   Softmax      alpha'_ij = exp(S_ij + A_ij) / sum_{allowed j'} exp(S_ij' + A_ij')   allowed j
//   ReLU         alpha'_ij = max(0, S_ij + A_ij)                                         allowed j
//                (seed 004: "replace the softmax by ReLU"; element-wise, NOT renormalised:
//                the weights of a row need not sum to 1)
//   alpha'_ij = 0 for every key j that is not allowed; A is the float dense mask (0 without).
//   A row with no allowed key has all-zero weights, outputs 0 and passes zero gradient.
// Weighted sum: out_i = sum_j alpha'_ij v_j  (v (B,Lk,Dv)) -> out (B,Lq,Dv).
//
// Attn (seed 002's decoder-side attention mechanism, a seq2seq building block):
//   weights = softmax(score(Q, K)),  applied = weights V  (bmm),
//   output  = attn_combine([Q ; applied])    Linear(Dq + Dv -> output_size)
//   (optionally tanh(output), Luong's attentional hidden state; the notes' Attn has no tanh,
//   so it is off by default).
//
// SelfAttention (seed 004, exactly its matrix form, column layout: one column per position):
//   I = [a^1 ... a^L]   (E,L)
//   Q = W^q I (Dk,L),  K = W^k I (Dk,L),  V = W^v I (Dv,L)
//   A = K^T Q (L_keys, L_queries),  A' = normalise each COLUMN of A (over the keys)
//   O = V A' (Dv,L)     b^i = O[:, i] = sum_j A'_ji v^j
// The user-facing forward takes x (B,L,E) (rows = positions, x = I^T) and returns O^T (B,L,Dv)
// and the weights A'^T (B,Lq,Lk) (row i = query i). In row-major terms: Q^T = x W^q^T (a Linear
// with weight W^q), A^T = Q^T K / s, O^T = A'^T V^T: with scaling 1/sqrt(Dk) and softmax this is
// scaled_dot_product_attention(x W^q^T, x W^k^T, x W^v^T) with one head. The notes' A has no
// 1/sqrt(d); that is the default here (scaled(false)), the Transformer's form is scaled(true).
//
// Rotary position (seqnn/nn/positional.h) can be applied to q and k before scoring, for the
// rules that compare q and k position by position (Dot, ScaledDot, General).
#pragma once

#include <memory>
#include <optional>

#include "seqnn/attention.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/module.h"
#include "seqnn/random.h"

namespace seqnn::nn {

enum class ScoreKind { Dot, ScaledDot, General, Additive, ConcatLinear };
enum class Normalization { Softmax, ReLU };

// "dot", "scaled_dot", "general", "additive", "concat"; "softmax", "relu".
const char* score_kind_name(ScoreKind k);
const char* normalization_name(Normalization n);

// ==================================================================== scoring rules
class ScoreOptions {
 public:
  ScoreOptions(ScoreKind kind, int64_t query_dim, int64_t key_dim)
      : kind_(kind), query_dim_(query_dim), key_dim_(key_dim) {}
  ScoreOptions& kind(ScoreKind v) { kind_ = v; return *this; }
  ScoreOptions& query_dim(int64_t v) { query_dim_ = v; return *this; }
  ScoreOptions& key_dim(int64_t v) { key_dim_ = v; return *this; }
  // Additive: A, the width of the tanh layer (default: key_dim).
  ScoreOptions& hidden_size(int64_t v) { hidden_size_ = v; return *this; }
  // Additive: the bias b; ConcatLinear: the bias c.
  ScoreOptions& bias(bool v) { bias_ = v; return *this; }
  // ScaledDot: the factor (default 1/sqrt(key_dim)).
  ScoreOptions& scale(std::optional<double> v) { scale_ = v; return *this; }
  ScoreOptions& dtype(DType v) { dtype_ = v; return *this; }
  ScoreKind kind() const { return kind_; }
  int64_t query_dim() const { return query_dim_; }
  int64_t key_dim() const { return key_dim_; }
  int64_t hidden_size() const { return hidden_size_ > 0 ? hidden_size_ : key_dim_; }
  bool bias() const { return bias_; }
  std::optional<double> scale() const { return scale_; }
  DType dtype() const { return dtype_; }

 private:
  ScoreKind kind_;
  int64_t query_dim_;
  int64_t key_dim_;
  int64_t hidden_size_ = 0;
  bool bias_ = true;
  std::optional<double> scale_;
  DType dtype_ = DType::F32;
};

// The common interface. score() checks q (B,Lq,Dq) and k (B,Lk,Dk) (Error naming the module).
class Score : public Module {
 public:
  Score(std::string name, const ScoreOptions& options) : Module(std::move(name)), options_(options) {}
  virtual Tensor score(const Tensor& q, const Tensor& k) = 0;
  const ScoreOptions& options() const { return options_; }

 protected:
  void check_inputs(const Tensor& q, const Tensor& k) const;
  ScoreOptions options_;
};

class DotScore : public Score {  // "DotScore"
 public:
  explicit DotScore(const ScoreOptions& options);
  Tensor score(const Tensor& q, const Tensor& k) override;
};

class ScaledDotScore : public Score {  // "ScaledDotScore"
 public:
  explicit ScaledDotScore(const ScoreOptions& options);
  Tensor score(const Tensor& q, const Tensor& k) override;
  double scale() const;
};

// Parameter "weight" (Dq,Dk) ~ U(-1/sqrt(Dk), 1/sqrt(Dk)) (a Linear(Dk -> Dq)'s bound).
class GeneralScore : public Score {
 public:
  explicit GeneralScore(const ScoreOptions& options, Generator* gen = nullptr);
  Tensor score(const Tensor& q, const Tensor& k) override;
  Tensor weight;  // (Dq, Dk)
};

// Parameters "W_q" (A,Dq), "W_k" (A,Dk), "bias" (A) [bias(true)], "v" (A), each
// ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as a Linear (fan_in Dq, Dk, Dk, A).
class AdditiveScore : public Score {
 public:
  explicit AdditiveScore(const ScoreOptions& options, Generator* gen = nullptr);
  Tensor score(const Tensor& q, const Tensor& k) override;
  Tensor W_q, W_k, bias, v;
};

// Parameters "weight" (1, Dq+Dk), "bias" (1) [bias(true)]: a Linear(Dq+Dk -> 1).
class ConcatScore : public Score {
 public:
  explicit ConcatScore(const ScoreOptions& options, Generator* gen = nullptr);
  Tensor score(const Tensor& q, const Tensor& k) override;
  Tensor weight, bias;
};

std::shared_ptr<Score> make_score(const ScoreOptions& options, Generator* gen = nullptr);

// The additive score as one differentiable op (no (B,Lq,Lk,A) intermediate):
//   qp (B,Lq,A), kp (B,Lk,A), v (A)  ->  S_ij = sum_a v_a tanh(qp_ia + kp_ja)
Tensor additive_score(const Tensor& qp, const Tensor& kp, const Tensor& v);

// ==================================================================== normalisation
// scores (B,Lq,Lk) -> weights (B,Lq,Lk) as described above; the mask is validated against
// (B,1,Lq,Lk) with `op` named in errors.
Tensor normalize_scores(const Tensor& scores, const AttentionMask& mask, Normalization norm, const char* op);

struct AttentionOutput {
  Tensor output;   // (B,Lq,Dv) (or (B,Lq,output_size) for Attn)
  Tensor weights;  // (B,Lq,Lk)
};

// ==================================================================== Attention
class AttentionOptions {
 public:
  explicit AttentionOptions(const ScoreOptions& score) : score_(score) {}
  AttentionOptions& score(const ScoreOptions& v) { score_ = v; return *this; }
  AttentionOptions& normalization(Normalization v) { normalization_ = v; return *this; }
  // Rotate q and k by their positions (RoPE) before scoring; Dot/ScaledDot/General, even dims.
  AttentionOptions& rotary(bool v) { rotary_ = v; return *this; }
  AttentionOptions& rotary_base(double v) { rotary_base_ = v; return *this; }
  const ScoreOptions& score() const { return score_; }
  Normalization normalization() const { return normalization_; }
  bool rotary() const { return rotary_; }
  double rotary_base() const { return rotary_base_; }

 private:
  ScoreOptions score_;
  Normalization normalization_ = Normalization::Softmax;
  bool rotary_ = false;
  double rotary_base_ = 10000.0;
};

// Child "score" (the rule's parameters are "score.weight", "score.W_q", ...).
class Attention : public Module {
 public:
  explicit Attention(const AttentionOptions& options, Generator* gen = nullptr);
  // q (B,Lq,Dq), k (B,Lk,Dk), v (B,Lk,Dv). With rotary, positions are q_offset + i and
  // k_offset + j.
  AttentionOutput forward(const Tensor& q, const Tensor& k, const Tensor& v,
                          const AttentionMask& mask = AttentionMask(), int64_t q_offset = 0, int64_t k_offset = 0);
  const AttentionOptions& options() const { return options_; }
  std::shared_ptr<Score> score;

 private:
  AttentionOptions options_;
};

// ==================================================================== Attn (seed 002)
class AttnOptions {
 public:
  AttnOptions(int64_t query_size, int64_t key_size, int64_t value_size, int64_t output_size)
      : query_size_(query_size), key_size_(key_size), value_size_(value_size), output_size_(output_size) {}
  AttnOptions& query_size(int64_t v) { query_size_ = v; return *this; }
  AttnOptions& key_size(int64_t v) { key_size_ = v; return *this; }
  AttnOptions& value_size(int64_t v) { value_size_ = v; return *this; }
  AttnOptions& output_size(int64_t v) { output_size_ = v; return *this; }
  // The scoring rule (default Additive: defined for any query/key sizes).
  AttnOptions& score(ScoreKind v) { score_ = v; return *this; }
  AttnOptions& hidden_size(int64_t v) { hidden_size_ = v; return *this; }  // Additive's A
  AttnOptions& normalization(Normalization v) { normalization_ = v; return *this; }
  AttnOptions& tanh(bool v) { tanh_ = v; return *this; }  // Luong: tanh(attn_combine(...))
  AttnOptions& dtype(DType v) { dtype_ = v; return *this; }
  int64_t query_size() const { return query_size_; }
  int64_t key_size() const { return key_size_; }
  int64_t value_size() const { return value_size_; }
  int64_t output_size() const { return output_size_; }
  ScoreKind score() const { return score_; }
  int64_t hidden_size() const { return hidden_size_; }
  Normalization normalization() const { return normalization_; }
  bool tanh() const { return tanh_; }
  DType dtype() const { return dtype_; }

 private:
  int64_t query_size_, key_size_, value_size_, output_size_;
  ScoreKind score_ = ScoreKind::Additive;
  int64_t hidden_size_ = 0;
  Normalization normalization_ = Normalization::Softmax;
  bool tanh_ = false;
  DType dtype_ = DType::F32;
};

// Children "score" and "attn_combine" (Linear(query_size + value_size -> output_size)).
class Attn : public Module {
 public:
  explicit Attn(const AttnOptions& options, Generator* gen = nullptr);
  // Q (B,Lq,query_size) (decoder states), K (B,Lk,key_size), V (B,Lk,value_size) (encoder
  // outputs) -> output (B,Lq,output_size), weights (B,Lq,Lk).
  AttentionOutput forward(const Tensor& Q, const Tensor& K, const Tensor& V,
                          const AttentionMask& mask = AttentionMask());
  const AttnOptions& options() const { return options_; }
  std::shared_ptr<Score> score;
  std::shared_ptr<Linear> attn_combine;

 private:
  AttnOptions options_;
};

// ==================================================================== SelfAttention (seed 004)
class SelfAttentionOptions {
 public:
  explicit SelfAttentionOptions(int64_t embed_dim) : embed_dim_(embed_dim) {}
  SelfAttentionOptions& embed_dim(int64_t v) { embed_dim_ = v; return *this; }
  SelfAttentionOptions& key_dim(int64_t v) { key_dim_ = v; return *this; }      // Dk (default E)
  SelfAttentionOptions& value_dim(int64_t v) { value_dim_ = v; return *this; }  // Dv (default E)
  SelfAttentionOptions& scaled(bool v) { scaled_ = v; return *this; }  // A = K^T Q / sqrt(Dk)
  SelfAttentionOptions& normalization(Normalization v) { normalization_ = v; return *this; }
  SelfAttentionOptions& bias(bool v) { bias_ = v; return *this; }  // Q = W^q I + b^q, ...
  SelfAttentionOptions& rotary(bool v) { rotary_ = v; return *this; }
  SelfAttentionOptions& rotary_base(double v) { rotary_base_ = v; return *this; }
  SelfAttentionOptions& dtype(DType v) { dtype_ = v; return *this; }
  int64_t embed_dim() const { return embed_dim_; }
  int64_t key_dim() const { return key_dim_ > 0 ? key_dim_ : embed_dim_; }
  int64_t value_dim() const { return value_dim_ > 0 ? value_dim_ : embed_dim_; }
  bool scaled() const { return scaled_; }
  Normalization normalization() const { return normalization_; }
  bool bias() const { return bias_; }
  bool rotary() const { return rotary_; }
  double rotary_base() const { return rotary_base_; }
  DType dtype() const { return dtype_; }

 private:
  int64_t embed_dim_;
  int64_t key_dim_ = 0, value_dim_ = 0;
  bool scaled_ = false;
  Normalization normalization_ = Normalization::Softmax;
  bool bias_ = false;
  bool rotary_ = false;
  double rotary_base_ = 10000.0;
  DType dtype_ = DType::F32;
};

// Parameters "W_q" (Dk,E), "W_k" (Dk,E), "W_v" (Dv,E) (each ~ U(-1/sqrt(E), 1/sqrt(E)), a
// Linear's init) and, with bias(true), "b_q" (Dk), "b_k" (Dk), "b_v" (Dv).
class SelfAttention : public Module {
 public:
  explicit SelfAttention(const SelfAttentionOptions& options, Generator* gen = nullptr);
  // x (B,L,E) -> output (B,L,Dv), weights (B,L,L). The mask's query/key axes are the positions
  // of x; with rotary, position = offset + index.
  AttentionOutput forward(const Tensor& x, const AttentionMask& mask = AttentionMask(), int64_t offset = 0);
  const SelfAttentionOptions& options() const { return options_; }
  Tensor W_q, W_k, W_v, b_q, b_k, b_v;

 private:
  SelfAttentionOptions options_;
};

}  // namespace seqnn::nn
