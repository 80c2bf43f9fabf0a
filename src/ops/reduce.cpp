// Reductions: sum, mean, max, argmax (and the Tensor::sum / Tensor::mean forwards).
//
//   sum(x, dims)[k]  = sum over the reduced dims of x          d/dx: broadcast g back
//   mean(x, dims)[k] = sum(x, dims)[k] / count                 d/dx: broadcast g / count
//   max(x, dim)      = (values, first index of the maximum)    d/dx: g scattered to the index
//   max(x)           = the maximum (NaN if any NaN)            d/dx: g split evenly over ties
//
// A list of dims is reduced as runs of adjacent dims, last run first; each run is one
// (O,R,I) kernel pass (kernels/reduce.h). Mean of zero elements is NaN, as in PyTorch.
#include <algorithm>
#include <limits>

#include "kernels/reduce.h"
#include "ops/dispatch.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

// Which dims of an nd tensor are reduced (an empty list means all). A 0-d tensor accepts
// dim 0 / -1, as PyTorch does, and reduces nothing.
std::vector<bool> reduced_mask(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  const int64_t nd = x.dim();
  std::vector<bool> red(nd, dims.empty());
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, std::max<int64_t>(nd, 1), op);
    if (nd == 0) continue;
    check(!red[w], op, "dim ", w, " appears multiple times in the list of dims ", Shape(dims));
    red[w] = true;
  }
  return red;
}

Shape out_shape(const Shape& in, const std::vector<bool>& red, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!red[d]) out.push_back(in[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

int64_t prod(const Shape& s, size_t a, size_t b) {
  int64_t p = 1;
  for (size_t d = a; d < b; ++d) p *= s[d];
  return p;
}

Tensor sum_impl(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool is_mean, const char* op) {
  const std::vector<bool> red = reduced_mask(x, dims, op);
  const Tensor xc = x.contiguous();
  const Shape in = xc.shape();
  const size_t nd = in.size();
  int64_t count = 1;
  for (size_t d = 0; d < nd; ++d)
    if (red[d]) count *= in[d];
  const double scale = !is_mean ? 1.0 : (count == 0 ? std::numeric_limits<double>::quiet_NaN() : 1.0 / count);

  // Runs of adjacent reduced dims, [a, b).
  std::vector<std::pair<size_t, size_t>> runs;
  for (size_t d = 0; d < nd;) {
    if (!red[d]) {
      ++d;
      continue;
    }
    size_t e = d;
    while (e < nd && red[e]) ++e;
    runs.push_back({d, e});
    d = e;
  }
  const Shape final_shape = out_shape(in, red, keepdim);
  Tensor out;
  dispatch_float(x.dtype(), op, [&]<class T>() {
    if (runs.empty()) {  // nothing reduced (a 0-d tensor): a scaled copy
      out = empty(final_shape, x.dtype());
      kernels::sum_reduce<T>(xc.data_ptr<T>(), out.data_ptr<T>(), 1, 1, xc.numel(), scale);
      return;
    }
    Tensor cur = xc;
    Shape cs = in;
    for (size_t k = runs.size(); k-- > 0;) {
      const auto [a, b] = runs[k];
      const int64_t O = prod(cs, 0, a), R = prod(cs, a, b), I = prod(cs, b, nd);
      for (size_t d = a; d < b; ++d) cs[d] = 1;
      Tensor next = empty(k == 0 ? final_shape : cs, x.dtype());
      kernels::sum_reduce<T>(cur.data_ptr<T>(), next.data_ptr<T>(), O, R, I, k == 0 ? scale : 1.0);
      cur = next;
    }
    out = cur;
  });

  // d/dx = g broadcast back over the reduced dims (times 1/count for mean).
  autograd::record(op, {xc}, {out}, [in, red, scale, op](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    Shape keep = in;
    for (size_t d = 0; d < in.size(); ++d)
      if (red[d]) keep[d] = 1;
    Shape gstr = contiguous_strides(keep);
    for (size_t d = 0; d < in.size(); ++d)
      if (red[d]) gstr[d] = 0;
    Tensor dx = empty(in, gc.dtype());
    dispatch_float(gc.dtype(), op, [&]<class T>() {
      kernels::expand_scaled<T>(gc.data_ptr<T>(), gstr.data(), in.data(), static_cast<int64_t>(in.size()), scale,
                                dx.data_ptr<T>());
    });
    return TensorList{dx};
  });
  return out;
}

}  // namespace

// ==================================================================== sum / mean

Tensor sum(const Tensor& x) { return sum_impl(x, {}, false, false, "sum"); }
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_impl(x, dims, keepdim, false, "sum");
}
Tensor mean(const Tensor& x) { return sum_impl(x, {}, false, true, "mean"); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return sum_impl(x, dims, keepdim, true, "mean");
}

Tensor Tensor::sum() const { return seqnn::sum(*this); }
Tensor Tensor::mean() const { return seqnn::mean(*this); }

// ==================================================================== max / argmax

namespace {
struct DimLayout {
  int64_t O, R, I;
  Shape out;  // values' shape
};

DimLayout dim_layout(const Tensor& x, int64_t dim, bool keepdim, const char* op) {
  if (x.dim() == 0) {  // a scalar: dim 0 / -1 reduces a size-1 dim
    wrap_dim(dim, 1, op);
    return {1, 1, 1, Shape{}};
  }
  const int64_t d = wrap_dim(dim, x.dim(), op);
  const Shape& s = x.shape();
  check(s[d] > 0, op, "cannot reduce over dim ", d, " of size 0 in ", s, " (no identity for max)");
  DimLayout l{prod(s, 0, d), s[d], prod(s, d + 1, s.size()), s};
  if (keepdim) l.out[d] = 1;
  else l.out.erase(l.out.begin() + d);
  return l;
}
}  // namespace

MaxResult max(const Tensor& x, int64_t dim, bool keepdim) {
  const DimLayout l = dim_layout(x, dim, keepdim, "max");
  const Tensor xc = x.contiguous();
  MaxResult res{empty(l.out, x.dtype()), empty(l.out, DType::I64)};
  dispatch_float(x.dtype(), "max", [&]<class T>() {
    kernels::max_reduce<T>(xc.data_ptr<T>(), res.values.data_ptr<T>(), res.indices.data_ptr<int64_t>(), l.O, l.R,
                           l.I);
  });
  // d/dx[o,r,i] = g[o,i] where r is the returned index, else 0.
  const Shape in = xc.shape();
  autograd::record("max", {xc}, {res.values}, [in, l, idx = res.indices](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    Tensor dx = empty(in, gc.dtype());
    dispatch_float(gc.dtype(), "max", [&]<class T>() {
      kernels::max_reduce_backward<T>(gc.data_ptr<T>(), idx.data_ptr<int64_t>(), dx.data_ptr<T>(), l.O, l.R, l.I);
    });
    return TensorList{dx};
  });
  return res;
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  const DimLayout l = dim_layout(x, dim, keepdim, "argmax");
  const Tensor xc = x.detach().contiguous();
  Tensor values = empty(l.out, x.dtype()), indices = empty(l.out, DType::I64);
  dispatch_float(x.dtype(), "argmax", [&]<class T>() {
    kernels::max_reduce<T>(xc.data_ptr<T>(), values.data_ptr<T>(), indices.data_ptr<int64_t>(), l.O, l.R, l.I);
  });
  return indices;
}

Tensor max(const Tensor& x) {
  check(x.numel() > 0, "max", "expected a non-empty tensor to reduce over all elements, got ", x.shape(),
        "; specify a dim");
  const Tensor xc = x.contiguous();
  Tensor out = empty({}, x.dtype());
  dispatch_float(x.dtype(), "max", [&]<class T>() {
    out.data_ptr<T>()[0] = kernels::max_all<T>(xc.data_ptr<T>(), xc.numel());
  });
  // d/dx = g / (number of maximal elements) at each maximal element (PyTorch 1.13's rule).
  autograd::record("max", {xc}, {out}, [xc, m = out.detach()](const TensorList& g) {
    Tensor dx = empty(xc.shape(), xc.dtype());
    dispatch_float(xc.dtype(), "max", [&]<class T>() {
      kernels::max_all_backward<T>(xc.data_ptr<T>(), m.data_ptr<T>()[0], g[0].contiguous().data_ptr<T>()[0],
                                   dx.data_ptr<T>(), xc.numel());
    });
    return TensorList{dx};
  });
  return out;
}

}  // namespace seqnn
