// seqnn: train, evaluate and query sequence models from the command line.
//
//   seqnn train                          the embedded default: ticket-booking slot filling, BiLSTM + self-attention
//   seqnn train --config my.json --run-dir runs/x [--epochs N] [--resume]
//   seqnn train --print-config           the full default config, every field documented
//   seqnn eval RUN_DIR_OR_CHECKPOINT [--split test|valid] [--json]
//   seqnn predict RUN_DIR_OR_CHECKPOINT "leave Taipei on November 2nd" ...   (or lines on stdin)
//   seqnn predict RUN_DIR "Open the file" --beam 4                           (sequence models: decode)
//   seqnn info RUN_DIR_OR_CHECKPOINT
//   seqnn attention RUN_DIR_OR_CHECKPOINT "leave Taipei on November 2nd" [--layer N] [--head H] [--out FILE]
//
// Exit status: 0 success, 2 usage errors (bad arguments, bad config), 1 runtime errors (missing
// or corrupt files, training failures). Every error is one line on stderr: "seqnn: error: ...".
#include <CLI/CLI.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "seqnn/data/audio.h"
#include "seqnn/data/dataset.h"
#include "seqnn/data/speech.h"
#include "seqnn/train/config.h"
#include "seqnn/train/plots.h"
#include "seqnn/train/text_metrics.h"
#include "seqnn/train/trainer.h"

using namespace seqnn;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A usage error found after parsing (exit status 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kPair[] = {"arrive Taipei on November 2nd", "leave Taipei on November 2nd"};

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream os;
  os << std::put_time(&tm, "%Y%m%d-%H%M%S");
  return os.str();
}

std::string fmt(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(4) << v;
  return os.str();
}

// The metrics of a sequence task's evaluation (stdout).
void print_sequence_metrics(const json& m, const std::string& split) {
  std::cout << split << ":";
  if (m.contains("loss")) std::cout << " loss " << fmt(m["loss"]);
  for (const char* k : {"chrf", "bleu", "exact_match", "cer", "wer"})
    if (m.contains(k)) std::cout << "  " << k << " " << std::fixed << std::setprecision(2) << m[k].get<double>();
  if (m.contains("beam_size")) std::cout << "  (beam " << m["beam_size"] << ")";
  std::cout << "\n";
  if (m.contains("examples"))
    for (const auto& e : m["examples"])
      std::cout << "  " << e["source"].get<std::string>() << "\n    -> " << e["output"].get<std::string>()
                << "\n       (reference: " << e["reference"].get<std::string>() << ")\n";
}

// The metrics table of one evaluation (stdout).
void print_metrics(const json& m, const std::string& split) {
  if (!m.contains("accuracy")) return print_sequence_metrics(m, split);
  std::cout << split << ": loss " << fmt(m["loss"]) << "  accuracy " << fmt(m["accuracy"]);
  if (m.contains("slot_f1")) std::cout << "  slot_f1 " << fmt(m["slot_f1"]);
  std::cout << "  sequence_accuracy " << fmt(m["sequence_accuracy"]) << "\n";
  const char* key = m.contains("per_slot") ? "per_slot" : "per_label";
  std::cout << "  " << std::left << std::setw(14) << (m.contains("per_slot") ? "slot" : "label") << std::right
            << std::setw(10) << "precision" << std::setw(10) << "recall" << std::setw(10) << "f1" << std::setw(9)
            << "support\n";
  for (auto it = m[key].begin(); it != m[key].end(); ++it)
    std::cout << "  " << std::left << std::setw(14) << it.key() << std::right << std::setw(10)
              << fmt(it.value()["precision"]) << std::setw(10) << fmt(it.value()["recall"]) << std::setw(10)
              << fmt(it.value()["f1"]) << std::setw(8) << it.value()["support"].get<int64_t>() << "\n";
}

// ==================================================================== train
int cmd_train(const std::string& config_file, std::string run_dir, bool resume, int64_t epochs, bool epochs_set,
              bool print_cfg, bool no_progress) {
  json config = config_file.empty() ? train::default_config() : train::load_config_file(config_file);
  if (epochs_set) {
    if (epochs < 1) throw UsageError("--epochs must be >= 1, got " + std::to_string(epochs));
    config["train"]["epochs"] = epochs;
  }
  if (print_cfg) {
    std::cout << train::print_config(config);
    return 0;
  }
  if (resume && run_dir.empty()) throw UsageError("--resume needs --run-dir (the run to continue)");
  if (resume && (!config_file.empty() || epochs_set))
    throw UsageError("--resume continues a run with its own config: drop --config / --epochs");
  if (run_dir.empty()) run_dir = "runs/" + config["data"]["dataset"].get<std::string>() + "-" + timestamp();

  train::TrainOptions opts;
  opts.config = config;
  opts.run_dir = run_dir;
  opts.resume = resume;
  opts.progress_bar = !no_progress;
  json s = train::run_training(opts);

  std::cout << "\n" << s["model"].get<std::string>() << ", " << s["parameters"] << " parameters\n"
            << s["epochs"] << " epochs (" << s["steps"] << " steps) in " << std::fixed << std::setprecision(1)
            << s["wall_seconds"].get<double>() << " s; best validation epoch " << s["best_epoch"] << "\n";
  print_metrics(s["test"], "test (unseen " + std::string(s["task"].get<std::string>().rfind("booking", 0) == 0 ? "cities" : "data") + ")");
  train::LoadedModel m = train::load_model(run_dir);
  if (s["task"] == "booking") {
    std::cout << "\npredictions:\n";
    for (const char* sentence : kPair) std::cout << "  " << train::format_prediction(m, sentence) << "\n";
  }
  std::cout << "\nrun directory: " << run_dir << " (summary.json, metrics.jsonl, best.safetensors, checkpoints)\n"
            << "training curves: " << s.value("curves", std::string()) << "\n";
  if (s.contains("attention_maps") && !s["attention_maps"].empty()) {
    std::cout << "attention maps (every layer and head):\n";
    for (const auto& f : s["attention_maps"]) std::cout << "  " << f.get<std::string>() << "\n";
  }
  if (s.contains("alignments") && !s["alignments"].empty()) {
    std::cout << "alignments (source x output):\n";
    for (const auto& f : s["alignments"]) std::cout << "  " << f.get<std::string>() << "\n";
  }
  // a query to try, in the task's own input
  const std::string task = s["task"].get<std::string>();
  std::string example;
  if (task.rfind("booking", 0) == 0) example = "fly from Taipei to Tokyo tomorrow at 9 am";
  else if (task == "langid") example = "Datei konnte nicht geöffnet werden";
  else if (task == "translation") example = "Open the file";
  else if (task == "seq_toy") example = "hgfedcb";
  if (!example.empty()) {
    std::cout << "try: seqnn predict " << run_dir << " \"" << example << "\"" << (m.seq2seq ? " --beam 4" : "") << "\n";
    if ((m.model && m.kind != data::TaskKind::Sequence && m.model->encoder().has_attention()) ||
        (m.seq2seq && m.config["model"]["seq2seq"]["attention"] != "none"))
      std::cout << "     seqnn attention " << run_dir << " \"" << (task == "booking" ? "leave Taipei on November 2nd" : example) << "\"\n";
  }
  return 0;
}

// ==================================================================== eval / predict / info
// --beam: 0 (not given) means the run's own train.beam_size.
int64_t resolve_beam(const train::LoadedModel& m, int64_t beam) {
  return beam == 0 ? std::max<int64_t>(1, m.config["train"]["beam_size"].get<int64_t>()) : beam;
}

// A WAV file as the features a speech model reads (the run's data.* filterbank settings).
data::Example speech_input(const train::LoadedModel& m, const std::string& path) {
  if (m.config["data"]["dataset"] != "speech")
    throw Error("predict: this model reads " + std::to_string(m.feature_dim) + "-d vectors; only speech models "
                "take input from the command line (a WAV file)");
  const data::Wav wav = data::load_wav(path);
  data::Example e;
  e.features = data::speech_features(wav, data::speech_options_from_config(m.config["data"]), nullptr);
  e.feature_dim = m.feature_dim;
  e.group = path;
  return e;
}

// One input of a sequence model: text, or for models that read speech features a WAV file.
data::Example sequence_input(const train::LoadedModel& m, const std::string& arg) {
  data::Example e;
  if (m.feature_dim > 0) {
    e = speech_input(m, arg);
  } else {
    e.source = arg;
  }
  return e;
}

// A sequence model on a split: decode everything, then the text metrics.
int eval_sequences(train::LoadedModel& m, const std::vector<data::Example>& ex, const std::string& split, bool as_json,
                   int64_t show_errors, int64_t beam) {
  train::DecodeSettings ds;
  ds.beam_size = beam;
  ds.max_length_ratio = m.config["train"]["max_length_ratio"].get<double>();
  ds.length_penalty = m.config["train"]["length_penalty"].get<double>();
  std::vector<data::Example> inputs;
  std::vector<std::string> refs, hyps;
  for (const auto& e : ex) {
    if (m.feature_dim == 0 && m.source_tokenizer->encode(e.source).empty()) continue;
    inputs.push_back(e);
    refs.push_back(e.target);
  }
  const auto preds = train::predict_sequences(m, inputs, ds);
  int64_t exact = 0;
  for (size_t i = 0; i < preds.size(); ++i) {
    hyps.push_back(preds[i].text);
    exact += preds[i].text == refs[i];
    if (preds[i].text != refs[i] && show_errors-- > 0)
      std::cout << "error: " << (m.feature_dim > 0 ? inputs[i].group : inputs[i].source) << "\n  -> " << preds[i].text
                << "\n     (reference: " << refs[i] << ")\n";
  }
  json r = {{"decoded", static_cast<int64_t>(preds.size())},
            {"beam_size", beam},
            {"exact_match", preds.empty() ? 0.0 : 100.0 * static_cast<double>(exact) / static_cast<double>(preds.size())},
            {"chrf", train::corpus_chrf(hyps, refs)},
            {"bleu", train::corpus_bleu(hyps, refs).score},
            {"cer", 100.0 * train::char_errors(hyps, refs).rate()},
            {"wer", 100.0 * train::word_errors(hyps, refs).rate()}};
  if (as_json) std::cout << r.dump(2) << "\n";
  else print_sequence_metrics(r, split);
  return 0;
}

int cmd_eval(const std::string& ckpt, const std::string& split, bool as_json, int64_t show_errors, int64_t beam) {
  train::LoadedModel m = train::load_model(ckpt);
  beam = resolve_beam(m, beam);
  data::Dataset ds = data::load_dataset(m.config["data"]["dataset"].get<std::string>(), m.config["data"]);
  const auto& ex = split == "valid" ? ds.valid : split == "train" ? ds.train : ds.test;
  if (m.kind == data::TaskKind::Sequence) return eval_sequences(m, ex, split, as_json, show_errors, beam);
  for (size_t i = 0; i < ex.size() && show_errors > 0 && m.feature_dim == 0; ++i) {
    const auto pred = train::predict(m, ex[i].tokens);
    const auto& gold = m.kind == data::TaskKind::Tagging ? ex[i].tags : std::vector<std::string>{ex[i].label};
    if (pred == gold) continue;
    --show_errors;
    std::cout << "error:";
    for (size_t t = 0; t < ex[i].tokens.size(); ++t) {
      std::cout << " " << ex[i].tokens[t];
      if (m.kind == data::TaskKind::Tagging && pred[t] != gold[t]) std::cout << "/" << pred[t] << "(gold " << gold[t] << ")";
    }
    if (m.kind != data::TaskKind::Tagging) std::cout << "  -> " << pred[0] << " (gold " << gold[0] << ")";
    std::cout << "\n";
  }
  auto enc = data::encode(ex, m.vocab, m.labels, m.kind, m.feature_dim);
  json r = train::evaluate(*m.model, enc, m.labels, m.kind, m.feature_dim).to_json();
  if (as_json) std::cout << r.dump(2) << "\n";
  else print_metrics(r, split);
  return 0;
}

int cmd_predict(const std::string& ckpt, const std::vector<std::string>& sentences, int64_t beam, bool nbest_scores) {
  train::LoadedModel m = train::load_model(ckpt);
  beam = resolve_beam(m, beam);
  if (m.kind == data::TaskKind::Sequence) {
    train::DecodeSettings ds;
    ds.beam_size = beam;
    ds.max_length_ratio = m.config["train"]["max_length_ratio"].get<double>();
    ds.length_penalty = m.config["train"]["length_penalty"].get<double>();
    auto one = [&](const std::string& s) {
      if (m.feature_dim == 0 && s.find_first_not_of(" \t\r") == std::string::npos) throw Error("predict: empty source text");
      const auto p = train::predict_sequences(m, {sequence_input(m, s)}, ds);
      std::cout << p[0].text;
      if (nbest_scores) std::cout << "\t" << p[0].log_prob;
      std::cout << "\n";
    };
    if (!sentences.empty()) {
      for (const auto& s : sentences) one(s);
    } else {
      std::string line;
      while (std::getline(std::cin, line))
        if (line.find_first_not_of(" \t\r") != std::string::npos) one(line);
    }
    return 0;
  }
  auto one = [&](const std::string& s) {
    if (data::tokenize(s).empty()) throw Error("predict: empty sentence");
    std::cout << train::format_prediction(m, s) << "\n";
  };
  if (!sentences.empty()) {
    for (const auto& s : sentences) one(s);
  } else {
    std::string line;
    while (std::getline(std::cin, line))
      if (!data::tokenize(line).empty()) one(line);
  }
  return 0;
}

int cmd_info(const std::string& ckpt) {
  train::LoadedModel m = train::load_model(ckpt);
  int64_t params = 0;
  for (const auto& p : m.module().parameters()) params += p.numel();
  std::cout << "model:      " << m.meta.value("model", "?") << "\n"
            << "parameters: " << params << "\n"
            << "task:       " << m.meta.value("task", "?") << " (" << m.meta.value("kind", "?") << "), ";
  if (m.kind == data::TaskKind::Sequence)
    std::cout << (m.source_tokenizer ? "source vocabulary " + std::to_string(m.source_tokenizer->vocab_size()) + " (" +
                                           m.source_tokenizer->type() + "), "
                                     : std::string("vector input, "))
              << "target vocabulary " << m.target_tokenizer->vocab_size() << " (" << m.target_tokenizer->type() << ")\n";
  else
    std::cout << m.labels.size() << " labels, vocabulary " << m.vocab.size() << "\n";
  std::cout << "step:       " << m.step << "\n";
  if (m.meta.contains("valid")) print_metrics(m.meta["valid"], "valid (epoch " + std::to_string(m.meta.value("epoch", 0)) + ")");
  fs::path dir = fs::is_directory(ckpt) ? fs::path(ckpt) : fs::path(ckpt).parent_path();
  if (fs::exists(dir / "summary.json")) {
    json s = json::parse(std::ifstream(dir / "summary.json"), nullptr, false);
    if (!s.is_discarded() && s.contains("test")) print_metrics(s["test"], "test");
  }
  std::cout << "config:\n" << m.config.dump(2) << "\n";
  return 0;
}

// ==================================================================== attention
// A seq2seq model's alignment: source x output heatmap of the decoded output.
int sequence_alignment(train::LoadedModel& m, const std::string& ckpt, const std::string& sentence, int64_t beam,
                       std::string out) {
  if (!m.seq2seq) throw UsageError("attention: this sequence model (" + m.mode + ") has no attention; a seq2seq model "
                                   "with model.seq2seq.attention bahdanau or luong, or the transformer, has");
  train::DecodeSettings ds;
  ds.beam_size = beam;
  ds.attention = true;
  ds.max_length_ratio = m.config["train"]["max_length_ratio"].get<double>();
  ds.length_penalty = m.config["train"]["length_penalty"].get<double>();
  if (sentence.find_first_not_of(" \t\r") == std::string::npos) throw Error("attention: empty source text");
  const auto p = train::predict_sequences(m, {sequence_input(m, sentence)}, ds);
  if (!p[0].attention.defined())
    throw Error("attention: the model (" + m.meta.value("model", std::string("?")) + ") has no attention over the source");
  if (out.empty()) {
    const fs::path dir = fs::is_directory(ckpt) ? fs::path(ckpt) : fs::path(ckpt).parent_path();
    out = (dir / "alignments" / (train::slug(sentence) + ".svg")).string();
  }
  train::write_alignment_svg(p[0], "\"" + sentence + "\" -> \"" + p[0].text + "\"", out);
  train::Heatmap hm{"alignment", p[0].target_pieces, p[0].source_pieces, p[0].attention.to(DType::F64).to_vector<double>()};
  std::cout << p[0].text << "\n\n" << train::heatmap_text(hm) << "written: " << out << "\n";
  return 0;
}

int cmd_attention(const std::string& ckpt, const std::string& sentence, int64_t layer, int64_t head, std::string out,
                  int64_t beam) {
  train::LoadedModel m = train::load_model(ckpt);
  beam = resolve_beam(m, beam);
  if (m.kind == data::TaskKind::Sequence) return sequence_alignment(m, ckpt, sentence, beam, out);
  if (data::tokenize(sentence).empty()) throw Error("attention: empty sentence");
  train::SentenceAttention a = train::sentence_attention(m, sentence);
  const int64_t L = static_cast<int64_t>(a.layers.size()), N = a.layers[0].size(0), T = a.layers[0].size(1);
  if (layer == 0) layer = L;
  if (layer < 1 || layer > L) throw UsageError("--layer must be in [1, " + std::to_string(L) + "], got " + std::to_string(layer));
  if (head < 0 || head > N) throw UsageError("--head must be in [1, " + std::to_string(N) + "], got " + std::to_string(head));
  const auto v = a.layers[static_cast<size_t>(layer - 1)].to(DType::F64).to_vector<double>();  // (N,T,T)
  auto panel = [&](int64_t h) {  // h 0: the mean over heads
    train::Heatmap hm;
    hm.rows = hm.cols = a.tokens;
    hm.values.assign(static_cast<size_t>(T * T), 0.0);
    for (int64_t n = 0; n < N; ++n) {
      if (h > 0 && n != h - 1) continue;
      for (int64_t i = 0; i < T * T; ++i) hm.values[i] += v[n * T * T + i] / (h > 0 ? 1.0 : static_cast<double>(N));
    }
    hm.title = "layer " + std::to_string(layer) + ", " + (h > 0 ? "head " + std::to_string(h) : "mean of " + std::to_string(N) + " heads");
    return hm;
  };
  std::vector<train::Heatmap> panels;
  if (head > 0) panels.push_back(panel(head));
  else {
    panels.push_back(panel(0));
    for (int64_t h = 1; h <= N; ++h) panels.push_back(panel(h));
  }
  if (out.empty()) {
    const fs::path dir = fs::is_directory(ckpt) ? fs::path(ckpt) : fs::path(ckpt).parent_path();
    out = (dir / "attention" / (train::slug(sentence) + "_layer" + std::to_string(layer) + (head > 0 ? "_head" + std::to_string(head) : "") + ".svg")).string();
  }
  train::write_text_atomic(out, train::heatmap_svg(panels, std::min<int64_t>(static_cast<int64_t>(panels.size()), 5),
                                                    "attention: \"" + sentence + "\" (rows: queries, columns: keys)"));
  if (m.kind == data::TaskKind::Tagging) std::cout << train::format_prediction(m, sentence) << "\n\n";
  std::cout << train::heatmap_text(panels[0]) << "written: " << out << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"seqnn: train and query sequence models (labelling, classification, translation, speech recognition)", "seqnn"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  auto* tr = app.add_subcommand("train", "train a model (no arguments: ticket-booking slot filling with a BiLSTM and a self-attention layer)");
  std::string config_file, run_dir;
  bool resume = false, print_cfg = false, no_progress = false;
  int64_t epochs = 0;
  tr->add_option("--config", config_file, "JSON config (any subset of --print-config's fields)")->check(CLI::ExistingFile);
  tr->add_option("--run-dir", run_dir, "where checkpoints, metrics.jsonl and summary.json go (default runs/<dataset>-<timestamp>)");
  tr->add_flag("--resume", resume, "continue the run in --run-dir from its newest checkpoint");
  auto* ep = tr->add_option("--epochs", epochs, "override train.epochs");
  tr->add_flag("--print-config", print_cfg, "print the full config (defaults filled in, every field documented) and exit");
  tr->add_flag("--no-progress", no_progress, "no progress bar, even on a terminal");
  bool print_md = false;  // regenerates docs/CONFIG.md (hidden)
  tr->add_flag("--print-config-markdown", print_md, "")->group("");

  auto* ev = app.add_subcommand("eval", "evaluate a trained model on its dataset's test (or valid/train) split");
  std::string ckpt, split = "test";
  bool as_json = false;
  ev->add_option("CHECKPOINT", ckpt, "a run directory or a .safetensors checkpoint")->required();
  ev->add_option("--split", split, "test, valid or train")->check(CLI::IsMember({"test", "valid", "train"}));
  ev->add_flag("--json", as_json, "print the metrics as JSON");
  int64_t show_errors = 0;
  ev->add_option("--errors", show_errors, "first print up to N mislabelled sequences with their gold labels");
  int64_t beam = 0;
  CLI::Option* beam_opts[3];
  beam_opts[0] = ev->add_option("--beam", beam, "sequence models: beam width (1: greedy; default: the run's train.beam_size)");

  auto* pr = app.add_subcommand("predict", "label sentences (arguments, or one per line on stdin)");
  std::vector<std::string> sentences;
  pr->add_option("CHECKPOINT", ckpt, "a run directory or a .safetensors checkpoint")->required();
  pr->add_option("sentences", sentences, "sentences to label or translate, or WAV files for a speech model (default: read stdin)");
  beam_opts[1] = pr->add_option("--beam", beam, "sequence models: beam width (1: greedy; default: the run's train.beam_size)");
  bool pr_scores = false;
  pr->add_flag("--scores", pr_scores, "sequence models: print the output's log-probability after a tab");

  auto* in = app.add_subcommand("info", "show a trained model's config, size and metrics");
  in->add_option("CHECKPOINT", ckpt, "a run directory or a .safetensors checkpoint")->required();

  auto* at = app.add_subcommand("attention", "draw a model's attention map for one sentence (SVG) and print it shaded");
  std::string at_sentence, at_out;
  int64_t at_layer = 0, at_head = 0;
  at->add_option("CHECKPOINT", ckpt, "a run directory or a .safetensors checkpoint (transformer / window_attention encoder)")->required();
  at->add_option("sentence", at_sentence, "the sentence, e.g. \"leave Taipei on November 2nd\"")->required();
  at->add_option("--layer", at_layer, "layer, from 1 (default: the last)");
  at->add_option("--head", at_head, "head, from 1 (default: the mean over heads in the terminal; the SVG also shows every head)");
  at->add_option("--out", at_out, "SVG file (default RUN_DIR/attention/<sentence>_layer<N>[_head<H>].svg; seq2seq: RUN_DIR/alignments/<sentence>.svg)");
  beam_opts[2] = at->add_option("--beam", beam, "seq2seq models: beam width of the decoding whose alignment is drawn");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << "seqnn: error: " << what << " (see seqnn --help)\n";
    return 2;
  }
  try {
    if (*tr && print_md) {
      std::cout << train::config_markdown();
      return 0;
    }
    if (*tr) return cmd_train(config_file, run_dir, resume, epochs, ep->count() > 0, print_cfg, no_progress);
    // --beam not given: the run's own train.beam_size (resolve_beam); given, it must be >= 1
    const bool beam_given = beam_opts[0]->count() + beam_opts[1]->count() + beam_opts[2]->count() > 0;
    if (beam_given && beam < 1) throw UsageError("--beam must be >= 1, got " + std::to_string(beam));
    if (!beam_given) beam = 0;
    if (*ev) return cmd_eval(ckpt, split, as_json, show_errors, beam);
    if (*pr) return cmd_predict(ckpt, sentences, beam, pr_scores);
    if (*in) return cmd_info(ckpt);
    if (*at) return cmd_attention(ckpt, at_sentence, at_layer, at_head, at_out, beam);
  } catch (const UsageError& e) {
    std::cerr << "seqnn: error: " << e.what() << "\n";
    return 2;
  } catch (const train::ConfigError& e) {
    std::cerr << "seqnn: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << "seqnn: error: " << what << "\n";
    return 1;
  } catch (...) {
    std::cerr << "seqnn: error: unknown failure\n";
    return 1;
  }
  return 2;
}
