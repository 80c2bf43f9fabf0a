// ops/attention_mask.cpp: AttentionMask (seqnn/attention.h): the builder, its validation
// against a (B,N,Lq,Lk) problem, and the dense forms the naive attention paths use.
//
//   allowed(b,n,i,j) = causal:  j <= i + off
//                      window:  i + off - wl <= j <= i + off + wr
//                      lengths: j < len_b
//                      graph:   j in indices[indptr[i] .. indptr[i+1])
//                      dense:   !mask[b,n,i,j] (Bool) or mask[b,n,i,j] != -inf (float)
//   off = 0 (TopLeft) or Lk - Lq (BottomRight)
#include <cmath>
#include <limits>
#include <vector>

#include "seqnn/attention.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

constexpr const char* kMask = "AttentionMask";

void check_i64_vector(const Tensor& t, const char* what) {
  check(t.defined(), kMask, what, " is undefined");
  check(t.dtype() == DType::I64, kMask, what, " must be int64, got ", dtype_name(t.dtype()));
  check(t.dim() == 1, kMask, what, " must be 1-d, got shape ", t.shape());
}

}  // namespace

// ==================================================================== builder
AttentionMask& AttentionMask::causal(bool v) {
  causal_ = v;
  return *this;
}

AttentionMask& AttentionMask::window(int64_t left, int64_t right) {
  check(left >= 0 && right >= 0, kMask, "window widths must be >= 0, got left=", left, " right=", right);
  window_left_ = left;
  window_right_ = right;
  return *this;
}

AttentionMask& AttentionMask::align(MaskAlign v) {
  align_ = v;
  return *this;
}

AttentionMask& AttentionMask::key_lengths(Tensor v) {
  if (v.defined()) check_i64_vector(v, "key_lengths");
  key_lengths_ = std::move(v);
  return *this;
}

AttentionMask& AttentionMask::graph(Tensor indptr, Tensor indices) {
  check(indptr.defined() == indices.defined(), kMask, "graph needs both indptr and indices");
  if (indptr.defined()) {
    check_i64_vector(indptr, "graph indptr");
    check_i64_vector(indices, "graph indices");
    check(indptr.numel() >= 1, kMask, "graph indptr must hold Lq+1 >= 1 entries, got 0");
  }
  graph_indptr_ = std::move(indptr);
  graph_indices_ = std::move(indices);
  return *this;
}

AttentionMask& AttentionMask::dense(Tensor v) {
  if (v.defined()) {
    check(v.dtype() != DType::I64, kMask, "dense mask must be bool or floating, got int64");
    check(v.dim() <= 4, kMask, "dense mask must broadcast to (B,N,Lq,Lk), got ", v.dim(), "-d shape ", v.shape());
  }
  dense_ = std::move(v);
  return *this;
}

bool AttentionMask::empty() const {
  return !causal_ && !window_left_ && !key_lengths_.defined() && !graph_indptr_.defined() && !dense_.defined();
}

// ==================================================================== validation
void AttentionMask::validate(int64_t B, int64_t N, int64_t Lq, int64_t Lk, const char* op) const {
  if (key_lengths_.defined()) {
    check(key_lengths_.numel() == B, op, "key_lengths must be (B=", B, "), got ", key_lengths_.shape());
    const auto len = key_lengths_.to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      check(len[b] >= 0 && len[b] <= Lk, op, "key_lengths[", b, "] = ", len[b], " is outside [0, Lk=", Lk, "]");
  }
  if (graph_indptr_.defined()) {
    check(graph_indptr_.numel() == Lq + 1, op, "graph indptr must be (Lq+1=", Lq + 1, "), got ",
          graph_indptr_.shape());
    const auto ptr = graph_indptr_.to_vector<int64_t>();
    const int64_t E = graph_indices_.numel();
    check(ptr[0] == 0, op, "graph indptr[0] must be 0, got ", ptr[0]);
    for (int64_t i = 0; i < Lq; ++i)
      check(ptr[i + 1] >= ptr[i], op, "graph indptr must be non-decreasing, but indptr[", i + 1, "] = ", ptr[i + 1],
            " < indptr[", i, "] = ", ptr[i]);
    check(ptr[Lq] == E, op, "graph indptr[Lq] = ", ptr[Lq], " must equal the number of edges (indices has ", E,
          ")");
    const auto idx = graph_indices_.to_vector<int64_t>();
    for (int64_t e = 0; e < E; ++e)
      check(idx[e] >= 0 && idx[e] < Lk, op, "graph indices[", e, "] = ", idx[e], " is not a key in [0, Lk=", Lk,
            ")");
  }
  if (dense_.defined()) {
    const Shape full = {B, N, Lq, Lk};
    const Shape& s = dense_.shape();
    bool ok = s.size() <= 4;
    for (size_t d = 0; ok && d < s.size(); ++d) {
      const int64_t want = full[4 - s.size() + d];
      ok = s[d] == want || s[d] == 1;
    }
    check(ok, op, "dense mask of shape ", s, " does not broadcast to (B,N,Lq,Lk) = ", full);
  }
}

// ==================================================================== dense forms
Tensor AttentionMask::allowed(int64_t B, int64_t N, int64_t Lq, int64_t Lk) const {
  validate(B, N, Lq, Lk, kMask);
  const int64_t off = align_ == MaskAlign::BottomRight ? Lk - Lq : 0;
  // Structural part, per (b, i, j), shared by the heads.
  std::vector<uint8_t> base(static_cast<size_t>(B * Lq * Lk), 1);
  std::vector<int64_t> len, ptr, idx;
  if (key_lengths_.defined()) len = key_lengths_.to_vector<int64_t>();
  if (graph_indptr_.defined()) {
    ptr = graph_indptr_.to_vector<int64_t>();
    idx = graph_indices_.to_vector<int64_t>();
  }
  std::vector<uint8_t> edge(static_cast<size_t>(Lk));
  for (int64_t i = 0; i < Lq; ++i) {
    if (!ptr.empty()) {
      std::fill(edge.begin(), edge.end(), 0);
      for (int64_t e = ptr[i]; e < ptr[i + 1]; ++e) edge[idx[e]] = 1;
    }
    for (int64_t j = 0; j < Lk; ++j) {
      bool ok = true;
      if (causal_ && j > i + off) ok = false;
      if (window_left_ && (j < i + off - *window_left_ || j > i + off + *window_right_)) ok = false;
      if (!ptr.empty() && !edge[j]) ok = false;
      for (int64_t b = 0; b < B; ++b) {
        const bool okb = ok && (len.empty() || j < len[b]);
        base[(b * Lq + i) * Lk + j] = okb;
      }
    }
  }
  Tensor out = seqnn::empty({B, N, Lq, Lk}, DType::Bool);
  bool* o = out.data_ptr<bool>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t ij = 0; ij < Lq * Lk; ++ij) o[(b * N + n) * Lq * Lk + ij] = base[b * Lq * Lk + ij] != 0;
  if (dense_.defined()) {
    const Tensor d = expand(dense_.detach(), {B, N, Lq, Lk}).contiguous();
    const int64_t M = d.numel();
    if (d.dtype() == DType::Bool) {
      const bool* m = d.data_ptr<bool>();
      for (int64_t e = 0; e < M; ++e) o[e] = o[e] && !m[e];
    } else {
      const auto m = d.to_vector<double>();
      for (int64_t e = 0; e < M; ++e) o[e] = o[e] && !(std::isinf(m[e]) && m[e] < 0);
    }
  }
  return out;
}

Tensor AttentionMask::additive(int64_t B, int64_t N, int64_t Lq, int64_t Lk, DType dt) const {
  check(is_floating(dt), kMask, "additive: dtype must be floating, got ", dtype_name(dt));
  const Tensor ok = allowed(B, N, Lq, Lk);
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> vals(static_cast<size_t>(B * N * Lq * Lk), 0.0);
  if (dense_.defined() && dense_.dtype() != DType::Bool)
    vals = expand(dense_.detach(), {B, N, Lq, Lk}).contiguous().to_vector<double>();
  const bool* a = ok.data_ptr<bool>();
  for (size_t e = 0; e < vals.size(); ++e)
    if (!a[e]) vals[e] = ninf;
  return from_vector(vals, {B, N, Lq, Lk}).to(dt);
}

}  // namespace seqnn
