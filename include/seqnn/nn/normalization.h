// seqnn/nn/normalization.h: torch.nn.LayerNorm.
//
//   y = (x - mean) / sqrt(var + eps) * weight + bias
// with mean and (biased) var over the trailing dims given by normalized_shape.
// weight = 1, bias = 0 at initialisation; both absent when elementwise_affine(false).
#pragma once

#include "seqnn/nn/module.h"

namespace seqnn::nn {

class LayerNormOptions {
 public:
  LayerNormOptions(Shape normalized_shape) : normalized_shape_(std::move(normalized_shape)) {}  // NOLINT
  LayerNormOptions& normalized_shape(Shape v) { normalized_shape_ = std::move(v); return *this; }
  LayerNormOptions& eps(double v) { eps_ = v; return *this; }
  LayerNormOptions& elementwise_affine(bool v) { elementwise_affine_ = v; return *this; }
  LayerNormOptions& dtype(DType v) { dtype_ = v; return *this; }
  const Shape& normalized_shape() const { return normalized_shape_; }
  double eps() const { return eps_; }
  bool elementwise_affine() const { return elementwise_affine_; }
  DType dtype() const { return dtype_; }

 private:
  Shape normalized_shape_;
  double eps_ = 1e-5;
  bool elementwise_affine_ = true;
  DType dtype_ = DType::F32;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(const LayerNormOptions& options);
  void reset_parameters();
  Tensor forward(const Tensor& x) override;

  const LayerNormOptions& options() const { return options_; }
  Tensor weight;  // normalized_shape, undefined without elementwise_affine
  Tensor bias;

 private:
  LayerNormOptions options_;
};

}  // namespace seqnn::nn
