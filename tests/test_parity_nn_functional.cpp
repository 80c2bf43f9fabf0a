// layer_norm, embedding and dropout against live PyTorch 1.13 (F32 and F64).
#include <gtest/gtest.h>

#include <cmath>

#include "common/parity_batch.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

// Groups of 1 or 2 elements are left to the unit tests: there the exact output (N=1) or input
// gradient (N=2) is identically zero and float32 PyTorch returns rounding noise around it.
TEST(ParityNN, LayerNorm) {
  ParityBatch p(61);
  for (DType dt : {DType::F32, DType::F64}) {
    for (auto [s, ns] : std::vector<std::pair<Shape, Shape>>{{{4, 5}, {5}},
                                                             {{2, 3, 8}, {8}},
                                                             {{2, 3, 8}, {3, 8}},
                                                             {{1, 1, 6}, {6}},
                                                             {{0, 4}, {4}},
                                                             {{3, 1, 4}, {1, 4}}}) {
      Tensor x = randn(s, dt, &p.gen), w = randn(ns, dt, &p.gen), b = randn(ns, dt, &p.gen);
      const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s) + " over " + shape_str(ns);
      p.add("layer_norm affine " + tag, "out = F.layer_norm(x, args['ns'], w, b)", {{"x", x}, {"w", w}, {"b", b}},
            [&](const TensorList& in) { return layer_norm(in[0], ns, in[1], in[2]); }, {{"ns", ns}});
      p.add("layer_norm plain " + tag, "out = F.layer_norm(x, args['ns'])", {{"x", x}},
            [&](const TensorList& in) { return layer_norm(in[0], ns); }, {{"ns", ns}});
      p.add("layer_norm eps=0.1 weight only " + tag, "out = F.layer_norm(x, args['ns'], w, None, 0.1)",
            {{"x", x}, {"w", w}}, [&](const TensorList& in) { return layer_norm(in[0], ns, in[1], Tensor(), 0.1); },
            {{"ns", ns}});
    }
  }
  p.check();
}

TEST(ParityNN, Embedding) {
  ParityBatch p(62);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor w = randn({6, 4}, dt, &p.gen);
    for (Shape is : {Shape{5}, Shape{3, 4}, Shape{2, 1, 3}, Shape{0}}) {
      Tensor idx = randint(0, 6, is, &p.gen);
      for (int64_t pad : {-100, 2, -1}) {  // -100: none
        const std::string tag = std::string(dtype_name(dt)) + " idx " + shape_str(is) + " pad " + std::to_string(pad);
        p.add(
            "embedding " + tag, "p = args['pad']\nout = F.embedding(idx, w, padding_idx=None if p == -100 else p)",
            {{"idx", idx}, {"w", w}},
            [&](const TensorList& in) {
              return embedding(in[0], in[1], pad == -100 ? std::nullopt : std::optional<int64_t>(pad));
            },
            {{"pad", pad}});
      }
    }
  }
  p.check();
}

// Dropout's RNG stream differs from PyTorch's by design; compare the statistics and the
// identities out == x * keep / (1 - p), dx == g * keep / (1 - p) on both sides.
TEST(ParityNN, DropoutStatistics) {
  Generator gen(63);
  const int64_t n = 100000;
  std::vector<OracleCase> cases;
  std::vector<double> ps = {0.1, 0.5, 0.9};
  std::vector<double> our_rate;
  for (DType dt : {DType::F32, DType::F64}) {
    for (double p : ps) {
      Tensor x = uniform({n}, 0.5, 1.5, dt, &gen).requires_grad_();
      Tensor y = dropout(x, p, true, &gen);
      Tensor g = uniform({n}, 0.5, 1.5, dt, &gen);
      y.backward(g);
      const auto xv = x.to_vector<double>(), yv = y.to_vector<double>(), gv = g.to_vector<double>(),
                 dv = x.grad().to_vector<double>();
      int64_t kept = 0, bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        const bool k = yv[i] != 0;
        kept += k;
        const double s = k ? 1 / (1 - p) : 0;
        bad += std::fabs(yv[i] - xv[i] * s) > 1e-5 * xv[i] * s || std::fabs(dv[i] - gv[i] * s) > 1e-5 * gv[i] * s;
      }
      EXPECT_EQ(bad, 0) << "p=" << p;
      our_rate.push_back(static_cast<double>(kept) / n);
      OracleCase c;
      c.code =
          "torch.manual_seed(0)\n"
          "y = F.dropout(x, p=args['p'], training=True)\n"
          "keep = (y != 0)\n"
          "s = keep.to(x.dtype) / (1 - args['p'])\n"
          "extra['rate'] = keep.double().mean().reshape(1)\n"
          "extra['ident'] = (y - x * s).abs().max().double().reshape(1)\n"
          "out = y";
      c.args = {{"p", p}};
      c.inputs = {{"x", x.detach()}};
      cases.push_back(c);
    }
  }
  auto res = run_torch(cases);
  for (size_t i = 0; i < res.size(); ++i) {
    const double p = ps[i % ps.size()], sd = std::sqrt(p * (1 - p) / n);
    const double torch_rate = res[i].extra["rate"].item();
    EXPECT_NEAR(torch_rate, 1 - p, 5 * sd) << "torch p=" << p;
    EXPECT_NEAR(our_rate[i], 1 - p, 5 * sd) << "seqnn p=" << p;
    EXPECT_NEAR(our_rate[i], torch_rate, 7 * sd) << "p=" << p;
    EXPECT_LT(res[i].extra["ident"].item(), 1e-5) << "torch identity p=" << p;
  }
}
