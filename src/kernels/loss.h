// kernels/loss.h (internal): fused cross-entropy (log-softmax + NLL), nll, mse, BCE-with-logits.
//
// Layout: input (N,C,K) with the class dim in the middle (K = d1*...*dk, 1 for (N,C)); a row
// r = (n,k) is the C logits x[n,:,k]. lse_r = log sum_c exp(x_c) (max-subtracted).
// Cross entropy as one weighted target distribution q per row:
//   index target t:  q_c = (1-ls) w_t [c==t] + (ls/C) w_c      (q = 0 when t == ignore_index)
//   prob target t_c: q_c = w_c (t_c (1-ls) + ls/C)
//   loss_r = sum_c q_c (lse_r - x_c);   dloss_r/dx_c = p_c Q_r - q_c  (p = softmax, Q = sum_c q_c)
//   prob target:     dloss_r/dt_c = w_c (1-ls) (lse_r - x_c)
// (w_c = 1 without class weights.) Per-row upstream gradients come as grow[r * grow_stride]
// (stride 0: one scalar for the mean/sum reductions).
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// x: (N,C,K)  target: (N,K)  weight: (C) or null  lse, loss, row_w: (N,K)
// row_w = w_t for counted rows, 0 for ignored rows (the mean's denominator sums it).
template <class T>
void ce_index_forward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                      int64_t ignore_index, double ls, T* lse, T* loss, T* row_w);

// x: (N,C,K)  target: (N,K)  lse: (N,K)  grow: (N,K) or scalar  dx: (N,C,K); ignored rows get 0
template <class T>
void ce_index_backward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                       int64_t ignore_index, double ls, const T* lse, const T* grow, int64_t grow_stride, T* dx);

// x, target: (N,C,K)  weight: (C) or null  lse, loss: (N,K)
template <class T>
void ce_prob_forward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls,
                     T* lse, T* loss);

// dx: (N,C,K) or null  dtarget: (N,C,K) or null
template <class T>
void ce_prob_backward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls,
                      const T* lse, const T* grow, int64_t grow_stride, T* dx, T* dtarget);

// nll: loss_r = -w_t x[n,t,k], 0 when ignored.  x: (N,C,K)  target, loss, row_w: (N,K)
template <class T>
void nll_forward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                 int64_t ignore_index, T* loss, T* row_w);
// dx[n,t,k] = -w_t grow_r, zero elsewhere.  dx: (N,C,K)
template <class T>
void nll_backward(const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K, int64_t ignore_index,
                  const T* grow, int64_t grow_stride, T* dx);

// mse: loss_i = (x_i - t_i)^2;  dx_i = 2 (x_i - t_i) grow_i, dt_i = -dx_i.  all (n)
template <class T>
void mse_forward(const T* x, const T* t, T* loss, int64_t n);
template <class T>
void mse_backward(const T* x, const T* t, const T* grow, int64_t grow_stride, T* dx, T* dt, int64_t n);

// BCE with logits over rows of L (pos_weight pw: (L) or null), stable form:
//   lw = 1 + (pw - 1) t,  loss = (1 - t) x + lw (log(1 + exp(-|x|)) + max(-x, 0))
//   dx = grow (lw sigmoid(x) - pw t),  dt = grow (-x + (pw - 1) softplus(-x))   (pw = 1 when null)
// x, t, loss: (n) with n a multiple of L
template <class T>
void bce_logits_forward(const T* x, const T* t, const T* pw, int64_t n, int64_t L, T* loss);
template <class T>
void bce_logits_backward(const T* x, const T* t, const T* pw, int64_t n, int64_t L, const T* grow,
                         int64_t grow_stride, T* dx, T* dt);

namespace ref {
template <class T>
void ce_index_forward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                      int64_t ignore_index, double ls, T* lse, T* loss, T* row_w);
template <class T>
void ce_index_backward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                       int64_t ignore_index, double ls, const T* lse, const T* grow, int64_t grow_stride, T* dx);
template <class T>
void ce_prob_forward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls,
                     T* lse, T* loss);
template <class T>
void ce_prob_backward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls,
                      const T* lse, const T* grow, int64_t grow_stride, T* dx, T* dtarget);
template <class T>
void bce_logits_forward(const T* x, const T* t, const T* pw, int64_t n, int64_t L, T* loss);
}  // namespace ref

}  // namespace seqnn::kernels
