// kernels/seq2seq_attention.h (internal): the additive (Bahdanau) score for the encoder-decoder
// models, the contract of kernels/attention_score.h's additive_score_* (whose naive reference
// kernels::ref::additive_score_* it is tested against), built for speed:
//   forward:  per query row (b,i), t[j,a] = tanh(qp[b,i,a] + kp[b,j,a]) for all j at once with the
//             vectorised vtanh (kernels/vecmath.h), S[b,i,j] = sum_a v[a] t[j,a]
//   backward: ONE pass per batch row b recomputes t once per (i,j) and accumulates all three
//             gradients: u = dS v (1 - t^2);  dqp[b,i] += u;  dkp[b,j] += u;  dv += dS t
// (the general kernel recomputes tanh twice in backward, with the scalar libm tanhf).
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// key_len (optional, B entries in [0,Lk]): keys at or past key_len[b] are padding. They are not
// scored (S = 0 there: the models add the lowest finite value to padded scores, which swallows
// any score, so softmax gives them exactly 0 either way) and their ds is taken as 0 (what the
// softmax's exact-zero weights give them): with ragged batches, (Lk - len) / Lk of the tanh work
// is skipped, with results identical to the unmasked call's on every real position.
// qp: (B,Lq,A)  kp: (B,Lk,A)  v: (A)  s: (B,Lq,Lk)
template <class T>
void seq2seq_additive_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk,
                              int64_t A, const int64_t* key_len = nullptr);
// ds: (B,Lq,Lk)  dqp: (B,Lq,A)  dkp: (B,Lk,A)  dv: (A)   (all written, not accumulated)
template <class T>
void seq2seq_additive_backward(const T* qp, const T* kp, const T* v, const T* ds, T* dqp, T* dkp, T* dv, int64_t B,
                               int64_t Lq, int64_t Lk, int64_t A, const int64_t* key_len = nullptr);

}  // namespace seqnn::kernels
