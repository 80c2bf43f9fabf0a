// src/models/seq2seq_impl.h: what the seq2seq model files share (internal): the two
// architectures' factories, the forward() argument checks and the padding bias of the source.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "seqnn/models/seq2seq.h"
#include "seqnn/ops.h"

namespace seqnn::models::detail {

// The encoder config with every registry default filled in (an empty / null config becomes a
// unidirectional gru encoder of the decoder's hidden size without self-attention).
nlohmann::json filled_encoder_config(const Seq2SeqConfig& cfg);

// Output width of the registry's built-in encoder types for this config, -1 when unknown.
int64_t known_encoder_output_size(const Seq2SeqConfig& cfg);

std::shared_ptr<Seq2SeqModel> make_rnn_seq2seq(const Seq2SeqConfig& cfg, Generator* gen);
std::shared_ptr<Seq2SeqModel> make_transformer_seq2seq(const Seq2SeqConfig& cfg, Generator* gen);

// Checks forward()/decoder() arguments against the config (Errors name `op` and give expected
// vs actual). src: (B,S) I64 ids in [0,source_vocab) | (B,S,F) | (B,F) of dtype `dt`;
// src_lengths (B) I64 in [1,S] (not read for "vector"); returns the lengths (empty for vector).
std::vector<int64_t> check_source(const Seq2SeqConfig& cfg, const Tensor& src, const Tensor& src_lengths, DType dt,
                                  const char* op);
// tgt (B,T) I64, T >= 1, ids in [0,target_vocab).
void check_target(const Seq2SeqConfig& cfg, const Tensor& tgt, int64_t B, const char* op);
// tokens (R) I64 in [0,V) for StepDecoder::step.
void check_step_tokens(const Tensor& tokens, int64_t rows, int64_t V, const char* op);
// index (R') I64 in [0,rows) for StepDecoder::reorder.
void check_reorder_index(const Tensor& index, int64_t rows, const char* op);

// (B,1,S) of dtype dt: 0 before each length, the lowest finite value after it. Added to the
// scores before the softmax, it gives padded keys a weight of exactly 0 (and no gradient)
// without the NaN a -inf would risk.
Tensor key_padding_bias(const std::vector<int64_t>& lengths, int64_t S, DType dt);

// The additive score S_ij = sum_a v_a tanh(qp_ia + kp_ja) (nn::additive_score's contract) on the
// vectorised-tanh kernel of kernels/seq2seq_attention.h; qp (B,Lq,A), kp (B,Lk,A), v (A).
// Differentiable in all three (src/ops/seq2seq_attention.cpp). key_lengths (empty, or B
// entries): keys at or past key_lengths[b] are padding, not scored (S = 0 there) and given no
// gradient; only for callers that mask those positions out of the softmax with
// key_padding_bias, where the result is then identical to the unmasked call's.
Tensor additive_score_fast(const Tensor& qp, const Tensor& kp, const Tensor& v,
                           const std::vector<int64_t>& key_lengths = {});

// Decoding over a source map (the StepDecoder's rows: beams of sources, reordered each step):
// row r reads the memory of source src[r] in place, where gathering the memory per row would
// copy it once per beam and make every step read beam-times more of it. Inference only: an
// Error if autograd would need a gradient (src/ops/seq2seq_attention.cpp).
//   additive_score_rows  qp (R,A), kp (Bs,S,A), v (A), src (R), lengths (R) -> S (R,S),
//                        S_rj = v . tanh(qp_r + kp[src_r]_j) for j < lengths[r], 0 after
//   bmm_rows             a (R,K), b (Bs,K,N), src (R) -> (R,N), row r = a_r @ b[src_r]
Tensor additive_score_rows(const Tensor& qp, const Tensor& kp, const Tensor& v, const std::vector<int64_t>& src,
                           const std::vector<int64_t>& lengths);
Tensor bmm_rows(const Tensor& a, const Tensor& b, const std::vector<int64_t>& src);

}  // namespace seqnn::models::detail
