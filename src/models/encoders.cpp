// src/models/encoders.cpp: the window-FC baseline, the recurrent encoders and the registry.
#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>

#include "seqnn/error.h"
#include "seqnn/models/encoder.h"
#include "seqnn/attention.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/multihead_attention.h"
#include "seqnn/nn/normalization.h"
#include "seqnn/nn/rnn.h"
#include "seqnn/ops.h"

namespace seqnn::models {

// src/models/attention_encoders.cpp: transformer and window_attention, given the shared fields.
std::vector<EncoderSpec> attention_encoder_specs(const std::vector<EncoderField>& shared);

// ==================================================================== helpers
Tensor length_mask(const Tensor& lengths, int64_t T, DType dt) {
  const auto len = lengths.to_vector<int64_t>();
  const int64_t B = static_cast<int64_t>(len.size());
  std::vector<double> m(static_cast<size_t>(B * T), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < std::min(len[b], T); ++t) m[b * T + t] = 1.0;
  return from_vector(m, {B, T}).to(dt);
}

namespace {
// Rows out[b, idx[b]] of (B,T,H) -> (B,H).
Tensor gather_time(const Tensor& out, const std::vector<int64_t>& idx) {
  const int64_t B = out.size(0), T = out.size(1), H = out.size(2);
  std::vector<int64_t> flat(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) flat[b] = b * T + idx[b];
  return index_select(reshape(out, {B * T, H}), 0, from_vector(flat, {B}));
}

int64_t get_int(const nlohmann::json& c, const char* k) { return c.at(k).get<int64_t>(); }
double get_num(const nlohmann::json& c, const char* k) { return c.at(k).get<double>(); }
bool get_bool(const nlohmann::json& c, const char* k) { return c.at(k).get<bool>(); }
}  // namespace

Tensor Encoder::last(const Tensor& out, const Tensor& lengths) {
  auto len = lengths.to_vector<int64_t>();
  for (auto& l : len) l -= 1;
  return gather_time(out, len);
}

// ==================================================================== window_fc
// h_i = MLP([x_{i-k}; ...; x_i; ...; x_{i+k}])  with x_j = 0 outside [0, length)
// The MLP: num_layers x (Linear -> ReLU), hidden_size wide.
class WindowFCEncoder : public Encoder {
 public:
  WindowFCEncoder(int64_t input_size, int64_t window, int64_t hidden, int64_t layers, double dropout)
      : Encoder("WindowFCEncoder"), k_(window), hidden_(hidden), p_(dropout) {
    check(window >= 0, "model.encoder.window", "must be >= 0, got ", window);
    check(hidden >= 1, "model.encoder.hidden_size", "must be >= 1, got ", hidden);
    check(layers >= 1, "model.encoder.num_layers", "must be >= 1, got ", layers);
    int64_t in = (2 * window + 1) * input_size;
    for (int64_t l = 0; l < layers; ++l) {
      fc_.push_back(register_module("fc" + std::to_string(l), std::make_shared<nn::Linear>(nn::LinearOptions(in, hidden))));
      in = hidden;
    }
  }
  Tensor encode(const Tensor& x, const Tensor& lengths) override {
    const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
    Tensor mask = length_mask(lengths, T, x.dtype()).unsqueeze(2);  // (B,T,1)
    Tensor xm = x * mask;
    Tensor h = xm;
    if (k_ > 0) {
      Tensor pad = zeros({B, k_, I}, x.dtype());
      Tensor xp = cat({pad, xm, pad}, 1);  // (B,T+2k,I)
      TensorList parts;
      for (int64_t o = 0; o <= 2 * k_; ++o) parts.push_back(slice(xp, 1, o, o + T));
      h = cat(parts, 2);  // (B,T,(2k+1)I)
    }
    for (size_t l = 0; l < fc_.size(); ++l) {
      h = relu(fc_[l]->forward(h));
      if (l + 1 < fc_.size()) h = dropout(h, p_, is_training());
    }
    return h * mask;
  }
  int64_t output_size() const override { return hidden_; }
  std::string describe() const override {
    std::ostringstream os;
    os << "window_fc(window +-" << k_ << ", hidden " << hidden_ << ", layers " << fc_.size() << ")";
    return os.str();
  }

 private:
  int64_t k_, hidden_;
  double p_;
  std::vector<std::shared_ptr<nn::Linear>> fc_;
};

// ==================================================================== rnn / lstm / gru
// h = RNN(x); with attention_heads A > 0 a self-attention layer over the states follows:
//   out = LayerNorm(h + MHA(h, h, h))   keys past each length masked (AttentionMask key_lengths)
// so every position also reads the whole sentence by content, and the model has a map to show.
class RecurrentEncoder : public Encoder {
 public:
  RecurrentEncoder(const std::string& type, int64_t input_size, const nlohmann::json& c)
      : Encoder("RecurrentEncoder"), type_(type) {
    const int64_t H = get_int(c, "hidden_size"), L = get_int(c, "num_layers");
    const bool bi = get_bool(c, "bidirectional");
    const double p = get_num(c, "dropout");
    check(H >= 1, "model.encoder.hidden_size", "must be >= 1, got ", H);
    check(L >= 1, "model.encoder.num_layers", "must be >= 1, got ", L);
    check(p >= 0 && p < 1, "model.encoder.dropout", "must be in [0,1), got ", p);
    if (type == "lstm")
      rnn_ = register_module("rnn", std::make_shared<nn::LSTM>(
                                        nn::LSTMOptions(input_size, H).num_layers(L).bidirectional(bi).dropout(p).batch_first(true)));
    else if (type == "gru")
      rnn_ = register_module("rnn", std::make_shared<nn::GRU>(
                                        nn::GRUOptions(input_size, H).num_layers(L).bidirectional(bi).dropout(p).batch_first(true)));
    else
      rnn_ = register_module("rnn", std::make_shared<nn::RNN>(
                                        nn::RNNOptions(input_size, H).num_layers(L).bidirectional(bi).dropout(p).batch_first(true)));
    H_ = H;
    L_ = L;
    bi_ = bi;
    heads_ = c.value("attention_heads", int64_t{0});
    const int64_t D = output_size();
    check(heads_ >= 0 && (heads_ == 0 || D % heads_ == 0), "model.encoder.attention_heads",
          "must be 0 (none) or divide the state size ", D, ", got ", heads_);
    if (heads_ > 0) {
      attn_ = register_module("attn", std::make_shared<nn::MultiheadAttention>(
                                          nn::MultiheadAttentionOptions(D, heads_).batch_first(true)));
      norm_ = register_module("attn_norm", std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({D})));
    }
  }
  Tensor encode(const Tensor& x, const Tensor& lengths) override {
    Tensor h = rnn_->forward(x, Tensor(), Tensor(), lengths).output;  // (B,T,D*H), zero past lengths
    if (!attn_) return h;
    const bool rec = recording_attention() && !is_training();
    AttentionMask am;
    am.key_lengths(lengths);
    auto a = attn_->forward(h, h, h, am, Tensor(), rec, false);
    maps_.clear();
    if (rec) maps_.push_back(a.weights.detach());
    Tensor mask = length_mask(lengths, h.size(1), h.dtype()).unsqueeze(2);
    return norm_->forward(h + a.output) * mask;
  }
  std::vector<Tensor> attention_maps() const override { return maps_; }
  bool has_attention() const override { return heads_ > 0; }
  int64_t output_size() const override { return bi_ ? 2 * H_ : H_; }
  Tensor last(const Tensor& out, const Tensor& lengths) override {
    if (!bi_) return Encoder::last(out, lengths);
    // forward direction after its last valid step, backward direction after reading everything (t = 0)
    Tensor fwd = Encoder::last(slice(out, 2, 0, H_).contiguous(), lengths);
    Tensor bwd = select(out, 1, 0);
    return cat({fwd, slice(bwd, 1, H_, 2 * H_)}, 1);
  }
  std::string describe() const override {
    std::ostringstream os;
    os << type_ << "(hidden " << H_ << ", layers " << L_ << (bi_ ? ", bidirectional" : "");
    if (heads_ > 0) os << ", self-attention " << heads_ << " heads";
    os << ")";
    return os.str();
  }

 private:
  std::string type_;
  std::shared_ptr<nn::RecurrentModule> rnn_;
  int64_t H_ = 0, L_ = 1, heads_ = 0;
  bool bi_ = false;
  std::shared_ptr<nn::MultiheadAttention> attn_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::vector<Tensor> maps_;
};

// ==================================================================== registry
namespace {
std::vector<EncoderField> recurrent_fields() {
  return {{"hidden_size", 128, "hidden units per direction (rnn, lstm, gru); MLP width (window_fc)"},
          {"num_layers", 1, "stacked layers (rnn, lstm, gru, transformer, window_attention); MLP layers (window_fc)"},
          {"bidirectional", true, "run a second layer right-to-left and concatenate (rnn, lstm, gru)"},
          {"dropout", 0.0, "dropout between stacked layers (rnn, lstm, gru, window_fc); inside each layer (transformer, window_attention); training only"}};
}

std::map<std::string, EncoderSpec>& registry() {
  static std::map<std::string, EncoderSpec> r = [] {
    std::map<std::string, EncoderSpec> m;
    for (const char* t : {"rnn", "lstm", "gru"}) {
      std::string type = t;
      auto rf = recurrent_fields();
      rf.push_back({"attention_heads", 4, "rnn, lstm, gru: a self-attention layer over the states (out = LayerNorm(h + MHA(h))) with this many heads; 0: none"});
      m[type] = {type, type == "rnn" ? "Elman RNN (tanh), nn::RNN" : type == "lstm" ? "nn::LSTM" : "nn::GRU",
                 rf,
                 [type](const nlohmann::json& c, int64_t in) { return std::make_shared<RecurrentEncoder>(type, in, c); }};
    }
    auto f = recurrent_fields();
    f.push_back({"window", 2, "window_fc, window_attention: neighbours on each side, position i sees i-window..i+window"});
    m["window_fc"] = {"window_fc", "the notes' baseline: an MLP over the concatenated inputs of a +-window", f,
                      [](const nlohmann::json& c, int64_t in) {
                        return std::make_shared<WindowFCEncoder>(in, get_int(c, "window"), get_int(c, "hidden_size"),
                                                                 get_int(c, "num_layers"), get_num(c, "dropout"));
                      }};
    for (auto& spec : attention_encoder_specs({f[1], f[3]})) m[spec.type] = spec;
    return m;
  }();
  return r;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void register_encoder(EncoderSpec spec) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[spec.type] = std::move(spec);
}

std::vector<EncoderSpec> encoder_specs() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<EncoderSpec> out;
  for (const auto& [k, v] : registry()) out.push_back(v);
  return out;
}

std::shared_ptr<Encoder> make_encoder(const nlohmann::json& c, int64_t input_size) {
  check(c.is_object() && c.contains("type") && c["type"].is_string(), "model.encoder", "needs a string field \"type\"");
  const std::string type = c["type"].get<std::string>();
  EncoderFactory f;
  std::string known;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(type);
    if (it != registry().end()) f = it->second.make;
    for (const auto& [k, v] : registry()) known += (known.empty() ? "" : ", ") + k;
  }
  check(static_cast<bool>(f), "model.encoder.type", "unknown encoder \"", type, "\" (known: ", known, ")");
  return f(c, input_size);
}

}  // namespace seqnn::models
