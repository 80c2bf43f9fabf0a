// nn::Linear: y = x W^T + b over the functional linear op.
#include "seqnn/nn/linear.h"

#include <cmath>

#include "seqnn/nn/init.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

Linear::Linear(const LinearOptions& options, Generator* gen) : Module("Linear"), options_(options) {
  check(options.in_features() >= 0 && options.out_features() >= 0, "Linear",
        "in_features and out_features must be >= 0, got in_features=", options.in_features(),
        " out_features=", options.out_features());
  check(is_floating(options.dtype()), "Linear", "dtype must be floating, got ", dtype_name(options.dtype()));
  weight = register_parameter("weight", empty({options.out_features(), options.in_features()}, options.dtype()));
  if (options.bias()) bias = register_parameter("bias", empty({options.out_features()}, options.dtype()));
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator* gen) {
  // kaiming_uniform_(a=sqrt(5)): gain = sqrt(2/(1+5)), bound = gain*sqrt(3/fan_in) = 1/sqrt(fan_in).
  init::kaiming_uniform_(weight, std::sqrt(5.0), "fan_in", "leaky_relu", gen);
  if (bias.defined()) {
    const int64_t fan_in = options_.in_features();
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  check(x.defined() && x.dim() >= 1 && x.size(-1) == options_.in_features(), "Linear.forward", "input ",
        shape_or_none(x), " must be (*, in_features=", options_.in_features(), ")");
  return linear(x, weight, bias);
}

}  // namespace seqnn::nn
