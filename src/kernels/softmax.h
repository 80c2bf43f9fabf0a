// kernels/softmax.h (internal): softmax and log-softmax over the middle dim of (O,D,I).
//
//   softmax:      y_d = exp(x_d - m) / s,   m = max_d x_d,  s = sum_d exp(x_d - m)
//   log_softmax:  y_d = x_d - m - log(s)
//   backward:     softmax      dx_d = y_d * (g_d - sum_k g_k y_k)
//                 log_softmax  dx_d = g_d - exp(y_d) * sum_k g_k
// I == 1 (softmax over the last, contiguous dim) takes a row fast path; I > 1 works on
// stack-held chunks of columns so the inner loops stay contiguous.
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// x: (O,D,I)  y: (O,D,I)
template <class T>
void softmax_forward(const T* x, T* y, int64_t O, int64_t D, int64_t I, bool log);

// y: (O,D,I) forward output  g: (O,D,I)  dx: (O,D,I)
template <class T>
void softmax_backward(const T* y, const T* g, T* dx, int64_t O, int64_t D, int64_t I, bool log);

namespace ref {
template <class T>
void softmax_forward(const T* x, T* y, int64_t O, int64_t D, int64_t I, bool log);
template <class T>
void softmax_backward(const T* y, const T* g, T* dx, int64_t O, int64_t D, int64_t I, bool log);
}  // namespace ref

}  // namespace seqnn::kernels
