// ops/seq2seq_attention.cpp: the additive score op of the encoder-decoder models (declared in
// src/models/seq2seq_impl.h), nn::additive_score's contract on the faster kernel of
// kernels/seq2seq_attention.h:
//   S_ij = sum_a v_a tanh(qp_ia + kp_ja)
#include "kernels/gemm.h"
#include "kernels/parallel.h"
#include "kernels/seq2seq_attention.h"
#include "models/seq2seq_impl.h"
#include "ops/dispatch.h"
#include "seqnn/autograd.h"

#include <algorithm>
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

// ==================================================================== decoding over a source map
namespace {
void check_rows(const char* op, const TensorList& in, const std::vector<int64_t>& src, int64_t R, int64_t Bs) {
  check(!autograd::needs_grad(in), op, "is for decoding (no autograd); call it under NoGradGuard or on tensors without grad");
  check(static_cast<int64_t>(src.size()) == R, op, "src has ", src.size(), " entries for ", R, " rows");
  for (int64_t s : src) check(s >= 0 && s < Bs, op, "src entry ", s, " is out of range [0,", Bs, ")");
}
}  // namespace

Tensor additive_score_rows(const Tensor& qp_in, const Tensor& kp_in, const Tensor& v_in,
                           const std::vector<int64_t>& src, const std::vector<int64_t>& lengths) {
  const char* op = "additive_score_rows";
  check(qp_in.defined() && kp_in.defined() && v_in.defined(), op, "qp, kp and v must be defined");
  check(qp_in.dim() == 2 && kp_in.dim() == 3 && v_in.dim() == 1 && qp_in.size(1) == kp_in.size(2) &&
            v_in.size(0) == qp_in.size(1),
        op, "expected qp (R,A), kp (Bs,S,A), v (A), got qp ", qp_in.shape(), ", kp ", kp_in.shape(), ", v ",
        v_in.shape());
  check_same_dtype(op, {&qp_in, &kp_in, &v_in});
  const int64_t R = qp_in.size(0), S = kp_in.size(1), A = qp_in.size(1);
  check_rows(op, {qp_in, kp_in, v_in}, src, R, kp_in.size(0));
  check(lengths.empty() || static_cast<int64_t>(lengths.size()) == R, op, "lengths has ", lengths.size(),
        " entries for ", R, " rows");
  const Tensor qp = qp_in.contiguous(), kp = kp_in.contiguous(), v = v_in.contiguous();
  Tensor s = empty({R, S}, qp.dtype());
  dispatch_float(qp.dtype(), op, [&]<class T>() {
    kernels::seq2seq_additive_forward<T>(qp.data_ptr<T>(), kp.data_ptr<T>(), v.data_ptr<T>(), s.data_ptr<T>(), R, 1, S,
                                         A, lengths.empty() ? nullptr : lengths.data(), src.data());
  });
  return s;
}

Tensor bmm_rows(const Tensor& a_in, const Tensor& b_in, const std::vector<int64_t>& src) {
  const char* op = "bmm_rows";
  check(a_in.defined() && b_in.defined(), op, "a and b must be defined");
  check(a_in.dim() == 2 && b_in.dim() == 3 && a_in.size(1) == b_in.size(1), op, "expected a (R,K), b (Bs,K,N), got a ",
        a_in.shape(), ", b ", b_in.shape());
  check_same_dtype(op, {&a_in, &b_in});
  const int64_t R = a_in.size(0), K = a_in.size(1), N = b_in.size(2);
  check_rows(op, {a_in, b_in}, src, R, b_in.size(0));
  const Tensor a = a_in.contiguous(), b = b_in.contiguous();
  Tensor out = empty({R, N}, a.dtype());
  // runs of rows with the same source: one product each, its rows sharing every load of b[src]
  std::vector<int64_t> run_start;
  for (int64_t r = 0; r < R; ++r)
    if (r == 0 || src[r] != src[r - 1]) run_start.push_back(r);
  run_start.push_back(R);
  const int64_t runs = static_cast<int64_t>(run_start.size()) - 1;
  dispatch_float(a.dtype(), op, [&]<class T>() {
    const T* ap = a.data_ptr<T>();
    const T* bp = b.data_ptr<T>();
    T* op_ = out.data_ptr<T>();
    kernels::parallel_for(runs, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, K * N)), [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t r0 = run_start[u], m = run_start[u + 1] - r0;
        kernels::gemm<T>(false, false, m, N, K, T(1), ap + r0 * K, K, bp + src[r0] * K * N, N, T(0), op_ + r0 * N, N);
      }
    });
  });
  return out;
}

}  // namespace seqnn::models::detail
