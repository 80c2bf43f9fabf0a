// src/train/sequence_task.cpp: N vs M tasks (the model decides how many labels): translation,
// the toy copy/reverse/sort tasks, speech recognition.
//
// Two model kinds (model.kind):
//   seq2seq  a models::Seq2SeqModel; training minimises the token cross-entropy of
//            tgt_out = [y_1 .. y_n EOS] given tgt_in = [BOS y_1 .. y_n-1] (teacher forcing with
//            train.teacher_forcing, label smoothing train.label_smoothing); decoding by the
//            searches of models/decoding.h
//   ctc      a SequenceTagger whose labels are the target tokenizer's ids, id 0 (pad, never a
//            target) doubling as the CTC blank; training minimises ctc_loss over log_softmax of
//            its frame outputs (zero_infinity, so an input too short for its transcript cannot
//            poison a batch); decoding is best path (beam 1) or prefix beam search
// Metrics of an evaluation: loss (per target token: the seq2seq cross-entropy, or CTC's
// per-target-length mean), exact_match (% of outputs equal to the reference), chrf and bleu
// (sacreBLEU's definitions, train/text_metrics.h), cer and wer (% edit distance). The score
// for early stopping: chrf for translation, cer (lower is better) for feature inputs (speech),
// exact_match otherwise. Validation decodes greedily the first train.valid_decode examples;
// the test decodes all with beam train.beam_size.
#include <algorithm>
#include <cmath>

#include "seqnn/autograd.h"
#include "seqnn/ctc.h"
#include "seqnn/models/decoding.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"
#include "seqnn/train/config.h"
#include "seqnn/train/plots.h"
#include "seqnn/train/text_metrics.h"
#include "seqnn/train/trainer.h"
#include "task.h"

namespace seqnn::train {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {
// ==================================================================== numbers
struct SeqEncoded {
  std::vector<int64_t> src;    // text source ids
  std::vector<float> feat;     // feature source, src_len * F
  int64_t src_len = 0;
  std::vector<int64_t> tgt;    // target ids, no BOS/EOS
};

SeqEncoded encode_example(const data::Example& e, const data::Tokenizer* src_tok, const data::Tokenizer& tgt_tok,
                          int64_t feature_dim) {
  SeqEncoded r;
  if (feature_dim > 0) {
    r.feat = e.features;
    r.src_len = static_cast<int64_t>(e.features.size()) / feature_dim;
  } else {
    r.src = src_tok->encode(e.source);
    r.src_len = static_cast<int64_t>(r.src.size());
  }
  r.tgt = tgt_tok.encode(e.target);
  return r;
}

struct SeqBatch {
  Tensor src;        // (B,S) I64 or (B,S,F) F32
  Tensor src_len;    // (B) I64
  Tensor tgt_in;     // (B,T+1) I64: BOS y
  Tensor tgt_out;    // (B,T+1) I64: y EOS
  Tensor tgt;        // (B,max(T,1)) I64 padded with 0 (CTC targets)
  Tensor tgt_len;    // (B) I64
};

SeqBatch collate(const std::vector<SeqEncoded>& data, const std::vector<int64_t>& idx, int64_t feature_dim) {
  const int64_t B = static_cast<int64_t>(idx.size());
  int64_t S = 1, T = 0;
  for (int64_t i : idx) {
    S = std::max(S, data[static_cast<size_t>(i)].src_len);
    T = std::max(T, static_cast<int64_t>(data[static_cast<size_t>(i)].tgt.size()));
  }
  std::vector<int64_t> lens, tin(static_cast<size_t>(B * (T + 1)), data::Tokenizer::kPad), tout(tin.size(), data::Tokenizer::kPad),
      tpad(static_cast<size_t>(B * std::max<int64_t>(T, 1)), data::Tokenizer::kPad), tlen;
  std::vector<int64_t> ids;
  std::vector<float> feat;
  if (feature_dim > 0) feat.assign(static_cast<size_t>(B * S * feature_dim), 0.f);
  else ids.assign(static_cast<size_t>(B * S), data::Tokenizer::kPad);
  for (int64_t b = 0; b < B; ++b) {
    const auto& e = data[static_cast<size_t>(idx[static_cast<size_t>(b)])];
    lens.push_back(e.src_len);
    if (feature_dim > 0) std::copy(e.feat.begin(), e.feat.end(), feat.begin() + b * S * feature_dim);
    else std::copy(e.src.begin(), e.src.end(), ids.begin() + b * S);
    const int64_t n = static_cast<int64_t>(e.tgt.size());
    tin[static_cast<size_t>(b * (T + 1))] = data::Tokenizer::kBos;
    for (int64_t t = 0; t < n; ++t) {
      tin[static_cast<size_t>(b * (T + 1) + t + 1)] = e.tgt[static_cast<size_t>(t)];
      tout[static_cast<size_t>(b * (T + 1) + t)] = e.tgt[static_cast<size_t>(t)];
      tpad[static_cast<size_t>(b * std::max<int64_t>(T, 1) + t)] = e.tgt[static_cast<size_t>(t)];
    }
    tout[static_cast<size_t>(b * (T + 1) + n)] = data::Tokenizer::kEos;
    tlen.push_back(n);
  }
  SeqBatch r;
  r.src = feature_dim > 0 ? from_vector(feat, {B, S, feature_dim}) : from_vector(ids, {B, S});
  r.src_len = from_vector(lens, {B});
  r.tgt_in = from_vector(tin, {B, T + 1});
  r.tgt_out = from_vector(tout, {B, T + 1});
  r.tgt = from_vector(tpad, {B, std::max<int64_t>(T, 1)});
  r.tgt_len = from_vector(tlen, {B});
  return r;
}

// ==================================================================== models
models::Seq2SeqConfig seq2seq_config(const json& config, int64_t source_vocab, int64_t feature_dim, int64_t target_vocab) {
  const json& s = config["model"]["seq2seq"];
  models::Seq2SeqConfig c;
  c.architecture = s["architecture"].get<std::string>();
  c.source = feature_dim > 0 ? "features" : "tokens";
  c.source_vocab = feature_dim > 0 ? 0 : source_vocab;
  c.feature_dim = feature_dim;
  c.target_vocab = target_vocab;
  c.embedding_dim = config["model"]["embedding_dim"].get<int64_t>();
  c.dropout = config["model"]["dropout"].get<double>();
  c.encoder = config["model"]["encoder"];
  c.cell = s["cell"].get<std::string>();
  c.hidden_size = s["hidden_size"].get<int64_t>();
  c.num_layers = s["num_layers"].get<int64_t>();
  c.attention = s["attention"].get<std::string>();
  c.attention_score = s["attention_score"].get<std::string>();
  c.d_model = s["d_model"].get<int64_t>();
  c.nhead = s["nhead"].get<int64_t>();
  c.num_encoder_layers = s["num_encoder_layers"].get<int64_t>();
  c.num_decoder_layers = s["num_decoder_layers"].get<int64_t>();
  c.dim_feedforward = s["dim_feedforward"].get<int64_t>();
  c.tie_embeddings = s["tie_embeddings"].get<bool>();
  return c;
}

models::ModelConfig ctc_config(const json& config, int64_t source_vocab, int64_t feature_dim, int64_t target_vocab) {
  models::ModelConfig mc;
  mc.kind = "tagger";
  mc.vocab_size = feature_dim > 0 ? 0 : source_vocab;
  mc.feature_dim = feature_dim;
  mc.num_labels = target_vocab;
  mc.embedding_dim = config["model"]["embedding_dim"].get<int64_t>();
  mc.dropout = config["model"]["dropout"].get<double>();
  mc.pooling = config["model"]["pooling"].get<std::string>();
  mc.encoder = config["model"]["encoder"];
  return mc;
}

// Model errors naming a config field are the user's config errors.
template <class F>
auto as_config_error(F&& f) {
  try {
    return f();
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    const std::string w = e.what();
    if (w.rfind("model", 0) == 0 || w.rfind("seq2seq", 0) == 0) throw ConfigError("config: " + w);
    throw;
  }
}

std::string mode_for(const json& config) {
  const std::string k = config["model"]["kind"].get<std::string>();
  if (k == "auto" || k == "seq2seq") return "seq2seq";
  if (k == "ctc") return "ctc";
  throw ConfigError("config: model.kind: " + k + " needs a tagging or classification dataset; sequence datasets take "
                    "seq2seq or ctc");
}

// ==================================================================== decoding
// The sequence parts of a model, shared by the task (training) and LoadedModel (predict).
struct SeqModelRef {
  std::string mode;
  models::Seq2SeqModel* seq2seq = nullptr;
  models::SequenceModel* ctc = nullptr;
  const data::Tokenizer* src_tok = nullptr;
  const data::Tokenizer* tgt_tok = nullptr;
  int64_t feature_dim = 0;
};

// Log-probabilities (T,B,C) of a CTC model's frames.
Tensor ctc_log_probs(models::SequenceModel& m, const SeqBatch& b) {
  Tensor logits = m.forward_batch(b.src, b.src_len);  // (B,T,C)
  return transpose(log_softmax(logits, -1), 0, 1);
}

std::vector<SequencePrediction> decode(const SeqModelRef& m, const std::vector<SeqEncoded>& data,
                                       const std::vector<int64_t>& order, const DecodeSettings& s) {
  NoGradGuard no_grad;
  std::vector<SequencePrediction> out(order.size());
  const int64_t bs = std::max<int64_t>(1, s.batch_size);
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(bs)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(bs));
    std::vector<int64_t> idx(order.begin() + static_cast<std::ptrdiff_t>(start), order.begin() + static_cast<std::ptrdiff_t>(end));
    SeqBatch b = collate(data, idx, m.feature_dim);
    std::vector<std::vector<int64_t>> tokens(idx.size());
    std::vector<double> lp(idx.size(), 0.0);
    std::vector<Tensor> att(idx.size());
    if (m.mode == "ctc") {
      Tensor logp = ctc_log_probs(*m.ctc, b).contiguous();
      if (s.beam_size <= 1) {
        tokens = ctc_greedy_decode(logp, b.src_len, 0);
      } else {
        auto hyps = ctc_prefix_beam_search(logp, b.src_len, s.beam_size, 0);
        for (size_t i = 0; i < hyps.size(); ++i)
          if (!hyps[i].empty()) {
            tokens[i] = hyps[i][0].tokens;
            lp[i] = hyps[i][0].log_prob;
          }
      }
    } else {
      auto dec = m.seq2seq->decoder(b.src, b.src_len);
      models::DecodeOptions o(data::Tokenizer::kBos, data::Tokenizer::kEos);
      o.max_length(4096).max_length_ratio(s.max_length_ratio).max_length_offset(10).beam_size(s.beam_size)
          .length_penalty(s.length_penalty).return_attention(s.attention);
      std::vector<models::Hypothesis> best;
      if (s.beam_size <= 1) {
        best = models::greedy_decode(*dec, o);
      } else {
        for (auto& h : models::beam_search(*dec, o)) best.push_back(std::move(h.at(0)));
      }
      for (size_t i = 0; i < best.size(); ++i) {
        tokens[i] = best[i].tokens;
        lp[i] = best[i].log_prob;
        if (best[i].finished) tokens[i].push_back(data::Tokenizer::kEos);
        att[i] = best[i].attention;
      }
    }
    for (size_t i = 0; i < idx.size(); ++i) {
      SequencePrediction& p = out[start + i];
      std::vector<int64_t> t = tokens[i];
      for (int64_t id : t) p.target_pieces.push_back(id == data::Tokenizer::kEos ? "</s>" : m.tgt_tok->piece(id));
      if (!t.empty() && t.back() == data::Tokenizer::kEos) t.pop_back();
      p.text = m.tgt_tok->decode(t);
      p.log_prob = lp[i];
      const auto& e = data[static_cast<size_t>(idx[i])];
      if (m.src_tok)
        for (int64_t id : e.src) p.source_pieces.push_back(m.src_tok->piece(id));
      if (att[i].defined()) {
        // keep the real source columns
        p.attention = slice(att[i].to(DType::F32), 1, 0, e.src_len).contiguous();
      }
    }
  }
  return out;
}

// ==================================================================== the task
class SequenceTask : public detail::Task {
 public:
  SequenceTask(const json& config, data::Dataset ds, const json& resume_meta) : config_(config), ds_(std::move(ds)) {
    mode_ = mode_for(config_);
    const json& tc = config_["train"];
    if (!resume_meta.is_null()) {
      if (resume_meta.contains("source_tokenizer") && !resume_meta["source_tokenizer"].is_null())
        src_tok_ = data::tokenizer_from_json(resume_meta["source_tokenizer"]);
      tgt_tok_ = data::tokenizer_from_json(resume_meta["target_tokenizer"]);
    } else {
      data::TokenizerOptions to;
      to.type = config_["data"]["tokenizer"].get<std::string>();
      to.vocab_size = config_["data"]["vocab_size"].get<int64_t>();
      to.seed = tc["seed"].get<uint64_t>();
      std::vector<std::string> src, tgt;
      for (const auto& e : ds_.train) {
        src.push_back(e.source);
        tgt.push_back(e.target);
      }
      if (ds_.feature_dim == 0) src_tok_ = as_config_error([&] { return data::train_tokenizer(src, to); });
      if (mode_ == "ctc") to.type = "char";  // CTC emits one label per frame: characters
      tgt_tok_ = as_config_error([&] { return data::train_tokenizer(tgt, to); });
    }
    auto enc = [&](const std::vector<data::Example>& xs, std::vector<SeqEncoded>& out, std::vector<size_t>& kept) {
      for (size_t i = 0; i < xs.size(); ++i) {
        SeqEncoded r = encode_example(xs[i], src_tok_.get(), *tgt_tok_, ds_.feature_dim);
        if (r.src_len == 0) continue;  // nothing to read (a source made only of unknown characters)
        out.push_back(std::move(r));
        kept.push_back(i);
      }
    };
    std::vector<size_t> train_kept;
    enc(ds_.train, train_, train_kept);
    enc(ds_.valid, valid_, valid_kept_);
    enc(ds_.test, test_, test_kept_);
    check(!train_.empty(), "train", "dataset ", ds_.name, " has no usable training example");
    for (const auto& e : train_) max_src_ = std::max(max_src_, e.src_len);
    score_ = ds_.feature_dim > 0 ? "cer" : ds_.name == "translation" ? "chrf" : "exact_match";
    beam_ = tc["beam_size"].get<int64_t>();
    if (beam_ < 1) throw ConfigError("config: train.beam_size: must be >= 1, got " + std::to_string(beam_));
    teacher_ = tc["teacher_forcing"].get<double>();
    smoothing_ = tc["label_smoothing"].get<double>();
    if (teacher_ < 0 || teacher_ > 1) throw ConfigError("config: train.teacher_forcing: must be in [0, 1], got " + tc["teacher_forcing"].dump());
    if (smoothing_ < 0 || smoothing_ >= 1) throw ConfigError("config: train.label_smoothing: must be in [0, 1), got " + tc["label_smoothing"].dump());
    valid_decode_ = tc["valid_decode"].get<int64_t>();
    settings_.length_penalty = tc["length_penalty"].get<double>();
    settings_.max_length_ratio = tc["max_length_ratio"].get<double>();
    const int64_t sv = src_tok_ ? src_tok_->vocab_size() : 0, tv = tgt_tok_->vocab_size();
    if (mode_ == "seq2seq")
      seq2seq_ = as_config_error([&] { return models::make_seq2seq(seq2seq_config(config_, sv, ds_.feature_dim, tv)); });
    else
      ctc_ = as_config_error([&] { return models::make_model(ctc_config(config_, sv, ds_.feature_dim, tv)); });
  }

  nn::Module& module() override { return seq2seq_ ? static_cast<nn::Module&>(*seq2seq_) : *ctc_; }
  std::string describe() const override {
    return seq2seq_ ? seq2seq_->describe() : "ctc: " + ctc_->describe();
  }
  int64_t num_parameters() const override { return seq2seq_ ? seq2seq_->num_parameters() : ctc_->num_parameters(); }
  std::vector<int64_t> train_lengths() const override {
    std::vector<int64_t> l;
    for (const auto& e : train_) l.push_back(e.src_len);
    return l;
  }
  size_t valid_size() const override { return valid_.size(); }
  size_t test_size() const override { return test_.size(); }

  Tensor batch_loss(const std::vector<int64_t>& idx, uint64_t seed) override {
    SeqBatch b = collate(train_, idx, ds_.feature_dim);
    return loss_of(b, seed);
  }

  json evaluate(bool test) override {
    const auto& data = test ? test_ : valid_;
    json m = json::object();
    if (data.empty()) return m;
    // loss over the whole split
    {
      NoGradGuard no_grad;
      const bool was = module().is_training();
      module().eval();
      double sum = 0;
      int64_t n = 0;
      for (size_t start = 0; start < data.size(); start += 64) {
        std::vector<int64_t> idx;
        for (size_t i = start; i < std::min(data.size(), start + 64); ++i) idx.push_back(static_cast<int64_t>(i));
        SeqBatch b = collate(data, idx, ds_.feature_dim);
        sum += loss_of(b, 0).item() * static_cast<double>(idx.size());
        n += static_cast<int64_t>(idx.size());
      }
      module().train(was);
      m["loss"] = sum / static_cast<double>(std::max<int64_t>(n, 1));
    }
    // decode
    std::vector<int64_t> order;
    const size_t limit = (!test && valid_decode_ > 0) ? std::min(data.size(), static_cast<size_t>(valid_decode_)) : data.size();
    for (size_t i = 0; i < limit; ++i) order.push_back(static_cast<int64_t>(i));
    DecodeSettings s = settings_;
    s.beam_size = test ? beam_ : 1;
    const bool was = module().is_training();
    module().eval();
    auto preds = decode(ref(), data, order, s);
    module().train(was);
    std::vector<std::string> hyps, gold;
    int64_t exact = 0;
    for (size_t i = 0; i < preds.size(); ++i) {
      hyps.push_back(preds[i].text);
      gold.push_back(example(test, i).target);
      exact += preds[i].text == gold.back();
    }
    m["decoded"] = static_cast<int64_t>(preds.size());
    m["beam_size"] = s.beam_size;
    m["exact_match"] = 100.0 * static_cast<double>(exact) / static_cast<double>(std::max<size_t>(preds.size(), 1));
    m["chrf"] = corpus_chrf(hyps, gold);
    const BleuScore bleu = corpus_bleu(hyps, gold);
    m["bleu"] = bleu.score;
    m["cer"] = 100.0 * char_errors(hyps, gold).rate();
    m["wer"] = 100.0 * word_errors(hyps, gold).rate();
    json ex = json::array();
    for (size_t i = 0; i < std::min<size_t>(3, preds.size()); ++i)
      ex.push_back({{"source", src_text(test, i)}, {"reference", gold[i]}, {"output", preds[i].text}});
    m["examples"] = ex;
    return m;
  }
  std::string score_name() const override { return score_; }
  bool higher_is_better() const override { return score_ != "cer"; }
  json meta() const override {
    return {{"vocab", data::Vocab().to_json()},
            {"labels", json::array()},
            {"task", ds_.name},
            {"kind", data::task_kind_name(data::TaskKind::Sequence)},
            {"mode", mode_},
            {"feature_dim", ds_.feature_dim},
            {"source_tokenizer", src_tok_ ? src_tok_->to_json() : json()},
            {"target_tokenizer", tgt_tok_->to_json()},
            {"source_vocab", src_tok_ ? src_tok_->vocab_size() : 0},
            {"target_vocab", tgt_tok_->vocab_size()},
            {"max_source_length", 4 * max_src_},
            {"model", describe()}};
  }
  void flatten(const json& m, const std::string& prefix, json& out) const override {
    for (const char* k : {"loss", "exact_match", "chrf", "bleu", "cer", "wer", "beam_size"})
      if (m.contains(k)) out[prefix + "." + k] = m[k];
  }
  void finish(const fs::path& dir, json& summary) override {
    // alignment pictures of a few test examples (seq2seq with attention, text sources)
    json maps = json::array();
    if (seq2seq_ && ds_.feature_dim == 0 && !test_.empty()) {
      DecodeSettings s = settings_;
      s.beam_size = beam_;
      s.attention = true;
      std::vector<int64_t> order;
      for (size_t i = 0; i < std::min<size_t>(4, test_.size()); ++i) order.push_back(static_cast<int64_t>(i));
      module().eval();
      auto preds = decode(ref(), test_, order, s);
      for (size_t i = 0; i < preds.size(); ++i) {
        if (!preds[i].attention.defined()) continue;
        const fs::path file = dir / "alignments" / (std::to_string(i + 1) + "_" + slug(src_text(true, i)) + ".svg");
        write_alignment_svg(preds[i], "\"" + src_text(true, i) + "\" -> \"" + preds[i].text + "\"", file);
        maps.push_back(file.string());
      }
    }
    summary["alignments"] = maps;
    summary["encoder"] = config_["model"]["seq2seq"]["architecture"].get<std::string>() == "transformer" && seq2seq_
                             ? json("transformer")
                             : config_["model"]["encoder"]["type"];
  }

 private:
  // The i-th encoded example's dataset entry.
  const data::Example& example(bool test, size_t i) const {
    return test ? ds_.test[test_kept_[i]] : ds_.valid[valid_kept_[i]];
  }
  // What to call a source in reports: its text, or for feature inputs its group (the voice).
  std::string src_text(bool test, size_t i) const {
    const auto& e = example(test, i);
    return ds_.feature_dim > 0 ? e.group + ": " + e.target : e.source;
  }
  SeqModelRef ref() const {
    SeqModelRef r;
    r.mode = mode_;
    r.seq2seq = seq2seq_.get();
    r.ctc = ctc_.get();
    r.src_tok = src_tok_.get();
    r.tgt_tok = tgt_tok_.get();
    r.feature_dim = ds_.feature_dim;
    return r;
  }
  Tensor loss_of(const SeqBatch& b, uint64_t seed) {
    if (seq2seq_) {
      Generator g(seed);
      Tensor logits = seq2seq_->forward(b.src, b.src_len, b.tgt_in, module().is_training() ? teacher_ : 1.0, &g);
      return seq2seq_->loss(logits, b.tgt_out, module().is_training() ? smoothing_ : 0.0);
    }
    Tensor lp = ctc_log_probs(*ctc_, b);
    return ctc_loss(lp, b.tgt, b.src_len, b.tgt_len, CTCLossOptions().blank(0).reduction(Reduction::Mean).zero_infinity(true));
  }

  json config_;
  data::Dataset ds_;
  std::string mode_;
  std::shared_ptr<data::Tokenizer> src_tok_, tgt_tok_;
  std::vector<SeqEncoded> train_, valid_, test_;
  std::vector<size_t> valid_kept_, test_kept_;  // positions in ds_.valid / ds_.test
  int64_t max_src_ = 0;
  std::string score_;
  int64_t beam_ = 1, valid_decode_ = 0;
  double teacher_ = 1, smoothing_ = 0;
  DecodeSettings settings_;
  std::shared_ptr<models::Seq2SeqModel> seq2seq_;
  std::shared_ptr<models::SequenceModel> ctc_;
};
}  // namespace

std::unique_ptr<detail::Task> detail::make_sequence_task(const json& config, data::Dataset ds, const json& resume_meta) {
  return std::make_unique<SequenceTask>(config, std::move(ds), resume_meta);
}

// ==================================================================== loaded models
void detail::load_sequence_model(LoadedModel& m) {
  const json& u = m.meta;
  m.mode = u.value("mode", std::string("seq2seq"));
  check(m.mode == "seq2seq" || m.mode == "ctc", "load_model", "unknown sequence model mode \"", m.mode, "\"");
  check(u.contains("target_tokenizer"), "load_model", "the checkpoint has no target tokenizer");
  if (u.contains("source_tokenizer") && !u["source_tokenizer"].is_null())
    m.source_tokenizer = data::tokenizer_from_json(u["source_tokenizer"]);
  m.target_tokenizer = data::tokenizer_from_json(u["target_tokenizer"]);
  m.max_source_length = u.value("max_source_length", int64_t{0});
  check(m.feature_dim > 0 || m.source_tokenizer, "load_model", "a text-source model without a source tokenizer");
  const int64_t sv = m.source_tokenizer ? m.source_tokenizer->vocab_size() : 0, tv = m.target_tokenizer->vocab_size();
  // the tokenizers must be the ones the model was trained with: a different one would index
  // other embedding rows and print other characters, silently
  check(u.value("target_vocab", tv) == tv, "load_model", "the target tokenizer has ", tv,
        " ids but the model was trained with ", u.value("target_vocab", tv), " (checkpoint and tokenizer do not match)");
  check(u.value("source_vocab", sv) == sv, "load_model", "the source tokenizer has ", sv,
        " ids but the model was trained with ", u.value("source_vocab", sv), " (checkpoint and tokenizer do not match)");
  if (m.mode == "seq2seq") m.seq2seq = models::make_seq2seq(seq2seq_config(m.config, sv, m.feature_dim, tv));
  else m.model = models::make_model(ctc_config(m.config, sv, m.feature_dim, tv));
}

std::vector<SequencePrediction> predict_sequences(LoadedModel& m, const std::vector<data::Example>& inputs,
                                                  const DecodeSettings& settings) {
  check(m.mode == "seq2seq" || m.mode == "ctc", "predict", "this model is not a sequence model (it labels ",
        m.kind == data::TaskKind::Tagging ? "positions" : "sequences", ")");
  check(settings.beam_size >= 1, "predict", "beam size must be >= 1, got ", settings.beam_size);
  std::vector<SeqEncoded> data;
  for (const auto& e : inputs) {
    if (m.feature_dim > 0) {
      check(e.feature_dim == m.feature_dim || e.features.empty(), "predict", "input vectors have ", e.feature_dim,
            " features, the model reads ", m.feature_dim);
      check(!e.features.empty(), "predict", "empty input (no frames)");
    } else {
      check(!e.source.empty(), "predict", "empty source text");
    }
    SeqEncoded r;
    if (m.feature_dim > 0) {
      r.feat = e.features;
      r.src_len = static_cast<int64_t>(e.features.size()) / m.feature_dim;
    } else {
      r.src = m.source_tokenizer->encode(e.source);
      r.src_len = static_cast<int64_t>(r.src.size());
      check(r.src_len > 0, "predict", "nothing to read in \"", e.source, "\"");
    }
    check(m.max_source_length <= 0 || r.src_len <= m.max_source_length, "predict", "the input has ", r.src_len,
          m.feature_dim > 0 ? " frames" : " tokens", "; this model accepts at most ", m.max_source_length,
          " (4x its longest training input)");
    data.push_back(std::move(r));
  }
  SeqModelRef r;
  r.mode = m.mode;
  r.seq2seq = m.seq2seq.get();
  r.ctc = m.model.get();
  r.src_tok = m.source_tokenizer.get();
  r.tgt_tok = m.target_tokenizer.get();
  r.feature_dim = m.feature_dim;
  std::vector<int64_t> order;
  for (size_t i = 0; i < data.size(); ++i) order.push_back(static_cast<int64_t>(i));
  m.module().eval();
  return decode(r, data, order, settings);
}

void write_alignment_svg(const SequencePrediction& p, const std::string& title, const fs::path& file) {
  check(p.attention.defined(), "alignment", "the prediction holds no attention (decode with attention on, from a "
                                            "seq2seq model with attention)");
  const Tensor a = p.attention.to(DType::F64).contiguous();
  check(a.dim() == 2 && a.size(0) == static_cast<int64_t>(p.target_pieces.size()) &&
            a.size(1) == static_cast<int64_t>(p.source_pieces.size()),
        "alignment", "attention (", a.dim() == 2 ? a.size(0) : -1, ",", a.dim() == 2 ? a.size(1) : -1, ") does not match ",
        p.target_pieces.size(), " target x ", p.source_pieces.size(), " source pieces");
  Heatmap h{"alignment", p.target_pieces, p.source_pieces, a.to_vector<double>()};
  write_text_atomic(file, heatmap_svg({h}, 1, title + " (rows: output, columns: source)"));
}

}  // namespace seqnn::train
