// src/models/seq2seq_transformer.cpp: the Transformer encoder-decoder (seed 003: global
// cross-attention, the masked decoder) and its KV-cache StepDecoder.
//
//   x_src = dropout(sqrt(d) * Emb_src(src) + PE)          ("features": W_src f + b_src + PE)
//   y     = dropout(sqrt(d) * Emb_tgt(tgt_in) + PE)
//   mem   = TransformerEncoder(x_src; keys j >= length masked)       (with its final LayerNorm)
//   h     = TransformerDecoder(y, mem; causal self-attention, memory keys j >= length masked)
//   logits = W_o h + b_o                                   (W_o = Emb_tgt.weight when tied)
// nn::Transformer is post-norm (PyTorch's default), relu feed-forward, batch_first; PE the
// sinusoidal table of nn/positional.h. Embeddings start N(0, 1/d) (padding row 0), so that
// sqrt(d) * Emb has unit scale, as in Vaswani et al. and fairseq.
//
// StepDecoder: each decoder layer keeps a self-attention KVCache (MultiheadAttention::step) and
// the memory's cross-attention K,V projected once (project_static); one step is
//   x = norm1(x + SA_step(x));  x = norm2(x + MHA_static(x));  x = norm3(x + FF(x))
// per layer, then the final norm: forward() on the prefix, row by row, without recomputation.
#include <cmath>

#include "models/seq2seq_impl.h"
#include "seqnn/attention.h"
#include "seqnn/autograd.h"
#include "seqnn/error.h"
#include "seqnn/nn/embedding.h"
#include "seqnn/nn/init.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/positional.h"
#include "seqnn/nn/transformer.h"

namespace seqnn::models::detail {

namespace {

std::shared_ptr<nn::Embedding> scaled_embedding(int64_t V, int64_t d, Generator* gen) {
  auto e = std::make_shared<nn::Embedding>(nn::EmbeddingOptions(V, d).padding_idx(0), gen);
  nn::init::normal_(e->weight, 0.0, 1.0 / std::sqrt(static_cast<double>(d)), gen);
  NoGradGuard ng;
  select(e->weight, 0, 0).zero_();  // the padding row
  return e;
}

// ==================================================================== the model
class TransformerSeq2Seq : public Seq2SeqModel {
 public:
  TransformerSeq2Seq(const Seq2SeqConfig& cfg, Generator* gen)
      : Seq2SeqModel("Seq2SeqModel", cfg),
        pe_(nn::SinusoidalPositionalEncodingOptions(cfg.d_model).batch_first(true)),
        scale_(std::sqrt(static_cast<double>(cfg.d_model))) {
    const int64_t d = cfg.d_model;
    if (cfg.source == "tokens")
      src_embed_ = register_module("src_embed", scaled_embedding(cfg.source_vocab, d, gen));
    else
      src_proj_ = register_module("src_proj", std::make_shared<nn::Linear>(nn::LinearOptions(cfg.feature_dim, d), gen));
    tgt_embed_ = register_module("tgt_embed", scaled_embedding(cfg.target_vocab, d, gen));
    transformer_ = register_module(
        "transformer", std::make_shared<nn::Transformer>(nn::TransformerOptions(d, cfg.nhead)
                                                             .num_encoder_layers(cfg.num_encoder_layers)
                                                             .num_decoder_layers(cfg.num_decoder_layers)
                                                             .dim_feedforward(cfg.dim_feedforward)
                                                             .dropout(cfg.dropout)
                                                             .batch_first(true),
                                                         gen));
    if (cfg.tie_embeddings) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(d));
      out_bias_ = register_parameter("out_bias", uniform({cfg.target_vocab}, -bound, bound, DType::F32, gen));
    } else {
      out_ = register_module("out", std::make_shared<nn::Linear>(nn::LinearOptions(d, cfg.target_vocab), gen));
    }
  }

  DType dtype() const { return tgt_embed_->weight.dtype(); }
  Tensor drop(const Tensor& x) const { return dropout(x, cfg_.dropout, is_training()); }

  Tensor logits_of(const Tensor& h) { return out_ ? out_->forward(h) : linear(h, tgt_embed_->weight, out_bias_); }

  // (B,S) ids or (B,S,F) features -> memory (B,S,d)
  Tensor encode(const Tensor& src, const Tensor& lengths) {
    Tensor x = src_embed_ ? src_embed_->forward(src) * scale_ : src_proj_->forward(src);
    x = drop(pe_.forward(x, 0));
    return transformer_->encoder->forward(x, AttentionMask().key_lengths(lengths.contiguous()), Tensor(), nullptr);
  }

  Tensor forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in, double ratio,
                 Generator*) override {
    const char* op = "Seq2SeqModel.forward";
    check(ratio == 1.0, op, "the transformer needs teacher_forcing_ratio 1 (got ", ratio, ")");
    check_source(cfg_, src, src_lengths, dtype(), op);
    check_target(cfg_, tgt_in, src.size(0), op);
    const Tensor memory = encode(src, src_lengths);
    const Tensor y = drop(pe_.forward(tgt_embed_->forward(tgt_in) * scale_, 0));
    // Cross-attention maps only in eval mode (training does not pay for them).
    const bool record = !is_training();
    std::vector<Tensor> cross;
    const Tensor h = transformer_->decoder->forward(y, memory, AttentionMask().causal(),
                                                    AttentionMask().key_lengths(src_lengths.contiguous()), Tensor(),
                                                    Tensor(), nullptr, record ? &cross : nullptr);
    attention_ = record && !cross.empty() ? mean(cross.back(), {1}).detach() : Tensor();  // (B,T,S)
    return logits_of(h);
  }

  std::unique_ptr<StepDecoder> decoder(const Tensor& src, const Tensor& src_lengths) override;

  nn::SinusoidalPositionalEncoding pe_;
  double scale_;
  std::shared_ptr<nn::Embedding> src_embed_, tgt_embed_;
  std::shared_ptr<nn::Linear> src_proj_, out_;
  std::shared_ptr<nn::Transformer> transformer_;
  Tensor out_bias_;
};

// ==================================================================== StepDecoder
// Per row: one self-attention KVCache per layer ((capacity,R,N,Dh) buffers: gathered on dim 1),
// the projected memory K,V per layer ((R,N,S,Dh): dim 0), the source lengths (the key mask) and
// the last layer's cross-attention query input (for last_attention()).
class TransformerStepDecoder : public StepDecoder {
 public:
  TransformerStepDecoder(TransformerSeq2Seq& m, const Tensor& memory, std::vector<int64_t> lengths)
      : m_(m), keep_(m.weak_from_this().lock()), lengths_(std::move(lengths)) {
    rows_ = memory.size(0);
    const Tensor len = from_vector(lengths_, {rows_});
    for (const auto& layer : m_.transformer_->decoder->layer_list) {
      nn::KVCache c = layer->self_attn->new_cache(rows_, 16);
      if (c.k.dtype() != memory.dtype()) {  // the options keep the construction dtype; to() converts only parameters
        c.k = c.k.to(memory.dtype());
        c.v = c.v.to(memory.dtype());
      }
      cache_.push_back(std::move(c));
      nn::StaticKV kv = layer->multihead_attn->project_static(memory);
      kv.mask = AttentionMask().key_lengths(len);
      cross_.push_back(std::move(kv));
    }
  }

  int64_t rows() const override { return rows_; }
  int64_t vocab_size() const override { return m_.config().target_vocab; }

  Tensor step(const Tensor& tokens) override {
    check_step_tokens(tokens, rows_, vocab_size(), "Seq2SeqModel.decoder.step");
    NoGradGuard ng;
    const int64_t t = steps_++;
    if (rows_ == 0) return zeros({0, vocab_size()}, m_.dtype());
    Tensor x = m_.tgt_embed_->forward(tokens) * m_.scale_ + m_.pe_.encoding(t, 1, m_.dtype());  // (R,d)
    const auto& layers = m_.transformer_->decoder->layer_list;
    for (size_t l = 0; l < layers.size(); ++l) {
      const auto& ly = *layers[l];
      x = ly.norm1->forward(x + ly.self_attn->step(x, cache_[l]));
      if (l + 1 == layers.size()) query_ = x;
      x = ly.norm2->forward(x + ly.multihead_attn->step_static(x, cross_[l]));
      x = ly.norm3->forward(x + ly.linear2->forward(relu(ly.linear1->forward(x))));
    }
    if (m_.transformer_->decoder->norm) x = m_.transformer_->decoder->norm->forward(x);
    return log_softmax(m_.logits_of(x), -1);
  }

  void reorder(const Tensor& index) override {
    check_reorder_index(index, rows_, "Seq2SeqModel.decoder.reorder");
    NoGradGuard ng;
    const Tensor idx = index.contiguous();
    for (auto& c : cache_) {
      c.k = index_select(c.k, 1, idx);
      c.v = index_select(c.v, 1, idx);
    }
    std::vector<int64_t> len;
    for (int64_t i : idx.to_vector<int64_t>()) len.push_back(lengths_[i]);
    lengths_ = len;
    rows_ = idx.size(0);
    const Tensor len_t = from_vector(lengths_, {rows_});
    for (auto& kv : cross_) {
      kv.k = index_select(kv.k, 0, idx);
      kv.v = index_select(kv.v, 0, idx);
      kv.mask = AttentionMask().key_lengths(len_t);
    }
    if (query_.defined()) query_ = index_select(query_, 0, idx);
  }

  // The last layer's cross-attention weights of the last step, averaged over the heads.
  Tensor last_attention() const override {
    if (!query_.defined()) return Tensor();
    NoGradGuard ng;
    const nn::MultiheadAttention& mha = *m_.transformer_->decoder->layer_list.back()->multihead_attn;
    const nn::StaticKV& kv = cross_.back();
    const int64_t E = m_.config().d_model, N = m_.config().nhead, R = rows_, S = kv.k.size(2);
    if (R == 0) return zeros({0, S}, m_.dtype());
    const Tensor q = linear(query_, slice(mha.in_proj_weight, 0, 0, E), slice(mha.in_proj_bias, 0, 0, E));
    SDPAOptions o;
    o.need_weights = true;
    const SDPAResult r = scaled_dot_product_attention(reshape(q, {R, N, 1, E / N}), kv.k, kv.v, kv.mask, o);
    return reshape(mean(r.weights, {1}), {R, S});
  }

  std::vector<int64_t> source_lengths() const override { return lengths_; }

 private:
  TransformerSeq2Seq& m_;
  std::shared_ptr<nn::Module> keep_;
  std::vector<int64_t> lengths_;
  std::vector<nn::KVCache> cache_;
  std::vector<nn::StaticKV> cross_;
  Tensor query_;
  int64_t rows_ = 0, steps_ = 0;
};

std::unique_ptr<StepDecoder> TransformerSeq2Seq::decoder(const Tensor& src, const Tensor& src_lengths) {
  NoGradGuard ng;
  std::vector<int64_t> len = check_source(cfg_, src, src_lengths, dtype(), "Seq2SeqModel.decoder");
  return std::make_unique<TransformerStepDecoder>(*this, encode(src, src_lengths), std::move(len));
}

}  // namespace

std::shared_ptr<Seq2SeqModel> make_transformer_seq2seq(const Seq2SeqConfig& cfg, Generator* gen) {
  return std::make_shared<TransformerSeq2Seq>(cfg, gen);
}

}  // namespace seqnn::models::detail
