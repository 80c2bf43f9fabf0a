// Indexing: slice, select, index_select, cat, stack, split, chunk.
//
// slice/select/split/chunk return views (shared storage, adjusted offset and strides); their
// backward writes the gradient into the matching region of zeros shaped like the input.
// index_select, cat and stack copy; index_select's backward is an index-add, cat's and
// stack's hand each input its block of the gradient. The copy-only ops accept every dtype.
#include <algorithm>
#include <numeric>

#include "kernels/index.h"
#include "ops/dispatch.h"
#include "ops/view.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

// dst[i] = src[i] over src's shape; dst is any strided view of the same shape.
void copy_into(const Tensor& src, const Tensor& dst, const char* op) {
  dispatch_all(src.dtype(), op, [&]<class T>() {
    kernels::copy_strided<T>(src.dim(), src.shape().data(), src.data_ptr<T>(), src.strides().data(),
                             dst.data_ptr<T>(), dst.strides().data());
  });
}

// A zero tensor of `shape` whose region (region_shape, region_strides, region_offset) holds g.
Tensor scatter_to_zeros(const Tensor& g, const Shape& shape, const Shape& region_strides, int64_t region_offset) {
  Tensor z = zeros(shape, g.dtype());
  copy_into(g, make_view(z, g.shape(), region_strides, region_offset), "backward");
  return z;
}

// Python slice bounds for a dim of `size`: wrap negatives once, clamp into [0, size].
struct SliceRange {
  int64_t start, len;
};
SliceRange slice_range(int64_t size, int64_t start, int64_t end, int64_t step) {
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, 0, size);
  return {start, end > start ? (end - start - 1) / step + 1 : 0};
}

Shape erase_dim(Shape s, int64_t d) {
  s.erase(s.begin() + d);
  return s;
}

// Views of x along dim d, one per entry of sizes (which sum to x.size(d)); one backward node.
TensorList split_views(const Tensor& x, int64_t d, const std::vector<int64_t>& sizes) {
  TensorList outs;
  Shape shape = x.shape();
  int64_t start = 0;
  std::vector<int64_t> starts;
  for (int64_t s : sizes) {
    shape[d] = s;
    outs.push_back(make_view(x, shape, x.strides(), x.impl()->offset + start * x.strides()[d]));
    starts.push_back(start);
    start += s;
  }
  const Shape in_shape = x.shape();
  autograd::record("split", {x}, outs, [in_shape, d, starts](const TensorList& g) {
    // dx = the output gradients laid side by side along d. They tile dx and the engine hands every
    // output a gradient (zeros where none arrived), so dx needs no zero fill first (that fill of
    // MultiheadAttention's packed q,k,v gradient was 3% of a ViT training step).
    Tensor z = empty(in_shape, g[0].dtype());
    const Shape cs = contiguous_strides(in_shape);
    for (size_t i = 0; i < g.size(); ++i) copy_into(g[i], make_view(z, g[i].shape(), cs, starts[i] * cs[d]), "split");
    return TensorList{z};
  });
  return outs;
}

}  // namespace

// ==================================================================== slice / select

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  check(x.dim() > 0, "slice", "cannot be applied to a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "slice");
  check(step >= 1, "slice", "step must be positive, got ", step);
  const SliceRange r = slice_range(x.shape()[d], start, end, step);
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = r.len;
  const int64_t offset = x.impl()->offset + r.start * strides[d];
  strides[d] *= step;
  Tensor out = make_view(x, shape, strides, offset);
  const Shape in_shape = x.shape();
  autograd::record("slice", {x}, {out}, [in_shape, d, r, step](const TensorList& g) {
    // dx = zeros with x[start:end:step] (along d) = g
    Shape cs = contiguous_strides(in_shape);
    const int64_t off = r.start * cs[d];
    cs[d] *= step;
    return TensorList{scatter_to_zeros(g[0], in_shape, cs, off)};
  });
  return out;
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  check(x.dim() > 0, "select", "cannot be applied to a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "select");
  const int64_t size = x.shape()[d];
  check(index >= -size && index < size, "select", "index ", index, " out of range for dim ", d, " of size ", size,
        " (input ", x.shape(), ")");
  const int64_t i = index < 0 ? index + size : index;
  Tensor out = make_view(x, erase_dim(x.shape(), d), erase_dim(x.strides(), d),
                         x.impl()->offset + i * x.strides()[d]);
  const Shape in_shape = x.shape();
  autograd::record("select", {x}, {out}, [in_shape, d, i](const TensorList& g) {
    // dx = zeros with x[..., i, ...] (along d) = g
    const Shape cs = contiguous_strides(in_shape);
    return TensorList{scatter_to_zeros(g[0], in_shape, erase_dim(cs, d), i * cs[d])};
  });
  return out;
}

// ==================================================================== index_select

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check(x.defined() && index.defined(), "index_select", "input and index must be defined");
  check(index.dtype() == DType::I64, "index_select", "index must be int64, got ", dtype_name(index.dtype()));
  check(index.dim() <= 1, "index_select", "index must be 1-d, got shape ", index.shape());
  const std::vector<int64_t> idx = index.to_vector<int64_t>();
  const int64_t m = static_cast<int64_t>(idx.size());
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  // A 0-d x acts as shape (1) and stays 0-d (one index, which must be 0).
  const Shape xshape = x.dim() == 0 ? Shape{1} : x.shape();
  if (x.dim() == 0) check(m == 1, "index_select", "a 0-d input needs exactly one index, got ", m);
  const int64_t n = xshape[d];
  for (int64_t j = 0; j < m; ++j)
    check(idx[j] >= 0 && idx[j] < n, "index_select", "index ", idx[j], " at position ", j,
          " out of range for dim ", d, " of size ", n, " (input ", x.shape(), ")");
  const int64_t outer = numel_of(Shape(xshape.begin(), xshape.begin() + d));
  const int64_t inner = numel_of(Shape(xshape.begin() + d + 1, xshape.end()));
  Shape out_shape = x.shape();
  if (x.dim() > 0) out_shape[d] = m;
  const Tensor xc = x.detach().contiguous();
  Tensor out = empty(out_shape, x.dtype());
  dispatch_all(x.dtype(), "index_select", [&]<class T>() {
    kernels::index_gather<T>(outer, n, inner, m, xc.data_ptr<T>(), idx.data(), out.data_ptr<T>());
  });
  const Shape in_shape = x.shape();
  autograd::record("index_select", {x}, {out}, [in_shape, idx, outer, n, inner, m](const TensorList& g) {
    // dx[.., idx[j], ..] += g[.., j, ..]  (repeated indices accumulate)
    Tensor dx = zeros(in_shape, g[0].dtype());
    const Tensor gc = g[0].contiguous();
    dispatch_float(gc.dtype(), "index_select", [&]<class T>() {
      kernels::index_add<T>(outer, n, inner, m, gc.data_ptr<T>(), idx.data(), dx.data_ptr<T>());
    });
    return TensorList{dx};
  });
  return out;
}

// ==================================================================== cat / stack

Tensor cat(const TensorList& xs, int64_t dim) {
  check(!xs.empty(), "cat", "expected a non-empty list of tensors");
  // As PyTorch 1.13: 1-d tensors of shape (0) are skipped (legacy empty tensors).
  std::vector<bool> skip(xs.size());
  int64_t first = -1;
  for (size_t i = 0; i < xs.size(); ++i) {
    check(xs[i].defined(), "cat", "tensor ", i, " is undefined");
    check(xs[i].dim() > 0, "cat", "zero-dimensional tensor (at position ", i, ") cannot be concatenated");
    check(xs[i].dtype() == xs[0].dtype(), "cat", "dtype mismatch: tensor ", i, " is ", dtype_name(xs[i].dtype()),
          ", tensor 0 is ", dtype_name(xs[0].dtype()));
    skip[i] = xs[i].shape() == Shape{0};
    if (!skip[i] && first < 0) first = static_cast<int64_t>(i);
  }
  const bool all_skipped = first < 0;  // then the result is empty (0), whatever dim says
  if (all_skipped) first = 0;
  const Tensor& ref = xs[first];
  const int64_t d = all_skipped ? 0 : wrap_dim(dim, ref.dim(), "cat");
  Shape out_shape = ref.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (skip[i]) continue;
    const Shape& s = xs[i].shape();
    bool match = xs[i].dim() == ref.dim();
    for (int64_t k = 0; match && k < ref.dim(); ++k) match = k == d || s[k] == ref.shape()[k];
    check(match, "cat", "sizes must match except in dim ", d, ": tensor ", i, " has shape ", s, ", tensor ", first,
          " has ", ref.shape());
    out_shape[d] += s[d];
  }
  Tensor out = empty(out_shape, ref.dtype());
  const Shape cs = contiguous_strides(out_shape);
  std::vector<int64_t> starts(xs.size(), 0);
  int64_t start = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (skip[i]) continue;
    starts[i] = start;
    copy_into(xs[i], make_view(out, xs[i].shape(), cs, start * cs[d]), "cat");
    start += xs[i].shape()[d];
  }
  std::vector<Shape> shapes;
  for (const Tensor& x : xs) shapes.push_back(x.shape());
  autograd::record("cat", xs, {out}, [shapes, skip, starts, d](const TensorList& g) {
    // dx_i = g's block [start_i, start_i + size_i) along d
    const Tensor gc = g[0].contiguous();
    TensorList dx(shapes.size());
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (skip[i] || numel_of(shapes[i]) == 0) {
        dx[i] = zeros(shapes[i], gc.dtype());
        continue;
      }
      dx[i] = make_view(gc, shapes[i], gc.strides(), gc.impl()->offset + starts[i] * gc.strides()[d]).contiguous();
    }
    return dx;
  });
  return out;
}

Tensor stack(const TensorList& xs, int64_t dim) {
  check(!xs.empty(), "stack", "expected a non-empty list of tensors");
  const Shape& shape = xs[0].shape();
  for (size_t i = 0; i < xs.size(); ++i) {
    check(xs[i].defined(), "stack", "tensor ", i, " is undefined");
    check(xs[i].shape() == shape, "stack", "all tensors must have the same shape: tensor ", i, " has ", xs[i].shape(),
          ", tensor 0 has ", shape);
    check(xs[i].dtype() == xs[0].dtype(), "stack", "dtype mismatch: tensor ", i, " is ",
          dtype_name(xs[i].dtype()), ", tensor 0 is ", dtype_name(xs[0].dtype()));
  }
  const int64_t nd = static_cast<int64_t>(shape.size());
  check(dim >= -(nd + 1) && dim <= nd, "stack", "dim ", dim, " out of range [", -(nd + 1), ", ", nd, "] for ",
        nd, "-d inputs");
  const int64_t d = dim < 0 ? dim + nd + 1 : dim;
  Shape out_shape = shape;
  out_shape.insert(out_shape.begin() + d, static_cast<int64_t>(xs.size()));
  Tensor out = empty(out_shape, xs[0].dtype());
  const Shape cs = contiguous_strides(out_shape), region = erase_dim(cs, d);
  for (size_t i = 0; i < xs.size(); ++i)
    copy_into(xs[i], make_view(out, shape, region, static_cast<int64_t>(i) * cs[d]), "stack");
  autograd::record("stack", xs, {out}, [shape, d](const TensorList& g) {
    // dx_i = g[.., i, ..] along the new dim d
    const Tensor gc = g[0].contiguous();
    const Shape st = erase_dim(gc.strides(), d);
    TensorList dx(gc.shape()[d]);
    for (size_t i = 0; i < dx.size(); ++i)
      dx[i] = make_view(gc, shape, st, gc.impl()->offset + static_cast<int64_t>(i) * gc.strides()[d]).contiguous();
    return dx;
  });
  return out;
}

// ==================================================================== split / chunk

TensorList split(const Tensor& x, int64_t split_size, int64_t dim) {
  check(x.dim() > 0, "split", "cannot be applied to a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.shape()[d];
  check(split_size >= 0, "split", "split_size must be non-negative, got ", split_size);
  check(split_size > 0 || n == 0, "split", "split_size can only be 0 if dim ", d, " has size 0, got size ", n);
  // ceil(n / split_size) pieces (at least one), the last one shorter
  const int64_t pieces = split_size == 0 ? 1 : std::max<int64_t>((n + split_size - 1) / split_size, 1);
  std::vector<int64_t> sizes(pieces, split_size);
  sizes.back() = n - split_size * (pieces - 1);
  return split_views(x, d, sizes);
}

TensorList split(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim) {
  check(x.dim() > 0, "split", "cannot be applied to a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    check(s >= 0, "split", "split_sizes must be non-negative, got ", Shape(split_sizes));
    total += s;
  }
  check(total == x.shape()[d], "split", "split_sizes ", Shape(split_sizes), " sum to ", total, ", not to the size ",
        x.shape()[d], " of dim ", d, " of input ", x.shape());
  return split_views(x, d, split_sizes);
}

TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  check(chunks > 0, "chunk", "chunks must be positive, got ", chunks);
  check(x.dim() > 0, "chunk", "cannot be applied to a 0-d tensor");
  const int64_t d = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.shape()[d];
  // PyTorch: pieces of ceil(n / chunks), so fewer than `chunks` pieces may come back;
  // an empty dim gives `chunks` empty pieces.
  if (n == 0) return split_views(x, d, std::vector<int64_t>(chunks, 0));
  return split(x, (n + chunks - 1) / chunks, d);
}

}  // namespace seqnn
