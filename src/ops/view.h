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


}  // namespace seqnn
