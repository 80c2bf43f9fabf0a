// kernels/ctc.h (internal): the CTC forward-backward recursions (see include/seqnn/ctc.h).
//
// Per sample b: l' = (blank, l_1, blank, ..., l_S, blank), |l'| = 2S+1 (S = tl[b]), y = log_probs.
//   alpha_t(s)  = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), skip(s) alpha_{t-1}(s-2)) + y_t(l'_s)
//   beta'_t(s)  = lse(b_{t+1}(s), b_{t+1}(s+1), skip(s+2) b_{t+1}(s+2)),  b_t(s) = beta'_t(s) + y_t(l'_s)
//                 (beta' excludes frame t's own emission; beta'_{T-1}(s) = 0 for s >= 2S-1)
//   skip(s)     = l'_s != blank and l'_s != l'_{s-2}   (s odd, s >= 3)
//   nll         = -lse(alpha_{T-1}(2S), alpha_{T-1}(2S-1)),  +inf when no path exists
//   dy_t(c)     = -g_b sum_{s: l'_s = c} exp(alpha_t(s) + beta'_t(s) + nll)   (t < input_length)
// alpha and beta are kept in double whatever the input type (log space: no under/overflow;
// -inf inputs give -inf states, never NaN), so float32 losses and gradients are accurate to the
// float32 rounding of the inputs. Using beta' (not Graves' beta that includes y_t) avoids the
// division by y_t(c): frames with y = -inf get exactly 0 gradient, which is the true derivative.
// Infeasible samples (nll = +inf): zero gradient with zero_infinity, else NaN on t < input_length
// (as PyTorch). Frames t >= input_length get 0.
//
// Layout shared by the kernels:
//   lp: (T,B,C)   targets: int64, sample b's labels at targets[tg_off[b] + k], k < tl[b]
//   il, tl, tg_off: (B)   L = 2*Smax+1 with Smax >= every tl[b]
// Lengths and labels are validated by the op (0 <= il <= T, 0 <= tl, labels in [0,C), != blank).
// Batch entries run in parallel (kernels::parallel_for, one sample per task).
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// alpha: (B,T,L) when keep_alpha (the backward needs it), else (B,2,L) scratch (two rows).
// nll: (B) -log p(l_b | x_b).
template <class T>
void ctc_forward(const T* lp, const int64_t* targets, const int64_t* tg_off, const int64_t* il, const int64_t* tl,
                 int64_t Tn, int64_t B, int64_t C, int64_t L, int64_t blank, bool keep_alpha, double* alpha,
                 double* nll);

// Doubles of scratch per sample that ctc_backward needs: two beta rows and a C-sized collector.
inline int64_t ctc_backward_work(int64_t L, int64_t C) { return 2 * L + C; }

// alpha: (B,T,L) from ctc_forward(keep_alpha)  nll: (B)  g: (B) upstream gradient per sample
// work: (B, ctc_backward_work(L,C))  dlp: (T,B,C), fully written.
template <class T>
void ctc_backward(const T* lp, const int64_t* targets, const int64_t* tg_off, const int64_t* il, const int64_t* tl,
                  int64_t Tn, int64_t B, int64_t C, int64_t L, int64_t blank, const double* alpha, const double* nll,
                  const double* g, bool zero_infinity, double* work, T* dlp);

namespace ref {
// Naive reference: linear-space alpha/beta in long double (Graves' equations 6-16 literally,
// beta including y_t, gradient -(1/p) sum alpha beta / y), one sample at a time. Finite inputs only.
// nll: (B)  dlp: (T,B,C) or null (loss only)
template <class T>
void ctc_loss_grad(const T* lp, const int64_t* targets, const int64_t* tg_off, const int64_t* il, const int64_t* tl,
                   int64_t Tn, int64_t B, int64_t C, int64_t blank, const double* g, bool zero_infinity, double* nll,
                   T* dlp);
}  // namespace ref

}  // namespace seqnn::kernels
