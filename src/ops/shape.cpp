// Shape ops and views: reshape, flatten, squeeze/unsqueeze, transpose, permute, expand,
// broadcasting helpers, and the Tensor method forwards.
//
// Views share storage and differ only in (offset, shape, strides). Backward of a view is the
// inverse view of the gradient (reshape back, transpose back, sum over expanded dims).
#include <numeric>

#include "ops/dispatch.h"
#include "ops/view.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      check(infer < 0, op, "only one dimension can be -1, got ", shape);
      infer = static_cast<int64_t>(i);
    } else {
      check(out[i] >= 0, op, "invalid dimension ", out[i], " in ", shape);
      // a product past int64 would wrap and could match numel by accident
      check(!__builtin_mul_overflow(known, out[i], &known), op, "shape ", shape, " has more elements than int64 holds");
    }
  }
  if (infer >= 0) {
    check(known != 0 && numel % known == 0, op, "shape ", shape, " is invalid for input ", from, " of ", numel,
          " elements");
    out[infer] = numel / known;
  }
  check(numel_of(out) == numel, op, "shape ", shape, " is invalid for input ", from, " of ", numel, " elements");
  return out;
}

}  // namespace

// ==================================================================== reshape family

Tensor reshape(const Tensor& x, const Shape& shape) {
  const Shape target = infer_shape(shape, x.numel(), "reshape", x.shape());
  const Tensor src = x.contiguous();
  Tensor out = make_view(src, target, contiguous_strides(target), src.impl()->offset);
  const Shape in_shape = x.shape();
  autograd::record("reshape", {src}, {out}, [in_shape](const TensorList& g) {
    return TensorList{reshape(g[0], in_shape)};
  });
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  check(s <= e, "flatten", "start_dim ", start_dim, " must not come after end_dim ", end_dim);
  Shape out;
  for (int64_t d = 0; d < s; ++d) out.push_back(x.size(d));
  int64_t m = 1;
  for (int64_t d = s; d <= e; ++d) m *= x.size(d);
  out.push_back(m);
  for (int64_t d = e + 1; d < x.dim(); ++d) out.push_back(x.size(d));
  return reshape(x, out);
}

Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes) {
  check(x.dim() > 0, "unflatten", "needs a tensor with at least one dimension, got ", x.shape());
  const int64_t d = wrap_dim(dim, x.dim(), "unflatten");
  check(!sizes.empty(), "unflatten", "sizes must not be empty");
  const Shape parts = infer_shape(sizes, x.size(d), "unflatten", Shape{x.size(d)});
  // dim d of size n, stride s -> parts (p0, .., pk) with strides (s p1..pk, .., s pk, s)
  Shape shape, strides;
  for (int64_t i = 0; i < d; ++i) shape.push_back(x.size(i)), strides.push_back(x.strides()[i]);
  Shape ps(parts.size());
  int64_t st = x.strides()[d];
  for (size_t i = parts.size(); i-- > 0;) {
    ps[i] = st;
    st *= parts[i];
  }
  for (size_t i = 0; i < parts.size(); ++i) shape.push_back(parts[i]), strides.push_back(ps[i]);
  for (int64_t i = d + 1; i < x.dim(); ++i) shape.push_back(x.size(i)), strides.push_back(x.strides()[i]);
  Tensor out = make_view(x, shape, strides, x.impl()->offset);
  const Shape in_shape = x.shape();
  autograd::record("unflatten", {x}, {out}, [in_shape](const TensorList& g) {
    return TensorList{reshape(g[0], in_shape)};
  });
  return out;
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  if (x.dim() == 0) return x;
  const int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  if (x.size(d) != 1) return x;  // PyTorch: squeezing a non-1 dim is a no-op
  Shape s = x.shape();
  s.erase(s.begin() + d);
  return reshape(x, s);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape s = x.shape();
  s.insert(s.begin() + d, 1);
  return reshape(x, s);
}

// ==================================================================== transpose / permute

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const int64_t n = x.dim();
  check(static_cast<int64_t>(dims.size()) == n, "permute", "got ", dims.size(), " dims for a ", n, "-d tensor ",
        x.shape());
  std::vector<int64_t> p(n), inv(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = wrap_dim(dims[i], n, "permute");
    check(inv[p[i]] < 0, "permute", "dim ", dims[i], " repeated in ", Shape(dims));
    inv[p[i]] = i;
  }
  Shape shape(n), strides(n);
  for (int64_t i = 0; i < n; ++i) {
    shape[i] = x.shape()[p[i]];
    strides[i] = x.strides()[p[i]];
  }
  Tensor out = make_view(x, shape, strides, x.impl()->offset);
  autograd::record("permute", {x}, {out}, [inv](const TensorList& g) { return TensorList{permute(g[0], inv)}; });
  return out;
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  if (x.dim() == 0) return x;
  const int64_t a = wrap_dim(dim0, x.dim(), "transpose"), b = wrap_dim(dim1, x.dim(), "transpose");
  std::vector<int64_t> p(x.dim());
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[a], p[b]);
  return permute(x, p);
}

// ==================================================================== broadcasting

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    check(da == db || da == 1 || db == 1, op, "shapes ", a, " and ", b, " do not broadcast (dim ", i, ": ", da,
          " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check(shape.size() >= static_cast<size_t>(x.dim()), "expand", "cannot expand ", x.shape(), " to fewer dims ",
        shape);
  const size_t lead = shape.size() - x.dim();
  Shape out_shape(shape.size()), strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      check(shape[i] >= 0, "expand", "invalid target ", shape);
      out_shape[i] = shape[i];
      continue;
    }
    const int64_t have = x.shape()[i - lead], want = shape[i] == -1 ? have : shape[i];
    check(have == want || have == 1, "expand", "cannot expand ", x.shape(), " to ", shape);
    out_shape[i] = want;
    strides[i] = (have == want) ? x.strides()[i - lead] : 0;
  }
  if (out_shape == x.shape()) return x;
  Tensor out = make_view(x, out_shape, strides, x.impl()->offset);
  const Shape in_shape = x.shape();
  autograd::record("expand", {x}, {out}, [in_shape](const TensorList& g) { return TensorList{sum_to(g[0], in_shape)}; });
  return out;
}

// Sums g (broadcast shape) down to `shape`: over leading extra dims and over dims where
// shape has 1. No autograd (used inside backward functions).
Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  check(g.dim() >= static_cast<int64_t>(shape.size()), "sum_to", "cannot reduce ", g.shape(), " to ", shape);
  const Tensor src = g.contiguous();
  const size_t nd = src.shape().size(), lead = nd - shape.size();
  // Output strides laid over the source dims (0 where the dim is reduced).
  Shape ostr(nd, 0);
  const Shape cs = contiguous_strides(shape);
  for (size_t i = lead; i < nd; ++i) {
    const int64_t want = shape[i - lead];
    check(want == src.shape()[i] || want == 1, "sum_to", "cannot reduce ", g.shape(), " to ", shape);
    ostr[i] = (want == src.shape()[i]) ? cs[i - lead] : 0;
  }
  Tensor out = zeros(shape, g.dtype());
  dispatch_float(g.dtype(), "sum_to", [&]<class T>() {
    const T* s = src.data_ptr<T>();
    T* o = out.data_ptr<T>();
    const int64_t n = src.numel();
    const int64_t inner = nd ? src.shape()[nd - 1] : 1, inner_os = nd ? ostr[nd - 1] : 0;
    std::vector<int64_t> idx(nd, 0);
    int64_t off = 0;
    for (int64_t done = 0; done < n; done += inner) {
      if (inner_os == 0) {
        T acc = 0;
        for (int64_t j = 0; j < inner; ++j) acc += s[done + j];
        o[off] += acc;
      } else {
        for (int64_t j = 0; j < inner; ++j) o[off + j] += s[done + j];
      }
      for (size_t d = nd - 1; d-- > 0;) {
        if (++idx[d] < src.shape()[d]) {
          off += ostr[d];
          break;
        }
        off -= ostr[d] * (src.shape()[d] - 1);
        idx[d] = 0;
      }
    }
  });
  return out;
}

// ==================================================================== Tensor methods

Tensor Tensor::reshape(const Shape& shape) const { return seqnn::reshape(*this, shape); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return seqnn::transpose(*this, d0, d1); }
Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return seqnn::permute(*this, dims); }
Tensor Tensor::unsqueeze(int64_t d) const { return seqnn::unsqueeze(*this, d); }
Tensor Tensor::squeeze(int64_t d) const { return seqnn::squeeze(*this, d); }

}  // namespace seqnn
