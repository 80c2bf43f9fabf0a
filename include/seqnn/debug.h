// seqnn/debug.h: opt-in run-time checks for non-finite values (PyTorch's detect_anomaly in
// spirit, but on the forward pass too).
//
// When on, every op checks its floating inputs and outputs as it records itself (every op in
// seqnn, fused recurrent and attention layers included, goes through autograd::record, also
// under NoGradGuard), every backward node checks the gradients it returns, and the streaming
// step() paths check x_t and the new state. The first NaN or infinity raises a seqnn::Error that
// names the op, which argument, its shape, the index and the value:
//   recurrent_layer: input 0 of shape (5,2,3) holds a non-finite value (nan) at [2,1,0]
// Off by default (it reads every element once more). Turn it on with the environment variable
// SEQNN_CHECK_FINITE=1 (read once, at library load), set_check_finite(true), or for a scope
// with CheckFiniteGuard.
#pragma once

#include <string>

#include "seqnn/tensor.h"

namespace seqnn {

bool check_finite_enabled();
void set_check_finite(bool on);

class CheckFiniteGuard {
 public:
  explicit CheckFiniteGuard(bool on = true) : prev_(check_finite_enabled()) { set_check_finite(on); }
  ~CheckFiniteGuard() { set_check_finite(prev_); }
  CheckFiniteGuard(const CheckFiniteGuard&) = delete;
  CheckFiniteGuard& operator=(const CheckFiniteGuard&) = delete;

 private:
  bool prev_;
};

// Throws Error("op: <what> of shape (..) holds a non-finite value (nan) at [i,j,..]") when a
// floating tensor holds NaN or +-inf. Checks regardless of check_finite_enabled(); undefined and
// non-floating tensors pass.
void check_finite(const Tensor& t, const std::string& op, const std::string& what);

}  // namespace seqnn
