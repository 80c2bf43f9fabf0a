// Tensor storage, views, the autograd engine and the gemm door.
#include <gtest/gtest.h>

#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "common/check.h"
#include "common/gradcheck.h"
#include "common/subprocess.h"
#include "kernels/gemm.h"
#include "tensor/allocator.h"
#include "seqnn/ops.h"
#include "seqnn/threads.h"

extern "C" int openblas_get_num_threads(void);

using namespace seqnn;

TEST(Tensor, FactoriesAndMetadata) {
  Tensor t = zeros({2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.strides(), (Shape{3, 1}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_THROW(t.size(2), Error);
  Tensor f = full({2}, 2.5, DType::F64);
  EXPECT_EQ(f.to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(scalar_tensor(3).item(), 3.0);
  EXPECT_EQ(arange(4).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_THROW(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), Error);
  EXPECT_THROW(empty({2, -1}), Error);
  EXPECT_THROW(empty({int64_t{1} << 40, int64_t{1} << 40}), Error);  // product wraps int64
  EXPECT_THROW(zeros({int64_t{1} << 62, 4}, DType::F64), Error);
  EXPECT_EQ(empty({0, int64_t{1} << 62}).numel(), 0);
  Tensor z = zeros({2, 0, 3});  // zero-size dims: contiguous, fillable, viewable
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(z.numel(), 0);
  EXPECT_TRUE(empty({0}, DType::Bool).to_vector<bool>().empty());
  EXPECT_EQ(from_vector(std::vector<bool>{true, false}, {2}).to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(reshape(z, {0, 5}).shape(), (Shape{0, 5}));
  EXPECT_EQ(transpose(z, 0, 2).contiguous().shape(), (Shape{3, 0, 2}));
  EXPECT_THROW(t.data_ptr<double>(), Error);
  EXPECT_THROW(Tensor().shape(), Error);
  EXPECT_THROW(arange(3).requires_grad_(), Error);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor x = from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor t = transpose(x, 0, 1);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor r = reshape(x, {3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.raw_data(), x.raw_data());  // a view, not a copy
  EXPECT_THROW(reshape(x, {4, -1}), Error);
  EXPECT_THROW(reshape(x, {-1, -1}), Error);
  Tensor p = permute(reshape(arange(24, DType::F32), {2, 3, 4}), {2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.contiguous().to_vector<float>()[1], 4.0f);
  EXPECT_THROW(permute(x, {0, 0}), Error);
  Tensor e = expand(from_vector(std::vector<float>{1, 2}, {2, 1}), {2, 2, 3});
  EXPECT_EQ(e.contiguous().to_vector<float>(), (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2}));
  EXPECT_THROW(expand(x, {3, 3}), Error);
  EXPECT_EQ(broadcast_shapes({3, 1, 5}, {4, 1}, "t"), (Shape{3, 4, 5}));
  EXPECT_THROW(broadcast_shapes({3}, {4}, "t"), Error);
  EXPECT_EQ(unsqueeze(x, -1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(squeeze(unsqueeze(x, 0), 0).shape(), (Shape{2, 3}));
  EXPECT_EQ(flatten(reshape(x, {1, 2, 3}), 1).shape(), (Shape{1, 6}));
  // unflatten: a view even of a non-contiguous tensor (a column slice of a transposed one)
  Tensor tr = permute(reshape(arange(24, DType::F32), {4, 6}), {1, 0});  // (6,4), strides (1,6)
  Tensor u = unflatten(tr, 0, {2, -1});
  EXPECT_EQ(u.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(u.raw_data(), tr.raw_data());
  EXPECT_EQ(u.contiguous().to_vector<float>(), reshape(tr.contiguous(), {2, 3, 4}).contiguous().to_vector<float>());
  EXPECT_EQ(unflatten(x, -1, {3, 1}).shape(), (Shape{2, 3, 1}));
  EXPECT_THROW(unflatten(x, 1, {2, 2}), Error);
  EXPECT_THROW(unflatten(x, 2, {3}), Error);
  EXPECT_THROW(unflatten(x, 1, {}), Error);
  EXPECT_THROW(unflatten(x, 1, {-2, -3}), Error);
  EXPECT_THROW(unflatten(x, 5, {3}), Error);
  // sizes whose product wraps past int64 to the element count: (2^62 + 3) * 4 = 2^64 + 12
  const Tensor twelve = arange(12, DType::F32);
  EXPECT_THROW(unflatten(twelve, 0, {(int64_t{1} << 62) + 3, 4}), Error);
  EXPECT_THROW(reshape(twelve, {(int64_t{1} << 62) + 3, 4}), Error);
  EXPECT_THROW(unflatten(scalar_tensor(1.0), 0, {1}), Error);
}

TEST(Tensor, SumToReducesBroadcastDims) {
  Tensor g = ones({2, 3, 4}, DType::F64);
  EXPECT_EQ(sum_to(g, {3, 1}).to_vector<double>(), (std::vector<double>{8, 8, 8}));
  EXPECT_EQ(sum_to(g, {}).item(), 24.0);
}

TEST(Autograd, ViewGradientsFlowBack) {
  Tensor x = from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  x.requires_grad_();
  Tensor y = reshape(transpose(x, 0, 1), {6});
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  y.backward(from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {6}));
  // y = x^T flattened: y[k] = x[k%2][k/2] -> dx[i][j] = g[2j+i]
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 3, 5, 2, 4, 6}));
  // Accumulates on a second pass; zero_grad resets.
  Tensor y2 = expand(x, {2, 2, 3});
  y2.backward(ones({2, 2, 3}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 5, 7, 4, 6, 8}));
  x.zero_grad();
  EXPECT_EQ(x.grad().to_vector<double>(), std::vector<double>(6, 0.0));
}

TEST(Autograd, ErrorsAndModes) {
  Tensor x = ones({2}, DType::F64).requires_grad_();
  EXPECT_THROW(expand(x, {3, 2}).backward(), Error);  // non-scalar without gradient
  EXPECT_THROW(ones({1}).backward(), Error);          // nothing requires grad
  Tensor y = expand(x, {3, 2});
  y.backward(ones({3, 2}, DType::F64));
  EXPECT_THROW(y.backward(ones({3, 2}, DType::F64)), Error);  // graph released
  {
    NoGradGuard ng;
    EXPECT_FALSE(expand(x, {3, 2}).requires_grad());
  }
  EXPECT_TRUE(expand(x, {3, 2}).requires_grad());
  Tensor d = expand(x, {3, 2}).detach();
  EXPECT_FALSE(d.requires_grad());
  // retain_graph keeps it usable
  Tensor z = expand(x, {2, 2});
  x.zero_grad(true);
  z.backward(ones({2, 2}, DType::F64), true);
  z.backward(ones({2, 2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 4}));
}

// The engine sums gradients in place where it alone holds the buffer (autograd/engine.cpp):
// a tensor that meets several gradients, one of them the SAME tensor twice (a + a), another
// through views, still gets the exact sum; the caller's root gradient is never written to, and
// a .grad handle taken earlier sees later accumulation.
TEST(Autograd, GradientsMeetingAtOneTensorSumWithoutAliasing) {
  const std::vector<double> xv = {1, -2, 3, 0.5, 2, -1}, gv = {1, 2, -1, 0.5, 3, -2};
  Tensor x = from_vector(xv, {2, 3}).requires_grad_();
  auto run = [&] {
    Tensor a = x * 3.0;
    Tensor s = a + a;                                                  // ds -> da twice (one tensor)
    Tensor y = s * a + transpose(transpose(a, 0, 1), 0, 1) + a * 0.0;  // y = 2a^2 + a
    const Tensor g = from_vector(gv, {2, 3});
    y.backward(g);
    EXPECT_EQ(g.to_vector<double>(), gv) << "root gradient modified";
  };
  run();
  const Tensor held = x.grad();
  std::vector<double> want(6);
  for (size_t i = 0; i < 6; ++i) want[i] = 3 * gv[i] * (4 * 3 * xv[i] + 1);  // dy/dx = 3 g (4a + 1)
  auto got = held.to_vector<double>();
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << i;
  run();
  got = held.to_vector<double>();
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(got[i], 2 * want[i], 1e-12) << "second pass, " << i;
}

TEST(Autograd, GradFunctionCapturesWithoutTouchingDotGrad) {
  Tensor x = from_vector(std::vector<double>{1, 2}, {2}).requires_grad_();
  Tensor y = expand(x, {3, 2});
  auto g = autograd::grad({y}, {x}, {ones({3, 2}, DType::F64)});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{3, 3}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, GradcheckOfViews) {
  testutil::gradcheck("permute+expand", [](const TensorList& in) {
    return expand(permute(in[0], {1, 0}), {2, 3, 2});
  }, {randn({2, 3}, DType::F64)});
  testutil::gradcheck("unflatten of a transpose", [](const TensorList& in) {
    return unflatten(permute(in[0], {1, 0}), 0, {2, 2}) * 1.5;
  }, {randn({3, 4}, DType::F64)});
}

TEST(Random, SeededAndSerialisable) {
  Generator a(7), b(7);
  EXPECT_EQ(randn({5}, DType::F64, &a).to_vector<double>(), randn({5}, DType::F64, &b).to_vector<double>());
  const std::string st = a.state();
  const double next = a.normal();
  Generator c(99);
  c.set_state(st);
  EXPECT_EQ(c.normal(), next);
  EXPECT_THROW(c.set_state("garbage"), Error);
  Tensor u = rand({1000}, DType::F64, &a);
  for (double v : u.to_vector<double>()) EXPECT_TRUE(v >= 0 && v < 1);
  Tensor p = randperm(10, &a);
  auto pv = p.to_vector<int64_t>();
  std::sort(pv.begin(), pv.end());
  EXPECT_EQ(pv, arange(10).to_vector<int64_t>());
}

template <class T>
void gemm_vs_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T beta) {
  Generator g(M * 131 + N * 17 + K);
  DType dt = dtype_of<T>::value;
  Tensor A = randn(ta ? Shape{K, M} : Shape{M, K}, dt, &g), B = randn(tb ? Shape{N, K} : Shape{K, N}, dt, &g);
  Tensor C1 = randn({M, N}, dt, &g), C2 = C1.clone();
  const int64_t lda = ta ? M : K, ldb = tb ? K : N;
  kernels::gemm<T>(ta, tb, M, N, K, T(1.5), A.data_ptr<T>(), lda, B.data_ptr<T>(), ldb, beta, C1.data_ptr<T>(), N);
  kernels::ref::gemm<T>(ta, tb, M, N, K, T(1.5), A.data_ptr<T>(), lda, B.data_ptr<T>(), ldb, beta, C2.data_ptr<T>(), N);
  auto a = C1.to_vector<double>(), b = C2.to_vector<double>();
  const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-11;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1 + std::abs(b[i]))) << i;
}

TEST(Kernels, GemmMatchesReference) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{{1, 1, 1}, {7, 5, 3}, {33, 65, 17}, {4, 3, 0}, {128, 64, 96}}) {
        gemm_vs_ref<float>(ta, tb, M, N, K, 0.0f);
        gemm_vs_ref<float>(ta, tb, M, N, K, 1.0f);
        gemm_vs_ref<double>(ta, tb, M, N, K, 0.5);
      }
}

TEST(Runtime, ThreadsKnob) {
  EXPECT_GE(num_threads(), 1);
  // The OpenMP build of OpenBLAS is what keeps BLAS single-threaded inside seqnn's own
  // parallel regions (no oversubscription); the build links it explicitly.
  EXPECT_NE(runtime_info().find("OpenBLAS (openmp)"), std::string::npos) << runtime_info();
  const int n = num_threads();
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  set_num_threads(n);
  EXPECT_THROW(set_num_threads(0), Error);
  // seqnn's team owns the cores: OpenBLAS stays single-threaded, also after a large product that
  // goes through it (float64), whose blocks seqnn splits over the team itself
  EXPECT_EQ(openblas_get_num_threads(), 1);
  Tensor a = randn({300, 200}, DType::F64), b = randn({200, 250}, DType::F64);
  Tensor c = matmul(a, b);
  EXPECT_EQ(openblas_get_num_threads(), 1);
  const auto av = a.to_vector<double>(), bv = b.to_vector<double>(), cv = c.to_vector<double>();
  double worst = 0;
  for (int64_t i = 0; i < 300; i += 7)
    for (int64_t j = 0; j < 250; ++j) {  // every column: the blocks meet somewhere in there
      double want = 0;
      for (int64_t k = 0; k < 200; ++k) want += av[i * 200 + k] * bv[k * 250 + j];
      worst = std::max(worst, std::fabs(cv[i * 250 + j] - want));
    }
  EXPECT_LT(worst, 1e-10);
}

// seqnn's executables link src/runtime/preinit/omp_wait_policy.cpp: GOMP_SPINCOUNT=10000 is set
// before libgomp reads its environment, so waiting threads spin briefly and then sleep instead
// of spinning for 300000 rounds; a policy the user set is left alone. A child process shows what
// libgomp itself took (omp_display_env prints its spin count).
TEST(Runtime, ShortSpinUnlessTheUserChose) {
  if (std::getenv("SEQNN_TEST_DISPLAY_OMP_ENV")) {
    omp_display_env(1);
    return;
  }
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const auto spin_count = [&](const std::string& env) {
    const testutil::Proc p = testutil::run_command("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT " + env +
                                                   " SEQNN_TEST_DISPLAY_OMP_ENV=1 '" + self +
                                                   "' --gtest_filter=Runtime.ShortSpinUnlessTheUserChose");
    EXPECT_EQ(p.rc, 0) << p.out;
    const auto at = p.out.find("GOMP_SPINCOUNT = '");
    return at == std::string::npos ? std::string("?") : p.out.substr(at + 18, p.out.find('\'', at + 18) - at - 18);
  };
  EXPECT_EQ(spin_count(""), "10000");                          // seqnn's default: a short spin
  EXPECT_EQ(spin_count("OMP_WAIT_POLICY=passive"), "0");
  EXPECT_EQ(spin_count("OMP_WAIT_POLICY=active"), "30000000000");  // the user's choice stands
  EXPECT_EQ(spin_count("GOMP_SPINCOUNT=1234"), "1234");
  EXPECT_NE(runtime_info().find("wait policy"), std::string::npos) << runtime_info();
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) ADD_FAILURE() << "this test binary runs without the preinit re-exec";
}

// SEQNN_NUM_THREADS must reach OpenMP (and so OpenBLAS's OpenMP build) when the library loads,
// before anything calls num_threads(): a child process checks it without asking.
TEST(Runtime, EnvKnobAppliedAtLoad) {
  if (const char* want = std::getenv("SEQNN_TEST_EXPECT_THREADS")) {
    EXPECT_EQ(omp_get_max_threads(), std::atoi(want));
    return;
  }
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  for (const char* n : {"1", "3"}) {
    const std::string cmd = std::string("SEQNN_NUM_THREADS=") + n + " SEQNN_TEST_EXPECT_THREADS=" + n + " '" + self +
                            "' --gtest_filter=Runtime.EnvKnobAppliedAtLoad > /dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "SEQNN_NUM_THREADS=" << n << " not applied at load";
  }
}

// The caching allocator behind Storage (tensor/allocator.h): a freed block of >= 16 KiB is kept
// and handed out again for the same size; the limit bounds what is held (0: nothing); blocks
// are 64-byte aligned; tensors built on reused blocks behave like fresh ones.
TEST(Allocator, CachesFreedBlocksWithinTheLimit) {
  const size_t saved = detail::allocator_cache_limit();
  detail::set_allocator_cache_limit(size_t(64) << 20);
  detail::allocator_empty_cache();
  EXPECT_EQ(detail::allocator_cached_bytes(), 0u);
  const void* first = nullptr;
  {
    Tensor t = full({1000, 100}, 7.0);  // 400 KB
    first = t.raw_data();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  }
  EXPECT_GE(detail::allocator_cached_bytes(), size_t(400000));
  {
    Tensor u = zeros({1000, 100});  // same size: the same block, zeroed by zeros()
    EXPECT_EQ(u.raw_data(), first);
    EXPECT_EQ(detail::allocator_cached_bytes(), 0u);
    EXPECT_EQ(u.sum().item(), 0.0);
    Tensor small = ones({10});  // below 16 KiB: never cached
  }
  EXPECT_GE(detail::allocator_cached_bytes(), size_t(400000));
  EXPECT_LT(detail::allocator_cached_bytes(), size_t(400000 + 16384));
  detail::set_allocator_cache_limit(0);  // trims to the new limit, and holds nothing after
  EXPECT_EQ(detail::allocator_cached_bytes(), 0u);
  { Tensor t = empty({1000, 100}); }
  EXPECT_EQ(detail::allocator_cached_bytes(), 0u);
  detail::set_allocator_cache_limit(size_t(1) << 20);  // a block larger than the limit is freed
  { Tensor t = empty({1000, 1000}); }
  EXPECT_EQ(detail::allocator_cached_bytes(), 0u);
  // Full: a newly freed block evicts held blocks of other sizes (the sizes a loop moved away
  // from), and is itself the one handed out next.
  detail::set_allocator_cache_limit(size_t(1) << 20);  // 1 MiB: two 400 KB blocks fit, not three
  detail::allocator_empty_cache();
  {
    Tensor a = empty({1000, 100}), b = empty({1001, 100});
  }
  EXPECT_GE(detail::allocator_cached_bytes(), size_t(800000));
  const void* fresh = nullptr;
  {
    Tensor c = empty({1002, 100});
    fresh = c.raw_data();
  }
  EXPECT_LE(detail::allocator_cached_bytes(), size_t(1) << 20);
  {
    Tensor again = empty({1002, 100});
    EXPECT_EQ(again.raw_data(), fresh);
  }
  // >= 4 MiB: on a 2 MiB boundary (so the huge-page advice can apply), and usable to the end.
  {
    Tensor big = full({1 << 20, 5}, 3.0);  // 20 MiB
    const char* knob = std::getenv("SEQNN_HUGEPAGES");
    if (knob == nullptr || std::string(knob) != "0")
      EXPECT_EQ(reinterpret_cast<uintptr_t>(big.raw_data()) % (size_t(2) << 20), 0u);
    EXPECT_EQ(big.sum().item(), 3.0 * 5 * (1 << 20));
  }
  EXPECT_TRUE(detail::huge_pages_setting(nullptr));
  EXPECT_TRUE(detail::huge_pages_setting("1"));
  EXPECT_FALSE(detail::huge_pages_setting("0"));
  for (const char* bad : {"", "off", "yes", "01", "2"})
    testutil::expect_error([&] { detail::huge_pages_setting(bad); }, "SEQNN_HUGEPAGES", "expected 0 or 1");
  // Many threads taking and returning blocks at once.
  detail::set_allocator_cache_limit(size_t(64) << 20);
#pragma omp parallel for num_threads(4)
  for (int i = 0; i < 200; ++i) {
    Tensor t = full({64, 64 + i % 7}, static_cast<double>(i));
    if (t.sum().item() != static_cast<double>(i) * 64 * (64 + i % 7)) ADD_FAILURE() << "block " << i;
  }
  detail::set_allocator_cache_limit(saved);
}
