// src/models/seq2seq.cpp: what both encoder-decoder architectures share: the config checks, the
// forward() argument checks, the loss, describe(), and make_seq2seq. The models themselves are
// in seq2seq_rnn.cpp and seq2seq_transformer.cpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "models/seq2seq_impl.h"
#include "seqnn/error.h"
#include "seqnn/models/encoder.h"

namespace seqnn::models {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

void check_choice(const std::string& field, const std::string& value, const std::vector<std::string>& allowed) {
  check(std::find(allowed.begin(), allowed.end(), value) != allowed.end(), "seq2seq", field, " \"", value,
        "\" (expected one of ", join(allowed), ")");
}

}  // namespace

// ==================================================================== config
void Seq2SeqConfig::validate() const {
  const char* op = "seq2seq";
  check_choice("architecture", architecture, {"rnn", "transformer"});
  check_choice("source", source, {"tokens", "features", "vector"});
  if (source == "tokens")
    check(source_vocab > 0, op, "source_vocab must be > 0 for source \"tokens\" (got ", source_vocab, ")");
  else
    check(feature_dim > 0, op, "feature_dim must be > 0 for source \"", source, "\" (got ", feature_dim, ")");
  check(target_vocab > 4, op, "target_vocab must be > 4 (pad, unk, bos, eos and at least one token; got ",
        target_vocab, ")");
  check(dropout >= 0 && dropout < 1, op, "dropout must be in [0,1) (got ", dropout, ")");
  check(teacher_forcing_ratio >= 0 && teacher_forcing_ratio <= 1, op, "teacher_forcing_ratio must be in [0,1] (got ",
        teacher_forcing_ratio, ")");
  if (architecture == "transformer") {
    check(source != "vector", op, "source \"vector\" needs architecture \"rnn\" (the transformer reads sequences)");
    check(teacher_forcing_ratio == 1.0, op, "transformer needs teacher_forcing_ratio 1 (got ", teacher_forcing_ratio,
          ")");
    check(d_model >= 1, op, "d_model must be >= 1 (got ", d_model, ")");
    check(nhead >= 1, op, "nhead must be >= 1 (got ", nhead, ")");
    check(d_model % nhead == 0, op, "d_model (", d_model, ") must be divisible by nhead (", nhead, ")");
    check(num_encoder_layers >= 1, op, "num_encoder_layers must be >= 1 (got ", num_encoder_layers, ")");
    check(num_decoder_layers >= 1, op, "num_decoder_layers must be >= 1 (got ", num_decoder_layers, ")");
    check(dim_feedforward >= 1, op, "dim_feedforward must be >= 1 (got ", dim_feedforward, ")");
    return;
  }
  // rnn
  check(embedding_dim >= 1, op, "embedding_dim must be >= 1 (got ", embedding_dim, ")");
  check_choice("cell", cell, {"gru", "lstm", "rnn"});
  check(hidden_size >= 1, op, "hidden_size must be >= 1 (got ", hidden_size, ")");
  check(num_layers >= 1, op, "num_layers must be >= 1 (got ", num_layers, ")");
  check_choice("attention", attention, {"none", "bahdanau", "luong"});
  check_choice("attention_score", attention_score, {"additive", "dot", "scaled_dot", "general", "concat"});
  if (source == "vector")
    check(attention == "none", op, "source \"vector\" has one vector, nothing to attend over: it needs attention "
          "\"none\" (got \"", attention, "\")");
  if (tie_embeddings) {
    const int64_t in = hidden_size;  // the output layer reads s_t or the attentional state (both H wide)
    check(in == embedding_dim, op, "tie_embeddings needs the output layer's input size (hidden_size ", in,
          ") to equal embedding_dim (", embedding_dim, ")");
  }
  if (source != "vector") {
    check(encoder.is_null() || encoder.is_object(), op, "encoder must be an object (model.encoder), got ",
          encoder.dump());
    const int64_t K = detail::known_encoder_output_size(*this);
    if (K > 0 && attention != "none" && (attention_score == "dot" || attention_score == "scaled_dot"))
      check(K == hidden_size, op, "attention_score \"", attention_score,
            "\" needs query size == key size: the decoder hidden_size (", hidden_size,
            ") must equal the encoder output size (", K, "); use general, additive or concat otherwise");
  }
}

// ==================================================================== shared helpers
namespace detail {

nlohmann::json filled_encoder_config(const Seq2SeqConfig& cfg) {
  nlohmann::json c = cfg.encoder;
  if (c.is_null() || (c.is_object() && c.empty()))
    c = {{"type", "gru"}, {"hidden_size", cfg.hidden_size}, {"bidirectional", false}, {"attention_heads", 0}};
  check(c.is_object() && c.contains("type") && c["type"].is_string(), "seq2seq",
        "encoder needs a string field \"type\" (model.encoder.type), got ", c.dump());
  for (const auto& spec : encoder_specs())
    if (spec.type == c["type"].get<std::string>())
      for (const auto& f : spec.fields)
        if (!c.contains(f.name)) c[f.name] = f.default_value;
  return c;
}

int64_t known_encoder_output_size(const Seq2SeqConfig& cfg) {
  nlohmann::json c;
  try {
    c = filled_encoder_config(cfg);
  } catch (const Error&) {
    return -1;
  }
  const std::string t = c["type"].get<std::string>();
  auto num = [&](const char* k, int64_t d) { return c.contains(k) && c[k].is_number() ? c[k].get<int64_t>() : d; };
  if (t == "rnn" || t == "lstm" || t == "gru") {
    const bool bi = c.contains("bidirectional") && c["bidirectional"].is_boolean() && c["bidirectional"].get<bool>();
    return num("hidden_size", 0) * (bi ? 2 : 1);
  }
  if (t == "window_fc") return num("hidden_size", 0);
  if (t == "transformer" || t == "window_attention") {
    const int64_t d = num("d_model", 0);
    return d > 0 ? d : cfg.embedding_dim;
  }
  return -1;
}

std::vector<int64_t> check_source(const Seq2SeqConfig& cfg, const Tensor& src, const Tensor& src_lengths, DType dt,
                                  const char* op) {
  check(src.defined(), op, "src is undefined");
  if (cfg.source == "vector") {
    check(src.dim() == 2 && src.size(1) == cfg.feature_dim, op, "src ", src.shape(), " must be (B,F=", cfg.feature_dim,
          ") for source \"vector\"");
    check(src.dtype() == dt, op, "src is ", dtype_name(src.dtype()), " but the model is ", dtype_name(dt));
    check(src.size(0) >= 1, op, "empty batch: src ", src.shape());
    return {};
  }
  if (cfg.source == "tokens") {
    check(src.dtype() == DType::I64 && src.dim() == 2, op, "src must be (B,S) int64 token ids, got ", src.shape(), " ",
          dtype_name(src.dtype()));
  } else {
    check(src.dim() == 3 && src.size(2) == cfg.feature_dim, op, "src ", src.shape(), " must be (B,S,F=",
          cfg.feature_dim, ") for source \"features\"");
    check(src.dtype() == dt, op, "src is ", dtype_name(src.dtype()), " but the model is ", dtype_name(dt));
  }
  const int64_t B = src.size(0), S = src.size(1);
  check(B >= 1, op, "empty batch: src ", src.shape());
  check(S >= 1, op, "empty source: src ", src.shape(), " has no positions (S = 0)");
  check(src_lengths.defined() && src_lengths.dtype() == DType::I64 && src_lengths.dim() == 1 &&
            src_lengths.size(0) == B,
        op, "src_lengths must be (B=", B, ") int64, got ", shape_or_none(src_lengths), " ",
        src_lengths.defined() ? dtype_name(src_lengths.dtype()) : "undefined");
  std::vector<int64_t> len = src_lengths.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    check(len[b] != 0, op, "empty source: src_lengths[", b, "] is 0 (expected a length in [1,", S, "])");
    check(len[b] >= 1 && len[b] <= S, op, "src_lengths[", b, "] = ", len[b], " out of [1,", S, "]");
  }
  if (cfg.source == "tokens") {
    const Tensor s = src.contiguous();
    const int64_t* p = s.data_ptr<int64_t>();
    for (int64_t i = 0; i < B * S; ++i)
      check(p[i] >= 0 && p[i] < cfg.source_vocab, op, "src[", i / S, ",", i % S, "] = ", p[i],
            " is outside the source vocabulary [0,", cfg.source_vocab, ")");
  }
  return len;
}

void check_target(const Seq2SeqConfig& cfg, const Tensor& tgt, int64_t B, const char* op) {
  check(tgt.defined() && tgt.dtype() == DType::I64 && tgt.dim() == 2 && tgt.size(0) == B, op,
        "tgt_in must be (B=", B, ",T) int64 token ids, got ", shape_or_none(tgt), " ",
        tgt.defined() ? dtype_name(tgt.dtype()) : "undefined");
  const int64_t T = tgt.size(1);
  check(T >= 1, op, "tgt_in ", tgt.shape(), " has no positions (T = 0; it starts with BOS)");
  const Tensor t = tgt.contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < B * T; ++i)
    check(p[i] >= 0 && p[i] < cfg.target_vocab, op, "tgt_in[", i / T, ",", i % T, "] = ", p[i],
          " is outside the target vocabulary [0,", cfg.target_vocab, ")");
}

void check_step_tokens(const Tensor& tokens, int64_t rows, int64_t V, const char* op) {
  check(tokens.defined() && tokens.dtype() == DType::I64 && tokens.dim() == 1 && tokens.size(0) == rows, op,
        "tokens must be (rows=", rows, ") int64, got ", shape_or_none(tokens), " ",
        tokens.defined() ? dtype_name(tokens.dtype()) : "undefined");
  const Tensor t = tokens.contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows; ++i)
    check(p[i] >= 0 && p[i] < V, op, "tokens[", i, "] = ", p[i], " is outside the target vocabulary [0,", V, ")");
}

void check_reorder_index(const Tensor& index, int64_t rows, const char* op) {
  check(index.defined() && index.dtype() == DType::I64 && index.dim() == 1, op, "index must be 1-d int64, got ",
        shape_or_none(index), " ", index.defined() ? dtype_name(index.dtype()) : "undefined");
  const Tensor t = index.contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < index.size(0); ++i)
    check(p[i] >= 0 && p[i] < rows, op, "index[", i, "] = ", p[i], " out of [0,", rows, ")");
}

Tensor key_padding_bias(const std::vector<int64_t>& lengths, int64_t S, DType dt) {
  const int64_t B = static_cast<int64_t>(lengths.size());
  const double lowest = dt == DType::F32 ? -static_cast<double>(std::numeric_limits<float>::max())
                                         : -std::numeric_limits<double>::max();
  std::vector<double> m(static_cast<size_t>(B * S), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = lengths[b]; s < S; ++s) m[b * S + s] = lowest;
  return from_vector(m, {B, 1, S}).to(dt);
}

}  // namespace detail

// ==================================================================== Seq2SeqModel
Tensor Seq2SeqModel::loss(const Tensor& logits, const Tensor& tgt_out, double label_smoothing) const {
  const char* op = "Seq2SeqModel.loss";
  check(logits.defined() && logits.dim() == 3 && logits.size(2) == cfg_.target_vocab, op, "logits must be (B,T,V=",
        cfg_.target_vocab, "), got ", shape_or_none(logits));
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  check(tgt_out.defined() && tgt_out.dtype() == DType::I64 && tgt_out.shape() == Shape{B, T}, op, "tgt_out must be (B,T)=",
        Shape{B, T}, " int64, got ", shape_or_none(tgt_out), " ",
        tgt_out.defined() ? dtype_name(tgt_out.dtype()) : "undefined");
  check(label_smoothing >= 0 && label_smoothing <= 1, op, "label_smoothing must be in [0,1], got ", label_smoothing);
  // PyTorch: cross_entropy(logits.reshape(-1,V), tgt_out.reshape(-1), ignore_index=0, label_smoothing=eps)
  return cross_entropy(reshape(logits, {B * T, V}), reshape(tgt_out, {B * T}),
                       CrossEntropyOptions().ignore_index(0).label_smoothing(label_smoothing));
}

std::string Seq2SeqModel::describe() const {
  std::ostringstream os;
  const auto& c = cfg_;
  if (c.architecture == "transformer") {
    os << "transformer seq2seq: d_model " << c.d_model << ", " << c.nhead << " heads, " << c.num_encoder_layers
       << " encoder + " << c.num_decoder_layers << " decoder layers, feed-forward " << c.dim_feedforward;
    if (c.tie_embeddings) os << ", tied output embedding";
  } else {
    os << "rnn seq2seq: ";
    if (c.source == "vector") {
      os << "vector " << c.feature_dim << " -> c";
    } else {
      std::string enc = "encoder";
      for (const auto& [name, m] : named_children())
        if (name == "encoder")
          if (auto e = std::dynamic_pointer_cast<Encoder>(m)) enc = e->describe() + " encoder";
      os << enc;
    }
    os << ", " << c.cell << " decoder " << c.hidden_size;
    if (c.num_layers > 1) os << " x" << c.num_layers;
    os << ", " << (c.attention == "none" ? std::string("context every step") : c.attention + "/" + c.attention_score);
  }
  os << ", " << (c.source == "tokens" ? "source vocab " + std::to_string(c.source_vocab)
                                      : c.source + " " + std::to_string(c.feature_dim))
     << ", target vocab " << c.target_vocab;
  return os.str();
}

int64_t Seq2SeqModel::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

std::shared_ptr<Seq2SeqModel> make_seq2seq(const Seq2SeqConfig& cfg, Generator* gen) {
  cfg.validate();
  if (!gen) return cfg.architecture == "rnn" ? detail::make_rnn_seq2seq(cfg, nullptr)
                                             : detail::make_transformer_seq2seq(cfg, nullptr);
  // The registry's encoders draw from the default generator: lend it gen's stream for the build,
  // so every parameter comes from gen (and gen advances as if it had drawn them itself).
  Generator saved = default_generator();
  default_generator() = *gen;
  std::shared_ptr<Seq2SeqModel> m;
  try {
    m = cfg.architecture == "rnn" ? detail::make_rnn_seq2seq(cfg, &default_generator())
                                  : detail::make_transformer_seq2seq(cfg, &default_generator());
  } catch (...) {
    default_generator() = saved;
    throw;
  }
  *gen = default_generator();
  default_generator() = saved;
  return m;
}

}  // namespace seqnn::models
