// seqnn/models/decoding.h: turning a conditional next-token model into output sequences (the
// notes' third output type: the model decides how many labels).
//
// A search drives a StepDecoder, which holds one decoder state per ROW. A decoder for a batch of
// B sources starts with B rows (row b = source b, nothing generated yet). Per step:
//   logp = dec.step(tokens)     tokens (R) I64: the last token of each row (BOS at the start)
//                               -> (R,V) log-probabilities of the next token (F32 or F64)
//   dec.reorder(index)          index (R') I64 into the current rows: row r' continues row
//                               index[r'] (copies its state). Beam search steps the B fresh rows
//                               once, then reorders to the surviving beams (an index like
//                               [0,0,..,1,1,..]: up to beam_size rows per source) and from then
//                               on to each step's survivors; a finished row (or a source that is
//                               done) is dropped by leaving it out of the index, so rows shrink.
// Searches (all deterministic given DecodeOptions::seed; none records gradients):
//   greedy      argmax each step (ties: the lowest id), until EOS or max_length
//   beam        beam_size hypotheses per source; each step every live beam proposes its
//               beam_size best continuations, the best beam_size of the beam_size^2 survive; a
//               continuation ending in EOS becomes a finished hypothesis. Final score
//               = sum of log-probs / length^length_penalty (length counts the EOS; alpha = 0:
//               raw sum). A source is done when it holds beam_size finished hypotheses and no
//               live beam can still beat the worst of them (for alpha >= 0, a live beam's best
//               reachable normalised score is bounded using max_length), or at max_length, when
//               live beams are finished as they stand. beam_size 1 is exactly greedy. The batched
//               search gives each source exactly what a search over that source alone gives.
//   sample      ancestral sampling from softmax(logits / temperature), optionally restricted to
//               the top_k tokens; a counter-based generator seeded by DecodeOptions::seed so a
//               source's sample does not depend on the other sources in the batch (see
//               first_source). Its log_prob is the model's own (untempered, unrestricted) log-prob.
// Returned tokens exclude BOS and EOS. A hypothesis's log_prob is the sum of the log-probs of its
// tokens including EOS when it ended with one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqnn/tensor.h"

namespace seqnn::models {

class StepDecoder {
 public:
  virtual ~StepDecoder() = default;
  // Rows currently held.
  virtual int64_t rows() const = 0;
  virtual int64_t vocab_size() const = 0;
  // tokens (rows()) I64 -> (rows(), V) log-probabilities of the next token.
  virtual Tensor step(const Tensor& tokens) = 0;
  // index (R') I64, each in [0, rows()): the new rows (duplicates allowed, R' may be 0).
  virtual void reorder(const Tensor& index) = 0;
  // Attention of the last step over the source positions, (rows(), S) with S the padded source
  // length (zeros past each source's length); undefined Tensor when the model has none.
  virtual Tensor last_attention() const { return Tensor(); }
  // Source length of each row (rows()) - used for max_length_ratio; empty when unknown.
  virtual std::vector<int64_t> source_lengths() const { return {}; }
};

class DecodeOptions {
 public:
  DecodeOptions(int64_t bos, int64_t eos) : bos_(bos), eos_(eos) {}
  DecodeOptions& bos(int64_t v) { bos_ = v; return *this; }
  DecodeOptions& eos(int64_t v) { eos_ = v; return *this; }
  // At most this many generated tokens (EOS included); with max_length_ratio > 0 the limit for a
  // source of length S is min(max_length, ceil(max_length_ratio * S) + max_length_offset).
  DecodeOptions& max_length(int64_t v) { max_length_ = v; return *this; }
  DecodeOptions& max_length_ratio(double v) { max_length_ratio_ = v; return *this; }
  DecodeOptions& max_length_offset(int64_t v) { max_length_offset_ = v; return *this; }
  DecodeOptions& beam_size(int64_t v) { beam_size_ = v; return *this; }
  DecodeOptions& num_return(int64_t v) { num_return_ = v; return *this; }  // <= beam_size (beam)
  DecodeOptions& length_penalty(double v) { length_penalty_ = v; return *this; }
  DecodeOptions& temperature(double v) { temperature_ = v; return *this; }  // sample
  DecodeOptions& top_k(int64_t v) { top_k_ = v; return *this; }             // sample; 0 = all
  DecodeOptions& seed(uint64_t v) { seed_ = v; return *this; }
  // sample: the index of row 0's source in a larger collection. Source b draws from the counter
  // (seed, first_source + b, step), so a corpus sampled in batches equals it sampled at once.
  DecodeOptions& first_source(int64_t v) { first_source_ = v; return *this; }
  DecodeOptions& return_attention(bool v) { return_attention_ = v; return *this; }
  int64_t bos() const { return bos_; }
  int64_t eos() const { return eos_; }
  int64_t max_length() const { return max_length_; }
  double max_length_ratio() const { return max_length_ratio_; }
  int64_t max_length_offset() const { return max_length_offset_; }
  int64_t beam_size() const { return beam_size_; }
  int64_t num_return() const { return num_return_; }
  double length_penalty() const { return length_penalty_; }
  double temperature() const { return temperature_; }
  int64_t top_k() const { return top_k_; }
  uint64_t seed() const { return seed_; }
  int64_t first_source() const { return first_source_; }
  bool return_attention() const { return return_attention_; }

 private:
  int64_t bos_, eos_;
  int64_t max_length_ = 128;
  double max_length_ratio_ = 0.0;
  int64_t max_length_offset_ = 10;
  int64_t beam_size_ = 4;
  int64_t num_return_ = 1;
  double length_penalty_ = 1.0;
  double temperature_ = 1.0;
  int64_t top_k_ = 0;
  uint64_t seed_ = 0;
  int64_t first_source_ = 0;
  bool return_attention_ = false;
};

struct Hypothesis {
  std::vector<int64_t> tokens;  // without BOS / EOS
  double log_prob = 0.0;        // sum of token log-probs (EOS included when finished)
  double score = 0.0;           // log_prob / length^length_penalty (beam); log_prob otherwise
  bool finished = false;        // ended with EOS (false: cut at max_length)
  Tensor attention;             // (tokens.size() + finished, S) F32 when return_attention
};

// Each returns one entry per source (decoder.rows() at the call, which must hold fresh rows);
// beam_search returns num_return hypotheses per source, best first (fewer only when fewer
// distinct sequences exist within max_length, e.g. V=2 and max_length 1). Bad options
// (beam_size < 1, num_return > beam_size, temperature <= 0, max_length < 1, token ids outside
// [0,V), max_length_ratio > 0 without source_lengths()) are Errors naming the search, and so are
// bad decoder outputs (step() not (rows, V) F32/F64, NaN or +inf log-probs, reorder() leaving the
// wrong number of rows, last_attention() not (rows, S) when return_attention is on). The
// per-source limit is clamped to at least 1. Log-probs are assumed <= 0 (normalised), which the
// beam's early stop relies on.
std::vector<Hypothesis> greedy_decode(StepDecoder& decoder, const DecodeOptions& options);
std::vector<std::vector<Hypothesis>> beam_search(StepDecoder& decoder, const DecodeOptions& options);
std::vector<Hypothesis> sample_decode(StepDecoder& decoder, const DecodeOptions& options);

}  // namespace seqnn::models
