// Elementwise family: kernels vs their references, gradient checks of every differentiable
// op (float64, broadcasting included), hand-computed cases and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/elementwise.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;
namespace k = seqnn::kernels;

namespace {

// |a - b| <= tol * (1 + |b|) elementwise, NaN only where the other is NaN.
template <class T>
void expect_near_all(const std::vector<T>& a, const std::vector<T>& b, double tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    if (std::isnan(x) || std::isnan(y)) {
      if (std::isnan(x) != std::isnan(y) && bad++ < 5) ADD_FAILURE() << what << " [" << i << "] " << x << " vs " << y;
      continue;
    }
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y && bad++ < 5) ADD_FAILURE() << what << " [" << i << "] " << x << " vs " << y;
      continue;
    }
    if (!(std::fabs(x - y) <= tol * (1 + std::fabs(y))) && bad++ < 5)
      ADD_FAILURE() << what << " [" << i << "] " << x << " vs ref " << y;
  }
}

template <class T>
std::vector<T> random_values(int64_t n, Generator& gen, double lo, double hi) {
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(gen.uniform(lo, hi));
  return v;
}

// randn values pushed at least `gap` away from each kink point (for relu, abs, clamp, ...).
Tensor randn_away(const Shape& shape, Generator& gen, std::vector<double> kinks, double gap = 0.05) {
  Tensor t = randn(shape, DType::F64, &gen);
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    for (double c : kinks)
      if (std::fabs(p[i] - c) < gap) p[i] = c + (p[i] >= c ? gap : -gap);
  return t;
}

Tensor positive(const Shape& shape, Generator& gen) { return uniform(shape, 0.3, 2.5, DType::F64, &gen); }

const char* const kBinaryNames[] = {"add", "sub", "mul", "div", "pow"};
const char* const kUnaryNames[] = {"neg",  "exp",      "log", "sqrt", "abs",  "tanh", "sigmoid",
                                   "relu", "gelu",     "gelu_tanh", "elu", "pow", "clamp"};

std::vector<std::pair<Shape, Shape>> broadcast_cases() {
  return {{{2, 3, 4}, {2, 3, 4}},   {{5, 7}, {7}},           {{5, 7}, {5, 1}},         {{3, 1, 4}, {5, 4}},
          {{}, {4, 3}},             {{4, 3}, {}},            {{1}, {6}},               {{2, 1, 3, 1}, {1, 4, 1, 5}},
          {{0, 3}, {3}},            {{300, 257}, {257}},     {{70001}, {70001}},       {{70001}, {1}},
          {{4, 1, 3000}, {4, 20, 1}}, {{2, 3, 1, 5}, {3, 4, 5}}, {{6, 1}, {1, 9}}};
}

}  // namespace

// ==================================================================== kernels vs ref

template <class T>
void check_binary_kernels(double tol) {
  Generator gen(7);
  for (auto [sa, sb] : broadcast_cases()) {
    const Shape out = broadcast_shapes(sa, sb, "test");
    const k::Broadcast L = k::make_broadcast(out, {&sa, &sb});
    for (int op = 0; op < 5; ++op) {
      const bool is_pow = op == 4;
      auto a = random_values<T>(numel_of(sa), gen, is_pow ? 0.1 : -2.0, 2.0);
      auto b = random_values<T>(numel_of(sb), gen, is_pow ? -2.0 : 0.5, 2.0);
      std::vector<T> fast(numel_of(out)), ref(numel_of(out));
      k::binary<T>(static_cast<k::BinaryOp>(op), L, a.data(), b.data(), fast.data());
      k::ref::binary<T>(static_cast<k::BinaryOp>(op), L, a.data(), b.data(), ref.data());
      expect_near_all(fast, ref, tol, std::string(kBinaryNames[op]) + " " + shape_str(sa) + " " + shape_str(sb));
    }
  }
}

TEST(ElementwiseKernels, BinaryMatchesRef) {
  check_binary_kernels<float>(1e-6);
  check_binary_kernels<double>(1e-14);
}

template <class T>
void check_compare_where_kernels() {
  Generator gen(8);
  for (auto [sa, sb] : broadcast_cases()) {
    const Shape out = broadcast_shapes(sa, sb, "test");
    const k::Broadcast L = k::make_broadcast(out, {&sa, &sb});
    const int64_t na = numel_of(sa), nb = numel_of(sb);
    std::unique_ptr<T[]> a(new T[na + 1]), b(new T[nb + 1]);  // not vector<bool>: needs T*
    for (int64_t i = 0; i < na; ++i) a[i] = static_cast<T>(gen.randint(0, 3));  // small range: many ties
    for (int64_t i = 0; i < nb; ++i) b[i] = static_cast<T>(gen.randint(0, 3));
    for (int op = 0; op < 6; ++op) {
      std::unique_ptr<bool[]> fast(new bool[numel_of(out) + 1]), ref(new bool[numel_of(out) + 1]);
      k::compare<T>(static_cast<k::CompareOp>(op), L, a.get(), b.get(), fast.get());
      k::ref::compare<T>(static_cast<k::CompareOp>(op), L, a.get(), b.get(), ref.get());
      for (int64_t i = 0; i < numel_of(out); ++i)
        ASSERT_EQ(fast[i], ref[i]) << "compare " << op << " " << shape_str(sa) << " " << shape_str(sb) << " @" << i;
    }
    // where(cond: sa, a: sb, b: sa): three operands
    const k::Broadcast L3 = k::make_broadcast(out, {&sa, &sb, &sa});
    std::unique_ptr<bool[]> cond(new bool[numel_of(sa) + 1]);
    for (int64_t i = 0; i < numel_of(sa); ++i) cond[i] = gen.bernoulli(0.5);
    std::unique_ptr<T[]> bb(new T[na + 1]);
    for (int64_t i = 0; i < na; ++i) bb[i] = static_cast<T>(gen.randint(0, 100));
    std::unique_ptr<T[]> fast(new T[numel_of(out) + 1]), ref(new T[numel_of(out) + 1]);
    k::where<T>(L3, cond.get(), b.get(), bb.get(), fast.get());
    k::ref::where<T>(L3, cond.get(), b.get(), bb.get(), ref.get());
    for (int64_t i = 0; i < numel_of(out); ++i)
      ASSERT_EQ(fast[i], ref[i]) << "where " << shape_str(sa) << " " << shape_str(sb) << " @" << i;
  }
}

TEST(ElementwiseKernels, CompareAndWhereMatchRef) {
  check_compare_where_kernels<float>();
  check_compare_where_kernels<double>();
  check_compare_where_kernels<int64_t>();
  check_compare_where_kernels<bool>();
}

template <class T>
void check_unary_kernels(double tol) {
  Generator gen(9);
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{37}, int64_t{100003}}) {
    for (int op = 0; op < 13; ++op) {
      const auto u = static_cast<k::UnaryOp>(op);
      const bool pos = u == k::UnaryOp::Log || u == k::UnaryOp::Sqrt || u == k::UnaryOp::Pow;
      auto x = random_values<T>(n, gen, pos ? 0.05 : -6.0, 6.0);
      if (n > 4 && !pos) x[0] = T(0), x[1] = T(-0.5), x[2] = T(1.5);  // kinks and clamp bounds
      auto dy = random_values<T>(n, gen, -1.0, 1.0);
      for (double param : {0.0, 1.0, 2.0, 0.5, -1.5, 3.0}) {
        k::UnaryParams p;
        p.alpha = param + 0.25;
        p.exponent = param;
        p.lo = -0.5;
        p.hi = param + 1.0;
        std::vector<T> yf(n), yr(n), df(n), dr(n);
        k::unary_forward<T>(u, p, n, x.data(), yf.data());
        k::ref::unary_forward<T>(u, p, n, x.data(), yr.data());
        const std::string what = std::string(kUnaryNames[op]) + " n=" + std::to_string(n) + " p=" + std::to_string(param);
        expect_near_all(yf, yr, tol, what + " forward");
        k::unary_backward<T>(u, p, n, dy.data(), x.data(), yr.data(), df.data());
        k::ref::unary_backward<T>(u, p, n, dy.data(), x.data(), yr.data(), dr.data());
        expect_near_all(df, dr, tol, what + " backward");
      }
    }
  }
}

TEST(ElementwiseKernels, UnaryMatchesRef) {
  check_unary_kernels<float>(2e-6);
  check_unary_kernels<double>(1e-13);
}

template <class T>
void check_pow_backward_kernel(double tol) {
  Generator gen(10);
  const int64_t n = 20001;
  auto x = random_values<T>(n, gen, 0.0, 3.0), e = random_values<T>(n, gen, -2.0, 3.0), dy = random_values<T>(n, gen, -1, 1);
  x[0] = 0, e[0] = 2;  // x == 0, e >= 0: de = 0
  x[1] = 0.5, e[1] = 0;  // e == 0: dx = 0
  std::vector<T> y(n), dxf(n), dxr(n), def(n), der(n);
  for (int64_t i = 0; i < n; ++i) y[i] = std::pow(x[i], e[i]);
  k::pow_backward<T>(n, dy.data(), x.data(), e.data(), y.data(), dxf.data(), def.data());
  k::ref::pow_backward<T>(n, dy.data(), x.data(), e.data(), y.data(), dxr.data(), der.data());
  expect_near_all(dxf, dxr, tol, "pow dx");
  expect_near_all(def, der, tol, "pow de");
  EXPECT_EQ(def[0], T(0));
  EXPECT_EQ(dxf[1], T(0));
  k::pow_backward<T>(n, dy.data(), x.data(), e.data(), y.data(), nullptr, def.data());  // dx not wanted
  expect_near_all(def, der, tol, "pow de only");
}

TEST(ElementwiseKernels, PowBackwardMatchesRef) {
  check_pow_backward_kernel<float>(1e-5);
  check_pow_backward_kernel<double>(1e-12);
}

TEST(ElementwiseKernels, CoalescedLayoutsCoverEveryPath) {
  // Non-trivial strides on all four engine paths: 0-d, flat, 2-d rows, general odometer.
  const Shape s0{}, s1{8}, s2a{5, 1}, s2b{1, 7}, s3a{2, 1, 3, 4}, s3b{3, 1};
  std::vector<std::pair<Shape, Shape>> cases{{s0, s0}, {s1, s1}, {s2a, s2b}, {s3a, s3b}};
  for (auto [sa, sb] : cases) {
    const Shape out = broadcast_shapes(sa, sb, "t");
    std::vector<double> a(numel_of(sa)), b(numel_of(sb));
    for (size_t i = 0; i < a.size(); ++i) a[i] = 1000.0 * (i + 1);
    for (size_t i = 0; i < b.size(); ++i) b[i] = i + 1;
    std::vector<double> fast(numel_of(out)), ref(numel_of(out));
    const k::Broadcast L = k::make_broadcast(out, {&sa, &sb});
    k::binary<double>(k::BinaryOp::Add, L, a.data(), b.data(), fast.data());
    k::ref::binary<double>(k::BinaryOp::Add, L, a.data(), b.data(), ref.data());
    EXPECT_EQ(fast, ref) << shape_str(sa) << " + " << shape_str(sb);
  }
}

// ==================================================================== gradient checks

namespace {
using Fn = std::function<Tensor(const TensorList&)>;
}

TEST(ElementwiseGrad, BinaryOpsWithBroadcasting) {
  Generator gen(11);
  const std::vector<std::pair<Shape, Shape>> shapes{{{2, 3}, {2, 3}}, {{3, 1, 4}, {5, 4}}, {{5, 4}, {3, 1, 4}},
                                                    {{}, {2, 3}},     {{2, 3}, {}},         {{1}, {4}},
                                                    {{4, 5}, {5}},    {{4, 1}, {1, 3}}};
  const std::vector<std::pair<std::string, Fn>> ops{
      {"add", [](const TensorList& t) { return add(t[0], t[1]); }},
      {"sub", [](const TensorList& t) { return sub(t[0], t[1]); }},
      {"mul", [](const TensorList& t) { return mul(t[0], t[1]); }},
      {"div", [](const TensorList& t) { return div(t[0], t[1]); }},
      {"pow", [](const TensorList& t) { return pow(t[0], t[1]); }},
      {"operators", [](const TensorList& t) { return (t[0] + t[1]) * t[0] - t[1] / (t[0] + 4.0); }},
  };
  for (auto& [name, f] : ops) {
    for (auto& [sa, sb] : shapes) {
      // positive bases keep pow's log finite; divisors kept away from 0
      Tensor a = name == "pow" ? positive(sa, gen) : randn(sa, DType::F64, &gen);
      Tensor b = name == "div" ? positive(sb, gen) : randn(sb, DType::F64, &gen);
      gradcheck(name + " " + shape_str(sa) + " " + shape_str(sb), f, {a, b});
    }
  }
}

TEST(ElementwiseGrad, OnlyOneSideRequiresGrad) {
  Generator gen(12);
  for (int side = 0; side < 2; ++side) {
    Tensor a = positive({3, 1, 4}, gen).requires_grad_(side == 0), b = randn({5, 4}, DType::F64, &gen);
    b.requires_grad_(side == 1);
    for (auto f : {&add, &sub, &mul, &div, static_cast<Tensor (*)(const Tensor&, const Tensor&)>(&pow)}) {
      Tensor y = f(a, b);
      y.backward(ones(y.shape(), DType::F64));
      EXPECT_EQ(a.grad().defined(), side == 0);
      EXPECT_EQ(b.grad().defined(), side == 1);
      a.zero_grad(true);
      b.zero_grad(true);
    }
  }
}

TEST(ElementwiseGrad, ScalarOperands) {
  Generator gen(13);
  const std::vector<std::pair<std::string, Fn>> ops{
      {"add s", [](const TensorList& t) { return add(t[0], 1.5); }},
      {"sub s", [](const TensorList& t) { return sub(t[0], 1.5); }},
      {"mul s", [](const TensorList& t) { return mul(t[0], -2.5); }},
      {"div s", [](const TensorList& t) { return div(t[0], 3.0); }},
      {"s+x", [](const TensorList& t) { return 2.0 + t[0]; }},
      {"s-x", [](const TensorList& t) { return 2.0 - t[0]; }},
      {"s*x", [](const TensorList& t) { return 2.0 * t[0]; }},
      {"s/x", [](const TensorList& t) { return 2.0 / (t[0] + 4.0); }},
      {"x+s, x-s, x*s, x/s, -x", [](const TensorList& t) { return -(((t[0] + 1.0) - 2.0) * 3.0 / 4.0); }},
  };
  for (auto& [name, f] : ops)
    for (const Shape& s : {Shape{}, Shape{1}, Shape{3, 4}}) gradcheck(name + " " + shape_str(s), f, {randn(s, DType::F64, &gen)});
}

TEST(ElementwiseGrad, UnaryFunctions) {
  Generator gen(14);
  struct Case {
    std::string name;
    Fn f;
    std::function<Tensor(const Shape&)> input;
  };
  auto any = [&](const Shape& s) { return randn(s, DType::F64, &gen); };
  auto pos = [&](const Shape& s) { return positive(s, gen); };
  auto off0 = [&](const Shape& s) { return randn_away(s, gen, {0.0}); };
  auto offclamp = [&](const Shape& s) { return randn_away(s, gen, {-0.5, 0.7}); };
  const std::vector<Case> cases{
      {"neg", [](const TensorList& t) { return neg(t[0]); }, any},
      {"exp", [](const TensorList& t) { return exp(t[0]); }, any},
      {"log", [](const TensorList& t) { return log(t[0]); }, pos},
      {"sqrt", [](const TensorList& t) { return sqrt(t[0]); }, pos},
      {"abs", [](const TensorList& t) { return abs(t[0]); }, off0},
      {"tanh", [](const TensorList& t) { return tanh(t[0]); }, any},
      {"sigmoid", [](const TensorList& t) { return sigmoid(t[0]); }, any},
      {"relu", [](const TensorList& t) { return relu(t[0]); }, off0},
      {"gelu", [](const TensorList& t) { return gelu(t[0]); }, any},
      {"gelu tanh", [](const TensorList& t) { return gelu(t[0], "tanh"); }, any},
      {"elu", [](const TensorList& t) { return elu(t[0]); }, off0},
      {"elu 0.3", [](const TensorList& t) { return elu(t[0], 0.3); }, off0},
      {"pow 2", [](const TensorList& t) { return pow(t[0], 2.0); }, any},
      {"pow 3", [](const TensorList& t) { return pow(t[0], 3.0); }, any},
      {"pow 0", [](const TensorList& t) { return pow(t[0], 0.0); }, any},
      {"pow -1.5", [](const TensorList& t) { return pow(t[0], -1.5); }, pos},
      {"pow 0.5", [](const TensorList& t) { return pow(t[0], 0.5); }, pos},
      {"clamp", [](const TensorList& t) { return clamp(t[0], -0.5, 0.7); }, offclamp},
      {"clamp min", [](const TensorList& t) { return clamp(t[0], -0.5, std::nullopt); }, offclamp},
      {"clamp max", [](const TensorList& t) { return clamp(t[0], std::nullopt, 0.7); }, offclamp},
  };
  for (const auto& c : cases)
    for (const Shape& s : {Shape{}, Shape{1}, Shape{3, 5}, Shape{2, 1, 4}}) gradcheck(c.name + " " + shape_str(s), c.f, {c.input(s)});
}

TEST(ElementwiseGrad, NonContiguousInput) {
  Generator gen(15);
  gradcheck("tanh(x^T) * x^T", [](const TensorList& t) { Tensor xt = transpose(t[0], 0, 1); return tanh(xt) * xt; },
            {randn({3, 4}, DType::F64, &gen)});
}

TEST(ElementwiseGrad, MaskedFillAndWhere) {
  Generator gen(16);
  Tensor m34 = bernoulli({3, 4}, 0.5, &gen).to(DType::Bool);
  Tensor m4 = from_vector(std::vector<bool>{true, false, false, true}, {4});
  Tensor m31 = from_vector(std::vector<bool>{false, true, false}, {3, 1});
  for (const Tensor& m : {m34, m4, m31}) {
    gradcheck("masked_fill " + shape_str(m.shape()), [m](const TensorList& t) { return masked_fill(t[0], m, -3.0); },
              {randn({3, 4}, DType::F64, &gen)});
  }
  // where with every operand broadcasting: cond (3,1), a (4), b (3,4) / b ()
  gradcheck("where (3,1) (4) (3,4)", [m31](const TensorList& t) { return where(m31, t[0], t[1]); },
            {randn({4}, DType::F64, &gen), randn({3, 4}, DType::F64, &gen)});
  gradcheck("where (3,4) (3,1,4) ()", [m34](const TensorList& t) { return where(m34, t[0], t[1]); },
            {randn({2, 1, 4}, DType::F64, &gen), randn({}, DType::F64, &gen)});
}

// ==================================================================== hand-computed cases

TEST(ElementwiseValues, BroadcastArithmetic) {
  Tensor a = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = from_vector(std::vector<float>{10, 20, 30}, {3});
  Tensor c = from_vector(std::vector<float>{100, 200}, {2, 1});
  EXPECT_EQ((a + r).to_vector<float>(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ((a - c).to_vector<float>(), (std::vector<float>{-99, -98, -97, -196, -195, -194}));
  EXPECT_EQ((a * 2.0).to_vector<float>(), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  EXPECT_EQ((12.0 / a).to_vector<float>(), (std::vector<float>{12, 6, 4, 3, 2.4f, 2}));
  EXPECT_EQ((1.0 - a).to_vector<float>(), (std::vector<float>{0, -1, -2, -3, -4, -5}));
  EXPECT_EQ((r + c).shape(), (Shape{2, 3}));
  EXPECT_EQ(add(zeros({0, 3}), r).shape(), (Shape{0, 3}));
  EXPECT_EQ(add(scalar_tensor(1), scalar_tensor(2)).item(), 3.0);
  // transposed (non-contiguous) input
  EXPECT_EQ((transpose(a, 0, 1) + 0.0).to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(ElementwiseValues, GradientConventionsAtKinks) {
  Tensor x = from_vector(std::vector<double>{-1, 0, 2}, {3}).requires_grad_();
  relu(x).backward(ones({3}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 1}));  // 0 at 0
  x.zero_grad(true);
  abs(x).backward(ones({3}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{-1, 0, 1}));  // sign, 0 at 0
  x.zero_grad(true);
  clamp(x, 0.0, 2.0).backward(ones({3}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 1}));  // bounds included
  x.zero_grad(true);
  pow(x, 0.0).backward(ones({3}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  // pow with a tensor exponent at base 0: d/de = 0 when e >= 0
  Tensor b = from_vector(std::vector<double>{0, 0}, {2}).requires_grad_();
  Tensor e = from_vector(std::vector<double>{2, 0}, {2}).requires_grad_();
  pow(b, e).backward(ones({2}, DType::F64));
  EXPECT_EQ(e.grad().to_vector<double>(), (std::vector<double>{0, 0}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0, 0}));
}

TEST(ElementwiseValues, ActivationsKnownValues) {
  Tensor x = from_vector(std::vector<double>{-1, 0, 1}, {3});
  const auto g = gelu(x).to_vector<double>();
  EXPECT_NEAR(g[0], -0.15865525393145707, 1e-15);
  EXPECT_EQ(g[1], 0.0);
  EXPECT_NEAR(g[2], 0.8413447460685429, 1e-15);
  EXPECT_NEAR(gelu(x, "tanh").to_vector<double>()[2], 0.8411919906082768, 1e-15);
  EXPECT_NEAR(elu(x, 2.0).to_vector<double>()[0], 2.0 * (std::exp(-1.0) - 1.0), 1e-15);
  EXPECT_NEAR(sigmoid(x).to_vector<double>()[2], 1.0 / (1.0 + std::exp(-1.0)), 1e-15);
  EXPECT_EQ(clamp(x, 0.5, std::nullopt).to_vector<double>(), (std::vector<double>{0.5, 0.5, 1}));
  EXPECT_EQ(clamp(x, 2.0, 1.0).to_vector<double>(), (std::vector<double>{1, 1, 1}));  // min > max -> max
  Tensor nan = from_vector(std::vector<double>{NAN}, {1});
  EXPECT_TRUE(std::isnan(relu(nan).item()));
  EXPECT_TRUE(std::isnan(clamp(nan, 0.0, 1.0).item()));
}

TEST(ElementwiseValues, MaskedFillWhereComparisons) {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor m = from_vector(std::vector<bool>{true, false, true}, {3});
  EXPECT_EQ(masked_fill(x, m, -1e9).to_vector<float>(), (std::vector<float>{-1e9f, 2, -1e9f, -1e9f, 5, -1e9f}));
  EXPECT_EQ(masked_fill(x, from_vector(std::vector<bool>{true}, {}), 0).to_vector<float>(), std::vector<float>(6, 0));
  Tensor mi = masked_fill(arange(3), from_vector(std::vector<bool>{false, true, false}, {3}), -1);
  EXPECT_EQ(mi.to_vector<int64_t>(), (std::vector<int64_t>{0, -1, 2}));
  // PyTorch's out-of-place masked_fill broadcasts x up to the mask
  EXPECT_EQ(masked_fill(zeros({3}), from_vector(std::vector<bool>{true, false}, {2, 1}), 1).shape(), (Shape{2, 3}));
  Tensor w = where(m, x, from_vector(std::vector<float>{0}, {}));
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{1, 0, 3, 4, 0, 6}));
  EXPECT_EQ(where(m, arange(3), zeros({3}, DType::I64)).to_vector<int64_t>(),
            (std::vector<int64_t>{0, 0, 2}));
  Tensor r = from_vector(std::vector<float>{2, 2, 2}, {3});
  EXPECT_EQ(eq(x, r).to_vector<bool>(), (std::vector<bool>{false, true, false, false, false, false}));
  EXPECT_EQ(ne(x, r).to_vector<bool>(), (std::vector<bool>{true, false, true, true, true, true}));
  EXPECT_EQ(lt(x, r).to_vector<bool>(), (std::vector<bool>{true, false, false, false, false, false}));
  EXPECT_EQ(le(x, r).to_vector<bool>(), (std::vector<bool>{true, true, false, false, false, false}));
  EXPECT_EQ(gt(x, 4.0).to_vector<bool>(), (std::vector<bool>{false, false, false, false, true, true}));
  EXPECT_EQ(ge(x, 4.0).dtype(), DType::Bool);
  EXPECT_EQ(lt(arange(3), 1.5).to_vector<bool>(), (std::vector<bool>{true, true, false}));  // promoted
  EXPECT_EQ(eq(arange(3), arange(3)).to_vector<bool>(), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(logical_not(m).to_vector<bool>(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(logical_not(arange(3)).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(eq(m, m).to_vector<bool>(), (std::vector<bool>{true, true, true}));
  EXPECT_FALSE(gt(x.requires_grad_(), 1.0).requires_grad());
}

// ==================================================================== bad input

TEST(ElementwiseErrors, BadInput) {
  Tensor a = zeros({2, 3}), b = zeros({4}), d = zeros({2, 3}, DType::F64), i = arange(6), m = ones({3}, DType::Bool);
  expect_error([&] { add(a, b); }, "add", "add: shapes (2,3) and (4)");
  expect_error([&] { mul(a, b); }, "mul");
  expect_error([&] { pow(a, b); }, "pow");
  expect_error([&] { eq(a, b); }, "eq", "eq: shapes (2,3) and (4)");
  expect_error([&] { sub(a, d); }, "sub", "sub: dtype mismatch: float32 vs float64");
  expect_error([&] { lt(a, d); }, "lt", "float64");
  expect_error([&] { div(i, i); }, "div", "div: expected a floating tensor");
  expect_error([&] { exp(i); }, "exp", "exp: expected a floating tensor");
  expect_error([&] { tanh(m); }, "tanh");
  expect_error([&] { add(i, 1.0); }, "add");
  expect_error([&] { gelu(a, "fast"); }, "gelu", "gelu: approximate must be 'none' or 'tanh', got 'fast'");
  expect_error([&] { masked_fill(a, ones({3}), 0); }, "masked_fill", "masked_fill: mask must be bool, got float32");
  expect_error([&] { masked_fill(a, ones({4}, DType::Bool), 0); }, "masked_fill", "masked_fill: shapes (2,3) and (4)");
  expect_error([&] { where(ones({3}), a, a); }, "where", "where: condition must be bool");
  expect_error([&] { where(m, a, d); }, "where", "where: dtype mismatch");
  expect_error([&] { where(m, a, b); }, "where", "where: shapes of condition (3), a (2,3) and b (4) do not broadcast");
  expect_error([&] { clamp(a, std::nullopt, std::nullopt); }, "clamp", "clamp: at least one");
  expect_error([&] { relu(Tensor()); }, "relu", "relu: got an undefined tensor");
  expect_error([&] { add(a, Tensor()); }, "add", "add: got an undefined tensor");
  expect_error([&] { zeros(Shape(33, 1)) + zeros({1}); }, "add", "add: at most 32 dims");
}
