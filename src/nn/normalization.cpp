// nn::LayerNorm over the functional layer_norm op.
#include "seqnn/nn/normalization.h"

#include "seqnn/nn/init.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

LayerNorm::LayerNorm(const LayerNormOptions& options) : Module("LayerNorm"), options_(options) {
  for (int64_t d : options.normalized_shape())
    check(d >= 0, "LayerNorm", "normalized_shape must not have negative sizes, got ", options.normalized_shape());
  check(options.eps() >= 0, "LayerNorm", "eps must be >= 0, got ", options.eps());
  check(is_floating(options.dtype()), "LayerNorm", "dtype must be floating, got ", dtype_name(options.dtype()));
  if (options.elementwise_affine()) {
    weight = register_parameter("weight", empty(options.normalized_shape(), options.dtype()));
    bias = register_parameter("bias", empty(options.normalized_shape(), options.dtype()));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, options_.normalized_shape(), weight, bias, options_.eps());
}

}  // namespace seqnn::nn
