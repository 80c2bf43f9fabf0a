// tests/test_pipeline.cpp: data (vocab, batching, the booking generator), models (no padding
// leaks), metrics against hand-computed cases, config errors, an end-to-end training run, resume
// after SIGKILL (through the seqnn binary) and the CLI's exit codes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "common/check.h"
#include "common/subprocess.h"
#include "seqnn/data/batch.h"
#include "seqnn/data/booking.h"
#include "seqnn/io/checkpoint.h"
#include "seqnn/models/sequence_model.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"
#include "seqnn/train/config.h"
#include "seqnn/train/metrics.h"
#include "seqnn/train/trainer.h"

using namespace seqnn;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// ==================================================================== helpers
std::string config_error(const json& user) {
  try {
    train::resolve_config(user);
  } catch (const train::ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

using testutil::Proc;
Proc run(const std::string& cmd) { return testutil::run_command(cmd); }
std::string quote(const fs::path& p) { return testutil::shell_quote(p); }
std::string cli() { return SEQNN_CLI; }

void write_file(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }

// The small config of the end-to-end and resume tests.
json small_config(int64_t train_size, int64_t epochs, int64_t hidden) {
  return {{"data", {{"train_size", train_size}, {"valid_size", 200}, {"test_size", 400}}},
          {"model", {{"embedding_dim", 48}, {"encoder", {{"type", "lstm"}, {"hidden_size", hidden}}}}},
          {"train", {{"epochs", epochs}, {"batch_size", 32}, {"checkpoint_every", 7}, {"early_stopping_patience", 0}}}};
}

}  // namespace

// ==================================================================== vocab and tokenizer
TEST(Vocab, PadUnkAndRoundTrip) {
  data::Vocab v = data::Vocab::build({{"arrive", "taipei"}, {"leave", "taipei", "rare"}}, 1);
  EXPECT_EQ(v.size(), 6);
  EXPECT_EQ(v.id("<pad>"), 0);
  EXPECT_EQ(v.id("<unk>"), 1);
  EXPECT_EQ(v.id("arrive"), 2);
  EXPECT_EQ(v.id("never-seen"), data::Vocab::kUnk);
  EXPECT_EQ(v.token(3), "taipei");
  data::Vocab back = data::Vocab::from_json(v.to_json());
  EXPECT_EQ(back.tokens(), v.tokens());
  data::Vocab freq = data::Vocab::build({{"a", "b", "a"}}, 2);
  EXPECT_TRUE(freq.contains("a"));
  EXPECT_FALSE(freq.contains("b"));
  testutil::expect_error([&] { v.token(99); }, "Vocab.token", "out of range");
  testutil::expect_error([] { data::Vocab::from_json(json::array({"<pad>", "<unk>", "x", "x"})); }, "Vocab.from_json",
                         "duplicate");
  testutil::expect_error([] { data::Vocab::from_json(json::array({"x", "<unk>"})); }, "Vocab.from_json", "<pad>");
}

TEST(Vocab, Tokenize) {
  EXPECT_EQ(data::tokenize("Arrive Taipei, on November 2nd!"),
            (std::vector<std::string>{"arrive", "taipei", ",", "on", "november", "2nd", "!"}));
  EXPECT_EQ(data::tokenize("  Leave  Taipei ", false), (std::vector<std::string>{"Leave", "Taipei"}));
  EXPECT_TRUE(data::tokenize("   ").empty());
}

// ==================================================================== batching
TEST(Batcher, DeterministicBucketedEpochs) {
  Generator g(7);
  std::vector<int64_t> lengths;
  for (int i = 0; i < 203; ++i) lengths.push_back(g.randint(1, 30));
  data::Batcher b(203, lengths, 16, 4);
  auto e0 = b.epoch(11, 0), e0again = b.epoch(11, 0), e1 = b.epoch(11, 1), other = b.epoch(12, 0);
  EXPECT_EQ(e0, e0again);
  EXPECT_NE(e0, e1);
  EXPECT_NE(e0, other);
  EXPECT_EQ(static_cast<int64_t>(e0.size()), b.num_batches());
  std::multiset<int64_t> seen;
  int64_t spread = 0;
  for (const auto& batch : e0) {
    EXPECT_LE(batch.size(), 16u);
    int64_t lo = 1 << 30, hi = 0;
    for (int64_t i : batch) {
      seen.insert(i);
      lo = std::min(lo, lengths[i]);
      hi = std::max(hi, lengths[i]);
    }
    spread += hi - lo;
  }
  EXPECT_EQ(seen.size(), 203u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 203u);  // each example once
  // bucketing: batches hold similar lengths (random batches would spread ~25 each)
  EXPECT_LT(static_cast<double>(spread) / e0.size(), 12.0);
  auto seq = b.sequential();
  std::set<int64_t> all;
  for (const auto& batch : seq) all.insert(batch.begin(), batch.end());
  EXPECT_EQ(all.size(), 203u);
}

TEST(Batcher, CollatePadsWithIgnoredLabels) {
  data::Vocab v = data::Vocab::build({{"a", "b", "c"}});
  std::vector<data::Example> ex(2);
  ex[0].tokens = {"a", "b", "c"};
  ex[0].tags = {"O", "B-x", "I-x"};
  ex[1].tokens = {"c"};
  ex[1].tags = {"B-x"};
  auto enc = data::encode(ex, v, {"O", "B-x", "I-x"}, data::TaskKind::Tagging, 0);
  data::Batch b = data::collate(enc, {0, 1}, data::TaskKind::Tagging, 0);
  EXPECT_EQ(b.ids.shape(), (Shape{2, 3}));
  EXPECT_EQ(b.ids.to_vector<int64_t>(), (std::vector<int64_t>{2, 3, 4, 4, 0, 0}));
  EXPECT_EQ(b.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 1, -100, -100}));
  EXPECT_EQ(b.lengths.to_vector<int64_t>(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(b.max_length(), 3);
  ex[1].tags = {"B-y"};
  testutil::expect_error([&] { data::encode(ex, v, {"O", "B-x", "I-x"}, data::TaskKind::Tagging, 0); }, "data.encode",
                         "unknown label \"B-y\"");
  ex[1].tokens.clear();
  ex[1].tags.clear();
  testutil::expect_error([&] { data::encode(ex, v, {"O", "B-x", "I-x"}, data::TaskKind::Tagging, 0); }, "data.encode",
                         "empty");
}

// ==================================================================== word dropout
namespace {
// (B, T) ids of token 5 with lengths T, T-1, ...; labels repeat O B-x I-x I-x (ids 0 1 2 2), -100 on padding.
struct DropoutBatch {
  Tensor ids, labels;
  std::vector<int64_t> lengths;
};
DropoutBatch dropout_batch(int64_t B, int64_t T) {
  std::vector<int64_t> ids(static_cast<size_t>(B * T)), labels(ids.size());
  DropoutBatch d;
  for (int64_t b = 0; b < B; ++b) {
    d.lengths.push_back(T - b % (T / 2));
    for (int64_t t = 0; t < T; ++t) {
      const bool pad = t >= d.lengths.back();
      ids[b * T + t] = pad ? data::Vocab::kPad : 5;
      labels[b * T + t] = pad ? -100 : std::vector<int64_t>{0, 1, 2, 2}[t % 4];
    }
  }
  d.ids = from_vector(ids, {B, T});
  d.labels = from_vector(labels, {B, T});
  return d;
}
}  // namespace

TEST(Booking, WordDropoutRatesSpansPaddingAndSeeds) {
  const int64_t B = 64, T = 40;
  const std::vector<int> bio = {0, 1, 2};  // O, B-x, I-x
  const DropoutBatch base = dropout_batch(B, T);
  auto drop = [&](double span_p, double token_p, uint64_t seed, bool spans = true, bool in_spans_only = false) {
    Tensor ids = base.ids.clone();
    train::word_dropout(ids, spans ? base.labels : Tensor(), spans ? bio : std::vector<int>{}, span_p, token_p, seed,
                        in_spans_only);
    return ids.to_vector<int64_t>();
  };
  const auto orig = base.ids.to_vector<int64_t>();
  const auto lab = base.labels.to_vector<int64_t>();
  // p = 0 for both: nothing changes
  EXPECT_EQ(drop(0, 0, 7), orig);
  // token_p: about that fraction of the real tokens, never padding, a pure function of the seed
  for (double p : {0.1, 0.3}) {
    const auto d = drop(0, p, 7);
    int64_t real = 0, unk = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      if (orig[i] == data::Vocab::kPad) {
        EXPECT_EQ(d[i], data::Vocab::kPad) << "padding replaced at " << i;
        continue;
      }
      ++real;
      EXPECT_TRUE(d[i] == orig[i] || d[i] == data::Vocab::kUnk);
      unk += d[i] == data::Vocab::kUnk;
    }
    EXPECT_NEAR(static_cast<double>(unk) / static_cast<double>(real), p, 0.03) << "token_p " << p;
    EXPECT_EQ(drop(0, p, 7), d);
    EXPECT_NE(drop(0, p, 8), d);
  }
  // span_p alone: a span B-x I-x I-x is replaced whole or not at all, O words never
  const auto spans_only = drop(0.4, 0, 11);
  int64_t n_spans = 0, dropped = 0;
  for (size_t i = 0; i < spans_only.size(); ++i) {
    if (lab[i] == 0 || lab[i] == -100) {
      EXPECT_EQ(spans_only[i], orig[i]) << i;
    } else if (lab[i] == 1) {
      ++n_spans;
      const bool unk = spans_only[i] == data::Vocab::kUnk;
      dropped += unk;
      for (size_t j = i + 1; j < spans_only.size() && lab[j] == 2; ++j)
        EXPECT_EQ(spans_only[j] == data::Vocab::kUnk, unk) << "span at " << i << " split at " << j;
    }
  }
  EXPECT_NEAR(static_cast<double>(dropped) / static_cast<double>(n_spans), 0.4, 0.06);
  // token_p on top: the same spans go (span draws come first), O words now go too, padding never
  const auto both = drop(0.4, 0.2, 11);
  int64_t o_words = 0, o_unk = 0;
  for (size_t i = 0; i < both.size(); ++i) {
    if (spans_only[i] == data::Vocab::kUnk) EXPECT_EQ(both[i], data::Vocab::kUnk) << i;
    if (orig[i] == data::Vocab::kPad) EXPECT_EQ(both[i], data::Vocab::kPad) << i;
    if (lab[i] == 0) {
      ++o_words;
      o_unk += both[i] == data::Vocab::kUnk;
    }
  }
  EXPECT_NEAR(static_cast<double>(o_unk) / static_cast<double>(o_words), 0.2, 0.04);
  // token_p inside spans only (data.unk_token_scope slots): O words and padding never, slot words ~token_p
  const auto slots = drop(0, 0.3, 12, true, true);
  int64_t slot_words = 0, slot_unk = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (lab[i] == 0 || lab[i] == -100) {
      EXPECT_EQ(slots[i], orig[i]) << "O word or padding replaced at " << i;
    } else {
      ++slot_words;
      slot_unk += slots[i] == data::Vocab::kUnk;
    }
  }
  EXPECT_NEAR(static_cast<double>(slot_unk) / static_cast<double>(slot_words), 0.3, 0.04);
  // without labels (classification) span_p is per token
  const auto per_token = drop(0.4, 0, 11, false);
  int64_t o_dropped = 0;
  for (size_t i = 0; i < per_token.size(); ++i) {
    if (orig[i] == data::Vocab::kPad) EXPECT_EQ(per_token[i], data::Vocab::kPad);
    if (lab[i] == 0) o_dropped += per_token[i] == data::Vocab::kUnk;
  }
  EXPECT_GT(o_dropped, 0);
  // token_p: scope all is per token without labels; scope slots has no slot words there, so it
  // replaces nothing (the default scope must leave classification batches alone)
  const auto all_scope = drop(0, 0.3, 12, false, false);
  int64_t all_unk = 0;
  for (size_t i = 0; i < all_scope.size(); ++i) all_unk += lab[i] == 0 && all_scope[i] == data::Vocab::kUnk;
  EXPECT_GT(all_unk, 0);
  EXPECT_EQ(drop(0, 0.3, 12, false, true), orig);
}

TEST(Config, WordDropoutProbabilitiesChecked) {
  // the defaults: per-word dropout inside slot values (tagging only)
  EXPECT_EQ(train::default_config()["data"]["unk_token_prob"].get<double>(), 0.3);
  EXPECT_EQ(train::default_config()["data"]["unk_token_scope"].get<std::string>(), "slots");
  for (const auto& [field, value] : std::vector<std::pair<std::string, double>>{{"unk_token_prob", 1.0},
                                                                               {"unk_token_prob", -0.1},
                                                                               {"unk_prob", 1.5}}) {
    json user = {{"data", {{"train_size", 20}, {"valid_size", 5}, {"test_size", 5}, {field, value}}},
                 {"train", {{"epochs", 1}}}};
    train::TrainOptions o;
    o.config = train::resolve_config(user);
    o.run_dir = testutil::scratch_dir("pipeline", "unk_" + field + std::to_string(value));
    std::ostringstream log;
    o.log = &log;
    o.progress_bar = false;
    try {
      train::run_training(o);
      ADD_FAILURE() << field << " " << value << " accepted";
    } catch (const train::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("config: data." + field + ": must be in [0, 1"), std::string::npos) << e.what();
    }
  }
}

// ==================================================================== no padding leaks
namespace {
models::ModelConfig leak_config(const std::string& kind, const std::string& enc, bool features) {
  models::ModelConfig mc;
  mc.kind = kind;
  if (features) mc.feature_dim = 5;
  else mc.vocab_size = 20;
  mc.num_labels = 4;
  mc.embedding_dim = 6;
  mc.pooling = "mean";
  mc.encoder = {{"type", enc}, {"hidden_size", 7}, {"num_layers", 2}, {"bidirectional", true}, {"dropout", 0.0}, {"window", 2}};
  return mc;
}

// Logits at valid positions, the loss and every gradient, for a batch whose pads hold `pad`.
std::vector<std::vector<float>> run_with_padding(models::SequenceModel& m, bool features, double pad) {
  const int64_t B = 3, T = 6;
  std::vector<int64_t> len = {6, 2, 4};
  Tensor lengths = from_vector(len, {B});
  Generator g(5);
  Tensor inputs;
  if (features) {
    std::vector<float> f(B * T * 5);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int k = 0; k < 5; ++k) f[(b * T + t) * 5 + k] = t < len[b] ? static_cast<float>(g.normal()) : static_cast<float>(pad);
    inputs = from_vector(f, {B, T, 5});
  } else {
    std::vector<int64_t> ids(B * T);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) ids[b * T + t] = t < len[b] ? g.randint(2, 20) : static_cast<int64_t>(pad);
    inputs = from_vector(ids, {B, T});
  }
  Tensor labels;
  if (m.is_tagger()) {
    std::vector<int64_t> y(B * T);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) y[b * T + t] = t < len[b] ? g.randint(0, 4) : -100;
    labels = from_vector(y, {B, T});
  } else {
    labels = from_vector(std::vector<int64_t>{0, 3, 1}, {B});
  }
  m.zero_grad();
  Tensor logits = m.forward_batch(inputs, lengths);
  Tensor loss = m.loss(logits, labels);
  loss.backward();
  std::vector<std::vector<float>> out;
  auto lv = logits.to_vector<float>();
  if (m.is_tagger()) {
    std::vector<float> valid;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < len[b]; ++t)
        for (int c = 0; c < 4; ++c) valid.push_back(lv[(b * T + t) * 4 + c]);
    out.push_back(valid);
  } else {
    out.push_back(lv);
  }
  out.push_back({static_cast<float>(loss.item())});
  for (const auto& [name, p] : m.named_parameters()) out.push_back(p.grad().to_vector<float>());
  return out;
}
}  // namespace

TEST(Models, PaddingNeverLeaks) {
  for (bool features : {false, true})
    for (const char* enc : {"lstm", "gru", "rnn", "window_fc"})
      for (const char* kind : {"tagger", "classifier"})
        for (const char* pool : {"last", "mean", "attention"}) {
          if (std::string(kind) == "tagger" && std::string(pool) != "mean") continue;
          SCOPED_TRACE(std::string(enc) + " " + kind + " " + pool + (features ? " features" : " ids"));
          manual_seed(3);
          auto mc = leak_config(kind, enc, features);
          mc.pooling = pool;
          auto m = models::make_model(mc);
          auto a = run_with_padding(*m, features, features ? 0.0 : 0.0);
          auto b = run_with_padding(*m, features, features ? 37.5 : 13.0);  // pads hold garbage
          ASSERT_EQ(a.size(), b.size());
          for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "entry " << i;
        }
}

TEST(Models, ShapesAndBadInput) {
  manual_seed(1);
  auto tagger = models::make_model(leak_config("tagger", "lstm", false));
  Tensor ids = from_vector(std::vector<int64_t>{2, 3, 4, 5, 0, 0}, {2, 3});
  Tensor len = from_vector(std::vector<int64_t>{3, 1}, {2});
  EXPECT_EQ(tagger->forward_batch(ids, len).shape(), (Shape{2, 3, 4}));
  auto cls = models::make_model(leak_config("classifier", "gru", false));
  EXPECT_EQ(cls->forward_batch(ids, len).shape(), (Shape{2, 4}));
  testutil::expect_error([&] { tagger->forward_batch(ids, from_vector(std::vector<int64_t>{4, 1}, {2})); },
                         "SequenceModel.forward", "out of [1,3]");
  auto bad = leak_config("classifier", "lstm", false);
  bad.pooling = "max";
  testutil::expect_error([&] { models::make_model(bad); }, "model.pooling", "max");
  bad = leak_config("tagger", "lstmm", false);
  testutil::expect_error([&] { models::make_model(bad); }, "model.encoder.type", "unknown encoder \"lstmm\"");
  EXPECT_NE(tagger->describe().find("lstm(hidden 7, layers 2, bidirectional)"), std::string::npos);
}

// ==================================================================== the booking generator
TEST(Booking, DeterministicWellFormedAndDisjointCities) {
  data::BookingOptions o;
  o.train_size = 400;
  o.valid_size = 50;
  o.test_size = 200;
  data::Dataset a = data::make_booking(o), b = data::make_booking(o);
  ASSERT_EQ(a.train.size(), 400u);
  for (size_t i = 0; i < a.train.size(); ++i) {
    EXPECT_EQ(a.train[i].tokens, b.train[i].tokens);
    EXPECT_EQ(a.train[i].tags, b.train[i].tags);
  }
  o.seed += 1;
  data::Dataset c = data::make_booking(o);
  int same = 0;
  for (size_t i = 0; i < a.train.size(); ++i) same += a.train[i].tokens == c.train[i].tokens;
  EXPECT_LT(same, 40);

  // the city lists are pairwise disjoint, and no test sentence names a training city
  std::set<std::string> tr(data::booking_cities("train").begin(), data::booking_cities("train").end());
  for (const char* split : {"valid", "test"})
    for (const auto& city : data::booking_cities(split)) EXPECT_EQ(tr.count(city), 0u) << city;
  std::set<std::string> train_city_words, test_dest_words;
  const auto tags = data::booking_tags();
  const std::set<std::string> tagset(tags.begin(), tags.end());
  int far_origin = 0;
  for (auto* split : {&a.train, &a.test})
    for (const auto& e : *split) {
      ASSERT_EQ(e.tokens.size(), e.tags.size());
      ASSERT_FALSE(e.tokens.empty());
      for (size_t i = 0; i < e.tags.size(); ++i) {
        EXPECT_TRUE(tagset.count(e.tags[i])) << e.tags[i];
        if (e.tags[i][0] == 'I') EXPECT_EQ(e.tags[i - 1].substr(1), e.tags[i].substr(1));  // I- continues its chunk
      }
      // the city spans (B/I-dest, B/I-origin) as strings
      std::string city;
      for (size_t i = 0; i <= e.tags.size(); ++i) {
        bool in_city = i < e.tags.size() && (e.tags[i].find("dest") != std::string::npos || e.tags[i].find("origin") != std::string::npos);
        if (in_city && e.tags[i][0] == 'I') city += " " + e.tokens[i];
        else {
          if (!city.empty()) {
            if (split == &a.test) EXPECT_EQ(tr.count(city), 0u) << city;
            else EXPECT_EQ(tr.count(city), 1u) << city;
          }
          city = in_city ? e.tokens[i] : "";
        }
      }
      // the dest/origin decision made by a word far from the city: "<city> is the city i ... leave ..."
      if (e.tags[0] == "B-origin" && std::find(e.tokens.begin(), e.tokens.end(), "is") != e.tokens.end()) ++far_origin;
    }
  EXPECT_GT(far_origin, 10);
  // the notes' pair: the same city word labelled by its verb
  bool arrive = false, leave = false;
  for (const auto& e : a.train)
    for (size_t i = 0; i + 1 < e.tokens.size(); ++i) {
      arrive |= e.tokens[i] == "arrive" && e.tags[i + 1] == "B-dest";
      leave |= e.tokens[i] == "leave" && e.tags[i + 1] == "B-origin";
    }
  EXPECT_TRUE(arrive && leave);
  data::Dataset intent = data::make_booking_intent(o);
  EXPECT_EQ(intent.kind, data::TaskKind::Classification);
  std::set<std::string> seen;
  for (const auto& e : intent.train) seen.insert(e.label);
  EXPECT_EQ(seen.size(), 4u);
}

// ==================================================================== metrics
TEST(Metrics, BioChunks) {
  using C = train::Chunk;
  EXPECT_EQ(train::bio_chunks({"B-dest", "I-dest", "O", "B-date", "I-date"}),
            (std::vector<C>{{"dest", 0, 2}, {"date", 3, 5}}));
  // an I- after O or after another type starts a chunk (conlleval)
  EXPECT_EQ(train::bio_chunks({"O", "I-dest", "I-origin", "B-dest", "B-dest"}),
            (std::vector<C>{{"dest", 1, 2}, {"origin", 2, 3}, {"dest", 3, 4}, {"dest", 4, 5}}));
  EXPECT_TRUE(train::bio_chunks({"O", "O"}).empty());
}

TEST(Metrics, SlotF1PartialSpansHandComputed) {
  // labels: O B-dest I-dest B-date I-date
  train::MetricAccumulator acc({"O", "B-dest", "I-dest", "B-date", "I-date"}, true);
  // gold: [new york](dest) on [nov 2](date); predicted: [new](dest) york on [nov 2](date)
  acc.add({1, 2, 0, 3, 4}, {1, 0, 0, 3, 4});
  // gold: [taipei](dest); predicted: [taipei](date)  -> wrong type, no credit
  acc.add({1}, {3});
  // gold chunks: dest x2, date x1 = 3; predicted: dest(0,1), date(3,5), date(0,1) = 3; tp: date(3,5) = 1
  auto s = acc.slot();
  EXPECT_DOUBLE_EQ(s.precision, 1.0 / 3);
  EXPECT_DOUBLE_EQ(s.recall, 1.0 / 3);
  EXPECT_DOUBLE_EQ(s.f1, 1.0 / 3);
  auto ps = acc.per_slot();
  EXPECT_DOUBLE_EQ(ps["dest"].precision, 0.0);   // 0 of 1 predicted dest chunks right
  EXPECT_DOUBLE_EQ(ps["dest"].f1, 0.0);
  EXPECT_EQ(ps["dest"].support, 2);
  EXPECT_DOUBLE_EQ(ps["date"].precision, 0.5);   // 1 of 2
  EXPECT_DOUBLE_EQ(ps["date"].recall, 1.0);      // 1 of 1
  EXPECT_DOUBLE_EQ(ps["date"].f1, 2 * 0.5 / 1.5);
  // token level: 6 tokens, correct: B-dest, O, B-date, I-date = 4
  EXPECT_DOUBLE_EQ(acc.accuracy(), 4.0 / 6);
  EXPECT_DOUBLE_EQ(acc.sequence_accuracy(), 0.0);
  auto pl = acc.per_label();
  // I-dest: gold 1, predicted 0 -> P 0, R 0; O: gold 1, predicted 2, tp 1
  EXPECT_DOUBLE_EQ(pl["I-dest"].recall, 0.0);
  EXPECT_DOUBLE_EQ(pl["O"].precision, 0.5);
  EXPECT_DOUBLE_EQ(pl["O"].recall, 1.0);
  // B-dest: gold 2, predicted 1, tp 1
  EXPECT_DOUBLE_EQ(pl["B-dest"].precision, 1.0);
  EXPECT_DOUBLE_EQ(pl["B-dest"].recall, 0.5);
  EXPECT_EQ(acc.confusion()[2][0], 1);  // I-dest predicted O
  EXPECT_EQ(acc.confusion()[1][3], 1);  // B-dest predicted B-date
  json j = acc.to_json();
  EXPECT_DOUBLE_EQ(j["slot_f1"].get<double>(), 1.0 / 3);
  EXPECT_EQ(j["confusion"]["matrix"][2][0], 1);
}

TEST(Metrics, Classification) {
  train::MetricAccumulator acc({"a", "b", "c"}, false);
  acc.add({0}, {0});
  acc.add({1}, {0});
  acc.add({2}, {2});
  acc.add({2}, {2});
  acc.add_loss(2.0, 4);
  EXPECT_DOUBLE_EQ(acc.accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(acc.sequence_accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(acc.loss(), 0.5);
  auto pl = acc.per_label();
  EXPECT_DOUBLE_EQ(pl["a"].precision, 0.5);
  EXPECT_DOUBLE_EQ(pl["a"].recall, 1.0);
  EXPECT_DOUBLE_EQ(pl["b"].f1, 0.0);
  EXPECT_FALSE(acc.to_json().contains("slot_f1"));
}

// ==================================================================== config
TEST(Config, ErrorsNameTheField) {
  EXPECT_EQ(config_error({{"model", {{"encodr", {{"type", "lstm"}}}}}}),
            "config: unknown field model.encodr (did you mean model.encoder?)");
  EXPECT_EQ(config_error({{"model", {{"encoder", {{"hidden_size", "big"}}}}}}),
            "config: model.encoder.hidden_size: expected integer, got string \"big\"");
  EXPECT_EQ(config_error({{"train", {{"epochs", 2.5}}}}), "config: train.epochs: expected integer, got number 2.5");
  EXPECT_EQ(config_error({{"optimizer", {{"lr", true}}}}), "config: optimizer.lr: expected number, got boolean true");
  EXPECT_EQ(config_error({{"optimizer", 3}}), "config: optimizer: expected object, got integer 3");
  EXPECT_EQ(config_error({{"optimizer", {{"type", "adm"}}}}),
            "config: optimizer.type: must be one of adam, adamw, sgd, got \"adm\"");
  EXPECT_EQ(config_error({{"zzzz", 1}}), "config: unknown field zzzz");
  EXPECT_EQ(config_error(json::array()), "config: expected a JSON object at the top level, got array");
  EXPECT_NE(config_error({{"model", {{"encoder", {{"type", "transformr"}}}}}}).find("model.encoder.type: must be one of"),
            std::string::npos);
  // a valid partial config fills every default
  json c = train::resolve_config({{"optimizer", {{"lr", 1}}}, {"model", {{"encoder", {{"type", "gru"}}}}}});
  EXPECT_EQ(c["optimizer"]["lr"].get<double>(), 1.0);
  EXPECT_TRUE(c["optimizer"]["lr"].is_number_float());
  EXPECT_EQ(c["model"]["encoder"]["type"], "gru");
  EXPECT_EQ(c["train"], train::default_config()["train"]);
}

TEST(Config, PrintedConfigLoadsBackAndDocsAreCurrent) {
  const json def = train::default_config();
  // every field documented, every default present
  for (const auto& f : train::config_fields()) {
    EXPECT_FALSE(f.doc.empty()) << f.path;
    std::string p = f.path;
    std::replace(p.begin(), p.end(), '.', '/');
    EXPECT_TRUE(def.contains(json::json_pointer("/" + p))) << f.path;
  }
  const std::string printed = train::print_config(def);
  EXPECT_NE(printed.find("// hidden units per direction"), std::string::npos);
  fs::path dir = testutil::scratch_dir("pipeline", "config");
  write_file(dir / "c.json", printed);
  EXPECT_EQ(train::load_config_file(dir / "c.json"), def);
  write_file(dir / "bad.json", "{\"train\": {\"epochs\": }");
  testutil::expect_error([&] { train::load_config_file(dir / "bad.json"); }, "config", "bad.json");
  testutil::expect_error([&] { train::load_config_file(dir / "missing.json"); }, "config", "cannot open");
  // docs/CONFIG.md is generated from the schema
  std::ifstream md(std::string(SEQNN_SOURCE_DIR) + "/docs/CONFIG.md");
  std::stringstream ss;
  ss << md.rdbuf();
  EXPECT_EQ(ss.str(), train::config_markdown()) << "regenerate docs/CONFIG.md (see its header)";
}

TEST(Train, BadDataOrModelOptionLeavesNoRunDirectory) {
  // options that are only found bad while the data and the model are built, after the run
  // directory was made: the directory made for the run is removed again, a user's is kept
  fs::path dir = testutil::scratch_dir("pipeline", "bad_option");
  std::ostringstream log;
  for (const json& bad : {json{{"data", {{"unk_token_prob", 1.5}}}},
                          json{{"model", {{"encoder", {{"type", "transformer"}, {"positional", "rotary"},
                                                        {"nhead", 2}, {"d_model", 6}}}}}}}) {
    train::TrainOptions o;
    json cfg = small_config(200, 1, 32);
    cfg.merge_patch(bad);
    o.config = train::resolve_config(cfg);
    o.run_dir = dir / "run";
    o.log = &log;
    EXPECT_THROW(train::run_training(o), train::ConfigError) << bad.dump();
    EXPECT_FALSE(fs::exists(o.run_dir)) << bad.dump();
    fs::create_directories(o.run_dir);  // the user's own (empty) directory stays
    EXPECT_THROW(train::run_training(o), train::ConfigError) << bad.dump();
    EXPECT_TRUE(fs::exists(o.run_dir)) << bad.dump();
    fs::remove(o.run_dir);
  }
}

// ==================================================================== end to end
TEST(Train, DefaultTaskReachesSlotF1) {
  fs::path dir = testutil::scratch_dir("pipeline", "e2e");
  train::TrainOptions o;
  o.config = train::resolve_config(small_config(2000, 5, 64));
  o.config["optimizer"]["lr"] = 0.01;
  o.config["train"]["checkpoint_every"] = 0;
  o.run_dir = dir / "run";
  std::ostringstream log;
  o.log = &log;
  const auto t0 = std::chrono::steady_clock::now();
  json s = train::run_training(o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << log.str() << "test.slot_f1 " << s["test.slot_f1"] << " in " << secs << " s\n";
  EXPECT_GE(s["test.slot_f1"].get<double>(), 0.95);
  EXPECT_EQ(s["task"], "booking");
  EXPECT_GT(s["parameters"].get<int64_t>(), 0);
  for (const char* f : {"config.json", "best.safetensors", "metrics.jsonl", "summary.json"})
    EXPECT_TRUE(fs::exists(o.run_dir / f)) << f;
  // one metrics line per epoch, parseable
  std::ifstream in(o.run_dir / "metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    EXPECT_TRUE(j.contains("slot_f1") && j.contains("per_slot") && j.contains("confusion"));
    // train_seconds: this epoch's training alone; wall_seconds: the run so far, evaluations included
    ASSERT_TRUE(j.contains("train_seconds") && j.contains("wall_seconds")) << line;
    EXPECT_GT(j["train_seconds"].get<double>(), 0.0);
    EXPECT_LT(j["train_seconds"].get<double>(), j["wall_seconds"].get<double>());
    ++lines;
  }
  EXPECT_EQ(lines, 5);
  // the notes' pair
  train::LoadedModel m = train::load_model(o.run_dir);
  EXPECT_EQ(train::format_prediction(m, "arrive Taipei on November 2nd"),
            "arrive/O Taipei/B-dest on/O November/B-date 2nd/I-date");
  EXPECT_EQ(train::format_prediction(m, "leave Taipei on November 2nd"),
            "leave/O Taipei/B-origin on/O November/B-date 2nd/I-date");
  // a second run into the same directory must not overwrite it
  EXPECT_THROW(train::run_training(o), train::ConfigError);
}

// ==================================================================== resume after SIGKILL
TEST(Train, ResumeAfterKillEqualsUninterrupted) {
  fs::path dir = testutil::scratch_dir("pipeline", "resume");
  json cfg = small_config(900, 3, 32);
  cfg["model"]["encoder"]["dropout"] = 0.0;
  cfg["model"]["dropout"] = 0.2;  // dropout draws from the generator the checkpoint restores
  write_file(dir / "cfg.json", cfg.dump());
  const std::string base = cli() + " train --no-progress --config " + quote(dir / "cfg.json");
  Proc full = run(base + " --run-dir " + quote(dir / "full"));
  ASSERT_EQ(full.rc, 0) << full.out;

  // start the same run, SIGKILL it once a mid-epoch checkpoint exists, then resume
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    const std::string cfgp = (dir / "cfg.json").string(), rd = (dir / "killed").string();
    execl(SEQNN_CLI, "seqnn", "train", "--no-progress", "--config", cfgp.c_str(), "--run-dir", rd.c_str(), (char*)nullptr);
    _exit(127);
  }
  // Poll until the step-35 checkpoint exists or the child ends on its own (no wall-clock limit:
  // a slow machine, e.g. under the sanitizers, only makes this take longer; ctest's timeout
  // guards against a hang).
  bool seen = false, exited = false;
  int status = 0;
  while (!seen && !exited) {
    if (auto last = io::latest_checkpoint(dir / "killed", "ckpt_"); last && last->step >= 35) {
      seen = true;
      break;
    }
    exited = waitpid(pid, &status, WNOHANG) == pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  ASSERT_FALSE(exited && !WIFSIGNALED(status)) << "the run finished (status " << status << ") before it could be killed";
  ASSERT_TRUE(seen) << "no checkpoint appeared";
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  ASSERT_FALSE(fs::exists(dir / "killed" / "summary.json"));
  Proc resumed = run(cli() + " train --no-progress --resume --run-dir " + quote(dir / "killed"));
  ASSERT_EQ(resumed.rc, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resuming"), std::string::npos) << resumed.out;
  // 900/32 -> 29 batches per epoch: resumed mid-epoch unless the step is a multiple of 29
  std::cout << resumed.out.substr(0, resumed.out.find('\n')) << "\n";

  auto a = io::latest_checkpoint(dir / "full", "ckpt_"), b = io::latest_checkpoint(dir / "killed", "ckpt_");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->step, b->step);
  auto ta = io::load_checkpoint(a->path).tensors, tb = io::load_checkpoint(b->path).tensors;
  ASSERT_EQ(ta.size(), tb.size());
  int64_t compared = 0;
  for (const auto& [name, t] : ta) {
    ASSERT_TRUE(tb.count(name)) << name;
    const Tensor& u = tb.at(name);
    ASSERT_EQ(t.shape(), u.shape()) << name;
    ASSERT_EQ(t.dtype(), u.dtype()) << name;
    EXPECT_EQ(0, std::memcmp(t.raw_data(), u.raw_data(), t.numel() * dtype_size(t.dtype()))) << name << " differs";
    compared += name.rfind("model.", 0) == 0;
  }
  EXPECT_GT(compared, 4);
  json sa = json::parse(std::ifstream(dir / "full" / "summary.json"));
  json sb = json::parse(std::ifstream(dir / "killed" / "summary.json"));
  EXPECT_EQ(sa["test.slot_f1"], sb["test.slot_f1"]);
  // no partial checkpoint (temp file) left behind by the kill
  for (const auto& e : fs::directory_iterator(dir / "killed"))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

// ==================================================================== CLI
TEST(Cli, HelpAndExitCodes) {
  fs::path dir = testutil::scratch_dir("pipeline", "cli");
  for (const char* sub : {"", " train", " eval", " predict", " info"}) {
    Proc p = run(cli() + sub + " --help");
    EXPECT_EQ(p.rc, 0) << sub << p.out;
    EXPECT_NE(p.out.find("Usage"), std::string::npos) << sub;
  }
  Proc none = run(cli());
  EXPECT_EQ(none.rc, 2);
  Proc bad_flag = run(cli() + " train --bogus");
  EXPECT_EQ(bad_flag.rc, 2);
  EXPECT_NE(bad_flag.out.find("seqnn: error:"), std::string::npos);
  Proc bad_epochs = run(cli() + " train --epochs zero");
  EXPECT_EQ(bad_epochs.rc, 2);
  write_file(dir / "typo.json", R"({"model": {"encodr": {"type": "lstm"}}})");
  Proc typo = run(cli() + " train --config " + quote(dir / "typo.json") + " --run-dir " + quote(dir / "r"));
  EXPECT_EQ(typo.rc, 2);
  EXPECT_EQ(typo.out, "seqnn: error: config: unknown field model.encodr (did you mean model.encoder?)\n");
  write_file(dir / "type.json", R"({"train": {"batch_size": "32"}})");
  Proc type = run(cli() + " train --config " + quote(dir / "type.json"));
  EXPECT_EQ(type.rc, 2);
  EXPECT_NE(type.out.find("train.batch_size: expected integer, got string \"32\""), std::string::npos);
  Proc resume_nodir = run(cli() + " train --resume");
  EXPECT_EQ(resume_nodir.rc, 2);
  Proc printed = run(cli() + " train --print-config");
  EXPECT_EQ(printed.rc, 0);
  write_file(dir / "printed.json", printed.out);
  EXPECT_EQ(train::load_config_file(dir / "printed.json"), train::default_config());
  // runtime errors: exit 1, one line
  Proc missing = run(cli() + " predict " + quote(dir / "nothing.safetensors") + " hello");
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(std::count(missing.out.begin(), missing.out.end(), '\n'), 1) << missing.out;
  write_file(dir / "corrupt.safetensors", "not a safetensors file at all");
  Proc corrupt = run(cli() + " info " + quote(dir / "corrupt.safetensors"));
  EXPECT_EQ(corrupt.rc, 1);
  EXPECT_NE(corrupt.out.find("seqnn: error:"), std::string::npos);
}

TEST(Cli, PredictEvalInfoOnATrainedRun) {
  fs::path dir = testutil::scratch_dir("pipeline", "cli_run");
  json cfg = small_config(300, 1, 16);
  write_file(dir / "cfg.json", cfg.dump());
  Proc t = run(cli() + " train --no-progress --config " + quote(dir / "cfg.json") + " --run-dir " + quote(dir / "run"));
  ASSERT_EQ(t.rc, 0) << t.out;
  EXPECT_NE(t.out.find("predictions:\n  arrive/"), std::string::npos) << t.out;  // (1 epoch: labels still poor)
  Proc p = run(cli() + " predict " + quote(dir / "run") + " 'leave Taipei on November 2nd' 'fly to Paris'");
  EXPECT_EQ(p.rc, 0) << p.out;
  EXPECT_EQ(std::count(p.out.begin(), p.out.end(), '\n'), 2) << p.out;
  EXPECT_EQ(p.out.rfind("leave/", 0), 0u) << p.out;
  Proc stdin_p = run("printf 'go to Rome\\n\\nleave Oslo\\n' | " + cli() + " predict " + quote(dir / "run"));
  EXPECT_EQ(stdin_p.rc, 0);
  EXPECT_EQ(std::count(stdin_p.out.begin(), stdin_p.out.end(), '\n'), 2) << stdin_p.out;
  Proc empty = run(cli() + " predict " + quote(dir / "run") + " '   '");
  EXPECT_EQ(empty.rc, 1);
  EXPECT_NE(empty.out.find("empty sentence"), std::string::npos);
  Proc e = run(cli() + " eval " + quote(dir / "run") + " --json");
  EXPECT_EQ(e.rc, 0) << e.out;
  EXPECT_TRUE(json::parse(e.out).contains("slot_f1"));
  Proc i = run(cli() + " info " + quote(dir / "run" / "best.safetensors"));
  EXPECT_EQ(i.rc, 0) << i.out;
  EXPECT_NE(i.out.find("parameters:"), std::string::npos);
  EXPECT_NE(i.out.find("SequenceTagger"), std::string::npos);
  Proc again = run(cli() + " train --no-progress --config " + quote(dir / "cfg.json") + " --run-dir " + quote(dir / "run"));
  EXPECT_EQ(again.rc, 2) << again.out;  // refuses to overwrite a run
}
