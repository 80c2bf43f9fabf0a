// kernels/cpu/attention.cpp: the fused attention kernel (kernels/attention.h for the math).
//
// Forward, per (head, query block of kBq rows), with the key range [jmin, jmax) that the block's
// causal / window / length limits leave (blocks outside it are never visited):
//   for each key block:  S = scale Q_blk K_blk^T (gemm) + mask
//                        m' = max(m, rowmax S);  P = exp(S - m');  l = l e^{m-m'} + rowsum P
//                        acc = acc e^{m-m'} + dropout(P) V_blk (gemm)
//   O = acc / l,  lse = m + log l   (a row with nothing allowed: O = 0, lse = -inf)
// Graph masks take the per-row path instead: each row's edges (deduplicated, range-filtered),
// gathered keys, a two-pass softmax over them: O(edges) work.
// Backward (FlashAttention-2), per (head, key chunk) so that no two tasks write the same dK/dV
// rows; each tile recomputes P = exp(S - lse) and does
//   dV += W^T dO,  dP = (dO V^T + dW) f,  dS = P (dP - Dl),  dQ += scale dS K,  dK += scale dS^T Q
// with Dl_i = rowsum(dO_i O_i) (+ rowsum(W_i dW_i)). When the heads alone cannot feed every
// thread, the key range is split in chunks and each chunk adds its dQ into a private buffer that
// is summed at the end. Extra memory: O(L) per task (tiles, row statistics, that dQ buffer).
// Short key sets with narrow heads (Lk, D, Dv <= 64; float, AVX-512; no dense mask, graph or
// dropout) go to attention_short.cpp instead, one task per head.
// exact_one_ds: where P_ij == 1 exactly (a row with one allowed key, or one key that takes all
// the mass), dS_ij = P_ij sum_{k!=j} P_ik (dP_ij - dP_ik) is below the rounding of the sum, but
// dP_ij - Dl_i would leave the noise of two differently ordered dot products (~1e-8 where the
// true gradient is exactly 0, as PyTorch's softmax backward gives). dS_ij = 0 there.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/parallel.h"
#include "kernels/vecmath.h"
#include "seqnn/threads.h"

namespace seqnn::kernels {

namespace {

constexpr int64_t kBq = 64;   // query rows per block
constexpr int64_t kBk = 256;  // keys per block

// Problems below ~256K multiply-adds run on the calling thread (a parallel region costs more
// than they do).
inline bool is_small(int64_t Lq, int64_t Lk, int64_t D, int64_t Dv, int64_t H) {
  return H * Lq * Lk * (D + Dv + 1) < (int64_t{1} << 18);
}

// Runs tasks [0, n) on seqnn's threads. body(next) loops `for (t = next(); t >= 0; t = next())`;
// the threads take tasks from one shared counter, so a thread slowed by other load on the
// machine does fewer of them (a static split would wait for it). Inline when `small`.
template <class Body>
void run_tasks(int64_t n, bool small, const Body& body) {
  if (n <= 0) return;
  if (small || n == 1 || num_threads() <= 1) {
    int64_t t = 0;
    body([&] { return t < n ? t++ : int64_t{-1}; });
    return;
  }
  std::atomic<int64_t> counter{0};
  parallel_for(std::min<int64_t>(num_threads(), n), 1, [&](int64_t, int64_t) {
    body([&] {
      const int64_t t = counter.fetch_add(1, std::memory_order_relaxed);
      return t < n ? t : int64_t{-1};
    });
  });
}

template <class T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// The short-key kernel's heads as tasks, each thread with its own scratch: head(b, n, scratch).
template <class Head>
void short_heads(const AttentionProblem<float>& pr, const Head& head) {
  run_tasks(pr.B * pr.N, is_small(pr.Lq, pr.Lk, pr.D, pr.Dv, pr.B * pr.N), [&](auto next) {
    std::vector<float> scratch(static_cast<size_t>(detail::attention_short_scratch(pr)));
    for (int64_t h = next(); h >= 0; h = next()) head(h / pr.N, h % pr.N, scratch.data());
  });
}

// ==================================================================== row ranges
// Row ranges of query rows [i0, i0+bq) and the union [jmin, jmax) of the non-empty ones.
template <class T>
void block_ranges(const AttentionProblem<T>& pr, int64_t b, int64_t i0, int64_t bq, int64_t* lo, int64_t* hi,
                  int64_t& jmin, int64_t& jmax) {
  jmin = pr.Lk, jmax = 0;
  for (int64_t r = 0; r < bq; ++r) {
    row_range(pr, b, i0 + r, lo[r], hi[r]);
    if (lo[r] < hi[r]) jmin = std::min(jmin, lo[r]), jmax = std::max(jmax, hi[r]);
  }
  if (jmin >= jmax) jmin = jmax = 0;
}

// keep/(1-p) for element (b, n, i, j)
template <class T>
inline T drop_factor(const AttentionProblem<T>& pr, int64_t h, int64_t i, int64_t j, T inv_keep) {
  const uint64_t idx = static_cast<uint64_t>((h * pr.Lq + i) * pr.Lk + j);
  return dropout_keep(pr.seed, idx, pr.dropout_p) ? inv_keep : T(0);
}

// ==================================================================== tile scores
// s (bq, bk), leading dim lds, holds scale q.k for rows i0.., keys j0..: adds the dense mask and
// sets -inf outside each row's range and where a mask disallows. Returns per row the in-tile
// [rlo, rhi) (empty when the row has nothing in this tile).
template <class T>
void mask_tile(const AttentionProblem<T>& pr, int64_t b, int64_t n, int64_t i0, int64_t bq, int64_t j0, int64_t bk,
               const int64_t* lo, const int64_t* hi, T* s, int64_t lds, int64_t* rlo, int64_t* rhi) {
  for (int64_t r = 0; r < bq; ++r) {
    T* sr = s + r * lds;
    const int64_t a = std::clamp(lo[r] - j0, int64_t{0}, bk), z = std::clamp(hi[r] - j0, int64_t{0}, bk);
    rlo[r] = a, rhi[r] = std::max(a, z);
    for (int64_t c = 0; c < a; ++c) sr[c] = kNegInf<T>;
    for (int64_t c = rhi[r]; c < bk; ++c) sr[c] = kNegInf<T>;
    if (a >= z) continue;
    const int64_t mo = b * pr.m_sb + n * pr.m_sn + (i0 + r) * pr.m_sq + j0 * pr.m_sk;
    if (pr.mask_bool) {
      const bool* mb = pr.mask_bool + mo;
      for (int64_t c = a; c < z; ++c) sr[c] = mb[c * pr.m_sk] ? kNegInf<T> : sr[c];
    } else if (pr.mask_add) {
      const T* ma = pr.mask_add + mo;
      if (pr.m_sk == 1)
        for (int64_t c = a; c < z; ++c) sr[c] += ma[c];
      else
        for (int64_t c = a; c < z; ++c) sr[c] += ma[c * pr.m_sk];
    }
  }
}

// ==================================================================== graph rows
// The allowed edges of row i (deduplicated, in range, not masked) and their scores.
template <class T>
void graph_row(const AttentionProblem<T>& pr, int64_t b, int64_t n, int64_t i, const T* q, const T* k,
               std::vector<int64_t>& js, std::vector<T>& ss) {
  int64_t lo, hi;
  row_range(pr, b, i, lo, hi);
  js.clear(), ss.clear();
  for (int64_t e = pr.indptr[i]; e < pr.indptr[i + 1]; ++e) {
    const int64_t j = pr.indices[e];
    if (j >= lo && j < hi) js.push_back(j);
  }
  std::sort(js.begin(), js.end());
  js.erase(std::unique(js.begin(), js.end()), js.end());
  const T* qi = q + i * pr.q_sl;
  size_t kept = 0;
  for (const int64_t j : js) {
    const int64_t mo = b * pr.m_sb + n * pr.m_sn + i * pr.m_sq + j * pr.m_sk;
    if (pr.mask_bool && pr.mask_bool[mo]) continue;
    T add = pr.mask_add ? pr.mask_add[mo] : T(0);
    if (add == kNegInf<T>) continue;
    const T* kj = k + j * pr.k_sl;
    T dot = 0;
    for (int64_t d = 0; d < pr.D; ++d) dot += qi[d] * kj[d];
    js[kept++] = j;
    ss.push_back(pr.scale * dot + add);
  }
  js.resize(kept);
}

template <class T>
void graph_forward_head(const AttentionProblem<T>& pr, int64_t b, int64_t n, T* o, T* lse, T* w) {
  const int64_t h = b * pr.N + n, Dv = pr.Dv;
  const T* q = pr.q + b * pr.q_sb + n * pr.q_sn;
  const T* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  const T* v = pr.v + b * pr.v_sb + n * pr.v_sn;
  const T inv_keep = static_cast<T>(1.0 / (1.0 - pr.dropout_p));
  std::vector<int64_t> js;
  std::vector<T> ss;
  for (int64_t i = 0; i < pr.Lq; ++i) {
    graph_row(pr, b, n, i, q, k, js, ss);
    T* oi = o + (h * pr.Lq + i) * Dv;
    T* wi = w ? w + (h * pr.Lq + i) * pr.Lk : nullptr;
    std::fill(oi, oi + Dv, T(0));
    if (wi) std::fill(wi, wi + pr.Lk, T(0));
    if (js.empty()) {
      lse[h * pr.Lq + i] = kNegInf<T>;
      continue;
    }
    // lse = m + log sum exp(s - m);  O_i = sum_j W_ij v_j
    const T m = *std::max_element(ss.begin(), ss.end());
    T l = 0;
    for (T& s : ss) l += (s = std::exp(s - m));
    lse[h * pr.Lq + i] = m + std::log(l);
    for (size_t e = 0; e < js.size(); ++e) {
      T wij = ss[e] / l;
      if (pr.dropout_p > 0) wij *= drop_factor(pr, h, i, js[e], inv_keep);
      if (wi) wi[js[e]] = wij;
      const T* vj = v + js[e] * pr.v_sl;
      for (int64_t d = 0; d < Dv; ++d) oi[d] += wij * vj[d];
    }
  }
}

// dQ, dK, dV (and dmask) of one head along its edges; the caller zeroed them.
template <class T>
void graph_backward_head(const AttentionProblem<T>& pr, int64_t b, int64_t n, const T* do_, const T* o, const T* lse,
                         const T* dw, T* dq, T* dk, T* dv, T* dmask) {
  const int64_t h = b * pr.N + n, D = pr.D, Dv = pr.Dv;
  const T* q = pr.q + b * pr.q_sb + n * pr.q_sn;
  const T* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  const T* v = pr.v + b * pr.v_sb + n * pr.v_sn;
  const T inv_keep = static_cast<T>(1.0 / (1.0 - pr.dropout_p));
  std::vector<int64_t> js;
  std::vector<T> ss;
  for (int64_t i = 0; i < pr.Lq; ++i) {
    const T li = lse[h * pr.Lq + i];
    if (li == kNegInf<T>) continue;
    graph_row(pr, b, n, i, q, k, js, ss);
    const T* doi = do_ + (h * pr.Lq + i) * Dv;
    const T* oi = o + (h * pr.Lq + i) * Dv;
    const T* dwi = dw ? dw + (h * pr.Lq + i) * pr.Lk : nullptr;
    // P_ij = exp(s_ij - lse_i);  Dl_i = dO_i.O_i + sum_j W_ij dW_ij
    T dl = 0;
    for (int64_t d = 0; d < Dv; ++d) dl += doi[d] * oi[d];
    for (size_t e = 0; e < js.size(); ++e) {
      ss[e] = std::exp(ss[e] - li);
      if (dwi) dl += ss[e] * (pr.dropout_p > 0 ? drop_factor(pr, h, i, js[e], inv_keep) : T(1)) * dwi[js[e]];
    }
    const T* qi = q + i * pr.q_sl;
    T* dqi = dq + (h * pr.Lq + i) * D;
    for (size_t e = 0; e < js.size(); ++e) {
      const int64_t j = js[e];
      const T p = ss[e], f = pr.dropout_p > 0 ? drop_factor(pr, h, i, j, inv_keep) : T(1);
      const T* vj = v + j * pr.v_sl;
      const T* kj = k + j * pr.k_sl;
      T* dvj = dv + (h * pr.Lk + j) * Dv;
      T* dkj = dk + (h * pr.Lk + j) * D;
      T dp = 0;
      for (int64_t d = 0; d < Dv; ++d) dvj[d] += p * f * doi[d], dp += doi[d] * vj[d];  // dV_j += W_ij dO_i
      if (dwi) dp += dwi[j];
      // dS_ij = P_ij (dP_ij - Dl_i); exactly 0 where P_ij == 1 (see exact_one_ds below)
      const T ds = p == T(1) ? T(0) : p * (dp * f - dl);
      if (dmask) dmask[(h * pr.Lq + i) * pr.Lk + j] = ds;
      for (int64_t d = 0; d < D; ++d) dqi[d] += pr.scale * ds * kj[d], dkj[d] += pr.scale * ds * qi[d];
    }
  }
}

// ==================================================================== dense forward
// One query block [i0, i0+bq) of head (b, n).
template <class T>
void forward_block(const AttentionProblem<T>& pr, int64_t b, int64_t n, int64_t i0, int64_t bq, T* o, T* lse, T* w,
                   std::vector<T>& s, std::vector<T>& acc) {
  const int64_t h = b * pr.N + n, Dv = pr.Dv, Lk = pr.Lk;
  const T* q = pr.q + b * pr.q_sb + n * pr.q_sn + i0 * pr.q_sl;
  const T* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  const T* v = pr.v + b * pr.v_sb + n * pr.v_sn;
  const T inv_keep = static_cast<T>(1.0 / (1.0 - pr.dropout_p));
  int64_t lo[kBq], hi[kBq], rlo[kBq], rhi[kBq], jmin, jmax;
  T m[kBq], l[kBq];
  block_ranges(pr, b, i0, bq, lo, hi, jmin, jmax);
  std::fill(acc.begin(), acc.begin() + bq * Dv, T(0));
  std::fill(m, m + bq, kNegInf<T>);
  std::fill(l, l + bq, T(0));
  for (int64_t j0 = jmin; j0 < jmax; j0 += kBk) {
    const int64_t bk = std::min(kBk, jmax - j0);
    // S = scale Q K^T
    gemm<T>(false, true, bq, bk, pr.D, pr.scale, q, pr.q_sl, k + j0 * pr.k_sl, pr.k_sl, T(0), s.data(), kBk);
    mask_tile(pr, b, n, i0, bq, j0, bk, lo, hi, s.data(), kBk, rlo, rhi);
    for (int64_t r = 0; r < bq; ++r) {
      T* sr = s.data() + r * kBk;
      const T mx = rlo[r] < rhi[r] ? vmax(sr + rlo[r], rhi[r] - rlo[r]) : kNegInf<T>;
      if (mx == kNegInf<T>) {
        std::fill(sr, sr + bk, T(0));
        continue;
      }
      // m' = max(m, rowmax);  P = exp(S - m');  l = l e^{m-m'} + sum P;  acc *= e^{m-m'}
      const T mn = std::max(m[r], mx);
      const T alpha = m[r] == kNegInf<T> ? T(0) : std::exp(m[r] - mn);
      std::fill(sr, sr + rlo[r], T(0));
      std::fill(sr + rhi[r], sr + bk, T(0));
      const double sum = vexp_shift_sum(sr + rlo[r], mn, sr + rlo[r], rhi[r] - rlo[r]);
      l[r] = l[r] * alpha + static_cast<T>(sum);
      m[r] = mn;
      if (alpha != T(1)) {
        T* ar = acc.data() + r * Dv;
        for (int64_t d = 0; d < Dv; ++d) ar[d] *= alpha;
      }
      if (pr.dropout_p > 0)
        for (int64_t c = rlo[r]; c < rhi[r]; ++c) sr[c] *= drop_factor(pr, h, i0 + r, j0 + c, inv_keep);
    }
    // acc += dropout(P) V
    gemm<T>(false, false, bq, Dv, bk, T(1), s.data(), kBk, v + j0 * pr.v_sl, pr.v_sl, T(1), acc.data(), Dv);
  }
  for (int64_t r = 0; r < bq; ++r) {
    T* orow = o + (h * pr.Lq + i0 + r) * Dv;
    const T* ar = acc.data() + r * Dv;
    if (l[r] == T(0)) {  // nothing allowed
      std::fill(orow, orow + Dv, T(0));
      lse[h * pr.Lq + i0 + r] = kNegInf<T>;
      continue;
    }
    const T inv = T(1) / l[r];
    for (int64_t d = 0; d < Dv; ++d) orow[d] = ar[d] * inv;
    lse[h * pr.Lq + i0 + r] = m[r] + std::log(l[r]);
  }
  if (!w) return;
  // W = dropout(exp(S - lse)) written tile by tile, zero outside [jmin, jmax)
  for (int64_t r = 0; r < bq; ++r) std::fill(w + (h * pr.Lq + i0 + r) * Lk, w + (h * pr.Lq + i0 + r + 1) * Lk, T(0));
  for (int64_t j0 = jmin; j0 < jmax; j0 += kBk) {
    const int64_t bk = std::min(kBk, jmax - j0);
    gemm<T>(false, true, bq, bk, pr.D, pr.scale, q, pr.q_sl, k + j0 * pr.k_sl, pr.k_sl, T(0), s.data(), kBk);
    mask_tile(pr, b, n, i0, bq, j0, bk, lo, hi, s.data(), kBk, rlo, rhi);
    for (int64_t r = 0; r < bq; ++r) {
      const T li = lse[h * pr.Lq + i0 + r];
      if (li == kNegInf<T> || rlo[r] >= rhi[r]) continue;
      T* wr = w + (h * pr.Lq + i0 + r) * Lk + j0;
      vexp_shift_sum(s.data() + r * kBk + rlo[r], li, wr + rlo[r], rhi[r] - rlo[r]);
      if (pr.dropout_p > 0)
        for (int64_t c = rlo[r]; c < rhi[r]; ++c) wr[c] *= drop_factor(pr, h, i0 + r, j0 + c, inv_keep);
    }
  }
}

// ==================================================================== dense backward
struct BwdScratch {
  int64_t lo[kBq], hi[kBq], rlo[kBq], rhi[kBq];
};

// Tiles of head (b, n) with keys in [c0, c1) (block-aligned): accumulates dK, dV rows of the chunk
// and dQ into dqh (Lq, D) (the head's own or a private buffer). dl: (Lq) the row terms Dl.
template <class T>
void backward_chunk(const AttentionProblem<T>& pr, int64_t b, int64_t n, int64_t c0, int64_t c1, const T* do_,
                    const T* lse, const T* dl, const T* dw, T* dqh, T* dk, T* dv, T* dmask, std::vector<T>& s,
                    std::vector<T>& pd, std::vector<T>& dp) {
  const int64_t h = b * pr.N + n, D = pr.D, Dv = pr.Dv, Lq = pr.Lq, Lk = pr.Lk;
  const T* qh = pr.q + b * pr.q_sb + n * pr.q_sn;
  const T* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  const T* v = pr.v + b * pr.v_sb + n * pr.v_sn;
  const T inv_keep = static_cast<T>(1.0 / (1.0 - pr.dropout_p));
  const bool drop = pr.dropout_p > 0;
  BwdScratch sc;
  for (int64_t i0 = 0; i0 < Lq; i0 += kBq) {
    const int64_t bq = std::min(kBq, Lq - i0);
    int64_t jmin, jmax;
    block_ranges(pr, b, i0, bq, sc.lo, sc.hi, jmin, jmax);
    jmin = std::max(jmin, c0), jmax = std::min(jmax, c1);
    if (jmin >= jmax) continue;
    const T* q = qh + i0 * pr.q_sl;
    const T* doq = do_ + (h * Lq + i0) * Dv;
    const T* lq = lse + h * Lq + i0;
    for (int64_t j0 = jmin; j0 < jmax; j0 += kBk) {
      const int64_t bk = std::min(kBk, jmax - j0);
      // P = exp(S - lse), W = P f
      gemm<T>(false, true, bq, bk, D, pr.scale, q, pr.q_sl, k + j0 * pr.k_sl, pr.k_sl, T(0), s.data(), kBk);
      mask_tile(pr, b, n, i0, bq, j0, bk, sc.lo, sc.hi, s.data(), kBk, sc.rlo, sc.rhi);
      bool any = false;
      for (int64_t r = 0; r < bq; ++r) {
        T* sr = s.data() + r * kBk;
        T* pr_ = pd.data() + r * kBk;
        if (lq[r] == kNegInf<T> || sc.rlo[r] >= sc.rhi[r]) {
          std::fill(sr, sr + bk, T(0));
          std::fill(pr_, pr_ + bk, T(0));
          continue;
        }
        any = true;
        std::fill(sr, sr + sc.rlo[r], T(0));
        std::fill(sr + sc.rhi[r], sr + bk, T(0));
        vexp_shift_sum(sr + sc.rlo[r], lq[r], sr + sc.rlo[r], sc.rhi[r] - sc.rlo[r]);
        if (drop) {
          for (int64_t c = 0; c < bk; ++c) pr_[c] = sr[c] * drop_factor(pr, h, i0 + r, j0 + c, inv_keep);
        }
      }
      if (!any) continue;
      const T* w = drop ? pd.data() : s.data();
      // dV += W^T dO
      gemm<T>(true, false, bk, Dv, bq, T(1), w, kBk, doq, Dv, T(1), dv + (h * Lk + j0) * Dv, Dv);
      // dP = dO V^T (+ dW)
      gemm<T>(false, true, bq, bk, Dv, T(1), doq, Dv, v + j0 * pr.v_sl, pr.v_sl, T(0), dp.data(), kBk);
      for (int64_t r = 0; r < bq; ++r) {
        T* dpr = dp.data() + r * kBk;
        const T* sr = s.data() + r * kBk;
        if (dw) {
          const T* dwr = dw + (h * Lq + i0 + r) * Lk + j0;
          for (int64_t c = 0; c < bk; ++c) dpr[c] += dwr[c];
        }
        // dS = P (dP f - Dl)
        const T dli = dl[i0 + r];
        if (drop) {
          const T* wr = pd.data() + r * kBk;
          for (int64_t c = 0; c < bk; ++c) dpr[c] = sr[c] == T(1) ? T(0) : wr[c] * dpr[c] - sr[c] * dli;
        } else {
          for (int64_t c = 0; c < bk; ++c) dpr[c] = sr[c] == T(1) ? T(0) : sr[c] * (dpr[c] - dli);
        }
        if (dmask) std::copy(dpr, dpr + bk, dmask + (h * Lq + i0 + r) * Lk + j0);
      }
      // dQ += scale dS K;  dK += scale dS^T Q
      gemm<T>(false, false, bq, D, bk, pr.scale, dp.data(), kBk, k + j0 * pr.k_sl, pr.k_sl, T(1), dqh + i0 * D, D);
      gemm<T>(true, false, bk, D, bq, pr.scale, dp.data(), kBk, q, pr.q_sl, T(1), dk + (h * Lk + j0) * D, D);
    }
  }
}

// Dl_i = rowsum(dO_i O_i) + rowsum(W_i dW_i) for head (b, n): the W term recomputes the tiles.
template <class T>
void row_terms(const AttentionProblem<T>& pr, int64_t b, int64_t n, const T* do_, const T* o, const T* lse,
               const T* dw, T* dl, std::vector<T>& s) {
  const int64_t h = b * pr.N + n, Dv = pr.Dv, Lq = pr.Lq, Lk = pr.Lk;
  for (int64_t i = 0; i < Lq; ++i) {
    const T* a = do_ + (h * Lq + i) * Dv;
    const T* c = o + (h * Lq + i) * Dv;
    T acc = 0;
    for (int64_t d = 0; d < Dv; ++d) acc += a[d] * c[d];
    dl[i] = acc;
  }
  if (!dw) return;
  const T* qh = pr.q + b * pr.q_sb + n * pr.q_sn;
  const T* k = pr.k + b * pr.k_sb + n * pr.k_sn;
  const T inv_keep = static_cast<T>(1.0 / (1.0 - pr.dropout_p));
  int64_t lo[kBq], hi[kBq], rlo[kBq], rhi[kBq], jmin, jmax;
  for (int64_t i0 = 0; i0 < Lq; i0 += kBq) {
    const int64_t bq = std::min(kBq, Lq - i0);
    block_ranges(pr, b, i0, bq, lo, hi, jmin, jmax);
    for (int64_t j0 = jmin; j0 < jmax; j0 += kBk) {
      const int64_t bk = std::min(kBk, jmax - j0);
      gemm<T>(false, true, bq, bk, pr.D, pr.scale, qh + i0 * pr.q_sl, pr.q_sl, k + j0 * pr.k_sl, pr.k_sl, T(0),
              s.data(), kBk);
      mask_tile(pr, b, n, i0, bq, j0, bk, lo, hi, s.data(), kBk, rlo, rhi);
      for (int64_t r = 0; r < bq; ++r) {
        const T li = lse[h * Lq + i0 + r];
        if (li == kNegInf<T> || rlo[r] >= rhi[r]) continue;
        T* sr = s.data() + r * kBk;
        vexp_shift_sum(sr + rlo[r], li, sr + rlo[r], rhi[r] - rlo[r]);
        const T* dwr = dw + (h * Lq + i0 + r) * Lk + j0;
        T acc = 0;
        for (int64_t c = rlo[r]; c < rhi[r]; ++c) {
          const T f = pr.dropout_p > 0 ? drop_factor(pr, h, i0 + r, j0 + c, inv_keep) : T(1);
          acc += sr[c] * f * dwr[c];
        }
        dl[i0 + r] += acc;
      }
    }
  }
}

}  // namespace

// ==================================================================== entry points
template <class T>
void attention_forward(const AttentionProblem<T>& pr, T* o, T* lse, T* w) {
  const int64_t H = pr.B * pr.N;
  if (H == 0 || pr.Lq == 0) return;
  if (pr.indptr) {
    run_tasks(H, is_small(pr.Lq, pr.Lk, pr.D, pr.Dv, H), [&](auto next) {
      for (int64_t h = next(); h >= 0; h = next()) graph_forward_head(pr, h / pr.N, h % pr.N, o, lse, w);
    });
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (detail::attention_short_ok(pr))
      return short_heads(pr, [&](int64_t b, int64_t n, float* scratch) {
        detail::attention_short_forward_head(pr, b, n, o, lse, w, scratch);
      });
  }
  const int64_t nqb = (pr.Lq + kBq - 1) / kBq;
  run_tasks(H * nqb, is_small(pr.Lq, pr.Lk, pr.D, pr.Dv, H), [&](auto next) {
    std::vector<T> s(kBq * kBk), acc(kBq * std::max<int64_t>(pr.Dv, 1));
    for (int64_t t = next(); t >= 0; t = next()) {
      const int64_t h = t / nqb, i0 = (t % nqb) * kBq;
      forward_block(pr, h / pr.N, h % pr.N, i0, std::min(kBq, pr.Lq - i0), o, lse, w, s, acc);
    }
  });
}

template <class T>
void attention_backward(const AttentionProblem<T>& pr, const T* do_, const T* o, const T* lse, const T* dw, T* dq,
                        T* dk, T* dv, T* dmask) {
  const int64_t H = pr.B * pr.N, Lq = pr.Lq, Lk = pr.Lk, D = pr.D, Dv = pr.Dv;
  std::fill(dq, dq + H * Lq * D, T(0));
  std::fill(dk, dk + H * Lk * D, T(0));
  std::fill(dv, dv + H * Lk * Dv, T(0));
  if (dmask) std::fill(dmask, dmask + H * Lq * Lk, T(0));
  if (H == 0 || Lq == 0 || Lk == 0) return;
  if (pr.indptr) {
    run_tasks(H, is_small(Lq, Lk, D, Dv, H), [&](auto next) {
      for (int64_t h = next(); h >= 0; h = next()) graph_backward_head(pr, h / pr.N, h % pr.N, do_, o, lse, dw, dq, dk, dv, dmask);
    });
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (!dmask && detail::attention_short_ok(pr))
      return short_heads(pr, [&](int64_t b, int64_t n, float* scratch) {
        detail::attention_short_backward_head(pr, b, n, do_, o, lse, dw, dq, dk, dv, scratch);
      });
  }
  // Key chunks per head: enough tasks for every thread (2 per thread), one chunk when the heads
  // suffice. Chunk c of a head covers key blocks [c nkb / C, (c+1) nkb / C).
  const int64_t nkb = (Lk + kBk - 1) / kBk;
  const int64_t nt = num_threads();
  const bool small = is_small(Lq, Lk, D, Dv, H);
  const int64_t C = H >= nt || small ? 1 : std::min(nkb, (2 * nt + H - 1) / H);
  // Dl per head row: (H, Lq)
  std::vector<T> dl(static_cast<size_t>(H * Lq));
  run_tasks(H, small, [&](auto next) {
    std::vector<T> s(kBq * kBk);
    for (int64_t h = next(); h >= 0; h = next()) row_terms(pr, h / pr.N, h % pr.N, do_, o, lse, dw, dl.data() + h * Lq, s);
  });
  // private dQ buffers when a head is split (summed below)
  std::vector<T> dq_part(C > 1 ? static_cast<size_t>(H * C * Lq * D) : 0, T(0));
  run_tasks(H * C, small, [&](auto next) {
    std::vector<T> s(kBq * kBk), pd(kBq * kBk), dp(kBq * kBk);
    for (int64_t t = next(); t >= 0; t = next()) {
      const int64_t h = t / C, c = t % C;
      const int64_t c0 = (c * nkb / C) * kBk, c1 = std::min(Lk, ((c + 1) * nkb / C) * kBk);
      T* dqh = C > 1 ? dq_part.data() + t * Lq * D : dq + h * Lq * D;
      backward_chunk(pr, h / pr.N, h % pr.N, c0, c1, do_, lse, dl.data() + h * Lq, dw, dqh, dk, dv, dmask, s, pd, dp);
    }
  });
  if (C > 1) {
    parallel_for(H * Lq * D, 1 << 15, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) {
        const int64_t h = e / (Lq * D), r = e % (Lq * D);
        T acc = 0;
        for (int64_t c = 0; c < C; ++c) acc += dq_part[(h * C + c) * Lq * D + r];
        dq[e] = acc;
      }
    });
  }
}

template void attention_forward<float>(const AttentionProblem<float>&, float*, float*, float*);
template void attention_forward<double>(const AttentionProblem<double>&, double*, double*, double*);
template void attention_backward<float>(const AttentionProblem<float>&, const float*, const float*, const float*,
                                        const float*, float*, float*, float*, float*);
template void attention_backward<double>(const AttentionProblem<double>&, const double*, const double*,
                                         const double*, const double*, double*, double*, double*, double*);

}  // namespace seqnn::kernels
