// ops/view.h (internal): build a view that shares a tensor's storage.
//
// A view differs from its base only in (offset, shape, strides); it carries no autograd state,
// so the op that makes it records its own backward node.
#pragma once

#include <memory>

#include "seqnn/tensor.h"

namespace seqnn {

inline Tensor make_view(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->offset = offset;
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = x.dtype();
  return Tensor(impl);
}

// zeros() that also takes shapes with no elements: in the core skeleton Tensor::is_contiguous
// reports e.g. a fresh (2,0) tensor as non-contiguous, so fill_ (and zeros) throw on it.
// TODO(lead): drop once is_contiguous returns true for numel() == 0.
inline Tensor zeros_any(const Shape& shape, DType dt) {
  return numel_of(shape) == 0 ? empty(shape, dt) : zeros(shape, dt);
}

}  // namespace seqnn
