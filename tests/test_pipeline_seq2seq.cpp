// tests/test_pipeline_seq2seq.cpp: N vs M through the trainer and the CLI. The toy tasks
// (reverse, copy) learn to 100% exact match on a tiny budget with an rnn encoder-decoder and the
// Transformer; seqnn predict --beam, eval, info and attention (alignment) on the trained run;
// bad input: empty source, over-long input, a tokenizer that does not match the model, a
// tagging model asked to decode.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "common/check.h"
#include "common/subprocess.h"
#include "seqnn/data/seq_toy.h"
#include "seqnn/io/checkpoint.h"
#include "seqnn/train/config.h"
#include "seqnn/train/trainer.h"

using namespace seqnn;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string cli() { return SEQNN_CLI; }
testutil::Proc run(const std::string& cmd) { return testutil::run_command(cmd); }
std::string quote(const fs::path& p) { return testutil::shell_quote(p); }

// A run directory that does not exist yet (run_training creates it).
fs::path fresh_dir(const std::string& name) { return testutil::scratch_dir("seq2seq_pipeline", name) / "run"; }

json toy_config(const std::string& task, const json& model, int64_t epochs) {
  return {{"data", {{"dataset", "seq_toy"}, {"seq_task", task}, {"seq_alphabet", 8}, {"seq_min_length", 3},
                    {"seq_max_length", 7}, {"train_size", 4000}, {"valid_size", 100}, {"test_size", 200}}},
          {"model", model},
          {"optimizer", {{"lr", 0.005}}},
          {"schedule", {{"type", "cosine"}}},
          {"train", {{"epochs", epochs}, {"batch_size", 32}, {"checkpoint_every", 0}, {"early_stopping_patience", 0},
                     {"beam_size", 3}}}};
}

json train_run(const json& config, const fs::path& dir) {
  train::TrainOptions o;
  o.config = train::resolve_config(config);
  o.run_dir = dir;
  o.progress_bar = false;
  std::ostringstream log;
  o.log = &log;
  return train::run_training(o);
}

}  // namespace

TEST(SeqToy, DeterministicDisjointSplits) {
  data::SeqToyOptions o;
  o.task = "reverse";
  o.train_size = 300;
  o.valid_size = 50;
  o.test_size = 50;
  const auto a = data::make_seq_toy(o), b = data::make_seq_toy(o);
  ASSERT_EQ(a.train.size(), 300u);
  EXPECT_EQ(a.kind, data::TaskKind::Sequence);
  std::set<std::string> train;
  for (size_t i = 0; i < a.train.size(); ++i) {
    EXPECT_EQ(a.train[i].source, b.train[i].source);
    EXPECT_EQ(std::string(a.train[i].source.rbegin(), a.train[i].source.rend()), a.train[i].target);
    train.insert(a.train[i].source);
  }
  for (const auto& e : a.test) EXPECT_EQ(train.count(e.source), 0u) << e.source;
  o.task = "sort";
  for (const auto& e : data::make_seq_toy(o).train) EXPECT_TRUE(std::is_sorted(e.target.begin(), e.target.end()));
  o.alphabet = 1;
  testutil::expect_error([&] { data::make_seq_toy(o); }, "seq_toy", "alphabet");
  o.alphabet = 2;
  o.max_length = 3;
  testutil::expect_error([&] { data::make_seq_toy(o); }, "seq_toy", "distinct");
}

// The rnn encoder-decoder with Bahdanau (additive) attention reverses strings perfectly; the CLI
// decodes with beam search and draws the alignment.
TEST(Seq2SeqPipeline, RnnAttentionLearnsReverseAndTheCliDecodes) {
  const fs::path dir = fresh_dir("reverse_rnn");
  const json model = {{"embedding_dim", 32},
                      {"dropout", 0.0},
                      {"encoder", {{"type", "gru"}, {"hidden_size", 64}, {"bidirectional", true}}},
                      {"seq2seq", {{"architecture", "rnn"}, {"hidden_size", 64}, {"attention", "bahdanau"}}}};
  const json s = train_run(toy_config("reverse", model, 15), dir);
  EXPECT_EQ(s["kind"], "sequence");
  EXPECT_DOUBLE_EQ(s["test.exact_match"].get<double>(), 100.0) << s.dump(2);
  EXPECT_DOUBLE_EQ(s["test.cer"].get<double>(), 0.0);
  ASSERT_FALSE(s["alignments"].empty());
  EXPECT_TRUE(fs::exists(s["alignments"][0].get<std::string>()));

  // the C++ API: beam 1 and beam 4 both reverse
  train::LoadedModel m = train::load_model(dir);
  EXPECT_EQ(m.mode, "seq2seq");
  data::Example e;
  e.source = "abcdeh";
  for (int64_t beam : {1, 4}) {
    train::DecodeSettings ds;
    ds.beam_size = beam;
    ds.attention = true;
    const auto p = train::predict_sequences(m, {e}, ds);
    EXPECT_EQ(p[0].text, "hedcba") << "beam " << beam;
    ASSERT_TRUE(p[0].attention.defined());
    EXPECT_EQ(p[0].attention.size(0), static_cast<int64_t>(p[0].target_pieces.size()));
    EXPECT_EQ(p[0].attention.size(1), 6);
    // reversal draws an anti-diagonal: where the outputs look (the attention's centre of mass
    // over the source positions) moves from the end of the source to its start. Checked as a
    // trend (correlation with the output step <= -0.9) and at the ends, not as a strictly falling
    // argmax: a bidirectional encoder lets a step split its weight between two neighbouring
    // positions (0.50 / 0.46 in one run), and which of the two wins the argmax is a rounding's
    // choice, not the model's.
    const auto a = p[0].attention.to(DType::F64).to_vector<double>();
    std::vector<double> centre;
    for (int64_t t = 0; t < 6; ++t) {
      double c = 0;
      for (int64_t s = 0; s < 6; ++s) c += s * a[t * 6 + s];
      centre.push_back(c);
    }
    double mt = 2.5, mc = 0, sxy = 0, sxx = 0, syy = 0;
    for (double c : centre) mc += c / 6;
    for (int64_t t = 0; t < 6; ++t) {
      sxy += (t - mt) * (centre[t] - mc), sxx += (t - mt) * (t - mt), syy += (centre[t] - mc) * (centre[t] - mc);
    }
    const double corr = sxy / std::sqrt(sxx * syy);
    EXPECT_LE(corr, -0.9) << "beam " << beam << " centres " << ::testing::PrintToString(centre);
    EXPECT_GE(centre.front(), 3.5) << "beam " << beam;
    EXPECT_LE(centre.back(), 1.5) << "beam " << beam;
  }

  // the CLI
  auto r = run(cli() + " predict " + quote(dir) + " abcdeh --beam 4");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "hedcba\n");
  r = run(cli() + " predict " + quote(dir) + " --beam 1 --scores abc");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, 4), "cba\t");
  r = run(cli() + " eval " + quote(dir) + " --beam 2");
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("exact_match 100.00"), std::string::npos) << r.out;
  r = run(cli() + " info " + quote(dir));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("target vocabulary"), std::string::npos) << r.out;
  r = run(cli() + " attention " + quote(dir) + " abcd --out " + quote(dir / "al.svg"));
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(fs::exists(dir / "al.svg"));
  EXPECT_NE(r.out.find("dcba"), std::string::npos) << r.out;

  // bad input: one clear error line each, exit status 1 or 2
  r = run(cli() + " predict " + quote(dir) + " ''");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("empty"), std::string::npos) << r.out;
  r = run(cli() + " predict " + quote(dir) + " " + std::string(200, 'a'));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("at most"), std::string::npos) << r.out;
  r = run(cli() + " predict " + quote(dir) + " abc --beam 0");
  EXPECT_EQ(r.rc, 2) << r.out;
  testutil::expect_error([&] { train::predict_sequences(m, {data::Example{}}, {}); }, "predict", "empty");

  // a checkpoint whose tokenizer does not match its model is refused with a message, not garbage
  {
    io::Checkpoint ck = io::load_checkpoint(dir / "best.safetensors");
    json& tok = ck.meta["user"]["target_tokenizer"];
    data::TokenizerOptions to;
    auto other = data::train_tokenizer({"xyz only three letters"}, to);
    tok = other->to_json();
    io::save_checkpoint(dir / "mismatch.safetensors", ck);
    testutil::expect_error([&] { train::load_model(dir / "mismatch.safetensors"); }, "load_model", "tokenizer");
  }
}

TEST(Seq2SeqPipeline, TransformerLearnsCopy) {
  const fs::path dir = fresh_dir("copy_tf");
  const json model = {{"dropout", 0.0},
                      {"seq2seq",
                       {{"architecture", "transformer"}, {"d_model", 64}, {"nhead", 4}, {"num_encoder_layers", 2},
                        {"num_decoder_layers", 2}, {"dim_feedforward", 128}}}};
  json cfg = toy_config("copy", model, 20);
  cfg["optimizer"]["lr"] = 0.002;
  const json s = train_run(cfg, dir);
  EXPECT_DOUBLE_EQ(s["test.exact_match"].get<double>(), 100.0) << s.dump(2);
}

TEST(Seq2SeqPipeline, ConfigAndKindErrors) {
  json bad = toy_config("reverse", {{"kind", "tagger"}}, 1);
  testutil::expect_error([&] { train_run(bad, fresh_dir("bad1")); }, "config", "model.kind: tagger");
  bad = toy_config("reverse", {{"seq2seq", {{"attention", "sideways"}}}}, 1);
  EXPECT_THROW(train::resolve_config(bad), train::ConfigError);
  bad = toy_config("reverse", json::object(), 1);
  bad["train"]["teacher_forcing"] = 1.5;
  testutil::expect_error([&] { train_run(bad, fresh_dir("bad2")); }, "config", "train.teacher_forcing: must be in [0, 1]");
}
