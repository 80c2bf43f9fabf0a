// seqnn/nn/embedding.h: a lookup table, torch.nn.Embedding.
//
//   indices: (*) I64 in [0, V)  weight: (V, E)  ->  (*, E),  out[..] = weight[indices[..]]
// Initialisation: weight ~ N(0, 1), the padding row (if any) set to zero. The padding row
// receives no gradient. A negative padding_idx counts from the end (PyTorch).
#pragma once

#include <optional>

#include "seqnn/nn/module.h"
#include "seqnn/random.h"

namespace seqnn::nn {

class EmbeddingOptions {
 public:
  EmbeddingOptions(int64_t num_embeddings, int64_t embedding_dim)
      : num_embeddings_(num_embeddings), embedding_dim_(embedding_dim) {}
  EmbeddingOptions& num_embeddings(int64_t v) { num_embeddings_ = v; return *this; }
  EmbeddingOptions& embedding_dim(int64_t v) { embedding_dim_ = v; return *this; }
  EmbeddingOptions& padding_idx(std::optional<int64_t> v) { padding_idx_ = v; return *this; }
  EmbeddingOptions& dtype(DType v) { dtype_ = v; return *this; }
  int64_t num_embeddings() const { return num_embeddings_; }
  int64_t embedding_dim() const { return embedding_dim_; }
  const std::optional<int64_t>& padding_idx() const { return padding_idx_; }
  DType dtype() const { return dtype_; }

 private:
  int64_t num_embeddings_;
  int64_t embedding_dim_;
  std::optional<int64_t> padding_idx_;
  DType dtype_ = DType::F32;
};

class Embedding : public Module {
 public:
  explicit Embedding(const EmbeddingOptions& options, Generator* gen = nullptr);
  // Wraps `weight` (V, E) (sharing its data, like PyTorch); freeze=true -> no gradient.
  // The padding row is NOT zeroed (PyTorch keeps the given values).
  static std::shared_ptr<Embedding> from_pretrained(const Tensor& weight, bool freeze = true,
                                                    std::optional<int64_t> padding_idx = std::nullopt);
  void reset_parameters(Generator* gen = nullptr);
  Tensor forward(const Tensor& indices) override;

  const EmbeddingOptions& options() const { return options_; }
  Tensor weight;  // (V, E)

 private:
  Embedding(const EmbeddingOptions& options, const Tensor& weight);
  EmbeddingOptions options_;
};

}  // namespace seqnn::nn
