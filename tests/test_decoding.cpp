// Searches of models/decoding.h against hand-made toy StepDecoders (no neural model): beam 1 ==
// greedy, a model where the best beam beats greedy, exhaustive enumeration, a reference beam
// without early stop, batched == per-source (greedy, beam, sampling), EOS and length limits,
// sampling frequencies / top_k / temperature, attention collection, bad options and outputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <numeric>

#include "common/check.h"
#include "seqnn/autograd.h"
#include "seqnn/models/decoding.h"

using namespace seqnn;
using namespace seqnn::models;
using testutil::expect_error;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ==================================================================== toy models
uint64_t mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double unit(uint64_t h) { return static_cast<double>(mix(h) >> 11) * 0x1.0p-53; }

std::vector<double> log_softmax(const std::vector<double>& x) {
  double m = -kInf;
  for (double v : x) m = std::max(m, v);
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] - m - std::log(s);
  return out;
}

// A model is a pure function (source, prefix incl. BOS) -> next-token log-probs (V), plus an
// attention row (S) for the step that read that prefix.
struct Model {
  int64_t V = 5;
  int64_t S = 0;  // attention width; 0 = no attention
  std::function<std::vector<double>(int64_t, const std::vector<int64_t>&)> logp;
  std::function<std::vector<double>(int64_t, const std::vector<int64_t>&)> attention;
};

// Random next-token distributions that depend on the source and the whole prefix; EOS grows
// likelier with the length by eos_bias per token.
Model random_model(int64_t V, uint64_t seed, double eos_bias, int64_t eos, double scale = 3.0) {
  Model m;
  m.V = V;
  const auto hash = [seed](int64_t src, const std::vector<int64_t>& prefix) {
    uint64_t h = mix(seed ^ mix(static_cast<uint64_t>(src) + 12345));
    for (int64_t t : prefix) h = mix(h ^ (static_cast<uint64_t>(t) + 0x1234567) * 0xD1B54A32D192ED03ull);
    return h;
  };
  m.logp = [=](int64_t src, const std::vector<int64_t>& prefix) {
    const uint64_t h = hash(src, prefix);
    std::vector<double> z(V);
    for (int64_t i = 0; i < V; ++i) z[i] = scale * unit(h + static_cast<uint64_t>(i));
    z[eos] += eos_bias * static_cast<double>(prefix.size() - 1);
    return log_softmax(z);
  };
  m.attention = [=](int64_t src, const std::vector<int64_t>& prefix) {
    const uint64_t h = hash(src, prefix);
    std::vector<double> a(8);
    for (int64_t s = 0; s < 8; ++s) a[s] = s < 3 + src % 5 ? unit(h ^ (static_cast<uint64_t>(s) + 77)) : 0.0;
    return a;
  };
  return m;
}

// A table of probabilities by prefix (BOS excluded from the key); unlisted prefixes use `fallback`.
Model table_model(std::map<std::vector<int64_t>, std::vector<double>> table, std::vector<double> fallback) {
  Model m;
  m.V = static_cast<int64_t>(fallback.size());
  m.logp = [table, fallback](int64_t, const std::vector<int64_t>& prefix) {
    const std::vector<int64_t> key(prefix.begin() + 1, prefix.end());
    const auto it = table.find(key);
    std::vector<double> p = it == table.end() ? fallback : it->second, out(p.size());
    for (size_t i = 0; i < p.size(); ++i) out[i] = std::log(p[i]);
    return out;
  };
  return m;
}

// The StepDecoder over a Model: one row per (source, prefix); reorder gathers the rows.
class ToyDecoder : public StepDecoder {
 public:
  ToyDecoder(Model m, std::vector<int64_t> sources, std::vector<int64_t> source_lengths = {},
             DType dt = DType::F64)
      : m_(std::move(m)), lens_(std::move(source_lengths)), dt_(dt) {
    for (int64_t s : sources) rows_.push_back({s, {}});
  }
  int64_t rows() const override { return static_cast<int64_t>(rows_.size()); }
  int64_t vocab_size() const override { return m_.V; }
  Tensor step(const Tensor& tokens) override {
    EXPECT_FALSE(grad_mode_enabled());
    EXPECT_EQ(tokens.shape(), Shape{rows()});
    EXPECT_EQ(tokens.dtype(), DType::I64);
    const auto tok = tokens.to_vector<int64_t>();
    rows_per_step.push_back(rows());
    std::vector<double> out, att;
    for (size_t r = 0; r < rows_.size(); ++r) {
      rows_[r].prefix.push_back(tok[r]);
      const auto lp = m_.logp(rows_[r].source, rows_[r].prefix);
      out.insert(out.end(), lp.begin(), lp.end());
      if (m_.attention) {
        const auto a = m_.attention(rows_[r].source, rows_[r].prefix);
        att.insert(att.end(), a.begin(), a.end());
      }
    }
    if (m_.attention) attention_ = from_vector(att, {rows(), static_cast<int64_t>(att.size()) / std::max<int64_t>(rows(), 1)});
    const Tensor t = from_vector(out, {rows(), m_.V});
    return dt_ == DType::F64 ? t : t.to(dt_);
  }
  void reorder(const Tensor& index) override {
    ++reorders;
    std::vector<Row> next;
    for (int64_t i : index.to_vector<int64_t>()) {
      EXPECT_TRUE(i >= 0 && i < rows());
      next.push_back(rows_[i]);
    }
    rows_ = std::move(next);
  }
  Tensor last_attention() const override { return attention_; }
  std::vector<int64_t> source_lengths() const override {
    std::vector<int64_t> out;
    if (lens_.empty()) return out;
    for (const Row& r : rows_) out.push_back(lens_[r.source]);
    return out;
  }
  std::vector<int64_t> rows_per_step;
  int64_t reorders = 0;

 private:
  struct Row {
    int64_t source;
    std::vector<int64_t> prefix;
  };
  Model m_;
  std::vector<int64_t> lens_;  // by source id
  DType dt_;
  std::vector<Row> rows_;
  Tensor attention_;
};

std::vector<int64_t> iota_vec(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

void expect_same(const Hypothesis& a, const Hypothesis& b, const std::string& what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.log_prob, b.log_prob) << what;
  EXPECT_EQ(a.score, b.score) << what;
  EXPECT_EQ(a.finished, b.finished) << what;
}

// The log-prob of `tokens` (+ EOS when finished) under the model, summed in order.
double sequence_log_prob(const Model& m, int64_t src, int64_t bos, int64_t eos, const std::vector<int64_t>& tokens,
                         bool finished) {
  std::vector<int64_t> prefix{bos};
  double lp = 0;
  for (int64_t t : tokens) {
    lp += m.logp(src, prefix)[t];
    prefix.push_back(t);
  }
  if (finished) lp += m.logp(src, prefix)[eos];
  return lp;
}

double norm_score(double lp, int64_t len, double alpha) { return alpha == 0 ? lp : lp / std::pow(double(len), alpha); }

// All complete outputs within max_len: EOS-ended (finished) and max_len-long (cut), best first.
struct Out {
  std::vector<int64_t> tokens;
  double log_prob, score;
  bool finished;
};
std::vector<Out> enumerate(const Model& m, int64_t src, int64_t bos, int64_t eos, int64_t max_len, double alpha) {
  std::vector<Out> all;
  std::function<void(std::vector<int64_t>&, double)> rec = [&](std::vector<int64_t>& toks, double lp) {
    std::vector<int64_t> prefix{bos};
    prefix.insert(prefix.end(), toks.begin(), toks.end());
    const auto l = m.logp(src, prefix);
    const int64_t n = static_cast<int64_t>(toks.size()) + 1;
    all.push_back({toks, lp + l[eos], norm_score(lp + l[eos], n, alpha), true});
    for (int64_t i = 0; i < m.V; ++i) {
      if (i == eos) continue;
      toks.push_back(i);
      if (n == max_len) all.push_back({toks, lp + l[i], norm_score(lp + l[i], n, alpha), false});
      else rec(toks, lp + l[i]);
      toks.pop_back();
    }
  };
  std::vector<int64_t> toks;
  rec(toks, 0.0);
  std::stable_sort(all.begin(), all.end(), [](const Out& a, const Out& b) { return a.score > b.score; });
  return all;
}

// A plain beam search (full sort of all K*V candidates each step, no early stop: runs to
// max_len), for one source.
std::vector<Out> reference_beam(const Model& m, int64_t src, int64_t bos, int64_t eos, int64_t max_len, int64_t K,
                                double alpha) {
  struct B {
    std::vector<int64_t> toks;
    double lp;
  };
  struct C {
    double lp;
    int64_t tok, beam;
  };
  std::vector<B> live{{{}, 0.0}};
  std::vector<Out> ended;
  for (int64_t t = 0; t < max_len && !live.empty(); ++t) {
    std::vector<C> cand;
    for (size_t j = 0; j < live.size(); ++j) {
      std::vector<int64_t> prefix{bos};
      prefix.insert(prefix.end(), live[j].toks.begin(), live[j].toks.end());
      const auto l = m.logp(src, prefix);
      for (int64_t i = 0; i < m.V; ++i) cand.push_back({live[j].lp + l[i], i, static_cast<int64_t>(j)});
    }
    std::sort(cand.begin(), cand.end(), [](const C& a, const C& b) {
      return a.lp != b.lp ? a.lp > b.lp : a.tok != b.tok ? a.tok < b.tok : a.beam < b.beam;
    });
    std::vector<B> next;
    for (int64_t i = 0; i < std::min<int64_t>(K, cand.size()); ++i) {
      auto toks = live[cand[i].beam].toks;
      if (cand[i].tok == eos) {
        ended.push_back({toks, cand[i].lp, norm_score(cand[i].lp, t + 1, alpha), true});
      } else {
        toks.push_back(cand[i].tok);
        next.push_back({toks, cand[i].lp});
      }
    }
    if (t + 1 == max_len)
      for (const B& b : next) ended.push_back({b.toks, b.lp, norm_score(b.lp, t + 1, alpha), false});
    live = std::move(next);
  }
  std::stable_sort(ended.begin(), ended.end(), [](const Out& a, const Out& b) { return a.score > b.score; });
  return ended;
}

}  // namespace

// ==================================================================== greedy and beam 1
TEST(Decoding, GreedyFollowsArgmaxAndEndsAtEos) {
  // V: 0 BOS, 1 EOS, 2 a, 3 b. a (0.55), then a (0.4), then EOS (0.9).
  const Model m = table_model({{{}, {0.0, 0.05, 0.55, 0.4}}, {{2}, {0.0, 0.25, 0.4, 0.35}}}, {0.0, 0.9, 0.05, 0.05});
  ToyDecoder dec(m, {0});
  const auto h = greedy_decode(dec, DecodeOptions(0, 1).max_length(10));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].tokens, (std::vector<int64_t>{2, 2}));
  EXPECT_TRUE(h[0].finished);
  EXPECT_DOUBLE_EQ(h[0].log_prob, std::log(0.55) + std::log(0.4) + std::log(0.9));
  EXPECT_EQ(h[0].score, h[0].log_prob);
  EXPECT_EQ(dec.rows_per_step, (std::vector<int64_t>{1, 1, 1}));
}

TEST(Decoding, GreedyTiesTakeTheLowestId) {
  const Model m = table_model({}, {0.0, 0.2, 0.4, 0.4});
  ToyDecoder dec(m, {0});
  const auto h = greedy_decode(dec, DecodeOptions(0, 1).max_length(3));
  EXPECT_EQ(h[0].tokens, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_FALSE(h[0].finished);
}

TEST(Decoding, BeamOneEqualsGreedyOnRandomModels) {
  for (uint64_t seed = 0; seed < 20; ++seed)
    for (DType dt : {DType::F64, DType::F32}) {
      const Model m = random_model(3 + seed % 7, seed, 0.3 * (seed % 3), 1);
      const int64_t B = 1 + seed % 4;
      ToyDecoder d1(m, iota_vec(B), {}, dt), d2(m, iota_vec(B), {}, dt), d3(m, iota_vec(B), {}, dt);
      const auto opt = DecodeOptions(0, 1).max_length(2 + seed % 9).beam_size(1).length_penalty(0.0);
      const auto g = greedy_decode(d1, opt);
      const auto b = beam_search(d2, opt);
      const auto b1 = beam_search(d3, DecodeOptions(opt).length_penalty(1.0));
      ASSERT_EQ(b.size(), static_cast<size_t>(B));
      for (int64_t s = 0; s < B; ++s) {
        ASSERT_EQ(b[s].size(), 1u);
        expect_same(g[s], b[s][0], "seed " + std::to_string(seed) + " source " + std::to_string(s));
        EXPECT_EQ(b1[s][0].tokens, g[s].tokens);
        EXPECT_EQ(b1[s][0].log_prob, g[s].log_prob);
        EXPECT_DOUBLE_EQ(b1[s][0].score, g[s].log_prob / double(g[s].tokens.size() + g[s].finished));
      }
      EXPECT_EQ(d1.rows_per_step, d2.rows_per_step);
    }
}

// ==================================================================== beam beats greedy
TEST(Decoding, BeamFindsWhatGreedyMisses) {
  // Greedy takes a (0.55) whose continuations are poor; b (0.4) ends well (EOS 0.9).
  const Model m = table_model({{{}, {0.0, 0.05, 0.55, 0.4}},
                               {{2}, {0.0, 0.25, 0.4, 0.35}},
                               {{3}, {0.0, 0.9, 0.05, 0.05}}},
                              {0.0, 0.9, 0.05, 0.05});
  for (double alpha : {0.0, 1.0}) {
    ToyDecoder gd(m, {0}), bd(m, {0});
    const auto g = greedy_decode(gd, DecodeOptions(0, 1).max_length(3));
    EXPECT_EQ(g[0].tokens, (std::vector<int64_t>{2, 2}));
    const auto b = beam_search(bd, DecodeOptions(0, 1).max_length(3).beam_size(2).num_return(2).length_penalty(alpha));
    ASSERT_EQ(b[0].size(), 2u);
    const double lp_b = std::log(0.4) + std::log(0.9);
    const double lp_aa = std::log(0.55) + std::log(0.4) + std::log(0.9);
    EXPECT_EQ(b[0][0].tokens, (std::vector<int64_t>{3}));
    EXPECT_TRUE(b[0][0].finished);
    EXPECT_DOUBLE_EQ(b[0][0].log_prob, lp_b);
    EXPECT_DOUBLE_EQ(b[0][0].score, alpha == 0 ? lp_b : lp_b / 2);
    EXPECT_EQ(b[0][1].tokens, (std::vector<int64_t>{2, 2}));
    EXPECT_DOUBLE_EQ(b[0][1].log_prob, lp_aa);
    EXPECT_DOUBLE_EQ(b[0][1].score, alpha == 0 ? lp_aa : lp_aa / 3);
    EXPECT_GT(b[0][0].log_prob, g[0].log_prob);
  }
}

TEST(Decoding, LengthPenaltyPicksTheLongerHypothesis) {
  // V: 0 BOS, 1 EOS, 2 a. EOS at once: log-prob -1; a a EOS: log(1-e^-1) + log 0.6 + log 0.9.
  const double p_eos = std::exp(-1.0);
  const Model m = table_model({{{}, {0.0, p_eos, 1 - p_eos}}, {{2}, {0.0, 0.3, 0.6}}, {{2, 2}, {0.0, 0.9, 0.1}}},
                              {0.0, 0.99, 0.01});
  const double lp_empty = std::log(p_eos);
  const double lp_aa = std::log(1 - p_eos) + std::log(0.6) + std::log(0.9);
  {
    ToyDecoder d(m, {0});
    const auto b = beam_search(d, DecodeOptions(0, 1).max_length(5).beam_size(2).length_penalty(0.0));
    EXPECT_TRUE(b[0][0].tokens.empty());
    EXPECT_TRUE(b[0][0].finished);
    EXPECT_DOUBLE_EQ(b[0][0].log_prob, lp_empty);
    EXPECT_DOUBLE_EQ(b[0][0].score, -1.0);
  }
  {
    ToyDecoder d(m, {0});
    const auto b = beam_search(d, DecodeOptions(0, 1).max_length(5).beam_size(2).num_return(2).length_penalty(1.0));
    EXPECT_EQ(b[0][0].tokens, (std::vector<int64_t>{2, 2}));
    EXPECT_DOUBLE_EQ(b[0][0].log_prob, lp_aa);
    EXPECT_DOUBLE_EQ(b[0][0].score, lp_aa / 3.0);
    // second: a a a EOS, (lp_aa - log .9 + log .1 + log .99) / 4 beats a EOS (log(1-e^-1) + log .3) / 2
    const double lp_aaa = std::log(1 - p_eos) + std::log(0.6) + std::log(0.1) + std::log(0.99);
    EXPECT_EQ(b[0][1].tokens, (std::vector<int64_t>{2, 2, 2}));
    EXPECT_DOUBLE_EQ(b[0][1].score, lp_aaa / 4.0);
    EXPECT_GT(lp_aaa / 4.0, (std::log(1 - p_eos) + std::log(0.3)) / 2.0);
  }
  {  // alpha 0.5: score = lp / sqrt(len)
    ToyDecoder d(m, {0});
    const auto b = beam_search(d, DecodeOptions(0, 1).max_length(5).beam_size(2).length_penalty(0.5));
    EXPECT_EQ(b[0][0].tokens, (std::vector<int64_t>{2, 2}));
    EXPECT_DOUBLE_EQ(b[0][0].score, lp_aa / std::sqrt(3.0));
  }
}

TEST(Decoding, BeamTiesTakeTheLowerTokenThenTheLowerBeam) {
  // V: 0 BOS, 1 EOS, 2 a, 3 b; a and b always equally likely, EOS never.
  const Model m = table_model({}, {0.0, 0.0, 0.5, 0.5});
  ToyDecoder d(m, {0});
  const auto b = beam_search(d, DecodeOptions(0, 1).max_length(2).beam_size(2).num_return(2));
  // step 1 keeps a, b (beams 0, 1); step 2's four ties keep (a, beam 0) then (a, beam 1)
  ASSERT_EQ(b[0].size(), 2u);
  EXPECT_EQ(b[0][0].tokens, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(b[0][1].tokens, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(b[0][0].log_prob, b[0][1].log_prob);
}

TEST(Decoding, EarlyStopBoundUsesTheMaxLength) {
  // After step 2 the beam holds two finished hypotheses (EOS: log .5; a EOS: (log .45 + log .85)/2)
  // and the live "a b" (log .45 + log .1). Ending at length 3 it could not beat them, but at
  // max_length 20 with near-certain b's its normalised score does: the search must go on.
  const Model m = table_model({{{}, {0.0, 0.5, 0.45, 0.05}}, {{2}, {0.0, 0.85, 0.05, 0.1}}}, {0.0, 0.001, 0.0, 0.999});
  ToyDecoder d(m, {0});
  const auto b = beam_search(d, DecodeOptions(0, 1).max_length(20).beam_size(2).length_penalty(1.0));
  std::vector<int64_t> want(20, 3);
  want[0] = 2;
  EXPECT_EQ(b[0][0].tokens, want);
  EXPECT_FALSE(b[0][0].finished);
  double lp = std::log(0.45) + std::log(0.1);
  for (int i = 0; i < 18; ++i) lp += std::log(0.999);
  EXPECT_DOUBLE_EQ(b[0][0].log_prob, lp);
  EXPECT_DOUBLE_EQ(b[0][0].score, lp / 20);
  EXPECT_GT(lp / 20, (std::log(0.45) + std::log(0.85)) / 2);
}

// ==================================================================== exhaustive and reference
TEST(Decoding, WideBeamIsExhaustive) {
  for (uint64_t seed = 0; seed < 12; ++seed)
    for (double alpha : {0.0, 1.0}) {
      const int64_t V = 3 + seed % 2, L = 3 + seed % 2;  // at most 3^4 + 40 outputs
      const Model m = random_model(V, 100 + seed, 0.2, 1);
      const auto all = enumerate(m, 0, 0, 1, L, alpha);
      ToyDecoder d(m, {0});
      const int64_t K = 256;
      const auto b = beam_search(d, DecodeOptions(0, 1).max_length(L).beam_size(K).num_return(K).length_penalty(alpha));
      ASSERT_EQ(b[0].size(), all.size()) << "every output is returned once";
      for (size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(b[0][i].tokens, all[i].tokens) << i;
        EXPECT_EQ(b[0][i].finished, all[i].finished) << i;
        EXPECT_DOUBLE_EQ(b[0][i].log_prob, all[i].log_prob) << i;
        EXPECT_DOUBLE_EQ(b[0][i].score, all[i].score) << i;
      }
      // the best finished output, with a beam wide enough for the search space (V-1)^(L-1)
      const auto best_fin = *std::find_if(all.begin(), all.end(), [](const Out& o) { return o.finished; });
      ToyDecoder d2(m, {0});
      const auto b2 = beam_search(d2, DecodeOptions(0, 1).max_length(L).beam_size(32).num_return(32).length_penalty(alpha));
      const auto it = std::find_if(b2[0].begin(), b2[0].end(), [](const Hypothesis& h) { return h.finished; });
      ASSERT_NE(it, b2[0].end());
      EXPECT_EQ(it->tokens, best_fin.tokens);
      EXPECT_DOUBLE_EQ(it->log_prob, best_fin.log_prob);
    }
}

TEST(Decoding, EarlyStopDoesNotChangeTheTopK) {
  // The reference runs every beam to max_length; the early stop must return the same top K.
  int64_t stopped_early = 0;
  for (uint64_t seed = 0; seed < 40; ++seed)
    for (double alpha : {0.0, 0.6, 1.0, -0.5}) {
      const int64_t V = 4 + seed % 9, K = 1 + seed % 5, L = 4 + seed % 10;
      const Model m = random_model(V, 500 + seed, 0.5, 1);
      ToyDecoder d(m, {0});
      const auto b = beam_search(d, DecodeOptions(0, 1).max_length(L).beam_size(K).num_return(K).length_penalty(alpha));
      const auto ref = reference_beam(m, 0, 0, 1, L, K, alpha);
      stopped_early += static_cast<int64_t>(d.rows_per_step.size()) < L;
      ASSERT_EQ(b[0].size(), std::min<size_t>(K, ref.size()));
      for (size_t i = 0; i < b[0].size(); ++i) {
        EXPECT_EQ(b[0][i].tokens, ref[i].tokens) << "seed " << seed << " alpha " << alpha << " #" << i;
        EXPECT_EQ(b[0][i].log_prob, ref[i].log_prob);
        EXPECT_EQ(b[0][i].finished, ref[i].finished);
        EXPECT_DOUBLE_EQ(b[0][i].log_prob, sequence_log_prob(m, 0, 0, 1, b[0][i].tokens, b[0][i].finished));
      }
      for (size_t i = 1; i < b[0].size(); ++i) EXPECT_GE(b[0][i - 1].score, b[0][i].score);
    }
  EXPECT_GT(stopped_early, 20) << "the early stop should trigger on these models";
}

// ==================================================================== batched == per source
TEST(Decoding, BatchedEqualsPerSource) {
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const int64_t B = 6, V = 6 + seed;
    const Model m = random_model(V, 900 + seed, 0.4, 1);
    const std::vector<int64_t> lens{1, 7, 3, 12, 2, 5};
    const auto opt = DecodeOptions(0, 1)
                         .max_length(12)
                         .max_length_ratio(0.5)
                         .max_length_offset(2)
                         .beam_size(3)
                         .num_return(3)
                         .length_penalty(0.7)
                         .top_k(seed % 3 == 0 ? 0 : 3)
                         .temperature(0.8)
                         .seed(seed);
    ToyDecoder gd(m, iota_vec(B), lens), bd(m, iota_vec(B), lens), sd(m, iota_vec(B), lens);
    const auto g = greedy_decode(gd, opt);
    const auto b = beam_search(bd, opt);
    const auto s = sample_decode(sd, opt);
    for (int64_t i = 0; i < B; ++i) {
      // a decoder over source i alone (its id and length kept)
      std::vector<int64_t> one_len(B, 0);
      one_len[i] = lens[i];
      ToyDecoder g1(m, {i}, one_len), b1(m, {i}, one_len), s1(m, {i}, one_len);
      expect_same(g[i], greedy_decode(g1, opt)[0], "greedy " + std::to_string(i));
      const auto bi = beam_search(b1, opt)[0];
      ASSERT_EQ(b[i].size(), bi.size());
      for (size_t j = 0; j < bi.size(); ++j) expect_same(b[i][j], bi[j], "beam " + std::to_string(i));
      expect_same(s[i], sample_decode(s1, DecodeOptions(opt).first_source(i))[0], "sample " + std::to_string(i));
    }
    // finished rows leave the batch: the rows only shrink for greedy, and end below B*K for beam
    for (size_t t = 1; t < gd.rows_per_step.size(); ++t) EXPECT_LE(gd.rows_per_step[t], gd.rows_per_step[t - 1]);
    EXPECT_LT(gd.rows_per_step.back(), B);
    EXPECT_LT(bd.rows_per_step.back(), B * 3);
    EXPECT_EQ(bd.rows_per_step.front(), B) << "the first step runs once per source, not per beam";
  }
}

// ==================================================================== EOS and length limits
TEST(Decoding, SourcesFinishAtDifferentSteps) {
  // Source s emits token 2 s times, then EOS.
  Model m;
  m.V = 4;
  m.logp = [](int64_t src, const std::vector<int64_t>& prefix) {
    const bool end = static_cast<int64_t>(prefix.size()) - 1 >= src;
    return std::vector<double>{-9.0, end ? -0.1 : -3.0, end ? -3.0 : -0.1, -4.0};
  };
  for (int mode = 0; mode < 2; ++mode) {
    ToyDecoder d(m, {3, 0, 5, 1});
    std::vector<Hypothesis> h;
    if (mode == 0) h = greedy_decode(d, DecodeOptions(0, 1).max_length(20));
    else for (auto& v : beam_search(d, DecodeOptions(0, 1).max_length(20).beam_size(2))) h.push_back(v[0]);
    const std::vector<int64_t> n{3, 0, 5, 1};
    for (int s = 0; s < 4; ++s) {
      EXPECT_EQ(h[s].tokens, std::vector<int64_t>(n[s], 2)) << mode << " " << s;
      EXPECT_TRUE(h[s].finished);
      EXPECT_DOUBLE_EQ(h[s].log_prob, -0.1 * (n[s] + 1));
    }
    if (mode == 0) EXPECT_EQ(d.rows_per_step, (std::vector<int64_t>{4, 3, 2, 2, 1, 1}));
  }
}

TEST(Decoding, NoEosIsCutAtMaxLength) {
  Model m;
  m.V = 3;
  m.logp = [](int64_t, const std::vector<int64_t>&) { return std::vector<double>{-5.0, -6.0, -0.01}; };
  ToyDecoder g(m, {0, 1}), b(m, {0, 1});
  const auto h = greedy_decode(g, DecodeOptions(0, 1).max_length(4));
  const auto hb = beam_search(b, DecodeOptions(0, 1).max_length(4).beam_size(3).num_return(3).length_penalty(0.0));
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(h[s].tokens, std::vector<int64_t>(4, 2));
    EXPECT_FALSE(h[s].finished);
    EXPECT_DOUBLE_EQ(h[s].log_prob, -0.04);
    EXPECT_EQ(hb[s][0].tokens, std::vector<int64_t>(4, 2));
    EXPECT_FALSE(hb[s][0].finished);
    // num_return ordering: best first, scores descending
    ASSERT_EQ(hb[s].size(), 3u);
    EXPECT_GE(hb[s][0].score, hb[s][1].score);
    EXPECT_GE(hb[s][1].score, hb[s][2].score);
    EXPECT_NEAR(hb[s][1].log_prob, -5.03, 1e-12);  // three 2s and one 0 (BOS's id as a token)
    EXPECT_NEAR(hb[s][2].log_prob, -5.03, 1e-12);
    EXPECT_EQ(std::count(hb[s][1].tokens.begin(), hb[s][1].tokens.end(), 2), 3);
  }
}

TEST(Decoding, MaxLengthRatioUsesSourceLengths) {
  Model m;
  m.V = 3;
  m.logp = [](int64_t, const std::vector<int64_t>&) { return std::vector<double>{-5.0, -6.0, -0.01}; };
  const std::vector<int64_t> lens{1, 4, 10, 0};
  for (int mode = 0; mode < 3; ++mode) {
    ToyDecoder d(m, iota_vec(4), lens);
    const auto opt = DecodeOptions(0, 1).max_length(9).max_length_ratio(1.5).max_length_offset(1).beam_size(2);
    std::vector<Hypothesis> h;
    if (mode == 0) h = greedy_decode(d, opt);
    else if (mode == 1) h = sample_decode(d, DecodeOptions(opt).top_k(1));
    else for (auto& v : beam_search(d, opt)) h.push_back(v[0]);
    // min(9, ceil(1.5 S) + 1): 3, 7, 9, 1
    const std::vector<size_t> want{3, 7, 9, 1};
    for (int s = 0; s < 4; ++s) {
      EXPECT_EQ(h[s].tokens.size(), want[s]) << mode << " " << s;
      EXPECT_FALSE(h[s].finished);
    }
  }
  // negative offsets clamp the limit to 1
  ToyDecoder d(m, iota_vec(4), lens);
  for (const auto& h : greedy_decode(d, DecodeOptions(0, 1).max_length_ratio(0.1).max_length_offset(-5)))
    EXPECT_EQ(h.tokens.size(), 1u);
}

TEST(Decoding, FewerOutputsThanNumReturnWhenTheSpaceIsSmall) {
  Model m;
  m.V = 2;
  m.logp = [](int64_t, const std::vector<int64_t>&) { return std::vector<double>{std::log(0.3), std::log(0.7)}; };
  ToyDecoder d(m, {0});
  const auto b = beam_search(d, DecodeOptions(0, 1).max_length(1).beam_size(4).num_return(4).length_penalty(0.0));
  ASSERT_EQ(b[0].size(), 2u);
  EXPECT_TRUE(b[0][0].finished);
  EXPECT_TRUE(b[0][0].tokens.empty());
  EXPECT_EQ(b[0][1].tokens, (std::vector<int64_t>{0}));
  EXPECT_FALSE(b[0][1].finished);
}

TEST(Decoding, EmptyBatch) {
  const Model m = random_model(5, 1, 0.0, 1);
  ToyDecoder d(m, {});
  EXPECT_TRUE(greedy_decode(d, DecodeOptions(0, 1)).empty());
  EXPECT_TRUE(beam_search(d, DecodeOptions(0, 1)).empty());
  EXPECT_TRUE(sample_decode(d, DecodeOptions(0, 1)).empty());
  EXPECT_TRUE(d.rows_per_step.empty());
}

// ==================================================================== sampling
namespace {
// Frequencies of the first two sampled tokens over n sources (one batch) vs expected p.
void check_frequencies(const Model& m, const DecodeOptions& opt, int64_t n, const std::vector<double>& p1,
                       const std::vector<double>& p2) {
  ToyDecoder d(m, std::vector<int64_t>(n, 0));
  const auto h = sample_decode(d, opt);
  std::vector<double> c1(m.V, 0), c2(m.V, 0);
  double n2 = 0;
  for (const auto& x : h) {
    if (x.tokens.empty()) c1[opt.eos()] += 1;
    else c1[x.tokens[0]] += 1;
    if (!x.tokens.empty()) {
      n2 += 1;
      if (x.tokens.size() > 1) c2[x.tokens[1]] += 1;
      else c2[opt.eos()] += x.finished;
    }
  }
  for (int64_t i = 0; i < m.V; ++i) {
    const double se1 = std::sqrt(p1[i] * (1 - p1[i]) / n), se2 = std::sqrt(p2[i] * (1 - p2[i]) / n2);
    EXPECT_LE(std::fabs(c1[i] / n - p1[i]), 4 * se1 + 1e-12) << "step 1 token " << i;
    EXPECT_LE(std::fabs(c2[i] / n2 - p2[i]), 4 * se2 + 1e-12) << "step 2 token " << i;
    if (p1[i] == 0) EXPECT_EQ(c1[i], 0) << i;
    if (p2[i] == 0) EXPECT_EQ(c2[i], 0) << i;
  }
}
std::vector<double> tempered(std::vector<double> p, double T, int64_t top_k = 0) {
  std::vector<double> sorted = p;
  std::sort(sorted.rbegin(), sorted.rend());
  const double cut = top_k > 0 ? sorted[top_k - 1] : -1;
  double s = 0;
  for (double& x : p) s += (x = x >= cut ? std::pow(x, 1 / T) : 0.0);
  for (double& x : p) x /= s;
  return p;
}
}  // namespace

TEST(Decoding, SampleFrequenciesMatchTheModel) {
  // V: 0 BOS (never), 1 EOS, 2..5; step 2 has its own distribution.
  const std::vector<double> p1{0.0, 0.1, 0.15, 0.2, 0.25, 0.3}, p2{0.0, 0.4, 0.3, 0.05, 0.2, 0.05};
  const Model m = table_model({{{}, p1}}, p2);
  const auto opt = DecodeOptions(0, 1).max_length(2).seed(7);
  check_frequencies(m, opt, 20000, p1, p2);
  check_frequencies(m, DecodeOptions(opt).temperature(2.0).seed(8), 20000, tempered(p1, 2.0), tempered(p2, 2.0));
  check_frequencies(m, DecodeOptions(opt).temperature(0.5).seed(9), 20000, tempered(p1, 0.5), tempered(p2, 0.5));
  check_frequencies(m, DecodeOptions(opt).top_k(2).seed(10), 20000, tempered(p1, 1.0, 2), tempered(p2, 1.0, 2));
  check_frequencies(m, DecodeOptions(opt).top_k(3).temperature(1.5).seed(11), 20000, tempered(p1, 1.5, 3),
                    tempered(p2, 1.5, 3));
}

TEST(Decoding, SampleDeterministicAndSeeded) {
  const Model m = random_model(8, 3, 0.3, 1, 1.0);
  const auto opt = DecodeOptions(0, 1).max_length(15).seed(42);
  ToyDecoder a(m, iota_vec(16)), b(m, iota_vec(16)), c(m, iota_vec(16));
  const auto ha = sample_decode(a, opt), hb = sample_decode(b, opt), hc = sample_decode(c, DecodeOptions(opt).seed(43));
  int64_t differ = 0;
  for (int i = 0; i < 16; ++i) {
    expect_same(ha[i], hb[i], "same seed");
    differ += ha[i].tokens != hc[i].tokens;
    EXPECT_DOUBLE_EQ(ha[i].log_prob, sequence_log_prob(m, i, 0, 1, ha[i].tokens, ha[i].finished));
  }
  EXPECT_GT(differ, 8);
  // a batch sampled in two halves with first_source equals it sampled at once
  ToyDecoder lo(m, iota_vec(8)), hi(m, {8, 9, 10, 11, 12, 13, 14, 15});
  const auto hlo = sample_decode(lo, opt), hhi = sample_decode(hi, DecodeOptions(opt).first_source(8));
  for (int i = 0; i < 8; ++i) {
    expect_same(ha[i], hlo[i], "first half");
    expect_same(ha[8 + i], hhi[i], "second half");
  }
}

TEST(Decoding, SampleTopOneAndColdTemperatureAreGreedy) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const Model m = random_model(4 + seed, seed, 0.3, 1);
    ToyDecoder g(m, iota_vec(5)), s1(m, iota_vec(5)), s2(m, iota_vec(5));
    const auto opt = DecodeOptions(0, 1).max_length(12).seed(seed);
    const auto hg = greedy_decode(g, opt);
    const auto h1 = sample_decode(s1, DecodeOptions(opt).top_k(1).temperature(5.0));
    const auto h2 = sample_decode(s2, DecodeOptions(opt).temperature(1e-9));
    for (int i = 0; i < 5; ++i) {
      expect_same(hg[i], h1[i], "top_k 1");
      expect_same(hg[i], h2[i], "temperature 1e-9");
    }
  }
}

// ==================================================================== attention
TEST(Decoding, AttentionFollowsEachHypothesis) {
  for (uint64_t seed = 0; seed < 6; ++seed) {
    Model m = random_model(6, 70 + seed, 0.4, 1);
    const int64_t B = 3;
    ToyDecoder g(m, iota_vec(B)), b(m, iota_vec(B)), s(m, iota_vec(B));
    const auto opt = DecodeOptions(0, 1).max_length(8).beam_size(3).num_return(3).return_attention(true).seed(seed);
    std::vector<Hypothesis> all = greedy_decode(g, opt);
    for (auto& v : beam_search(b, opt)) all.insert(all.end(), v.begin(), v.end());
    const auto hs = sample_decode(s, opt);
    all.insert(all.end(), hs.begin(), hs.end());
    std::vector<int64_t> src;
    for (int64_t i = 0; i < B; ++i) src.push_back(i);
    for (int64_t i = 0; i < B; ++i)
      for (int j = 0; j < 3; ++j) src.push_back(i);
    for (int64_t i = 0; i < B; ++i) src.push_back(i);
    ASSERT_EQ(all.size(), src.size());
    for (size_t k = 0; k < all.size(); ++k) {
      const Hypothesis& h = all[k];
      const int64_t n = static_cast<int64_t>(h.tokens.size()) + h.finished;
      ASSERT_EQ(h.attention.shape(), (Shape{n, 8}));
      EXPECT_EQ(h.attention.dtype(), DType::F32);
      const auto a = h.attention.to_vector<float>();
      std::vector<int64_t> prefix{0};
      for (int64_t t = 0; t < n; ++t) {
        const auto want = m.attention(src[k], prefix);
        for (int64_t j = 0; j < 8; ++j) EXPECT_EQ(a[t * 8 + j], static_cast<float>(want[j])) << k << " " << t;
        if (t < static_cast<int64_t>(h.tokens.size())) prefix.push_back(h.tokens[t]);
      }
    }
  }
}

// ==================================================================== bad options and outputs
TEST(Decoding, BadOptionsNameTheSearch) {
  Model m = random_model(5, 1, 0.0, 1);
  m.attention = nullptr;  // no last_attention()
  const auto run = [&](const char* name, const DecodeOptions& o) {
    return [&m, name, o] {
      ToyDecoder d(m, {0, 1});
      if (std::string(name) == "greedy_decode") greedy_decode(d, o);
      else if (std::string(name) == "beam_search") beam_search(d, o);
      else sample_decode(d, o);
    };
  };
  for (const char* name : {"greedy_decode", "beam_search", "sample_decode"}) {
    expect_error(run(name, DecodeOptions(0, 1).max_length(0)), name, "max_length 0");
    expect_error(run(name, DecodeOptions(0, 5)), name, "eos 5 outside [0, V=5)");
    expect_error(run(name, DecodeOptions(-1, 1)), name, "bos -1");
    expect_error(run(name, DecodeOptions(0, 1).max_length_ratio(-1)), name, "max_length_ratio");
    expect_error(run(name, DecodeOptions(0, 1).max_length_ratio(1.0)), name, "source_lengths");
  }
  expect_error(run("beam_search", DecodeOptions(0, 1).beam_size(0)), "beam_search", "beam_size 0");
  expect_error(run("beam_search", DecodeOptions(0, 1).beam_size(2).num_return(3)), "beam_search", "num_return 3");
  expect_error(run("beam_search", DecodeOptions(0, 1).num_return(0)), "beam_search", "num_return 0");
  expect_error(run("beam_search", DecodeOptions(0, 1).length_penalty(NAN)), "beam_search", "length_penalty");
  expect_error(run("sample_decode", DecodeOptions(0, 1).temperature(0)), "sample_decode", "temperature 0");
  expect_error(run("sample_decode", DecodeOptions(0, 1).temperature(-1)), "sample_decode", "temperature");
  expect_error(run("sample_decode", DecodeOptions(0, 1).top_k(-1)), "sample_decode", "top_k -1");
  expect_error(run("sample_decode", DecodeOptions(0, 1).first_source(-2)), "sample_decode", "first_source");
  expect_error(run("greedy_decode", DecodeOptions(0, 1).return_attention(true)), "greedy_decode", "last_attention");
}

namespace {
// A decoder with one planted fault.
class FaultyDecoder : public StepDecoder {
 public:
  enum Fault { Shape_, Dtype, NaN_, PosInf, Attention };
  FaultyDecoder(Fault f, int64_t rows) : f_(f), rows_(rows) {}
  int64_t rows() const override { return rows_; }
  int64_t vocab_size() const override { return 4; }
  Tensor step(const Tensor& tokens) override {
    ++steps_;
    std::vector<double> v(rows_ * 4, std::log(0.25));
    if (f_ == Shape_) return from_vector(std::vector<double>(rows_ * 3, -1.0), {rows_, 3});
    if (f_ == Dtype) return from_vector(std::vector<int64_t>(rows_ * 4, 0), {rows_, 4});
    if (f_ == NaN_) v[rows_ * 4 - 2] = NAN;
    if (f_ == PosInf) v[1] = kInf;
    return from_vector(v, {rows_, 4});
  }
  void reorder(const Tensor& index) override { rows_ = index.numel(); }
  Tensor last_attention() const override {
    return f_ == Attention ? zeros({rows_ + 1, 3}) : zeros({rows_, 3});
  }

 private:
  Fault f_;
  int64_t rows_, steps_ = 0;
};
}  // namespace

TEST(Decoding, BadDecoderOutputsNameTheSearch) {
  for (const char* name : {"greedy_decode", "beam_search", "sample_decode"}) {
    const auto run = [name](FaultyDecoder::Fault f, int64_t rows, DecodeOptions o) {
      return [=] {
        FaultyDecoder d(f, rows);
        if (std::string(name) == "greedy_decode") greedy_decode(d, o);
        else if (std::string(name) == "beam_search") beam_search(d, o);
        else sample_decode(d, o);
      };
    };
    const auto o = DecodeOptions(0, 2).max_length(5);
    expect_error(run(FaultyDecoder::Shape_, 2, o), name, "decoder.step returned (2,3), expected (rows=2, V=4)");
    expect_error(run(FaultyDecoder::Dtype, 2, o), name, "int64");
    expect_error(run(FaultyDecoder::NaN_, 2, o), name, "NaN");
    expect_error(run(FaultyDecoder::PosInf, 2, o), name, "+inf");
    expect_error(run(FaultyDecoder::Attention, 2, DecodeOptions(o).return_attention(true)), name,
                 "decoder.last_attention returned (3,3), expected (rows=2");
  }
}

TEST(Decoding, ReorderThatKeepsRowsIsAnError) {
  // rows 0 and 2 end at once (EOS), row 1 goes on: reorder([1]) must leave 1 row.
  class Stuck : public StepDecoder {
   public:
    int64_t rows() const override { return 3; }
    int64_t vocab_size() const override { return 3; }
    Tensor step(const Tensor&) override {
      return from_vector(std::vector<double>{-9, 0, -9, -9, -9, 0, -9, 0, -9}, {3, 3});
    }
    void reorder(const Tensor&) override {}
  };
  Stuck d1, d2;
  expect_error([&] { greedy_decode(d1, DecodeOptions(0, 1)); }, "greedy_decode", "decoder.reorder left 3 rows, expected 1");
  expect_error([&] { beam_search(d2, DecodeOptions(0, 1).beam_size(1)); }, "beam_search",
               "decoder.reorder left 3 rows, expected 1");
}

TEST(Decoding, SamplingNothingIsAnError) {
  // top_k 2 keeps tokens 0 and 1, both -inf
  const Model m = table_model({}, {0.0, 0.0, 0.0, 0.0});
  ToyDecoder d(m, {0});
  expect_error([&] { sample_decode(d, DecodeOptions(0, 1).top_k(2)); }, "sample_decode", "nothing to sample");
}

TEST(Decoding, SearchesRecordNoGradient) {
  // ToyDecoder::step checks grad mode is off inside the searches; and it is restored after.
  const Model m = random_model(5, 2, 0.5, 1);
  ToyDecoder d(m, {0});
  greedy_decode(d, DecodeOptions(0, 1).max_length(3));
  EXPECT_TRUE(grad_mode_enabled());
}
