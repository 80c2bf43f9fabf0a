// Activation modules: thin forwards to the functional ops.
#include "seqnn/nn/activation.h"

#include "seqnn/ops.h"

namespace seqnn::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor Tanh::forward(const Tensor& x) { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) { return sigmoid(x); }

GELU::GELU(std::string approximate) : Module("GELU"), approximate_(std::move(approximate)) {
  check(approximate_ == "none" || approximate_ == "tanh", "GELU", "approximate must be \"none\" or \"tanh\", got \"",
        approximate_, "\"");
}
Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate_); }

Tensor Softmax::forward(const Tensor& x) { return softmax(x, dim_); }

}  // namespace seqnn::nn
