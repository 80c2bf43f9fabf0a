// seqnn: train, evaluate and query sequence models from the command line.
//
//   seqnn train                          the embedded default: ticket-booking slot filling, BiLSTM + self-attention
//   seqnn train --config my.json --run-dir runs/x [--epochs N] [--resume]
//   seqnn train --print-config           the full default config, every field documented
//   seqnn eval RUN_DIR_OR_CHECKPOINT [--split test|valid] [--json]
//   seqnn predict RUN_DIR_OR_CHECKPOINT "leave Taipei on November 2nd" ...   (or lines on stdin)
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

#include "seqnn/data/dataset.h"
#include "seqnn/train/config.h"
#include "seqnn/train/plots.h"
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

// The metrics table of one evaluation (stdout).
void print_metrics(const json& m, const std::string& split) {
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
  std::cout << "try: seqnn predict " << run_dir << " \"fly from Taipei to Tokyo tomorrow at 9 am\"\n";
  if (m.model->encoder().has_attention())
    std::cout << "     seqnn attention " << run_dir << " \"leave Taipei on November 2nd\"\n";
  return 0;
}

// ==================================================================== eval / predict / info
int cmd_eval(const std::string& ckpt, const std::string& split, bool as_json, int64_t show_errors) {
  train::LoadedModel m = train::load_model(ckpt);
  data::Dataset ds = data::load_dataset(m.config["data"]["dataset"].get<std::string>(), m.config["data"]);
  const auto& ex = split == "valid" ? ds.valid : split == "train" ? ds.train : ds.test;
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

int cmd_predict(const std::string& ckpt, const std::vector<std::string>& sentences) {
  train::LoadedModel m = train::load_model(ckpt);
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
  std::cout << "model:      " << m.model->describe() << "\n"
            << "parameters: " << m.model->num_parameters() << "\n"
            << "task:       " << m.meta.value("task", "?") << " (" << m.meta.value("kind", "?") << "), "
            << m.labels.size() << " labels, vocabulary " << m.vocab.size() << "\n"
            << "step:       " << m.step << "\n";
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
int cmd_attention(const std::string& ckpt, const std::string& sentence, int64_t layer, int64_t head, std::string out) {
  train::LoadedModel m = train::load_model(ckpt);
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
  CLI::App app{"seqnn: train and query sequence models (labelling and classification)", "seqnn"};
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

  auto* pr = app.add_subcommand("predict", "label sentences (arguments, or one per line on stdin)");
  std::vector<std::string> sentences;
  pr->add_option("CHECKPOINT", ckpt, "a run directory or a .safetensors checkpoint")->required();
  pr->add_option("sentences", sentences, "sentences to label (default: read stdin)");

  auto* in = app.add_subcommand("info", "show a trained model's config, size and metrics");
  in->add_option("CHECKPOINT", ckpt, "a run directory or a .safetensors checkpoint")->required();

  auto* at = app.add_subcommand("attention", "draw a model's attention map for one sentence (SVG) and print it shaded");
  std::string at_sentence, at_out;
  int64_t at_layer = 0, at_head = 0;
  at->add_option("CHECKPOINT", ckpt, "a run directory or a .safetensors checkpoint (transformer / window_attention encoder)")->required();
  at->add_option("sentence", at_sentence, "the sentence, e.g. \"leave Taipei on November 2nd\"")->required();
  at->add_option("--layer", at_layer, "layer, from 1 (default: the last)");
  at->add_option("--head", at_head, "head, from 1 (default: the mean over heads in the terminal; the SVG also shows every head)");
  at->add_option("--out", at_out, "SVG file (default RUN_DIR/attention/<sentence>_layer<N>[_head<H>].svg)");

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
    if (*ev) return cmd_eval(ckpt, split, as_json, show_errors);
    if (*pr) return cmd_predict(ckpt, sentences);
    if (*in) return cmd_info(ckpt);
    if (*at) return cmd_attention(ckpt, at_sentence, at_layer, at_head, at_out);
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
