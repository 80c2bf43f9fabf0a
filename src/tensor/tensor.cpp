// Tensor: storage, metadata, factories, copies and printing.
#include "seqnn/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <sstream>
#include <type_traits>

#include "kernels/index.h"
#include "kernels/parallel.h"
#include "ops/dispatch.h"
#include "tensor/allocator.h"
#include "seqnn/autograd.h"

namespace seqnn {

// ==================================================================== dtype, shape helpers

size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::I64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

bool is_floating(DType dt) { return dt == DType::F32 || dt == DType::F64; }

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + ")";
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = -std::max<int64_t>(ndim, 1), hi = std::max<int64_t>(ndim, 1) - 1;
  check(dim >= lo && dim <= hi, op, "dim ", dim, " out of range [", lo, ", ", hi, "] for a ", ndim,
        "-d tensor");
  return dim < 0 ? dim + std::max<int64_t>(ndim, 1) : dim;
}

// ==================================================================== storage

Storage::Storage(size_t n) : nbytes(n) { data = detail::storage_alloc(n); }

Storage::~Storage() { detail::storage_free(data, nbytes); }

// ==================================================================== metadata

static TensorImpl& need(const std::shared_ptr<TensorImpl>& impl, const char* what) {
  if (!impl) fail(what, "called on an undefined tensor");
  return *impl;
}

const Shape& Tensor::shape() const { return need(impl_, "Tensor.shape").shape; }
const Shape& shape_or_none(const Tensor& t) {
  static const Shape none;
  return t.defined() ? t.shape() : none;
}
const Shape& Tensor::strides() const { return need(impl_, "Tensor.strides").strides; }
DType Tensor::dtype() const { return need(impl_, "Tensor.dtype").dtype; }
int64_t Tensor::numel() const { return numel_of(shape()); }

int64_t Tensor::size(int64_t d) const {
  check(dim() > 0, "Tensor.size", "a 0-d tensor has no dimensions");
  return shape()[wrap_dim(d, dim(), "Tensor.size")];
}

bool Tensor::is_contiguous() const {
  const auto& t = need(impl_, "Tensor.is_contiguous");
  if (numel_of(t.shape) == 0) return true;  // no element to misplace
  int64_t expect = 1;
  for (size_t i = t.shape.size(); i-- > 0;) {
    if (t.shape[i] == 1) continue;
    if (t.strides[i] != expect) return false;
    expect *= t.shape[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  const auto& t = need(impl_, "Tensor.data_ptr");
  return static_cast<char*>(t.storage->data) + t.offset * static_cast<int64_t>(dtype_size(t.dtype));
}

template <class T>
T* Tensor::data_ptr() const {
  check(dtype() == dtype_of<T>::value, "Tensor.data_ptr", "tensor is ", dtype_name(dtype()),
        ", asked for ", dtype_name(dtype_of<T>::value));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;
template bool* Tensor::data_ptr<bool>() const;

// ==================================================================== strided copy

namespace {

// From this many elements, copies and fills split over seqnn's threads (kernels::parallel_for).
constexpr int64_t kParallelElems = int64_t{1} << 16;

// Copies the strided src view into contiguous dst, converting element type.
template <class S, class D>
void strided_to_contiguous(const S* src, const Shape& shape, const Shape& strides, D* dst) {
  const int64_t n = numel_of(shape);
  if (n == 0) return;
  const size_t nd = shape.size();
  if (nd == 0) {
    dst[0] = static_cast<D>(src[0]);
    return;
  }
  const int64_t inner = shape[nd - 1], inner_stride = strides[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;
  for (int64_t done = 0; done < n; done += inner) {
    if (inner_stride == 1) {
      for (int64_t j = 0; j < inner; ++j) dst[done + j] = static_cast<D>(src[off + j]);
    } else {
      for (int64_t j = 0; j < inner; ++j) dst[done + j] = static_cast<D>(src[off + j * inner_stride]);
    }
    for (size_t d = nd - 1; d-- > 0;) {  // odometer over the outer dims
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

template <class D>
void copy_any_to(const Tensor& src, D* dst) {
  dispatch_all(src.dtype(), "Tensor.copy", [&]<class S>() {
    // Same type and large: kernels::copy_strided splits the rows over the threads (contiguous()
    // of an attention output or a transposed activation ran on one thread while the other waited).
    if constexpr (std::is_same_v<S, D>) {
      if (src.numel() >= kParallelElems) {
        const Shape& shape = src.shape();
        const Shape dst_strides = contiguous_strides(shape);
        kernels::copy_strided<D>(static_cast<int64_t>(shape.size()), shape.data(), src.data_ptr<S>(),
                                 src.strides().data(), dst, dst_strides.data());
        return;
      }
    }
    strided_to_contiguous(src.data_ptr<S>(), src.shape(), src.strides(), dst);
  });
}

Tensor make_empty(const Shape& shape, DType dt) {
  for (int64_t d : shape) check(d >= 0, "empty", "negative dimension in shape ", shape);
  // numel * itemsize must fit: a wrapped product would allocate a tiny buffer for a huge shape.
  uint64_t bytes = dtype_size(dt);
  for (int64_t d : shape)
    check(!__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes) && bytes <= (uint64_t{1} << 62), "empty",
          "shape ", shape, " of ", dtype_name(dt), " is too large to allocate");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * dtype_size(dt));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dt;
  return Tensor(impl);
}

// Contiguous copy of x converted to dt, no autograd.
Tensor raw_copy(const Tensor& x, DType dt) {
  Tensor out = make_empty(x.shape(), dt);
  dispatch_all(dt, "Tensor.copy", [&]<class D>() { copy_any_to(x, out.data_ptr<D>()); });
  return out;
}

}  // namespace

// ==================================================================== copies with autograd

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = raw_copy(*this, dtype());
  autograd::record("contiguous", {*this}, {out}, [](const TensorList& g) { return TensorList{g[0]}; });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = raw_copy(*this, dtype());
  autograd::record("clone", {*this}, {out}, [](const TensorList& g) { return TensorList{g[0]}; });
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = raw_copy(*this, dt);
  if (is_floating(dt) && is_floating(dtype())) {
    DType back = dtype();
    autograd::record("to", {*this}, {out}, [back](const TensorList& g) { return TensorList{g[0].to(back)}; });
  }
  return out;
}

Tensor& Tensor::fill_(double value) {
  check(is_contiguous(), "Tensor.fill_", "needs a contiguous tensor, got strides ", strides());
  const int64_t n = numel();
  dispatch_all(dtype(), "Tensor.fill_", [&]<class T>() {
    T* p = data_ptr<T>();
    const T v = static_cast<T>(value);
    kernels::parallel_for(n, kParallelElems, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) p[i] = v;
    });
  });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check(src.defined(), "Tensor.copy_", "source is undefined");
  check(src.numel() == numel(), "Tensor.copy_", "destination ", shape(), " and source ", src.shape(),
        " have different element counts");
  check(is_contiguous(), "Tensor.copy_", "needs a contiguous destination");
  dispatch_all(dtype(), "Tensor.copy_", [&]<class D>() { copy_any_to(src, data_ptr<D>()); });
  return *this;
}

double Tensor::item() const {
  check(numel() == 1, "Tensor.item", "needs exactly one element, tensor has shape ", shape());
  double v = 0;
  dispatch_all(dtype(), "Tensor.item", [&]<class T>() { v = static_cast<double>(*data_ptr<T>()); });
  return v;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  std::vector<T> out(static_cast<size_t>(numel()));
  if constexpr (std::is_same_v<T, bool>) {
    if (out.empty()) return out;  // memcpy from/to null is undefined even for 0 bytes
    Tensor b = raw_copy(*this, DType::Bool);
    const bool* p = b.data_ptr<bool>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  } else {
    copy_any_to(*this, out.data());
  }
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<bool> Tensor::to_vector<bool>() const;

// ==================================================================== autograd accessors

bool Tensor::requires_grad() const { return need(impl_, "Tensor.requires_grad").requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  auto& t = need(impl_, "Tensor.requires_grad_");
  check(!on || is_floating(t.dtype), "Tensor.requires_grad_", "only floating tensors can require grad, got ",
        dtype_name(t.dtype));
  check(t.grad_fn == nullptr, "Tensor.requires_grad_",
        "can only be set on leaves (this tensor was computed by ", "an op); use detach() first");
  t.requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return need(impl_, "Tensor.is_leaf").grad_fn == nullptr; }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return need(impl_, "Tensor.grad_fn").grad_fn; }

Tensor Tensor::grad() const {
  const auto& g = need(impl_, "Tensor.grad").grad;
  return g ? Tensor(g) : Tensor();
}

void Tensor::set_grad(const Tensor& g) const {
  auto& t = need(impl_, "Tensor.set_grad");
  if (g.defined())
    check(g.shape() == t.shape && g.dtype() == t.dtype, "Tensor.set_grad", "gradient ", g.shape(), " ",
          dtype_name(g.dtype()), " does not match tensor ", t.shape, " ", dtype_name(t.dtype));
  t.grad = g.impl_ptr();
}

void Tensor::zero_grad(bool set_to_none) const {
  auto& t = need(impl_, "Tensor.zero_grad");
  if (!t.grad) return;
  if (set_to_none) {
    t.grad.reset();
  } else {
    Tensor(t.grad).zero_();
  }
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  autograd::backward({*this}, {grad_output}, retain_graph);
}

Tensor Tensor::detach() const {
  const auto& t = need(impl_, "Tensor.detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage;
  impl->offset = t.offset;
  impl->shape = t.shape;
  impl->strides = t.strides;
  impl->dtype = t.dtype;
  return Tensor(impl);
}

// ==================================================================== printing

std::string Tensor::str(int64_t max_elems) const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  os << "tensor([";
  Tensor c = raw_copy(*this, is_floating(dtype()) ? DType::F64 : DType::I64);
  const int64_t n = numel();
  for (int64_t i = 0; i < std::min(n, max_elems); ++i) {
    if (i) os << ", ";
    if (c.dtype() == DType::F64)
      os << std::setprecision(6) << c.data_ptr<double>()[i];
    else
      os << c.data_ptr<int64_t>()[i];
  }
  if (n > max_elems) os << ", ...";
  os << "], dtype=" << dtype_name(dtype()) << ", shape=" << shape_str(shape());
  if (requires_grad()) os << ", requires_grad=True";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ==================================================================== factories

Tensor empty(const Shape& shape, DType dt) { return make_empty(shape, dt); }
Tensor zeros(const Shape& shape, DType dt) { return full(shape, 0.0, dt); }
Tensor ones(const Shape& shape, DType dt) { return full(shape, 1.0, dt); }
Tensor full(const Shape& shape, double value, DType dt) {
  Tensor t = make_empty(shape, dt);
  t.fill_(value);
  return t;
}
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype()); }
Tensor scalar_tensor(double value, DType dt) { return full({}, value, dt); }

Tensor arange(int64_t n, DType dt) {
  check(n >= 0, "arange", "n must be >= 0, got ", n);
  Tensor t = make_empty({n}, dt);
  dispatch_all(dt, "arange", [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return t;
}

template <class T>
static Tensor from_vec(const std::vector<T>& v, const Shape& shape) {
  check(static_cast<int64_t>(v.size()) == numel_of(shape), "from_vector", v.size(), " values do not fill shape ",
        shape, " (", numel_of(shape), " elements)");
  Tensor t = make_empty(shape, dtype_of<T>::value);
  if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));
  return t;
}
Tensor from_vector(const std::vector<float>& v, const Shape& s) { return from_vec(v, s); }
Tensor from_vector(const std::vector<double>& v, const Shape& s) { return from_vec(v, s); }
Tensor from_vector(const std::vector<int64_t>& v, const Shape& s) { return from_vec(v, s); }
Tensor from_vector(const std::vector<bool>& v, const Shape& s) {
  check(static_cast<int64_t>(v.size()) == numel_of(s), "from_vector", v.size(), " values do not fill shape ", s);
  Tensor t = make_empty(s, DType::Bool);
  bool* p = t.data_ptr<bool>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = v[i];
  return t;
}

Tensor from_blob(const void* data, const Shape& shape, DType dt) {
  Tensor t = make_empty(shape, dt);
  if (t.numel() > 0) std::memcpy(t.raw_data(), data, static_cast<size_t>(t.numel()) * dtype_size(dt));
  return t;
}

}  // namespace seqnn
