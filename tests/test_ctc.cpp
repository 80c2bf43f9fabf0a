// CTC: kernel vs reference, brute force over all alignments, gradient checks (every reduction,
// both target layouts, zero_infinity), edge cases, ragged batches, bad input, and the decoders
// (greedy, prefix beam search vs exhaustive enumeration).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/ctc.h"
#include "seqnn/ctc.h"
#include "seqnn/random.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// log_softmax(randn) over the last dim, as a plain (no-grad) tensor of dtype dt.
Tensor rand_log_probs(const Shape& s, DType dt, Generator& gen, double scale = 1.0) {
  Tensor x = randn(s, DType::F64, &gen);
  std::vector<double> v = x.to_vector<double>();
  const int64_t C = s.back();
  for (size_t r = 0; r < v.size(); r += C) {
    double m = -kInf, z = 0;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, scale * v[r + c]);
    for (int64_t c = 0; c < C; ++c) z += std::exp(scale * v[r + c] - m);
    for (int64_t c = 0; c < C; ++c) v[r + c] = scale * v[r + c] - m - std::log(z);
  }
  return from_vector(v, s).to(dt);
}

// A label in [0,C) that is not blank.
int64_t rand_label(int64_t C, int64_t blank, Generator& gen) {
  const int64_t v = randint(0, C - 1, {}, &gen).item<int64_t>();
  return v >= blank ? v + 1 : v;
}

// Padded targets (B,S): row b holds tl[b] labels (runs of repeats are likely for small C), then
// `pad` (any value: the padding is never read).
Tensor padded_targets(int64_t B, int64_t S, const std::vector<int64_t>& tl, int64_t C, int64_t blank, Generator& gen,
                      int64_t pad = -7) {
  std::vector<int64_t> v(B * S, pad);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < tl[b]; ++k) v[b * S + k] = rand_label(C, blank, gen);
  return from_vector(v, {B, S});
}

// The concatenated layout of padded targets.
Tensor concat_targets(const Tensor& padded, const std::vector<int64_t>& tl) {
  std::vector<int64_t> p = padded.to_vector<int64_t>(), v;
  const int64_t S = padded.size(1);
  for (size_t b = 0; b < tl.size(); ++b)
    for (int64_t k = 0; k < tl[b]; ++k) v.push_back(p[b * S + k]);
  return from_vector(v, {static_cast<int64_t>(v.size())});
}

Tensor i64(const std::vector<int64_t>& v) { return from_vector(v, {static_cast<int64_t>(v.size())}); }

// Merge repeats, drop blanks.
std::vector<int64_t> collapse(const std::vector<int64_t>& path, int64_t blank) {
  std::vector<int64_t> out;
  int64_t prev = -1;
  for (int64_t c : path) {
    if (c != blank && c != prev) out.push_back(c);
    prev = c;
  }
  return out;
}

// Every labelling of sample b's first n frames with its total probability (sum over all C^n paths).
std::map<std::vector<int64_t>, long double> all_labellings(const std::vector<double>& lp, int64_t B, int64_t C,
                                                           int64_t b, int64_t n, int64_t blank) {
  std::map<std::vector<int64_t>, long double> out;
  std::vector<int64_t> path(n, 0);
  while (true) {
    long double logp = 0;
    for (int64_t t = 0; t < n; ++t) logp += lp[(t * B + b) * C + path[t]];
    out[collapse(path, blank)] += std::exp(logp);
    int64_t t = 0;
    while (t < n && ++path[t] == C) path[t++] = 0;
    if (t == n) break;
  }
  return out;
}

std::vector<double> grad_of(const Tensor& loss, const Tensor& x) {
  loss.backward();
  return x.grad().to_vector<double>();
}

}  // namespace

// ==================================================================== kernel vs reference

TEST(CTCKernel, MatchesReference) {
  Generator gen(1);
  struct Case {
    int64_t T, B, C, S, blank;
  };
  for (const Case& k : {Case{1, 1, 2, 1, 0}, Case{6, 3, 3, 3, 0}, Case{12, 4, 5, 4, 2}, Case{20, 5, 4, 7, 3},
                        Case{9, 2, 2, 4, 1}, Case{40, 4, 3, 15, 0}, Case{25, 3, 6, 12, 2}}) {
    for (DType dt : {DType::F32, DType::F64}) {
      Tensor lp = rand_log_probs({k.T, k.B, k.C}, dt, gen, 2.0);
      std::vector<int64_t> il(k.B), tl(k.B), off(k.B);
      for (int64_t b = 0; b < k.B; ++b) {
        il[b] = randint(std::min<int64_t>(1, k.T), k.T + 1, {}, &gen).item<int64_t>();
        tl[b] = randint(0, k.S + 1, {}, &gen).item<int64_t>();
        off[b] = b * k.S;
      }
      il[0] = k.T;
      Tensor tg = padded_targets(k.B, k.S, tl, k.C, k.blank, gen);
      const int64_t L = 2 * k.S + 1;
      std::vector<double> g(k.B), nll(k.B), nll_ref(k.B), alpha(k.B * k.T * L), work(k.B * (2 * L + k.C));
      for (int64_t b = 0; b < k.B; ++b) g[b] = 0.5 + b;
      const int64_t* tgp = tg.data_ptr<int64_t>();
      {
        if (dt == DType::F32) {
          const float* x = lp.data_ptr<float>();
          std::vector<float> d(lp.numel()), dr(lp.numel());
          kernels::ctc_forward<float>(x, tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, L, k.blank, true,
                                      alpha.data(), nll.data());
          kernels::ctc_backward<float>(x, tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, L, k.blank,
                                       alpha.data(), nll.data(), g.data(), false, work.data(), d.data());
          kernels::ref::ctc_loss_grad<float>(x, tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, k.blank,
                                             g.data(), false, nll_ref.data(), dr.data());
          EXPECT_LT(max_rel_err(d, dr), 1e-6) << k.T << "x" << k.B << "x" << k.C;
          for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(std::isnan(d[i]), std::isnan(dr[i])) << i;  // infeasible
        } else {
          const double* x = lp.data_ptr<double>();
          std::vector<double> d(lp.numel()), dr(lp.numel());
          kernels::ctc_forward<double>(x, tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, L, k.blank, true,
                                       alpha.data(), nll.data());
          kernels::ctc_backward<double>(x, tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, L, k.blank,
                                        alpha.data(), nll.data(), g.data(), false, work.data(), d.data());
          kernels::ref::ctc_loss_grad<double>(x, tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, k.blank,
                                              g.data(), false, nll_ref.data(), dr.data());
          EXPECT_LT(max_rel_err(d, dr), 1e-12) << k.T << "x" << k.B << "x" << k.C;
          for (size_t i = 0; i < d.size(); ++i) ASSERT_EQ(std::isnan(d[i]), std::isnan(dr[i])) << i;  // infeasible
        }
      }
      for (int64_t b = 0; b < k.B; ++b) {
        if (std::isinf(nll_ref[b])) {
          EXPECT_EQ(nll[b], kInf);
        } else {
          EXPECT_NEAR(nll[b], nll_ref[b], 1e-12 * std::max(1.0, nll_ref[b])) << "sample " << b;
        }
      }
      // the two-row forward (no grad) gives the same losses
      std::vector<double> nll2(k.B), alpha2(k.B * 2 * L);
      if (dt == DType::F32)
        kernels::ctc_forward<float>(lp.data_ptr<float>(), tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, L,
                                    k.blank, false, alpha2.data(), nll2.data());
      else
        kernels::ctc_forward<double>(lp.data_ptr<double>(), tgp, off.data(), il.data(), tl.data(), k.T, k.B, k.C, L,
                                     k.blank, false, alpha2.data(), nll2.data());
      EXPECT_EQ(nll2, nll);
    }
  }
}

// ==================================================================== brute force

TEST(CTCLoss, EqualsSumOverAllAlignments) {
  Generator gen(2);
  for (int64_t T = 1; T <= 6; ++T)
    for (int64_t C = 2; C <= 3; ++C)
      for (int64_t S = 0; S <= 3; ++S)
        for (int64_t blank : {int64_t{0}, C - 1}) {
          Tensor lp = rand_log_probs({T, 1, C}, DType::F64, gen, 1.5);
          std::vector<int64_t> tl{S};
          Tensor tg = padded_targets(1, S, tl, C, blank, gen);
          const double loss =
              ctc_loss(lp, tg, std::vector<int64_t>{T}, tl, CTCLossOptions().blank(blank).reduction(Reduction::Sum))
                  .item();
          const auto all = all_labellings(lp.to_vector<double>(), 1, C, 0, T, blank);
          auto it = all.find(tg.to_vector<int64_t>());
          const long double p = it == all.end() ? 0.0L : it->second;
          const std::string what = "T=" + std::to_string(T) + " C=" + std::to_string(C) + " S=" + std::to_string(S);
          if (p == 0) {
            EXPECT_EQ(loss, kInf) << what;
          } else {
            EXPECT_NEAR(loss, -std::log(static_cast<double>(p)), 1e-12) << what;
          }
        }
}

// ==================================================================== gradient checks

TEST(CTCLoss, Gradcheck) {
  Generator gen(3);
  const int64_t T = 7, B = 4, C = 4, S = 3, blank = 1;
  Tensor lp = rand_log_probs({T, B, C}, DType::F64, gen);
  const std::vector<int64_t> il{7, 5, 6, 3}, tl{3, 2, 0, 1};
  Tensor tg = padded_targets(B, S, tl, C, blank, gen);
  // sample 0 gets a repeat so the skip rule is exercised
  tg.data_ptr<int64_t>()[1] = tg.data_ptr<int64_t>()[0];
  Tensor cat = concat_targets(tg, tl);
  for (Reduction red : {Reduction::None, Reduction::Sum, Reduction::Mean})
    for (bool concat : {false, true})
      for (bool zi : {false, true}) {
        CTCLossOptions o;
        o.blank(blank).reduction(red).zero_infinity(zi);
        const std::string tag = std::string("red ") + std::to_string(static_cast<int>(red)) +
                                (concat ? " concat" : " padded") + (zi ? " zero_inf" : "");
        gradcheck("ctc_loss " + tag,
                  [&](const TensorList& in) { return ctc_loss(in[0], concat ? cat : tg, i64(il), i64(tl), o); },
                  {lp});
      }
  // unbatched
  Tensor u = rand_log_probs({6, C}, DType::F64, gen);
  gradcheck("ctc_loss unbatched", [&](const TensorList& in) {
    return ctc_loss(in[0], i64({2, 2, 3}), scalar_tensor(6, DType::I64), scalar_tensor(3, DType::I64),
                    CTCLossOptions().reduction(Reduction::None));
  }, {u});
  // log_probs that are not normalised: the true derivative still holds
  Tensor raw = randn({5, 2, 3}, DType::F64, &gen);
  gradcheck("ctc_loss unnormalised", [&](const TensorList& in) {
    return ctc_loss(in[0], i64({1, 2, 2}), i64({5, 4}), i64({2, 1}));
  }, {raw});
}

TEST(CTCLoss, GradcheckZeroInfinityWithInfeasibleSample) {
  Generator gen(4);
  Tensor lp = rand_log_probs({4, 3, 3}, DType::F64, gen);
  // sample 1: "1 1" needs 3 frames, has 2 -> infeasible; samples 0 and 2 feasible
  Tensor tg = from_vector(std::vector<int64_t>{1, 2, 1, 1, 2, 0}, {3, 2});
  for (Reduction red : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    CTCLossOptions o;
    o.reduction(red).zero_infinity(true);
    gradcheck("ctc_loss infeasible zero_inf", [&](const TensorList& in) {
      return ctc_loss(in[0], tg, i64({4, 2, 3}), i64({2, 2, 1}), o);
    }, {lp});
  }
  Tensor x = lp.clone().requires_grad_();
  Tensor l = ctc_loss(x, tg, i64({4, 2, 3}), i64({2, 2, 1}),
                      CTCLossOptions().reduction(Reduction::None).zero_infinity(true));
  EXPECT_EQ(l.to_vector<double>()[1], 0.0);
  l.sum().backward();
  const std::vector<double> g = x.grad().to_vector<double>();
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(g[(t * 3 + 1) * 3 + c], 0.0);
}

// ==================================================================== edge cases

TEST(CTCLoss, EmptyTargetIsAllBlanks) {
  Generator gen(5);
  Tensor lp = rand_log_probs({5, 2, 4}, DType::F64, gen);
  Tensor x = lp.clone().requires_grad_();
  Tensor l = ctc_loss(x, from_vector(std::vector<int64_t>{0, 0}, {2, 1}), i64({5, 3}), i64({0, 0}),
                      CTCLossOptions().blank(2).reduction(Reduction::None));
  const std::vector<double> y = lp.to_vector<double>(), lv = l.to_vector<double>();
  for (int64_t b = 0; b < 2; ++b) {
    double s = 0;
    for (int64_t t = 0; t < (b == 0 ? 5 : 3); ++t) s -= y[(t * 2 + b) * 4 + 2];
    EXPECT_NEAR(lv[b], s, 1e-12);
  }
  // the only path is all blanks: d loss / d y_t(blank) = -1 on the sample's frames, 0 elsewhere
  const std::vector<double> g = grad_of(l.sum(), x);
  for (int64_t t = 0; t < 5; ++t)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t c = 0; c < 4; ++c)
        EXPECT_EQ(g[(t * 2 + b) * 4 + c], (c == 2 && t < (b == 0 ? 5 : 3)) ? -1.0 : 0.0) << t << " " << b << " " << c;
}

TEST(CTCLoss, RepeatsNeedABlankAndJustLongEnough) {
  Generator gen(6);
  // target "1 2 2 1" (S=4, one repeat): T = 5 is just long enough, with exactly one path 1 2 0 2 1
  const std::vector<int64_t> target{1, 2, 2, 1};
  for (int64_t T : {4, 5, 6}) {
    Tensor lp = rand_log_probs({T, 1, 3}, DType::F64, gen);
    const std::vector<double> y = lp.to_vector<double>();
    for (bool zi : {false, true}) {
      Tensor x = lp.clone().requires_grad_();
      Tensor l = ctc_loss(x, i64(target), std::vector<int64_t>{T}, std::vector<int64_t>{4},
                          CTCLossOptions().reduction(Reduction::Sum).zero_infinity(zi));
      const std::vector<double> g = grad_of(l, x);
      if (T == 4) {  // infeasible
        EXPECT_EQ(l.item(), zi ? 0.0 : kInf);
        for (double v : g) {
          if (zi) {
            EXPECT_EQ(v, 0.0);
          } else {
            EXPECT_TRUE(std::isnan(v));  // as PyTorch: d(+inf) is undefined
          }
        }
      } else if (T == 5) {
        const int64_t path[] = {1, 2, 0, 2, 1};
        double s = 0;
        for (int64_t t = 0; t < 5; ++t) s -= y[t * 3 + path[t]];
        EXPECT_NEAR(l.item(), s, 1e-12);
        for (int64_t t = 0; t < 5; ++t)
          for (int64_t c = 0; c < 3; ++c) EXPECT_NEAR(g[t * 3 + c], c == path[t] ? -1.0 : 0.0, 1e-12);
      } else {
        EXPECT_TRUE(std::isfinite(l.item()));
      }
    }
  }
  // "a a" in 2 frames: infeasible; "a b" in 2 frames: feasible (one path)
  Tensor lp = rand_log_probs({2, 1, 3}, DType::F64, gen);
  EXPECT_EQ(ctc_loss(lp, i64({1, 1}), std::vector<int64_t>{2}, std::vector<int64_t>{2}).item(), kInf);
  const std::vector<double> y = lp.to_vector<double>();
  EXPECT_NEAR(ctc_loss(lp, i64({1, 2}), std::vector<int64_t>{2}, std::vector<int64_t>{2},
                       CTCLossOptions().reduction(Reduction::Sum)).item(), -(y[1] + y[5]), 1e-12);
}

TEST(CTCLoss, InputLengthZero) {
  Generator gen(7);
  Tensor x = rand_log_probs({3, 2, 3}, DType::F64, gen).requires_grad_();
  Tensor l = ctc_loss(x, from_vector(std::vector<int64_t>{1, 2}, {2, 1}), i64({0, 0}), i64({0, 1}),
                      CTCLossOptions().reduction(Reduction::None));
  EXPECT_EQ(l.to_vector<double>(), (std::vector<double>{0.0, kInf}));
  Tensor l0 = ctc_loss(x, from_vector(std::vector<int64_t>{1, 2}, {2, 1}), i64({0, 0}), i64({0, 0}),
                       CTCLossOptions().reduction(Reduction::Sum));
  for (double v : grad_of(l0, x)) EXPECT_EQ(v, 0.0);
  // T = 0 and B = 0 are legal
  EXPECT_EQ(ctc_loss(zeros({0, 1, 3}), zeros({1, 0}, DType::I64), i64({0}), i64({0})).item(), 0.0);
  EXPECT_EQ(ctc_loss(zeros({4, 0, 3}), zeros({0, 2}, DType::I64), i64({}), i64({}),
                     CTCLossOptions().reduction(Reduction::None)).shape(), (Shape{0}));
}

TEST(CTCLoss, MinusInfinityLogProbsGiveNoNaN) {
  Generator gen(8);
  Tensor lp = rand_log_probs({5, 1, 3}, DType::F64, gen);
  double* p = lp.data_ptr<double>();
  p[0 * 3 + 2] = -kInf;  // label 2 impossible at frames 0 and 3
  p[3 * 3 + 2] = -kInf;
  p[1 * 3 + 0] = -kInf;  // blank impossible at frame 1
  Tensor x = lp.clone().requires_grad_();
  Tensor l = ctc_loss(x, i64({1, 2}), std::vector<int64_t>{5}, std::vector<int64_t>{2},
                      CTCLossOptions().reduction(Reduction::Sum));
  const auto all = all_labellings(lp.to_vector<double>(), 1, 3, 0, 5, 0);
  EXPECT_NEAR(l.item(), -std::log(static_cast<double>(all.at({1, 2}))), 1e-12);
  const std::vector<double> g = grad_of(l, x);
  for (double v : g) EXPECT_TRUE(std::isfinite(v));
  EXPECT_EQ(g[0 * 3 + 2], 0.0);  // the true derivative at probability 0
  EXPECT_EQ(g[1 * 3 + 0], 0.0);
}

// Padding frames (t >= input_length) and padded target entries hold garbage: the loss and the
// gradient on the real frames equal those of each sample alone, the padding's gradient is zero.
TEST(CTCLoss, RaggedPaddingNeverMatters) {
  Generator gen(9);
  const int64_t T = 9, B = 3, C = 5, S = 4, blank = 0;
  const std::vector<int64_t> il{9, 4, 6}, tl{4, 1, 2};
  Tensor lp = rand_log_probs({T, B, C}, DType::F64, gen);
  double* p = lp.data_ptr<double>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = il[b]; t < T; ++t)
      for (int64_t c = 0; c < C; ++c) p[(t * B + b) * C + c] = 50.0 * (c + 1) - 3.0 * t;  // garbage, finite
  Tensor tg = padded_targets(B, S, tl, C, blank, gen, /*pad=*/blank);  // padding = blank, never read
  tg.data_ptr<int64_t>()[1 * S + 3] = 1000;                             // out of range, never read
  for (Reduction red : {Reduction::None, Reduction::Sum, Reduction::Mean}) {
    Tensor x = lp.clone().requires_grad_();
    Tensor l = ctc_loss(x, tg, i64(il), i64(tl), CTCLossOptions().reduction(red));
    const std::vector<double> g = grad_of(red == Reduction::None ? l.sum() : l, x);
    double expect_total = 0;
    for (int64_t b = 0; b < B; ++b) {
      // sample b alone, unbatched, trimmed
      std::vector<double> yb;
      for (int64_t t = 0; t < il[b]; ++t)
        for (int64_t c = 0; c < C; ++c) yb.push_back(p[(t * B + b) * C + c]);
      std::vector<int64_t> tb(tg.data_ptr<int64_t>() + b * S, tg.data_ptr<int64_t>() + b * S + tl[b]);
      Tensor xb = from_vector(yb, {il[b], C}).requires_grad_();
      Tensor lb = ctc_loss(xb, i64(tb), std::vector<int64_t>{il[b]}, std::vector<int64_t>{tl[b]},
                           CTCLossOptions().reduction(Reduction::Sum));
      const double w = red == Reduction::Mean ? 1.0 / (B * std::max<int64_t>(tl[b], 1)) : 1.0;
      expect_total += w * lb.item();
      const std::vector<double> gb = grad_of(lb, xb);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) {
          const double v = g[(t * B + b) * C + c];
          if (t >= il[b]) {
            EXPECT_EQ(v, 0.0);
          } else {
            EXPECT_NEAR(v, w * gb[t * C + c], 1e-12);
          }
        }
      if (red == Reduction::None) {
        EXPECT_NEAR(l.to_vector<double>()[b], lb.item(), 1e-12);
      }
    }
    if (red != Reduction::None) {
      EXPECT_NEAR(l.item(), expect_total, 1e-12);
    }
  }
}

TEST(CTCLoss, LayoutsAndOverloadsAgree) {
  Generator gen(10);
  const std::vector<int64_t> il{8, 6, 7}, tl{3, 0, 2};
  Tensor lp = rand_log_probs({8, 3, 6}, DType::F32, gen);
  Tensor tg = padded_targets(3, 4, tl, 6, 3, gen);
  CTCLossOptions o;
  o.blank(3).reduction(Reduction::None);
  const std::vector<double> a = ctc_loss(lp, tg, i64(il), i64(tl), o).to_vector<double>();
  EXPECT_EQ(ctc_loss(lp, concat_targets(tg, tl), i64(il), i64(tl), o).to_vector<double>(), a);
  EXPECT_EQ(ctc_loss(lp, tg, il, tl, o).to_vector<double>(), a);
  EXPECT_EQ(ctc_loss(lp, tg, il, tl, o).dtype(), DType::F32);
  // mean = batch mean of loss_b / max(tl_b, 1)
  const double mean = ctc_loss(lp, tg, il, tl, CTCLossOptions().blank(3)).item();
  EXPECT_NEAR(mean, (a[0] / 3 + a[1] / 1 + a[2] / 2) / 3, 1e-5 * mean);
}

// ==================================================================== bad input

TEST(CTCLoss, BadInput) {
  Tensor lp = zeros({6, 2, 5});
  Tensor tg = ones({2, 3}, DType::I64);
  Tensor il = i64({6, 6}), tl = i64({3, 2});
  auto run = [&](const Tensor& x, const Tensor& t, const Tensor& a, const Tensor& b, CTCLossOptions o = {}) {
    return [=] { ctc_loss(x, t, a, b, o); };
  };
  expect_error(run(zeros({6, 2, 5}, DType::I64), tg, il, tl), "ctc_loss", "float32");
  expect_error(run(zeros({6}), tg, il, tl), "ctc_loss", "(T,B,C)");
  expect_error(run(zeros({6, 2, 5, 1}), tg, il, tl), "ctc_loss", "(6,2,5,1)");
  expect_error(run(lp, tg, il, tl, CTCLossOptions().blank(5)), "ctc_loss", "blank 5 must be in [0, C=5)");
  expect_error(run(lp, tg, il, tl, CTCLossOptions().blank(-1)), "ctc_loss", "blank -1");
  expect_error(run(lp, zeros({2, 3}), il, tl), "ctc_loss", "int64");
  expect_error(run(lp, tg, i64({6, 6, 6}), tl), "ctc_loss", "input_lengths (3) must be (B=2)");
  expect_error(run(lp, tg, il, i64({3})), "ctc_loss", "target_lengths (1) must be (B=2)");
  expect_error(run(lp, tg, zeros({2}), tl), "ctc_loss", "input_lengths must be int64");
  expect_error(run(lp, ones({3, 3}, DType::I64), il, tl), "ctc_loss", "targets (3,3) must be (B=2,S)");
  expect_error(run(lp, ones({2, 3, 1}, DType::I64), il, tl), "ctc_loss", "targets (2,3,1)");
  expect_error(run(lp, tg, i64({7, 6}), tl), "ctc_loss", "input_lengths[0] = 7 must be in [0, T=6]");
  expect_error(run(lp, tg, i64({6, -1}), tl), "ctc_loss", "input_lengths[1] = -1");
  expect_error(run(lp, tg, il, i64({3, -2})), "ctc_loss", "target_lengths[1] = -2 must be >= 0");
  expect_error(run(lp, tg, il, i64({4, 2})), "ctc_loss", "target_lengths[0] = 4 exceeds the padded target length S=3");
  expect_error(run(lp, ones({4}, DType::I64), il, tl), "ctc_loss", "target_lengths sum to 5 but targets (4) hold 4");
  expect_error(run(lp, from_vector(std::vector<int64_t>{1, 2, 0, 1, 1, 1}, {2, 3}), il, tl), "ctc_loss",
               "equals blank=0");
  expect_error(run(lp, from_vector(std::vector<int64_t>{1, 2, 3, 1, 5, 1}, {2, 3}), il, tl), "ctc_loss",
               "target label 5 (sample 1, position 1) out of range [0, C=5)");
  expect_error(run(lp, from_vector(std::vector<int64_t>{1, 2, 3, 1, -3, 1}, {2, 3}), il, tl), "ctc_loss", "-3");
  // unbatched
  Tensor u = zeros({6, 5});
  expect_error(run(u, ones({3}, DType::I64), i64({6, 6}), scalar_tensor(3, DType::I64)), "ctc_loss",
               "must be a scalar or (1)");
  expect_error(run(u, ones({1, 3}, DType::I64), scalar_tensor(6, DType::I64), scalar_tensor(3, DType::I64)),
               "ctc_loss", "(S) for unbatched");
  expect_error(run(u, ones({4}, DType::I64), scalar_tensor(6, DType::I64), scalar_tensor(3, DType::I64)), "ctc_loss",
               "target_lengths sum to 3");
  // vector overload
  expect_error([&] { ctc_loss(lp, tg, std::vector<int64_t>{6}, std::vector<int64_t>{3, 2}); }, "ctc_loss",
               "input_lengths has 1 entries, expected B=2");
  expect_error([&] { ctc_loss(Tensor(), tg, std::vector<int64_t>{6}, std::vector<int64_t>{3, 2}); }, "ctc_loss");
}

// ==================================================================== decoders

namespace {
// log_probs (T,1,C) from per-frame probability rows.
Tensor from_probs(const std::vector<std::vector<double>>& rows) {
  std::vector<double> v;
  for (const auto& r : rows)
    for (double p : r) v.push_back(std::log(p));
  return from_vector(v, {static_cast<int64_t>(rows.size()), 1, static_cast<int64_t>(rows[0].size())});
}
}  // namespace

TEST(CTCDecode, GreedyHandCases) {
  // argmax path: 1 1 0 1 2 2 0 0 -> "1 1 2" (the blank separates the repeated 1s)
  Tensor lp = from_probs({{.1, .8, .1}, {.2, .7, .1}, {.6, .3, .1}, {.1, .5, .4}, {.1, .2, .7}, {.3, .1, .6},
                          {.5, .2, .3}, {.9, .05, .05}});
  EXPECT_EQ(ctc_greedy_decode(lp, i64({8}))[0], (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(ctc_greedy_decode(lp, i64({2}))[0], (std::vector<int64_t>{1}));   // repeats merge
  EXPECT_EQ(ctc_greedy_decode(lp, i64({0}))[0], (std::vector<int64_t>{}));
  // blank = 2: path 1 1 0 1 2 2 0 0 -> "1 0 1 0"
  EXPECT_EQ(ctc_greedy_decode(lp, i64({8}), 2)[0], (std::vector<int64_t>{1, 0, 1, 0}));
  // batched, ragged
  Generator gen(11);
  Tensor b = rand_log_probs({6, 3, 4}, DType::F32, gen);
  const auto d = ctc_greedy_decode(b, i64({6, 3, 0}));
  ASSERT_EQ(d.size(), 3u);
  EXPECT_TRUE(d[2].empty());
  const std::vector<double> y = b.to_vector<double>();
  for (int64_t s = 0; s < 2; ++s) {
    std::vector<int64_t> path;
    for (int64_t t = 0; t < (s == 0 ? 6 : 3); ++t) {
      int64_t best = 0;
      for (int64_t c = 1; c < 4; ++c)
        if (y[(t * 3 + s) * 4 + c] > y[(t * 3 + s) * 4 + best]) best = c;
      path.push_back(best);
    }
    EXPECT_EQ(d[s], collapse(path, 0));
  }
}

TEST(CTCDecode, BeamSizeOneHandCase) {
  // frame 0: blank .4, a .35, b .25; frame 1: blank .4, a .35, b .25.
  // beam 1 keeps only the best prefix: after frame 0 "" (.4) vs "a" (.35) -> ""; after frame 1:
  // "" = .16, "a" = .4*.35 = .14 -> "" with log p = log .16.
  Tensor lp = from_probs({{.4, .35, .25}, {.4, .35, .25}});
  const auto h = ctc_prefix_beam_search(lp, i64({2}), 1);
  ASSERT_EQ(h[0].size(), 1u);
  EXPECT_TRUE(h[0][0].tokens.empty());
  EXPECT_NEAR(h[0][0].log_prob, std::log(.16), 1e-12);
  // with a full beam, "a" collects .35*.4 + .4*.35 + .35*.35 = .4025 and wins
  const auto full = ctc_prefix_beam_search(lp, i64({2}), 10, 0, 3);
  ASSERT_EQ(full[0].size(), 3u);
  EXPECT_EQ(full[0][0].tokens, (std::vector<int64_t>{1}));
  EXPECT_NEAR(full[0][0].log_prob, std::log(.4025), 1e-12);
  EXPECT_EQ(full[0][1].tokens, (std::vector<int64_t>{2}));
  EXPECT_NEAR(full[0][1].log_prob, std::log(.25 * .4 + .4 * .25 + .25 * .25), 1e-12);
  EXPECT_TRUE(full[0][2].tokens.empty());
}

// The classic: blank wins every frame (greedy says ""), yet "a" has more total probability.
TEST(CTCDecode, PrefixBeamBeatsGreedy) {
  Tensor lp = from_probs({{.5, .4, .1}, {.5, .4, .1}, {.5, .4, .1}});
  EXPECT_TRUE(ctc_greedy_decode(lp, i64({3}))[0].empty());
  const auto h = ctc_prefix_beam_search(lp, i64({3}), 8);
  EXPECT_EQ(h[0][0].tokens, (std::vector<int64_t>{1}));
  const auto all = all_labellings(lp.to_vector<double>(), 1, 3, 0, 3, 0);
  EXPECT_GT(all.at({1}), all.at({}));
  EXPECT_NEAR(h[0][0].log_prob, std::log(static_cast<double>(all.at({1}))), 1e-12);
}

// With a beam larger than the number of prefixes, prefix beam search is exact: every labelling
// with its total probability, best first; the probabilities sum to 1.
TEST(CTCDecode, ExhaustiveBeamEqualsBruteForce) {
  Generator gen(12);
  for (int64_t T = 1; T <= 5; ++T)
    for (int64_t C : {2, 3})
      for (int64_t blank : {int64_t{0}, C - 1}) {
        const int64_t B = 2;
        Tensor lp = rand_log_probs({T, B, C}, DType::F64, gen, 2.0);
        const std::vector<double> y = lp.to_vector<double>();
        const auto hyps = ctc_prefix_beam_search(lp, i64({T, T - 1}), 400, blank, 1000);
        for (int64_t b = 0; b < B; ++b) {
          const auto all = all_labellings(y, B, C, b, b == 0 ? T : T - 1, blank);
          ASSERT_EQ(hyps[b].size(), all.size());
          long double best = -1, total = 0;
          for (const auto& [lab, p] : all) best = std::max(best, p);
          for (const auto& h : hyps[b]) {
            total += std::exp(static_cast<long double>(h.log_prob));
            ASSERT_TRUE(all.count(h.tokens));
            EXPECT_NEAR(h.log_prob, std::log(static_cast<double>(all.at(h.tokens))), 1e-10);
          }
          EXPECT_NEAR(static_cast<double>(total), 1.0, 1e-12);
          EXPECT_NEAR(hyps[b][0].log_prob, std::log(static_cast<double>(best)), 1e-10);
          for (size_t i = 1; i < hyps[b].size(); ++i) EXPECT_GE(hyps[b][i - 1].log_prob, hyps[b][i].log_prob);
        }
      }
}

TEST(CTCDecode, PruningAndBadInput) {
  Tensor lp = from_probs({{.5, .4, .1}, {.5, .4, .1}, {.5, .4, .1}});
  // pruning label 2 (log .1 < log .2) leaves only labellings over {blank, 1}
  const auto h = ctc_prefix_beam_search(lp, i64({3}), 50, 0, 50, std::log(.2));
  for (const auto& x : h[0])
    for (int64_t c : x.tokens) EXPECT_EQ(c, 1);
  // everything pruned but each frame's best label (the blank): ""
  const auto h2 = ctc_prefix_beam_search(lp, i64({3}), 5, 0, 5, 0.0);
  ASSERT_EQ(h2[0].size(), 1u);
  EXPECT_TRUE(h2[0][0].tokens.empty());
  EXPECT_NEAR(h2[0][0].log_prob, 3 * std::log(.5), 1e-12);
  expect_error([&] { ctc_prefix_beam_search(lp, i64({3}), 0); }, "ctc_prefix_beam_search", "beam_size");
  expect_error([&] { ctc_prefix_beam_search(lp, i64({3}), 2, 0, 0); }, "ctc_prefix_beam_search", "num_return");
  expect_error([&] { ctc_prefix_beam_search(lp, i64({4}), 2); }, "ctc_prefix_beam_search", "T=3");
  expect_error([&] { ctc_prefix_beam_search(lp, i64({3}), 2, 3); }, "ctc_prefix_beam_search", "blank 3");
  expect_error([&] { ctc_greedy_decode(lp, i64({3, 3})); }, "ctc_greedy_decode", "(B=1)");
  expect_error([&] { ctc_greedy_decode(zeros({3, 3}), i64({3})); }, "ctc_greedy_decode", "(T,B,C)");
  expect_error([&] { ctc_greedy_decode(lp, zeros({1})); }, "ctc_greedy_decode", "int64");
}
