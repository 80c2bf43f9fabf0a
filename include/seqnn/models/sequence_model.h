// seqnn/models/sequence_model.h: the notes' two output types over any registered encoder.
//
//   SequenceTagger      (N vs N)  input -> encoder -> dropout -> Linear per position -> (B,T,C)
//   SequenceClassifier  (N vs 1)  input -> encoder -> pooling -> dropout -> Linear -> (B,C)
// Pooling: "last" (Encoder::last), "mean" (over valid positions), "attention" (a learned query
// q: w = softmax over valid positions of out_t . q, pooled = sum_t w_t out_t).
// Inputs: token ids (B,T) through nn::Embedding (padding row 0), or real-valued vectors (B,T,F)
// through a Linear projection to embedding_dim. Inputs are multiplied by the length mask first, so
// a padded position never contributes, whatever it holds.
//
//   models::ModelConfig mc; mc.vocab_size = vocab.size(); mc.num_labels = 13;
//   mc.encoder = {{"type","lstm"},{"hidden_size",128},{"num_layers",1},{"bidirectional",true},...};
//   auto m = models::make_model(mc);
//   Tensor logits = m->forward_batch(batch.ids, batch.lengths);
//   Tensor loss = m->loss(logits, batch.labels);
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "seqnn/models/encoder.h"
#include "seqnn/nn/dropout.h"
#include "seqnn/nn/embedding.h"
#include "seqnn/nn/linear.h"

namespace seqnn::models {

struct ModelConfig {
  std::string kind = "tagger";     // "tagger" or "classifier"
  int64_t vocab_size = 0;          // token input (> 0), or
  int64_t feature_dim = 0;         // vector input (> 0)
  int64_t num_labels = 0;
  int64_t embedding_dim = 64;
  double dropout = 0.0;            // on the encoder output
  std::string pooling = "mean";    // classifier: last / mean / attention
  nlohmann::json encoder;          // model.encoder with defaults filled in
};

class SequenceModel : public nn::Module {
 public:
  // inputs: ids (B,T) I64 or features (B,T,F); lengths (B) I64.
  // Tagger: (B,T,C) logits; classifier: (B,C).
  virtual Tensor forward_batch(const Tensor& inputs, const Tensor& lengths) = 0;
  // Mean cross-entropy over labelled positions (labels == data::kIgnore are skipped).
  virtual Tensor loss(const Tensor& logits, const Tensor& labels) const = 0;
  virtual bool is_tagger() const = 0;
  std::string describe() const;
  int64_t num_parameters() const;
  Encoder& encoder() { return *encoder_; }
  const ModelConfig& config() const { return cfg_; }

 protected:
  SequenceModel(const std::string& name, const ModelConfig& cfg);
  // Embedding / projection, masked: (B,T,E).
  Tensor embed(const Tensor& inputs, const Tensor& lengths);
  virtual std::string head_description() const = 0;

  ModelConfig cfg_;
  std::shared_ptr<nn::Embedding> embedding_;
  std::shared_ptr<nn::Linear> projection_;
  std::shared_ptr<Encoder> encoder_;
  std::shared_ptr<nn::Dropout> dropout_;
  std::shared_ptr<nn::Linear> head_;
};

class SequenceTagger : public SequenceModel {
 public:
  explicit SequenceTagger(const ModelConfig& cfg);
  Tensor forward_batch(const Tensor& inputs, const Tensor& lengths) override;
  Tensor loss(const Tensor& logits, const Tensor& labels) const override;
  bool is_tagger() const override { return true; }

 protected:
  std::string head_description() const override;
};

class SequenceClassifier : public SequenceModel {
 public:
  explicit SequenceClassifier(const ModelConfig& cfg);
  Tensor forward_batch(const Tensor& inputs, const Tensor& lengths) override;
  Tensor loss(const Tensor& logits, const Tensor& labels) const override;
  bool is_tagger() const override { return false; }
  // The attention-pooling weights of the last forward (B,T); undefined for other poolings.
  const Tensor& pooling_weights() const { return pool_weights_; }

 protected:
  std::string head_description() const override;

 private:
  Tensor query_;  // (H) attention pooling's learned query
  Tensor pool_weights_;
};

// Builds a tagger or classifier; Error naming the config field on a bad value.
std::shared_ptr<SequenceModel> make_model(const ModelConfig& cfg);

}  // namespace seqnn::models
