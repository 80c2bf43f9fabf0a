// seqnn/train/trainer.h: the training loop behind `seqnn train`, and loading a trained model.
//
// run_training() builds the dataset, vocabulary and model a resolved config describes, then per
// epoch: length-bucketed batches in a seeded order, Adam/AdamW/SGD with optional clipping and a
// per-step LR schedule, an evaluation on the validation split (metrics.jsonl), early stopping on
// the validation score (slot F1 for tagging, accuracy for classification). At the end the best
// validation model is evaluated on the test split and summary.json written.
//
// RUN_DIR holds
//   config.json                  the resolved config
//   ckpt_<step>.safetensors      training checkpoints (train::save_checkpoint, atomic): every
//                                train.checkpoint_every steps and at each epoch end; the newest
//                                train.keep_checkpoints are kept
//   best.safetensors             the best validation model (what eval / predict / info load)
//   metrics.jsonl                one JSON object per evaluation
//   train_loss.tsv               "step<TAB>loss" per training step
//   curves.svg                   training curves, redrawn after every evaluation (train/plots.h)
//   attention/<sentence>.svg     attention encoders only, written at the end: every layer's and
//                                head's map for the two Taipei sentences (booking tasks) or the
//                                first two test sentences (other token tasks)
//   summary.json                 task, model, parameters, epochs, wall_seconds, "test.<metric>",
//                                "attention_maps" (the files above)
// Every checkpoint carries what rebuilds the model (config, vocabulary, label names) in its user
// metadata. Resuming (TrainOptions::resume) loads the newest checkpoint and continues mid-epoch:
// the batch order of an epoch is a pure function of (train.seed, epoch), word dropout of (seed,
// epoch, batch), and the generator behind initialisation and dropout is restored, so a resumed
// run ends with bitwise the weights of an uninterrupted one.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/data/batch.h"
#include "seqnn/data/dataset.h"
#include "seqnn/data/vocab.h"
#include "seqnn/data/tokenizer.h"
#include "seqnn/models/seq2seq.h"
#include "seqnn/models/sequence_model.h"
#include "seqnn/train/metrics.h"

namespace seqnn::train {

struct TrainOptions {
  nlohmann::json config;             // resolved (resolve_config); ignored when resuming
  std::filesystem::path run_dir;
  bool resume = false;               // continue from the newest checkpoint in run_dir
  std::ostream* log = nullptr;       // progress and per-epoch lines (nullptr: std::cerr)
  bool progress_bar = true;          // a bar with rate and ETA when log is a terminal
};

// Word dropout of one training batch, in place (the trainer calls it for token inputs only; never
// in evaluation). ids (B,T) int64, labels (B,T) with -100 past each length, bio[label] 1 for B-x,
// 2 for I-x, 0 otherwise (empty: no spans).
//   span_p   (data.unk_prob) with labels and bio: each labelled span B-x I-x ... becomes <unk> ... <unk>
//            with this probability; without them: each token
//   token_p  (data.unk_token_prob) then: each token independently; with token_in_spans_only
//            (data.unk_token_scope slots) only the words of labelled spans (none without labels
//            and bio: a classification batch is left as span_p made it)
// Padding (Vocab::kPad) is never replaced. A pure function of (ids, labels, seed); with token_p 0
// it draws exactly what span_p alone draws.
void word_dropout(Tensor& ids, const Tensor& labels, const std::vector<int>& bio, double span_p, double token_p,
                  uint64_t seed, bool token_in_spans_only = false);

// The summary (also written to RUN_DIR/summary.json).
nlohmann::json run_training(const TrainOptions& options);

// A trained model with what it needs to read input and name its outputs.
struct LoadedModel {
  nlohmann::json config;
  data::Vocab vocab;
  std::vector<std::string> labels;
  data::TaskKind kind = data::TaskKind::Tagging;
  int64_t feature_dim = 0;
  // Tagging / classification, and the per-frame network of a "ctc" sequence model (its labels
  // are the target tokenizer's ids, blank = id 0); in eval mode.
  std::shared_ptr<models::SequenceModel> model;
  // Sequence tasks: "seq2seq" or "ctc" (empty otherwise), the model and the tokenizers.
  std::string mode;
  std::shared_ptr<models::Seq2SeqModel> seq2seq;              // in eval mode
  std::shared_ptr<data::Tokenizer> source_tokenizer;         // text sources
  std::shared_ptr<data::Tokenizer> target_tokenizer;
  int64_t max_source_length = 0;  // longer inputs are refused (4x the longest training source)
  nlohmann::json meta;            // the checkpoint's user metadata
  int64_t step = 0;
  nn::Module& module();           // whichever model the run trained
};

// From a checkpoint file, or a run directory (its best.safetensors, else its newest checkpoint).
LoadedModel load_model(const std::filesystem::path& checkpoint_or_run_dir);

// Evaluates on encoded examples (no gradients, eval mode).
MetricAccumulator evaluate(models::SequenceModel& model, const std::vector<data::Encoded>& data,
                           const std::vector<std::string>& labels, data::TaskKind kind, int64_t feature_dim,
                           int64_t batch_size = 128);

// Tagging: one label per token; classification: a single label. Tokens as data::tokenize gives.
std::vector<std::string> predict(LoadedModel& m, const std::vector<std::string>& tokens);

// "arrive/O Taipei/B-dest on/O ..." for a tagging model, "<label>" for a classifier.
std::string format_prediction(LoadedModel& m, const std::string& sentence);

// The attention weights of one sentence: tokens as written, and per layer a (nhead,T,T) tensor
// (query rows, key columns). Error when the model's encoder has no attention.
struct SentenceAttention {
  std::vector<std::string> tokens;
  std::vector<Tensor> layers;
};
SentenceAttention sentence_attention(LoadedModel& m, const std::string& sentence);

// Draws every layer and head of sentence_attention() into dir/<slug(sentence)>.svg; returns
// the file.
std::filesystem::path write_attention_svg(LoadedModel& m, const std::string& sentence, const std::filesystem::path& dir);

// ==================================================================== sequence tasks (N vs M)
struct DecodeSettings {
  int64_t beam_size = 1;          // 1: greedy
  double length_penalty = 1.0;
  double max_length_ratio = 2.0;  // seq2seq: at most ratio * source length + 10 tokens
  bool attention = false;         // seq2seq with attention: keep each output's alignment
  int64_t batch_size = 64;
};
struct SequencePrediction {
  std::string text;                         // the decoded target
  double log_prob = 0.0;                    // of the returned hypothesis
  std::vector<std::string> source_pieces;   // token sources: the source as its tokenizer's pieces
  std::vector<std::string> target_pieces;   // the output's pieces (EOS last when it ended with one)
  Tensor attention;                         // (target_pieces, source_pieces) F32 when asked for
};
// Decodes examples (Example.source for text sources, Example.features for vectors). Errors: an
// empty source, a source over m.max_source_length, a model that is not a sequence model.
std::vector<SequencePrediction> predict_sequences(LoadedModel& m, const std::vector<data::Example>& inputs,
                                                  const DecodeSettings& settings = {});
// The source x target alignment heatmap of one prediction (rows: target pieces, columns: source
// pieces) into `file` (SVG).
void write_alignment_svg(const SequencePrediction& p, const std::string& title, const std::filesystem::path& file);

}  // namespace seqnn::train
