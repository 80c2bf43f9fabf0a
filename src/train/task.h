// src/train/task.h (private): what the training loop of run_training() needs from a task.
//
// run_training() owns the run: resume, the seeded batch order, the optimizer and schedule,
// checkpoints, the per-epoch evaluation and early stopping, the test of the best model and the
// summary. A Task owns the data as numbers, the model and the metrics:
//   TaggingTask   (trainer.cpp)        tagging and classification: SequenceModel + Vocab + labels
//   SequenceTask  (sequence_task.cpp)  N vs M: a Seq2SeqModel (translation, copy/reverse) or a
//                                      CTC model (speech), with Tokenizers
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/data/dataset.h"
#include "seqnn/nn/module.h"
#include "seqnn/optim/lr_scheduler.h"
#include "seqnn/optim/optimizer.h"
#include "seqnn/tensor.h"

namespace seqnn::train::detail {

class Task {
 public:
  virtual ~Task() = default;
  virtual nn::Module& module() = 0;
  virtual std::string describe() const = 0;
  virtual int64_t num_parameters() const = 0;
  // Per training example, the length the batcher buckets by.
  virtual std::vector<int64_t> train_lengths() const = 0;
  virtual size_t valid_size() const = 0;
  virtual size_t test_size() const = 0;
  // The mean training loss of these training examples (model in train mode, graph recorded);
  // `seed` is this batch's own seed (word dropout, teacher forcing draws).
  virtual Tensor batch_loss(const std::vector<int64_t>& batch, uint64_t seed) = 0;
  // Metrics of the validation (test = false) or test split under the current weights. Holds
  // "loss" and score_name().
  virtual nlohmann::json evaluate(bool test) = 0;
  virtual std::string score_name() const = 0;      // "slot_f1", "accuracy", "chrf", "cer", ...
  virtual bool higher_is_better() const { return true; }
  // What a checkpoint must carry to rebuild the model and read its input (vocab, labels,
  // tokenizers, kind, feature_dim, model description); run_training adds config and progress.
  virtual nlohmann::json meta() const = 0;
  // The flat "test.<metric>" entries of the summary.
  virtual void flatten(const nlohmann::json& metrics, const std::string& prefix, nlohmann::json& out) const = 0;
  // After the test: pictures of the best model (attention maps, alignments) into the summary.
  virtual void finish(const std::filesystem::path& run_dir, nlohmann::json& summary) = 0;
};

// resume_meta: the checkpoint's user metadata when resuming (vocabularies, tokenizers and labels
// come from it instead of being rebuilt), null otherwise.
std::unique_ptr<Task> make_tagging_task(const nlohmann::json& config, data::Dataset ds, const nlohmann::json& resume_meta);
std::unique_ptr<Task> make_sequence_task(const nlohmann::json& config, data::Dataset ds, const nlohmann::json& resume_meta);

}  // namespace seqnn::train::detail
namespace seqnn::train {
struct LoadedModel;
}
namespace seqnn::train::detail {
// load_model() for a sequence task's checkpoint: tokenizers from the metadata, then the model
// (seq2seq, or the CTC network in LoadedModel::model), weights not yet loaded.
void load_sequence_model(LoadedModel& m);

// Shared by both tasks.
std::string fmt(double v, int prec = 4);

}  // namespace seqnn::train::detail
