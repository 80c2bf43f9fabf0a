// CTC against live PyTorch 1.13 F.ctc_loss: values and gradients, all reductions, both target
// layouts, unbatched, ragged lengths, zero_infinity, blank != 0, the edge cases (target length
// 0, repeats, input just long enough, infeasible), F32 and F64.
//
// Gradients are compared w.r.t. LOGITS through log_softmax(logits, 2) on both sides (how CTC is
// used): seqnn's ctc_loss returns the true derivative w.r.t. log_probs, PyTorch's the gradient
// w.r.t. the logits of a log_softmax (see include/seqnn/ctc.h). RawLogProbsGradientDifference
// documents that departure: seqnn + exp(log_probs) * g_b == PyTorch's raw log_probs.grad.
// Not compared: input_length 0 (PyTorch 1.13 reads outside its alpha there; tests/test_ctc.cpp
// checks seqnn's 0 / +inf) and labels equal to blank (seqnn rejects them, PyTorch does not check).
#include <gtest/gtest.h>

#include <cmath>

#include "common/parity_batch.h"
#include "seqnn/ctc.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

const char* kRedName[] = {"none", "sum", "mean"};
const Reduction kReds[] = {Reduction::None, Reduction::Sum, Reduction::Mean};

const char* kCode =
    "lp = F.log_softmax(x, x.dim() - 1)\n"
    "out = F.ctc_loss(lp, tg, il, tl, blank=args['blank'], reduction=args['red'], zero_infinity=args['zi'])";

Tensor i64(const std::vector<int64_t>& v) { return from_vector(v, {static_cast<int64_t>(v.size())}); }

int64_t rand_label(int64_t C, int64_t blank, Generator& gen) {
  const int64_t v = randint(0, C - 1, {}, &gen).item<int64_t>();
  return v >= blank ? v + 1 : v;
}

// Adds the case (logits x, targets tg, lengths) for every reduction and zero_infinity setting.
void add_all(ParityBatch& pb, const std::string& tag, const Tensor& x, const Tensor& tg, const Tensor& il,
             const Tensor& tl, int64_t blank) {
  for (int r = 0; r < 3; ++r)
    for (bool zi : {false, true}) {
      CTCLossOptions o;
      o.blank(blank).reduction(kReds[r]).zero_infinity(zi);
      pb.add(tag + " " + kRedName[r] + (zi ? " zero_inf" : ""), kCode, {{"x", x}, {"tg", tg}, {"il", il}, {"tl", tl}},
             [o](const TensorList& in) {
               return ctc_loss(log_softmax(in[0], in[0].dim() - 1), in[1], in[2], in[3], o);
             },
             {{"blank", blank}, {"red", kRedName[r]}, {"zi", zi}});
    }
}

// Padded (B,S) targets (padding = blank) and their concatenation.
std::pair<Tensor, Tensor> make_targets(int64_t B, int64_t S, const std::vector<int64_t>& tl, int64_t C, int64_t blank,
                                       Generator& gen) {
  std::vector<int64_t> pad(B * S, blank), cat;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < tl[b]; ++k) {
      pad[b * S + k] = rand_label(C, blank, gen);
      cat.push_back(pad[b * S + k]);
    }
  return {from_vector(pad, {B, S}), from_vector(cat, {static_cast<int64_t>(cat.size())})};
}

}  // namespace

TEST(ParityCTC, RandomShapesBothLayouts) {
  ParityBatch pb(61);
  Generator& gen = pb.gen;
  struct Shp {
    int64_t T, B, C, S;
  };
  for (DType dt : {DType::F32, DType::F64})
    for (const Shp& s : {Shp{1, 1, 2, 1}, Shp{5, 1, 3, 2}, Shp{12, 3, 5, 4}, Shp{30, 6, 20, 10}, Shp{50, 4, 8, 20},
                         Shp{17, 5, 4, 6}}) {
      for (int64_t blank : {int64_t{0}, s.C - 1, s.C / 2}) {
        if (blank == s.C / 2 && (blank == 0 || blank == s.C - 1)) continue;
        std::vector<int64_t> il(s.B), tl(s.B);
        for (int64_t b = 0; b < s.B; ++b) {
          il[b] = randint(std::max<int64_t>(1, s.T / 2), s.T + 1, {}, &gen).item<int64_t>();
          tl[b] = randint(0, std::min(s.S, (il[b] + 1) / 2) + 1, {}, &gen).item<int64_t>();
        }
        il[0] = s.T;  // at least one full-length sample
        auto [pad, cat] = make_targets(s.B, s.S, tl, s.C, blank, gen);
        Tensor x = randn({s.T, s.B, s.C}, dt, &gen);
        const std::string tag = std::string(dtype_name(dt)) + " T" + std::to_string(s.T) + " B" + std::to_string(s.B) +
                                " C" + std::to_string(s.C) + " S" + std::to_string(s.S) + " blank" +
                                std::to_string(blank);
        add_all(pb, tag + " padded", x, pad, i64(il), i64(tl), blank);
        add_all(pb, tag + " concat", x, cat, i64(il), i64(tl), blank);
      }
    }
  pb.check();
}

TEST(ParityCTC, EdgeCases) {
  ParityBatch pb(62);
  Generator& gen = pb.gen;
  for (DType dt : {DType::F32, DType::F64}) {
    const std::string d = dtype_name(dt);
    // target length 0 (one sample / all samples)
    add_all(pb, d + " empty target", randn({6, 3, 4}, dt, &gen),
            from_vector(std::vector<int64_t>{1, 2, 0, 0, 3, 3}, {3, 2}),
            i64({6, 4, 5}), i64({2, 0, 2}), 0);
    add_all(pb, d + " all targets empty", randn({5, 2, 3}, dt, &gen), from_vector(std::vector<int64_t>{}, {0}),
            i64({5, 3}), i64({0, 0}), 2);
    // repeated labels "a a" need a blank: T = 3 just long enough, T = 2 infeasible
    add_all(pb, d + " repeat just long enough", randn({3, 1, 3}, dt, &gen),
            from_vector(std::vector<int64_t>{1, 1}, {1, 2}),
            i64({3}), i64({2}), 0);
    add_all(pb, d + " repeat infeasible", randn({3, 2, 3}, dt, &gen),
            from_vector(std::vector<int64_t>{1, 1, 1, 2}, {2, 2}), i64({2, 2}), i64({2, 2}), 0);
    // "1 2 2 1 1" (S = 5, 2 repeats): T = 7 just long enough; T = 6 infeasible; one feasible sample beside
    add_all(pb, d + " just long enough", randn({7, 3, 4}, dt, &gen),
            from_vector(std::vector<int64_t>{1, 2, 2, 1, 1, 1, 2, 2, 1, 1, 3, 1, 0, 0, 0}, {3, 5}), i64({7, 6, 4}),
            i64({5, 5, 2}), 0);
    // no repeats: T = S just long enough
    add_all(pb, d + " T equals S", randn({4, 1, 5}, dt, &gen), from_vector(std::vector<int64_t>{1, 2, 3, 4}, {1, 4}),
            i64({4}), i64({4}), 0);
    // blank != 0, every sample at the edge
    add_all(pb, d + " blank 3", randn({5, 2, 4}, dt, &gen), from_vector(std::vector<int64_t>{0, 0, 1, 2, 1, 0}, {2, 3}),
            i64({4, 5}), i64({3, 3}), 3);
    // peaked log-probs (a trained model): large logits
    Tensor big = randn({20, 2, 6}, dt, &gen) * 15.0;
    add_all(pb, d + " peaked", big.detach(), from_vector(std::vector<int64_t>{1, 5, 5, 2, 4, 4}, {2, 3}),
            i64({20, 13}), i64({3, 3}), 0);
  }
  pb.check();
}

TEST(ParityCTC, Unbatched) {
  ParityBatch pb(63);
  Generator& gen = pb.gen;
  for (DType dt : {DType::F32, DType::F64}) {
    for (int64_t T : {1, 4, 11}) {
      const int64_t C = 5, S = std::min<int64_t>(3, T);
      std::vector<int64_t> t;
      for (int64_t k = 0; k < S; ++k) t.push_back(rand_label(C, 0, gen));
      Tensor il = scalar_tensor(static_cast<double>(T), DType::I64);
      Tensor tl = scalar_tensor(static_cast<double>(S), DType::I64);
      add_all(pb, std::string(dtype_name(dt)) + " unbatched T" + std::to_string(T), randn({T, C}, dt, &gen), i64(t), il,
              tl, 0);
      add_all(pb, std::string(dtype_name(dt)) + " unbatched (1) lengths T" + std::to_string(T), randn({T, C}, dt, &gen),
              i64(t), i64({T}), i64({S}), 0);
    }
  }
  pb.check();
}

// seqnn's gradient w.r.t. log_probs is the true derivative; PyTorch's adds exp(log_probs) * g_b
// on the frames t < input_length_b. This test pins that relation down.
TEST(ParityCTC, RawLogProbsGradientDifference) {
  Generator gen(64);
  std::vector<OracleCase> cases;
  struct Ours {
    Tensor lp, grad;
    std::vector<double> gb;
    std::vector<int64_t> il;
  };
  std::vector<Ours> ours;
  for (DType dt : {DType::F32, DType::F64})
    for (Reduction red : {Reduction::None, Reduction::Mean}) {
      const int64_t T = 9, B = 3, C = 5;
      const std::vector<int64_t> il{9, 6, 7}, tl{3, 2, 0};
      Tensor lp = log_softmax(randn({T, B, C}, dt, &gen), 2).detach().requires_grad_();
      Tensor tg = from_vector(std::vector<int64_t>{1, 2, 2, 4, 3, 0, 0, 0, 0}, {3, 3});
      Tensor loss = ctc_loss(lp, tg, il, tl, CTCLossOptions().reduction(red));
      Tensor g = red == Reduction::None ? randn({B}, dt, &gen) : scalar_tensor(1.0, dt);
      loss.backward(g);
      std::vector<double> gb(B);
      const std::vector<double> gv = g.to_vector<double>();
      for (int64_t b = 0; b < B; ++b)
        gb[b] = red == Reduction::None ? gv[b] : 1.0 / (B * std::max<int64_t>(tl[b], 1));
      OracleCase c;
      c.code = "out = F.ctc_loss(lp, tg, il, tl, reduction=args['red'])";
      c.inputs = {{"lp", lp.detach().clone().requires_grad_()}, {"tg", tg}, {"il", i64(il)}, {"tl", i64(tl)}};
      c.grad_outs = {g};
      c.args = {{"red", red == Reduction::None ? "none" : "mean"}};
      cases.push_back(c);
      ours.push_back({lp.detach(), lp.grad(), gb, il});
    }
  const std::vector<OracleResult> res = run_torch(cases);
  ASSERT_EQ(res.size(), ours.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    const Ours& o = ours[i];
    const int64_t T = o.lp.size(0), B = o.lp.size(1), C = o.lp.size(2);
    std::vector<double> y = o.lp.to_vector<double>(), g = o.grad.to_vector<double>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c)
          if (t < o.il[b]) g[(t * B + b) * C + c] += std::exp(y[(t * B + b) * C + c]) * o.gb[b];
    expect_close(from_vector(g, o.lp.shape()), res[i].grads.at("lp").to(DType::F64), 1e-4,
                 "raw grad case " + std::to_string(i));
  }
}
