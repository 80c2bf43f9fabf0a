// kernels/reduce.h (internal): reductions over one block of dims, laid out as (O,R,I).
//
// A reduction over a run of adjacent dims of a contiguous tensor sees the data as
// (O,R,I): O = product of the dims before the run, R = product of the reduced dims,
// I = product of the dims after. Non-adjacent dims are reduced one run at a time by the op.
//
//   sum:   y[o,i] = scale * sum_r x[o,r,i]                (accumulated in double)
//   max:   y[o,i] = max_r x[o,r,i], idx[o,i] = first r attaining it; NaN wins (first NaN)
//   expand (sum/mean backward): dx[o,r,i] = scale * g[o,i]
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// x: (O,R,I)  y: (O,I)
template <class T>
void sum_reduce(const T* x, T* y, int64_t O, int64_t R, int64_t I, double scale);

// x: (O,R,I)  values: (O,I)  indices: (O,I); R >= 1
template <class T>
void max_reduce(const T* x, T* values, int64_t* indices, int64_t O, int64_t R, int64_t I);

// max backward: dx[o, idx[o,i], i] = g[o,i], zero elsewhere.  g, idx: (O,I)  dx: (O,R,I)
template <class T>
void max_reduce_backward(const T* g, const int64_t* idx, T* dx, int64_t O, int64_t R, int64_t I);

// Over all n elements: the maximum (NaN if any element is NaN); n >= 1.
template <class T>
T max_all(const T* x, int64_t n);

// max_all backward (PyTorch's evenly_distribute_backward): the gradient g is split evenly
// over the elements equal to m (over the NaNs when m is NaN).  x: (n)  dx: (n)
template <class T>
void max_all_backward(const T* x, T m, T g, T* dx, int64_t n);

// g: strides gstr over the nd dims of `shape` (0 where reduced)  dx: shape, contiguous
template <class T>
void expand_scaled(const T* g, const int64_t* gstr, const int64_t* shape, int64_t nd, double scale, T* dx);

namespace ref {
template <class T>
void sum_reduce(const T* x, T* y, int64_t O, int64_t R, int64_t I, double scale);
template <class T>
void max_reduce(const T* x, T* values, int64_t* indices, int64_t O, int64_t R, int64_t I);
}  // namespace ref

}  // namespace seqnn::kernels
