// Fused attention: the tiled kernel against the naive reference (every mask kind and their
// combinations, odd sizes, dropout, empty rows), float64 gradchecks of
// scaled_dot_product_attention, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string_view>
#include <vector>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/attention.h"
#include "kernels/vecmath.h"
#include "seqnn/attention.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// ==================================================================== kernel-vs-ref harness
struct Spec {
  int64_t B = 1, N = 1, Lq = 1, Lk = 1, D = 1, Dv = 1;
  bool causal = false, bottom_right = false;
  int64_t wl = -1, wr = -1;  // window when wl >= 0
  bool lengths = false;      // random key lengths, batch 0 gets 0 when B > 1
  bool graph = false;        // random CSR with duplicate edges and edge-less rows
  int dense = 0;             // 0 none, 1 bool (B,1,Lq,Lk), 2 float (N,Lq,Lk) with -inf and a -inf row
  double p = 0;              // dropout
  bool weights = false;      // need_weights and a gradient through them
  bool dmask = false;        // float mask gradient
  uint64_t seed = 1;
};

template <class T>
struct Buffers {
  std::vector<T> q, k, v, madd, do_, dw;
  std::vector<uint8_t> mbool_storage;
  std::vector<int64_t> len, indptr, indices;
};

template <class T>
kernels::AttentionProblem<T> build(const Spec& s, Buffers<T>& buf, bool** mbool) {
  std::mt19937_64 rng(s.seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  auto fill = [&](std::vector<T>& x, int64_t n) {
    x.resize(static_cast<size_t>(n));
    for (auto& e : x) e = static_cast<T>(nd(rng));
  };
  // q stored (B,Lq,N,D) (a (L,B,E)-like interleaving: strides not contiguous per head)
  fill(buf.q, s.B * s.Lq * s.N * s.D);
  fill(buf.k, s.B * s.N * s.Lk * s.D);
  fill(buf.v, s.B * s.N * s.Lk * s.Dv);
  kernels::AttentionProblem<T> pr;
  pr.B = s.B, pr.N = s.N, pr.Lq = s.Lq, pr.Lk = s.Lk, pr.D = s.D, pr.Dv = s.Dv;
  pr.q = buf.q.data(), pr.q_sb = s.Lq * s.N * s.D, pr.q_sn = s.D, pr.q_sl = s.N * s.D;
  pr.k = buf.k.data(), pr.k_sb = s.N * s.Lk * s.D, pr.k_sn = s.Lk * s.D, pr.k_sl = s.D;
  pr.v = buf.v.data(), pr.v_sb = s.N * s.Lk * s.Dv, pr.v_sn = s.Lk * s.Dv, pr.v_sl = s.Dv;
  pr.scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(s.D)));
  pr.causal = s.causal;
  pr.offset = s.bottom_right ? s.Lk - s.Lq : 0;
  if (s.wl >= 0) pr.window = true, pr.window_left = s.wl, pr.window_right = s.wr;
  if (s.lengths) {
    for (int64_t b = 0; b < s.B; ++b)
      buf.len.push_back(b == 0 && s.B > 1 ? 0 : static_cast<int64_t>(rng() % (s.Lk + 1)));
    if (s.B == 1) buf.len[0] = std::max<int64_t>(1, s.Lk - s.Lk / 3);
    pr.key_lengths = buf.len.data();
  }
  if (s.graph) {
    buf.indptr.push_back(0);
    for (int64_t i = 0; i < s.Lq; ++i) {
      const int64_t deg = i % 5 == 3 ? 0 : static_cast<int64_t>(rng() % 7);
      for (int64_t e = 0; e < deg; ++e) buf.indices.push_back(static_cast<int64_t>(rng() % s.Lk));
      if (deg > 1) buf.indices.push_back(buf.indices.back());  // a duplicate edge
      buf.indptr.push_back(static_cast<int64_t>(buf.indices.size()));
    }
    buf.indices.push_back(0);  // valid pointer when E = 0 (not counted by indptr)
    pr.indptr = buf.indptr.data(), pr.indices = buf.indices.data();
  }
  if (s.dense == 1) {  // (B,1,Lq,Lk)
    buf.mbool_storage.resize(static_cast<size_t>(s.B * s.Lq * s.Lk));
    for (auto& e : buf.mbool_storage) e = ud(rng) < 0.25;
    static_assert(sizeof(bool) == 1);
    *mbool = reinterpret_cast<bool*>(buf.mbool_storage.data());
    pr.mask_bool = *mbool;
    pr.m_sb = s.Lq * s.Lk, pr.m_sn = 0, pr.m_sq = s.Lk, pr.m_sk = 1;
  } else if (s.dense == 2) {  // (N,Lq,Lk), broadcast over B
    fill(buf.madd, s.N * s.Lq * s.Lk);
    const T ninf = -std::numeric_limits<T>::infinity();
    for (auto& e : buf.madd)
      if (ud(rng) < 0.2) e = ninf;
    for (int64_t j = 0; j < s.Lk; ++j) buf.madd[(s.Lq / 2) * s.Lk + j] = ninf;  // a fully masked row
    pr.mask_add = buf.madd.data();
    pr.m_sb = 0, pr.m_sn = s.Lq * s.Lk, pr.m_sq = s.Lk, pr.m_sk = 1;
  }
  pr.dropout_p = s.p;
  pr.seed = s.seed * 7919 + 3;
  fill(buf.do_, s.B * s.N * s.Lq * s.Dv);
  if (s.weights) fill(buf.dw, s.B * s.N * s.Lq * s.Lk);
  return pr;
}

// max|a - b| / max(max|b|, 1): the inputs are O(1), so gradients that are exactly 0 in exact
// arithmetic (one allowed key: dQ = dK = 0) are compared on the O(1) scale of their terms.
template <class T>
double rel_err(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> b1(b);
  b1.push_back(T(1));
  std::vector<T> a1(a);
  a1.push_back(T(1));
  return max_rel_err(a1, b1);
}

template <class T>
bool all_finite(const std::vector<T>& x) {
  for (T e : x)
    if (!std::isfinite(e)) return false;
  return true;
}

// Runs the fused kernel and the reference on one spec and compares every output.
template <class T>
void compare(const Spec& s, const std::string& what) {
  SCOPED_TRACE(what + " B=" + std::to_string(s.B) + " N=" + std::to_string(s.N) + " Lq=" + std::to_string(s.Lq) +
               " Lk=" + std::to_string(s.Lk) + " D=" + std::to_string(s.D) + " Dv=" + std::to_string(s.Dv));
  Buffers<T> buf;
  bool* mb = nullptr;
  const auto pr = build<T>(s, buf, &mb);
  const int64_t H = s.B * s.N;
  const size_t no = H * s.Lq * s.Dv, nl = H * s.Lq, nw = H * s.Lq * s.Lk;
  std::vector<T> o1(no), o2(no), l1(nl), l2(nl), w1(s.weights ? nw : 0), w2(s.weights ? nw : 0);
  kernels::attention_forward<T>(pr, o1.data(), l1.data(), s.weights ? w1.data() : nullptr);
  kernels::ref::attention_forward<T>(pr, o2.data(), l2.data(), s.weights ? w2.data() : nullptr);
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-11;
  EXPECT_TRUE(all_finite(o1)) << "fused output has non-finite values";
  EXPECT_LE(rel_err(o1, o2), tol) << "output";
  for (size_t i = 0; i < nl; ++i) {
    if (std::isinf(l2[i])) {
      EXPECT_TRUE(std::isinf(l1[i]) && l1[i] < 0) << "lse row " << i << " should be -inf, got " << l1[i];
      for (int64_t d = 0; d < s.Dv; ++d) EXPECT_EQ(o1[i * s.Dv + d], T(0)) << "empty row " << i;
    } else {
      EXPECT_NEAR(l1[i], l2[i], tol * std::max<double>(1, std::fabs(l2[i]))) << "lse row " << i;
    }
  }
  if (s.weights) {
    EXPECT_TRUE(all_finite(w1));
    EXPECT_LE(rel_err(w1, w2), tol) << "weights";
  }
  // backward (from the reference's O and lse, as the op saves the kernel's own)
  const size_t nq = H * s.Lq * s.D, nk = H * s.Lk * s.D, nv = H * s.Lk * s.Dv;
  std::vector<T> dq1(nq), dq2(nq), dk1(nk), dk2(nk), dv1(nv), dv2(nv);
  std::vector<T> dm1(s.dmask ? nw : 0), dm2(s.dmask ? nw : 0);
  const T* dw = s.weights ? buf.dw.data() : nullptr;
  kernels::attention_backward<T>(pr, buf.do_.data(), o1.data(), l1.data(), dw, dq1.data(), dk1.data(), dv1.data(),
                                 s.dmask ? dm1.data() : nullptr);
  kernels::ref::attention_backward<T>(pr, buf.do_.data(), o2.data(), l2.data(), dw, dq2.data(), dk2.data(),
                                      dv2.data(), s.dmask ? dm2.data() : nullptr);
  EXPECT_TRUE(all_finite(dq1) && all_finite(dk1) && all_finite(dv1)) << "fused grads have non-finite values";
  EXPECT_LE(rel_err(dq1, dq2), 10 * tol) << "dQ";
  EXPECT_LE(rel_err(dk1, dk2), 10 * tol) << "dK";
  EXPECT_LE(rel_err(dv1, dv2), 10 * tol) << "dV";
  if (s.dmask) {
    EXPECT_TRUE(all_finite(dm1));
    EXPECT_LE(rel_err(dm1, dm2), 10 * tol) << "dMask";
  }
  // empty rows: zero dQ
  for (size_t h = 0; h < static_cast<size_t>(H); ++h)
    for (int64_t i = 0; i < s.Lq; ++i)
      if (std::isinf(l2[h * s.Lq + i]))
        for (int64_t d = 0; d < s.D; ++d) EXPECT_EQ(dq1[(h * s.Lq + i) * s.D + d], T(0)) << "dQ of an empty row";
}

template <class T>
void sweep_masks(int64_t B, int64_t N, int64_t Lq, int64_t Lk, int64_t D, int64_t Dv, uint64_t seed) {
  auto base = [&] {
    Spec s;
    s.B = B, s.N = N, s.Lq = Lq, s.Lk = Lk, s.D = D, s.Dv = Dv, s.seed = seed;
    return s;
  };
  compare<T>(base(), "none");
  { Spec s = base(); s.causal = true; compare<T>(s, "causal TL"); }
  { Spec s = base(); s.causal = true; s.bottom_right = true; compare<T>(s, "causal BR"); }
  { Spec s = base(); s.wl = 7, s.wr = 3; compare<T>(s, "window 7,3"); }
  { Spec s = base(); s.wl = 0, s.wr = 0; compare<T>(s, "window 0,0"); }
  { Spec s = base(); s.wl = 70, s.wr = 0; s.bottom_right = true; compare<T>(s, "window 70,0 BR"); }
  { Spec s = base(); s.lengths = true; compare<T>(s, "lengths"); }
  { Spec s = base(); s.graph = true; compare<T>(s, "graph"); }
  { Spec s = base(); s.dense = 1; compare<T>(s, "dense bool"); }
  { Spec s = base(); s.dense = 2; s.dmask = true; compare<T>(s, "dense float"); }
  { Spec s = base(); s.causal = true; s.lengths = true; s.dense = 1; compare<T>(s, "causal+lengths+bool"); }
  { Spec s = base(); s.wl = 5, s.wr = 9; s.causal = true; s.dense = 2; s.dmask = true; compare<T>(s, "window+causal+float"); }
  { Spec s = base(); s.graph = true; s.causal = true; s.lengths = true; s.dense = 2; compare<T>(s, "graph+causal+lengths+float"); }
  { Spec s = base(); s.graph = true; s.wl = 4, s.wr = 4; s.weights = true; compare<T>(s, "graph+window+weights"); }
  { Spec s = base(); s.weights = true; s.causal = true; s.dense = 2; s.dmask = true; compare<T>(s, "weights+causal+float"); }
  { Spec s = base(); s.p = 0.3; s.weights = true; s.causal = true; compare<T>(s, "dropout+weights+causal"); }
  { Spec s = base(); s.p = 0.2; s.graph = true; compare<T>(s, "dropout+graph"); }
}

}  // namespace

// ==================================================================== fused vs reference
TEST(AttentionKernel, FusedMatchesReferenceSmallSizes) {
  uint64_t seed = 11;
  for (int64_t L : {1, 2, 3, 5, 17, 63, 64, 65}) {
    sweep_masks<double>(2, 2, L, L, 3, 5, seed++);
    sweep_masks<float>(2, 2, L, L, 5, 3, seed++);
  }
}

TEST(AttentionKernel, FusedMatchesReferenceRectangular) {
  uint64_t seed = 101;
  for (auto [Lq, Lk] : std::vector<std::pair<int64_t, int64_t>>{{1, 7}, {7, 1}, {13, 130}, {130, 13}, {97, 211}}) {
    sweep_masks<double>(2, 1, Lq, Lk, 7, 9, seed++);
    sweep_masks<float>(1, 2, Lq, Lk, 9, 7, seed++);
  }
}

TEST(AttentionKernel, FusedMatchesReferenceLarge) {
  uint64_t seed = 201;
  sweep_masks<float>(1, 1, 301, 600, 16, 8, seed++);
  sweep_masks<float>(1, 1, 600, 599, 32, 32, seed++);
  sweep_masks<double>(1, 1, 257, 333, 5, 11, seed++);
}

// The short-key path (attention_short.cpp: Lk, D, Dv <= 64, float, AVX-512) on the shapes it is
// for (a ViT's 49 x 16 heads, full 64-wide heads, Lq > Lk, lanes not a multiple of 16), every
// mask kind (the ones it does not take fall back to the tiled kernel), weights included.
TEST(AttentionKernel, ShortPathMatchesReference) {
  struct Shape {
    int64_t B, N, Lq, Lk, D, Dv;
  };
  uint64_t seed = 301;
  for (const Shape& c : std::vector<Shape>{{2, 3, 49, 49, 16, 16}, {1, 2, 130, 64, 64, 64}, {2, 1, 7, 33, 17, 48},
                                           {3, 1, 1, 1, 1, 1}, {1, 1, 66, 17, 32, 5}}) {
    Spec s;
    s.B = c.B, s.N = c.N, s.Lq = c.Lq, s.Lk = c.Lk, s.D = c.D, s.Dv = c.Dv, s.seed = seed;
    Buffers<float> buf;
    bool* mb = nullptr;
    const auto pr = build<float>(s, buf, &mb);
    if (std::string_view(kernels::vecmath_isa()) == "avx512")
      EXPECT_TRUE(kernels::detail::attention_short_ok(pr)) << "the short path should take Lq=" << c.Lq << " Lk=" << c.Lk;
    sweep_masks<float>(c.B, c.N, c.Lq, c.Lk, c.D, c.Dv, seed++);
    { Spec w = s; w.weights = true; w.lengths = true; compare<float>(w, "weights+lengths"); }
    { Spec w = s; w.weights = true; w.causal = true; compare<float>(w, "weights+causal"); }
  }
}

// One key: P == 1 exactly, so dQ and dK are exactly 0 (as PyTorch's softmax backward gives), on
// both paths, with and without a gradient through the weights.
TEST(AttentionKernel, OneKeyGivesExactlyZeroDqDk) {
  for (int64_t D : {5, 16, 100})
    for (bool weights : {false, true}) {
      Spec s;
      s.B = 2, s.N = 2, s.Lq = 5, s.Lk = 1, s.D = D, s.Dv = 6, s.weights = weights, s.seed = 17 + D;
      Buffers<float> buf;
      bool* mb = nullptr;
      const auto pr = build<float>(s, buf, &mb);
      const int64_t H = s.B * s.N;
      std::vector<float> o(H * s.Lq * s.Dv), l(H * s.Lq), w(weights ? H * s.Lq : 0);
      kernels::attention_forward<float>(pr, o.data(), l.data(), weights ? w.data() : nullptr);
      std::vector<float> dq(H * s.Lq * s.D, 1.0f), dk(H * s.D, 1.0f), dv(H * s.Dv);
      kernels::attention_backward<float>(pr, buf.do_.data(), o.data(), l.data(), weights ? buf.dw.data() : nullptr,
                                         dq.data(), dk.data(), dv.data(), nullptr);
      for (float e : dq) ASSERT_EQ(e, 0.0f) << "D=" << D << " weights=" << weights;
      for (float e : dk) ASSERT_EQ(e, 0.0f) << "D=" << D << " weights=" << weights;
    }
}

// A NaN in a query reaches that row's output as NaN on both paths (never finite garbage or a
// silent zero): Lk = 49 takes the short path on AVX-512, Lk = 100 the tiled one.
TEST(AttentionKernel, NaNQueryGivesNaNRow) {
  for (int64_t Lk : {49, 100}) {
    Spec s;
    s.B = 1, s.N = 2, s.Lq = 9, s.Lk = Lk, s.D = 16, s.Dv = 16, s.seed = 5;
    Buffers<float> buf;
    bool* mb = nullptr;
    auto pr = build<float>(s, buf, &mb);
    buf.q[3 * s.N * s.D + 5] = std::numeric_limits<float>::quiet_NaN();  // row 3 of head 0, d = 5
    std::vector<float> o(2 * s.Lq * s.Dv), l(2 * s.Lq);
    kernels::attention_forward<float>(pr, o.data(), l.data(), nullptr);
    for (int64_t d = 0; d < s.Dv; ++d) EXPECT_TRUE(std::isnan(o[3 * s.Dv + d])) << "Lk=" << Lk << " d=" << d;
    EXPECT_TRUE(std::isfinite(o[2 * s.Dv])) << "Lk=" << Lk << ": other rows stay finite";
  }
}

TEST(AttentionKernel, DropoutKeepRate) {
  // weights of a uniform-score row are 1/Lk, dropped to 0 or kept as 1/(Lk(1-p)); count kept
  Spec s;
  s.B = 2, s.N = 3, s.Lq = 64, s.Lk = 200, s.D = 1, s.Dv = 1, s.p = 0.3, s.weights = true;
  Buffers<double> buf;
  bool* mb = nullptr;
  auto pr = build<double>(s, buf, &mb);
  pr.scale = 0;  // uniform P
  std::vector<double> o(s.B * s.N * s.Lq), l(s.B * s.N * s.Lq), w(s.B * s.N * s.Lq * s.Lk);
  kernels::attention_forward<double>(pr, o.data(), l.data(), w.data());
  int64_t kept = 0;
  for (double e : w) {
    if (e != 0) {
      ++kept;
      EXPECT_NEAR(e, 1.0 / (s.Lk * 0.7), 1e-12);
    }
  }
  const double rate = static_cast<double>(kept) / static_cast<double>(w.size());
  EXPECT_NEAR(rate, 0.7, 0.01);
}

// ==================================================================== the op
namespace {

Tensor rnd(const Shape& s, DType dt, Generator& g) { return randn(s, dt, &g); }

}  // namespace

TEST(AttentionOp, EmptyRowsGiveZeroOutputAndGrads) {
  Generator g(5);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor q = rnd({2, 2, 4, 3}, dt, g).requires_grad_(), k = rnd({2, 2, 5, 3}, dt, g).requires_grad_();
    Tensor v = rnd({2, 2, 5, 2}, dt, g).requires_grad_();
    // batch 0 has no keys at all; the window puts query 3 of batch 1 past every key of length 2
    AttentionMask m;
    m.key_lengths(from_vector(std::vector<int64_t>{0, 2}, {2})).window(1, 0);
    SDPAOptions opt;
    opt.need_weights = true;
    auto r = scaled_dot_product_attention(q, k, v, m, opt);
    (r.output.sum() + (r.weights * r.weights).sum()).backward();
    const auto o = r.output.to_vector<double>();
    const auto w = r.weights.to_vector<double>();
    for (int64_t e = 0; e < 2 * 4 * 2; ++e) EXPECT_EQ(o[e], 0.0);  // batch 0
    for (int64_t n = 0; n < 2; ++n) {
      const int64_t base = ((1 * 2 + n) * 4 + 3) * 2;  // batch 1, query 3
      EXPECT_EQ(o[base], 0.0);
      EXPECT_EQ(o[base + 1], 0.0);
    }
    for (double e : w) EXPECT_TRUE(std::isfinite(e));
    const auto dq = q.grad().to_vector<double>();
    for (double e : dq) EXPECT_TRUE(std::isfinite(e));
    for (int64_t e = 0; e < 2 * 4 * 3; ++e) EXPECT_EQ(dq[e], 0.0);
    for (double e : k.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(e));
    for (double e : v.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(e));
  }
}

TEST(AttentionOp, GradcheckQKV) {
  Generator g(7);
  for (int variant = 0; variant < 4; ++variant) {
    AttentionMask m;
    if (variant == 1) m.causal();
    if (variant == 2) m.window(1, 2).align(MaskAlign::BottomRight).key_lengths(from_vector(std::vector<int64_t>{4, 2}, {2}));
    if (variant == 3)
      m.graph(from_vector(std::vector<int64_t>{0, 2, 2, 5}, {4}), from_vector(std::vector<int64_t>{1, 3, 0, 0, 2}, {5}));
    gradcheck("sdpa q,k,v variant " + std::to_string(variant),
              [m](const TensorList& in) { return scaled_dot_product_attention(in[0], in[1], in[2], m).output; },
              {rnd({2, 2, 3, 3}, DType::F64, g), rnd({2, 2, 4, 3}, DType::F64, g), rnd({2, 2, 4, 5}, DType::F64, g)});
  }
}

TEST(AttentionOp, GradcheckFloatMaskAndWeights) {
  Generator g(9);
  Tensor mask = rnd({2, 1, 3, 4}, DType::F64, g);
  gradcheck(
      "sdpa float mask + weights",
      [](const TensorList& in) {
        AttentionMask m;
        m.dense(in[3]).causal().align(MaskAlign::BottomRight);
        SDPAOptions opt;
        opt.need_weights = true;
        opt.scale = 0.7;
        auto r = scaled_dot_product_attention(in[0], in[1], in[2], m, opt);
        return (r.output * r.output).sum() + (r.weights * r.weights * r.weights).sum();
      },
      {rnd({2, 2, 3, 3}, DType::F64, g), rnd({2, 2, 4, 3}, DType::F64, g), rnd({2, 2, 4, 2}, DType::F64, g), mask});
}

TEST(AttentionOp, GradcheckDropout) {
  // the same generator state per call: the seed drawn is the same, so f is deterministic
  Generator g(13);
  gradcheck(
      "sdpa dropout",
      [](const TensorList& in) {
        Generator gen(77);
        SDPAOptions opt;
        opt.training = true, opt.dropout_p = 0.4, opt.generator = &gen, opt.need_weights = true;
        auto r = scaled_dot_product_attention(in[0], in[1], in[2], AttentionMask(), opt);
        return r.output.sum() + (r.weights * r.weights).sum();
      },
      {rnd({1, 2, 5, 3}, DType::F64, g), rnd({1, 2, 6, 3}, DType::F64, g), rnd({1, 2, 6, 2}, DType::F64, g)});
}

TEST(AttentionOp, StridedInputsNeedNoCopyAndMatch) {
  Generator g(3);
  Tensor x = rnd({5, 2, 3, 4}, DType::F64, g);  // (L,B,N,D) -> view (B,N,L,D)
  Tensor qv = permute(x, {1, 2, 0, 3});
  auto r1 = scaled_dot_product_attention(qv, qv, qv);
  auto r2 = scaled_dot_product_attention(qv.contiguous(), qv.contiguous(), qv.contiguous());
  EXPECT_LE(max_rel_err(r1.output.to_vector<double>(), r2.output.to_vector<double>()), 1e-14);
}

TEST(AttentionOp, DropoutOneGivesZeros) {
  Generator g(3);
  Tensor q = rnd({1, 1, 3, 2}, DType::F32, g).requires_grad_();
  SDPAOptions opt;
  opt.training = true, opt.dropout_p = 1.0;
  auto r = scaled_dot_product_attention(q, q, q, AttentionMask(), opt);
  for (float e : r.output.to_vector<float>()) EXPECT_EQ(e, 0.0f);
  r.output.sum().backward();
  for (float e : q.grad().to_vector<float>()) EXPECT_EQ(e, 0.0f);
}

TEST(AttentionOp, BadInput) {
  Generator g(1);
  const char* op = "scaled_dot_product_attention";
  Tensor q = rnd({2, 2, 3, 4}, DType::F32, g), k = rnd({2, 2, 5, 4}, DType::F32, g), v = rnd({2, 2, 5, 6}, DType::F32, g);
  expect_error([&] { scaled_dot_product_attention(rnd({2, 3, 4}, DType::F32, g), k, v); }, op, "4-d");
  expect_error([&] { scaled_dot_product_attention(q, rnd({2, 2, 5, 3}, DType::F32, g), v); }, op, "k ");
  expect_error([&] { scaled_dot_product_attention(q, k, rnd({2, 2, 4, 6}, DType::F32, g)); }, op, "v ");
  expect_error([&] { scaled_dot_product_attention(q, k, rnd({2, 2, 5, 6}, DType::F64, g)); }, op, "dtype");
  expect_error([&] { scaled_dot_product_attention(q, k, v, AttentionMask().dense(zeros({4, 5}, DType::Bool))); }, op,
               "broadcast");
  expect_error(
      [&] {
        scaled_dot_product_attention(
            q, k, v,
            AttentionMask().graph(from_vector(std::vector<int64_t>{0, 1, 1, 2}, {4}),
                                  from_vector(std::vector<int64_t>{0, 5}, {2})));
      },
      op, "indices");
  expect_error([&] { scaled_dot_product_attention(q, k, v, AttentionMask().key_lengths(from_vector(std::vector<int64_t>{2, 6}, {2}))); },
               op, "key_lengths");
  expect_error([&] { AttentionMask().window(-1, 2); }, "AttentionMask", "window");
  SDPAOptions bad;
  bad.dropout_p = 1.5;
  expect_error([&] { scaled_dot_product_attention(q, k, v, AttentionMask(), bad); }, op, "dropout_p");
  SDPAOptions bads;
  bads.scale = std::numeric_limits<double>::infinity();
  expect_error([&] { scaled_dot_product_attention(q, k, v, AttentionMask(), bads); }, op, "scale");
}
