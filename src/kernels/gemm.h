// kernels/gemm.h (internal): the only door to the BLAS.
//
// Row-major C(M,N) = alpha * op(A)(M,K) * op(B)(K,N) + beta * C, op = transpose when trans_*.
//   A: (M,K) or (K,M) when trans_a, leading dimension lda (row stride)
//   B: (K,N) or (N,K) when trans_b, leading dimension ldb
//   C: (M,N), leading dimension ldc
// gemm() calls OpenBLAS (single-threaded inside seqnn's own parallel regions); ref::gemm is the
// naive triple loop it is tested against.
#pragma once

#include <cstdint>

namespace seqnn::kernels {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// C(M,N) = op(A) op(B) + bias, bias (N) added to every row (nn.Linear's y = x W^T + b). The
// AVX-512 kernel adds the bias in the tile epilogue, so C is written once and never read; other
// paths fill C with the bias rows and accumulate onto them (the same sums, rounded the same way:
// round(b + acc) for the first block of K either way). bias == nullptr: C = op(A) op(B).
template <class T>
void gemm_bias(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
               int64_t ldb, const T* bias, T* C, int64_t ldc);

// Batched: `batch` independent products with element strides between consecutive matrices.
template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c);

namespace detail {
// seqnn's own AVX-512 float GEMM (kernels/cpu/sgemm_avx512.cpp), same contract as gemm().
// usable(): the CPU runs AVX-512 (vecmath_isa() == "avx512") and SEQNN_GEMM is not "blas".
bool sgemm_avx512_usable();
// bias (N) or null: C = alpha op(A) op(B) + beta C + bias, the bias added once, in the epilogue.
void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                  const float* bias = nullptr);
// Few rows of C (kernels/cpu/sgemm_small.cpp, AVX-512, single-threaded, nothing packed): the
// per-row products of decoding and attention contexts, (1,K) @ (K,N); any M works, it is
// fast when M <= 8 (or K <= 8 with op(B) = B).
void sgemm_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
}  // namespace detail

namespace ref {
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace ref

}  // namespace seqnn::kernels
