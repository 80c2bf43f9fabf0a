// src/models/seq2seq_rnn.cpp: the RNN encoder-decoder (seed 002's N vs M and 1 vs N, with
// Bahdanau or Luong attention over the encoder states), its forward pass and its StepDecoder.
//
// Sizes: E embedding_dim, H hidden_size, L num_layers, D the encoder's output size (the keys and
// values of attention), C the width of the summary c (D, or H for a "vector" source).
//   c     = Encoder::last(enc) (sequences)      c = W_src v + b_src ("vector")
//   s_0^l = tanh(W_b c + b_b)[l*H : (l+1)*H]    (LSTM cells start from c_0 = 0)
//   none      s_t = RNN([e(y_{t-1}); c], s_{t-1})                       o_t = s_t^L
//   bahdanau  alpha_t = softmax_j(score(s_{t-1}^L, enc_j) + pad_j),  a_t = sum_j alpha_tj enc_j
//             s_t = RNN([e(y_{t-1}); a_t], s_{t-1})                   o_t = s_t^L
//   luong     s_t = RNN(e(y_{t-1}), s_{t-1}),  alpha_t = softmax_j(score(s_t^L, enc_j) + pad_j)
//             o_t = tanh(W_c [s_t^L; a_t] + b_c)                      (nn::Attn with tanh)
//   logits_t = W_o dropout(o_t) + b_o           (W_o = the target embedding when tied)
// pad_j = 0 for j < length, the lowest finite value after: padded positions get weight 0.
// Dropout (training) on both embeddings, between decoder layers and before the output layer.
//
// Speed: the keys' share of the score (W_k enc for additive, enc W^T for general, w_k . enc_j
// for concat, enc^T for dot) is computed ONCE per batch (prepare_keys), not once per step.
// With full teacher forcing, "none" and "luong" run the fused nn::GRU/LSTM/RNN over the whole
// target and attend for all T at once; "bahdanau" (its input needs a_t, which needs s_{t-1}) and
// teacher_forcing_ratio < 1 step with one fused recurrent_layer call per layer and step.
#include <cmath>
#include <exception>

#include "kernels/parallel.h"
#include "models/seq2seq_impl.h"
#include "seqnn/autograd.h"
#include "seqnn/error.h"
#include "seqnn/models/encoder.h"
#include "seqnn/nn/attention.h"
#include "seqnn/nn/embedding.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/rnn.h"

namespace seqnn::models::detail {

namespace {

// ==================================================================== precomputed keys
// The keys' part of each scoring rule, computed once per batch of sources:
//   dot/scaled_dot  kT = enc^T (B,D,S)          S = q kT (* scale)
//   general         kT = (enc W^T)^T (B,Dq,S)   S = q W enc^T = q kT
//   additive        k  = enc W_k^T (B,S,A)      S_ij = v . tanh(W_q q_i + b + k_j)
//   concat          sk = (enc w_k^T)^T (B,1,S)  S_ij = w_q . q_i + c + sk_j
struct Keys {
  Tensor k, kT, sk;
  Keys select_rows(const Tensor& idx) const {
    Keys r;
    if (k.defined()) r.k = index_select(k, 0, idx);
    if (kT.defined()) r.kT = index_select(kT, 0, idx);
    if (sk.defined()) r.sk = index_select(sk, 0, idx);
    return r;
  }
};

Keys prepare_keys(nn::Score& s, const Tensor& enc) {
  Keys k;
  const int64_t Dq = s.options().query_dim(), Dk = s.options().key_dim();
  switch (s.options().kind()) {
    case nn::ScoreKind::Dot:
    case nn::ScoreKind::ScaledDot: k.kT = transpose(enc, 1, 2).contiguous(); break;
    case nn::ScoreKind::General:
      k.kT = transpose(linear(enc, static_cast<nn::GeneralScore&>(s).weight), 1, 2).contiguous();
      break;
    case nn::ScoreKind::Additive: k.k = linear(enc, static_cast<nn::AdditiveScore&>(s).W_k); break;
    case nn::ScoreKind::ConcatLinear: {
      const Tensor& w = static_cast<nn::ConcatScore&>(s).weight;
      k.sk = transpose(linear(enc, slice(w, 1, Dq, Dq + Dk)), 1, 2).contiguous();
      break;
    }
  }
  return k;
}

// q (B,Lq,Dq) -> scores (B,Lq,S), the same values as s.score(q, enc) on the positions before
// each row's length (additive: 0 past it, where the caller's padding bias swallows any score).
Tensor score_keys(nn::Score& s, const Tensor& q, const Keys& k, const std::vector<int64_t>& lengths) {
  switch (s.options().kind()) {
    case nn::ScoreKind::Dot:
    case nn::ScoreKind::General: return bmm(q, k.kT);
    case nn::ScoreKind::ScaledDot: return bmm(q, k.kT) * static_cast<nn::ScaledDotScore&>(s).scale();
    case nn::ScoreKind::Additive: {
      auto& a = static_cast<nn::AdditiveScore&>(s);
      return additive_score_fast(linear(q, a.W_q, a.bias), k.k, a.v, lengths);
    }
    case nn::ScoreKind::ConcatLinear: {
      auto& c = static_cast<nn::ConcatScore&>(s);
      return linear(q, slice(c.weight, 1, 0, s.options().query_dim()), c.bias) + k.sk;
    }
  }
  fail("Seq2SeqModel", "unknown score kind");
}

// Decoding: q (R,Dq) -> scores (R,S) of row r against the keys of source src[r], read in place
// from the per-source keys k (score_keys' values on the gathered keys).
Tensor score_rows(nn::Score& s, const Tensor& q, const Keys& k, const std::vector<int64_t>& src,
                  const std::vector<int64_t>& lengths) {
  switch (s.options().kind()) {
    case nn::ScoreKind::Dot:
    case nn::ScoreKind::General: return bmm_rows(q, k.kT, src);
    case nn::ScoreKind::ScaledDot: return bmm_rows(q, k.kT, src) * static_cast<nn::ScaledDotScore&>(s).scale();
    case nn::ScoreKind::Additive: {
      auto& a = static_cast<nn::AdditiveScore&>(s);
      return additive_score_rows(linear(q, a.W_q, a.bias), k.k, a.v, src, lengths);
    }
    case nn::ScoreKind::ConcatLinear: {
      auto& c = static_cast<nn::ConcatScore&>(s);
      const Tensor sk = reshape(k.sk, {k.sk.size(0), k.sk.size(2)});  // (Bs,S)
      return linear(q, slice(c.weight, 1, 0, s.options().query_dim()), c.bias) +
             index_select(sk, 0, from_vector(src, {static_cast<int64_t>(src.size())}));
    }
  }
  fail("Seq2SeqModel", "unknown score kind");
}

nn::ScoreKind score_kind(const std::string& s) {
  if (s == "dot") return nn::ScoreKind::Dot;
  if (s == "scaled_dot") return nn::ScoreKind::ScaledDot;
  if (s == "general") return nn::ScoreKind::General;
  if (s == "concat") return nn::ScoreKind::ConcatLinear;
  return nn::ScoreKind::Additive;
}

// The encoded batch of sources: what forward() and the StepDecoder start from.
struct Memory {
  Tensor enc;    // (B,S,D) encoder states (undefined for "vector")
  Tensor c;      // (B,C) the summary
  Tensor bias;   // (B,1,S) padding bias (attention only)
  Keys keys;     // (attention only)
  Tensor h0;     // (B,L*H) initial decoder states
  std::vector<int64_t> lengths;
};

class RnnStepDecoder;

// ==================================================================== the model
class RnnSeq2Seq : public Seq2SeqModel {
 public:
  RnnSeq2Seq(const Seq2SeqConfig& cfg, Generator* gen) : Seq2SeqModel("Seq2SeqModel", cfg) {
    const int64_t E = cfg.embedding_dim, H = cfg.hidden_size, L = cfg.num_layers;
    if (cfg.source == "tokens") {
      src_embed_ = register_module("src_embed", std::make_shared<nn::Embedding>(
                                                    nn::EmbeddingOptions(cfg.source_vocab, E).padding_idx(0), gen));
    } else {
      // features: frames -> E per position; vector: v -> c (C = H)
      const int64_t out = cfg.source == "vector" ? H : E;
      src_proj_ = register_module("src_proj", std::make_shared<nn::Linear>(nn::LinearOptions(cfg.feature_dim, out), gen));
    }
    int64_t C = H;
    if (cfg.source != "vector") {
      encoder_ = register_module("encoder", make_encoder(filled_encoder_config(cfg), E));
      D_ = C = encoder_->output_size();
      if (cfg.attention != "none" && (cfg.attention_score == "dot" || cfg.attention_score == "scaled_dot"))
        check(D_ == H, "seq2seq", "attention_score \"", cfg.attention_score,
              "\" needs query size == key size: the decoder hidden_size (", H, ") must equal the encoder output size (",
              D_, "); use general, additive or concat otherwise");
    }
    bridge_ = register_module("bridge", std::make_shared<nn::Linear>(nn::LinearOptions(C, L * H), gen));
    tgt_embed_ = register_module("tgt_embed", std::make_shared<nn::Embedding>(
                                                  nn::EmbeddingOptions(cfg.target_vocab, E).padding_idx(0), gen));
    const int64_t I = cfg.attention == "none" ? E + C : cfg.attention == "bahdanau" ? E + D_ : E;
    if (cfg.cell == "gru")
      decoder_ = register_module("decoder", std::make_shared<nn::GRU>(
                                                nn::GRUOptions(I, H).num_layers(L).dropout(cfg.dropout).batch_first(true), gen));
    else if (cfg.cell == "lstm")
      decoder_ = register_module("decoder", std::make_shared<nn::LSTM>(
                                                nn::LSTMOptions(I, H).num_layers(L).dropout(cfg.dropout).batch_first(true), gen));
    else
      decoder_ = register_module("decoder", std::make_shared<nn::RNN>(
                                                nn::RNNOptions(I, H).num_layers(L).dropout(cfg.dropout).batch_first(true), gen));
    spec_.cell = cfg.cell == "gru" ? CellType::GRU : cfg.cell == "lstm" ? CellType::LSTM : CellType::RNN;
    for (int64_t l = 0; l < L; ++l) layer_w_.push_back(decoder_->layer_weights(l).front());
    const nn::ScoreKind kind = score_kind(cfg.attention_score);
    if (cfg.attention == "bahdanau") {
      bahdanau_ = register_module("attn", std::make_shared<nn::Attention>(
                                              nn::AttentionOptions(nn::ScoreOptions(kind, H, D_)), gen));
      score_ = bahdanau_->score.get();
    } else if (cfg.attention == "luong") {
      luong_ = register_module("attn", std::make_shared<nn::Attn>(nn::AttnOptions(H, D_, D_, H).score(kind).tanh(true), gen));
      score_ = luong_->score.get();
    }
    if (cfg.tie_embeddings) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(H));
      out_bias_ = register_parameter("out_bias", uniform({cfg.target_vocab}, -bound, bound, DType::F32, gen));
    } else {
      out_ = register_module("out", std::make_shared<nn::Linear>(nn::LinearOptions(H, cfg.target_vocab), gen));
    }
  }

  DType dtype() const { return tgt_embed_->weight.dtype(); }
  int64_t H() const { return cfg_.hidden_size; }
  int64_t L() const { return cfg_.num_layers; }

  Tensor drop(const Tensor& x) const { return dropout(x, cfg_.dropout, is_training()); }

  // ------------------------------------------------------------ encoder side
  Memory encode(const Tensor& src, const Tensor& src_lengths, const char* op) {
    Memory m;
    m.lengths = check_source(cfg_, src, src_lengths, dtype(), op);
    if (cfg_.source == "vector") {
      m.c = src_proj_->forward(src);  // c = W v + b
    } else {
      const int64_t S = src.size(1);
      const Tensor x = drop(src_embed_ ? src_embed_->forward(src) : src_proj_->forward(src));  // (B,S,E)
      m.enc = encoder_->encode(x, src_lengths);                                               // (B,S,D)
      m.c = encoder_->last(m.enc, src_lengths);                                                // (B,D)
      if (score_) {
        m.bias = key_padding_bias(m.lengths, S, dtype());
        m.keys = prepare_keys(*score_, m.enc);
      }
    }
    m.h0 = tanh(bridge_->forward(m.c));  // (B,L*H)
    return m;
  }

  // alpha = softmax_j(score(q, enc_j) + pad_j): q (B,Lq,H) -> (B,Lq,S); lengths: the rows'
  // source lengths (what bias masks), so the additive score skips the padded keys
  Tensor attend(const Tensor& q, const Memory& m) {
    return softmax(score_keys(*score_, q, m.keys, m.lengths) + m.bias, -1);
  }

  Tensor logits_of(const Tensor& o) {
    const Tensor x = drop(o);
    return out_ ? out_->forward(x) : linear(x, tgt_embed_->weight, out_bias_);
  }

  // ------------------------------------------------------------ forward
  Tensor forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in, double ratio,
                 Generator* gen) override {
    const char* op = "Seq2SeqModel.forward";
    check(ratio >= 0 && ratio <= 1, op, "teacher_forcing_ratio must be in [0,1], got ", ratio);
    Memory m = encode(src, src_lengths, op);
    const int64_t B = m.c.size(0);
    check_target(cfg_, tgt_in, B, op);
    attention_ = Tensor();
    if (ratio == 1.0 && cfg_.attention != "bahdanau") return forward_whole(m, tgt_in);
    return forward_steps(m, tgt_in, ratio, gen ? *gen : default_generator());
  }

  // Full teacher forcing, none / luong: the fused layer over all T, attention for all T at once.
  Tensor forward_whole(const Memory& m, const Tensor& tgt_in) {
    const int64_t B = tgt_in.size(0), T = tgt_in.size(1), H = this->H(), L = this->L();
    Tensor x = drop(tgt_embed_->forward(tgt_in));  // (B,T,E)
    if (cfg_.attention == "none") x = cat({x, expand(m.c.unsqueeze(1), {B, T, m.c.size(1)})}, 2);
    const Tensor h0 = transpose(reshape(m.h0, {B, L, H}), 0, 1).contiguous();  // (L,B,H)
    const Tensor c0 = spec_.cell == CellType::LSTM ? zeros({L, B, H}, dtype()) : Tensor();
    Tensor o = decoder_->forward(x, h0, c0).output;  // (B,T,H)
    if (cfg_.attention == "luong") {
      const Tensor w = attend(o, m);                              // (B,T,S)
      o = tanh(luong_->attn_combine->forward(cat({o, bmm(w, m.enc)}, 2)));   // tanh(W_c [s_t; a_t] + b_c)
      attention_ = w.detach();
    }
    return logits_of(o);
  }

  // One step at a time: bahdanau (input feeding) and teacher_forcing_ratio < 1.
  Tensor forward_steps(const Memory& m, const Tensor& tgt_in, double ratio, Generator& gen) {
    const int64_t B = tgt_in.size(0), T = tgt_in.size(1), H = this->H(), L = this->L();
    const bool forced = ratio == 1.0;
    // The gold embeddings as T views of one (B,T,E) tensor: one split node, whose backward lays
    // the T step gradients side by side (T selects would each scatter into a zero (B,T,E)).
    const TensorList e_gold = forced ? split(drop(tgt_embed_->forward(tgt_in)), 1, 1) : TensorList();
    const std::vector<int64_t> gold = tgt_in.contiguous().to_vector<int64_t>();
    std::vector<Tensor> h(L), c(L);  // (1,B,H) each
    for (int64_t l = 0; l < L; ++l) {
      h[l] = reshape(slice(m.h0, 1, l * H, (l + 1) * H), {1, B, H});
      if (spec_.cell == CellType::LSTM) c[l] = zeros({1, B, H}, dtype());
    }
    TensorList outs, logits, weights;
    Tensor prev_logits;
    std::vector<int64_t> tok(static_cast<size_t>(B));
    for (int64_t t = 0; t < T; ++t) {
      Tensor e;
      if (forced) {
        e = reshape(e_gold[t], {B, e_gold[t].size(2)});  // (B,E)
      } else {
        // row b reads the gold token with probability ratio, else its own previous argmax
        std::vector<int64_t> pred;
        if (t > 0) {
          NoGradGuard ng;
          pred = argmax(prev_logits, -1).to_vector<int64_t>();
        }
        for (int64_t b = 0; b < B; ++b) {
          const bool use_gold = t == 0 || ratio == 1.0 || (ratio > 0.0 && gen.uniform() < ratio);
          tok[b] = use_gold ? gold[b * T + t] : pred[b];
        }
        e = drop(tgt_embed_->forward(from_vector(tok, {B})));
      }
      Tensor x, w;
      if (cfg_.attention == "bahdanau") {
        w = attend(reshape(h[L - 1], {B, 1, H}), m);  // score(s_{t-1}, enc)
        x = cat({e, reshape(bmm(w, m.enc), {B, D_})}, 1);          // [e(y_{t-1}); a_t]
      } else if (cfg_.attention == "none") {
        x = cat({e, m.c}, 1);                                      // [e(y_{t-1}); c]
      } else {
        x = e;
      }
      x = x.unsqueeze(0);  // (1,B,I)
      for (int64_t l = 0; l < L; ++l) {
        RecurrentOutput r = recurrent_layer(spec_, x, h[l], c[l], {layer_w_[l]});
        h[l] = r.h_n;
        if (spec_.cell == CellType::LSTM) c[l] = r.c_n;
        x = l + 1 < L ? drop(r.output) : r.output;
      }
      Tensor o = reshape(h[L - 1], {B, H});
      if (cfg_.attention == "luong") {
        w = attend(reshape(o, {B, 1, H}), m);
        o = tanh(luong_->attn_combine->forward(cat({o, reshape(bmm(w, m.enc), {B, D_})}, 1)));
      }
      if (w.defined()) weights.push_back(w);
      if (forced) {
        outs.push_back(o);
      } else {
        prev_logits = logits_of(o);
        logits.push_back(prev_logits);
      }
    }
    if (!weights.empty()) attention_ = cat(weights, 1).detach();  // (B,T,S)
    return forced ? logits_of(stack(outs, 1)) : stack(logits, 1);
  }

  std::unique_ptr<StepDecoder> decoder(const Tensor& src, const Tensor& src_lengths) override;

  // The decoder's RNN stepping API and the parts the StepDecoder reads.
  std::shared_ptr<nn::Embedding> src_embed_, tgt_embed_;
  std::shared_ptr<nn::Linear> src_proj_, bridge_, out_;
  std::shared_ptr<Encoder> encoder_;
  std::shared_ptr<nn::RecurrentModule> decoder_;
  std::shared_ptr<nn::Attention> bahdanau_;
  std::shared_ptr<nn::Attn> luong_;
  nn::Score* score_ = nullptr;
  Tensor out_bias_;
  RecurrentSpec spec_;
  std::vector<RecurrentWeights> layer_w_;
  int64_t D_ = 0;
};

// ==================================================================== StepDecoder
// Per row: the decoder state (h, and c for LSTM, per layer) and the last attention weights;
// reorder() gathers them. The memory of the sources (encoder states, their precomputed keys,
// the padding bias, c, the lengths) depends only on which SOURCE a row decodes: base_ keeps it
// per source and src_ maps rows to sources. The big parts (the encoder states and keys, S x D
// per source) are read in place through src_ (score_rows, bmm_rows): copied per row they would
// be beam-times larger and read from memory once per beam at every step. The small parts
// (bias, c, lengths) are gathered into mem_ when the source map changes (the first expansion
// to the beams, and when finished sources drop out), not on every step's reorder.
class RnnStepDecoder : public StepDecoder {
 public:
  RnnStepDecoder(RnnSeq2Seq& m, Memory mem) : m_(m), keep_(m.weak_from_this().lock()), base_(std::move(mem)) {
    rows_ = base_.c.size(0);
    st_ = m_.decoder_->initial_state(rows_);
    for (int64_t l = 0; l < m_.L(); ++l)
      st_.h[l] = slice(base_.h0, 1, l * m_.H(), (l + 1) * m_.H()).contiguous().clone();
    base_.h0 = Tensor();
    // read in place at every step: contiguous once here (the encoder's output can be a view)
    auto contig = [](Tensor& t) {
      if (t.defined()) t = t.contiguous();
    };
    contig(base_.enc);
    contig(base_.keys.k);
    contig(base_.keys.kT);
    contig(base_.keys.sk);
    mem_.c = base_.c;
    mem_.bias = base_.bias;
    mem_.lengths = base_.lengths;
    src_.resize(static_cast<size_t>(rows_));
    for (int64_t r = 0; r < rows_; ++r) src_[r] = r;
  }

  int64_t rows() const override { return rows_; }
  int64_t vocab_size() const override { return m_.config().target_vocab; }

  Tensor step(const Tensor& tokens) override {
    const char* op = "Seq2SeqModel.decoder.step";
    check_step_tokens(tokens, rows_, vocab_size(), op);
    NoGradGuard ng;
    if (rows_ == 0) return zeros({0, vocab_size()}, m_.dtype());
    const int64_t R = rows_;
    // Rows are independent: with several threads, each takes a contiguous share of the rows
    // through the whole step (its ops then run single-threaded inside it), instead of every
    // small op of the step forking and joining on its own. The same values either way, up to
    // float rounding where a kernel's path depends on the row count.
    const int nt = num_threads();
    // (not with dropout active: it draws from the one shared generator)
    const bool dropout = m_.is_training() && m_.config().dropout > 0.0;
    const int64_t parts =
        R >= 2 * kMinRowsPerPart && nt > 1 && !dropout ? std::min<int64_t>(nt, R / kMinRowsPerPart) : 1;
    if (parts <= 1) {
      Part p = step_rows(tokens, 0, R);
      for (size_t l = 0; l < st_.h.size(); ++l) st_.h[l] = p.h[l];
      for (size_t l = 0; l < st_.c.size(); ++l) st_.c[l] = p.c[l];
      if (p.w.defined()) last_w_ = p.w;
      return p.logp;
    }
    std::vector<Part> out(static_cast<size_t>(parts));
    std::vector<std::exception_ptr> err(static_cast<size_t>(parts));
    kernels::parallel_for(parts, 1, [&](int64_t i0, int64_t i1) {
      NoGradGuard worker_ng;  // grad mode is per thread
      for (int64_t i = i0; i < i1; ++i) {
        try {
          out[i] = step_rows(tokens, R * i / parts, R * (i + 1) / parts);
        } catch (...) {
          err[i] = std::current_exception();
        }
      }
    });
    for (auto& e : err)
      if (e) std::rethrow_exception(e);
    auto join = [&](auto get) {
      TensorList t;
      for (Part& p : out) t.push_back(get(p));
      return cat(t, 0);
    };
    for (size_t l = 0; l < st_.h.size(); ++l) st_.h[l] = join([l](Part& p) { return p.h[l]; });
    for (size_t l = 0; l < st_.c.size(); ++l) st_.c[l] = join([l](Part& p) { return p.c[l]; });
    if (out[0].w.defined()) last_w_ = join([](Part& p) { return p.w; });
    return join([](Part& p) { return p.logp; });
  }

  void reorder(const Tensor& index) override {
    check_reorder_index(index, rows_, "Seq2SeqModel.decoder.reorder");
    NoGradGuard ng;
    const Tensor idx = index.contiguous();
    auto gather = [](Tensor& t, const Tensor& i) {
      if (t.defined()) t = index_select(t, 0, i);
    };
    for (auto& h : st_.h) gather(h, idx);
    for (auto& c : st_.c) gather(c, idx);
    gather(last_w_, idx);
    const std::vector<int64_t> iv = idx.to_vector<int64_t>();
    std::vector<int64_t> src(iv.size());
    for (size_t r = 0; r < iv.size(); ++r) src[r] = src_[iv[r]];
    if (src != src_) {
      const Tensor si = from_vector(src, {static_cast<int64_t>(src.size())});
      mem_.c = base_.c;
      mem_.bias = base_.bias;
      gather(mem_.c, si);
      gather(mem_.bias, si);
      mem_.lengths.clear();
      for (int64_t b : src)
        if (!base_.lengths.empty()) mem_.lengths.push_back(base_.lengths[b]);
      src_ = std::move(src);
    }
    rows_ = idx.size(0);
  }

  Tensor last_attention() const override { return last_w_; }
  std::vector<int64_t> source_lengths() const override { return mem_.lengths; }

 private:
  static constexpr int64_t kMinRowsPerPart = 8;

  // One share of the rows' step: their log-probabilities, new states and attention weights.
  struct Part {
    Tensor logp, w;
    TensorList h, c;
  };

  // Rows [r0, r1) through the whole step. All rows: the module's step() on st_ (its fast path
  // for small batches keeps packed weights in the module). A share of them: reads st_ and
  // writes nothing shared (several shares run at once), stepping the layers through
  // recurrent_layer directly, as the module's cache must not be written from two threads.
  Part step_rows(const Tensor& tokens, int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0, H = m_.H(), L = m_.L();
    const bool whole = r0 == 0 && r1 == rows_;
    auto rows = [&](const Tensor& t) { return whole ? t : slice(t, 0, r0, r1); };
    const std::vector<int64_t> src(src_.begin() + r0, src_.begin() + r1);
    const std::vector<int64_t> lengths =
        mem_.lengths.empty() ? std::vector<int64_t>() : std::vector<int64_t>(mem_.lengths.begin() + r0, mem_.lengths.begin() + r1);
    // alpha (n,S) = softmax_j(score(q_r, enc[src_r]_j) + pad_j), q (n,H)
    auto attend = [&](const Tensor& q) {
      const Tensor sc = score_rows(*m_.score_, q, base_.keys, src, lengths);
      return softmax(sc + reshape(rows(mem_.bias), {n, sc.size(1)}), -1);
    };
    const std::string& att = m_.config().attention;
    Part p;
    const Tensor e = m_.drop(m_.tgt_embed_->forward(rows(tokens)));  // (n,E)
    Tensor x;
    if (att == "bahdanau") {
      p.w = attend(rows(st_.h.back()));
      x = cat({e, bmm_rows(p.w, base_.enc, src)}, 1);
    } else if (att == "none") {
      x = cat({e, rows(mem_.c)}, 1);
    } else {
      x = e;
    }
    Tensor o;
    if (whole) {
      o = m_.decoder_->step(x, st_);  // the state's top h (overwritten by the next step)
      p.h = st_.h;
      p.c = st_.c;
    } else {
      const bool lstm = !st_.c.empty();
      Tensor in = x.unsqueeze(0);  // (1,n,I)
      for (int64_t l = 0; l < L; ++l) {
        RecurrentOutput r = recurrent_layer(m_.spec_, in, rows(st_.h[l]).unsqueeze(0),
                                            lstm ? rows(st_.c[l]).unsqueeze(0) : Tensor(), {m_.layer_w_[l]});
        p.h.push_back(reshape(r.h_n, {n, H}));
        if (lstm) p.c.push_back(reshape(r.c_n, {n, H}));
        in = r.output;
      }
      o = reshape(in, {n, H});
    }
    if (att == "luong") {
      p.w = attend(o);
      o = tanh(m_.luong_->attn_combine->forward(cat({o, bmm_rows(p.w, base_.enc, src)}, 1)));
    }
    p.logp = log_softmax(m_.logits_of(o), -1);
    return p;
  }

  RnnSeq2Seq& m_;
  std::shared_ptr<nn::Module> keep_;  // keeps the model alive when it is held by a shared_ptr
  Memory base_;                       // per source (h0 dropped)
  Memory mem_;                        // per row, gathered by src_: c, bias, lengths only
  std::vector<int64_t> src_;          // the source of each row
  nn::RecurrentState st_;
  Tensor last_w_;
  int64_t rows_ = 0;
};

std::unique_ptr<StepDecoder> RnnSeq2Seq::decoder(const Tensor& src, const Tensor& src_lengths) {
  NoGradGuard ng;
  return std::make_unique<RnnStepDecoder>(*this, encode(src, src_lengths, "Seq2SeqModel.decoder"));
}

}  // namespace

std::shared_ptr<Seq2SeqModel> make_rnn_seq2seq(const Seq2SeqConfig& cfg, Generator* gen) {
  return std::make_shared<RnnSeq2Seq>(cfg, gen);
}

}  // namespace seqnn::models::detail
