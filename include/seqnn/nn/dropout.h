// seqnn/nn/dropout.h: torch.nn.Dropout. In training mode each element is zeroed with
// probability p and survivors are scaled by 1/(1-p); in eval mode it is the identity.
#pragma once

#include "seqnn/nn/module.h"
#include "seqnn/random.h"

namespace seqnn::nn {

class DropoutOptions {
 public:
  DropoutOptions(double p = 0.5) : p_(p) {}  // NOLINT: Dropout(0.1) reads naturally
  DropoutOptions& p(double v) { p_ = v; return *this; }
  double p() const { return p_; }

 private:
  double p_;
};

class Dropout : public Module {
 public:
  // Draws masks from `gen` (default: the global generator), which must outlive the module.
  explicit Dropout(const DropoutOptions& options = DropoutOptions(), Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  const DropoutOptions& options() const { return options_; }

 private:
  DropoutOptions options_;
  Generator* gen_;
};

}  // namespace seqnn::nn
