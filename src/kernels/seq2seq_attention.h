// kernels/seq2seq_attention.h (internal): the additive (Bahdanau) score for the encoder-decoder
// models, the contract of kernels/attention_score.h's additive_score_* (whose naive reference
// kernels::ref::additive_score_* it is tested against), built for speed:
//   forward:  float: groups of up to 4 query rows sharing their keys walk the keys once, adding,
//             taking vm::tanh (kernels/vecmath.h) and reducing with v in registers:
//             S[b,i,j] = sum_a v[a] tanh(qp[b,i,a] + kp[b,j,a]); double: per row, the tanh of
//             the (Lk,A) block with std::tanh, then the dots
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
// qp: (B,Lq,A)  kp: (B,Lk,A), or (Bk,Lk,A) with key_row  v: (A)  s: (B,Lq,Lk)
// key_row (optional, B entries in [0,Bk)): batch row b of qp scores the keys kp[key_row[b]]
// (decoding: the beams of one source share its keys, which are then neither copied per beam
// nor read from memory once per beam). key_len stays per row of qp.
template <class T>
void seq2seq_additive_forward(const T* qp, const T* kp, const T* v, T* s, int64_t B, int64_t Lq, int64_t Lk,
                              int64_t A, const int64_t* key_len = nullptr, const int64_t* key_row = nullptr);
// ds: (B,Lq,Lk)  dqp: (B,Lq,A)  dkp: (B,Lk,A)  dv: (A)   (all written, not accumulated)
template <class T>
void seq2seq_additive_backward(const T* qp, const T* kp, const T* v, const T* ds, T* dqp, T* dkp, T* dv, int64_t B,
                               int64_t Lq, int64_t Lk, int64_t A, const int64_t* key_len = nullptr);

}  // namespace seqnn::kernels
