// kernels/cpu/attention_short.cpp: attention for short key sets and narrow heads, float32 on
// AVX-512 (kernels/attention.h for the math and the contract; attention.cpp routes here).
//
// Who it is for: a ViT over 49 patches with 4 heads of 16, a booking sentence of 12 words, a
// translation decoder over 40 characters: Lk <= 64 keys, D, Dv <= 64. The tiled kernel treats
// each (head, query block) as a few GEMMs of (64 x 16) @ (16 x 49): packing the operands and the
// per-row softmax calls cost more than the multiply-adds. Here one head is done in registers and
// in L1-sized scratch:
//   K^T (and V^T for the backward) copied once per head into (D, 64) rows;
//   4 query rows at a time: S (4 x 64) = Q_rows K^T as 4 x ceil(Lk/16) zmm accumulators; per
//   row the allowed lanes [lo, hi) (causal / window / key length), max, e^(S - m), sum, all on
//   the row's <= 4 zmm; O (4 x Dv) = P V with P broadcast from the row buffer; O / l, lse.
//   Backward, per 4 query rows: P = e^(scale S - lse), dP = dO V^T (+ dW), Dl = dO . O (+ P . dW),
//   dS = P (dP - Dl) (0 where P == 1, the exact_one_ds rule of attention.cpp), dQ = scale dS K;
//   P and dS stay in an (Lq, 64) buffer and give, 4 keys at a time, dV = P^T dO and
//   dK = scale dS^T Q.
// Every product is one micro-kernel, out (4 x 16 NZ) = sum_j c(r, j) B[j, :], c broadcast from
// memory through 4 row pointers and a stride, B rows loaded with lane masks (no reads past a
// row's end). Not handled here (attention.cpp's tiled path takes them): dense masks, graphs,
// dropout (and so the mask gradient).
// exp: vm::exp's reduction and polynomial (vecmath.h) on zmm, 2^n by scalef.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/attention.h"
#include "kernels/vecmath.h"

// GCC 12's headers fill the unused source of the unmasked max / min / scalef / reduce builtins
// with an "undefined" vector that -Wmaybe-uninitialized reports when the caller is compiled
// with a target attribute rather than -mavx512f: a false positive (as in sgemm_small.cpp),
// silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace seqnn::kernels::detail {

namespace {

constexpr int64_t kL = kShortAttentionMaxL;  // row stride of every scratch buffer (64 floats)
constexpr float kInf = std::numeric_limits<float>::infinity();

// Lanes j of zmm z (columns 16 z .. 16 z + 15) with lo <= j < hi.
inline __mmask16 range_mask(int64_t lo, int64_t hi, int64_t z) {
  const int64_t a = std::clamp<int64_t>(lo - 16 * z, 0, 16), b = std::clamp<int64_t>(hi - 16 * z, 0, 16);
  if (a >= b) return 0;
  const uint32_t upto_b = b == 16 ? 0xFFFFu : (1u << b) - 1u, below_a = (1u << a) - 1u;
  return static_cast<__mmask16>(upto_b & ~below_a);
}

// e^x as vm::exp: clamped to [-104, 89], NaN passes (vmaxps / vminps return their second
// operand when either is NaN, so x goes second).
[[gnu::target("avx512f")]] inline __m512 exp16(__m512 x) {
  using namespace vm::detail;
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  const __m512 kn = _mm512_fmadd_ps(x, _mm512_set1_ps(kLog2e), _mm512_set1_ps(kShifter));
  const __m512 nf = _mm512_sub_ps(kn, _mm512_set1_ps(kShifter));
  __m512 r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(kLn2Hi), x);
  r = _mm512_fnmadd_ps(nf, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpTail[0]);
  for (int c = 1; c < 6; ++c) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpTail[c]));
  const __m512 e = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(r, _mm512_mul_ps(_mm512_mul_ps(r, r), p)));
  return _mm512_scalef_ps(e, nf);
}

[[gnu::target("avx512f")]] inline float hmax(__m512 v) { return _mm512_reduce_max_ps(v); }
[[gnu::target("avx512f")]] inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// One zmm column b of B against the 4 broadcast coefficients: r_i += x_i b.
[[gnu::target("avx512f"), gnu::always_inline]] inline void fma_column(__m512 b, __m512 x0, __m512 x1, __m512 x2,
                                                                     __m512 x3, __m512& r0, __m512& r1,
                                                                     __m512& r2, __m512& r3) {
  r0 = _mm512_fmadd_ps(x0, b, r0);
  r1 = _mm512_fmadd_ps(x1, b, r1);
  r2 = _mm512_fmadd_ps(x2, b, r2);
  r3 = _mm512_fmadd_ps(x3, b, r3);
}
[[gnu::target("avx512f"), gnu::always_inline]] inline void store_column(float* out, __m512 r0, __m512 r1, __m512 r2,
                                                                       __m512 r3) {
  _mm512_storeu_ps(out, r0);
  _mm512_storeu_ps(out + kL, r1);
  _mm512_storeu_ps(out + 2 * kL, r2);
  _mm512_storeu_ps(out + 3 * kL, r3);
}

// out[r * kL + 16 z + lane] = sum_{j < J} c[r][j * cs] * B[j * ldb + 16 z + lane], r < 4, z < NZ,
// lanes of zmm z limited by m[z] (the others are 0).
template <int NZ>
[[gnu::target("avx512f")]] void mk(const float* const* c, int64_t cs, int64_t J, const float* B, int64_t ldb,
                                   const __mmask16* m, float* out) {
  // Named accumulators and masks copied to locals: with an array of __m512 (or masks read
  // through the pointer) GCC 12 stored every accumulator to the stack on each iteration.
  __m512 a00 = _mm512_setzero_ps(), a10 = a00, a20 = a00, a30 = a00, a01 = a00, a11 = a00, a21 = a00, a31 = a00;
  __m512 a02 = a00, a12 = a00, a22 = a00, a32 = a00, a03 = a00, a13 = a00, a23 = a00, a33 = a00;
  const __mmask16 m0 = m[0], m1 = NZ > 1 ? m[1] : 0, m2 = NZ > 2 ? m[2] : 0, m3 = NZ > 3 ? m[3] : 0;
  const float *c0 = c[0], *c1 = c[1], *c2 = c[2], *c3 = c[3];
  for (int64_t j = 0, o = 0; j < J; ++j, o += cs, B += ldb) {
    const __m512 x0 = _mm512_set1_ps(c0[o]), x1 = _mm512_set1_ps(c1[o]), x2 = _mm512_set1_ps(c2[o]),
                 x3 = _mm512_set1_ps(c3[o]);
    fma_column(_mm512_maskz_loadu_ps(m0, B), x0, x1, x2, x3, a00, a10, a20, a30);
    if constexpr (NZ > 1) fma_column(_mm512_maskz_loadu_ps(m1, B + 16), x0, x1, x2, x3, a01, a11, a21, a31);
    if constexpr (NZ > 2) fma_column(_mm512_maskz_loadu_ps(m2, B + 32), x0, x1, x2, x3, a02, a12, a22, a32);
    if constexpr (NZ > 3) fma_column(_mm512_maskz_loadu_ps(m3, B + 48), x0, x1, x2, x3, a03, a13, a23, a33);
  }
  store_column(out, a00, a10, a20, a30);
  if constexpr (NZ > 1) store_column(out + 16, a01, a11, a21, a31);
  if constexpr (NZ > 2) store_column(out + 32, a02, a12, a22, a32);
  if constexpr (NZ > 3) store_column(out + 48, a03, a13, a23, a33);
}

// mk for nz = 1..4 zmm of columns.
void mk_any(int nz, const float* const* c, int64_t cs, int64_t J, const float* B, int64_t ldb, const __mmask16* m,
            float* out) {
  switch (nz) {
    case 1: return mk<1>(c, cs, J, B, ldb, m, out);
    case 2: return mk<2>(c, cs, J, B, ldb, m, out);
    case 3: return mk<3>(c, cs, J, B, ldb, m, out);
    default: return mk<4>(c, cs, J, B, ldb, m, out);
  }
}

// Lane masks of the first n columns, 16 per zmm, for 4 zmm.
void width_masks(int64_t n, __mmask16* m) {
  for (int z = 0; z < 4; ++z) m[z] = range_mask(0, n, z);
}

inline int zmm_count(int64_t n) { return static_cast<int>((n + 15) / 16); }

// dst (rows, 64): dst[d][j] = src[j * ld + d] for j < n (<= 64), 0 for n <= j < 16 ceil(n/16):
// column d of src gathered 16 rows at a time.
[[gnu::target("avx512f")]] void transpose_into(const float* src, int64_t ld, int64_t n, int64_t rows, float* dst) {
  const int nz = zmm_count(n);
  __mmask16 m[4];
  __m512i idx[4];
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  for (int z = 0; z < nz; ++z) {
    m[z] = range_mask(0, n, z);
    // row offsets (16 z + lane) ld; 64 ld < 2^31 is checked by attention_short_ok
    idx[z] = _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(16 * z)), _mm512_set1_epi32(static_cast<int>(ld)));
  }
  for (int64_t d = 0; d < rows; ++d)
    for (int z = 0; z < nz; ++z)
      _mm512_storeu_ps(dst + d * kL + 16 * z, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m[z], idx[z], src + d, 4));
}

}  // namespace

bool attention_short_ok(const AttentionProblem<float>& pr) {
  static const bool avx512 = [] {
    const char* isa = vecmath_isa();
    return isa[0] == 'a' && isa[3] == '5';
  }();
  return avx512 && pr.Lk >= 1 && pr.Lk <= kL && pr.D >= 1 && pr.D <= kL && pr.Dv >= 1 && pr.Dv <= kL &&
         pr.Lq <= kShortAttentionMaxLq && pr.k_sl <= (int64_t{1} << 24) && pr.v_sl <= (int64_t{1} << 24) &&
         !pr.indptr && !pr.mask_bool && !pr.mask_add && pr.dropout_p == 0;
}

int64_t attention_short_scratch(const AttentionProblem<float>& pr) {
  const int64_t rows = (pr.Lq + 3) / 4 * 4;
  return 2 * kL * kL + 2 * rows * kL + 4 * kL;  // K^T, V^T, P, dS, one 4-row output block
}

[[gnu::target("avx512f")]] void attention_short_forward_head(const AttentionProblem<float>& pr, int64_t b,
                                                              int64_t n, float* o, float* lse, float* w,
                                                              float* scratch) {
  const int64_t h = b * pr.N + n, Lq = pr.Lq, Lk = pr.Lk, D = pr.D, Dv = pr.Dv;
  const float* q = pr.q + b * pr.q_sb + n * pr.q_sn;
  const float* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  const float* v = pr.v + b * pr.v_sb + n * pr.v_sn;
  float* kt = scratch;          // (D, 64)
  float* sb = kt + kL * kL;     // (4, 64) scores, then P
  float* ob = sb + 4 * kL;      // (4, 64) P V
  const int qz = zmm_count(Lk), ez = zmm_count(Dv);
  __mmask16 all[4], em[4], km[4];
  width_masks(kL, all);
  width_masks(Dv, em);
  width_masks(Lk, km);
  transpose_into(k, pr.k_sl, Lk, D, kt);
  const __m512 scale = _mm512_set1_ps(pr.scale);
  for (int64_t i0 = 0; i0 < Lq; i0 += 4) {
    const int64_t R = std::min<int64_t>(4, Lq - i0);
    const float* rows[4];
    for (int r = 0; r < 4; ++r) rows[r] = q + std::min(i0 + r, Lq - 1) * pr.q_sl;
    mk_any(qz, rows, 1, D, kt, kL, all, sb);  // S without scale, columns past Lk are 0
    float m[4] = {0, 0, 0, 0}, l[4] = {0, 0, 0, 0};
    bool empty[4] = {true, true, true, true};
    int64_t jmax = 0;
    for (int64_t r = 0; r < 4; ++r) {
      float* s = sb + r * kL;
      int64_t lo = 0, hi = 0;
      if (r < R) row_range(pr, b, i0 + r, lo, hi);
      if (lo >= hi) {  // nothing allowed (or a padding row): P = 0
        for (int z = 0; z < qz; ++z) _mm512_storeu_ps(s + 16 * z, _mm512_setzero_ps());
        continue;
      }
      empty[r] = false;
      jmax = std::max(jmax, hi);
      __m512 sv[4], mx = _mm512_set1_ps(-kInf);
      __mmask16 mz[4];
      for (int z = 0; z < qz; ++z) {
        mz[z] = range_mask(lo, hi, z);
        sv[z] = _mm512_mul_ps(_mm512_loadu_ps(s + 16 * z), scale);
        mx = _mm512_mask_max_ps(mx, mz[z], mx, sv[z]);
      }
      m[r] = hmax(mx);
      const __m512 mv = _mm512_set1_ps(m[r]);
      __m512 sum = _mm512_setzero_ps();
      for (int z = 0; z < qz; ++z) {
        const __m512 e = _mm512_maskz_mov_ps(mz[z], exp16(_mm512_sub_ps(sv[z], mv)));
        _mm512_storeu_ps(s + 16 * z, e);
        sum = _mm512_add_ps(sum, e);
      }
      l[r] = hsum(sum);
    }
    const float* prow[4] = {sb, sb + kL, sb + 2 * kL, sb + 3 * kL};
    mk_any(ez, prow, 1, jmax, v, pr.v_sl, em, ob);  // acc = P V over the keys any row allows
    for (int64_t r = 0; r < R; ++r) {
      const int64_t i = h * Lq + i0 + r;
      float* orow = o + i * Dv;
      // l >= 1 in an allowed row (its max contributes e^0); NaN scores make it NaN, and the row
      // NaN with it, as on the tiled path
      const float inv = empty[r] ? 0.0f : 1.0f / l[r];
      const __m512 iv = _mm512_set1_ps(inv);
      for (int z = 0; z < ez; ++z) _mm512_mask_storeu_ps(orow + 16 * z, em[z], _mm512_mul_ps(_mm512_loadu_ps(ob + r * kL + 16 * z), iv));
      lse[i] = empty[r] ? -kInf : m[r] + std::log(l[r]);
      if (w) {
        float* wr = w + i * Lk;
        for (int z = 0; z < qz; ++z) _mm512_mask_storeu_ps(wr + 16 * z, km[z], _mm512_mul_ps(_mm512_loadu_ps(sb + r * kL + 16 * z), iv));
      }
    }
  }
}

[[gnu::target("avx512f")]] void attention_short_backward_head(const AttentionProblem<float>& pr, int64_t b,
                                                               int64_t n, const float* do_, const float* o,
                                                               const float* lse, const float* dw, float* dq,
                                                               float* dk, float* dv, float* scratch) {
  const int64_t h = b * pr.N + n, Lq = pr.Lq, Lk = pr.Lk, D = pr.D, Dv = pr.Dv;
  const float* q = pr.q + b * pr.q_sb + n * pr.q_sn;
  const float* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  const float* v = pr.v + b * pr.v_sb + n * pr.v_sn;
  const float* doh = do_ + h * Lq * Dv;
  const float* oh = o + h * Lq * Dv;
  const int64_t rows4 = (Lq + 3) / 4 * 4;
  float* kt = scratch;             // (D, 64)
  float* vt = kt + kL * kL;        // (Dv, 64)
  float* P = vt + kL * kL;         // (rows4, 64)
  float* dS = P + rows4 * kL;      // (rows4, 64): dP, then dS
  float* ob = dS + rows4 * kL;     // (4, 64)
  const int qz = zmm_count(Lk), ez = zmm_count(Dv), dz = zmm_count(D);
  __mmask16 all[4], em[4], dm[4], km[4];
  width_masks(kL, all);
  width_masks(Dv, em);
  width_masks(D, dm);
  width_masks(Lk, km);
  transpose_into(k, pr.k_sl, Lk, D, kt);
  transpose_into(v, pr.v_sl, Lk, Dv, vt);
  const __m512 scale = _mm512_set1_ps(pr.scale), one = _mm512_set1_ps(1.0f);
  for (int64_t i0 = 0; i0 < Lq; i0 += 4) {
    const int64_t R = std::min<int64_t>(4, Lq - i0);
    const float* rows[4];
    for (int r = 0; r < 4; ++r) rows[r] = q + std::min(i0 + r, Lq - 1) * pr.q_sl;
    mk_any(qz, rows, 1, D, kt, kL, all, P + i0 * kL);  // S / scale
    for (int r = 0; r < 4; ++r) rows[r] = doh + std::min(i0 + r, Lq - 1) * Dv;
    mk_any(qz, rows, 1, Dv, vt, kL, all, dS + i0 * kL);  // dP = dO V^T
    for (int64_t r = 0; r < R; ++r) {
      const int64_t i = i0 + r;
      float* pr_ = P + i * kL;
      float* ds = dS + i * kL;
      int64_t lo, hi;
      row_range(pr, b, i, lo, hi);
      const float li = lse[h * Lq + i];
      if (lo >= hi || li == -kInf) {
        for (int z = 0; z < qz; ++z) {
          _mm512_storeu_ps(pr_ + 16 * z, _mm512_setzero_ps());
          _mm512_storeu_ps(ds + 16 * z, _mm512_setzero_ps());
        }
        continue;
      }
      // P = e^(scale S - lse) first: Dl needs it when the weights have a gradient
      __m512 p[4];
      for (int z = 0; z < qz; ++z) {
        const __m512 sv = _mm512_mul_ps(_mm512_loadu_ps(pr_ + 16 * z), scale);
        p[z] = _mm512_maskz_mov_ps(range_mask(lo, hi, z), exp16(_mm512_sub_ps(sv, _mm512_set1_ps(li))));
      }
      __m512 dl = _mm512_setzero_ps();  // Dl = dO_i . O_i (+ W_i . dW_i)
      for (int z = 0; z < ez; ++z)
        dl = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(em[z], doh + i * Dv + 16 * z),
                             _mm512_maskz_loadu_ps(em[z], oh + i * Dv + 16 * z), dl);
      __m512 dwv[4];
      if (dw) {
        const float* dwr = dw + (h * Lq + i) * Lk;
        for (int z = 0; z < qz; ++z) {
          dwv[z] = _mm512_maskz_loadu_ps(km[z], dwr + 16 * z);
          dl = _mm512_fmadd_ps(p[z], dwv[z], dl);
        }
      }
      const __m512 dlv = _mm512_set1_ps(hsum(dl));
      for (int z = 0; z < qz; ++z) {
        __m512 dp = _mm512_loadu_ps(ds + 16 * z);  // dO V^T (+ dW)
        if (dw) dp = _mm512_add_ps(dp, dwv[z]);
        const __mmask16 keep = _mm512_cmp_ps_mask(p[z], one, _CMP_NEQ_UQ);  // exact_one_ds
        _mm512_storeu_ps(pr_ + 16 * z, p[z]);
        _mm512_storeu_ps(ds + 16 * z, _mm512_maskz_mul_ps(keep, p[z], _mm512_sub_ps(dp, dlv)));
      }
    }
    // dQ rows = scale dS K (the dS rows past Lq are never read: rows clamp to Lq - 1)
    for (int r = 0; r < 4; ++r) rows[r] = dS + std::min(i0 + r, Lq - 1) * kL;
    mk_any(dz, rows, 1, Lk, k, pr.k_sl, dm, ob);
    for (int64_t r = 0; r < R; ++r) {
      float* row = dq + (h * Lq + i0 + r) * D;
      for (int z = 0; z < dz; ++z) _mm512_mask_storeu_ps(row + 16 * z, dm[z], _mm512_mul_ps(_mm512_loadu_ps(ob + r * kL + 16 * z), scale));
    }
  }
  // 4 keys at a time: dV = P^T dO, dK = scale dS^T Q (the columns of P and dS, stride 64)
  for (int64_t j0 = 0; j0 < Lk; j0 += 4) {
    const int64_t R = std::min<int64_t>(4, Lk - j0);
    const float* cols[4];
    for (int r = 0; r < 4; ++r) cols[r] = P + std::min(j0 + r, Lk - 1);
    mk_any(ez, cols, kL, Lq, doh, Dv, em, ob);
    for (int64_t r = 0; r < R; ++r) {
      float* row = dv + (h * Lk + j0 + r) * Dv;
      for (int z = 0; z < ez; ++z) _mm512_mask_storeu_ps(row + 16 * z, em[z], _mm512_loadu_ps(ob + r * kL + 16 * z));
    }
    for (int r = 0; r < 4; ++r) cols[r] = dS + std::min(j0 + r, Lk - 1);
    mk_any(dz, cols, kL, Lq, q, pr.q_sl, dm, ob);
    for (int64_t r = 0; r < R; ++r) {
      float* row = dk + (h * Lk + j0 + r) * D;
      for (int z = 0; z < dz; ++z) _mm512_mask_storeu_ps(row + 16 * z, dm[z], _mm512_mul_ps(_mm512_loadu_ps(ob + r * kL + 16 * z), scale));
    }
  }
}

}  // namespace seqnn::kernels::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
