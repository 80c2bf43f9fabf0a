// seqnn/nn/activation.h: parameter-free activation modules over the functional ops.
//   ReLU max(0, x)   Tanh   Sigmoid 1/(1+e^-x)   GELU x*Phi(x) ("none") or its tanh form
//   Softmax(dim) exp(x_i) / sum_j exp(x_j) along dim
#pragma once

#include <string>

#include "seqnn/nn/module.h"

namespace seqnn::nn {

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override;
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override;
};

class GELU : public Module {
 public:
  // approximate: "none" (exact, with erf) or "tanh".
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  const std::string& approximate() const { return approximate_; }

 private:
  std::string approximate_;
};

class Softmax : public Module {
 public:
  explicit Softmax(int64_t dim) : Module("Softmax"), dim_(dim) {}
  Tensor forward(const Tensor& x) override;
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
};

}  // namespace seqnn::nn
