// debug.h: the opt-in non-finite checks on the forward pass (every recorded op), on backward
// nodes, and on the recurrent step() fast path; off by default.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/check.h"
#include "seqnn/debug.h"
#include "seqnn/nn/rnn.h"
#include "seqnn/nn/rnn_cell.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"

using namespace seqnn;
using seqnn::testutil::expect_error;

namespace {
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

Tensor with_value_at(Tensor t, int64_t flat, float v) {
  t = t.clone();
  t.data_ptr<float>()[flat] = v;
  return t;
}
}  // namespace

TEST(CheckFinite, OffByDefaultLetsNaNThrough) {
  ASSERT_FALSE(check_finite_enabled());
  Tensor x = with_value_at(randn({2, 3}), 4, kNaN);
  Tensor y = tanh(x);
  EXPECT_TRUE(std::isnan(y.data_ptr<float>()[4]));
}

TEST(CheckFinite, NamesOpArgumentShapeIndexAndValue) {
  const Tensor x = with_value_at(randn({2, 3}), 4, kNaN);  // index [1,1]
  try {
    check_finite(x, "myop", "input 0");
    FAIL() << "no Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("myop: input 0 of shape (2,3)"), std::string::npos) << m;
    EXPECT_NE(m.find("(nan) at [1,1]"), std::string::npos) << m;
  }
  expect_error([&] { check_finite(with_value_at(randn({4}), 3, -kInf), "o", "x"); }, "o", "(-inf) at [3]");
  // finite, integer and undefined tensors pass
  check_finite(randn({3, 3}), "o", "x");
  check_finite(arange(5), "o", "x");
  check_finite(Tensor(), "o", "x");
}

TEST(CheckFinite, ForwardBlamesFirstConsumerOfABadInput) {
  CheckFiniteGuard on;
  const Tensor x = with_value_at(randn({3, 4}), 5, kNaN);
  expect_error([&] { (void)relu(x); }, "relu", "input 0 of shape (3,4)");
  // also under NoGradGuard (inference)
  NoGradGuard ng;
  expect_error([&] { (void)exp(x); }, "exp", "input 0");
}

TEST(CheckFinite, ForwardBlamesTheOpThatMakesANonFiniteOutput) {
  CheckFiniteGuard on;
  Tensor x = full({2, 2}, 100.0);  // exp(100) overflows float32
  expect_error([&] { (void)exp(x); }, "exp", "output 0 of shape (2,2) holds a non-finite value (inf)");
  Tensor z = zeros({3});
  expect_error([&] { (void)log(z); }, "log", "(-inf)");
}

TEST(CheckFinite, BackwardChecksTheGradientsEachNodeReturns) {
  Tensor x = full({3}, 0.0).requires_grad_();
  Tensor y = sqrt(x);  // dy/dx = 1/(2 sqrt x) = inf at 0; the forward is finite
  CheckFiniteGuard on;
  expect_error([&] { y.sum().backward(); }, "backward of sqrt", "gradient for input 0 of shape (3)");
}

TEST(CheckFinite, RecurrentLayerNamesTheInput) {
  CheckFiniteGuard on;
  nn::LSTM lstm(nn::LSTMOptions(3, 4));
  const Tensor x = with_value_at(randn({5, 2, 3}), 2 * 6 + 1 * 3 + 0, kNaN);  // [2,1,0]
  expect_error([&] { (void)lstm.forward(x); }, "recurrent_layer", "of shape (5,2,3) holds a non-finite value (nan) at [2,1,0]");
  // a NaN weight is caught as well
  lstm.named_parameters()["weight_hh_l0"].data_ptr<float>()[0] = kInf;
  expect_error([&] { (void)lstm.forward(randn({5, 2, 3})); }, "recurrent_layer", "(inf)");
}

TEST(CheckFinite, StepFastPathChecksInputAndState) {
  CheckFiniteGuard on;
  for (bool cell : {false, true}) {
    auto run = [&](const Tensor& x) {
      if (cell) {
        nn::LSTMCell m(nn::LSTMCellOptions(3, 16));
        auto s = m.initial_state(2);
        (void)m.step(x, s);
      } else {
        nn::LSTM m(nn::LSTMOptions(3, 16));
        auto s = m.initial_state(2);
        (void)m.step(x, s);
      }
    };
    run(randn({2, 3}));  // finite passes
    expect_error([&] { run(with_value_at(randn({2, 3}), 1, kNaN)); }, cell ? "LSTMCell.step" : "LSTM.step", "x_t of shape (2,3) holds a non-finite value (nan) at [0,1]");
  }
}
