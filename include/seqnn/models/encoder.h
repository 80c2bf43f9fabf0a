// seqnn/models/encoder.h: sequence encoders and the registry that builds them from a config.
//
// An Encoder maps a padded batch of vectors to one vector per position:
//   x (B,T,I) with zeros past each length, lengths (B) I64 in [1,T]  ->  (B,T,output_size())
// Outputs past a sequence's length are zero, and no valid position depends on what a pad holds.
//
// Built-in types (the config's "model.encoder.type"):
//   window_fc  the notes' baseline: position i sees the concatenated inputs i-k..i+k (zeros
//              outside the sequence) through an MLP; nothing beyond the window
//   rnn, lstm, gru   nn::RNN / LSTM / GRU, stacked, optionally bidirectional, ragged lengths
//   transformer      nn::TransformerEncoder (+ sinusoidal / learned / no positional encoding)
//   window_attention the notes' truncated self-attention: position i attends to i-k..i+k only
// More register themselves with register_encoder():
//
//   models::register_encoder({"transformer", "a Transformer encoder",
//       {{"num_heads", 4, "attention heads (transformer)"}, ...},
//       [](const nlohmann::json& cfg, int64_t input_size) { return std::make_shared<MyEncoder>(...); }});
//
// The fields an encoder declares become config fields under model.encoder (documented by
// --print-config and docs/CONFIG.md); the factory receives the whole model.encoder object with
// every default filled in.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/nn/module.h"

namespace seqnn::models {

class Encoder : public nn::Module {
 public:
  using nn::Module::Module;
  // x: (B,T,I), lengths: (B) I64  ->  (B,T,output_size()), zero past each length.
  virtual Tensor encode(const Tensor& x, const Tensor& lengths) = 0;
  virtual int64_t output_size() const = 0;
  // The summary used by "last" pooling: the output at position length-1 (B,output_size()).
  // Bidirectional RNNs override it: forward half at length-1, backward half at position 0.
  virtual Tensor last(const Tensor& out, const Tensor& lengths);
  // One line for summaries: "lstm(hidden 128, layers 1, bidirectional)".
  virtual std::string describe() const = 0;
  // Attention weights of the last encode() (per layer: (B,N,T,T)); none for non-attention encoders.
  // Attention encoders keep them only while recording is on and the module is in eval mode
  // (evaluation over a whole split does not pay for them).
  virtual std::vector<Tensor> attention_maps() const { return {}; }
  // Whether attention_maps() can ever be non-empty.
  virtual bool has_attention() const { return false; }
  void set_record_attention(bool on) { record_attention_ = on; }
  bool recording_attention() const { return record_attention_; }

 private:
  bool record_attention_ = false;
};

// A field an encoder reads from model.encoder: name, default value (its JSON type is the
// field's type) and the documentation line.
struct EncoderField {
  std::string name;
  nlohmann::json default_value;
  std::string doc;
};

using EncoderFactory = std::function<std::shared_ptr<Encoder>(const nlohmann::json& encoder_config, int64_t input_size)>;

struct EncoderSpec {
  std::string type;
  std::string doc;
  std::vector<EncoderField> fields;
  EncoderFactory make;
};

// Adds (or replaces) an encoder type.
void register_encoder(EncoderSpec spec);
// Every registered type, sorted by name.
std::vector<EncoderSpec> encoder_specs();
// Error("model.encoder.type: unknown encoder \"x\" (known: gru, lstm, ...)") when not registered.
std::shared_ptr<Encoder> make_encoder(const nlohmann::json& encoder_config, int64_t input_size);

// (B,T) mask of valid positions (1 before each length, 0 after) in dtype dt.
Tensor length_mask(const Tensor& lengths, int64_t T, DType dt = DType::F32);

}  // namespace seqnn::models
