// nn::MultiheadAttention unit tests: parameter names / order / initialisation, a hand-computed
// case, a naive float64 reference built from matmul + softmax, finite differences through inputs
// and every parameter, fully masked rows, suffix key padding (structural) == dense key padding,
// streaming step() == causal / windowed forward, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/check.h"
#include "common/gradcheck.h"
#include "common/module_gradcheck.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;
using nn::MultiheadAttention;
using nn::MultiheadAttentionOptions;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(x[i] - y[i]));
  return d;
}

// Naive MHA for time-major (L,B,E) inputs of a module with kdim == vdim == E, no bias_kv / zero
// attention: explicit per-head matmul + softmax with an additive (B*N or 1, L, S) mask.
Tensor naive_mha(MultiheadAttention& m, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& add_mask) {
  const int64_t E = m.options().embed_dim(), N = m.options().num_heads(), D = E / N;
  const int64_t L = q.size(0), B = q.size(1), S = k.size(0);
  const Tensor W = m.in_proj_weight, b = m.in_proj_bias;
  Tensor qp = linear(q, slice(W, 0, 0, E), slice(b, 0, 0, E));
  Tensor kp = linear(k, slice(W, 0, E, 2 * E), slice(b, 0, E, 2 * E));
  Tensor vp = linear(v, slice(W, 0, 2 * E, 3 * E), slice(b, 0, 2 * E, 3 * E));
  auto heads = [&](const Tensor& x, int64_t T) { return x.reshape({T, B * N, D}).transpose(0, 1); };  // (B*N,T,D)
  Tensor s = bmm(heads(qp, L), heads(kp, S).transpose(1, 2)) / std::sqrt(static_cast<double>(D));
  if (add_mask.defined()) s = s + add_mask;
  Tensor o = bmm(softmax(s, -1), heads(vp, S));  // (B*N,L,D)
  return m.out_proj->forward(o.transpose(0, 1).reshape({L, B, E}));
}

MultiheadAttention make(int64_t E, int64_t N, DType dt = DType::F64, uint64_t seed = 3) {
  Generator g(seed);
  return MultiheadAttention(MultiheadAttentionOptions(E, N).dtype(dt), &g);
}

}  // namespace

// ==================================================================== parameters
TEST(MultiheadAttention, ParameterNamesOrderAndInit) {
  Generator g(1);
  MultiheadAttention a(MultiheadAttentionOptions(8, 2), &g);
  EXPECT_EQ(a.named_parameters().keys(),
            (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(a.in_proj_weight.shape(), (Shape{24, 8}));
  for (double x : a.in_proj_bias.to_vector<double>()) EXPECT_EQ(x, 0.0);
  for (double x : a.out_proj->bias.to_vector<double>()) EXPECT_EQ(x, 0.0);
  const double bound = std::sqrt(6.0 / (8 + 24));  // xavier_uniform over (3E,E)
  for (double x : a.in_proj_weight.to_vector<double>()) EXPECT_LE(std::fabs(x), bound);

  MultiheadAttention b(MultiheadAttentionOptions(8, 4).kdim(5).vdim(3).add_bias_kv(true).bias(false), &g);
  EXPECT_EQ(b.named_parameters().keys(), (std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                                    "bias_k", "bias_v", "out_proj.weight"}));
  EXPECT_EQ(b.k_proj_weight.shape(), (Shape{8, 5}));
  EXPECT_EQ(b.v_proj_weight.shape(), (Shape{8, 3}));
  EXPECT_EQ(b.bias_k.shape(), (Shape{1, 1, 8}));
}

// ==================================================================== hand-set and naive reference
TEST(MultiheadAttention, OneHotKeysPickTheirValues) {
  // One head, identity projections: q = 20 * e_1 picks key 1 (score 20*20/sqrt(2) >> others).
  MultiheadAttention m = make(2, 1);
  {
    NoGradGuard ng;
    m.in_proj_weight.copy_(from_vector(std::vector<double>{1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1}, {6, 2}));
    m.out_proj->weight.copy_(from_vector(std::vector<double>{1, 0, 0, 1}, {2, 2}));
  }
  const Tensor q = from_vector(std::vector<double>{0, 20}, {1, 1, 2});
  const Tensor k = from_vector(std::vector<double>{20, 0, 0, 20}, {2, 1, 2});
  const Tensor v = from_vector(std::vector<double>{1, 2, 3, 4}, {2, 1, 2});
  auto r = m.forward(q, k, v);
  const auto o = r.output.to_vector<double>();
  EXPECT_NEAR(o[0], 3.0, 1e-9);
  EXPECT_NEAR(o[1], 4.0, 1e-9);
  EXPECT_EQ(r.weights.shape(), (Shape{1, 1, 2}));
  EXPECT_NEAR(r.weights.to_vector<double>()[1], 1.0, 1e-9);
}

TEST(MultiheadAttention, MatchesNaiveReferenceWithMasks) {
  Generator g(5);
  MultiheadAttention m = make(12, 3, DType::F64, 11);
  const int64_t L = 5, S = 7, B = 2, N = 3;
  const Tensor q = randn({L, B, 12}, DType::F64, &g), kv = randn({S, B, 12}, DType::F64, &g);
  // no mask, self attention
  EXPECT_LT(max_abs_diff(m.forward(q, q, q).output, naive_mha(m, q, q, q, Tensor())), 1e-12);
  // float attn_mask + non-suffix bool key padding
  const Tensor am = randn({L, S}, DType::F64, &g);
  const Tensor kpm = from_vector(std::vector<bool>{false, true, false, false, false, false, true,  //
                                                   false, false, false, false, false, true, true},
                                 {B, S});
  Tensor add = am.reshape({1, L, S}) + masked_fill(zeros({B, 1, 1, S}, DType::F64), kpm.reshape({B, 1, 1, S}),
                                                   -std::numeric_limits<double>::infinity());
  add = expand(add, {B, N, L, S}).reshape({B * N, L, S});
  EXPECT_LT(max_abs_diff(m.forward(q, kv, kv, kpm, false, am).output, naive_mha(m, q, kv, kv, add)), 1e-12);
  // 3-d bool attn_mask (B*N,L,S)
  Tensor bm = bernoulli({B * N, L, S}, 0.3, &g);
  for (int64_t i = 0; i < B * N * L; ++i) bm.data_ptr<bool>()[i * S] = false;  // every row keeps key 0
  const Tensor badd = masked_fill(zeros({B * N, L, S}, DType::F64), bm, -std::numeric_limits<double>::infinity());
  EXPECT_LT(max_abs_diff(m.forward(q, kv, kv, Tensor(), false, bm).output, naive_mha(m, q, kv, kv, badd)), 1e-12);
}

TEST(MultiheadAttention, SuffixKeyPaddingEqualsDenseAndStructural) {
  Generator g(8);
  MultiheadAttention m = make(8, 2);
  const int64_t L = 4, S = 6, B = 3;
  const Tensor q = randn({L, B, 8}, DType::F64, &g), kv = randn({S, B, 8}, DType::F64, &g);
  // suffix padding: lengths 6, 3, 1 -> key_lengths path
  std::vector<bool> pad(B * S, false);
  const int64_t len[3] = {6, 3, 1};
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = len[b]; j < S; ++j) pad[b * S + j] = true;
  const Tensor kpm = from_vector(pad, {B, S});
  const Tensor fl = masked_fill(zeros({B, S}, DType::F64), kpm, -std::numeric_limits<double>::infinity());
  const auto a = m.forward(q, kv, kv, kpm);                       // bool suffix -> key lengths
  const auto b = m.forward(q, kv, kv, fl);                        // float -> dense
  const auto c = m.forward(q, kv, kv, AttentionMask().key_lengths(from_vector(std::vector<int64_t>{6, 3, 1}, {3})));
  EXPECT_LT(max_abs_diff(a.output, b.output), 1e-12);
  EXPECT_LT(max_abs_diff(a.output, c.output), 1e-12);
  EXPECT_LT(max_abs_diff(a.weights, b.weights), 1e-12);
}

// ==================================================================== gradients
TEST(MultiheadAttention, GradcheckInputsAndParameters) {
  Generator g(9);
  struct Cfg {
    const char* what;
    MultiheadAttentionOptions o;
    bool self, bf, unbatched, masks;
  };
  std::vector<Cfg> cfgs = {
      {"self", MultiheadAttentionOptions(6, 2), true, false, false, false},
      {"cross kdim/vdim bias_kv zero_attn", MultiheadAttentionOptions(6, 3).kdim(4).vdim(5).add_bias_kv(true).add_zero_attn(true), false, false, false, true},
      {"batch_first masks", MultiheadAttentionOptions(4, 2).batch_first(true), false, true, false, true},
      {"unbatched nobias", MultiheadAttentionOptions(4, 1).bias(false), false, false, true, false},
  };
  for (auto& c : cfgs) {
    MultiheadAttention m(c.o.dtype(DType::F64), &g);
    const int64_t L = 3, S = 4, B = 2;
    auto shp = [&](int64_t T, int64_t F) {
      return c.unbatched ? Shape{T, F} : c.bf ? Shape{B, T, F} : Shape{T, B, F};
    };
    Tensor q = randn(shp(L, c.o.embed_dim()), DType::F64, &g).requires_grad_();
    Tensor k = randn(shp(S, c.o.kdim()), DType::F64, &g).requires_grad_();
    Tensor v = randn(shp(S, c.o.vdim()), DType::F64, &g).requires_grad_();
    Tensor am, kpm;
    if (c.masks) {
      am = randn({L, S}, DType::F64, &g);
      kpm = from_vector(std::vector<bool>{false, true, false, false, false, false, false, true}, {B, S});
    }
    if (c.self) {
      module_gradcheck(c.what, m, [&] { return m.forward(q, q, q).output; }, {q});
    } else {
      module_gradcheck(c.what, m, [&] { return m.forward(q, k, v, kpm, false, am).output; }, {q, k, v});
      module_gradcheck(std::string(c.what) + " weights", m, [&] { return m.forward(q, k, v, kpm, true, am, false).weights; },
                       {q, k, v});
    }
  }
}

// ==================================================================== fully masked rows
TEST(MultiheadAttention, FullyMaskedRowGivesZeroNotNaN) {
  Generator g(12);
  MultiheadAttention m = make(4, 2);
  const int64_t L = 3, S = 3, B = 2;
  Tensor q = randn({L, B, 4}, DType::F64, &g).requires_grad_();
  // batch row 1: every key padded; row 0 of the attn_mask masks every key for query 0
  const Tensor kpm = from_vector(std::vector<bool>{false, false, false, true, true, true}, {B, S});
  const Tensor am = from_vector(std::vector<bool>{true, true, true, false, true, false, false, false, false}, {L, S});
  auto r = m.forward(q, q, q, kpm, true, am);
  const Tensor o = r.output, w = r.weights;
  for (double x : o.to_vector<double>()) EXPECT_TRUE(std::isfinite(x));
  for (double x : w.to_vector<double>()) EXPECT_TRUE(std::isfinite(x));
  // The attention output of a fully masked row is zero, so the module output is out_proj's bias
  // (0 at init): zeros at (l, b=1) for every l and at (l=0, b=0).
  const auto ov = o.to_vector<double>();
  for (int64_t l = 0; l < L; ++l)
    for (int64_t e = 0; e < 4; ++e) EXPECT_EQ(ov[(l * B + 1) * 4 + e], 0.0);
  for (int64_t e = 0; e < 4; ++e) EXPECT_EQ(ov[e], 0.0);
  sum(o * o).backward();
  for (double x : q.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(x));
  for (double x : m.in_proj_weight.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(x));
}

// ==================================================================== streaming
TEST(MultiheadAttention, StepEqualsCausalForwardAndGrowsTheCache) {
  Generator g(13);
  for (DType dt : {DType::F32, DType::F64}) {
    MultiheadAttention m = make(8, 2, dt, 21);
    const int64_t T = 11, B = 3;
    const Tensor x = randn({T, B, 8}, dt, &g);
    Tensor full;
    {
      NoGradGuard ng;
      full = m.forward(x, x, x, AttentionMask().causal(), Tensor(), false).output;
    }
    nn::KVCache cache = m.new_cache(B, /*capacity=*/2);
    for (int64_t t = 0; t < T; ++t) {
      const Tensor y = m.step(select(x, 0, t), cache);
      EXPECT_LT(max_abs_diff(y, select(full, 0, t)), dt == DType::F32 ? 1e-5 : 1e-12) << "t=" << t;
    }
    EXPECT_EQ(cache.steps, T);
    EXPECT_EQ(cache.capacity(), 16);  // 2 -> 4 -> 8 -> 16
  }
}

TEST(MultiheadAttention, WindowedStepEqualsWindowMaskForward) {
  // Ring buffer of w steps: step i attends to [i-w+1, i] == AttentionMask().window(w-1, 0).
  Generator g(14);
  MultiheadAttention m = make(6, 3, DType::F64, 22);
  const int64_t T = 13, B = 2;
  for (int64_t w : {1, 3, 5}) {
    const Tensor x = randn({T, B, 6}, DType::F64, &g);
    Tensor full;
    {
      NoGradGuard ng;
      full = m.forward(x, x, x, AttentionMask().window(w - 1, 0), Tensor(), false).output;
    }
    nn::KVCache cache = m.new_cache(B, 4, w);
    for (int64_t t = 0; t < T; ++t)
      EXPECT_LT(max_abs_diff(m.step(select(x, 0, t), cache), select(full, 0, t)), 1e-12) << "w=" << w << " t=" << t;
    EXPECT_EQ(cache.capacity(), w);
    EXPECT_EQ(cache.size(), w);
  }
}

// ==================================================================== rotary
TEST(MultiheadAttention, RotaryEqualsRotatedNaiveAndIsShiftInvariant) {
  Generator g(15);
  const int64_t E = 8, N = 2, D = 4, L = 5, B = 2;
  MultiheadAttention m(MultiheadAttentionOptions(E, N).dtype(DType::F64).rotary(true), &g);
  MultiheadAttention plain(MultiheadAttentionOptions(E, N).dtype(DType::F64), &g);
  plain.load_state_dict(m.state_dict());
  const Tensor x = randn({L, B, E}, DType::F64, &g);
  // Reference: the plain module's projections, rotated by position, then softmax attention.
  const Tensor W = m.in_proj_weight, bias = m.in_proj_bias;
  auto heads = [&](const Tensor& t) { return t.reshape({L, B, N, D}).permute({1, 2, 0, 3}); };  // (B,N,L,D)
  const Tensor q = nn::apply_rotary(heads(linear(x, slice(W, 0, 0, E), slice(bias, 0, 0, E))));
  const Tensor k = nn::apply_rotary(heads(linear(x, slice(W, 0, E, 2 * E), slice(bias, 0, E, 2 * E))));
  const Tensor v = heads(linear(x, slice(W, 0, 2 * E, 3 * E), slice(bias, 0, 2 * E, 3 * E)));
  const Tensor p = softmax(matmul(q, k.transpose(2, 3)) / std::sqrt(double(D)), -1);
  const Tensor ref = m.out_proj->forward(matmul(p, v).permute({2, 0, 1, 3}).reshape({L, B, E}));
  const Tensor got = m.forward(x, x, x, Tensor(), false).output;
  EXPECT_LT(max_abs_diff(got, ref), 1e-12);
  EXPECT_GT(max_abs_diff(got, plain.forward(x, x, x, Tensor(), false).output), 1e-3);  // rotary did something
  // Scores depend on relative positions only: the weights of a query against keys are the
  // same whichever absolute offset the sequence starts at, so step() from a fresh cache equals
  // the causal forward.
  Tensor full;
  {
    NoGradGuard ng;
    full = m.forward(x, x, x, AttentionMask().causal(), Tensor(), false).output;
  }
  nn::KVCache cache = m.new_cache(B, 2);
  for (int64_t t = 0; t < L; ++t) EXPECT_LT(max_abs_diff(m.step(select(x, 0, t), cache), select(full, 0, t)), 1e-12);
  // Finite differences through inputs and parameters.
  Tensor xq = randn({3, 2, E}, DType::F64, &g).requires_grad_();
  module_gradcheck("rotary", m, [&] { return m.forward(xq, xq, xq).output; }, {xq});
  expect_error([&] { MultiheadAttention bad(MultiheadAttentionOptions(6, 2).rotary(true)); }, "MultiheadAttention",
               "even head_dim");
  expect_error([&] { MultiheadAttention bad(MultiheadAttentionOptions(8, 2).rotary(true).add_bias_kv(true)); },
               "MultiheadAttention", "rotary");
}

// ==================================================================== bad input
TEST(MultiheadAttention, BadInputThrowsNamingTheModule) {
  expect_error([] { MultiheadAttention(MultiheadAttentionOptions(10, 3)); }, "MultiheadAttention", "divisible");
  MultiheadAttention m = make(8, 2);
  const Tensor x = zeros({4, 2, 8}, DType::F64);
  expect_error([&] { m.forward(zeros({4, 2, 6}, DType::F64), x, x); }, "MultiheadAttention.forward", "(4,2,6)");
  expect_error([&] { m.forward(x, x, zeros({3, 2, 8}, DType::F64)); }, "MultiheadAttention.forward", "value");
  expect_error([&] { m.forward(x, x, x, Tensor(), true, zeros({4, 5}, DType::F64)); }, "MultiheadAttention.forward",
               "(4,5)");
  expect_error([&] { m.forward(x, x, x, Tensor(), true, zeros({3, 4, 4}, DType::F64)); },
               "MultiheadAttention.forward", "(3,4,4)");
  expect_error([&] { m.forward(x, x, x, zeros({2, 3}, DType::Bool)); }, "MultiheadAttention.forward", "(2,3)");
  expect_error([&] { m.forward(x, x, x, zeros({2, 4}, DType::I64)); }, "MultiheadAttention.forward", "int64");
  expect_error([&] { m.forward(x, x, x, AttentionMask().key_lengths(from_vector(std::vector<int64_t>{1}, {1}))); },
               "MultiheadAttention.forward");
  nn::KVCache c = m.new_cache(2);
  expect_error([&] { m.step(zeros({3, 8}, DType::F64), c); }, "MultiheadAttention.step", "(3,8)");
}
