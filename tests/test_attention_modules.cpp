// Attention building blocks (seqnn/nn/attention.h, positional.h, linear_attention.h): the
// additive-score kernel vs its reference, hand-computed scores, every mask kind vs a loop
// reference written here (not through AttentionMask::allowed), empty rows (zero output, zero
// gradient), float64 gradchecks of every module and scoring rule (parameters included),
// SelfAttention == scaled_dot_product_attention, sinusoidal values at large positions, the learned
// table's overflow error, rotary invariants, linear attention step() == causal parallel form,
// and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/attention_score.h"
#include "seqnn/attention.h"
#include "seqnn/nn/attention.h"
#include "seqnn/nn/linear_attention.h"
#include "seqnn/nn/positional.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::nn;
using namespace seqnn::testutil;

namespace {

// ==================================================================== mask specs + loop reference
struct MaskSpec {
  bool causal = false, bottom_right = false;
  int64_t wl = -1, wr = -1;
  std::vector<int64_t> lengths;                   // per batch
  std::vector<int64_t> indptr, indices;           // CSR
  std::vector<bool> dense;                        // (B,Lq,Lk) true = blocked
  std::vector<double> dense_float;                // (B,Lq,Lk) additive, may hold -inf
  int64_t B = 0, Lq = 0, Lk = 0;

  AttentionMask mask() const {
    AttentionMask m;
    if (causal) m.causal();
    if (bottom_right) m.align(MaskAlign::BottomRight);
    if (wl >= 0) m.window(wl, wr);
    if (!lengths.empty()) m.key_lengths(from_vector(lengths, {B}));
    if (!indptr.empty())
      m.graph(from_vector(indptr, {Lq + 1}), from_vector(indices, {static_cast<int64_t>(indices.size())}));
    if (!dense.empty()) m.dense(from_vector(dense, {B, 1, Lq, Lk}));
    if (!dense_float.empty()) m.dense(from_vector(dense_float, {B, 1, Lq, Lk}));
    return m;
  }
  bool allowed(int64_t b, int64_t i, int64_t j) const {
    const int64_t off = bottom_right ? Lk - Lq : 0;
    if (causal && j > i + off) return false;
    if (wl >= 0 && (j < i + off - wl || j > i + off + wr)) return false;
    if (!lengths.empty() && j >= lengths[b]) return false;
    if (!indptr.empty()) {
      bool edge = false;
      for (int64_t e = indptr[i]; e < indptr[i + 1]; ++e) edge = edge || indices[e] == j;
      if (!edge) return false;
    }
    if (!dense.empty() && dense[(b * Lq + i) * Lk + j]) return false;
    if (!dense_float.empty() && std::isinf(dense_float[(b * Lq + i) * Lk + j])) return false;
    return true;
  }
  double add(int64_t b, int64_t i, int64_t j) const {
    return dense_float.empty() ? 0.0 : dense_float[(b * Lq + i) * Lk + j];
  }
};

// The kinds exercised everywhere: 0 none, 1 causal TL, 2 causal BR, 3 window, 4 lengths (one 0),
// 5 graph (an edge-less row, duplicates), 6 dense bool, 7 dense float with -inf, 8 combined.
MaskSpec make_spec(int kind, int64_t B, int64_t Lq, int64_t Lk, uint64_t seed) {
  std::mt19937_64 rng(seed);
  MaskSpec s;
  s.B = B, s.Lq = Lq, s.Lk = Lk;
  auto lengths = [&] {
    for (int64_t b = 0; b < B; ++b) s.lengths.push_back(b == 0 && B > 1 ? 0 : static_cast<int64_t>(rng() % (Lk + 1)));
  };
  auto graph = [&] {
    s.indptr.push_back(0);
    for (int64_t i = 0; i < Lq; ++i) {
      const int64_t deg = i == 0 ? 0 : static_cast<int64_t>(rng() % 3) + 1;
      for (int64_t e = 0; e < deg; ++e) s.indices.push_back(static_cast<int64_t>(rng() % Lk));
      if (deg > 0) s.indices.push_back(s.indices.back());  // duplicate edge
      s.indptr.push_back(static_cast<int64_t>(s.indices.size()));
    }
  };
  switch (kind) {
    case 1: s.causal = true; break;
    case 2: s.causal = true, s.bottom_right = true; break;
    case 3: s.wl = 1, s.wr = 0; break;
    case 4: lengths(); break;
    case 5: graph(); break;
    case 6:
      for (int64_t e = 0; e < B * Lq * Lk; ++e) s.dense.push_back(rng() % 3 == 0);
      break;
    case 7:
      for (int64_t e = 0; e < B * Lq * Lk; ++e)
        s.dense_float.push_back(rng() % 4 == 0 ? -INFINITY : (static_cast<double>(rng() % 100) / 50.0 - 1.0));
      break;
    case 8:
      s.causal = true, s.bottom_right = true, s.wl = 2, s.wr = 1;
      lengths();
      break;
    default: break;
  }
  return s;
}

constexpr int kMaskKinds = 9;

// Loop reference of normalisation + weighted sum from raw scores S (B,Lq,Lk) and values V (B,Lk,Dv).
void loop_attention(const std::vector<double>& S, const std::vector<double>& V, const MaskSpec& m, int64_t Dv,
                    bool relu, std::vector<double>& W, std::vector<double>& O) {
  const int64_t B = m.B, Lq = m.Lq, Lk = m.Lk;
  W.assign(B * Lq * Lk, 0.0);
  O.assign(B * Lq * Dv, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i) {
      double mx = -INFINITY, den = 0;
      for (int64_t j = 0; j < Lk; ++j)
        if (m.allowed(b, i, j)) mx = std::max(mx, S[(b * Lq + i) * Lk + j] + m.add(b, i, j));
      for (int64_t j = 0; j < Lk; ++j) {
        if (!m.allowed(b, i, j)) continue;
        const double z = S[(b * Lq + i) * Lk + j] + m.add(b, i, j);
        W[(b * Lq + i) * Lk + j] = relu ? std::max(0.0, z) : std::exp(z - mx);
        den += std::exp(z - mx);
      }
      if (!relu && den > 0)
        for (int64_t j = 0; j < Lk; ++j) W[(b * Lq + i) * Lk + j] /= den;
      for (int64_t j = 0; j < Lk; ++j)
        for (int64_t c = 0; c < Dv; ++c) O[(b * Lq + i) * Dv + c] += W[(b * Lq + i) * Lk + j] * V[(b * Lk + j) * Dv + c];
    }
}

void expect_vec_near(const std::vector<double>& a, const std::vector<double>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_LE(max_rel_err(a, b), tol) << what;
  for (double x : a) ASSERT_TRUE(std::isfinite(x)) << what;
}

// Naive per-element score of each rule, from the module's parameters (F64).
double naive_score(Score& s, const std::vector<double>& q, const std::vector<double>& k) {
  const auto& o = s.options();
  const int64_t Dq = o.query_dim(), Dk = o.key_dim();
  double acc = 0;
  switch (o.kind()) {
    case ScoreKind::Dot:
    case ScoreKind::ScaledDot:
      for (int64_t c = 0; c < Dq; ++c) acc += q[c] * k[c];
      if (o.kind() == ScoreKind::ScaledDot) acc /= std::sqrt(static_cast<double>(Dk));
      return acc;
    case ScoreKind::General: {
      const auto W = static_cast<GeneralScore&>(s).weight.to_vector<double>();
      for (int64_t a = 0; a < Dq; ++a)
        for (int64_t c = 0; c < Dk; ++c) acc += q[a] * W[a * Dk + c] * k[c];
      return acc;
    }
    case ScoreKind::Additive: {
      auto& m = static_cast<AdditiveScore&>(s);
      const auto Wq = m.W_q.to_vector<double>(), Wk = m.W_k.to_vector<double>(), v = m.v.to_vector<double>();
      const auto bias = m.bias.defined() ? m.bias.to_vector<double>() : std::vector<double>(v.size(), 0.0);
      for (size_t a = 0; a < v.size(); ++a) {
        double h = bias[a];
        for (int64_t c = 0; c < Dq; ++c) h += Wq[a * Dq + c] * q[c];
        for (int64_t c = 0; c < Dk; ++c) h += Wk[a * Dk + c] * k[c];
        acc += v[a] * std::tanh(h);
      }
      return acc;
    }
    case ScoreKind::ConcatLinear: {
      auto& m = static_cast<ConcatScore&>(s);
      const auto w = m.weight.to_vector<double>();
      acc = m.bias.defined() ? m.bias.item() : 0.0;
      for (int64_t c = 0; c < Dq; ++c) acc += w[c] * q[c];
      for (int64_t c = 0; c < Dk; ++c) acc += w[Dq + c] * k[c];
      return acc;
    }
  }
  return 0;
}

std::vector<double> naive_scores(Score& s, const Tensor& q, const Tensor& k) {
  const int64_t B = q.size(0), Lq = q.size(1), Lk = k.size(1), Dq = q.size(2), Dk = k.size(2);
  const auto qv = q.to_vector<double>(), kv = k.to_vector<double>();
  std::vector<double> S(B * Lq * Lk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j)
        S[(b * Lq + i) * Lk + j] = naive_score(s, std::vector<double>(qv.begin() + (b * Lq + i) * Dq, qv.begin() + (b * Lq + i + 1) * Dq),
                                               std::vector<double>(kv.begin() + (b * Lk + j) * Dk, kv.begin() + (b * Lk + j + 1) * Dk));
  return S;
}

const ScoreKind kKinds[] = {ScoreKind::Dot, ScoreKind::ScaledDot, ScoreKind::General, ScoreKind::Additive,
                            ScoreKind::ConcatLinear};

ScoreOptions score_opts(ScoreKind kind, int64_t Dq, int64_t Dk) {
  const bool dot = kind == ScoreKind::Dot || kind == ScoreKind::ScaledDot;
  return ScoreOptions(kind, Dq, dot ? Dq : Dk).hidden_size(5).dtype(DType::F64);
}

// The trainable members of a score module, for gradchecks that swap them for leaves.
std::vector<Tensor*> score_params(Score& s) {
  if (auto* g = dynamic_cast<GeneralScore*>(&s)) return {&g->weight};
  if (auto* a = dynamic_cast<AdditiveScore*>(&s)) return {&a->W_q, &a->W_k, &a->bias, &a->v};
  if (auto* c = dynamic_cast<ConcatScore*>(&s)) return {&c->weight, &c->bias};
  return {};
}

// gradcheck of f over `data` inputs plus the module members `params` (swapped for leaves in f).
void gradcheck_with_params(const std::string& what, TensorList data, std::vector<Tensor*> params,
                           const std::function<Tensor(const TensorList&)>& f) {
  const size_t nd = data.size();
  TensorList in = data;
  for (Tensor* p : params) in.push_back(p->detach());
  gradcheck(what,
            [&](const TensorList& x) {
              for (size_t i = 0; i < params.size(); ++i) *params[i] = x[nd + i];
              return f(TensorList(x.begin(), x.begin() + nd));
            },
            in);
}

}  // namespace

// ==================================================================== additive-score kernel
TEST(AdditiveScoreKernel, FastMatchesReference) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd;
  for (auto [B, Lq, Lk, A] : std::vector<std::array<int64_t, 4>>{{1, 1, 1, 1}, {2, 3, 5, 4}, {3, 17, 9, 33}, {2, 70, 65, 16}}) {
    auto fill = [&](int64_t n) {
      std::vector<double> v(n);
      for (auto& e : v) e = nd(rng);
      return v;
    };
    const auto q = fill(B * Lq * A), k = fill(B * Lk * A), v = fill(A), ds = fill(B * Lq * Lk);
    std::vector<double> s1(B * Lq * Lk), s2(s1.size()), gq1(q.size()), gq2(q.size()), gk1(k.size()), gk2(k.size()),
        gv1(A), gv2(A);
    kernels::additive_score_forward<double>(q.data(), k.data(), v.data(), s1.data(), B, Lq, Lk, A);
    kernels::ref::additive_score_forward<double>(q.data(), k.data(), v.data(), s2.data(), B, Lq, Lk, A);
    EXPECT_LE(max_rel_err(s1, s2), 1e-12);
    kernels::additive_score_backward<double>(q.data(), k.data(), v.data(), ds.data(), gq1.data(), gk1.data(), gv1.data(), B, Lq, Lk, A);
    kernels::ref::additive_score_backward<double>(q.data(), k.data(), v.data(), ds.data(), gq2.data(), gk2.data(), gv2.data(), B, Lq, Lk, A);
    EXPECT_LE(max_rel_err(gq1, gq2), 1e-12);
    EXPECT_LE(max_rel_err(gk1, gk2), 1e-12);
    EXPECT_LE(max_rel_err(gv1, gv2), 1e-12);
    // float32 fast kernel vs float64 reference
    std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end()), sf(s1.size());
    kernels::additive_score_forward<float>(qf.data(), kf.data(), vf.data(), sf.data(), B, Lq, Lk, A);
    EXPECT_LE(max_rel_err(std::vector<double>(sf.begin(), sf.end()), s2), 1e-5);
  }
}

TEST(AdditiveScoreOp, Gradcheck) {
  Generator g(3);
  gradcheck("additive_score", [](const TensorList& in) { return additive_score(in[0], in[1], in[2]); },
            {randn({2, 3, 4}, DType::F64, &g), randn({2, 5, 4}, DType::F64, &g), randn({4}, DType::F64, &g)});
}

// ==================================================================== scoring rules
TEST(Scores, HandComputed) {
  // q = [1, 2], k0 = [3, -1], k1 = [0.5, 0.5]
  const Tensor q = from_vector(std::vector<double>{1, 2}, {1, 1, 2});
  const Tensor k = from_vector(std::vector<double>{3, -1, 0.5, 0.5}, {1, 2, 2});
  DotScore dot(ScoreOptions(ScoreKind::Dot, 2, 2));
  EXPECT_EQ(dot.score(q, k).to_vector<double>(), (std::vector<double>{1.0, 1.5}));
  ScaledDotScore sd(ScoreOptions(ScoreKind::ScaledDot, 2, 2));
  auto s = sd.score(q, k).to_vector<double>();
  EXPECT_NEAR(s[0], 1.0 / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(s[1], 1.5 / std::sqrt(2.0), 1e-15);
  GeneralScore gen(ScoreOptions(ScoreKind::General, 2, 2).dtype(DType::F64));
  gen.weight.detach().copy_(from_vector(std::vector<double>{1, 2, 0, -1}, {2, 2}));  // q^T W = [1, 0]
  s = gen.score(q, k).to_vector<double>();
  EXPECT_NEAR(s[0], 3.0, 1e-15);
  EXPECT_NEAR(s[1], 0.5, 1e-15);
  AdditiveScore add(ScoreOptions(ScoreKind::Additive, 2, 2).hidden_size(1).dtype(DType::F64));
  add.W_q.detach().copy_(from_vector(std::vector<double>{1, 0}, {1, 2}));
  add.W_k.detach().copy_(from_vector(std::vector<double>{0, 1}, {1, 2}));
  add.bias.detach().copy_(from_vector(std::vector<double>{0.25}, {1}));
  add.v.detach().copy_(from_vector(std::vector<double>{2}, {1}));
  s = add.score(q, k).to_vector<double>();
  EXPECT_NEAR(s[0], 2 * std::tanh(1 - 1 + 0.25), 1e-15);
  EXPECT_NEAR(s[1], 2 * std::tanh(1 + 0.5 + 0.25), 1e-15);
  ConcatScore cat(ScoreOptions(ScoreKind::ConcatLinear, 2, 2).dtype(DType::F64));
  cat.weight.detach().copy_(from_vector(std::vector<double>{1, 1, 2, 3}, {1, 4}));
  cat.bias.detach().copy_(from_vector(std::vector<double>{-1}, {1}));
  s = cat.score(q, k).to_vector<double>();
  EXPECT_NEAR(s[0], 3 + 6 - 3 - 1, 1e-15);
  EXPECT_NEAR(s[1], 3 + 1 + 1.5 - 1, 1e-15);
}

TEST(Scores, MatchNaiveAndGradcheck) {
  Generator g(11);
  for (ScoreKind kind : kKinds) {
    auto s = make_score(score_opts(kind, 4, 3), &g);
    const int64_t Dk = s->options().key_dim();
    const Tensor q = randn({2, 3, 4}, DType::F64, &g), k = randn({2, 5, Dk}, DType::F64, &g);
    expect_vec_near(s->score(q, k).to_vector<double>(), naive_scores(*s, q, k), 1e-12, score_kind_name(kind));
    gradcheck_with_params(std::string("score ") + score_kind_name(kind), {q, k}, score_params(*s),
                          [&](const TensorList& x) { return s->score(x[0], x[1]); });
  }
}

// ==================================================================== Attention: masks vs loops
TEST(Attention, EveryRuleAndMaskMatchesLoopReference) {
  Generator g(5);
  for (ScoreKind kind : kKinds)
    for (Normalization norm : {Normalization::Softmax, Normalization::ReLU})
      for (int mk = 0; mk < kMaskKinds; ++mk)
        for (auto [B, Lq, Lk] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {3, 4, 6}, {2, 5, 3}}) {
          Attention att(AttentionOptions(score_opts(kind, 4, 3)).normalization(norm), &g);
          const int64_t Dk = att.score->options().key_dim();
          const Tensor q = randn({B, Lq, 4}, DType::F64, &g), k = randn({B, Lk, Dk}, DType::F64, &g),
                       v = randn({B, Lk, 2}, DType::F64, &g);
          const MaskSpec ms = make_spec(mk, B, Lq, Lk, 100 + mk);
          auto r = att.forward(q, k, v, ms.mask());
          std::vector<double> W, O;
          loop_attention(naive_scores(*att.score, q, k), v.to_vector<double>(), ms, 2, norm == Normalization::ReLU, W, O);
          const std::string what = std::string(score_kind_name(kind)) + "/" + normalization_name(norm) + " mask " +
                                   std::to_string(mk) + " B" + std::to_string(B) + " Lq" + std::to_string(Lq);
          expect_vec_near(r.weights.to_vector<double>(), W, 1e-12, what + " weights");
          expect_vec_near(r.output.to_vector<double>(), O, 1e-12, what + " output");
        }
}

TEST(Attention, EmptyRowsGiveZeroOutputAndZeroGradient) {
  Generator g(8);
  for (ScoreKind kind : kKinds)
    for (Normalization norm : {Normalization::Softmax, Normalization::ReLU})
      for (DType dt : {DType::F32, DType::F64}) {
        ScoreOptions so = score_opts(kind, 4, 4).dtype(dt);
        Attention att(AttentionOptions(so).normalization(norm), &g);
        // batch 0 has key length 0; row 0 of batch 1 has no graph edge; a -inf float row.
        const Tensor q = randn({2, 3, 4}, dt, &g).requires_grad_(), k = randn({2, 4, 4}, dt, &g).requires_grad_(),
                     v = randn({2, 4, 3}, dt, &g).requires_grad_();
        AttentionMask m;
        m.key_lengths(from_vector(std::vector<int64_t>{0, 4}, {2}))
            .graph(from_vector(std::vector<int64_t>{0, 0, 2, 4}, {4}), from_vector(std::vector<int64_t>{0, 3, 1, 1}, {4}));
        auto r = att.forward(q, k, v, m);
        const auto out = r.output.to_vector<double>(), w = r.weights.to_vector<double>();
        for (int64_t c = 0; c < 9; ++c) EXPECT_EQ(out[c], 0.0);       // batch 0: every row
        for (int64_t c = 9; c < 12; ++c) EXPECT_EQ(out[c], 0.0);      // batch 1 row 0
        for (int64_t c = 0; c < 16; ++c) EXPECT_EQ(w[c], 0.0);
        // cotangent only on the empty rows -> every gradient is exactly 0 (and finite)
        std::vector<double> go(18, 0.0);
        for (int64_t c = 0; c < 12; ++c) go[c] = 1.0 + c;
        std::vector<double> gw(24, 0.0);
        for (int64_t c = 0; c < 16; ++c) gw[c] = 2.0 - c;
        autograd::backward({r.output, r.weights}, {from_vector(go, {2, 3, 3}).to(dt), from_vector(gw, {2, 3, 4}).to(dt)});
        for (const Tensor* t : {&q, &k, &v})
          for (double x : t->grad().to_vector<double>()) EXPECT_EQ(x, 0.0) << score_kind_name(kind);
        for (Tensor p : att.parameters())
          if (p.grad().defined())
            for (double x : p.grad().to_vector<double>()) EXPECT_EQ(x, 0.0) << score_kind_name(kind);
        // float mask with a full -inf row
        std::vector<double> fm(12, 0.5);
        for (int64_t j = 0; j < 4; ++j) fm[4 + j] = -INFINITY;
        auto r2 = att.forward(q.detach(), k.detach(), v.detach(), AttentionMask().dense(from_vector(fm, {1, 1, 3, 4})));
        const auto out2 = r2.output.to_vector<double>();
        for (int64_t b = 0; b < 2; ++b)
          for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(out2[(b * 3 + 1) * 3 + c], 0.0);
        for (double x : out2) EXPECT_TRUE(std::isfinite(x));
      }
}

TEST(Attention, GradcheckEveryRuleWithMasks) {
  Generator g(9);
  for (ScoreKind kind : kKinds)
    for (Normalization norm : {Normalization::Softmax, Normalization::ReLU})
      for (int mk : {0, 2, 5, 7, 8}) {
        Attention att(AttentionOptions(score_opts(kind, 4, 3)).normalization(norm), &g);
        const int64_t Dk = att.score->options().key_dim();
        const MaskSpec ms = make_spec(mk, 2, 3, 4, 40 + mk);
        const AttentionMask m = ms.mask();
        gradcheck_with_params(std::string("Attention ") + score_kind_name(kind) + " " + normalization_name(norm) +
                                  " mask " + std::to_string(mk),
                              {randn({2, 3, 4}, DType::F64, &g), randn({2, 4, Dk}, DType::F64, &g),
                               randn({2, 4, 2}, DType::F64, &g)},
                              score_params(*att.score), [&](const TensorList& x) {
                                auto r = att.forward(x[0], x[1], x[2], m);
                                return r.output + r.weights.sum();  // both outputs reach the loss
                              });
      }
}

TEST(Attention, RotaryOptionRotatesQueriesAndKeys) {
  Generator g(12);
  Attention att(AttentionOptions(ScoreOptions(ScoreKind::ScaledDot, 4, 4).dtype(DType::F64)).rotary(true), &g);
  Attention plain(AttentionOptions(ScoreOptions(ScoreKind::ScaledDot, 4, 4).dtype(DType::F64)), &g);
  const Tensor q = randn({2, 3, 4}, DType::F64, &g), k = randn({2, 5, 4}, DType::F64, &g), v = randn({2, 5, 2}, DType::F64, &g);
  auto a = att.forward(q, k, v, AttentionMask(), 2, 0);
  auto b = plain.forward(apply_rotary(q, 2), apply_rotary(k, 0), v);
  expect_vec_near(a.output.to_vector<double>(), b.output.to_vector<double>(), 1e-14, "rotary option");
  gradcheck("Attention rotary", [&](const TensorList& x) { return att.forward(x[0], x[1], x[2], AttentionMask(), 1, 3).output; },
            {q, k, v});
}

// ==================================================================== Attn (seed 002)
TEST(Attn, ForwardIsCombineOfQueryAndContext) {
  Generator g(13);
  for (ScoreKind kind : kKinds)
    for (bool th : {false, true}) {
      const int64_t Dq = 4, Dk = (kind == ScoreKind::Dot || kind == ScoreKind::ScaledDot) ? 4 : 3;
      Attn m(AttnOptions(Dq, Dk, 5, 6).score(kind).tanh(th).dtype(DType::F64), &g);
      const Tensor Q = randn({2, 1, Dq}, DType::F64, &g), K = randn({2, 7, Dk}, DType::F64, &g),
                   V = randn({2, 7, 5}, DType::F64, &g);
      const MaskSpec ms = make_spec(4, 2, 1, 7, 3);
      auto r = m.forward(Q, K, V, ms.mask());
      EXPECT_EQ(r.output.shape(), (Shape{2, 1, 6}));
      std::vector<double> W, O;
      loop_attention(naive_scores(*m.score, Q, K), V.to_vector<double>(), ms, 5, false, W, O);
      expect_vec_near(r.weights.to_vector<double>(), W, 1e-12, "Attn weights");
      // output = [tanh] (Wc [Q; O] + bc)
      const auto Wc = m.attn_combine->weight.to_vector<double>(), bc = m.attn_combine->bias.to_vector<double>();
      const auto qv = Q.to_vector<double>();
      std::vector<double> expect(12);
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t o = 0; o < 6; ++o) {
          double acc = bc[o];
          for (int64_t c = 0; c < Dq; ++c) acc += Wc[o * 9 + c] * qv[b * Dq + c];
          for (int64_t c = 0; c < 5; ++c) acc += Wc[o * 9 + Dq + c] * O[b * 5 + c];
          expect[b * 6 + o] = th ? std::tanh(acc) : acc;
        }
      expect_vec_near(r.output.to_vector<double>(), expect, 1e-12, "Attn output");
      std::vector<Tensor*> params = score_params(*m.score);
      params.push_back(&m.attn_combine->weight);
      params.push_back(&m.attn_combine->bias);
      gradcheck_with_params(std::string("Attn ") + score_kind_name(kind), {Q, K, V}, params,
                            [&](const TensorList& x) { return m.forward(x[0], x[1], x[2], ms.mask()).output; });
    }
}

// ==================================================================== SelfAttention (seed 004)
TEST(SelfAttention, ColumnFormMatchesRowFormAndSDPA) {
  Generator g(14);
  for (int mk : {0, 1, 3, 4, 6, 7, 8})
    for (bool bias : {false, true}) {
      SelfAttention sa(SelfAttentionOptions(6).key_dim(4).value_dim(6).scaled(true).bias(bias).dtype(DType::F64), &g);
      const Tensor x = randn({3, 5, 6}, DType::F64, &g);
      const MaskSpec ms = make_spec(mk, 3, 5, 5, 60 + mk);
      auto r = sa.forward(x, ms.mask());
      // row-major: Q^T = x W_q^T + b etc.; scaled_dot_product_attention with one head
      const Tensor Q = linear(x, sa.W_q, sa.b_q), K = linear(x, sa.W_k, sa.b_k), V = linear(x, sa.W_v, sa.b_v);
      SDPAOptions so;
      so.need_weights = true;
      auto ref = scaled_dot_product_attention(Q.unsqueeze(1), K.unsqueeze(1), V.unsqueeze(1), ms.mask(), so);
      const std::string what = "mask " + std::to_string(mk);
      expect_vec_near(r.output.to_vector<double>(), ref.output.to_vector<double>(), 1e-12, what + " output vs sdpa");
      expect_vec_near(r.weights.to_vector<double>(), ref.weights.to_vector<double>(), 1e-12, what + " weights vs sdpa");
      std::vector<double> W, O;
      const int64_t Dk = 4;
      std::vector<double> S(3 * 5 * 5);
      const auto qv = Q.to_vector<double>(), kv = K.to_vector<double>();
      for (int64_t b = 0; b < 3; ++b)
        for (int64_t i = 0; i < 5; ++i)
          for (int64_t j = 0; j < 5; ++j) {
            double acc = 0;
            for (int64_t c = 0; c < Dk; ++c) acc += qv[(b * 5 + i) * Dk + c] * kv[(b * 5 + j) * Dk + c];
            S[(b * 5 + i) * 5 + j] = acc / 2.0;
          }
      loop_attention(S, V.to_vector<double>(), ms, 6, false, W, O);
      expect_vec_near(r.output.to_vector<double>(), O, 1e-12, what + " output vs loop");
    }
}

TEST(SelfAttention, GradcheckNotesFormReluRotary) {
  Generator g(15);
  for (Normalization norm : {Normalization::Softmax, Normalization::ReLU})
    for (bool rot : {false, true})
      for (bool bias : {false, true}) {
        SelfAttention sa(SelfAttentionOptions(4).key_dim(2).value_dim(3).normalization(norm).rotary(rot).bias(bias)
                             .dtype(DType::F64), &g);
        const MaskSpec ms = make_spec(8, 2, 4, 4, 9);
        std::vector<Tensor*> params{&sa.W_q, &sa.W_k, &sa.W_v};
        if (bias) params.insert(params.end(), {&sa.b_q, &sa.b_k, &sa.b_v});
        gradcheck_with_params("SelfAttention", {randn({2, 4, 4}, DType::F64, &g)}, params, [&](const TensorList& x) {
          auto r = sa.forward(x[0], ms.mask(), 3);
          return r.output + r.weights.sum();
        });
      }
}

TEST(SelfAttention, NotesFormIsUnscaledKtQ) {
  // A = K^T Q without scaling by default: one position attends to itself with weight 1; two
  // identical positions split evenly; hand check of a 2-position case with identity weights.
  SelfAttention sa(SelfAttentionOptions(2).dtype(DType::F64));
  for (Tensor* w : {&sa.W_q, &sa.W_k, &sa.W_v}) w->detach().copy_(from_vector(std::vector<double>{1, 0, 0, 1}, {2, 2}));
  const Tensor x = from_vector(std::vector<double>{1, 0, 0, 2}, {1, 2, 2});
  auto r = sa.forward(x);
  // A'^T row 0: softmax([1, 0]); row 1: softmax([0, 4])
  const double a0 = std::exp(1.0) / (std::exp(1.0) + 1.0), a1 = 1.0 / (1.0 + std::exp(4.0));
  const auto w = r.weights.to_vector<double>(), o = r.output.to_vector<double>();
  EXPECT_NEAR(w[0], a0, 1e-15);
  EXPECT_NEAR(w[2], a1, 1e-15);
  EXPECT_NEAR(o[0], a0 * 1, 1e-15);
  EXPECT_NEAR(o[1], (1 - a0) * 2, 1e-15);
  EXPECT_NEAR(o[3], (1 - a1) * 2, 1e-15);
}

// ==================================================================== positional encodings
TEST(Positional, SinusoidalMatchesFormulaAtLargePositions) {
  for (int64_t d : {1, 6, 7}) {
    SinusoidalPositionalEncoding pe{SinusoidalPositionalEncodingOptions(d)};
    for (int64_t off : {0, 99998, 100000, 123457}) {
      const auto t = pe.encoding(off, 3, DType::F64).to_vector<double>();
      for (int64_t p = 0; p < 3; ++p)
        for (int64_t c = 0; c < d; ++c) {
          const long double w = std::pow(10000.0L, -static_cast<long double>(c - c % 2) / d);
          const long double ang = static_cast<long double>(off + p) * w;
          const double expect = static_cast<double>(c % 2 == 0 ? std::sin(ang) : std::cos(ang));
          EXPECT_NEAR(t[p * d + c], expect, 1e-9) << "pos " << off + p << " col " << c;
        }
    }
    EXPECT_GE(pe.cached_positions(), 123460);
  }
  // forward: (L,B,E) and batch_first, with an offset
  SinusoidalPositionalEncoding pe(SinusoidalPositionalEncodingOptions(4));
  SinusoidalPositionalEncoding pb(SinusoidalPositionalEncodingOptions(4).batch_first(true));
  const Tensor x = zeros({3, 2, 4}, DType::F64);
  const auto y = pe.forward(x, 5).to_vector<double>(), tab = pe.encoding(5, 3, DType::F64).to_vector<double>();
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(y[(l * 2 + b) * 4 + c], tab[l * 4 + c]);
  const auto yb = pb.forward(zeros({2, 3, 4}, DType::F64), 5).to_vector<double>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t l = 0; l < 3; ++l)
      for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(yb[(b * 3 + l) * 4 + c], tab[l * 4 + c]);
  gradcheck("sinusoidal", [&](const TensorList& in) { return pe.forward(in[0], 7); }, {randn({3, 2, 4}, DType::F64)});
}

TEST(Positional, LearnedTableAndOverflowError) {
  Generator g(16);
  LearnedPositionalEncoding pe(LearnedPositionalEncodingOptions(6, 3).batch_first(true).dtype(DType::F64), &g);
  const Tensor x = randn({2, 4, 3}, DType::F64, &g);
  const auto y = pe.forward(x, 2).to_vector<double>(), xv = x.to_vector<double>(), w = pe.weight.to_vector<double>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t l = 0; l < 4; ++l)
      for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(y[(b * 4 + l) * 3 + c], xv[(b * 4 + l) * 3 + c] + w[(2 + l) * 3 + c]);
  gradcheck_with_params("learned", {x}, {&pe.weight}, [&](const TensorList& in) { return pe.forward(in[0], 1); });
  expect_error([&] { pe.forward(x, 3); }, "LearnedPositionalEncoding.forward", "position 6 is past the table (max_len=6)");
  expect_error([&] { pe.forward(randn({1, 7, 3}, DType::F64)); }, "LearnedPositionalEncoding.forward", "max_len=6");
}

TEST(Positional, RotaryKeepsNormsAndDependsOnRelativePositionOnly) {
  Generator g(17);
  const Tensor q = randn({1, 1, 8}, DType::F64, &g), k = randn({1, 1, 8}, DType::F64, &g);
  auto dot_at = [&](int64_t m, int64_t n) {
    return sum(apply_rotary(q, m) * apply_rotary(k, n)).item();
  };
  for (int64_t m : {0, 3, 1000, 100000}) {
    const double n0 = sum(q * q).item(), n1 = sum(apply_rotary(q, m) * apply_rotary(q, m)).item();
    EXPECT_NEAR(n1, n0, 1e-12 * n0);
    EXPECT_NEAR(dot_at(m, m + 5), dot_at(0, 5), 1e-9);
    EXPECT_NEAR(dot_at(m + 7, m), dot_at(7, 0), 1e-9);
  }
  EXPECT_NE(dot_at(0, 5), dot_at(0, 6));
  // (B,N,L,D) and (B,L,D) agree; position 0 is the identity
  const Tensor x = randn({2, 3, 4, 6}, DType::F64, &g);
  const auto a = apply_rotary(x, 2).to_vector<double>();
  const auto b = apply_rotary(reshape(x, {6, 4, 6}), 2).to_vector<double>();
  EXPECT_EQ(a, b);
  EXPECT_EQ(apply_rotary(slice(x, 2, 0, 1), 0).to_vector<double>(), slice(x, 2, 0, 1).to_vector<double>());
  // pair (x0, x1) at pos 1, theta_0 = 1: (x0 cos1 - x1 sin1, x0 sin1 + x1 cos1)
  const auto r = apply_rotary(from_vector(std::vector<double>{2, 3}, {1, 1, 2}), 1).to_vector<double>();
  EXPECT_NEAR(r[0], 2 * std::cos(1.0) - 3 * std::sin(1.0), 1e-15);
  EXPECT_NEAR(r[1], 2 * std::sin(1.0) + 3 * std::cos(1.0), 1e-15);
  gradcheck("apply_rotary", [](const TensorList& in) { return apply_rotary(in[0], 3, 500.0); }, {x});
  RotaryEmbedding rope(RotaryEmbeddingOptions(6));
  EXPECT_EQ(rope.apply(x, 2).to_vector<double>(), a);
}

// ==================================================================== linear attention
TEST(LinearAttention, StepEqualsCausalParallel) {
  Generator g(18);
  for (DType dt : {DType::F32, DType::F64}) {
    LinearAttention la(LinearAttentionOptions(8, 2).dtype(dt), &g);
    const Tensor x = randn({3, 9, 8}, dt, &g);
    const auto par = la.forward(x, x, x, true).to_vector<double>();
    LinearAttentionState st;
    std::vector<double> rec;
    for (int64_t t = 0; t < 9; ++t) {
      const auto o = la.step(select(x, 1, t), st).to_vector<double>();
      rec.insert(rec.end(), o.begin(), o.end());
    }
    // rec is (T,B,E); par is (B,T,E)
    double err = 0, scale = 0;
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t t = 0; t < 9; ++t)
        for (int64_t c = 0; c < 8; ++c) {
          err = std::max(err, std::fabs(rec[(t * 3 + b) * 8 + c] - par[(b * 9 + t) * 8 + c]));
          scale = std::max(scale, std::fabs(par[(b * 9 + t) * 8 + c]));
        }
    EXPECT_LE(err, 1e-5 * scale) << dtype_name(dt);
    EXPECT_EQ(st.steps, 9);
  }
}

TEST(LinearAttention, LinearFormMatchesQuadraticAndLoop) {
  Generator g(19);
  LinearAttention la(LinearAttentionOptions(6, 3).dtype(DType::F64), &g);
  const Tensor q = randn({2, 4, 6}, DType::F64, &g), k = randn({2, 5, 6}, DType::F64, &g), v = randn({2, 5, 6}, DType::F64, &g);
  const auto lin = la.forward(q, k, v).to_vector<double>();
  // a mask that allows everything takes the quadratic path
  const auto quad = la.forward(q, k, v, AttentionMask().key_lengths(from_vector(std::vector<int64_t>{5, 5}, {2}))).to_vector<double>();
  expect_vec_near(lin, quad, 1e-12, "linear vs quadratic");
  // masked: rows with no key -> the output projection's bias only
  const auto m = la.forward(q, k, v, AttentionMask().key_lengths(from_vector(std::vector<int64_t>{0, 3}, {2}))).to_vector<double>();
  const auto bo = la.out_proj->bias.to_vector<double>();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t c = 0; c < 6; ++c) EXPECT_NEAR(m[i * 6 + c], bo[c], 1e-15);
  std::vector<Tensor*> params;
  for (auto* l : {la.q_proj.get(), la.k_proj.get(), la.v_proj.get(), la.out_proj.get()}) {
    params.push_back(&l->weight);
    params.push_back(&l->bias);
  }
  for (int mode = 0; mode < 3; ++mode)
    gradcheck_with_params("LinearAttention mode " + std::to_string(mode), {q, k, v}, params, [&](const TensorList& x) {
      if (mode == 0) return la.forward(x[0], x[1], x[2]);
      if (mode == 1) return la.forward(x[0], x[1], x[2], make_spec(8, 2, 4, 5, 1).mask());
      return la.forward(x[0], x[0], x[0], true);
    });
  // step is differentiable too
  gradcheck_with_params("LinearAttention step", {randn({2, 6}, DType::F64, &g), randn({2, 6}, DType::F64, &g)}, params,
                        [&](const TensorList& x) {
                          LinearAttentionState st;
                          la.step(x[0], st);
                          return la.step(x[1], st);
                        });
}

// ==================================================================== bad input
TEST(AttentionModules, BadInput) {
  Generator g(20);
  Attention att(AttentionOptions(ScoreOptions(ScoreKind::Additive, 4, 3)), &g);
  const Tensor q = randn({2, 3, 4}), k = randn({2, 5, 3}), v = randn({2, 5, 2});
  expect_error([&] { att.forward(q, randn({2, 5, 4}), v); }, "AdditiveScore.score", "key_dim=3");
  expect_error([&] { att.forward(q, k, randn({2, 4, 2})); }, "Attention.forward", "v must be");
  expect_error([&] { att.forward(q, k, v, AttentionMask().dense(zeros({4, 5}, DType::Bool))); }, "Attention.forward",
               "does not broadcast");
  expect_error([&] { att.forward(q, k, v, AttentionMask().key_lengths(from_vector(std::vector<int64_t>{1, 9}, {2}))); },
               "Attention.forward", "key_lengths");
  expect_error([&] {
    att.forward(q, k, v, AttentionMask().graph(from_vector(std::vector<int64_t>{0, 1, 1, 2}, {4}),
                                               from_vector(std::vector<int64_t>{0, 5}, {2})));
  }, "Attention.forward", "indices");
  expect_error([&] { AttentionMask().window(-1, 2); }, "AttentionMask", "window");
  expect_error([&] { DotScore(ScoreOptions(ScoreKind::Dot, 4, 3)); }, "DotScore", "must equal");
  expect_error([&] { Attention(AttentionOptions(ScoreOptions(ScoreKind::Additive, 4, 4)).rotary(true)); }, "Attention",
               "rotary");
  Attn attn(AttnOptions(4, 3, 2, 5), &g);
  expect_error([&] { attn.forward(q, k, randn({2, 5, 3})); }, "Attn.forward", "value_size=2");
  SelfAttention sa(SelfAttentionOptions(4), &g);
  expect_error([&] { sa.forward(randn({2, 3, 5})); }, "SelfAttention.forward", "embed_dim=4");
  expect_error([&] { sa.forward(randn({2, 3, 4}), AttentionMask().causal().dense(zeros({2, 1, 3, 4}, DType::Bool))); },
               "SelfAttention.forward", "does not broadcast");
  expect_error([&] { LinearAttention(LinearAttentionOptions(6, 4)); }, "LinearAttention", "divisible");
  LinearAttention la(LinearAttentionOptions(4, 2), &g);
  expect_error([&] { la.forward(randn({2, 3, 4}), randn({2, 4, 4}), randn({2, 4, 4}), true); }, "LinearAttention.forward",
               "Lq == Lk");
  expect_error([&] { la.forward(randn({2, 3, 5}), randn({2, 3, 4}), randn({2, 3, 4})); }, "LinearAttention.forward",
               "query");
  expect_error([&] {
    la.forward(randn({1, 2, 4}), randn({1, 2, 4}), randn({1, 2, 4}), AttentionMask().dense(zeros({2, 2})));
  }, "LinearAttention.forward", "float");
  expect_error([&] { apply_rotary(randn({2, 3, 5})); }, "apply_rotary", "even");
  expect_error([&] { RotaryEmbedding(RotaryEmbeddingOptions(4)).apply(randn({2, 3, 6})); }, "RotaryEmbedding.apply", "dim=4");
  SinusoidalPositionalEncoding pe(SinusoidalPositionalEncodingOptions(4));
  expect_error([&] { pe.forward(randn({3, 2, 5})); }, "SinusoidalPositionalEncoding.forward", "d_model=4");
  expect_error([&] { pe.forward(randn({3, 2, 4}), -1); }, "SinusoidalPositionalEncoding.forward", "offset");
}
