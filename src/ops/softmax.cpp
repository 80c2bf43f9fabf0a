// softmax and log_softmax over any dim.
//
//   softmax(x)_d     = exp(x_d - m) / sum_k exp(x_k - m)      (m = max_k x_k: stable)
//   log_softmax(x)_d = x_d - m - log sum_k exp(x_k - m)
// The tensor is seen as (O,D,I) around `dim`; dim = last (I == 1) is the row fast path.
// Backward uses the saved output: softmax dx = y*(g - <g,y>); log_softmax dx = g - e^y * sum g.
#include "kernels/softmax.h"
#include "ops/dispatch.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log, const char* op) {
  const int64_t nd = x.dim();
  const int64_t d = wrap_dim(dim, std::max<int64_t>(nd, 1), op);
  const Tensor xc = x.contiguous();
  int64_t O = 1, D = 1, I = 1;
  for (int64_t k = 0; k < nd; ++k) (k < d ? O : k == d ? D : I) *= xc.shape()[k];
  Tensor y = empty(xc.shape(), xc.dtype());
  dispatch_float(x.dtype(), op, [&]<class T>() {
    kernels::softmax_forward<T>(xc.data_ptr<T>(), y.data_ptr<T>(), O, D, I, log);
  });
  autograd::record(op, {xc}, {y}, [yd = y.detach(), O, D, I, log, op](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    Tensor dx = empty(yd.shape(), yd.dtype());
    dispatch_float(yd.dtype(), op, [&]<class T>() {
      kernels::softmax_backward<T>(yd.data_ptr<T>(), gc.data_ptr<T>(), dx.data_ptr<T>(), O, D, I, log);
    });
    return TensorList{dx};
  });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true, "log_softmax"); }

}  // namespace seqnn
