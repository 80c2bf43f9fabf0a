// Losses: cross_entropy (fused log-softmax + NLL), nll_loss, mse_loss,
// binary_cross_entropy_with_logits. Semantics are PyTorch 1.13's.
//
// Class-indexed losses see the input as (N,C,K), K = d1*...*dk (an unbatched (C) input is
// N = 1 with a 0-d target), and compute one loss per row r = (n,k) (kernels/loss.h):
//   cross_entropy_r = sum_c q_c (lse_r - x_c)        dx_c = g_r (softmax_c Q_r - q_c)
//   nll_r           = -w_t x_t                       dx_t = -w_t g_r
// Reductions: none keeps the rows, sum adds them, mean divides the sum by
//   index targets:       the sum of w_t over non-ignored rows (so all rows ignored -> 0/0 = NaN,
//                        as PyTorch; the gradient is then zero, also as PyTorch)
//   probability targets: the number of rows N*K (PyTorch's cross_entropy_loss_prob_target)
// Label smoothing with index targets follows aten's cross_entropy_loss_label_smoothing:
//   (1-ls) nll(w) + (ls/C) sum_c w_c (lse - x_c), with the same mean denominator as nll.
#include <cmath>
#include <sstream>

#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "ops/dispatch.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

// ==================================================================== shared helpers

// The data of an optional tensor (weight, pos_weight, a gradient not wanted), or nullptr.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// A gradient buffer shaped like x when x requires grad; undefined otherwise.
Tensor grad_buffer(const Tensor& x) { return x.requires_grad() ? empty(x.shape(), x.dtype()) : Tensor(); }

void check_floating_input(const Tensor& input, const char* op) {
  check(is_floating(input.dtype()), op, "input must be floating (float32/float64), got ", dtype_name(input.dtype()));
}

// mse_loss, binary_cross_entropy_with_logits: one loss per element of a same-shaped target.
void check_elementwise_target(const Tensor& input, const Tensor& target, const char* op) {
  check_floating_input(input, op);
  check(target.shape() == input.shape(), op, "target ", target.shape(), " must match input ", input.shape());
}

struct ClassLayout {
  int64_t N = 1, C = 1, K = 1;
  Shape row_shape;  // shape of an index target / of the none-reduced loss
};

ClassLayout class_layout(const Tensor& input, const char* op) {
  check(input.dim() >= 1, op, "input ", input.shape(), " must be (C), (N,C) or (N,C,d1,...)");
  ClassLayout l;
  if (input.dim() == 1) {
    l.C = input.size(0);
    return l;
  }
  l.N = input.size(0);
  l.C = input.size(1);
  for (int64_t d = 2; d < input.dim(); ++d) l.K *= input.size(d);
  l.row_shape = input.shape();
  l.row_shape.erase(l.row_shape.begin() + 1);
  return l;
}

std::string expected_target(const ClassLayout& l, const Tensor& input) {
  std::ostringstream os;
  if (input.dim() == 1) {
    os << "() for input " << shape_str(input.shape());
    return os.str();
  }
  os << "(N=" << l.N;
  for (size_t d = 1; d < l.row_shape.size(); ++d) os << "," << l.row_shape[d];
  os << ") for input " << shape_str(input.shape());
  return os.str();
}

void check_weight(const Tensor& weight, const Tensor& input, int64_t C, const char* op) {
  if (!weight.defined()) return;
  check(weight.dim() == 1 && weight.size(0) == C, op, "weight ", weight.shape(), " must be (C=", C, ") for input ",
        input.shape());
  check(weight.dtype() == input.dtype(), op, "dtype mismatch: weight ", dtype_name(weight.dtype()), " vs input ",
        dtype_name(input.dtype()));
}

// Checks an index target's dtype, shape and values; returns it contiguous.
Tensor checked_index_target(const Tensor& target, const Tensor& input, const ClassLayout& l, int64_t ignore_index,
                            const char* op) {
  check(target.dtype() == DType::I64, op, "target must hold int64 class indices, got ", dtype_name(target.dtype()),
        " (probability targets must have the input's shape ", input.shape(), ")");
  check(target.shape() == l.row_shape, op, "target ", target.shape(), " must be ", expected_target(l, input));
  Tensor tc = target.contiguous();
  const int64_t* t = tc.data_ptr<int64_t>();
  for (int64_t i = 0, n = tc.numel(); i < n; ++i)
    check(t[i] == ignore_index || (t[i] >= 0 && t[i] < l.C), op, "target value ", t[i], " out of range for C=", l.C,
          " classes (ignore_index=", ignore_index, ")");
  return tc;
}

// sum of a contiguous tensor's elements (T accumulated in double by the kernel)
double total(const Tensor& v) {
  Tensor s = empty({}, v.dtype());
  dispatch_float(v.dtype(), "loss", [&]<class T>() {
    kernels::sum_reduce<T>(v.data_ptr<T>(), s.data_ptr<T>(), 1, v.numel(), 1, 1.0);
  });
  return s.item();
}

// none: the per-row losses in `shape`; sum: their sum; mean: their sum / denom.
Tensor reduce_loss(const Tensor& rows, Reduction red, double denom, const Shape& shape) {
  if (red == Reduction::None) return reshape(rows, shape);
  const double s = total(rows);
  return full({}, red == Reduction::Sum ? s : s / denom, rows.dtype());
}

// The upstream gradient per row: g itself (none, stride 1) or one scalar (stride 0).
struct RowGrad {
  Tensor values;
  int64_t stride;
};
RowGrad row_grad(const Tensor& g, Reduction red, double denom) {
  if (red == Reduction::None) return {g.contiguous(), 1};
  const double v = g.item();
  return {full({}, red == Reduction::Mean ? v / denom : v, g.dtype()), 0};
}

}  // namespace

// ==================================================================== cross_entropy

Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& o) {
  const char* op = "cross_entropy";
  check(target.defined() && input.defined(), op, "input and target must be defined");
  check_floating_input(input, op);
  const ClassLayout l = class_layout(input, op);
  const double ls = o.label_smoothing();
  check(ls >= 0 && ls <= 1, op, "label_smoothing must be in [0, 1], got ", ls);
  check_weight(o.weight(), input, l.C, op);
  check(l.C >= 1, op, "input ", input.shape(), " has no classes");
  const Tensor xc = input.contiguous();
  const Tensor wc = o.weight().defined() ? o.weight().detach().contiguous() : Tensor();
  const int64_t R = l.N * l.K;
  const Reduction red = o.reduction();
  Tensor lse = empty({R}, input.dtype()), rows = empty({R}, input.dtype());

  if (target.shape() == input.shape()) {
    // ---------------------------------------------------------------- probability targets
    check(target.dtype() == input.dtype(), op, "probability target must have the input's dtype ",
          dtype_name(input.dtype()), ", got ", dtype_name(target.dtype()));
    check(o.ignore_index() < 0, op, "ignore_index (", o.ignore_index(), ") is not supported for probability targets");
    const Tensor tc = target.contiguous();
    dispatch_float(input.dtype(), op, [&]<class T>() {
      kernels::ce_prob_forward<T>(xc.data_ptr<T>(), tc.data_ptr<T>(), data_or_null<T>(wc), l.N, l.C, l.K, ls,
                                  lse.data_ptr<T>(), rows.data_ptr<T>());
    });
    const double denom = static_cast<double>(R);
    Tensor out = reduce_loss(rows, red, denom, l.row_shape);
    // dx_c = g (p_c Q - q_c);  dt_c = g w_c (1-ls) (lse - x_c)
    autograd::record(op, {xc, tc}, {out}, [=](const TensorList& g) {
      const RowGrad gr = row_grad(g[0], red, denom);
      Tensor dx = grad_buffer(xc), dt = grad_buffer(tc);
      dispatch_float(xc.dtype(), op, [&]<class T>() {
        kernels::ce_prob_backward<T>(xc.data_ptr<T>(), tc.data_ptr<T>(), data_or_null<T>(wc), l.N, l.C, l.K, ls,
                                     lse.data_ptr<T>(), gr.values.data_ptr<T>(), gr.stride, data_or_null<T>(dx),
                                     data_or_null<T>(dt));
      });
      return TensorList{dx, dt};
    });
    return out;
  }

  // ------------------------------------------------------------------ class-index targets
  const int64_t ignore = o.ignore_index();
  const Tensor tc = checked_index_target(target, input, l, ignore, op);
  Tensor row_w = empty({R}, input.dtype());
  dispatch_float(input.dtype(), op, [&]<class T>() {
    kernels::ce_index_forward<T>(xc.data_ptr<T>(), tc.data_ptr<int64_t>(), data_or_null<T>(wc), l.N, l.C, l.K, ignore,
                                 ls, lse.data_ptr<T>(), rows.data_ptr<T>(), row_w.data_ptr<T>());
  });
  const double denom = red == Reduction::Mean ? total(row_w) : 1.0;
  Tensor out = reduce_loss(rows, red, denom, l.row_shape);
  // dx_c = g_r (softmax_c Q_r - q_c); ignored rows get zero
  autograd::record(op, {xc}, {out}, [=](const TensorList& g) {
    const RowGrad gr = row_grad(g[0], red, denom);
    Tensor dx = empty(xc.shape(), xc.dtype());
    dispatch_float(xc.dtype(), op, [&]<class T>() {
      kernels::ce_index_backward<T>(xc.data_ptr<T>(), tc.data_ptr<int64_t>(), data_or_null<T>(wc), l.N, l.C, l.K,
                                    ignore, ls, lse.data_ptr<T>(), gr.values.data_ptr<T>(), gr.stride,
                                    dx.data_ptr<T>());
    });
    return TensorList{dx};
  });
  return out;
}

// ==================================================================== nll_loss

Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& o) {
  const char* op = "nll_loss";
  check(target.defined() && input.defined(), op, "input and target must be defined");
  check_floating_input(input, op);
  check(o.label_smoothing() == 0, op, "label_smoothing must be 0 for nll_loss, got ", o.label_smoothing());
  const ClassLayout l = class_layout(input, op);
  check_weight(o.weight(), input, l.C, op);
  const int64_t ignore = o.ignore_index();
  const Tensor tc = checked_index_target(target, input, l, ignore, op);
  const Tensor xc = input.contiguous();
  const Tensor wc = o.weight().defined() ? o.weight().detach().contiguous() : Tensor();
  const int64_t R = l.N * l.K;
  const Reduction red = o.reduction();
  Tensor rows = empty({R}, input.dtype()), row_w = empty({R}, input.dtype());
  dispatch_float(input.dtype(), op, [&]<class T>() {
    kernels::nll_forward<T>(xc.data_ptr<T>(), tc.data_ptr<int64_t>(), data_or_null<T>(wc), l.N, l.C, l.K, ignore,
                            rows.data_ptr<T>(), row_w.data_ptr<T>());
  });
  const double denom = red == Reduction::Mean ? total(row_w) : 1.0;
  Tensor out = reduce_loss(rows, red, denom, l.row_shape);
  // dx[n,t,k] = -w_t g_r
  autograd::record(op, {xc}, {out}, [=](const TensorList& g) {
    const RowGrad gr = row_grad(g[0], red, denom);
    Tensor dx = empty(xc.shape(), xc.dtype());
    dispatch_float(xc.dtype(), op, [&]<class T>() {
      kernels::nll_backward<T>(tc.data_ptr<int64_t>(), data_or_null<T>(wc), l.N, l.C, l.K, ignore,
                               gr.values.data_ptr<T>(), gr.stride, dx.data_ptr<T>());
    });
    return TensorList{dx};
  });
  return out;
}

// ==================================================================== mse_loss

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction red) {
  const char* op = "mse_loss";
  check_same_dtype(op, {&input, &target});
  check_elementwise_target(input, target, op);
  const Tensor xc = input.contiguous(), tc = target.contiguous();
  const int64_t n = xc.numel();
  Tensor elems = empty(xc.shape(), xc.dtype());
  dispatch_float(xc.dtype(), op, [&]<class T>() {
    kernels::mse_forward<T>(xc.data_ptr<T>(), tc.data_ptr<T>(), elems.data_ptr<T>(), n);
  });
  const double denom = static_cast<double>(n);
  Tensor out = reduce_loss(elems, red, denom, xc.shape());
  // dx = 2 (x - t) g,  dt = -dx
  autograd::record(op, {xc, tc}, {out}, [=](const TensorList& g) {
    const RowGrad gr = row_grad(g[0], red, denom);
    Tensor dx = grad_buffer(xc), dt = grad_buffer(tc);
    dispatch_float(xc.dtype(), op, [&]<class T>() {
      kernels::mse_backward<T>(xc.data_ptr<T>(), tc.data_ptr<T>(), gr.values.data_ptr<T>(), gr.stride,
                               data_or_null<T>(dx), data_or_null<T>(dt), n);
    });
    return TensorList{dx, dt};
  });
  return out;
}

// ==================================================================== binary_cross_entropy_with_logits

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, Reduction red,
                                        const Tensor& pos_weight) {
  const char* op = "binary_cross_entropy_with_logits";
  check_same_dtype(op, {&input, &target, &pos_weight});
  check_elementwise_target(input, target, op);
  const int64_t L = input.dim() ? input.size(-1) : 1;
  Tensor pw;  // (L), pos_weight of one element broadcast to L
  if (pos_weight.defined()) {
    check(pos_weight.dim() == 1 && (pos_weight.size(0) == L || pos_weight.size(0) == 1), op, "pos_weight ",
          pos_weight.shape(), " must be (C=", L, ") to broadcast over the last dim of input ", input.shape());
    pw = pos_weight.size(0) == L ? pos_weight.detach().contiguous() : full({L}, pos_weight.item(), input.dtype());
  }
  const Tensor xc = input.contiguous(), tc = target.contiguous();
  const int64_t n = xc.numel();
  Tensor elems = empty(xc.shape(), xc.dtype());
  dispatch_float(xc.dtype(), op, [&]<class T>() {
    kernels::bce_logits_forward<T>(xc.data_ptr<T>(), tc.data_ptr<T>(), data_or_null<T>(pw), n, L, elems.data_ptr<T>());
  });
  const double denom = static_cast<double>(n);
  Tensor out = reduce_loss(elems, red, denom, xc.shape());
  // dx = g (lw sigmoid(x) - pw t),  dt = g (-x + (pw - 1) softplus(-x))
  autograd::record(op, {xc, tc}, {out}, [=](const TensorList& g) {
    const RowGrad gr = row_grad(g[0], red, denom);
    Tensor dx = grad_buffer(xc), dt = grad_buffer(tc);
    dispatch_float(xc.dtype(), op, [&]<class T>() {
      kernels::bce_logits_backward<T>(xc.data_ptr<T>(), tc.data_ptr<T>(), data_or_null<T>(pw), n, L,
                                      gr.values.data_ptr<T>(), gr.stride, data_or_null<T>(dx), data_or_null<T>(dt));
    });
    return TensorList{dx, dt};
  });
  return out;
}

}  // namespace seqnn
