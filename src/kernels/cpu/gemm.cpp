// gemm: float on AVX-512 CPUs through seqnn's own kernels (sgemm_avx512.cpp blocked, sgemm_small.cpp
// for few rows) unless SEQNN_GEMM=blas; everything else through CBLAS (OpenBLAS).
#include "kernels/gemm.h"

#include <cblas.h>
#include <algorithm>
#include <cstring>
#include <type_traits>

#include <omp.h>

#include "kernels/parallel.h"
#include "seqnn/threads.h"

namespace seqnn::kernels {

namespace {
inline CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }
inline blasint bi(int64_t v) { return static_cast<blasint>(v); }

// OpenBLAS runs single-threaded (kernels/team.h: seqnn's team is the one owner of the cores).
// Its OpenMP build takes the thread count from the calling thread's OpenMP setting at every
// call, so each call runs with that setting at 1 (a per-thread value; restored after).
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : saved_(omp_get_max_threads()) {
    if (saved_ != 1) omp_set_num_threads(1);
  }
  ~SingleThreadedBlas() {
    if (saved_ != 1) omp_set_num_threads(saved_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int saved_;
};

// A large product is split here, one block of C per thread, along its longer side in multiples
// of 16 rows or columns: blas(m, n, A', B', C') on each block.
template <class T, class Blas>
void split_blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
                T* C, int64_t ldc, const Blas& blas) {
  constexpr int64_t kMinMacs = int64_t{1} << 18;  // per thread: about 20 us of work
  const bool split_n = N >= M;
  const int64_t side = split_n ? N : M;
  const int64_t parts = detail::in_parallel_region()
                            ? 1
                            : std::min<int64_t>({num_threads(), M * N * K / kMinMacs, side / 16});
  if (parts <= 1) {
    const SingleThreadedBlas one;
    return blas(M, N, A, B, C);
  }
  parallel_parts(static_cast<int>(parts), [&](int64_t t, int64_t c) {
    const SingleThreadedBlas one;
    const int64_t lo = t == 0 ? 0 : (side * t / c) / 16 * 16, hi = t + 1 == c ? side : (side * (t + 1) / c) / 16 * 16;
    if (lo >= hi) return;
    if (split_n) blas(M, hi - lo, A, tb ? B + lo * ldb : B + lo, C + lo);
    else blas(hi - lo, N, ta ? A + lo : A + lo * lda, B, C + lo * ldc);
  });
}

void call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (detail::sgemm_avx512_usable()) {
    if (M >= 16 && N >= 16 && K >= 16 && M * N * K >= 32 * 32 * 32)
      return detail::sgemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    // few rows (or, B not transposed, few k): OpenBLAS would pack both operands for a product
    // that reads each once; B up to 1 MB (larger ones are worth OpenBLAS's threads)
    if ((M <= 8 || (K <= 8 && !tb)) && N * K <= (1 << 18))
      return detail::sgemm_small_m(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  split_blas(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, [&](int64_t m, int64_t n, const float* a, const float* b,
                                                          float* c) {
    cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), bi(m), bi(n), bi(K), alpha, a, bi(lda), b, bi(ldb), beta, c, bi(ldc));
  });
}
void call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  split_blas(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, [&](int64_t m, int64_t n, const double* a, const double* b,
                                                          double* c) {
    cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), bi(m), bi(n), bi(K), alpha, a, bi(lda), b, bi(ldb), beta, c, bi(ldc));
  });
}
}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // BLAS leaves C untouched when K == 0 only for beta == 1; make beta*C explicit
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  (void)num_threads();  // SEQNN_NUM_THREADS reaches OpenBLAS before its first call (static libs)
  call(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <class T>
void gemm_bias(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
               int64_t ldb, const T* bias, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (!bias) return gemm<T>(trans_a, trans_b, M, N, K, T(1), A, lda, B, ldb, T(0), C, ldc);
  if constexpr (std::is_same_v<T, float>) {
    if (K > 0 && detail::sgemm_avx512_usable() && M >= 16 && N >= 16 && K >= 16 && M * N * K >= 32 * 32 * 32) {
      (void)num_threads();
      return detail::sgemm_avx512(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, bias);
    }
  }
  // every row starts as the bias, the product accumulates onto it
  parallel_for(M, std::max<int64_t>(1, (int64_t{1} << 15) / N), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) std::memcpy(C + i * ldc, bias, sizeof(T) * static_cast<size_t>(N));
  });
  gemm<T>(trans_a, trans_b, M, N, K, T(1), A, lda, B, ldb, T(1), C, ldc);
}

template <class T>
void gemm_batched(int64_t batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, T beta, T* C, int64_t ldc,
                  int64_t stride_c) {
  // Large products: let BLAS thread each one. Many small ones: one product per thread.
  const bool small = M * N * K < 64 * 64 * 64;
  if (!small || batch == 1) {
    for (int64_t b = 0; b < batch; ++b)
      gemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c, ldc);
    return;
  }
  parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      gemm(trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, ldb, beta, C + b * stride_c, ldc);
  });
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm_bias<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                               const float*, float*, int64_t);
template void gemm_bias<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                                const double*, double*, int64_t);
template void gemm_batched<float>(int64_t, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                  int64_t, const float*, int64_t, int64_t, float, float*, int64_t, int64_t);
template void gemm_batched<double>(int64_t, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double, double*, int64_t, int64_t);

}  // namespace seqnn::kernels
