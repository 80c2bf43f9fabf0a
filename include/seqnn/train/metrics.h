// seqnn/train/metrics.h: evaluation metrics for tagging and classification.
//
// Tagging (BIO tags):
//   token accuracy       correct tags / valid positions (padding never counted)
//   per-label P/R/F1     per tag, over positions: P = tp / predicted, R = tp / gold
//   slot F1 (CoNLL)      chunks are maximal spans B-X I-X ... (an I-X after O or after another type
//                        starts a new chunk, as conlleval does); a predicted chunk counts only when
//                        its start, end and type match a gold chunk exactly. micro P/R/F1 over all
//                        chunks, and per slot type.
// Classification: accuracy (= sequence accuracy), per-label P/R/F1.
// Both: the confusion matrix, rows gold, columns predicted.
// F1 = 2PR / (P + R), 0 when P + R = 0; P (R) = 0 when nothing was predicted (is gold).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace seqnn::train {

struct PRF {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  // gold count
};
PRF prf(int64_t tp, int64_t predicted, int64_t gold);

struct Chunk {
  std::string type;
  int64_t begin = 0, end = 0;  // [begin, end)
  bool operator<(const Chunk& o) const {
    return std::tie(begin, end, type) < std::tie(o.begin, o.end, o.type);
  }
  bool operator==(const Chunk& o) const { return begin == o.begin && end == o.end && type == o.type; }
};
// The chunks of one BIO sequence (tags like "B-dest", "I-dest", "O").
std::vector<Chunk> bio_chunks(const std::vector<std::string>& tags);

// Accumulates predictions over an evaluation, then reports.
class MetricAccumulator {
 public:
  MetricAccumulator(std::vector<std::string> labels, bool tagging);
  // One sequence's gold and predicted label ids (tagging: one per valid position; classification:
  // one element each).
  void add(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred);
  void add_loss(double loss_sum, int64_t count);

  double accuracy() const;  // token accuracy (tagging) or sequence accuracy (classification)
  double sequence_accuracy() const;  // every position right
  PRF slot() const;                  // micro slot (chunk) P/R/F1, tagging only
  std::map<std::string, PRF> per_slot() const;
  std::map<std::string, PRF> per_label() const;
  const std::vector<std::vector<int64_t>>& confusion() const { return confusion_; }
  double loss() const { return loss_count_ ? loss_sum_ / static_cast<double>(loss_count_) : 0.0; }

  // {"loss", "accuracy", "sequence_accuracy", "slot_f1", "slot_precision", "slot_recall",
  //  "per_slot": {type: {precision, recall, f1, support}}, "per_label": {...},
  //  "confusion": {"labels": [...], "matrix": [[...]]}}
  nlohmann::json to_json() const;

 private:
  std::vector<std::string> labels_;
  bool tagging_;
  std::vector<std::vector<int64_t>> confusion_;
  int64_t tokens_ = 0, correct_ = 0, sequences_ = 0, sequences_correct_ = 0;
  std::map<std::string, int64_t> chunk_tp_, chunk_pred_, chunk_gold_;
  double loss_sum_ = 0;
  int64_t loss_count_ = 0;
};

}  // namespace seqnn::train
