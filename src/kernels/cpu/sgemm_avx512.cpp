// Row-major float32 GEMM for AVX-512 CPUs: C(M,N) = alpha * op(A)(M,K) op(B)(K,N) + beta * C.
//
// Why seqnn has its own: OpenBLAS picks its kernels per CPU at load time and can be pinned
// to narrower ones (OPENBLAS_CORETYPE=Haswell, as on the project's machine, an AMD Zen 5 with
// full-width AVX-512, gives 180 GFLOP/s on 2 cores where 512-bit kernels give 300+). The RNN
// and attention layers spend half their time in big GEMMs, so the float path must not depend
// on that choice. ref::gemm (kernels/ref/gemm.cpp) is the oracle; OpenBLAS stays the path for
// double, for CPUs without AVX-512, and for products too small to pay for packing.
//
// Blocking (Goto / BLIS). C is row-major, so the vector dimension is N: a micro-tile is
// MR = 12 rows x NR = 32 columns (two zmm per row, 24 accumulators in registers).
//   for jc in N by NC:
//     for pc in K by KC:        pack op(B)[pc:+KC, jc:+NC] into NR-wide panels  (L3 / L2)
//       for ic in M by MC:      pack op(A)[ic:+MC, pc:+KC] into MR-row slices   (L2)
//         for jr in NC by NR:   one B panel, KC x NR floats                     (L1)
//           for ir in MC by MR: 12x32 micro-kernel over KC
// Edges: A slices and B panels are zero-padded to MR / NR, so the kernel always runs the full
// tile; only the rows < mr and columns < nr of C are read and written (column masks).
// beta == 0 never reads C (BLAS semantics: C may hold NaN); alpha and beta are applied once,
// in the epilogue of the first K block, later K blocks accumulate with beta = 1.
// Threads: outside a parallel region, C is split into column (or row) bands, one per thread,
// each packing its own operands into thread-local buffers allocated once per thread.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "kernels/gemm.h"
#include "kernels/vecmath.h"
#include "seqnn/threads.h"

namespace seqnn::kernels::detail {

namespace {

constexpr int64_t MR = 12, NR = 32;
constexpr int64_t KC = 256, MC = 144, NC = 2048;  // MC % MR == 0, NC % NR == 0

struct Operand {
  const float* p;
  int64_t ld;
  bool trans;
};

// A slice: Ap[k * MR + i] = op(A)[i0 + i][k0 + k], zero rows past mr.
void pack_a(const Operand& A, int64_t i0, int64_t mr, int64_t k0, int64_t kc, float* Ap) {
  if (!A.trans) {
    for (int64_t i = 0; i < mr; ++i) {
      const float* src = A.p + (i0 + i) * A.ld + k0;
      for (int64_t k = 0; k < kc; ++k) Ap[k * MR + i] = src[k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = A.p + (k0 + k) * A.ld + i0;
      for (int64_t i = 0; i < mr; ++i) Ap[k * MR + i] = src[i];
    }
  }
  if (mr < MR)
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t i = mr; i < MR; ++i) Ap[k * MR + i] = 0.0f;
}

// A B panel: Bp[k * NR + j] = op(B)[k0 + k][j0 + j], zero columns past nr.
[[gnu::target("avx512f")]] void pack_b(const Operand& B, int64_t k0, int64_t kc, int64_t j0, int64_t nr,
                                        float* Bp) {
  if (!B.trans) {
    const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    const __mmask16 m1 = static_cast<__mmask16>(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B.p + (k0 + k) * B.ld + j0;
      _mm512_store_ps(Bp + k * NR, _mm512_maskz_loadu_ps(m0, src));
      _mm512_store_ps(Bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
  } else {
    for (int64_t j = 0; j < nr; ++j) {
      const float* src = B.p + (j0 + j) * B.ld + k0;
      for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = src[k];
    }
    for (int64_t j = nr; j < NR; ++j)
      for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = 0.0f;
  }
}

// The 12x32 micro-kernel: acc = sum_k Ap[k][:] (x) Bp[k][:], then
// C[i][j] = alpha * acc + beta * C[i][j] for i < mr, j < nr (beta == 0: C is not read).
[[gnu::target("avx512f")]] void micro_12x32(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                                             int64_t mr, int64_t nr, float alpha, float beta) {
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(),
         c11 = _mm512_setzero_ps(), c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(),
         c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps(), c40 = _mm512_setzero_ps(),
         c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(),
         c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(),
         c71 = _mm512_setzero_ps(), c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(),
         c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps(), ca0 = _mm512_setzero_ps(),
         ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
#define SEQNN_ROW(r, acc0, acc1)                     \
  {                                                  \
    const __m512 a = _mm512_set1_ps(Ap[(r)]);        \
    acc0 = _mm512_fmadd_ps(a, b0, acc0);             \
    acc1 = _mm512_fmadd_ps(a, b1, acc1);             \
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
    _mm_prefetch(reinterpret_cast<const char*>(Bp + 8 * NR), _MM_HINT_T0);
    SEQNN_ROW(0, c00, c01)
    SEQNN_ROW(1, c10, c11)
    SEQNN_ROW(2, c20, c21)
    SEQNN_ROW(3, c30, c31)
    SEQNN_ROW(4, c40, c41)
    SEQNN_ROW(5, c50, c51)
    SEQNN_ROW(6, c60, c61)
    SEQNN_ROW(7, c70, c71)
    SEQNN_ROW(8, c80, c81)
    SEQNN_ROW(9, c90, c91)
    SEQNN_ROW(10, ca0, ca1)
    SEQNN_ROW(11, cb0, cb1)
    Ap += MR;
    Bp += NR;
  }
#undef SEQNN_ROW
  const __mmask16 m0 = static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                             {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
  for (int64_t i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, acc[i][0]), r1 = _mm512_mul_ps(va, acc[i][1]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

struct Buffers {
  float* a = nullptr;  // MC x KC
  float* b = nullptr;  // KC x NC
  ~Buffers() {
    std::free(a);
    std::free(b);
  }
};

Buffers& buffers() {
  thread_local Buffers buf;
  if (buf.a == nullptr) {
    buf.a = static_cast<float*>(std::aligned_alloc(64, MC * KC * sizeof(float)));
    buf.b = static_cast<float*>(std::aligned_alloc(64, KC * NC * sizeof(float)));
  }
  return buf;
}

// One thread's share: C[0:M, 0:N] with A and B already offset to that block.
void sgemm_serial(int64_t M, int64_t N, int64_t K, float alpha, const Operand& A, const Operand& B, float beta,
                  float* C, int64_t ldc) {
  Buffers& buf = buffers();
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;
      const float alpha_k = alpha;
      for (int64_t jr = 0; jr < nc; jr += NR) pack_b(B, pc, kc, jc + jr, std::min(NR, nc - jr), buf.b + jr * kc);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        for (int64_t ir = 0; ir < mc; ir += MR) pack_a(A, ic + ir, std::min(MR, mc - ir), pc, kc, buf.a + ir * kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const float* Bp = buf.b + jr * kc;
          const int64_t nr = std::min(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR)
            micro_12x32(kc, buf.a + ir * kc, Bp, C + (ic + ir) * ldc + jc + jr, ldc, std::min(MR, mc - ir), nr,
                        alpha_k, beta_k);
        }
      }
    }
  }
}

// op(A) rows [i0, i0+m) and op(B) columns [j0, j0+n) as operands of their own.
Operand rows_of(const Operand& A, int64_t i0) {
  return {A.trans ? A.p + i0 : A.p + i0 * A.ld, A.ld, A.trans};
}
Operand cols_of(const Operand& B, int64_t j0) {
  return {B.trans ? B.p + j0 * B.ld : B.p + j0, B.ld, B.trans};
}

}  // namespace

bool sgemm_avx512_usable() {
  static const bool ok = std::getenv("SEQNN_GEMM") == nullptr || std::string_view(std::getenv("SEQNN_GEMM")) != "blas";
  return ok && std::string_view(vecmath_isa()) == "avx512";
}

void sgemm_avx512(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const Operand a{A, lda, trans_a}, b{B, ldb, trans_b};
  const int nt = omp_in_parallel() ? 1 : num_threads();
  // Work per thread must pay for waking it: below ~2 MFLOP one thread does it all.
  const int64_t n_bands = (N + NR - 1) / NR, m_bands = (M + MR - 1) / MR;
  const int parts = static_cast<int>(std::min<int64_t>({nt, std::max<int64_t>(1, M * N * K / (1 << 20)),
                                                        std::max(n_bands, m_bands)}));
  if (parts <= 1) {
    sgemm_serial(M, N, K, alpha, a, b, beta, C, ldc);
    return;
  }
  const bool split_n = n_bands >= m_bands;  // the longer side, in whole micro-tiles
  const int64_t bands = split_n ? n_bands : m_bands;
#pragma omp parallel num_threads(parts)
  {
    const int64_t t = omp_get_thread_num(), c = omp_get_num_threads();
    const int64_t b0 = bands * t / c, b1 = bands * (t + 1) / c;
    if (b0 < b1) {
      if (split_n) {
        const int64_t j0 = b0 * NR, j1 = std::min(N, b1 * NR);
        sgemm_serial(M, j1 - j0, K, alpha, a, cols_of(b, j0), beta, C + j0, ldc);
      } else {
        const int64_t i0 = b0 * MR, i1 = std::min(M, b1 * MR);
        sgemm_serial(i1 - i0, N, K, alpha, rows_of(a, i0), b, beta, C + i0 * ldc, ldc);
      }
    }
  }
}

}  // namespace seqnn::kernels::detail
