// Losses: fused cross-entropy kernels vs reference, hand cases, gradient checks, bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/loss.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {
// Targets in [0,C) with every third one set to ignore (-100 here).
Tensor targets(const Shape& s, int64_t C, Generator& gen, bool with_ignore = true) {
  Tensor t = randint(0, C, s, &gen);
  int64_t* p = t.data_ptr<int64_t>();
  if (with_ignore)
    for (int64_t i = 0; i < t.numel(); i += 3) p[i] = -100;
  return t;
}

// Rows of a probability distribution over dim 1 of shape s.
Tensor prob_targets(const Shape& s, DType dt, Generator& gen) {
  Tensor u = rand(s, DType::F64, &gen);
  std::vector<double> v = u.to_vector<double>();
  const int64_t N = s[0], C = s[1], K = numel_of(s) / (N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double tot = 0;
      for (int64_t c = 0; c < C; ++c) tot += v[(n * C + c) * K + k];
      for (int64_t c = 0; c < C; ++c) v[(n * C + c) * K + k] /= tot;
    }
  return from_vector(v, s).to(dt);
}
}  // namespace

// ==================================================================== kernels vs reference

template <class T>
void ce_kernels_vs_ref() {
  Generator gen(71);
  const DType dt = dtype_of<T>::value;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  for (auto [N, C, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {5, 7, 1}, {3, 4, 6}, {64, 300, 1}}) {
    Tensor x = randn({N, C, K}, dt, &gen), w = rand({C}, dt, &gen);
    Tensor t = targets({N, K}, C, gen), pt = prob_targets({N, C, K}, dt, gen);
    Tensor grow = randn({N, K}, dt, &gen);
    const int64_t R = N * K;
    for (bool weighted : {false, true})
      for (double ls : {0.0, 0.1}) {
        const T* wp = weighted ? w.data_ptr<T>() : nullptr;
        std::vector<T> lse(R), lser(R), loss(R), lossr(R), rw(R), rwr(R);
        kernels::ce_index_forward<T>(x.data_ptr<T>(), t.data_ptr<int64_t>(), wp, N, C, K, -100, ls, lse.data(),
                                     loss.data(), rw.data());
        kernels::ref::ce_index_forward<T>(x.data_ptr<T>(), t.data_ptr<int64_t>(), wp, N, C, K, -100, ls, lser.data(),
                                          lossr.data(), rwr.data());
        EXPECT_LT(max_rel_err(loss, lossr), tol);
        EXPECT_LT(max_rel_err(lse, lser), tol);
        EXPECT_EQ(rw, rwr);
        std::vector<T> dx(N * C * K), dxr(N * C * K), dt_(N * C * K), dtr(N * C * K);
        kernels::ce_index_backward<T>(x.data_ptr<T>(), t.data_ptr<int64_t>(), wp, N, C, K, -100, ls, lser.data(),
                                      grow.data_ptr<T>(), 1, dx.data());
        kernels::ref::ce_index_backward<T>(x.data_ptr<T>(), t.data_ptr<int64_t>(), wp, N, C, K, -100, ls, lser.data(),
                                           grow.data_ptr<T>(), 1, dxr.data());
        EXPECT_LT(max_rel_err(dx, dxr), tol);
        kernels::ce_prob_forward<T>(x.data_ptr<T>(), pt.data_ptr<T>(), wp, N, C, K, ls, lse.data(), loss.data());
        kernels::ref::ce_prob_forward<T>(x.data_ptr<T>(), pt.data_ptr<T>(), wp, N, C, K, ls, lser.data(),
                                         lossr.data());
        EXPECT_LT(max_rel_err(loss, lossr), tol);
        kernels::ce_prob_backward<T>(x.data_ptr<T>(), pt.data_ptr<T>(), wp, N, C, K, ls, lser.data(),
                                     grow.data_ptr<T>(), 0, dx.data(), dt_.data());
        kernels::ref::ce_prob_backward<T>(x.data_ptr<T>(), pt.data_ptr<T>(), wp, N, C, K, ls, lser.data(),
                                          grow.data_ptr<T>(), 0, dxr.data(), dtr.data());
        EXPECT_LT(max_rel_err(dx, dxr), tol);
        EXPECT_LT(max_rel_err(dt_, dtr), tol);
      }
  }
  // BCE: stable form vs the direct formula on moderate logits
  Tensor x = randn({4, 5}, dt, &gen), y = rand({4, 5}, dt, &gen), pw = rand({5}, dt, &gen);
  std::vector<T> a(20), b(20);
  for (const T* p : {static_cast<const T*>(nullptr), static_cast<const T*>(pw.data_ptr<T>())}) {
    kernels::bce_logits_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), p, 20, 5, a.data());
    kernels::ref::bce_logits_forward<T>(x.data_ptr<T>(), y.data_ptr<T>(), p, 20, 5, b.data());
    EXPECT_LT(max_rel_err(a, b), 10 * tol);
  }
}
TEST(LossKernels, MatchReference) {
  ce_kernels_vs_ref<float>();
  ce_kernels_vs_ref<double>();
}

// ==================================================================== hand-computed cases

TEST(Loss, ByHand) {
  // uniform logits: cross entropy = log C
  Tensor x = zeros({2, 4}, DType::F64);
  Tensor t = from_vector(std::vector<int64_t>{1, 3}, {2});
  EXPECT_NEAR(cross_entropy(x, t).item(), std::log(4.0), 1e-14);
  EXPECT_NEAR(cross_entropy(x, t, CrossEntropyOptions().reduction(Reduction::Sum)).item(), 2 * std::log(4.0), 1e-14);
  EXPECT_EQ(cross_entropy(x, t, CrossEntropyOptions().reduction(Reduction::None)).shape(), (Shape{2}));
  // weighted mean divides by the weights of the targets: (w1 l + w3 l) / (w1 + w3) = l
  Tensor w = from_vector(std::vector<double>{1, 2, 3, 4}, {4});
  EXPECT_NEAR(cross_entropy(x, t, CrossEntropyOptions().weight(w)).item(), std::log(4.0), 1e-14);
  // nll picks -x[t]
  Tensor lp = from_vector(std::vector<double>{-1, -2, -3, -4, -5, -6}, {2, 3});
  Tensor t2 = from_vector(std::vector<int64_t>{2, 0}, {2});
  EXPECT_DOUBLE_EQ(nll_loss(lp, t2).item(), 3.5);
  EXPECT_DOUBLE_EQ(nll_loss(lp, t2, NLLLossOptions().ignore_index(0)).item(), 3.0);
  // all targets ignored with mean: NaN (PyTorch), zero gradient
  Tensor xi = zeros({2, 3}, DType::F64).requires_grad_();
  Tensor ign = from_vector(std::vector<int64_t>{-100, -100}, {2});
  Tensor l = cross_entropy(xi, ign);
  EXPECT_TRUE(std::isnan(l.item()));
  l.backward();
  EXPECT_EQ(xi.grad().to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_TRUE(std::isnan(nll_loss(xi, ign).item()));
  EXPECT_EQ(cross_entropy(xi, ign, CrossEntropyOptions().reduction(Reduction::Sum)).item(), 0.0);
  // unbatched (C) input with a 0-d target
  EXPECT_NEAR(cross_entropy(zeros({5}, DType::F64), from_vector(std::vector<int64_t>{2}, {})).item(), std::log(5.0),
              1e-14);
  // mse and bce
  Tensor a = from_vector(std::vector<double>{1, 2, 3}, {3}), b = from_vector(std::vector<double>{1, 0, 0}, {3});
  EXPECT_DOUBLE_EQ(mse_loss(a, b).item(), 13.0 / 3);
  EXPECT_DOUBLE_EQ(mse_loss(a, b, Reduction::Sum).item(), 13.0);
  EXPECT_NEAR(binary_cross_entropy_with_logits(zeros({2}, DType::F64), from_vector(std::vector<double>{0, 1}, {2}))
                  .item(),
              std::log(2.0), 1e-14);
  // stable for huge logits
  Tensor big = from_vector(std::vector<double>{1000, -1000}, {2});
  EXPECT_NEAR(binary_cross_entropy_with_logits(big, from_vector(std::vector<double>{0, 1}, {2}), Reduction::Sum)
                  .item(),
              2000.0, 1e-9);
}

// ==================================================================== gradient checks

TEST(Loss, GradcheckCrossEntropy) {
  Generator gen(72);
  for (Shape s : {Shape{4, 5}, Shape{3, 4, 2}, Shape{2, 3, 2, 2}, Shape{6}}) {
    const int64_t C = s.size() == 1 ? s[0] : s[1];
    Shape ts;
    if (s.size() > 1) {
      ts = s;
      ts.erase(ts.begin() + 1);
    }
    Tensor x = randn(s, DType::F64, &gen), w = rand({C}, DType::F64, &gen);
    Tensor t = s.size() == 1 ? from_vector(std::vector<int64_t>{2}, {}) : targets(ts, C, gen);
    Tensor pt = s.size() == 1 ? prob_targets({1, C}, DType::F64, gen).reshape({C}) : prob_targets(s, DType::F64, gen);
    for (Reduction red : {Reduction::None, Reduction::Mean, Reduction::Sum})
      for (double ls : {0.0, 0.1})
        for (bool weighted : {false, true}) {
          CrossEntropyOptions o;
          o.reduction(red).label_smoothing(ls);
          if (weighted) o.weight(w);
          const std::string tag = shape_str(s) + " red " + std::to_string(static_cast<int>(red)) + " ls " +
                                  std::to_string(ls) + (weighted ? " weighted" : "");
          gradcheck("cross_entropy " + tag, [&](const TensorList& in) { return cross_entropy(in[0], t, o); }, {x});
          gradcheck("cross_entropy prob " + tag,
                    [&](const TensorList& in) { return cross_entropy(in[0], in[1], o); }, {x, pt});
          if (ls == 0)
            gradcheck("nll_loss " + tag, [&](const TensorList& in) { return nll_loss(in[0], t, o); }, {x});
        }
  }
}

TEST(Loss, GradcheckMseBce) {
  Generator gen(73);
  for (Shape s : {Shape{4, 5}, Shape{3, 1, 2}, Shape{7}, Shape{}}) {
    Tensor x = randn(s, DType::F64, &gen), y = randn(s, DType::F64, &gen), p = rand(s, DType::F64, &gen);
    const int64_t L = s.empty() ? 1 : s.back();
    Tensor pw = uniform({L}, 0.5, 3.0, DType::F64, &gen);
    for (Reduction red : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
      gradcheck("mse " + shape_str(s), [&](const TensorList& in) { return mse_loss(in[0], in[1], red); }, {x, y});
      gradcheck("bce " + shape_str(s),
                [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], red); }, {x, p});
      gradcheck("bce pos_weight " + shape_str(s),
                [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], red, pw); },
                {x, p});
    }
  }
}

// ==================================================================== bad input

TEST(Loss, BadInput) {
  Tensor x = zeros({3, 5});
  Tensor t = from_vector(std::vector<int64_t>{0, 1, 2}, {3});
  expect_error([&] { cross_entropy(x, from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4})); }, "cross_entropy",
               "target (4) must be (N=3) for input (3,5)");
  expect_error([&] { cross_entropy(x, from_vector(std::vector<int64_t>{0, 7, 2}, {3})); }, "cross_entropy", "7");
  expect_error([&] { cross_entropy(x, from_vector(std::vector<int64_t>{0, 7, 2}, {3})); }, "cross_entropy", "C=5");
  expect_error([&] { cross_entropy(x, from_vector(std::vector<int64_t>{0, -1, 2}, {3})); }, "cross_entropy", "-1");
  expect_error([&] { cross_entropy(x, zeros({3})); }, "cross_entropy", "int64");
  expect_error([&] { cross_entropy(x, t, CrossEntropyOptions().label_smoothing(1.5)); }, "cross_entropy",
               "label_smoothing");
  expect_error([&] { cross_entropy(x, t, CrossEntropyOptions().weight(zeros({4}))); }, "cross_entropy", "weight");
  expect_error([&] { cross_entropy(x, t, CrossEntropyOptions().weight(zeros({5}, DType::F64))); },
               "cross_entropy", "dtype");
  expect_error([&] { cross_entropy(x, zeros({3, 5}), CrossEntropyOptions().ignore_index(1)); },
               "cross_entropy", "ignore_index");
  expect_error([&] { cross_entropy(x, zeros({3, 5}, DType::F64)); }, "cross_entropy", "dtype");
  expect_error([&] { cross_entropy(zeros({}), from_vector(std::vector<int64_t>{0}, {})); }, "cross_entropy");
  expect_error([&] { cross_entropy(zeros({2, 3, 4}), from_vector(std::vector<int64_t>{0, 1}, {2})); },
               "cross_entropy", "(N=2,4)");
  expect_error([&] { nll_loss(x, t, NLLLossOptions().label_smoothing(0.1)); }, "nll_loss", "label_smoothing");
  expect_error([&] { nll_loss(x, from_vector(std::vector<int64_t>{0, 5, 2}, {3})); }, "nll_loss", "5");
  expect_error([&] { nll_loss(arange(15).reshape({3, 5}), t); }, "nll_loss");
  expect_error([&] { mse_loss(x, zeros({3, 4})); }, "mse_loss", "(3,4)");
  expect_error([&] { mse_loss(x, zeros({3, 5}, DType::F64)); }, "mse_loss", "dtype");
  expect_error([&] { binary_cross_entropy_with_logits(x, zeros({5, 3})); }, "binary_cross_entropy_with_logits");
  expect_error([&] { binary_cross_entropy_with_logits(x, zeros({3, 5}), Reduction::Mean, zeros({3})); },
               "binary_cross_entropy_with_logits", "pos_weight");
}
