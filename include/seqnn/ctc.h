// seqnn/ctc.h: connectionist temporal classification (Graves et al. 2006): the loss with
// PyTorch 1.13's contract (torch.nn.functional.ctc_loss), greedy (best path) decoding and
// prefix beam search.
//
// Notation. log_probs y_t(c) = log p(c | frame t), t < T, c < C (usually log_softmax over C).
// A target l = (l_1..l_S) is extended with blanks to l' = (blank, l_1, blank, l_2, ..., l_S,
// blank), |l'| = 2S+1. An alignment is a path pi over labels per frame; collapsing it (merge
// repeats, then drop blanks) gives a labelling. p(l | x) = sum over paths that collapse to l of
// prod_t exp(y_t(pi_t)), computed by the forward (alpha) / backward (beta) recursions in log space:
//   alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [l'_s != blank, l'_s != l'_{s-2}] alpha_{t-1}(s-2))
//                + y_t(l'_s),                      alpha_0(0) = y_0(blank), alpha_0(1) = y_0(l_1)
//   loss = -log p(l | x) = -lse(alpha_{T-1}(2S), alpha_{T-1}(2S-1))
// (a repeated label "aa" therefore needs a blank between its two a's: T >= S + #repeats).
//
// Contract (PyTorch 1.13):
//   log_probs (T,B,C) float32/float64, or unbatched (T,C);
//   targets   (B,S) padded (row b's first target_lengths[b] entries are used, the rest is
//             ignored, any value), or 1-D concatenated (sum of target_lengths, sample b's labels
//             follow sample b-1's); (S) for unbatched; int64; labels in [0,C) and != blank;
//   input_lengths, target_lengths: (B) int64 (a scalar or (1) for unbatched); 0 <= input_length
//             <= T; target_length >= 0 (<= S in the padded layout);
//   result: None -> (B) per-sample losses (a scalar unbatched), Sum -> their sum, Mean -> the
//             batch mean of loss_b / max(target_length_b, 1).
//   An infeasible sample (input too short for its target, or only through probability-0 frames)
//   has loss +inf; with zero_infinity its loss is 0 and its gradient 0. Without zero_infinity its
//   gradient is NaN on its frames t < input_length (PyTorch gives the same: d(+inf) is undefined;
//   the +inf loss is the signal - use zero_infinity). Frames t >= input_length (padding) always get
//   zero gradient and never influence the loss.
//   input_length 0: loss 0 when target_length is 0, else +inf (PyTorch 2.x; 1.13 reads outside
//   its alpha there and returns garbage, e.g. -0.69 - the one place seqnn does not follow 1.13).
//
// Gradient w.r.t. log_probs: seqnn returns the TRUE derivative of the loss,
//   dloss_b / dy_t(c) = -gamma_t(c),  gamma_t(c) = sum_{s: l'_s = c} alpha_t(s) beta_t(s) / (y_t(c) p)
// (the posterior probability that frame t emits c), so finite differences w.r.t. log_probs agree.
// PyTorch's CPU kernel (aten/src/ATen/native/LossCTC.cpp, ctc_loss_backward_cpu_template:
// `res = (exp(lp) - exp(res + nll - lp)) * gr`) returns exp(y_t(c)) - gamma_t(c) instead: the
// gradient w.r.t. the LOGITS, assuming log_probs = log_softmax(logits). The two give the same
// gradient w.r.t. logits after log_softmax's backward (sum_c gamma_t(c) = 1, so the extra
// exp(y) term is exactly what log_softmax's backward removes), which is how CTC is used and
// what the parity test compares; the raw difference is
//   seqnn_grad + exp(log_probs) * g_b == torch's log_probs.grad   (t < input_length_b)
// with g_b the upstream gradient of sample b (documented by a parity test too).
//
// Decoding (no autograd; log_probs (T,B,C), input_lengths (B)):
//   ctc_greedy_decode: best path - argmax per frame (first maximum on ties), merge repeats,
//     drop blanks.
//   ctc_prefix_beam_search (Graves 2012, Hannun et al. 2014): per frame keep beam_size prefixes
//     with (log p_blank, log p_nonblank) - the probability of the prefix over the frames so far
//     ending in a blank / in its last label. Extending a prefix by its own last label counts only
//     through p_blank (else the repeat merges). Returns up to num_return hypotheses per batch
//     entry, best first, each with log p of its labelling summed over the alignments the beam
//     kept (the exact log p(l | x) when the beam never dropped a prefix). Pruning: at each frame
//     only labels (blank included) with log-prob >= prune_log_prob are extended, plus always
//     the frame's best label.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "seqnn/ops.h"

namespace seqnn {

// libtorch-style options for ctc_loss.
class CTCLossOptions {
 public:
  CTCLossOptions& blank(int64_t v) { blank_ = v; return *this; }
  CTCLossOptions& reduction(Reduction v) { reduction_ = v; return *this; }
  CTCLossOptions& zero_infinity(bool v) { zero_infinity_ = v; return *this; }
  int64_t blank() const { return blank_; }
  Reduction reduction() const { return reduction_; }
  bool zero_infinity() const { return zero_infinity_; }

 private:
  int64_t blank_ = 0;
  Reduction reduction_ = Reduction::Mean;
  bool zero_infinity_ = false;
};

// log_probs: (T,B,C) or (T,C); targets: (B,S), (sum target_lengths) or (S); lengths: (B) int64.
Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, const CTCLossOptions& options = {});
Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const std::vector<int64_t>& input_lengths,
                const std::vector<int64_t>& target_lengths, const CTCLossOptions& options = {});

// log_probs: (T,B,C); input_lengths: (B) int64. One label sequence per batch entry.
std::vector<std::vector<int64_t>> ctc_greedy_decode(const Tensor& log_probs, const Tensor& input_lengths,
                                                    int64_t blank = 0);

struct CTCHypothesis {
  std::vector<int64_t> tokens;
  double log_prob;  // log P(labelling) summed over its alignments (as kept by the beam)
};

// log_probs: (T,B,C); input_lengths: (B) int64. Up to num_return hypotheses per entry, best first.
std::vector<std::vector<CTCHypothesis>> ctc_prefix_beam_search(const Tensor& log_probs, const Tensor& input_lengths,
                                                               int64_t beam_size, int64_t blank = 0,
                                                               int64_t num_return = 1,
                                                               double prune_log_prob = -INFINITY);

}  // namespace seqnn
