// src/models/sequence_model.cpp: SequenceTagger and SequenceClassifier.
#include "seqnn/models/sequence_model.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "seqnn/error.h"
#include "seqnn/ops.h"

namespace seqnn::models {

// ==================================================================== shared
SequenceModel::SequenceModel(const std::string& name, const ModelConfig& cfg) : nn::Module(name), cfg_(cfg) {
  check(cfg.num_labels >= 2, "model", "num_labels must be >= 2, got ", cfg.num_labels);
  check(cfg.embedding_dim >= 1, "model.embedding_dim", "must be >= 1, got ", cfg.embedding_dim);
  check(cfg.dropout >= 0 && cfg.dropout < 1, "model.dropout", "must be in [0,1), got ", cfg.dropout);
  check((cfg.vocab_size > 0) != (cfg.feature_dim > 0), "model", "exactly one of vocab_size (", cfg.vocab_size,
        ") and feature_dim (", cfg.feature_dim, ") must be > 0");
  if (cfg.vocab_size > 0)
    embedding_ = register_module("embedding", std::make_shared<nn::Embedding>(
                                                  nn::EmbeddingOptions(cfg.vocab_size, cfg.embedding_dim).padding_idx(0)));
  else
    projection_ = register_module("projection",
                                  std::make_shared<nn::Linear>(nn::LinearOptions(cfg.feature_dim, cfg.embedding_dim)));
  encoder_ = register_module("encoder", make_encoder(cfg.encoder, cfg.embedding_dim));
  dropout_ = register_module("dropout", std::make_shared<nn::Dropout>(nn::DropoutOptions(cfg.dropout)));
}

Tensor SequenceModel::embed(const Tensor& inputs, const Tensor& lengths) {
  check(lengths.defined() && lengths.dtype() == DType::I64 && lengths.dim() == 1, "SequenceModel.forward",
        "lengths must be (B) int64");
  const int64_t B = lengths.size(0);
  check(inputs.dim() >= 2 && inputs.size(0) == B, "SequenceModel.forward", "inputs ", inputs.shape(),
        " must start with (B=", B, ",T)");
  const int64_t T = inputs.size(1);
  for (int64_t l : lengths.to_vector<int64_t>())
    check(l >= 1 && l <= T, "SequenceModel.forward", "length ", l, " out of [1,", T, "]");
  Tensor x;
  if (embedding_) {
    check(inputs.dtype() == DType::I64 && inputs.dim() == 2, "SequenceModel.forward", "token input must be (B,T) int64, got ",
          inputs.shape(), " ", dtype_name(inputs.dtype()));
    x = embedding_->forward(inputs);
  } else {
    check(inputs.dim() == 3 && inputs.size(2) == cfg_.feature_dim, "SequenceModel.forward", "vector input ", inputs.shape(),
          " must be (B,T,F=", cfg_.feature_dim, ")");
    x = projection_->forward(inputs.to(DType::F32));
  }
  return x * length_mask(lengths, T, x.dtype()).unsqueeze(2);  // pads contribute nothing
}

std::string SequenceModel::describe() const {
  std::ostringstream os;
  os << name() << "(";
  if (embedding_) os << "embedding " << cfg_.vocab_size << "x" << cfg_.embedding_dim;
  else os << "projection " << cfg_.feature_dim << "->" << cfg_.embedding_dim;
  os << ", " << encoder_->describe() << ", " << head_description() << ")";
  return os.str();
}

int64_t SequenceModel::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

// ==================================================================== tagger
SequenceTagger::SequenceTagger(const ModelConfig& cfg) : SequenceModel("SequenceTagger", cfg) {
  head_ = register_module("head", std::make_shared<nn::Linear>(nn::LinearOptions(encoder_->output_size(), cfg.num_labels)));
}

Tensor SequenceTagger::forward_batch(const Tensor& inputs, const Tensor& lengths) {
  Tensor h = encoder_->encode(embed(inputs, lengths), lengths);  // (B,T,H)
  return head_->forward(dropout_->forward(h));                   // (B,T,C)
}

Tensor SequenceTagger::loss(const Tensor& logits, const Tensor& labels) const {
  const int64_t B = logits.size(0), T = logits.size(1), C = logits.size(2);
  check(labels.shape() == Shape{B, T}, "SequenceTagger.loss", "labels ", labels.shape(), " must be (B,T)=", Shape{B, T});
  return cross_entropy(reshape(logits, {B * T, C}), reshape(labels, {B * T}), CrossEntropyOptions().ignore_index(-100));
}

std::string SequenceTagger::head_description() const {
  return "linear " + std::to_string(encoder_->output_size()) + "->" + std::to_string(cfg_.num_labels) + " per position";
}

// ==================================================================== classifier
SequenceClassifier::SequenceClassifier(const ModelConfig& cfg) : SequenceModel("SequenceClassifier", cfg) {
  check(cfg.pooling == "last" || cfg.pooling == "mean" || cfg.pooling == "attention", "model.pooling",
        "must be last, mean or attention, got \"", cfg.pooling, "\"");
  const int64_t H = encoder_->output_size();
  if (cfg.pooling == "attention") {
    // q ~ U(-1/sqrt(H), 1/sqrt(H)), like a Linear(H,1) weight
    query_ = register_parameter("query", uniform({H}, -1.0 / std::sqrt(double(H)), 1.0 / std::sqrt(double(H))));
  }
  head_ = register_module("head", std::make_shared<nn::Linear>(nn::LinearOptions(H, cfg.num_labels)));
}

Tensor SequenceClassifier::forward_batch(const Tensor& inputs, const Tensor& lengths) {
  Tensor h = encoder_->encode(embed(inputs, lengths), lengths);  // (B,T,H)
  const int64_t T = h.size(1);
  Tensor pooled;
  if (cfg_.pooling == "last") {
    pooled = encoder_->last(h, lengths);
  } else if (cfg_.pooling == "mean") {
    // mean_t over valid positions: sum_t m_t h_t / length
    Tensor m = length_mask(lengths, T, h.dtype()).unsqueeze(2);
    pooled = sum(h * m, {1}) / lengths.to(h.dtype()).unsqueeze(1);
  } else {
    // w = softmax_t(h_t . q) over valid t;  pooled = sum_t w_t h_t
    Tensor scores = matmul(h, query_);  // (B,T)
    Tensor invalid = logical_not(gt(length_mask(lengths, T, DType::F32), 0.5));
    Tensor w = softmax(masked_fill(scores, invalid, -std::numeric_limits<double>::infinity()), 1);
    pool_weights_ = w.detach();
    pooled = sum(h * w.unsqueeze(2), {1});
  }
  return head_->forward(dropout_->forward(pooled));  // (B,C)
}

Tensor SequenceClassifier::loss(const Tensor& logits, const Tensor& labels) const {
  check(labels.dim() == 1 && labels.size(0) == logits.size(0), "SequenceClassifier.loss", "labels ", labels.shape(),
        " must be (B=", logits.size(0), ")");
  return cross_entropy(logits, labels);
}

std::string SequenceClassifier::head_description() const {
  return cfg_.pooling + " pooling, linear " + std::to_string(encoder_->output_size()) + "->" + std::to_string(cfg_.num_labels);
}

// ==================================================================== factory
std::shared_ptr<SequenceModel> make_model(const ModelConfig& cfg) {
  if (cfg.kind == "tagger") return std::make_shared<SequenceTagger>(cfg);
  if (cfg.kind == "classifier") return std::make_shared<SequenceClassifier>(cfg);
  fail("model.kind", "must be tagger or classifier, got \"", cfg.kind, "\"");
}

}  // namespace seqnn::models
