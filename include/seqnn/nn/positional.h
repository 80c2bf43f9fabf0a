// seqnn/nn/positional.h: position information for attention (seed 004, "positional encoding").
//
// SinusoidalPositionalEncoding (Vaswani et al. 2017), d = d_model, pos = offset + t:
//   PE(pos, 2i)   = sin(pos / 10000^(2i/d))
//   PE(pos, 2i+1) = cos(pos / 10000^(2i/d))          (odd d: the last column is a sin column)
//   forward(x) = x + PE[offset .. offset+L)   x: (L,B,E) or, batch_first, (B,L,E)
// No table limit: rows are computed on demand in float64 (exact angle pos * w_i, then sin/cos),
// cached and the cache grown (doubling) as longer or later positions are asked for.
//
// LearnedPositionalEncoding: a trainable table "weight" (max_len, E) ~ N(0,1) (nn.Embedding's
// init); forward(x) = x + weight[offset .. offset+L). Positions past the table are an Error
// naming the module, the first bad position and max_len.
//
// RotaryEmbedding (RoPE, Su et al. 2021): for x (..., L, D), D even, position pos = offset + t,
// theta_i = base^(-2i/D), i = 0 .. D/2-1, each pair (x_2i, x_2i+1) is rotated by pos*theta_i:
//   y_2i   = x_2i cos(pos theta_i) - x_2i+1 sin(pos theta_i)
//   y_2i+1 = x_2i sin(pos theta_i) + x_2i+1 cos(pos theta_i)
// A rotation: norms are kept, and (R_m q) . (R_n k) = q . R_{n-m} k depends on n - m only.
// Backward rotates the gradient by -pos*theta_i. Angles are formed in float64.
#pragma once

#include <mutex>
#include <vector>

#include "seqnn/nn/module.h"
#include "seqnn/random.h"

namespace seqnn::nn {

// x (B,N,L,D), (B,L,D) or any (..., L, D) with D even: the rotated x (a differentiable op).
Tensor apply_rotary(const Tensor& x, int64_t offset = 0, double base = 10000.0);

// ==================================================================== sinusoidal
class SinusoidalPositionalEncodingOptions {
 public:
  explicit SinusoidalPositionalEncodingOptions(int64_t d_model) : d_model_(d_model) {}
  SinusoidalPositionalEncodingOptions& d_model(int64_t v) { d_model_ = v; return *this; }
  SinusoidalPositionalEncodingOptions& batch_first(bool v) { batch_first_ = v; return *this; }
  SinusoidalPositionalEncodingOptions& base(double v) { base_ = v; return *this; }  // 10000
  int64_t d_model() const { return d_model_; }
  bool batch_first() const { return batch_first_; }
  double base() const { return base_; }

 private:
  int64_t d_model_;
  bool batch_first_ = false;
  double base_ = 10000.0;
};

class SinusoidalPositionalEncoding : public Module {
 public:
  explicit SinusoidalPositionalEncoding(const SinusoidalPositionalEncodingOptions& options);
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  Tensor forward(const Tensor& x, int64_t offset);
  // PE rows offset .. offset+length-1: (length, d_model) of dtype dt.
  Tensor encoding(int64_t offset, int64_t length, DType dt = DType::F32);
  const SinusoidalPositionalEncodingOptions& options() const { return options_; }
  // Positions currently cached (grows on demand).
  int64_t cached_positions() const;

 private:
  SinusoidalPositionalEncodingOptions options_;
  mutable std::mutex mu_;
  std::vector<double> table_;  // (rows, d_model)
  int64_t rows_ = 0;
};

// ==================================================================== learned
class LearnedPositionalEncodingOptions {
 public:
  LearnedPositionalEncodingOptions(int64_t max_len, int64_t d_model) : max_len_(max_len), d_model_(d_model) {}
  LearnedPositionalEncodingOptions& max_len(int64_t v) { max_len_ = v; return *this; }
  LearnedPositionalEncodingOptions& d_model(int64_t v) { d_model_ = v; return *this; }
  LearnedPositionalEncodingOptions& batch_first(bool v) { batch_first_ = v; return *this; }
  LearnedPositionalEncodingOptions& dtype(DType v) { dtype_ = v; return *this; }
  int64_t max_len() const { return max_len_; }
  int64_t d_model() const { return d_model_; }
  bool batch_first() const { return batch_first_; }
  DType dtype() const { return dtype_; }

 private:
  int64_t max_len_, d_model_;
  bool batch_first_ = false;
  DType dtype_ = DType::F32;
};

class LearnedPositionalEncoding : public Module {
 public:
  explicit LearnedPositionalEncoding(const LearnedPositionalEncodingOptions& options, Generator* gen = nullptr);
  void reset_parameters(Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override { return forward(x, 0); }
  Tensor forward(const Tensor& x, int64_t offset);
  const LearnedPositionalEncodingOptions& options() const { return options_; }
  Tensor weight;  // (max_len, d_model)

 private:
  LearnedPositionalEncodingOptions options_;
};

// ==================================================================== rotary
class RotaryEmbeddingOptions {
 public:
  explicit RotaryEmbeddingOptions(int64_t dim) : dim_(dim) {}
  RotaryEmbeddingOptions& dim(int64_t v) { dim_ = v; return *this; }
  RotaryEmbeddingOptions& base(double v) { base_ = v; return *this; }
  int64_t dim() const { return dim_; }
  double base() const { return base_; }

 private:
  int64_t dim_;
  double base_ = 10000.0;
};

// No parameters: apply(x, offset) = apply_rotary(x, offset, base) after checking x's last dim.
class RotaryEmbedding : public Module {
 public:
  explicit RotaryEmbedding(const RotaryEmbeddingOptions& options);
  Tensor apply(const Tensor& x, int64_t offset = 0) const;
  Tensor forward(const Tensor& x) override { return apply(x, 0); }
  const RotaryEmbeddingOptions& options() const { return options_; }

 private:
  RotaryEmbeddingOptions options_;
};

}  // namespace seqnn::nn
