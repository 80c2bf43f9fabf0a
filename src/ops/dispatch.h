// ops/dispatch.h (internal): run a templated lambda for a tensor's dtype.
//
//   dispatch_float(x.dtype(), "tanh", [&]<class T>() { kernels::tanh_forward<T>(...); });
//
// dispatch_float accepts F32/F64 and throws Error("op: expected a floating tensor, got int64")
// otherwise; dispatch_all also accepts I64 and Bool.
#pragma once

#include "seqnn/tensor.h"

namespace seqnn {

template <class F>
decltype(auto) dispatch_float(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::F32: return f.template operator()<float>();
    case DType::F64: return f.template operator()<double>();
    default: fail(op, "expected a floating tensor (float32/float64), got ", dtype_name(dt));
  }
}

template <class F>
decltype(auto) dispatch_all(DType dt, const char* op, F&& f) {
  switch (dt) {
    case DType::F32: return f.template operator()<float>();
    case DType::F64: return f.template operator()<double>();
    case DType::I64: return f.template operator()<int64_t>();
    case DType::Bool: return f.template operator()<bool>();
  }
  fail(op, "unknown dtype");
}

// Checks that every defined tensor in xs has dtype dt.
inline void check_same_dtype(const char* op, std::initializer_list<const Tensor*> xs) {
  const Tensor* first = nullptr;
  for (const Tensor* t : xs) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    check(t->dtype() == first->dtype(), op, "dtype mismatch: ", dtype_name(first->dtype()), " vs ",
          dtype_name(t->dtype()));
  }
}

}  // namespace seqnn
