// nn functional: layer_norm, dropout, embedding. Kernels vs reference, hand cases, gradient
// checks, dropout statistics, bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/nn.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

// ==================================================================== layer_norm

template <class T>
void layer_norm_kernels_vs_ref() {
  Generator gen(31);
  const DType dt = dtype_of<T>::value;
  const double tol = std::is_same_v<T, float> ? 5e-6 : 1e-12;
  for (auto [M, N] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 5}, {17, 64}, {300, 200}, {2, 1000}}) {
    for (bool affine : {false, true}) {
      Tensor x = randn({M, N}, dt, &gen), w = randn({N}, dt, &gen), b = randn({N}, dt, &gen);
      Tensor dy = randn({M, N}, dt, &gen);
      const T* wp = affine ? w.data_ptr<T>() : nullptr;
      const T* bp = affine ? b.data_ptr<T>() : nullptr;
      std::vector<T> y(M * N), yr(M * N), mu(M), mur(M), rs(M), rsr(M);
      kernels::layer_norm_forward<T>(x.data_ptr<T>(), wp, bp, y.data(), mu.data(), rs.data(), M, N, 1e-5);
      kernels::ref::layer_norm_forward<T>(x.data_ptr<T>(), wp, bp, yr.data(), mur.data(), rsr.data(), M, N, 1e-5);
      EXPECT_LT(max_rel_err(y, yr), tol) << M << "x" << N;
      EXPECT_LT(max_rel_err(rs, rsr), tol) << M << "x" << N;
      std::vector<T> dx(M * N), dxr(M * N), dw(N), dwr(N), db(N), dbr(N);
      kernels::layer_norm_backward<T>(dy.data_ptr<T>(), x.data_ptr<T>(), mur.data(), rsr.data(), wp, dx.data(),
                                      dw.data(), db.data(), M, N);
      kernels::ref::layer_norm_backward<T>(dy.data_ptr<T>(), x.data_ptr<T>(), mur.data(), rsr.data(), wp, dxr.data(),
                                           dwr.data(), dbr.data(), M, N);
      EXPECT_LT(max_rel_err(dx, dxr), 10 * tol) << M << "x" << N;
      EXPECT_LT(max_rel_err(dw, dwr), 10 * tol) << M << "x" << N;
      EXPECT_LT(max_rel_err(db, dbr), 10 * tol) << M << "x" << N;
    }
  }
}
TEST(LayerNormKernels, MatchReference) {
  layer_norm_kernels_vs_ref<float>();
  layer_norm_kernels_vs_ref<double>();
}

TEST(LayerNorm, ByHand) {
  // rows {1,2,3} and {2,4,6}: mean 2 / 4, biased var 2/3 / 8/3
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 2, 4, 6}, {2, 3});
  const auto y = layer_norm(x, {3}, Tensor(), Tensor(), 0.0).to_vector<double>();
  const double a = 1 / std::sqrt(2.0 / 3);
  for (int r = 0; r < 2; ++r) {
    EXPECT_NEAR(y[3 * r + 0], -a, 1e-12);
    EXPECT_NEAR(y[3 * r + 1], 0, 1e-12);
    EXPECT_NEAR(y[3 * r + 2], a, 1e-12);
  }
  Tensor w = from_vector(std::vector<double>{2, 2, 2}, {3}), b = from_vector(std::vector<double>{1, 1, 1}, {3});
  EXPECT_NEAR(layer_norm(x, {3}, w, b, 0.0).to_vector<double>()[2], 2 * a + 1, 1e-12);
  // eps inside the sqrt: a constant row gives 0, not NaN
  EXPECT_EQ(layer_norm(ones({1, 4}, DType::F64), {4}).to_vector<double>(), std::vector<double>(4, 0.0));
  // a group of one element normalises to exactly 0 (PyTorch float32 gives rounding noise)
  EXPECT_EQ(layer_norm(from_vector(std::vector<float>{3.7f, -1.2f}, {2, 1}), {1}).to_vector<float>(),
            (std::vector<float>{0.f, 0.f}));
  // over 2 trailing dims: all 6 elements form one group
  EXPECT_NEAR(layer_norm(reshape(x, {1, 2, 3}), {2, 3}, Tensor(), Tensor(), 0).to_vector<double>()[5],
              (6 - 3) / std::sqrt(16.0 / 6), 1e-12);
}

TEST(LayerNorm, Gradcheck) {
  Generator gen(32);
  for (auto [s, ns] : std::vector<std::pair<Shape, Shape>>{
           {{4, 5}, {5}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 4}}, {{3, 1}, {1}}, {{6}, {6}}}) {
    Tensor x = randn(s, DType::F64, &gen), w = randn(ns, DType::F64, &gen), b = randn(ns, DType::F64, &gen);
    gradcheck("layer_norm affine " + shape_str(s),
              [&](const TensorList& in) { return layer_norm(in[0], ns, in[1], in[2]); }, {x, w, b});
    gradcheck("layer_norm plain " + shape_str(s), [&](const TensorList& in) { return layer_norm(in[0], ns); }, {x});
    gradcheck("layer_norm weight only", [&](const TensorList& in) { return layer_norm(in[0], ns, in[1]); }, {x, w});
    gradcheck("layer_norm bias only",
              [&](const TensorList& in) { return layer_norm(in[0], ns, Tensor(), in[1]); }, {x, b});
  }
}

TEST(LayerNorm, BadInput) {
  Tensor x = zeros({2, 3, 4});
  expect_error([&] { layer_norm(x, {3}); }, "layer_norm", "(2,3,4)");
  expect_error([&] { layer_norm(x, {}); }, "layer_norm");
  expect_error([&] { layer_norm(x, {2, 3, 4, 5}); }, "layer_norm");
  expect_error([&] { layer_norm(x, {4}, zeros({3})); }, "layer_norm", "weight");
  expect_error([&] { layer_norm(x, {4}, Tensor(), zeros({4, 1})); }, "layer_norm", "bias");
  expect_error([&] { layer_norm(x, {4}, zeros({4}, DType::F64)); }, "layer_norm", "dtype");
  expect_error([&] { layer_norm(arange(4), {4}); }, "layer_norm");
}

// ==================================================================== dropout

TEST(Dropout, StatisticsAndScaling) {
  Generator gen(41);
  const int64_t n = 200000;
  for (double p : {0.1, 0.5, 0.8}) {
    Tensor x = full({n}, 2.0, DType::F64);
    const auto y = dropout(x, p, true, &gen).to_vector<double>();
    int64_t kept = 0;
    for (double v : y) {
      if (v != 0) {
        ++kept;
        EXPECT_DOUBLE_EQ(v, 2.0 / (1 - p));  // inverted dropout: survivors scaled by 1/(1-p)
      }
    }
    const double rate = static_cast<double>(kept) / n, sd = std::sqrt(p * (1 - p) / n);
    EXPECT_NEAR(rate, 1 - p, 5 * sd) << "p=" << p;
  }
  // the gradient uses the same mask and scale: dx = g * keep / (1-p)
  Tensor x = randn({1000}, DType::F32, &gen).requires_grad_();
  Tensor y = dropout(x, 0.3, true, &gen);
  y.backward(ones({1000}));
  const auto yv = y.to_vector<float>(), xv = x.to_vector<float>(), gv = x.grad().to_vector<float>();
  for (int i = 0; i < 1000; ++i) {
    const bool kept = yv[i] != 0;
    EXPECT_FLOAT_EQ(gv[i], kept ? 1 / 0.7f : 0.f);
    EXPECT_FLOAT_EQ(yv[i], kept ? xv[i] / 0.7f : 0.f);
  }
}

TEST(Dropout, IdentityAndEdges) {
  Generator gen(42);
  Tensor x = randn({3, 4}, DType::F32, &gen);
  Tensor e = dropout(x, 0.5, false, &gen);
  EXPECT_EQ(e.raw_data(), x.raw_data());  // eval: identity
  EXPECT_EQ(dropout(x, 0.0, true, &gen).to_vector<float>(), x.to_vector<float>());
  Tensor xr = x.clone().requires_grad_();
  Tensor z = dropout(xr, 1.0, true, &gen);
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(12, 0.f));
  z.backward(ones({3, 4}));
  EXPECT_EQ(xr.grad().to_vector<float>(), std::vector<float>(12, 0.f));
  // same seed, same mask
  Generator g1(5), g2(5);
  EXPECT_EQ(dropout(x, 0.4, true, &g1).to_vector<float>(), dropout(x, 0.4, true, &g2).to_vector<float>());
}

TEST(Dropout, Gradcheck) {
  Generator gen(43);
  Tensor x = randn({4, 6}, DType::F64, &gen);
  Generator g(99);
  for (double p : {0.2, 0.5}) {
    gradcheck("dropout p=" + std::to_string(p),
              [&](const TensorList& in) {
                g.seed(99);  // same mask on every call
                return dropout(in[0], p, true, &g);
              },
              {x});
  }
}

TEST(Dropout, BadInput) {
  Tensor x = zeros({3});
  expect_error([&] { dropout(x, -0.1, true); }, "dropout", "-0.1");
  expect_error([&] { dropout(x, 1.5, true); }, "dropout", "1.5");
  expect_error([&] { dropout(x, 1.5, false); }, "dropout");
  expect_error([&] { dropout(arange(3), 0.5, true); }, "dropout");
}

// ==================================================================== embedding

TEST(Embedding, ByHandAndPadding) {
  Tensor w = reshape(arange(8, DType::F64), {4, 2}).clone().requires_grad_();
  Tensor idx = from_vector(std::vector<int64_t>{3, 0, 3, 1, 2, 3}, {2, 3});
  Tensor y = embedding(idx, w, 3);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{6, 7, 0, 1, 6, 7, 2, 3, 4, 5, 6, 7}));
  y.backward(ones({2, 3, 2}, DType::F64));
  // row 3 is padding: no gradient; others counted
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 1, 1, 0, 0}));
  w.zero_grad(true);
  embedding(idx, w, -1).backward(ones({2, 3, 2}, DType::F64));  // -1 wraps to 3
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 1, 1, 0, 0}));
  w.zero_grad(true);
  embedding(idx, w).backward(ones({2, 3, 2}, DType::F64));
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1, 1, 1, 3, 3}));
  // 0-d and empty indices
  EXPECT_EQ(embedding(from_vector(std::vector<int64_t>{2}, {}), w).shape(), (Shape{2}));
  EXPECT_EQ(embedding(empty({0}, DType::I64), w).shape(), (Shape{0, 2}));
}

TEST(Embedding, Gradcheck) {
  Generator gen(51);
  Tensor w = randn({5, 3}, DType::F64, &gen);
  Tensor idx = from_vector(std::vector<int64_t>{0, 4, 4, 2, 1, 0, 3, 3}, {2, 4});
  gradcheck("embedding", [&](const TensorList& in) { return embedding(idx, in[0]); }, {w});
  // With padding_idx the padding row's gradient is zero by definition (not the true derivative),
  // so the finite-difference check uses indices that avoid it; ByHandAndPadding covers the row.
  Tensor idx_nopad = from_vector(std::vector<int64_t>{0, 3, 3, 2, 1, 0}, {6});
  gradcheck("embedding pad", [&](const TensorList& in) { return embedding(idx_nopad, in[0], 4); }, {w});
  gradcheck("embedding pad -1", [&](const TensorList& in) { return embedding(idx_nopad, in[0], -1); }, {w});
}

TEST(Embedding, BadInput) {
  Tensor w = zeros({5, 3});
  expect_error([&] { embedding(from_vector(std::vector<int64_t>{1, 7}, {2}), w); }, "embedding", "7");
  expect_error([&] { embedding(from_vector(std::vector<int64_t>{1, 7}, {2}), w); }, "embedding", "V=5");
  expect_error([&] { embedding(from_vector(std::vector<int64_t>{-1}, {1}), w); }, "embedding", "-1");
  expect_error([&] { embedding(zeros({2}), w); }, "embedding", "int64");
  expect_error([&] { embedding(arange(2), zeros({5})); }, "embedding");
  expect_error([&] { embedding(arange(2), w, 5); }, "embedding", "padding_idx");
  expect_error([&] { embedding(arange(2), w, -6); }, "embedding", "padding_idx");
  expect_error([&] { embedding(arange(2), zeros({5, 3}, DType::I64)); }, "embedding");
}
