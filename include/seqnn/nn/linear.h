// seqnn/nn/linear.h: y = x W^T + b, torch.nn.Linear.
//
//   x: (*, I)  weight: (O, I)  bias: (O)  ->  y: (*, O)
// Initialisation (PyTorch's reset_parameters): weight ~ kaiming_uniform_(a = sqrt(5)), i.e.
// U(-1/sqrt(I), 1/sqrt(I)); bias ~ U(-1/sqrt(I), 1/sqrt(I)) (0 bound when I = 0).
#pragma once

#include "seqnn/nn/module.h"
#include "seqnn/random.h"

namespace seqnn::nn {

class LinearOptions {
 public:
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& in_features(int64_t v) { in_features_ = v; return *this; }
  LinearOptions& out_features(int64_t v) { out_features_ = v; return *this; }
  LinearOptions& bias(bool v) { bias_ = v; return *this; }
  LinearOptions& dtype(DType v) { dtype_ = v; return *this; }
  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  bool bias() const { return bias_; }
  DType dtype() const { return dtype_; }

 private:
  int64_t in_features_;
  int64_t out_features_;
  bool bias_ = true;
  DType dtype_ = DType::F32;
};

class Linear : public Module {
 public:
  // Draws the initial weights from `gen` (default: the global generator).
  explicit Linear(const LinearOptions& options, Generator* gen = nullptr);
  // Re-draws weight and bias as at construction.
  void reset_parameters(Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;

  const LinearOptions& options() const { return options_; }
  Tensor weight;  // (O, I)
  Tensor bias;    // (O), undefined when options.bias(false)

 private:
  LinearOptions options_;
};

}  // namespace seqnn::nn
