// ops/seq2seq_attention.cpp: the additive score op of the encoder-decoder models (declared in
// src/models/seq2seq_impl.h), nn::additive_score's contract on the faster kernel of
// kernels/seq2seq_attention.h:
//   S_ij = sum_a v_a tanh(qp_ia + kp_ja)
#include "kernels/seq2seq_attention.h"
#include "models/seq2seq_impl.h"
#include "ops/dispatch.h"
#include "seqnn/autograd.h"

#include <memory>

namespace seqnn::models::detail {

Tensor additive_score_fast(const Tensor& qp_in, const Tensor& kp_in, const Tensor& v_in,
                           const std::vector<int64_t>& key_lengths) {
  const char* op = "additive_score";
  check(qp_in.defined() && kp_in.defined() && v_in.defined(), op, "qp, kp and v must be defined");
  check(qp_in.dim() == 3 && kp_in.dim() == 3 && v_in.dim() == 1 && qp_in.size(0) == kp_in.size(0) &&
            qp_in.size(2) == kp_in.size(2) && v_in.size(0) == qp_in.size(2),
        op, "expected qp (B,Lq,A), kp (B,Lk,A), v (A), got qp ", qp_in.shape(), ", kp ", kp_in.shape(), ", v ",
        v_in.shape());
  check_same_dtype(op, {&qp_in, &kp_in, &v_in});
  const Tensor qp = qp_in.contiguous(), kp = kp_in.contiguous(), v = v_in.contiguous();
  const int64_t B = qp.size(0), Lq = qp.size(1), Lk = kp.size(1), A = qp.size(2);
  check(key_lengths.empty() || static_cast<int64_t>(key_lengths.size()) == B, op, "key_lengths has ",
        key_lengths.size(), " entries for a batch of ", B);
  auto len = std::make_shared<const std::vector<int64_t>>(key_lengths);
  const int64_t* lp = len->empty() ? nullptr : len->data();
  Tensor s = empty({B, Lq, Lk}, qp.dtype());
  dispatch_float(qp.dtype(), op, [&]<class T>() {
    kernels::seq2seq_additive_forward<T>(qp.data_ptr<T>(), kp.data_ptr<T>(), v.data_ptr<T>(), s.data_ptr<T>(), B, Lq,
                                         Lk, A, lp);
  });
  autograd::record(op, {qp_in, kp_in, v_in}, {s}, [qp, kp, v, B, Lq, Lk, A, len](const TensorList& g) {
    const int64_t* lp = len->empty() ? nullptr : len->data();
    // u = dS v (1-t^2), t = tanh(qp_i + kp_j): dqp = sum_j u, dkp = sum_i u, dv = sum dS t
    const Tensor ds = g[0].contiguous();
    Tensor dq = empty(qp.shape(), qp.dtype()), dk = empty(kp.shape(), kp.dtype()), dv = empty(v.shape(), v.dtype());
    dispatch_float(qp.dtype(), "additive_score", [&]<class T>() {
      kernels::seq2seq_additive_backward<T>(qp.data_ptr<T>(), kp.data_ptr<T>(), v.data_ptr<T>(), ds.data_ptr<T>(),
                                            dq.data_ptr<T>(), dk.data_ptr<T>(), dv.data_ptr<T>(), B, Lq, Lk, A, lp);
    });
    return TensorList{dq, dk, dv};
  });
  return s;
}

}  // namespace seqnn::models::detail
