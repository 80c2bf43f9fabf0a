// seqnn/data/dataset.h: examples, datasets and the registry of built-in datasets.
//
// An Example is a sequence (tokens, or real-valued feature vectors) with either one label per
// position (a tagging task, N vs N), one label for the whole sequence (classification, N vs 1),
// or a target sequence whose length the model decides (a sequence task, N vs M: translation,
// speech recognition). Sequence tasks hold their input as raw text in `source` (a Tokenizer turns
// it into ids) or as feature vectors, and their output as raw text in `target`.
// A Dataset holds the train / valid / test splits and the label names; the trainer turns it into
// ids with a Vocab (for token inputs) and batches it with data::Batcher.
//
// Built-in datasets are registered by name ("booking", "booking_intent"); later ones (Fashion-
// MNIST, language ID) add themselves with register_dataset().
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace seqnn::data {

enum class TaskKind { Tagging, Classification, Sequence };
const char* task_kind_name(TaskKind k);  // "tagging" / "classification" / "sequence"

struct Example {
  std::vector<std::string> tokens;     // token input (empty for feature input)
  std::vector<float> features;         // feature input: length() * feature_dim values, row-major
  std::vector<std::string> tags;       // tagging: one label per position
  std::string label;                   // classification: the sequence's label
  std::string source;                  // sequence task with text input: the source text
  std::string target;                  // sequence task: the target text (translation, transcript)
  std::string group;                   // where it came from (a catalog, a voice), for reports
  int64_t length() const;              // tokens.size(), or features.size() / feature_dim
                                       // (sequence tasks with text input: source.size() bytes)
  int64_t feature_dim = 0;             // 0 for token input
};

struct Dataset {
  std::string name;
  TaskKind kind = TaskKind::Tagging;
  int64_t feature_dim = 0;             // 0: token input (an embedding); > 0: vectors
  std::vector<std::string> labels;     // label names, index = class id ("O" first for BIO tags)
  std::vector<Example> train, valid, test;
};

// The "data" section of the config (see train/config.h) is passed through as JSON so each
// dataset reads its own fields.
using DatasetFactory = std::function<Dataset(const nlohmann::json& data_config)>;
// A dataset's own config field: data.<name> in the config schema (train/config.h adds every
// registered dataset's fields to the "data" section, with the default's JSON type).
struct DatasetField {
  std::string name;                    // without "data."
  nlohmann::json default_value;
  std::string doc;
  std::vector<std::string> choices;    // allowed string values (empty: any)
};
void register_dataset(const std::string& name, DatasetFactory factory, std::vector<DatasetField> fields = {});
// Every registered dataset's fields, in registration order (a name shared by two datasets once).
std::vector<DatasetField> dataset_fields();
// Error("dataset: unknown dataset \"x\" (known: booking, ...)") when not registered.
Dataset load_dataset(const std::string& name, const nlohmann::json& data_config);
std::vector<std::string> dataset_names();
// A user's text as the tokens a model trained on `data_config`'s dataset reads: characters of
// the cleaned string for langid (cut to data.langid_max_chars), data::tokenize's lowercased
// words for every other token dataset.
std::vector<std::string> input_tokens(const nlohmann::json& data_config, const std::string& text);

}  // namespace seqnn::data
