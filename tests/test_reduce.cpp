// Reductions (sum, mean, max, argmax) and softmax / log_softmax: kernels vs reference,
// hand-computed cases, gradient checks, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor vec(std::vector<double> v, Shape s) { return from_vector(v, s); }

// t * s, through raw data (keeps these tests independent of the elementwise family)
Tensor scaled(const Tensor& t, double s) {
  std::vector<double> v = t.to_vector<double>();
  for (double& e : v) e *= s;
  return from_vector(v, t.shape()).to(t.dtype());
}
}  // namespace

// ==================================================================== kernels vs reference

template <class T>
void reduce_kernels_vs_ref() {
  Generator gen(7);
  const DType dt = dtype_of<T>::value;
  for (auto [O, R, I] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {3, 7, 1}, {5, 1, 9}, {2, 33, 300}, {1, 100000, 1}, {2, 40000, 1}, {64, 65, 3}}) {
    Tensor x = randn({O, R, I}, dt, &gen);
    std::vector<T> y(O * I), yr(O * I), v(O * I), vr(O * I);
    std::vector<int64_t> ix(O * I), ixr(O * I);
    kernels::sum_reduce<T>(x.data_ptr<T>(), y.data(), O, R, I, 0.5);
    kernels::ref::sum_reduce<T>(x.data_ptr<T>(), yr.data(), O, R, I, 0.5);
    EXPECT_LT(max_rel_err(y, yr), (std::is_same_v<T, float> ? 1e-6 : 1e-12)) << O << "," << R << "," << I;
    kernels::max_reduce<T>(x.data_ptr<T>(), v.data(), ix.data(), O, R, I);
    kernels::ref::max_reduce<T>(x.data_ptr<T>(), vr.data(), ixr.data(), O, R, I);
    EXPECT_EQ(v, vr);
    EXPECT_EQ(ix, ixr);
  }
  // ties and NaN: first maximum, NaN wins (first NaN)
  std::vector<T> x = {1, 3, 3, 2, std::numeric_limits<T>::quiet_NaN(), 5, std::numeric_limits<T>::quiet_NaN()};
  T v;
  int64_t i;
  kernels::max_reduce<T>(x.data(), &v, &i, 1, 4, 1);
  EXPECT_EQ(i, 1);
  kernels::max_reduce<T>(x.data(), &v, &i, 1, 7, 1);
  EXPECT_EQ(i, 4);
  EXPECT_TRUE(std::isnan(v));
  T v2[2];
  int64_t i2[2];
  // columns: x as (1,3,2): col0 = {1,3,NaN}, col1 = {3,2,5}
  kernels::max_reduce<T>(x.data(), v2, i2, 1, 3, 2);
  EXPECT_EQ(i2[0], 2);
  EXPECT_EQ(i2[1], 2);
  EXPECT_EQ(v2[1], T(5));
}
TEST(ReduceKernels, MatchReference) {
  reduce_kernels_vs_ref<float>();
  reduce_kernels_vs_ref<double>();
}

template <class T>
void softmax_kernels_vs_ref() {
  Generator gen(11);
  const DType dt = dtype_of<T>::value;
  for (auto [O, D, I] :
       std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {4, 9, 1}, {3, 5, 7}, {2, 17, 130}, {70, 300, 1}}) {
    for (bool log : {false, true}) {
      Tensor x = scaled(randn({O, D, I}, dt, &gen), 4.0);
      Tensor g = randn({O, D, I}, dt, &gen);
      const int64_t n = O * D * I;
      std::vector<T> y(n), yr(n), dx(n), dxr(n);
      kernels::softmax_forward<T>(x.data_ptr<T>(), y.data(), O, D, I, log);
      kernels::ref::softmax_forward<T>(x.data_ptr<T>(), yr.data(), O, D, I, log);
      const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-13;
      EXPECT_LT(max_rel_err(y, yr), tol) << O << "," << D << "," << I << " log=" << log;
      kernels::softmax_backward<T>(yr.data(), g.data_ptr<T>(), dx.data(), O, D, I, log);
      kernels::ref::softmax_backward<T>(yr.data(), g.data_ptr<T>(), dxr.data(), O, D, I, log);
      EXPECT_LT(max_rel_err(dx, dxr), 10 * tol) << O << "," << D << "," << I << " log=" << log;
    }
  }
}
TEST(SoftmaxKernels, MatchReference) {
  softmax_kernels_vs_ref<float>();
  softmax_kernels_vs_ref<double>();
}

// ==================================================================== hand-computed cases

TEST(Reduce, SumMeanByHand) {
  Tensor x = vec({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(sum(x).item(), 21.0);
  EXPECT_EQ(sum(x).shape(), Shape{});
  EXPECT_EQ(x.sum().item(), 21.0);
  EXPECT_EQ(x.mean().item(), 3.5);
  EXPECT_EQ(sum(x, {0}).to_vector<double>(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(sum(x, {-1}).to_vector<double>(), (std::vector<double>{6, 15}));
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(mean(x, {0}).to_vector<double>(), (std::vector<double>{2.5, 3.5, 4.5}));
  EXPECT_EQ(mean(x, {}, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(sum(x, {0, 1}).item(), 21.0);
  // non-adjacent dims of a 3-d tensor: (2,3,2) over {0,2}
  Tensor y = reshape(arange(12, DType::F64), {2, 3, 2});
  EXPECT_EQ(sum(y, {0, 2}).to_vector<double>(), (std::vector<double>{0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11}));
  EXPECT_EQ(sum(y, {2, 0}, true).shape(), (Shape{1, 3, 1}));
  // non-contiguous input
  EXPECT_EQ(sum(transpose(x, 0, 1), {1}).to_vector<double>(), (std::vector<double>{5, 7, 9}));
  // empty: sum 0, mean NaN (PyTorch)
  Tensor e = empty({0, 3}, DType::F64);
  EXPECT_EQ(sum(e, {0}).to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(std::isnan(mean(e).item()));
  // 0-d tensors accept dim 0 / -1
  EXPECT_EQ(sum(scalar_tensor(2.5, DType::F64), {0}).item(), 2.5);
  EXPECT_EQ(mean(scalar_tensor(2.5, DType::F64), {-1}, true).shape(), Shape{});
}

TEST(Reduce, MaxByHand) {
  Tensor x = vec({1, 5, 5, 2, 7, 0}, {2, 3});
  MaxResult r = max(x, 1);
  EXPECT_EQ(r.values.to_vector<double>(), (std::vector<double>{5, 7}));
  EXPECT_EQ(r.indices.to_vector<int64_t>(), (std::vector<int64_t>{1, 1}));  // first of the tie
  EXPECT_EQ(r.indices.dtype(), DType::I64);
  EXPECT_EQ(max(x, 0, true).values.shape(), (Shape{1, 3}));
  EXPECT_EQ(argmax(x, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(argmax(x, -1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(max(x).item(), 7.0);
  // gradient to the returned index
  Tensor xr = x.clone().requires_grad_();
  max(xr, 1).values.backward(vec({10, 20}, {2}));
  EXPECT_EQ(xr.grad().to_vector<double>(), (std::vector<double>{0, 10, 0, 0, 20, 0}));
  // max over all: gradient split evenly among ties (PyTorch 1.13)
  Tensor t = vec({3, 1, 3, 3}, {4}).requires_grad_();
  max(t).backward();
  const double third = 1.0 / 3;
  EXPECT_EQ(t.grad().to_vector<double>(), (std::vector<double>{third, 0, third, third}));
  // NaN propagates; gradient goes to the NaNs
  Tensor n = vec({1, kNaN, 4, kNaN}, {4}).requires_grad_();
  Tensor m = max(n);
  EXPECT_TRUE(std::isnan(m.item()));
  m.backward();
  EXPECT_EQ(n.grad().to_vector<double>(), (std::vector<double>{0, 0.5, 0, 0.5}));
  EXPECT_EQ(argmax(vec({1, kNaN, 4, kNaN}, {4}), 0).item(), 1.0);
}

TEST(Softmax, ByHand) {
  Tensor x = vec({0, std::log(3.0), 1000, 1000}, {2, 2});
  EXPECT_EQ(softmax(x, 1).shape(), (Shape{2, 2}));
  const auto s = softmax(x, 1).to_vector<double>();
  EXPECT_NEAR(s[0], 0.25, 1e-15);
  EXPECT_NEAR(s[1], 0.75, 1e-15);
  EXPECT_NEAR(s[2], 0.5, 1e-15);  // large logits stay finite
  const auto ls = log_softmax(x, -1).to_vector<double>();
  EXPECT_NEAR(ls[3], std::log(0.5), 1e-15);
  // over dim 0 (general path)
  const auto s0 = softmax(x, 0).to_vector<double>();
  EXPECT_NEAR(s0[0] + s0[2], 1.0, 1e-15);
  EXPECT_NEAR(s0[2], 1.0, 1e-15);
  // 0-d and empty
  EXPECT_EQ(softmax(scalar_tensor(3.0, DType::F64), 0).item(), 1.0);
  EXPECT_EQ(log_softmax(empty({0, 4}), 1).shape(), (Shape{0, 4}));
}

// ==================================================================== gradient checks

TEST(Reduce, Gradcheck) {
  Generator gen(3);
  Tensor x = randn({3, 4, 5}, DType::F64, &gen);
  for (auto dims : std::vector<std::vector<int64_t>>{{}, {0}, {1}, {2}, {-1}, {0, 2}, {0, 1}, {1, 2}, {0, 1, 2}})
    for (bool keep : {false, true}) {
      gradcheck("sum", [&](const TensorList& in) { return sum(in[0], dims, keep); }, {x});
      gradcheck("mean", [&](const TensorList& in) { return mean(in[0], dims, keep); }, {x});
    }
  gradcheck("sum()", [](const TensorList& in) { return sum(in[0]); }, {x});
  gradcheck("mean()", [](const TensorList& in) { return mean(in[0]); }, {x});
  gradcheck("sum(transposed)", [](const TensorList& in) { return sum(transpose(in[0], 0, 2), {1}); }, {x});
  for (int64_t d : {0, 1, 2, -1})
    for (bool keep : {false, true})
      gradcheck("max(dim)", [&](const TensorList& in) { return max(in[0], d, keep).values; }, {x});
  gradcheck("max()", [](const TensorList& in) { return max(in[0]); }, {x});
  gradcheck("sum(1-d)", [](const TensorList& in) { return sum(in[0], {0}); }, {randn({7}, DType::F64, &gen)});
}

TEST(Softmax, Gradcheck) {
  Generator gen(5);
  for (Shape s : {Shape{3, 4, 5}, Shape{1, 6}, Shape{7}, Shape{2, 1, 3}}) {
    Tensor x = randn(s, DType::F64, &gen);
    for (int64_t d = -1; d < static_cast<int64_t>(s.size()); ++d) {
      gradcheck("softmax", [&](const TensorList& in) { return softmax(in[0], d); }, {x});
      gradcheck("log_softmax", [&](const TensorList& in) { return log_softmax(in[0], d); }, {x});
    }
  }
  Tensor x = randn({4, 3}, DType::F64, &gen);
  gradcheck("softmax(transposed)", [](const TensorList& in) { return softmax(transpose(in[0], 0, 1), 1); }, {x});
}

// ==================================================================== bad input

TEST(Reduce, BadInput) {
  Tensor x = zeros({2, 3});
  expect_error([&] { sum(x, {0, 0}); }, "sum");
  expect_error([&] { sum(x, {1, -1}); }, "sum");
  expect_error([&] { mean(x, {2}); }, "mean");
  expect_error([&] { sum(arange(3)); }, "sum");
  expect_error([&] { max(x, 2); }, "max");
  expect_error([&] { max(empty({0, 3})); }, "max");
  expect_error([&] { max(empty({0, 3}), 0); }, "max");
  expect_error([&] { argmax(empty({2, 0}), 1); }, "argmax");
  expect_error([&] { argmax(arange(3), 0); }, "argmax");
  EXPECT_EQ(max(empty({0, 3}), 1).values.shape(), (Shape{0}));  // empty but a non-empty reduced dim
  expect_error([&] { softmax(x, 2); }, "softmax");
  expect_error([&] { log_softmax(x, -3); }, "log_softmax");
  expect_error([&] { softmax(arange(3), 0); }, "softmax");
}
