// ops/attention.cpp: scaled_dot_product_attention (seqnn/attention.h): checks, the fused kernel
// (kernels/attention.h) forward, and its backward recorded side by side.
//
//   S = scale Q K^T + A (masked),  P = softmax_rows(S),  W = dropout(P),  O = W V
//   backward (kernels/attention.h): Dl = rowsum(dO O) + rowsum(W dW), dS = P (dP - Dl),
//   dQ = scale dS K, dK = scale dS^T Q, dV = W^T dO, dA = dS (summed to the mask's shape)
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/attention.h"
#include "ops/dispatch.h"
#include "seqnn/attention.h"
#include "seqnn/autograd.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

// Everything the kernel reads, kept alive for the backward.
struct Prepared {
  Tensor q, k, v;  // detached, last dim contiguous
  Tensor dense;    // detached dense mask (Bool or float) or undefined
  std::vector<int64_t> lengths, indptr, indices;
  int64_t B = 0, N = 0, Lq = 0, Lk = 0, D = 0, Dv = 0;
  double scale = 1;
  bool causal = false, window = false;
  int64_t wl = 0, wr = 0, offset = 0;
  double p = 0;
  uint64_t seed = 0;
};

// A detached view whose last dim is contiguous (copied only when it is not).
Tensor last_dim_contiguous(const Tensor& x) {
  Tensor d = x.detach();
  if (d.size(-1) > 1 && d.strides().back() != 1) d = d.contiguous();
  return d;
}

template <class T>
kernels::AttentionProblem<T> make_problem(const Prepared& s) {
  kernels::AttentionProblem<T> pr;
  pr.B = s.B, pr.N = s.N, pr.Lq = s.Lq, pr.Lk = s.Lk, pr.D = s.D, pr.Dv = s.Dv;
  pr.q = s.q.data_ptr<T>(), pr.q_sb = s.q.strides()[0], pr.q_sn = s.q.strides()[1], pr.q_sl = s.q.strides()[2];
  pr.k = s.k.data_ptr<T>(), pr.k_sb = s.k.strides()[0], pr.k_sn = s.k.strides()[1], pr.k_sl = s.k.strides()[2];
  pr.v = s.v.data_ptr<T>(), pr.v_sb = s.v.strides()[0], pr.v_sn = s.v.strides()[1], pr.v_sl = s.v.strides()[2];
  pr.scale = static_cast<T>(s.scale);
  pr.causal = s.causal;
  pr.window = s.window, pr.window_left = s.wl, pr.window_right = s.wr;
  pr.offset = s.offset;
  if (!s.lengths.empty()) pr.key_lengths = s.lengths.data();
  if (!s.indptr.empty()) pr.indptr = s.indptr.data(), pr.indices = s.indices.data();
  if (s.dense.defined()) {
    // broadcast strides: right-aligned to (B,N,Lq,Lk), 0 where the mask has size 1 or no dim
    int64_t st[4] = {0, 0, 0, 0};
    const int64_t nd = s.dense.dim();
    for (int64_t d = 0; d < nd; ++d) st[4 - nd + d] = s.dense.size(d) == 1 ? 0 : s.dense.strides()[d];
    pr.m_sb = st[0], pr.m_sn = st[1], pr.m_sq = st[2], pr.m_sk = st[3];
    if (s.dense.dtype() == DType::Bool)
      pr.mask_bool = s.dense.data_ptr<bool>();
    else
      pr.mask_add = s.dense.data_ptr<T>();
  }
  pr.dropout_p = s.p;
  pr.seed = s.seed;
  return pr;
}

}  // namespace

// ==================================================================== op
SDPAResult scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMask& mask,
                                        const SDPAOptions& options) {
  check(q.defined() && k.defined() && v.defined(), kOp, "q, k and v must be defined");
  check(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, kOp, "q, k, v must be 4-d (B,N,L,D), got q ", q.shape(),
        ", k ", k.shape(), ", v ", v.shape());
  check_same_dtype(kOp, {&q, &k, &v});
  check(q.is_floating_point(), kOp, "expected floating q/k/v (float32/float64), got ", dtype_name(q.dtype()));
  const int64_t B = q.size(0), N = q.size(1), Lq = q.size(2), D = q.size(3);
  const int64_t Lk = k.size(2), Dv = v.size(3);
  check(k.size(0) == B && k.size(1) == N && k.size(3) == D, kOp, "k ", k.shape(), " must be (B=", B, ",N=", N,
        ",Lk,D=", D, ") for q ", q.shape());
  check(v.size(0) == B && v.size(1) == N && v.size(2) == Lk, kOp, "v ", v.shape(), " must be (B=", B, ",N=", N,
        ",Lk=", Lk, ",Dv) for k ", k.shape());
  mask.validate(B, N, Lq, Lk, kOp);
  const Tensor& dense = mask.dense();
  if (dense.defined() && dense.dtype() != DType::Bool)
    check(dense.dtype() == q.dtype(), kOp, "float dense mask dtype ", dtype_name(dense.dtype()),
          " must match q's ", dtype_name(q.dtype()));
  const double p = options.training ? options.dropout_p : 0.0;
  check(options.dropout_p >= 0 && options.dropout_p <= 1, kOp, "dropout_p must be in [0, 1], got ",
        options.dropout_p);
  const double scale = options.scale ? *options.scale : (D > 0 ? 1.0 / std::sqrt(static_cast<double>(D)) : 1.0);
  check(std::isfinite(scale), kOp, "scale must be finite, got ", scale);

  // Dropout p = 1 (PyTorch): every weight is dropped, the output and weights are zeros.
  if (p >= 1) {
    SDPAResult r;
    r.output = zeros({B, N, Lq, Dv}, q.dtype());
    if (options.need_weights) r.weights = zeros({B, N, Lq, Lk}, q.dtype());
    TensorList outs = {r.output};
    if (r.weights.defined()) outs.push_back(r.weights);
    const Tensor maskf = dense.defined() && dense.dtype() != DType::Bool ? dense : Tensor();
    autograd::record(kOp, {q, k, v, maskf}, outs, [q, k, v, maskf](const TensorList&) {
      // nothing reaches the inputs through all-zero weights
      return TensorList{zeros_like(q), zeros_like(k), zeros_like(v), maskf.defined() ? zeros_like(maskf) : Tensor()};
    });
    return r;
  }

  auto s = std::make_shared<Prepared>();
  s->q = last_dim_contiguous(q), s->k = last_dim_contiguous(k), s->v = last_dim_contiguous(v);
  if (dense.defined()) s->dense = dense.detach();
  if (mask.key_lengths().defined()) s->lengths = mask.key_lengths().to_vector<int64_t>();
  if (mask.graph_indptr().defined()) {
    s->indptr = mask.graph_indptr().to_vector<int64_t>();
    s->indices = mask.graph_indices().to_vector<int64_t>();
    if (s->indices.empty()) s->indices.push_back(0);  // a valid pointer for E = 0
  }
  s->B = B, s->N = N, s->Lq = Lq, s->Lk = Lk, s->D = D, s->Dv = Dv;
  s->scale = scale;
  s->causal = mask.is_causal();
  s->window = mask.window_left().has_value();
  if (s->window) s->wl = *mask.window_left(), s->wr = *mask.window_right();
  s->offset = mask.alignment() == MaskAlign::BottomRight ? Lk - Lq : 0;
  s->p = p;
  if (p > 0) s->seed = (options.generator ? *options.generator : default_generator()).next_u64();

  SDPAResult r;
  r.output = empty({B, N, Lq, Dv}, q.dtype());
  Tensor lse = empty({B, N, Lq}, q.dtype());
  if (options.need_weights) r.weights = empty({B, N, Lq, Lk}, q.dtype());
  dispatch_float(q.dtype(), kOp, [&]<class T>() {
    kernels::attention_forward<T>(make_problem<T>(*s), r.output.data_ptr<T>(), lse.data_ptr<T>(),
                                  r.weights.defined() ? r.weights.data_ptr<T>() : nullptr);
  });

  const Tensor maskf = dense.defined() && dense.dtype() != DType::Bool ? dense : Tensor();
  TensorList outs = {r.output};
  if (r.weights.defined()) outs.push_back(r.weights);
  const bool want_dmask = maskf.defined() && maskf.requires_grad();
  autograd::record(kOp, {q, k, v, maskf}, outs, [s, o = r.output.detach(), lse, want_dmask](const TensorList& g) {
    // the kernel's backward: dQ, dK, dV, and dA = dS (full) summed to the mask's shape
    const Tensor go = g[0].defined() ? g[0].contiguous() : zeros_like(o);
    const Tensor gw = g.size() > 1 && g[1].defined() ? g[1].contiguous() : Tensor();
    Tensor dq = empty({s->B, s->N, s->Lq, s->D}, o.dtype());
    Tensor dk = empty({s->B, s->N, s->Lk, s->D}, o.dtype());
    Tensor dv = empty({s->B, s->N, s->Lk, s->Dv}, o.dtype());
    Tensor dm = want_dmask ? empty({s->B, s->N, s->Lq, s->Lk}, o.dtype()) : Tensor();
    dispatch_float(o.dtype(), kOp, [&]<class T>() {
      kernels::attention_backward<T>(make_problem<T>(*s), go.data_ptr<T>(), o.data_ptr<T>(), lse.data_ptr<T>(),
                                     gw.defined() ? gw.data_ptr<T>() : nullptr, dq.data_ptr<T>(), dk.data_ptr<T>(),
                                     dv.data_ptr<T>(), dm.defined() ? dm.data_ptr<T>() : nullptr);
    });
    return TensorList{dq, dk, dv, dm.defined() ? sum_to(dm, s->dense.shape()) : Tensor()};
  });
  return r;
}

}  // namespace seqnn
