// kernels/elementwise.h (internal): pointwise kernels on raw pointers.
//
// Broadcasting operands are described by a Broadcast layout: the output is contiguous with
// `shape`, and operand k's element for output multi-index i is read at
//   sum_d i[d] * stride[k][d]          (stride 0 on a broadcast dim)
// The fast kernels coalesce the layout (drop size-1 dims, merge dims that are contiguous for
// every operand) and then run one of: a flat loop (same shape, or one side a single element),
// rows of a 2-d layout (row/column broadcast, e.g. (N,D) + (D)), or a general strided walk.
// ref:: holds naive versions (one index computation per element) the fast ones are tested
// against.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>

#include "seqnn/error.h"

namespace seqnn::kernels {

inline constexpr int kMaxDims = 32;

struct Broadcast {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[3][kMaxDims] = {};  // operands 0..2 (unused operands stay 0)
  int64_t numel() const;
};

// The layout of up to three contiguous operands of the given shapes, each broadcastable to
// `out` (checked by the caller, as is out.size() <= kMaxDims).
Broadcast make_broadcast(const Shape& out, std::initializer_list<const Shape*> operands);

// ==================================================================== binary (broadcasting)

enum class BinaryOp { Add, Sub, Mul, Div, Pow };

// out = a op b.   a: operand 0 of L   b: operand 1 of L   out: L.shape (contiguous)
template <class T>
void binary(BinaryOp op, const Broadcast& L, const T* a, const T* b, T* out);

enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge };

// out = (a cmp b).  T: float, double, int64_t, bool.
template <class T>
void compare(CompareOp op, const Broadcast& L, const T* a, const T* b, bool* out);

// out = cond ? a : b.   cond: operand 0  a: operand 1  b: operand 2.  T: all four dtypes.
template <class T>
void where(const Broadcast& L, const bool* cond, const T* a, const T* b, T* out);

// Tensor-exponent pow backward over n contiguous (already broadcast) elements, y = x^e:
//   dx = e == 0 ? 0 : dy * e * x^(e-1)
//   de = (x == 0 && e >= 0) ? 0 : dy * y * log(x)
// dx or de may be null (not wanted).   dy, x, e, y, dx, de: (n)
template <class T>
void pow_backward(int64_t n, const T* dy, const T* x, const T* e, const T* y, T* dx, T* de);

// ==================================================================== unary (contiguous)

enum class UnaryOp { Neg, Exp, Log, Sqrt, Abs, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Elu, Pow, Clamp };

struct UnaryParams {
  double alpha = 1.0;     // Elu
  double exponent = 1.0;  // Pow
  double lo = -std::numeric_limits<double>::infinity();  // Clamp
  double hi = std::numeric_limits<double>::infinity();
};

// y = f(x).   x, y: (n)
template <class T>
void unary_forward(UnaryOp op, const UnaryParams& p, int64_t n, const T* x, T* y);

// True when the backward of op reads the output y (exp, sqrt, tanh, sigmoid); otherwise it
// reads the input x (neg reads neither).
bool unary_backward_uses_output(UnaryOp op);

// dx = dy * f'(x).  Reads x or y as unary_backward_uses_output says (the other may be null).
// dy, x, y, dx: (n)
template <class T>
void unary_backward(UnaryOp op, const UnaryParams& p, int64_t n, const T* dy, const T* x, const T* y, T* dx);

namespace ref {
template <class T>
void binary(BinaryOp op, const Broadcast& L, const T* a, const T* b, T* out);
template <class T>
void compare(CompareOp op, const Broadcast& L, const T* a, const T* b, bool* out);
template <class T>
void where(const Broadcast& L, const bool* cond, const T* a, const T* b, T* out);
template <class T>
void pow_backward(int64_t n, const T* dy, const T* x, const T* e, const T* y, T* dx, T* de);
template <class T>
void unary_forward(UnaryOp op, const UnaryParams& p, int64_t n, const T* x, T* y);
template <class T>
void unary_backward(UnaryOp op, const UnaryParams& p, int64_t n, const T* dy, const T* x, const T* y, T* dx);
}  // namespace ref

}  // namespace seqnn::kernels
