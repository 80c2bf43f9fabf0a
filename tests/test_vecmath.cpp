// Vectorised float transcendentals (kernels/vecmath.h) against the double-precision std::
// functions (the reference; their error is far below a float ulp).
//
// Sweep: every 97th float bit pattern (~44M values, all signs and binades, denormals, inf,
// NaNs) through each array kernel, measuring the error in ulps of the exact result (a
// correctly rounded function scores <= 0.5); plus the special values with their exact
// expected results, the fused activation kernels, and every ISA path the CPU has.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#pragma GCC diagnostic ignored "-Wpsabi"  // gate:: v16 helpers are always inlined (see gate_math.h)
#include "kernels/cpu/gate_math.h"
#include "kernels/vecmath.h"

namespace k = seqnn::kernels;

namespace {

using ArrayFn = void (*)(const float*, float*, int64_t);
using RefFn = double (*)(double);

double ref_exp(double x) { return std::exp(x); }
double ref_expm1(double x) { return std::expm1(x); }
double ref_log(double x) { return std::log(x); }
double ref_tanh(double x) { return std::tanh(x); }
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }
double ref_erf(double x) { return std::erf(x); }

// The spacing of floats at |r| (denormal spacing below FLT_MIN; FLT_MAX's past it).
double float_ulp(double r) {
  const double a = std::fabs(r);
  if (a < FLT_MIN) return std::ldexp(1.0, -149);
  if (a >= FLT_MAX) return std::ldexp(1.0, 104);
  int e;
  std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
  return std::ldexp(1.0, e - 24);
}

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

struct Stats {
  double max_ulp = 0, worst_x = 0, max_abs = 0, worst_abs_x = 0;
  int64_t bad_class = 0;  // NaN/inf where the reference is not (or the reverse)
  float bad_x = 0;
};

// Error of y against the exact r: NaN must match NaN; an infinite rounded reference must be
// met exactly (or by FLT_MAX, 1 ulp off); otherwise |y - r| in ulps of r.
void account(Stats& s, float x, float y, double r) {
  const float rf = static_cast<float>(r);
  if (std::isnan(rf) || std::isnan(y)) {
    if (std::isnan(rf) != std::isnan(y) && s.bad_class++ == 0) s.bad_x = x;
    return;
  }
  if (std::isinf(y) && !std::isinf(rf)) {
    if (s.bad_class++ == 0) s.bad_x = x;
    return;
  }
  if (std::isinf(rf)) {
    if (y == rf) return;
    if (std::isinf(y) || std::signbit(y) != std::signbit(rf)) {
      if (s.bad_class++ == 0) s.bad_x = x;
      return;
    }
  }
  const double err = std::fabs(static_cast<double>(y) - r);
  const double u = err / float_ulp(r);
  if (u > s.max_ulp) s.max_ulp = u, s.worst_x = x;
  if (err > s.max_abs) s.max_abs = err, s.worst_abs_x = x;
}

Stats sweep(ArrayFn f, RefFn ref, uint32_t stride) {
  Stats s;
  constexpr int64_t kBlock = 1 << 16;
  std::vector<float> x(kBlock), y(kBlock);
  uint64_t b = 0;
  while (b <= 0xffffffffull) {
    int64_t m = 0;
    for (; m < kBlock && b <= 0xffffffffull; ++m, b += stride) x[m] = from_bits(static_cast<uint32_t>(b));
    f(x.data(), y.data(), m);
    for (int64_t i = 0; i < m; ++i) account(s, x[i], y[i], ref(x[i]));
  }
  return s;
}

std::vector<float> special_values() {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> v = {0.0f, inf, nan, FLT_MIN, FLT_TRUE_MIN, FLT_MAX, 1.0f, 0.5f, 2.0f, 0.625f, 0.875f,
                          3.92f, 4.0f, 9.0f, 10.0f, 20.0f, 88.0f, 88.72283f, 88.72284f, 89.0f, 100.0f, 103.97f,
                          103.98f, 104.0f, 150.0f, 0x1p-24f, 0x1p-13f, 1e-30f, 0.70710677f, 1.4142135f,
                          std::nextafter(1.0f, 0.0f), std::nextafter(1.0f, 2.0f), 87.33655f, 87.3366f, 17.0f,
                          30.0f, 31.0f, 0.34657359f, 0.34657362f};
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) v.push_back(-v[i]);
  return v;
}

struct Case {
  const char* name;
  ArrayFn f;
  RefFn ref;
  double ulp_bound;  // asserted max error in ulps
  double abs_bound;  // asserted max absolute error (erf), 0 = none
};

const Case kCases[] = {
    {"exp", k::vexp, ref_exp, 1.0, 0},
    {"expm1", k::vexpm1, ref_expm1, 1.5, 0},
    {"log", k::vlog, ref_log, 1.6, 0},
    {"tanh", k::vtanh, ref_tanh, 1.5, 0},
    {"tanh_fast", k::vtanh_fast, ref_tanh, 2.6, 0},
    {"sigmoid", k::vsigmoid, ref_sigmoid, 2.5, 0},
    {"softplus", k::vsoftplus, ref_softplus, 2.5, 0},
    {"erf", k::verf, ref_erf, 2.5, 1.2e-7},
};

void check_case(const Case& c, uint32_t stride, const char* isa) {
  Stats s = sweep(c.f, c.ref, stride);
  {
    const std::vector<float> sv = special_values();
    std::vector<float> y(sv.size());
    c.f(sv.data(), y.data(), static_cast<int64_t>(sv.size()));
    for (size_t i = 0; i < sv.size(); ++i) account(s, sv[i], y[i], c.ref(sv[i]));
  }
  std::printf("[vecmath %-6s] %-8s max %.3f ulp at x=%.9g, max abs %.3g at x=%.9g\n", isa, c.name, s.max_ulp,
              s.worst_x, s.max_abs, s.worst_abs_x);
  EXPECT_EQ(s.bad_class, 0) << c.name << " " << isa << ": NaN/inf mismatch, first at x=" << s.bad_x;
  EXPECT_LE(s.max_ulp, c.ulp_bound) << c.name << " " << isa << " at x=" << s.worst_x;
  // erf near +-1 (ulps of 6e-8): the absolute error too
  if (c.abs_bound > 0) EXPECT_LE(s.max_abs, c.abs_bound) << c.name << " " << isa << " at x=" << s.worst_abs_x;
}

// The ISA paths this CPU can run; the detected one first.
std::vector<std::string> isas() {
  std::vector<std::string> v = {k::vecmath_isa()};
  for (const char* name : {"avx512", "avx2", "sse4.2"}) {
    if (v[0] != name && k::vecmath_set_isa(name)) v.push_back(name);
  }
  k::vecmath_set_isa(v[0].c_str());
  return v;
}

class VecmathIsa : public ::testing::Test {
 protected:
  void TearDown() override { k::vecmath_set_isa(best_.c_str()); }
  std::string best_ = k::vecmath_isa();
};

}  // namespace

// ==================================================================== ulp sweeps

TEST_F(VecmathIsa, UlpSweepEvery97thBitPattern) {
  for (const Case& c : kCases) check_case(c, 97, best_.c_str());
}

TEST_F(VecmathIsa, UlpSweepOtherIsas) {
  const auto all = isas();
  for (size_t i = 1; i < all.size(); ++i) {
    ASSERT_TRUE(k::vecmath_set_isa(all[i].c_str()));
    for (const Case& c : kCases) check_case(c, 997, all[i].c_str());
  }
}

// ==================================================================== gate activations
// kernels/cpu/gate_math.h: the fused recurrent kernels' sigmoid and tanh on 16-float vectors,
// compiled here for the baseline (no FMA: products and sums round separately) and, where the
// CPU has it, for AVX-512 as the kernels' widest instantiation is.
namespace {
namespace g = seqnn::kernels::gate;

template <int Which>
[[gnu::always_inline]] inline void gate_array(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i);
    alignas(64) float t[16] = {};
    std::memcpy(t, x + i, sizeof(float) * m);
    g::v16 v;
    std::memcpy(&v, t, sizeof v);
    v = Which == 0 ? g::sigmoid(v) : g::tanh(v);
    std::memcpy(t, &v, sizeof v);
    std::memcpy(y + i, t, sizeof(float) * m);
  }
}
template <int Which>
void gate_base(const float* x, float* y, int64_t n) {
  gate_array<Which>(x, y, n);
}
template <int Which>
[[gnu::target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]] void gate_avx512(const float* x, float* y, int64_t n) {
  gate_array<Which>(x, y, n);
}

// sigmoid below -87 is documented as e^-87 / (1 + e^-87) (a closed gate, not the denormal)
double ref_sigmoid_gate(double x) { return x < -87.0 ? std::exp(-87.0) / (1.0 + std::exp(-87.0)) : ref_sigmoid(x); }
}  // namespace

TEST(Vecmath, GateActivationsUlpSweep) {
  std::vector<std::pair<const char*, std::pair<ArrayFn, ArrayFn>>> isas_ = {
      {"base", {gate_base<0>, gate_base<1>}}};
  if (std::string(k::vecmath_isa()) == "avx512") isas_.push_back({"avx512", {gate_avx512<0>, gate_avx512<1>}});
  for (const auto& [isa, fns] : isas_) {
    for (const Case& c : {Case{"gate_sigmoid", fns.first, ref_sigmoid_gate, 3.0, 0},
                          Case{"gate_tanh", fns.second, ref_tanh, 3.0, 0}})
      check_case(c, 97, isa);
    // the rounding of e^-87 / (1 + e^-87) itself, then exactly that below -87
    float lo[3] = {-87.5f, -1000.0f, -std::numeric_limits<float>::infinity()}, y[3];
    fns.first(lo, y, 3);
    for (float v : y) EXPECT_NEAR(v, std::exp(-87.0), 3 * float_ulp(std::exp(-87.0))) << isa;
    // -0 keeps its sign through tanh; the limits
    float sp[4] = {-0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), 0.0f},
          ty[4], sy[4];
    fns.second(sp, ty, 4);
    fns.first(sp, sy, 4);
    EXPECT_TRUE(ty[0] == 0.0f && std::signbit(ty[0])) << isa;
    EXPECT_EQ(ty[1], 1.0f);
    EXPECT_EQ(ty[2], -1.0f);
    EXPECT_EQ(sy[1], 1.0f);
    EXPECT_EQ(sy[3], 0.5f);
  }
}

// ==================================================================== special values, exactly

TEST(Vecmath, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  auto one = [](ArrayFn f, float x) {
    float y;
    f(&x, &y, 1);
    return y;
  };
  auto same = [](float a, float b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, 4) == 0; };
  struct E {
    ArrayFn f;
    const char* name;
    float x, y;
  };
  const E cases[] = {
      {k::vexp, "exp", 0.0f, 1.0f},        {k::vexp, "exp", -0.0f, 1.0f},       {k::vexp, "exp", inf, inf},
      {k::vexp, "exp", -inf, 0.0f},        {k::vexp, "exp", nan, nan},          {k::vexp, "exp", 89.0f, inf},
      {k::vexp, "exp", -104.0f, 0.0f},     {k::vexp, "exp", FLT_MAX, inf},      {k::vexp, "exp", -FLT_MAX, 0.0f},
      {k::vexpm1, "expm1", -0.0f, -0.0f},  {k::vexpm1, "expm1", 0.0f, 0.0f},    {k::vexpm1, "expm1", -inf, -1.0f},
      {k::vexpm1, "expm1", inf, inf},      {k::vexpm1, "expm1", nan, nan},      {k::vexpm1, "expm1", 1e-30f, 1e-30f},
      {k::vlog, "log", 1.0f, 0.0f},        {k::vlog, "log", 0.0f, -inf},        {k::vlog, "log", -0.0f, -inf},
      {k::vlog, "log", inf, inf},          {k::vlog, "log", -1.0f, nan},        {k::vlog, "log", -inf, nan},
      {k::vlog, "log", nan, nan},          {k::vtanh, "tanh", 0.0f, 0.0f},      {k::vtanh, "tanh", -0.0f, -0.0f},
      {k::vtanh, "tanh", inf, 1.0f},       {k::vtanh, "tanh", -inf, -1.0f},     {k::vtanh, "tanh", nan, nan},
      {k::vtanh, "tanh", 1e-30f, 1e-30f},  {k::vtanh_fast, "tanh_fast", 0.0f, 0.0f},
      {k::vtanh_fast, "tanh_fast", -0.0f, -0.0f}, {k::vtanh_fast, "tanh_fast", inf, 1.0f},
      {k::vtanh_fast, "tanh_fast", -inf, -1.0f}, {k::vtanh_fast, "tanh_fast", nan, nan},
      {k::vtanh_fast, "tanh_fast", 1e-30f, 1e-30f},  {k::vtanh, "tanh", -FLT_TRUE_MIN, -FLT_TRUE_MIN},
      {k::vsigmoid, "sigmoid", 0.0f, 0.5f}, {k::vsigmoid, "sigmoid", -0.0f, 0.5f},
      {k::vsigmoid, "sigmoid", inf, 1.0f}, {k::vsigmoid, "sigmoid", -inf, 0.0f}, {k::vsigmoid, "sigmoid", nan, nan},
      {k::vsigmoid, "sigmoid", -200.0f, 0.0f}, {k::vsoftplus, "softplus", inf, inf},
      {k::vsoftplus, "softplus", -inf, 0.0f}, {k::vsoftplus, "softplus", nan, nan},
      {k::verf, "erf", 0.0f, 0.0f},        {k::verf, "erf", -0.0f, -0.0f},      {k::verf, "erf", inf, 1.0f},
      {k::verf, "erf", -inf, -1.0f},       {k::verf, "erf", nan, nan},          {k::verf, "erf", 5.0f, 1.0f},
      {k::verf, "erf", -FLT_TRUE_MIN, -FLT_TRUE_MIN},
  };
  for (const E& c : cases) EXPECT_TRUE(same(one(c.f, c.x), c.y)) << c.name << "(" << c.x << ") = " << one(c.f, c.x)
                                                                 << ", expected " << c.y;
  // denormal results: e^-100 = 3.72e-44, sigmoid(-100) likewise
  EXPECT_NEAR(one(k::vexp, -100.0f), std::exp(-100.0), float_ulp(std::exp(-100.0)));
  EXPECT_NEAR(one(k::vsigmoid, -100.0f), std::exp(-100.0), float_ulp(std::exp(-100.0)));
  EXPECT_GT(one(k::vexp, -100.0f), 0.0f);
}

// ==================================================================== lengths, tails, in place

TEST(Vecmath, LengthsTailsAndInPlace) {
  for (int64_t n : {0, 1, 3, 7, 15, 16, 17, 31, 33, 64, 1000}) {
    std::vector<float> x(n), y(n, -7.0f), z(n);
    for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::sin(0.37 * i) * 5);
    k::vtanh(x.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], std::tanh(double(x[i])), 2 * float_ulp(std::tanh(x[i])));
    z = x;
    k::vexp(z.data(), z.data(), n);  // in place
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(z[i], std::exp(double(x[i])), 2 * float_ulp(std::exp(x[i])));
  }
}

// ==================================================================== fused kernels vs double formulas

TEST(Vecmath, FusedKernelsMatchDoubleFormulas) {
  const int64_t n = 20011;
  std::vector<float> x(n), g(n), y(n), y2(n);
  std::vector<double> xd(n), gd(n), yd(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(-12.0 + 24.0 * ((i * 7919) % n) / double(n));
    g[i] = static_cast<float>(std::cos(0.1 * i));
    xd[i] = x[i], gd[i] = g[i];
  }
  // |a - b| <= tol * (1 + |b|) over the array
  auto expect_close = [&](const std::vector<float>& a, const std::vector<double>& b, double tol, const char* what) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double e = std::fabs(a[i] - b[i]) / (1 + std::fabs(b[i]));
      if (e > worst) worst = e, at = i;
    }
    EXPECT_LE(worst, tol) << what << " at x=" << x[at] << ": " << a[at] << " vs " << b[at];
  };
  // The formulas amplify float rounding (gelu_tanh's 1 - t^2 near t = -1, x - shift), so the
  // element functions' ulp bounds are checked above and these only guard the wiring.
  const double tol = 2e-6;
  k::vgelu(x.data(), y.data(), n);
  k::vgelu(xd.data(), yd.data(), n);
  expect_close(y, yd, tol, "gelu");
  k::vgelu_backward(g.data(), x.data(), y.data(), n);
  k::vgelu_backward(gd.data(), xd.data(), yd.data(), n);
  expect_close(y, yd, tol, "gelu backward");
  k::vgelu_tanh(x.data(), y.data(), n);
  k::vgelu_tanh(xd.data(), yd.data(), n);
  expect_close(y, yd, tol, "gelu_tanh");
  k::vgelu_tanh_backward(g.data(), x.data(), y.data(), n);
  k::vgelu_tanh_backward(gd.data(), xd.data(), yd.data(), n);
  expect_close(y, yd, tol, "gelu_tanh backward");
  k::velu(x.data(), y.data(), n, 1.5f);
  k::velu(xd.data(), yd.data(), n, 1.5);
  expect_close(y, yd, tol, "elu");
  k::velu_backward(g.data(), x.data(), y.data(), n, 1.5f);
  k::velu_backward(gd.data(), xd.data(), yd.data(), n, 1.5);
  expect_close(y, yd, tol, "elu backward");
  // exp(x - shift) with its sum; per-element shifts
  const double s = k::vexp_shift_sum(x.data(), 3.0f, y.data(), n);
  const double sd = k::vexp_shift_sum(xd.data(), 3.0, yd.data(), n);
  expect_close(y, yd, tol, "exp shift");
  EXPECT_NEAR(s, sd, 1e-6 * sd);
  EXPECT_NEAR(k::vexp_shift_sum(x.data(), 3.0f, nullptr, n), s, 1e-12 * sd);
  k::vexp_sub(x.data(), g.data(), y.data(), n);
  k::vexp_sub(xd.data(), gd.data(), yd.data(), n);
  expect_close(y, yd, tol, "exp sub");
}

TEST(Vecmath, DoubleKernelsAreStd) {
  const double v[] = {-3.5, -0.25, 0.0, 1e-3, 2.0, 40.0};
  double y[6];
  k::vtanh(v, y, 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], std::tanh(v[i]));
  k::verf(v, y, 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], std::erf(v[i]));
  k::vexp(v, y, 6);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], std::exp(v[i]));
}

// ==================================================================== sums and softmax rows

TEST_F(VecmathIsa, SumsAreAccurateAndIsaIndependent) {
  for (int64_t n : {0, 1, 5, 31, 32, 33, 1000, 100003}) {
    std::vector<float> x(n);
    std::vector<double> xd(n);
    long double ref = 0, ref_sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      x[i] = static_cast<float>(std::sin(1.3 * i) * 3 + 0.5);
      xd[i] = x[i];
      ref += x[i];
    }
    const double mu = n ? static_cast<double>(ref / n) : 0.0;
    for (int64_t i = 0; i < n; ++i) ref_sq += (x[i] - static_cast<long double>(mu)) * (x[i] - mu);
    const double s = k::vsum(x.data(), n), sq = k::vsum_sq_dev(x.data(), mu, n);
    EXPECT_NEAR(s, static_cast<double>(ref), 1e-12 * (1 + n));
    EXPECT_NEAR(sq, static_cast<double>(ref_sq), 1e-12 * (1 + static_cast<double>(ref_sq)));
    EXPECT_EQ(k::vsum(xd.data(), n), s);  // same partial sums for float and double input
    for (const auto& isa : isas()) {
      ASSERT_TRUE(k::vecmath_set_isa(isa.c_str()));
      EXPECT_EQ(k::vsum(x.data(), n), s) << isa << " n=" << n;  // bit-identical on every path
    }
    k::vecmath_set_isa(best_.c_str());
  }
}

TEST(Vecmath, SoftmaxRowsMatchDouble) {
  for (int64_t D : {1, 7, 64, 1000}) {
    const int64_t rows = 5;
    std::vector<float> x(rows * D), y(rows * D);
    for (int64_t i = 0; i < rows * D; ++i) x[i] = static_cast<float>(std::cos(0.7 * i) * 20);
    for (bool log : {false, true}) {
      k::vsoftmax_rows(x.data(), y.data(), rows, D, log);
      for (int64_t r = 0; r < rows; ++r) {
        double m = x[r * D], s = 0;
        for (int64_t d = 0; d < D; ++d) m = std::max(m, double(x[r * D + d]));
        for (int64_t d = 0; d < D; ++d) s += std::exp(x[r * D + d] - m);
        for (int64_t d = 0; d < D; ++d) {
          const double want = log ? (x[r * D + d] - m) - std::log(s) : std::exp(x[r * D + d] - m) / s;
          EXPECT_NEAR(y[r * D + d], want, 1e-6 * (1 + std::fabs(want))) << "D=" << D << " log=" << log;
        }
      }
    }
  }
}
