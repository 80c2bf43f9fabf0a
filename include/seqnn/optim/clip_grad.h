// seqnn/optim/clip_grad.h: gradient clipping, torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
//
//   total = || (||g_1||_p, ..., ||g_k||_p) ||_p     over parameters with a gradient
//           (p = inf: max |g|)
//   coef  = min(max_norm / (total + 1e-6), 1);   every g *= coef
#pragma once

#include <vector>

#include "seqnn/tensor.h"

namespace seqnn::optim {

// Scales the gradients in place and returns the total norm before clipping (0 when no
// parameter has a gradient). norm_type: any p > 0, or INFINITY. With error_if_nonfinite a NaN
// or infinite total is an Error (nothing is scaled); otherwise the gradients are scaled by the
// non-finite coefficient, as PyTorch does. Norms accumulate in double.
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element to [-clip_value, clip_value] in place.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace seqnn::optim

namespace seqnn::nn::utils {
using seqnn::optim::clip_grad_norm_;
using seqnn::optim::clip_grad_value_;
}  // namespace seqnn::nn::utils
