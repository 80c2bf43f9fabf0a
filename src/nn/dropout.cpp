// nn::Dropout: inverted dropout while training, identity in eval mode.
#include "seqnn/nn/dropout.h"

#include "seqnn/ops.h"

namespace seqnn::nn {

Dropout::Dropout(const DropoutOptions& options, Generator* gen) : Module("Dropout"), options_(options), gen_(gen) {
  check(options.p() >= 0.0 && options.p() <= 1.0, "Dropout", "dropout probability has to be between 0 and 1, but got ",
        options.p());
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, options_.p(), is_training(), gen_); }

}  // namespace seqnn::nn
