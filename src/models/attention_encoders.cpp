// src/models/attention_encoders.cpp: the attention encoders of the registry.
//
//   transformer        x -> [Linear to d_model] -> + positional encoding -> nn::TransformerEncoder
//                      (num_layers layers, nhead heads, keys past each length masked through
//                      AttentionMask::key_lengths) -> zero past each length; positional rotary
//                      adds nothing to x but rotates q and k in every self-attention (RoPE)
//   window_attention   the notes' truncated self-attention: the same stack, but position i attends
//                      only to keys j in [i-window, i+window] (AttentionMask().window(k, k)), so a
//                      layer sees 2k+1 positions and L layers see L*k on each side
// Both keep their per-layer, per-head attention weights (B,nhead,T,T) of the last encode() when
// recording is on (Encoder::set_record_attention) and the module is in eval mode.
#include <sstream>

#include "seqnn/attention.h"
#include "seqnn/error.h"
#include "seqnn/models/encoder.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/positional.h"
#include "seqnn/nn/transformer.h"
#include "seqnn/ops.h"

namespace seqnn::models {

namespace {

// ==================================================================== the encoder
class AttentionEncoder : public Encoder {
 public:
  // window < 0: full self-attention (transformer); window >= 0: keys within +-window.
  AttentionEncoder(const std::string& type, int64_t input_size, const nlohmann::json& c, int64_t window)
      : Encoder(type == "transformer" ? "TransformerSeqEncoder" : "WindowAttentionEncoder"), type_(type), window_(window) {
    d_model_ = c.at("d_model").get<int64_t>();
    if (d_model_ == 0) d_model_ = input_size;
    nhead_ = c.at("nhead").get<int64_t>();
    layers_ = c.at("num_layers").get<int64_t>();
    const int64_t ff = c.at("dim_feedforward").get<int64_t>();
    const double p = c.at("dropout").get<double>();
    norm_first_ = c.at("norm_first").get<bool>();
    const std::string act = c.at("activation").get<std::string>();
    positional_ = c.at("positional").get<std::string>();
    check(d_model_ >= 1, "model.encoder.d_model", "must be >= 0 (0: model.embedding_dim), got ", d_model_);
    check(nhead_ >= 1 && d_model_ % nhead_ == 0, "model.encoder.nhead", "must be >= 1 and divide d_model (",
          d_model_, "), got ", nhead_);
    check(layers_ >= 1, "model.encoder.num_layers", "must be >= 1, got ", layers_);
    check(ff >= 1, "model.encoder.dim_feedforward", "must be >= 1, got ", ff);
    check(p >= 0 && p < 1, "model.encoder.dropout", "must be in [0,1), got ", p);
    check(act == "relu" || act == "gelu", "model.encoder.activation", "must be relu or gelu, got \"", act, "\"");
    check(positional_ == "sinusoidal" || positional_ == "learned" || positional_ == "rotary" || positional_ == "none",
          "model.encoder.positional", "must be sinusoidal, learned, rotary or none, got \"", positional_, "\"");
    check(positional_ != "rotary" || (d_model_ / nhead_) % 2 == 0, "model.encoder.positional",
          "rotary needs an even head size d_model / nhead, got ", d_model_, " / ", nhead_);
    if (window_ >= 0) check(window_ >= 1, "model.encoder.window", "must be >= 1 for window_attention, got ", window_);
    if (d_model_ != input_size)
      in_proj_ = register_module("in_proj", std::make_shared<nn::Linear>(nn::LinearOptions(input_size, d_model_)));
    if (positional_ == "sinusoidal")
      sin_pe_ = register_module("pos", std::make_shared<nn::SinusoidalPositionalEncoding>(
                                           nn::SinusoidalPositionalEncodingOptions(d_model_).batch_first(true)));
    else if (positional_ == "learned")
      learned_pe_ = register_module("pos", std::make_shared<nn::LearnedPositionalEncoding>(
                                               nn::LearnedPositionalEncodingOptions(kMaxLen, d_model_).batch_first(true)));
    nn::TransformerLayerOptions lo(d_model_, nhead_);
    lo.dim_feedforward(ff).dropout(p).activation(act).batch_first(true).norm_first(norm_first_).rotary(positional_ == "rotary");
    // pre-norm stacks end with a LayerNorm (the residual stream is not normalised otherwise)
    stack_ = register_module("transformer", std::make_shared<nn::TransformerEncoder>(
                                                nn::TransformerStackOptions(lo, layers_).norm(norm_first_)));
  }

  Tensor encode(const Tensor& x, const Tensor& lengths) override {
    const int64_t T = x.size(1);
    if (learned_pe_)
      check(T <= kMaxLen, "model.encoder.positional", "learned positions hold ", kMaxLen, " steps, got a sequence of ", T);
    Tensor mask = length_mask(lengths, T, x.dtype()).unsqueeze(2);  // (B,T,1)
    Tensor h = x * mask;
    if (in_proj_) h = in_proj_->forward(h);
    if (sin_pe_) h = sin_pe_->forward(h);
    if (learned_pe_) h = learned_pe_->forward(h);
    // keys j >= length[b] are never attended to; queries there are zeroed at the end
    AttentionMask am;
    am.key_lengths(lengths);
    if (window_ >= 0) am.window(window_, window_);
    const bool rec = recording_attention() && !is_training();
    std::vector<Tensor> w;
    h = stack_->forward(h, am, Tensor(), rec ? &w : nullptr);
    maps_.clear();
    for (auto& t : w) maps_.push_back(t.detach());
    return h * mask;
  }
  int64_t output_size() const override { return d_model_; }
  std::vector<Tensor> attention_maps() const override { return maps_; }
  bool has_attention() const override { return true; }
  std::string describe() const override {
    std::ostringstream os;
    os << type_ << "(d_model " << d_model_ << ", heads " << nhead_ << ", layers " << layers_;
    if (window_ >= 0) os << ", window +-" << window_;
    os << ", " << positional_ << " positions" << (norm_first_ ? ", pre-norm" : "") << ")";
    return os.str();
  }

 private:
  static constexpr int64_t kMaxLen = 512;
  std::string type_, positional_;
  int64_t window_, d_model_ = 0, nhead_ = 0, layers_ = 0;
  bool norm_first_ = false;
  std::shared_ptr<nn::Linear> in_proj_;
  std::shared_ptr<nn::SinusoidalPositionalEncoding> sin_pe_;
  std::shared_ptr<nn::LearnedPositionalEncoding> learned_pe_;
  std::shared_ptr<nn::TransformerEncoder> stack_;
  std::vector<Tensor> maps_;
};

std::vector<EncoderField> attention_fields() {
  return {{"d_model", 0, "transformer, window_attention: model width (0: model.embedding_dim; otherwise a Linear projects the embeddings to it)"},
          {"nhead", 4, "transformer, window_attention: attention heads (must divide d_model)"},
          {"dim_feedforward", 128, "transformer, window_attention: hidden width of each layer's feed-forward block"},
          {"norm_first", false, "transformer, window_attention: pre-norm layers (LayerNorm before attention / FFN, and a final LayerNorm) instead of PyTorch's default post-norm"},
          {"activation", "gelu", "transformer, window_attention: feed-forward activation, relu or gelu"},
          {"positional", "sinusoidal", "transformer, window_attention: positional information: sinusoidal or learned (a trained table of 512 positions) added to the inputs, rotary (every layer's self-attention rotates queries and keys by their positions, RoPE: scores see relative offsets; head size d_model/nhead must be even) or none"}};
}

}  // namespace

// ==================================================================== registration
// Called once by the registry in encoders.cpp (a static initialiser here could be dropped by
// the linker from the static library).
std::vector<EncoderSpec> attention_encoder_specs(const std::vector<EncoderField>& shared) {
  auto fields = shared;  // num_layers, dropout (and window for window_attention)
  for (auto& f : attention_fields()) fields.push_back(f);
  std::vector<EncoderSpec> specs;
  specs.push_back({"transformer", "nn::TransformerEncoder over the embeddings (+ positional encoding), padded keys masked", fields,
                   [](const nlohmann::json& c, int64_t in) { return std::make_shared<AttentionEncoder>("transformer", in, c, -1); }});
  auto wf = fields;
  wf.push_back({"window", 2, "window_fc, window_attention: neighbours on each side, position i sees i-window..i+window"});
  specs.push_back({"window_attention", "the notes' truncated self-attention: Transformer layers whose position i attends to i-window..i+window only", wf,
                   [](const nlohmann::json& c, int64_t in) {
                     return std::make_shared<AttentionEncoder>("window_attention", in, c, c.at("window").get<int64_t>());
                   }});
  return specs;
}

}  // namespace seqnn::models
