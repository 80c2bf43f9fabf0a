// seqnn/tensor.h: a strided n-d array with an autograd hook.
//
// A Tensor is a cheap handle (shared_ptr) to a TensorImpl: a Storage buffer, an element
// offset, a shape and strides (in elements). Copying a Tensor shares the data, as in PyTorch.
// Views (reshape of a contiguous tensor, transpose, permute, slice, select, expand) share the
// storage; kernels work on contiguous data, so ops call contiguous() on their inputs (free when
// the input already is).
//
// dtypes: F32 and F64 for values (F64 is what gradient checks use), I64 for indices (token ids,
// class targets), Bool for masks (stored one byte per element).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqnn/error.h"

namespace seqnn {

enum class DType : uint8_t { F32, F64, I64, Bool };

size_t dtype_size(DType dt);
const char* dtype_name(DType dt);  // "float32", "float64", "int64", "bool"
bool is_floating(DType dt);

// C++ type <-> DType.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::I64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };

// A 64-byte aligned buffer.
struct Storage {
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  size_t nbytes = 0;
};

struct Node;  // autograd.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;  // in elements
  DType dtype = DType::F32;
  // autograd
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  int output_nr = 0;              // which output of grad_fn this tensor is
  std::shared_ptr<TensorImpl> grad;
};

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (like torch::Tensor())
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  // ------------------------------------------------------------ metadata
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }

  // ------------------------------------------------------------ data
  // Pointer to the first element (storage + offset). T must match dtype (checked).
  template <class T> T* data_ptr() const;
  void* raw_data() const;  // untyped first element
  // The single value of a one-element tensor, converted to double.
  double item() const;
  template <class T> T item() const { return static_cast<T>(item()); }
  // A contiguous copy of the elements, converted to T.
  template <class T> std::vector<T> to_vector() const;

  // Same data, contiguous layout (returns *this when already contiguous). Autograd-aware.
  Tensor contiguous() const;
  // A fresh contiguous copy. Autograd-aware.
  Tensor clone() const;
  // Converted to another dtype (copy; autograd-aware between F32 and F64).
  Tensor to(DType dt) const;
  // Fills in place (no autograd).
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // Copies src's values (broadcast-free, same numel) into this tensor in place (no autograd).
  Tensor& copy_(const Tensor& src);

  // ------------------------------------------------------------ autograd
  bool requires_grad() const;
  // Marks a leaf as a parameter/input whose gradient is wanted (floating dtypes only).
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  // The accumulated gradient (undefined until a backward reaches this leaf).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  // Sets the gradient to zero in place (keeps its buffer) or drops it (set_to_none).
  void zero_grad(bool set_to_none = false) const;
  // Reverse-mode pass from this tensor. Without grad_output it must hold one element (a loss).
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;
  // Same data, cut from the graph.
  Tensor detach() const;

  // ------------------------------------------------------------ common ops as methods
  // (thin forwards to the free functions in seqnn/ops.h, for PyTorch-style code)
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor squeeze(int64_t d) const;
  Tensor sum() const;
  Tensor mean() const;

  // "tensor([[1, 2], [3, 4]], dtype=float32, shape=(2,2))": at most `max_elems` values.
  std::string str(int64_t max_elems = 64) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// t's shape, or an empty Shape (printed "()") when t is undefined: for error messages. A
// reference, so a check that passes copies nothing.
const Shape& shape_or_none(const Tensor& t);

// ------------------------------------------------------------ factories
Tensor empty(const Shape& shape, DType dt = DType::F32);
Tensor zeros(const Shape& shape, DType dt = DType::F32);
Tensor ones(const Shape& shape, DType dt = DType::F32);
Tensor full(const Shape& shape, double value, DType dt = DType::F32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);
Tensor scalar_tensor(double value, DType dt = DType::F32);
// 0, 1, ..., n-1
Tensor arange(int64_t n, DType dt = DType::I64);
// From values in row-major order; values.size() must equal the shape's element count.
Tensor from_vector(const std::vector<float>& values, const Shape& shape);
Tensor from_vector(const std::vector<double>& values, const Shape& shape);
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape);
Tensor from_vector(const std::vector<bool>& values, const Shape& shape);
// Wraps a copy of `n` elements of type dt read from raw memory.
Tensor from_blob(const void* data, const Shape& shape, DType dt);

// Canonical dimension index: -1 -> ndim-1; throws Error("op: dim ... out of range ...").
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace seqnn
