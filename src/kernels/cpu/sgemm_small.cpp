// Row-major float32 GEMM for products with few rows of C (M <= 8) on AVX-512 CPUs:
// C(M,N) = alpha * op(A)(M,K) op(B)(K,N) + beta * C, the contract of kernels::gemm.
//
// Who calls it: decoding and the attention context a_t = alpha_t enc run one (B,1,S) @ (B,S,D)
// product per row of the batch, i.e. thousands of 1 x 40 x 128 products per sentence batch.
// OpenBLAS packs both operands for each of them (its copy routines took more time than the
// arithmetic), and seqnn's blocked kernel (sgemm_avx512.cpp) pads A to 12-row micro-tiles. Here
// nothing is packed:
//   op(B) = B (K,N):   rows of C are built as sum_k a_ik B[k,:] in registers, up to 4 rows of
//                      C at once sharing each load of B, in column blocks of 4 or 8 zmm;
//   op(B) = B^T (N,K): each C[i][j] = a_i . B[j,:], 4 (or 8) columns j at once against up to 2
//                      rows i, vector partial sums along k reduced at the end.
// A transposed A (K,M) is first copied to rows (M x K floats, thread-local).
// beta == 0 never reads C (BLAS semantics). No threads: callers with many such products run
// them from their own parallel regions (gemm_batched). ref::gemm is the oracle.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/gemm.h"

namespace seqnn::kernels::detail {

namespace {

inline __mmask16 lane_mask(int64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1);
}

// C rows [0, R) x columns [j0, j0 + 16 Q) (masked at N) = alpha * sum_k a[r][k] B[k][j] + beta C.
template <int R, int Q>
[[gnu::target("avx512f")]] void nn_block(int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                                         const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                                         int64_t j0) {
  __m512 acc[R][Q];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_setzero_ps();
  __mmask16 m[Q];
  for (int q = 0; q < Q; ++q) m[q] = lane_mask(N - j0 - 16 * q);
  const float* b = B + j0;
  for (int64_t k = 0; k < K; ++k, b += ldb) {
    __m512 bv[Q];
    for (int q = 0; q < Q; ++q) bv[q] = _mm512_maskz_loadu_ps(m[q], b + 16 * q);
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      for (int q = 0; q < Q; ++q) acc[r][q] = _mm512_fmadd_ps(av, bv[q], acc[r][q]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  for (int r = 0; r < R; ++r) {
    float* c = C + r * ldc + j0;
    for (int q = 0; q < Q; ++q) {
      if (m[q] == 0) break;
      __m512 v = _mm512_mul_ps(va, acc[r][q]);
      if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m[q], c + 16 * q), v);
      _mm512_mask_storeu_ps(c + 16 * q, m[q], v);
    }
  }
}

template <int R>
[[gnu::target("avx512f")]] void nn_rows(int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                                        const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  // one or two rows: 8 zmm of columns keep 8-16 FMA chains in flight; three or four: 4 zmm
  constexpr int Q = R <= 2 ? 8 : 4;
  for (int64_t j0 = 0; j0 < N; j0 += 16 * Q) nn_block<R, Q>(N, K, alpha, a, lda, B, ldb, beta, C, ldc, j0);
}

// Horizontal sum of one zmm. GCC 12's headers fill the unused source of these shuffles with an
// "undefined" vector, which -Wmaybe-uninitialized reports when the function is compiled with a
// target attribute rather than -mavx512f: a false positive, silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
[[gnu::target("avx512f")]] inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// C rows [0, R) x columns [j0, j0 + J) (J <= columns left) = alpha * a_r . B[j,:] + beta C.
template <int R, int J>
[[gnu::target("avx512f")]] void nt_block(int64_t nj, int64_t K, float alpha, const float* a, int64_t lda,
                                         const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                                         int64_t j0) {
  __m512 acc[R][J];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < J; ++j) acc[r][j] = _mm512_setzero_ps();
  const float* b[J];
  for (int j = 0; j < J; ++j) b[j] = B + (j0 + std::min<int64_t>(j, nj - 1)) * ldb;  // extra columns repeat the last
  for (int64_t k = 0; k < K; k += 16) {
    const __mmask16 m = lane_mask(K - k);
    __m512 av[R];
    for (int r = 0; r < R; ++r) av[r] = _mm512_maskz_loadu_ps(m, a + r * lda + k);
    for (int j = 0; j < J; ++j) {
      const __m512 bv = _mm512_maskz_loadu_ps(m, b[j] + k);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(av[r], bv, acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* c = C + r * ldc + j0;
    for (int j = 0; j < J && j < nj; ++j) {
      const float v = alpha * hsum(acc[r][j]);
      c[j] = beta == 0.0f ? v : v + beta * c[j];
    }
  }
}

template <int R>
[[gnu::target("avx512f")]] void nt_rows(int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                                        const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  constexpr int J = R == 1 ? 8 : 4;
  for (int64_t j0 = 0; j0 < N; j0 += J) nt_block<R, J>(std::min<int64_t>(J, N - j0), K, alpha, a, lda, B, ldb, beta, C, ldc, j0);
}

}  // namespace

void sgemm_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (trans_a) {  // op(A) rows, contiguous
    thread_local std::vector<float> rows;
    rows.resize(static_cast<size_t>(M * K));
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < M; ++i) rows[i * K + k] = A[k * lda + i];
    A = rows.data();
    lda = K;
  }
  int64_t i = 0;
  if (!trans_b) {
    for (; i + 4 <= M; i += 4) nn_rows<4>(N, K, alpha, A + i * lda, lda, B, ldb, beta, C + i * ldc, ldc);
    switch (M - i) {
      case 3: nn_rows<3>(N, K, alpha, A + i * lda, lda, B, ldb, beta, C + i * ldc, ldc); break;
      case 2: nn_rows<2>(N, K, alpha, A + i * lda, lda, B, ldb, beta, C + i * ldc, ldc); break;
      case 1: nn_rows<1>(N, K, alpha, A + i * lda, lda, B, ldb, beta, C + i * ldc, ldc); break;
      default: break;
    }
    return;
  }
  for (; i + 2 <= M; i += 2) nt_rows<2>(N, K, alpha, A + i * lda, lda, B, ldb, beta, C + i * ldc, ldc);
  if (i < M) nt_rows<1>(N, K, alpha, A + i * lda, lda, B, ldb, beta, C + i * ldc, ldc);
}

}  // namespace seqnn::kernels::detail
