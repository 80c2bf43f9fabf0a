// Elementwise ops: broadcasting arithmetic, pow, unary math and activations, masked_fill /
// where / clamp, comparisons, and the operator overloads.
//
// Binary ops broadcast as NumPy/PyTorch: out.shape = broadcast(a.shape, b.shape). Their
// backward computes each wanted input gradient at the broadcast shape and sums it back down
// with sum_to. Unary ops map contiguous data through one kernel; their backward reads the
// saved input (x) or, for exp/sqrt/tanh/sigmoid, the saved detached output (y).
#include <cmath>

#include "kernels/elementwise.h"
#include "ops/dispatch.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

using kernels::BinaryOp;
using kernels::CompareOp;
using kernels::UnaryOp;
using kernels::UnaryParams;

void check_defined(const char* op, std::initializer_list<const Tensor*> xs) {
  for (const Tensor* t : xs) check(t->defined(), op, "got an undefined tensor");
}

// The broadcast shape of the operands and the kernel layout reading them (contiguous).
kernels::Broadcast layout_for(const char* op, const Shape& out, std::initializer_list<const Shape*> ins) {
  check(out.size() <= static_cast<size_t>(kernels::kMaxDims), op, "at most ", kernels::kMaxDims,
        " dims are supported, got ", out);
  return kernels::make_broadcast(out, ins);
}

// Data for a kernel: contiguous, cut from the graph (the op records its own node).
Tensor data_of(const Tensor& t) { return t.detach().contiguous(); }

// out = a op b over the broadcast shape (F32/F64, same dtype).
Tensor binary_forward(const char* op, BinaryOp k, const Tensor& a, const Tensor& b) {
  check_defined(op, {&a, &b});
  check_same_dtype(op, {&a, &b});
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  const kernels::Broadcast L = layout_for(op, shape, {&a.shape(), &b.shape()});
  Tensor out = empty(shape, a.dtype());
  const Tensor ac = data_of(a), bc = data_of(b);
  dispatch_float(a.dtype(), op, [&]<class T>() {
    kernels::binary<T>(k, L, ac.data_ptr<T>(), bc.data_ptr<T>(), out.data_ptr<T>());
  });
  return out;
}

Tensor scalar_of(double v, const Tensor& like) { return scalar_tensor(v, like.dtype()); }

// y = f(x) through the unary kernel; backward dx = dy * f'(x) reading the saved x or y.
Tensor unary(const char* op, UnaryOp k, const Tensor& x, const UnaryParams& p = UnaryParams()) {
  check_defined(op, {&x});
  const Tensor xc = data_of(x);
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), op, [&]<class T>() {
    kernels::unary_forward<T>(k, p, xc.numel(), xc.data_ptr<T>(), y.data_ptr<T>());
  });
  const bool use_y = kernels::unary_backward_uses_output(k);
  autograd::record(op, {x}, {y}, [op, k, p, use_y, saved = use_y ? y.detach() : xc](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    Tensor dx = empty(saved.shape(), saved.dtype());
    dispatch_float(saved.dtype(), op, [&]<class T>() {
      const T* s = saved.data_ptr<T>();
      kernels::unary_backward<T>(k, p, saved.numel(), gc.data_ptr<T>(), use_y ? nullptr : s, use_y ? s : nullptr,
                                 dx.data_ptr<T>());
    });
    return TensorList{dx};
  });
  return y;
}

// Bool result of a cmp b over the broadcast shape (any dtype, both the same).
Tensor compare_forward(const char* op, CompareOp k, const Tensor& a, const Tensor& b) {
  check_defined(op, {&a, &b});
  check_same_dtype(op, {&a, &b});
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  const kernels::Broadcast L = layout_for(op, shape, {&a.shape(), &b.shape()});
  Tensor out = empty(shape, DType::Bool);
  const Tensor ac = data_of(a), bc = data_of(b);
  dispatch_all(a.dtype(), op, [&]<class T>() {
    kernels::compare<T>(k, L, ac.data_ptr<T>(), bc.data_ptr<T>(), out.data_ptr<bool>());
  });
  return out;
}

// a cmp scalar: the scalar in a's dtype, or both as float64 when an integer/bool tensor meets
// a value that dtype cannot hold exactly (PyTorch promotes: arange(3) < 1.5 is [T, T, F]).
Tensor compare_scalar(const char* op, CompareOp k, const Tensor& a, double b) {
  check_defined(op, {&a});
  if (!a.is_floating_point()) {
    const bool exact = a.dtype() == DType::Bool ? (b == 0.0 || b == 1.0)
                                                 : (std::nearbyint(b) == b && std::fabs(b) < 9.2e18);
    if (!exact) return compare_forward(op, k, a.to(DType::F64), scalar_tensor(b, DType::F64));
  }
  return compare_forward(op, k, a, scalar_of(b, a));
}

}  // namespace

// ==================================================================== add / sub

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("add", BinaryOp::Add, a, b);
  autograd::record("add", {a, b}, {out},
                   [sa = a.shape(), sb = b.shape(), na = a.requires_grad(), nb = b.requires_grad()](const TensorList& g) {
                     // d(a+b)/da = 1, d(a+b)/db = 1
                     return TensorList{na ? sum_to(g[0], sa) : Tensor(), nb ? sum_to(g[0], sb) : Tensor()};
                   });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("sub", BinaryOp::Sub, a, b);
  autograd::record("sub", {a, b}, {out},
                   [sa = a.shape(), sb = b.shape(), na = a.requires_grad(), nb = b.requires_grad()](const TensorList& g) {
                     // d(a-b)/da = 1, d(a-b)/db = -1
                     return TensorList{na ? sum_to(g[0], sa) : Tensor(), nb ? sum_to(neg(g[0]), sb) : Tensor()};
                   });
  return out;
}

// ==================================================================== mul / div

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("mul", BinaryOp::Mul, a, b);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  autograd::record("mul", {a, b}, {out},
                   [na, nb, sa = a.shape(), sb = b.shape(), ad = nb ? a.detach() : Tensor(),
                    bd = na ? b.detach() : Tensor()](const TensorList& g) {
                     // d(ab)/da = b, d(ab)/db = a
                     return TensorList{na ? sum_to(mul(g[0], bd), sa) : Tensor(), nb ? sum_to(mul(g[0], ad), sb) : Tensor()};
                   });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", BinaryOp::Div, a, b);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  autograd::record("div", {a, b}, {out},
                   [na, nb, sa = a.shape(), sb = b.shape(), ad = nb ? a.detach() : Tensor(),
                    bd = b.detach()](const TensorList& g) {
                     // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -(g/b) * a / b
                     const Tensor q = div(g[0], bd);
                     return TensorList{na ? sum_to(q, sa) : Tensor(), nb ? sum_to(neg(div(mul(q, ad), bd)), sb) : Tensor()};
                   });
  return out;
}

// ==================================================================== with a scalar
// The scalar becomes a 0-d tensor of the same dtype (the engine's single-element fast path);
// it never requires grad, so only the tensor's gradient is computed.

Tensor add(const Tensor& a, double b) {
  check_defined("add", {&a});
  return add(a, scalar_of(b, a));
}
Tensor sub(const Tensor& a, double b) {
  check_defined("sub", {&a});
  return sub(a, scalar_of(b, a));
}
Tensor mul(const Tensor& a, double b) {
  check_defined("mul", {&a});
  return mul(a, scalar_of(b, a));
}
Tensor div(const Tensor& a, double b) {
  check_defined("div", {&a});
  return div(a, scalar_of(b, a));
}

// ==================================================================== pow

Tensor pow(const Tensor& x, double exponent) {
  UnaryParams p;
  p.exponent = exponent;
  return unary("pow", UnaryOp::Pow, x, p);
}

Tensor pow(const Tensor& x, const Tensor& exponent) {
  Tensor out = binary_forward("pow", BinaryOp::Pow, x, exponent);
  const bool nx = x.requires_grad(), ne = exponent.requires_grad();
  autograd::record("pow", {x, exponent}, {out},
                   [nx, ne, sx = x.shape(), se = exponent.shape(), xd = x.detach(), ed = exponent.detach(),
                    y = out.detach()](const TensorList& g) {
                     // d(x^e)/dx = e x^(e-1), d(x^e)/de = x^e log x (both at the broadcast shape)
                     const Shape& shape = y.shape();
                     const Tensor gc = g[0].contiguous(), xb = expand(xd, shape).contiguous(),
                                  eb = expand(ed, shape).contiguous();
                     Tensor dx = nx ? empty(shape, y.dtype()) : Tensor(), de = ne ? empty(shape, y.dtype()) : Tensor();
                     dispatch_float(y.dtype(), "pow", [&]<class T>() {
                       kernels::pow_backward<T>(y.numel(), gc.data_ptr<T>(), xb.data_ptr<T>(), eb.data_ptr<T>(),
                                                y.data_ptr<T>(), nx ? dx.data_ptr<T>() : nullptr,
                                                ne ? de.data_ptr<T>() : nullptr);
                     });
                     return TensorList{nx ? sum_to(dx, sx) : Tensor(), ne ? sum_to(de, se) : Tensor()};
                   });
  return out;
}

// ==================================================================== unary math

Tensor neg(const Tensor& x) { return unary("neg", UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary("exp", UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary("log", UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", UnaryOp::Sqrt, x); }
Tensor abs(const Tensor& x) { return unary("abs", UnaryOp::Abs, x); }
Tensor tanh(const Tensor& x) { return unary("tanh", UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary("sigmoid", UnaryOp::Sigmoid, x); }

// ==================================================================== activations

Tensor relu(const Tensor& x) { return unary("relu", UnaryOp::Relu, x); }

Tensor gelu(const Tensor& x, const std::string& approximate) {
  if (approximate == "none") return unary("gelu", UnaryOp::Gelu, x);
  if (approximate == "tanh") return unary("gelu", UnaryOp::GeluTanh, x);
  fail("gelu", "approximate must be 'none' or 'tanh', got '", approximate, "'");
}

Tensor elu(const Tensor& x, double alpha) {
  UnaryParams p;
  p.alpha = alpha;
  return unary("elu", UnaryOp::Elu, x, p);
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  check(min.has_value() || max.has_value(), "clamp", "at least one of min and max must be given");
  check(!(min && std::isnan(*min)) && !(max && std::isnan(*max)), "clamp", "min/max must not be NaN");
  UnaryParams p;
  if (min) p.lo = *min;
  if (max) p.hi = *max;
  return unary("clamp", UnaryOp::Clamp, x, p);
}

// ==================================================================== masked_fill / where

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", {&cond, &a, &b});
  check(cond.dtype() == DType::Bool, "where", "condition must be bool, got ", dtype_name(cond.dtype()));
  check_same_dtype("where", {&a, &b});
  Shape shape;
  try {
    shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  } catch (const Error&) {
    fail("where", "shapes of condition ", cond.shape(), ", a ", a.shape(), " and b ", b.shape(), " do not broadcast");
  }
  const kernels::Broadcast L = layout_for("where", shape, {&cond.shape(), &a.shape(), &b.shape()});
  Tensor out = empty(shape, a.dtype());
  const Tensor cc = data_of(cond), ac = data_of(a), bc = data_of(b);
  dispatch_all(a.dtype(), "where", [&]<class T>() {
    kernels::where<T>(L, cc.data_ptr<bool>(), ac.data_ptr<T>(), bc.data_ptr<T>(), out.data_ptr<T>());
  });
  const bool na = a.requires_grad(), nb = b.requires_grad();
  autograd::record("where", {a, b}, {out},
                   [na, nb, sa = a.shape(), sb = b.shape(), cd = cc](const TensorList& g) {
                     // d/da = [cond], d/db = [!cond]
                     const Tensor zero = scalar_of(0.0, g[0]);
                     return TensorList{na ? sum_to(where(cd, g[0], zero), sa) : Tensor(),
                                       nb ? sum_to(where(cd, zero, g[0]), sb) : Tensor()};
                   });
  return out;
}

// PyTorch's out-of-place masked_fill broadcasts x and mask together (the output takes the
// broadcast shape; it is x's shape whenever the mask broadcasts to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  check_defined("masked_fill", {&x, &mask});
  check(mask.dtype() == DType::Bool, "masked_fill", "mask must be bool, got ", dtype_name(mask.dtype()));
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  const Shape scalar;
  const kernels::Broadcast L = layout_for("masked_fill", shape, {&mask.shape(), &scalar, &x.shape()});
  Tensor out = empty(shape, x.dtype());
  const Tensor mc = data_of(mask), xc = data_of(x), v = scalar_of(value, x);
  dispatch_all(x.dtype(), "masked_fill", [&]<class T>() {
    kernels::where<T>(L, mc.data_ptr<bool>(), v.data_ptr<T>(), xc.data_ptr<T>(), out.data_ptr<T>());
  });
  autograd::record("masked_fill", {x}, {out}, [sx = x.shape(), md = mc](const TensorList& g) {
    // d/dx = [!mask]: filled slots get no gradient
    return TensorList{sum_to(where(md, scalar_of(0.0, g[0]), g[0]), sx)};
  });
  return out;
}

// ==================================================================== comparisons

Tensor eq(const Tensor& a, const Tensor& b) { return compare_forward("eq", CompareOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare_forward("ne", CompareOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare_forward("lt", CompareOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare_forward("le", CompareOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare_forward("gt", CompareOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare_forward("ge", CompareOp::Ge, a, b); }
Tensor eq(const Tensor& a, double b) { return compare_scalar("eq", CompareOp::Eq, a, b); }
Tensor ne(const Tensor& a, double b) { return compare_scalar("ne", CompareOp::Ne, a, b); }
Tensor lt(const Tensor& a, double b) { return compare_scalar("lt", CompareOp::Lt, a, b); }
Tensor le(const Tensor& a, double b) { return compare_scalar("le", CompareOp::Le, a, b); }
Tensor gt(const Tensor& a, double b) { return compare_scalar("gt", CompareOp::Gt, a, b); }
Tensor ge(const Tensor& a, double b) { return compare_scalar("ge", CompareOp::Ge, a, b); }

// !x == (x == 0), for any dtype (as torch.logical_not).
Tensor logical_not(const Tensor& mask) {
  check_defined("logical_not", {&mask});
  return compare_forward("logical_not", CompareOp::Eq, mask, scalar_of(0.0, mask));
}

// ==================================================================== operators

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, b); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator/(const Tensor& a, double b) { return div(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(double a, const Tensor& b) {
  check_defined("sub", {&b});
  return sub(scalar_of(a, b), b);
}
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(double a, const Tensor& b) {
  check_defined("div", {&b});
  return div(scalar_of(a, b), b);
}
Tensor operator-(const Tensor& x) { return neg(x); }

}  // namespace seqnn
