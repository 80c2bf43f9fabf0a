// seqnn's AVX-512 float GEMM (kernels/cpu/sgemm_avx512.cpp) against the naive ref::gemm:
// every transpose, sizes that cross the micro-tile (12x32) and cache-block (MC 144, KC 256,
// NC 2048) edges, leading dimensions wider than the matrix, alpha/beta, beta = 0 over a C full
// of NaN (BLAS semantics: C is not read), A read in place (N <= 128) or packed, 1 and 2
// threads, and calls from inside a parallel region (the attention and recurrent kernels call
// gemm from their own threads).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/gemm.h"
#include "seqnn/threads.h"
#include "seqnn/random.h"
#include "seqnn/tensor.h"

using namespace seqnn;

namespace {

struct Case {
  int64_t M, N, K;
};

// Fills a row-major buffer (rows x ld) with N(0,1) in the first `cols` columns and a poison
// value in the padding, so a kernel that reads or writes past its columns is caught.
std::vector<float> matrix(int64_t rows, int64_t cols, int64_t ld, Generator* g, float pad) {
  Tensor t = randn({rows, cols}, DType::F32, g);
  std::vector<float> v(static_cast<size_t>(rows * ld), pad);
  const float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) v[i * ld + j] = p[i * cols + j];
  return v;
}

using GemmFn = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                        float, float*, int64_t);

void avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
            const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  kernels::detail::sgemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void check(bool ta, bool tb, Case c, float alpha, float beta, int64_t pad, GemmFn fn = avx512) {
  const auto [M, N, K] = c;
  Generator g(M * 1009 + N * 31 + K * 7 + (ta ? 1 : 0) + (tb ? 2 : 0));
  const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  const int64_t lda = ac + pad, ldb = bc + pad, ldc = N + pad;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto A = matrix(ar, ac, lda, &g, nan), B = matrix(br, bc, ldb, &g, nan);
  auto C = matrix(M, N, ldc, &g, 7.0f);
  if (beta == 0.0f)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = nan;
  auto R = C;
  fn(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
  kernels::ref::gemm<float>(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = C[i * ldc + j], want = R[i * ldc + j];
      if (j >= N) {
        ASSERT_EQ(got, 7.0f) << "wrote past column N at (" << i << "," << j << ")";
        continue;
      }
      // float sums of K products of N(0,1) values: error grows like sqrt(K) * eps * |terms|
      ASSERT_NEAR(got, want, 2e-5 * std::sqrt(static_cast<double>(K) + 1) * (1 + std::abs(want)))
          << "ta " << ta << " tb " << tb << " M " << M << " N " << N << " K " << K << " at (" << i << "," << j
          << ")";
    }
}

const std::vector<Case> kCases = {
    {1, 1, 1},      {12, 32, 1},     {11, 31, 5},    {13, 33, 17},  {24, 64, 256},
    {25, 65, 257},  {144, 96, 300},  {145, 97, 513}, {37, 2049, 40}, {300, 40, 70},
    {2, 700, 600},  {700, 3, 33},    {301, 50, 600}, {150, 64, 257}, {25, 200, 45}, {12, 129, 13},
    // packed A over several M blocks (MC 144) and K blocks (KC 256), a partial last slice: the
    // transposed-A block pack
    {301, 300, 520},
};

}  // namespace

TEST(Gemm, Avx512MatchesReference) {
  if (!kernels::detail::sgemm_avx512_usable()) GTEST_SKIP() << "no AVX-512 (or SEQNN_GEMM=blas)";
  const int saved = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const Case& c : kCases) {
          check(ta, tb, c, 1.0f, 0.0f, 0);
          check(ta, tb, c, -0.75f, 0.5f, 3);
          if (HasFatalFailure()) break;
        }
  }
  set_num_threads(saved);
}

// gemm_bias: C = op(A) op(B) + bias in every row, on both sides of the own kernel's size
// threshold (below it: bias rows, then the product accumulated onto them), 1 and 2 threads (a
// column split hands each thread its part of the bias), K = 0 (C is the bias rows) and no bias.
// The own kernel adds the bias in its epilogue; the sums must equal ref + bias to rounding.
TEST(Gemm, BiasInEveryRow) {
  const int saved = num_threads();
  std::vector<Case> cases = kCases;
  cases.push_back({300, 700, 64});  // column split over two threads
  cases.push_back({40, 50, 0});
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const Case& c : cases)
          for (bool with_bias : {true, false}) {
            const auto [M, N, K] = c;
            Generator g(M * 7 + N * 3 + K + (ta ? 1 : 0) + (tb ? 2 : 0));
            const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
            const int64_t lda = std::max<int64_t>(ac, 1) + 2, ldb = std::max<int64_t>(bc, 1) + 1, ldc = N + 3;
            const float nan = std::numeric_limits<float>::quiet_NaN();
            auto A = matrix(ar, ac, lda, &g, nan), B = matrix(br, bc, ldb, &g, nan);
            auto bias = matrix(1, N, N, &g, 0.0f);
            std::vector<float> C(static_cast<size_t>(M * ldc), 7.0f);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = nan;  // never read
            auto R = C;
            kernels::gemm_bias<float>(ta, tb, M, N, K, A.data(), lda, B.data(), ldb, with_bias ? bias.data() : nullptr,
                                      C.data(), ldc);
            kernels::ref::gemm<float>(ta, tb, M, N, K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, R.data(), ldc);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < ldc; ++j) {
                if (j >= N) {
                  ASSERT_EQ(C[i * ldc + j], 7.0f) << "wrote past column N at (" << i << "," << j << ")";
                  continue;
                }
                const float want = R[i * ldc + j] + (with_bias ? bias[j] : 0.0f);
                ASSERT_NEAR(C[i * ldc + j], want, 2e-5 * std::sqrt(static_cast<double>(K) + 1) * (1 + std::abs(want)))
                    << "ta " << ta << " tb " << tb << " M " << M << " N " << N << " K " << K << " bias " << with_bias
                    << " threads " << threads << " at (" << i << "," << j << ")";
              }
          }
  }
  set_num_threads(saved);
}

// The few-rows kernel: M 1..9 (its 4-, 2- and 1-row groups and their remainders), N across its
// 64/128-column blocks and 4/8-column groups, K across the 16-lane masks; and the small-K,
// many-rows products it also takes (the outer products of attention's backward).
TEST(Gemm, SmallMMatchesReference) {
  if (!kernels::detail::sgemm_avx512_usable()) GTEST_SKIP() << "no AVX-512 (or SEQNN_GEMM=blas)";
  std::vector<Case> cases;
  for (int64_t M : {1, 2, 3, 4, 5, 7, 8, 9})
    for (int64_t N : {1, 5, 16, 17, 40, 64, 127, 128, 129, 300})
      for (int64_t K : {1, 3, 16, 17, 40, 129}) cases.push_back({M, N, K});
  for (Case c : std::vector<Case>{{40, 128, 1}, {37, 100, 3}, {130, 33, 8}}) cases.push_back(c);
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Case& c : cases) {
        check(ta, tb, c, 1.0f, 0.0f, 0, kernels::detail::sgemm_small_m);
        check(ta, tb, c, -0.75f, 0.5f, 3, kernels::detail::sgemm_small_m);
        if (HasFatalFailure()) return;
      }
}

TEST(Gemm, Avx512InsideAParallelRegion) {
  if (!kernels::detail::sgemm_avx512_usable()) GTEST_SKIP() << "no AVX-512 (or SEQNN_GEMM=blas)";
  // Each thread runs its own product with its own thread-local packing buffers.
  std::array<bool, 4> ok{};
#pragma omp parallel for num_threads(2)
  for (int t = 0; t < 4; ++t) {
    const int64_t M = 50 + t, N = 70 + 3 * t, K = 300 + t;
    Generator g(t + 1);
    Tensor A = randn({M, K}, DType::F32, &g), B = randn({N, K}, DType::F32, &g);
    std::vector<float> C(M * N), R(M * N);
    kernels::detail::sgemm_avx512(false, true, M, N, K, 1.0f, A.data_ptr<float>(), K, B.data_ptr<float>(), K, 0.0f,
                                  C.data(), N);
    kernels::ref::gemm<float>(false, true, M, N, K, 1.0f, A.data_ptr<float>(), K, B.data_ptr<float>(), K, 0.0f,
                              R.data(), N);
    bool good = true;
    for (int64_t i = 0; i < M * N; ++i) good &= std::abs(C[i] - R[i]) <= 1e-3 * (1 + std::abs(R[i]));
    ok[t] = good;
  }
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(ok[t]) << t;
}

TEST(Gemm, WrapperRoutesFloatAndStaysExact) {
  // kernels::gemm picks the own kernel or OpenBLAS by size; both sides of the threshold agree
  // with the reference.
  for (auto [M, N, K] : std::vector<std::array<int64_t, 3>>{{15, 40, 40}, {16, 16, 128}, {64, 64, 64}, {3, 900, 50}, {1, 128, 40}, {40, 128, 1}, {2, 2000, 600}}) {
    Generator g(M + N + K);
    Tensor A = randn({M, K}, DType::F32, &g), B = randn({K, N}, DType::F32, &g);
    std::vector<float> C(M * N), R(M * N);
    kernels::gemm<float>(false, false, M, N, K, 1.0f, A.data_ptr<float>(), K, B.data_ptr<float>(), N, 0.0f, C.data(), N);
    kernels::ref::gemm<float>(false, false, M, N, K, 1.0f, A.data_ptr<float>(), K, B.data_ptr<float>(), N, 0.0f,
                              R.data(), N);
    for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(C[i], R[i], 1e-4 * (1 + std::abs(R[i]))) << M << " " << N << " " << K;
  }
}
