// seqnn/data/batch.h: padded batches with per-sequence lengths, and a length-bucketing batcher.
//
// A Batch is batch-first:
//   ids      (B,T) I64, Vocab::kPad past each length       (token input)
//   features (B,T,F) F32, 0 past each length               (vector input)
//   lengths  (B) I64, each in [1,T]
//   labels   (B,T) I64 with kIgnore past each length (tagging), or (B) I64 (classification)
// Padded positions carry kIgnore labels (cross_entropy's ignore_index) and the models mask them
// out of every computation, so what a pad holds never reaches a loss or a metric.
//
// The Batcher groups sequences of similar length: an epoch's order is a seeded shuffle of all
// examples, cut into pools of `bucket_batches` batches, each pool sorted by length and cut into
// batches, and the batches shuffled again. The order is a pure function of (seed, epoch), so a
// resumed run recomputes it instead of saving it.
#pragma once

#include <cstdint>
#include <vector>

#include "seqnn/data/dataset.h"
#include "seqnn/data/vocab.h"
#include "seqnn/tensor.h"

namespace seqnn::data {

constexpr int64_t kIgnore = -100;  // cross_entropy's default ignore_index

// An example as numbers.
struct Encoded {
  std::vector<int64_t> ids;        // token input
  std::vector<float> features;     // vector input, length * feature_dim
  std::vector<int64_t> tags;       // tagging
  int64_t label = kIgnore;         // classification
  int64_t length = 0;
};

// Turns examples into ids (tokens through `vocab`, labels through `labels`; an unknown label is
// an Error naming it). Empty sequences are an Error.
std::vector<Encoded> encode(const std::vector<Example>& examples, const Vocab& vocab,
                            const std::vector<std::string>& labels, TaskKind kind, int64_t feature_dim);

struct Batch {
  Tensor ids;       // (B,T) I64, or undefined for vector input
  Tensor features;  // (B,T,F) F32, or undefined for token input
  Tensor lengths;   // (B) I64
  Tensor labels;    // (B,T) or (B) I64
  std::vector<int64_t> index;  // the examples' positions in their split
  int64_t size() const { return static_cast<int64_t>(index.size()); }
  int64_t max_length() const;
};

// Pads the examples at `index` into one Batch.
Batch collate(const std::vector<Encoded>& data, const std::vector<int64_t>& index, TaskKind kind,
              int64_t feature_dim);

class Batcher {
 public:
  Batcher(int64_t num_examples, std::vector<int64_t> lengths, int64_t batch_size, int64_t bucket_batches = 50);
  // The batches of one training epoch (lists of example positions): deterministic in
  // (seed, epoch), see the file comment.
  std::vector<std::vector<int64_t>> epoch(uint64_t seed, int64_t epoch) const;
  // Evaluation order: sorted by length, not shuffled (every example exactly once).
  std::vector<std::vector<int64_t>> sequential() const;
  int64_t num_batches() const;

 private:
  int64_t n_;
  std::vector<int64_t> lengths_;
  int64_t batch_size_;
  int64_t bucket_batches_;
};

// A 64-bit mix of (seed, a, b) for per-epoch / per-batch generator seeds (splitmix64).
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace seqnn::data
