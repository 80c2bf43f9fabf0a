// kernels/attention_score.h (internal): the additive (Bahdanau) score and the rotary rotation
// on raw pointers, without the (B,Lq,Lk,A) broadcast tensor.
//
//   additive forward:  S[b,i,j] = sum_a v[a] tanh(qp[b,i,a] + kp[b,j,a])
//   additive backward: u = dS[b,i,j] v[a] (1 - t^2), t = tanh(qp[b,i,a] + kp[b,j,a])
//                      dqp[b,i,a] = sum_j u     dkp[b,j,a] = sum_i u     dv[a] = sum_{b,i,j} dS t
//   rotary:            y[2m] = x[2m] c - x[2m+1] s,  y[2m+1] = x[2m] s + x[2m+1] c
//                      (c, s) = cos/sin(pos * theta_m); sign = -1 rotates backwards (the gradient)
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// qp: (B,Lq,A)  kp: (B,Lk,A)  v: (A)  s: (B,Lq,Lk)
template <class T>
void additive_score_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk, int64_t A);
// ds: (B,Lq,Lk)  dqp: (B,Lq,A)  dkp: (B,Lk,A)  dv: (A)   (all written, not accumulated)
template <class T>
void additive_score_backward(const T* qp, const T* kp, const T* v, const T* ds, T* dqp, T* dkp, T* dv, int64_t B,
                             int64_t Lq, int64_t Lk, int64_t A);
// x, y: (R,L,D)  cs, sn: (L,D/2) cos/sin of the angles; sign +1 forward, -1 inverse rotation
template <class T>
void rotary_apply(const T* x, T* y, const double* cs, const double* sn, int64_t R, int64_t L, int64_t D, int sign);

namespace ref {
template <class T>
void additive_score_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk, int64_t A);
template <class T>
void additive_score_backward(const T* qp, const T* kp, const T* v, const T* ds, T* dqp, T* dkp, T* dv, int64_t B,
                             int64_t Lq, int64_t Lk, int64_t A);
}  // namespace ref

}  // namespace seqnn::kernels
