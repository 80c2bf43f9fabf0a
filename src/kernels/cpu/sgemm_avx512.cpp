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
// When N <= 8 NR each A slice would serve at most eight B panels, so packing it costs more than
// reading A in place: the kernel then reads A in place (a transposed A only in blocks whose
// rows are whole micro-tiles, as it reads 12 values per k). (The bound was 4 NR until measured:
// bench_gemm, 1 -> 2 threads, N = 192 / 256: 6272x192x64 ABt 92 -> 130 GFLOP/s on one thread,
// 256^3 146-167 -> 215-224 and 3200x256x1024 168-172 -> 213-251 on two.)
// Edges: A slices and B panels are zero-padded to MR / NR, so the kernel always runs the full
// tile; only the rows < mr and columns < nr of C are read and written (column masks).
// beta == 0 never reads C (BLAS semantics: C may hold NaN); alpha and beta are applied once,
// in the epilogue of the first K block, later K blocks accumulate with beta = 1.
// Threads: outside a parallel region, C is split into column (or row) bands, one per thread,
// each packing its own operands into thread-local buffers allocated once per thread.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "kernels/gemm.h"
#include "kernels/parallel.h"
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

// The first n of 16 lanes (n <= 0: none, n >= 16: all): a row's two zmm halves take
// lane_mask(nr) and lane_mask(nr - 16).
inline __mmask16 lane_mask(int64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1);
}

// A slice of an untransposed A: Ap[k * MR + i] = A[i0 + i][k0 + k], zero rows past mr (a
// transposed A: pack_a_trans_block).
[[gnu::target("avx512f")]] void pack_a(const Operand& A, int64_t i0, int64_t mr, int64_t k0, int64_t kc,
                                        float* Ap) {
  int64_t k = 0;
  if (mr == MR) {  // 4x4 transposes: rows 4q..4q+3 x k..k+3 -> Ap[k..k+3][4q..4q+3]
    for (; k + 4 <= kc; k += 4)
      for (int64_t q = 0; q < 3; ++q) {
        const float* src = A.p + (i0 + 4 * q) * A.ld + k0 + k;
        __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + A.ld), r2 = _mm_loadu_ps(src + 2 * A.ld),
               r3 = _mm_loadu_ps(src + 3 * A.ld);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        float* dst = Ap + k * MR + 4 * q;
        _mm_storeu_ps(dst, r0);
        _mm_storeu_ps(dst + MR, r1);
        _mm_storeu_ps(dst + 2 * MR, r2);
        _mm_storeu_ps(dst + 3 * MR, r3);
      }
  }
  for (int64_t i = 0; i < MR; ++i) {
    const float* src = A.p + (i0 + i) * A.ld + k0;
    for (int64_t kk = k; kk < kc; ++kk) Ap[kk * MR + i] = i < mr ? src[kk] : 0.0f;
  }
}

// All slices of rows [i0, i0 + mc) of a transposed A at once (op(A)[i][k] = A[k][i]): slice s
// gets Ap[s * MR * kc + k * MR + i] = op(A)[i0 + s * MR + i][k0 + k], zero rows past mc. Row k
// of A holds the block's mc values side by side, so each row is read once, front to back, and
// split over the slices; packing slice by slice instead read 48 bytes from every row per slice,
// rows lda floats apart (8 KiB in a 100x64x512 LSTM's dW = dG^T X), which the hardware
// prefetchers do not follow: the pack waited on memory for each row (12% of that GEMM). Rows
// kPfRows ahead are prefetched.
[[gnu::target("avx512f")]] void pack_a_trans_block(const Operand& A, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                                                    float* Ap) {
  constexpr int64_t kPfRows = 16;
  const int64_t slices = (mc + MR - 1) / MR;
  const float* src = A.p + k0 * A.ld + i0;
  for (int64_t k = 0; k < kc; ++k, src += A.ld) {
    if (k + kPfRows < kc)
      for (int64_t b = 0; b < mc; b += 16)
        _mm_prefetch(reinterpret_cast<const char*>(src + kPfRows * A.ld + b), _MM_HINT_T0);
    for (int64_t s = 0; s < slices; ++s) {
      const int64_t mr = std::min(MR, mc - s * MR);
      const __mmask16 m = static_cast<__mmask16>((1u << mr) - 1);
      _mm512_mask_storeu_ps(Ap + s * MR * kc + k * MR, 0x0FFF, _mm512_maskz_loadu_ps(m, src + s * MR));
    }
  }
}

// A B panel: Bp[k * NR + j] = op(B)[k0 + k][j0 + j], zero columns past nr.
[[gnu::target("avx512f")]] void pack_b(const Operand& B, int64_t k0, int64_t kc, int64_t j0, int64_t nr,
                                        float* Bp) {
  if (!B.trans) {
    const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B.p + (k0 + k) * B.ld + j0;
      _mm512_store_ps(Bp + k * NR, _mm512_maskz_loadu_ps(m0, src));
      _mm512_store_ps(Bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
  } else {  // op(B)[k][j] = B[j][k]: 4x4 transposes of rows j..j+3 x k..k+3
    int64_t j = 0;
    const int64_t k4 = kc & ~int64_t{3};
    for (; j + 4 <= nr; j += 4) {
      const float* src = B.p + (j0 + j) * B.ld + k0;
      for (int64_t k = 0; k < k4; k += 4) {
        __m128 r0 = _mm_loadu_ps(src + k), r1 = _mm_loadu_ps(src + B.ld + k), r2 = _mm_loadu_ps(src + 2 * B.ld + k),
               r3 = _mm_loadu_ps(src + 3 * B.ld + k);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_store_ps(Bp + k * NR + j, r0);
        _mm_store_ps(Bp + (k + 1) * NR + j, r1);
        _mm_store_ps(Bp + (k + 2) * NR + j, r2);
        _mm_store_ps(Bp + (k + 3) * NR + j, r3);
      }
      for (int64_t k = k4; k < kc; ++k)
        for (int64_t jj = j; jj < j + 4; ++jj) Bp[k * NR + jj] = B.p[(j0 + jj) * B.ld + k0 + k];
    }
    for (; j < nr; ++j)
      for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = B.p[(j0 + j) * B.ld + k0 + k];
    for (; j < NR; ++j)
      for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = 0.0f;
  }
}

// Where the micro-kernel reads op(A)'s 12 rows from:
//   Packed: the packed slice, Ap[k * MR + r];
//   Rows:   A itself, not transposed: row r at a + r * lda, k contiguous;
//   Cols:   A itself, transposed: op(A)[r][k] at a + k * lda + r (12 contiguous values per k).
// The in-place forms are used when few B panels share each A slice, so packing would cost as
// much as the products.
enum class ASrc { Packed, Rows, Cols };

// C[i][j] = alpha * tile[i][j] + beta * C[i][j] (+ bias[j]) for i < mr, j < nr (beta == 0: C is
// not read; bias: the tile's nr columns, or null).
[[gnu::target("avx512f"), gnu::noinline]] void store_tile(const float* tile, float* C, int64_t ldc, int64_t mr,
                                                         int64_t nr, float alpha, float beta, const float* bias) {
  const __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps(),
               b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
  for (int64_t i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(va, _mm512_load_ps(tile + i * NR)), r1 = _mm512_mul_ps(va, _mm512_load_ps(tile + i * NR + 16));
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    if (bias) {
      r0 = _mm512_add_ps(r0, b0);
      r1 = _mm512_add_ps(r1, b1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

// The 12x32 micro-kernel: acc = sum_k op(A)[r][k] (x) Bp[k][:], then
// then C[i][j] = alpha * acc + beta * C[i][j] for i < mr, j < nr through store_tile.
template <ASrc S>
[[gnu::target("avx512f"), gnu::always_inline]] inline void micro_12x32(int64_t kc, const float* Ap, int64_t lda,
                                                                      const float* Bp, float* C, int64_t ldc,
                                                                      int64_t mr, int64_t nr, float alpha,
                                                                      float beta, const float* bias) {
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(),
         c11 = _mm512_setzero_ps(), c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(),
         c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps(), c40 = _mm512_setzero_ps(),
         c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(),
         c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(),
         c71 = _mm512_setzero_ps(), c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(),
         c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps(), ca0 = _mm512_setzero_ps(),
         ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
  // The C tile is read (beta != 0) or written at the end: start fetching its lines now, so the
  // epilogue does not wait on memory (C is often a large, cold activation buffer).
  for (int64_t i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + NR - 1), _MM_HINT_T0);
  }
  // Rows: three row groups of four, rows r = 4q + s at base_q + s * lda (rows past mr read row 0)
  const float* a0 = Ap;
  const float* a4 = Ap + (mr > 4 ? 4 : 0) * lda;
  const float* a8 = Ap + (mr > 8 ? 8 : 0) * lda;
  const int64_t l1 = mr > 1 ? lda : 0, l2 = mr > 2 ? 2 * lda : 0, l3 = mr > 3 ? 3 * lda : 0;
  const int64_t l5 = mr > 5 ? lda : 0, l6 = mr > 6 ? 2 * lda : 0, l7 = mr > 7 ? 3 * lda : 0;
  const int64_t l9 = mr > 9 ? lda : 0, l10 = mr > 10 ? 2 * lda : 0, l11 = mr > 11 ? 3 * lda : 0;
#define SEQNN_ROW(r, off, acc0, acc1)                                          \
  {                                                                            \
    const __m512 a = _mm512_set1_ps(S == ASrc::Rows ? (off) : Ap[(r)]);        \
    acc0 = _mm512_fmadd_ps(a, b0, acc0);                                       \
    acc1 = _mm512_fmadd_ps(a, b1, acc1);                                       \
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
    _mm_prefetch(reinterpret_cast<const char*>(Bp + 8 * NR), _MM_HINT_T0);
    SEQNN_ROW(0, a0[k], c00, c01)
    SEQNN_ROW(1, a0[l1 + k], c10, c11)
    SEQNN_ROW(2, a0[l2 + k], c20, c21)
    SEQNN_ROW(3, a0[l3 + k], c30, c31)
    SEQNN_ROW(4, a4[k], c40, c41)
    SEQNN_ROW(5, a4[l5 + k], c50, c51)
    SEQNN_ROW(6, a4[l6 + k], c60, c61)
    SEQNN_ROW(7, a4[l7 + k], c70, c71)
    SEQNN_ROW(8, a8[k], c80, c81)
    SEQNN_ROW(9, a8[l9 + k], c90, c91)
    SEQNN_ROW(10, a8[l10 + k], ca0, ca1)
    SEQNN_ROW(11, a8[l11 + k], cb0, cb1)
    if constexpr (S == ASrc::Packed) Ap += MR;
    if constexpr (S == ASrc::Cols) Ap += lda;
    Bp += NR;
  }
#undef SEQNN_ROW
  // The tile goes through an L1 buffer to an out-of-line epilogue: with the epilogue's alpha,
  // beta and masks live across the loop, GCC 12 kept the two B vectors on the stack and gave
  // every FMA a memory operand (36 loads per k instead of 14: 60% of the FMA peak).
  alignas(64) float tile[MR * NR];
  const __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                             {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    _mm512_store_ps(tile + i * NR, acc[i][0]);
    _mm512_store_ps(tile + i * NR + 16, acc[i][1]);
  }
  store_tile(tile, C, ldc, mr, nr, alpha, beta, bias);
}

// All micro-tiles of one packed B block (kc x nc) against rows [i0, i0 + mc) of op(A).
template <ASrc S>
[[gnu::target("avx512f")]] void block(int64_t mc, int64_t nc, int64_t kc, const float* A, int64_t lda,
                                      const float* Bb, float* C, int64_t ldc, float alpha, float beta,
                                      const float* bias) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const float* Bp = Bb + jr * kc;
    const int64_t nr = std::min(NR, nc - jr);
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const float* a = S == ASrc::Packed ? A + ir * kc : S == ASrc::Rows ? A + ir * lda : A + ir;
      micro_12x32<S>(kc, a, lda, Bp, C + ir * ldc + jr, ldc, std::min(MR, mc - ir), nr, alpha, beta,
                     bias ? bias + jr : nullptr);
    }
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
                  float* C, int64_t ldc, const float* bias) {
  Buffers& buf = buffers();
  // at most four B panels per A slice: read A in place instead of packing it
  const bool direct_a = N <= 8 * NR;
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;
      const float* bias_k = pc == 0 && bias ? bias + jc : nullptr;  // added once, with the first K block
      for (int64_t jr = 0; jr < nc; jr += NR) pack_b(B, pc, kc, jc + jr, std::min(NR, nc - jr), buf.b + jr * kc);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = std::min(MC, M - ic);
        if (direct_a && !A.trans) {
          block<ASrc::Rows>(mc, nc, kc, A.p + ic * A.ld + pc, A.ld, buf.b, C + ic * ldc + jc, ldc, alpha, beta_k,
                            bias_k);
          continue;
        }
        if (direct_a && A.trans && mc % MR == 0) {  // Cols reads whole 12-value groups: only full slices
          block<ASrc::Cols>(mc, nc, kc, A.p + pc * A.ld + ic, A.ld, buf.b, C + ic * ldc + jc, ldc, alpha, beta_k,
                            bias_k);
          continue;
        }
        if (A.trans) {
          pack_a_trans_block(A, ic, mc, pc, kc, buf.a);
        } else {
          for (int64_t ir = 0; ir < mc; ir += MR) pack_a(A, ic + ir, std::min(MR, mc - ir), pc, kc, buf.a + ir * kc);
        }
        block<ASrc::Packed>(mc, nc, kc, buf.a, 0, buf.b, C + ic * ldc + jc, ldc, alpha, beta_k, bias_k);
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
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias) {
  const Operand a{A, lda, trans_a}, b{B, ldb, trans_b};
  const int nt = in_parallel_region() ? 1 : num_threads();
  // Work per thread must pay for waking it: below ~2 MFLOP one thread does it all.
  const int64_t n_bands = (N + NR - 1) / NR, m_bands = (M + MR - 1) / MR;
  const int parts = static_cast<int>(std::min<int64_t>({nt, std::max<int64_t>(1, M * N * K / (1 << 20)),
                                                        std::max(n_bands, m_bands)}));
  if (parts <= 1) {
    sgemm_serial(M, N, K, alpha, a, b, beta, C, ldc, bias);
    return;
  }
  // Split C by columns or by rows, whichever costs less: the slowest part's multiply-adds plus
  // what each part does to an operand it does not own a share of. By rows, every part packs all
  // of B (K x N). By columns, every part reads all of A in place while its share of N is at most
  // 8 panels (sgemm_serial's direct_a), else packs all of A (M x K). Costs in multiply-adds per
  // element, fitted on bench_gemm's shapes here: packing 45 (4 bytes read and 4 written at
  // ~20 GB/s, against ~114 G multiply-adds/s a core), reading in place 8. (Always splitting the
  // longer side made each part of a weight gradient dG^T X, 256 x 256 x 3200, pack all 3200 x 256
  // of X: 1.46 -> 1.31 ms with this rule, bench_gemm, medians of 4 alternating runs.)
  constexpr double kPackCost = 45, kReadCost = 8;
  const int64_t n_per_part = (n_bands + parts - 1) / parts * NR, m_per_part = (m_bands + parts - 1) / parts * MR;
  const double cost_n = static_cast<double>(n_per_part) * M * K +
                        (n_per_part <= 8 * NR ? kReadCost : kPackCost) * static_cast<double>(M) * K;
  const double cost_m = static_cast<double>(m_per_part) * N * K + kPackCost * static_cast<double>(K) * N;
  const bool split_n = cost_n <= cost_m;
  const int64_t bands = split_n ? n_bands : m_bands;
  parallel_parts(parts, [&](int64_t t, int64_t c) {
    const int64_t b0 = bands * t / c, b1 = bands * (t + 1) / c;
    if (b0 < b1) {
      if (split_n) {
        const int64_t j0 = b0 * NR, j1 = std::min(N, b1 * NR);
        sgemm_serial(M, j1 - j0, K, alpha, a, cols_of(b, j0), beta, C + j0, ldc, bias ? bias + j0 : nullptr);
      } else {
        const int64_t i0 = b0 * MR, i1 = std::min(M, b1 * MR);
        sgemm_serial(i1 - i0, N, K, alpha, rows_of(a, i0), b, beta, C + i0 * ldc, ldc, bias);
      }
    }
  });
}

}  // namespace seqnn::kernels::detail
