// nn::Embedding: out[..] = weight[indices[..]] over the functional embedding op.
#include "seqnn/nn/embedding.h"

#include "seqnn/autograd.h"
#include "seqnn/nn/init.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

namespace {
// PyTorch: padding_idx in [-V, V); a negative one counts from the end.
std::optional<int64_t> canonical_padding(std::optional<int64_t> idx, int64_t num) {
  if (!idx) return idx;
  check(*idx < num && *idx >= -num, "Embedding", "padding_idx must be within num_embeddings=", num, ", got ", *idx);
  return *idx < 0 ? *idx + num : *idx;
}
}  // namespace

Embedding::Embedding(const EmbeddingOptions& options, Generator* gen) : Module("Embedding"), options_(options) {
  check(options.num_embeddings() >= 0 && options.embedding_dim() >= 0, "Embedding",
        "num_embeddings and embedding_dim must be >= 0, got ", options.num_embeddings(), " and ",
        options.embedding_dim());
  check(is_floating(options.dtype()), "Embedding", "dtype must be floating, got ", dtype_name(options.dtype()));
  options_.padding_idx(canonical_padding(options.padding_idx(), options.num_embeddings()));
  weight = register_parameter("weight", empty({options.num_embeddings(), options.embedding_dim()}, options.dtype()));
  reset_parameters(gen);
}

Embedding::Embedding(const EmbeddingOptions& options, const Tensor& w) : Module("Embedding"), options_(options) {
  options_.padding_idx(canonical_padding(options.padding_idx(), options.num_embeddings()));
  weight = register_parameter("weight", w);
}

std::shared_ptr<Embedding> Embedding::from_pretrained(const Tensor& weight, bool freeze,
                                                      std::optional<int64_t> padding_idx) {
  check(weight.defined() && weight.dim() == 2, "Embedding.from_pretrained",
        "embeddings parameter is expected to be 2-dimensional (V,E), got ", shape_or_none(weight));
  check(weight.is_floating_point(), "Embedding.from_pretrained", "weight must be floating, got ",
        dtype_name(weight.dtype()));
  EmbeddingOptions opts(weight.size(0), weight.size(1));
  opts.padding_idx(padding_idx).dtype(weight.dtype());
  // Private constructor: make_shared can't reach it.
  std::shared_ptr<Embedding> e(new Embedding(opts, weight.detach()));
  e->weight.requires_grad_(!freeze);
  return e;
}

void Embedding::reset_parameters(Generator* gen) {
  init::normal_(weight, 0.0, 1.0, gen);
  if (options_.padding_idx()) {
    NoGradGuard no_grad;
    const int64_t row = *options_.padding_idx(), e = options_.embedding_dim();
    if (weight.dtype() == DType::F32) {
      float* p = weight.data_ptr<float>() + row * e;
      for (int64_t j = 0; j < e; ++j) p[j] = 0.0f;
    } else {
      double* p = weight.data_ptr<double>() + row * e;
      for (int64_t j = 0; j < e; ++j) p[j] = 0.0;
    }
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  return embedding(indices, weight, options_.padding_idx());
}

}  // namespace seqnn::nn
