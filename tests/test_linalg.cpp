// matmul / bmm / linear: against a naive product, gradient checks over every rank
// combination and layout, hand-set values, and bad input.
#include <gtest/gtest.h>

#include "common/check.h"
#include "common/gradcheck.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// Naive torch.matmul for a, b of >= 2 dims: broadcast batch, triple loop, in double.
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b, Shape* out_shape) {
  const std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const size_t nb = std::max(ab.size(), bb.size());
  Shape batch(nb), pa(nb, 1), pb(nb, 1);
  for (size_t i = 0; i < nb; ++i) {
    pa[i] = i < nb - ab.size() ? 1 : ab[i - (nb - ab.size())];
    pb[i] = i < nb - bb.size() ? 1 : bb[i - (nb - bb.size())];
    batch[i] = std::max(pa[i], pb[i]);
  }
  *out_shape = batch;
  out_shape->push_back(M);
  out_shape->push_back(N);
  std::vector<double> out(numel_of(*out_shape));
  for (int64_t bi = 0; bi < numel_of(batch); ++bi) {
    int64_t rem = bi, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t d = nb; d-- > 0;) {
      const int64_t i = rem % batch[d];
      rem /= batch[d];
      ia += (pa[d] == 1 ? 0 : i) * sa;
      ib += (pb[d] == 1 ? 0 : i) * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += av[(ia * M + m) * K + k] * bv[(ib * K + k) * N + n];
        out[(bi * M + m) * N + n] = acc;
      }
  }
  return out;
}

void expect_near_all(const std::vector<double>& a, const std::vector<double>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << what << " element " << i;
}

}  // namespace

// ==================================================================== values

TEST(Linalg, HandSetValues) {
  Tensor a = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = from_vector(std::vector<double>{1, 0, 0, 1, 1, 1}, {3, 2});
  EXPECT_EQ(matmul(a, b).to_vector<double>(), (std::vector<double>{4, 5, 10, 11}));
  Tensor v = from_vector(std::vector<double>{1, -1, 2}, {3});
  Tensor dot = matmul(v, v);
  EXPECT_EQ(dot.shape(), Shape{});
  EXPECT_EQ(dot.item(), 6.0);
  EXPECT_EQ(matmul(a, v).to_vector<double>(), (std::vector<double>{5, 11}));
  EXPECT_EQ(matmul(v, b).to_vector<double>(), (std::vector<double>{3, 1}));
  // linear: y = x W^T + b
  Tensor w = from_vector(std::vector<double>{1, 0, 1, 0, 1, 0}, {2, 3});
  Tensor bias = from_vector(std::vector<double>{10, 20}, {2});
  EXPECT_EQ(linear(a, w, bias).to_vector<double>(), (std::vector<double>{14, 22, 20, 25}));
  EXPECT_EQ(linear(v, w).to_vector<double>(), (std::vector<double>{3, -1}));
  // backward by hand: d/dW sum(x W^T) = column sums of x per output row
  Tensor wl = w.detach().clone().requires_grad_(), bl = bias.detach().clone().requires_grad_();
  linear(a, wl, bl).backward(from_vector(std::vector<double>{1, 1, 1, 1}, {2, 2}));
  EXPECT_EQ(wl.grad().to_vector<double>(), (std::vector<double>{5, 7, 9, 5, 7, 9}));
  EXPECT_EQ(bl.grad().to_vector<double>(), (std::vector<double>{2, 2}));
}

TEST(Linalg, MatchesNaiveProductOverLayouts) {
  Generator gen(11);
  struct Case {
    Shape a, b;
  };
  for (DType dt : {DType::F32, DType::F64}) {
    const double tol = dt == DType::F32 ? 1e-4 : 1e-12;
    for (const Case& c : std::vector<Case>{{{3, 4}, {4, 5}},
                                           {{2, 3, 4}, {4, 5}},
                                           {{3, 4}, {2, 4, 5}},
                                           {{2, 1, 3, 4}, {5, 4, 2}},
                                           {{1, 3, 4}, {2, 4, 1}},
                                           {{6, 1, 7}, {6, 7, 1}},
                                           {{2, 3, 70, 80}, {80, 90}},
                                           {{4, 70, 80}, {4, 80, 90}},
                                           {{3, 0, 4}, {4, 2}},
                                           {{3, 2, 0}, {3, 0, 2}}}) {
      Tensor a = randn(c.a, dt, &gen), b = randn(c.b, dt, &gen);
      Shape s;
      const std::vector<double> want = naive_matmul(a, b, &s);
      Tensor got = matmul(a, b);
      EXPECT_EQ(got.shape(), s);
      expect_near_all(got.to_vector<double>(), want, tol, shape_str(c.a) + " @ " + shape_str(c.b));
    }
    // Transposed and permuted views (read in place or copied), against the naive product of copies.
    Tensor base = randn({4, 3, 5}, dt, &gen), w = randn({6, 5}, dt, &gen);
    const std::vector<std::pair<Tensor, Tensor>> pairs = {
        {transpose(base, 1, 2), randn({3, 2}, dt, &gen)},   // batched trans A
        {permute(base, {1, 0, 2}), transpose(w, 0, 1)},      // irregular batch strides, trans B
        {slice(base, 2, 0, 5, 2), randn({3, 7}, dt, &gen)},  // column stride 2: copied
        {transpose(w, 0, 1), transpose(randn({2, 3, 6}, dt, &gen), 1, 2)}};  // 2-d trans A over a batch
    for (const auto& [x, y] : pairs) {
      Shape s;
      const std::vector<double> want = naive_matmul(x.contiguous(), y.contiguous(), &s);
      expect_near_all(matmul(x, y).to_vector<double>(), want, tol, shape_str(x.shape()) + " @ view");
    }
  }
}

// ==================================================================== gradient checks (float64)

TEST(LinalgGrad, MatmulAllRankCombinations) {
  Generator gen(12);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3}, {3}},          {{2, 3}, {3}},       {{3}, {3, 2}},        {{2, 3}, {3, 4}},
      {{2, 2, 3}, {3}},    {{3}, {2, 3, 4}},    {{2, 2, 3}, {3, 4}},  {{2, 3}, {2, 3, 4}},
      {{2, 2, 3}, {2, 3, 4}}, {{2, 1, 3, 4}, {5, 4, 2}}, {{1, 2, 3}, {3, 1, 3, 2}}, {{2, 1, 1}, {1, 4}}};
  for (const auto& [sa, sb] : cases)
    gradcheck("matmul " + shape_str(sa) + " @ " + shape_str(sb),
              [](const TensorList& in) { return matmul(in[0], in[1]); },
              {randn(sa, DType::F64, &gen), randn(sb, DType::F64, &gen)});
}

TEST(LinalgGrad, MatmulTransposedViews) {
  Generator gen(13);
  gradcheck("matmul A^T B^T", [](const TensorList& in) { return matmul(transpose(in[0], 0, 1), transpose(in[1], 0, 1)); },
            {randn({4, 3}, DType::F64, &gen), randn({5, 4}, DType::F64, &gen)});
  gradcheck("matmul batched A^T, 2-d B", [](const TensorList& in) { return matmul(transpose(in[0], -1, -2), in[1]); },
            {randn({2, 4, 3}, DType::F64, &gen), randn({4, 2}, DType::F64, &gen)});
  gradcheck("matmul permuted batch", [](const TensorList& in) { return matmul(permute(in[0], {1, 0, 2}), in[1]); },
            {randn({3, 2, 4}, DType::F64, &gen), randn({2, 4, 2}, DType::F64, &gen)});
  gradcheck("matmul 2-d A^T broadcast", [](const TensorList& in) { return matmul(transpose(in[0], 0, 1), in[1]); },
            {randn({4, 3}, DType::F64, &gen), randn({2, 4, 2}, DType::F64, &gen)});
}

TEST(LinalgGrad, Bmm) {
  Generator gen(14);
  gradcheck("bmm", [](const TensorList& in) { return bmm(in[0], in[1]); },
            {randn({3, 2, 4}, DType::F64, &gen), randn({3, 4, 5}, DType::F64, &gen)});
  gradcheck("bmm K=1 B^T", [](const TensorList& in) { return bmm(in[0], transpose(in[1], 1, 2)); },
            {randn({2, 3, 1}, DType::F64, &gen), randn({2, 2, 1}, DType::F64, &gen)});
}

TEST(LinalgGrad, Linear) {
  Generator gen(15);
  auto with_bias = [](const TensorList& in) { return linear(in[0], in[1], in[2]); };
  auto no_bias = [](const TensorList& in) { return linear(in[0], in[1]); };
  gradcheck("linear 2-d + bias", with_bias,
            {randn({4, 3}, DType::F64, &gen), randn({5, 3}, DType::F64, &gen), randn({5}, DType::F64, &gen)});
  gradcheck("linear 2-d", no_bias, {randn({4, 3}, DType::F64, &gen), randn({5, 3}, DType::F64, &gen)});
  gradcheck("linear 3-d x + bias", with_bias,
            {randn({2, 3, 4}, DType::F64, &gen), randn({2, 4}, DType::F64, &gen), randn({2}, DType::F64, &gen)});
  gradcheck("linear 1-d x", no_bias, {randn({3}, DType::F64, &gen), randn({2, 3}, DType::F64, &gen)});
  gradcheck("linear x^T, W^T views", [](const TensorList& in) {
    return linear(transpose(in[0], 0, 1), transpose(in[1], 0, 1), in[2]);
  }, {randn({3, 4}, DType::F64, &gen), randn({3, 5}, DType::F64, &gen), randn({5}, DType::F64, &gen)});
  gradcheck("linear permuted 3-d x (copied)", [](const TensorList& in) {
    return linear(permute(in[0], {1, 0, 2}), in[1], in[2]);
  }, {randn({3, 2, 4}, DType::F64, &gen), randn({2, 4}, DType::F64, &gen), randn({2}, DType::F64, &gen)});
}

TEST(Linalg, LinearEmptyRowsAndK) {
  Tensor x = zeros({0, 3}, DType::F64), w = ones({2, 3}, DType::F64).requires_grad_();
  Tensor b = ones({2}, DType::F64).requires_grad_();
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{0, 2}));
  y.backward(zeros({0, 2}, DType::F64));
  EXPECT_EQ(w.grad().to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_EQ(b.grad().to_vector<double>(), std::vector<double>(2, 0.0));
  // I = 0: the output is the bias alone.
  EXPECT_EQ(linear(empty({2, 0}, DType::F64), empty({2, 0}, DType::F64), b.detach()).to_vector<double>(),
            std::vector<double>(4, 1.0));
}

// ==================================================================== bad input

TEST(LinalgErrors, BadArguments) {
  Tensor a = zeros({2, 3}), b = zeros({4, 5});
  expect_error([&] { matmul(a, b); }, "matmul", "(2,3) @ (4,5): inner dims 3 and 4 differ");
  expect_error([&] { matmul(zeros({3}), zeros({4})); }, "matmul", "inner dims 3 and 4");
  expect_error([&] { matmul(scalar_tensor(1), zeros({3})); }, "matmul", "at least 1-d");
  expect_error([&] { matmul(a, zeros({3, 2}, DType::F64)); }, "matmul", "dtype mismatch");
  expect_error([&] { matmul(arange(3), arange(3)); }, "matmul", "floating");
  expect_error([&] { matmul(zeros({2, 3, 3, 4}), zeros({5, 4, 2})); }, "matmul", "do not broadcast");
  expect_error([&] { bmm(zeros({2, 3, 4}), zeros({3, 4, 5})); }, "bmm", "batch sizes 2 and 3 differ");
  expect_error([&] { bmm(zeros({2, 3, 4}), zeros({2, 3, 5})); }, "bmm", "inner dims 4 and 3 differ");
  expect_error([&] { bmm(zeros({3, 4}), zeros({2, 4, 5})); }, "bmm", "3-d");
  expect_error([&] { linear(zeros({2, 3}), zeros({4, 5})); }, "linear", "in_features 5");
  expect_error([&] { linear(zeros({2, 3}), zeros({3})); }, "linear", "weight must be 2-d");
  expect_error([&] { linear(zeros({2, 3}), zeros({4, 3}), zeros({3})); }, "linear", "out_features=4");
  expect_error([&] { linear(zeros({2, 3}), zeros({4, 3}), zeros({4}, DType::F64)); }, "linear", "dtype");
  expect_error([&] { linear(scalar_tensor(1), zeros({4, 1})); }, "linear", "at least 1-d");
}
