// src/train/sequence_task.cpp: N vs M tasks (placeholder until the sequence models land).
#include "seqnn/error.h"
#include "task.h"

namespace seqnn::train::detail {
std::unique_ptr<Task> make_sequence_task(const nlohmann::json&, data::Dataset ds, const nlohmann::json&) {
  fail("train", "dataset ", ds.name, " is a sequence task; sequence models are not built yet");
}
}  // namespace seqnn::train::detail
