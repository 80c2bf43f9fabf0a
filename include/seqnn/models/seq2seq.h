// seqnn/models/seq2seq.h: the notes' N vs M (encoder-decoder) and 1 vs N models.
//
// Architectures (Seq2SeqConfig::architecture):
//   "rnn"          an Encoder from the registry (models/encoder.h: gru, lstm, rnn, transformer,
//                  window_attention, ...) reads the source; an RNN decoder (cell gru/lstm/rnn)
//                  emits the target. The encoder summary c = Encoder::last() sets the decoder's
//                  initial state through a bridge h_0 = tanh(W_b c + b_b) (per decoder layer).
//                  attention "none":     seed 002's N vs M: c is concatenated to the decoder
//                                        input at EVERY step:  s_t = RNN([e(y_{t-1}); c], s_{t-1})
//                  attention "bahdanau": the Attn module scores s_{t-1} against all encoder
//                                        states; the context a_t enters the step:
//                                        s_t = RNN([e(y_{t-1}); a_t], s_{t-1})
//                  attention "luong":    the step first, then Attn(s_t, enc) = attn_combine([s_t;
//                                        a_t]) (tanh), which feeds the output layer
//                  The scoring rule is any nn::ScoreKind (attention_score: additive, dot,
//                  scaled_dot, general, concat). out_t = Linear(s_t or attentional state) -> V.
//   "transformer"  nn::Transformer (post-norm, PyTorch's layout): source and target embeddings
//                  (scaled by sqrt(d_model)) plus sinusoidal positions; a causal target mask,
//                  key padding from the lengths; decoding uses TransformerDecoder::step and its
//                  KV caches.
// Source kinds (Seq2SeqConfig::source):
//   "tokens"   ids (B,S) I64 through an Embedding (padding id 0)
//   "features" vectors (B,S,F) through a Linear to embedding_dim (speech frames)
//   "vector"   1 vs N (seed 002): one vector (B,F) per example; no encoder, it is projected to c
//              and conditions every decoder step as above (rnn only; lengths are ignored)
// Padded source positions (at or past src_lengths[b]) never influence anything: the encoders
// ignore them, and attention gives them weight exactly 0 (scores + the lowest finite value).
// Dropout (config.dropout, training only): on the embeddings, between decoder layers and before
// the output layer (rnn); on the embeddings and inside every layer (transformer).
// Parameter names (state_dict keys, PyTorch-style; tests/parity/seq2seq_twin.py is the
// PyTorch twin that loads them):
//   rnn          src_embed.weight (tokens) | src_proj.{weight,bias} (features: F->E; vector: F->H)
//                encoder.* (the registry's encoder, e.g. encoder.rnn.weight_ih_l0; not for vector)
//                bridge.{weight,bias} (L*H, C)    C = encoder output size (H for vector)
//                tgt_embed.weight (V,E)
//                decoder.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}   (nn::GRU/LSTM/RNN layout;
//                the input is E + C (none), E + D (bahdanau) or E (luong))
//                attn.score.* (nn::Attention for bahdanau, nn::Attn with tanh for luong: also
//                attn.attn_combine.{weight,bias}; the score's own names: W_q, W_k, bias, v /
//                weight / weight, bias)
//                out.{weight,bias} (V,H) | out_bias (V) with tie_embeddings (W = tgt_embed.weight,
//                which needs hidden_size == embedding_dim)
//   transformer  src_embed.weight | src_proj.*, tgt_embed.weight (embeddings start N(0, 1/d_model),
//                padding row 0), transformer.encoder.layers.N.*, transformer.encoder.norm.*,
//                transformer.decoder.layers.N.*, transformer.decoder.norm.* (nn::Transformer),
//                out.{weight,bias} | out_bias (tied)
// The StepDecoder (decoder()) is meant for eval mode; it records no gradients.
// Targets use the Tokenizer convention (data/tokenizer.h): pad 0, unk 1, bos 2, eos 3.
// Training feeds tgt_in = [BOS y_1 .. y_{n-1}] and predicts tgt_out = [y_1 .. y_n EOS]
// (padded with 0). teacher_forcing_ratio < 1 (rnn only; the transformer needs 1): at each step
// and for each row, with probability 1 - ratio the decoder reads its own previous argmax instead
// of the gold token (drawn from the Generator passed in, so runs are reproducible: for t = 1..T-1,
// for b = 0..B-1, one gen.uniform() < ratio; ratio 0 and 1 draw nothing).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "seqnn/models/decoding.h"
#include "seqnn/nn/module.h"
#include "seqnn/random.h"

namespace seqnn::models {

struct Seq2SeqConfig {
  std::string architecture = "rnn";   // rnn / transformer
  std::string source = "tokens";      // tokens / features / vector
  int64_t source_vocab = 0;           // tokens: > 0
  int64_t feature_dim = 0;            // features / vector: > 0
  int64_t target_vocab = 0;           // > 4 (pad, unk, bos, eos + at least one)
  int64_t embedding_dim = 64;         // rnn: source and target embeddings
  double dropout = 0.0;
  // The ratio the trainer passes to forward() (rnn: in [0,1]; the transformer needs 1).
  double teacher_forcing_ratio = 1.0;
  // rnn
  nlohmann::json encoder;             // model.encoder (the registry's fields, defaults filled in)
  std::string cell = "gru";           // decoder cell: gru / lstm / rnn
  int64_t hidden_size = 128;          // decoder hidden size
  int64_t num_layers = 1;             // decoder layers
  std::string attention = "bahdanau"; // none / bahdanau / luong
  std::string attention_score = "additive";  // additive / dot / scaled_dot / general / concat
  // transformer
  int64_t d_model = 128;
  int64_t nhead = 4;
  int64_t num_encoder_layers = 2;
  int64_t num_decoder_layers = 2;
  int64_t dim_feedforward = 256;
  bool tie_embeddings = false;        // output layer shares the target embedding
  // Error naming the field when a value is out of range or a combination is unsupported.
  void validate() const;
};

class Seq2SeqModel : public nn::Module {
 public:
  // src: (B,S) I64, (B,S,F) or (B,F) per config().source; src_lengths (B) I64 in [1,S] (ignored
  // for "vector"); tgt_in (B,T) I64 -> logits (B,T,V) (position t predicts tgt_out[:, t]).
  virtual Tensor forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in,
                         double teacher_forcing_ratio = 1.0, Generator* gen = nullptr) = 0;
  // Mean token cross-entropy over the non-pad positions of tgt_out (B,T), with PyTorch's
  // label_smoothing semantics (cross_entropy(..., ignore_index=0, label_smoothing=eps)).
  Tensor loss(const Tensor& logits, const Tensor& tgt_out, double label_smoothing = 0.0) const;
  // An incremental decoder over these sources (B rows), for the searches of decoding.h. Runs the
  // encoder once (no gradients). The rnn decoder steps with its cells; the transformer with KV
  // caches, and equals full recomputation of forward() on the prefix.
  virtual std::unique_ptr<StepDecoder> decoder(const Tensor& src, const Tensor& src_lengths) = 0;
  // Cross-attention weights of the last forward(): (B,T,S) (transformer: the last decoder
  // layer's, averaged over heads, recorded in eval mode only); undefined Tensor for attention
  // "none" and "vector" sources.
  const Tensor& attention() const { return attention_; }
  const Seq2SeqConfig& config() const { return cfg_; }
  std::string describe() const;  // one line: "rnn seq2seq: gru encoder ..., gru decoder 128, bahdanau/additive"
  int64_t num_parameters() const;

 protected:
  Seq2SeqModel(const std::string& name, const Seq2SeqConfig& cfg) : nn::Module(name), cfg_(cfg) {}
  Seq2SeqConfig cfg_;
  Tensor attention_;
};

// Validates the config and builds the model (parameters initialised from gen, or the global
// generator when null).
std::shared_ptr<Seq2SeqModel> make_seq2seq(const Seq2SeqConfig& cfg, Generator* gen = nullptr);

}  // namespace seqnn::models
