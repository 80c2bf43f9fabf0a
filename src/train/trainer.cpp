// src/train/trainer.cpp: the training loop, evaluation, run-directory files, model loading.
#include "seqnn/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>

#include "progress.h"
#include "task.h"
#include "seqnn/autograd.h"
#include "seqnn/io/checkpoint.h"
#include "seqnn/ops.h"
#include "seqnn/optim/optim.h"
#include "seqnn/random.h"
#include "seqnn/train/checkpoint.h"
#include "seqnn/train/config.h"
#include "seqnn/train/plots.h"

namespace seqnn::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
using detail::fmt;
constexpr const char* kCkptPrefix = "ckpt_";

// ==================================================================== building blocks
data::TaskKind kind_for(const json& config, const data::Dataset& d) {
  const std::string k = config["model"]["kind"].get<std::string>();
  if (k == "auto") return d.kind;
  const data::TaskKind want = k == "tagger" ? data::TaskKind::Tagging : data::TaskKind::Classification;
  if (want != d.kind)
    throw ConfigError("config: model.kind: " + k + " needs a " +
                      (want == data::TaskKind::Tagging ? "tagging" : "classification") + " dataset, but " + d.name +
                      " is a " + data::task_kind_name(d.kind) + " dataset");
  return want;
}

models::ModelConfig model_config(const json& config, data::TaskKind kind, int64_t vocab_size, int64_t feature_dim,
                                 int64_t num_labels) {
  models::ModelConfig mc;
  mc.kind = kind == data::TaskKind::Tagging ? "tagger" : "classifier";
  mc.vocab_size = feature_dim > 0 ? 0 : vocab_size;
  mc.feature_dim = feature_dim;
  mc.num_labels = num_labels;
  mc.embedding_dim = config["model"]["embedding_dim"].get<int64_t>();
  mc.dropout = config["model"]["dropout"].get<double>();
  mc.pooling = config["model"]["pooling"].get<std::string>();
  mc.encoder = config["model"]["encoder"];
  return mc;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const json& c, const std::vector<Tensor>& params) {
  const std::string type = c["type"].get<std::string>();
  const double lr = c["lr"].get<double>(), wd = c["weight_decay"].get<double>();
  if (type == "adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions(lr).weight_decay(wd));
  if (type == "adamw") return std::make_unique<optim::AdamW>(params, optim::AdamWOptions(lr).weight_decay(wd));
  return std::make_unique<optim::SGD>(params, optim::SGDOptions(lr).momentum(c["momentum"].get<double>()).weight_decay(wd));
}

std::unique_ptr<optim::LRScheduler> make_scheduler(const json& c, optim::Optimizer& opt, int64_t total_steps) {
  const std::string type = c["type"].get<std::string>();
  const int64_t warmup = c["warmup_steps"].get<int64_t>();
  if ((type == "noam" || type == "linear_warmup") && warmup < 1)
    throw ConfigError("config: schedule.warmup_steps: must be >= 1 for " + type + ", got " + std::to_string(warmup));
  if (type == "none") return nullptr;
  if (type == "cosine") return std::make_unique<optim::CosineAnnealingLR>(opt, std::max<int64_t>(1, total_steps), c["min_lr"].get<double>());
  if (type == "step") {
    const int64_t s = c["step_size"].get<int64_t>();
    if (s < 1) throw ConfigError("config: schedule.step_size: must be >= 1, got " + std::to_string(s));
    return std::make_unique<optim::StepLR>(opt, s, c["gamma"].get<double>());
  }
  if (type == "noam")  // min((t+1)/w, sqrt(w/(t+1))): linear warmup to 1 at t+1 = w, then 1/sqrt decay
    return std::make_unique<optim::LambdaLR>(opt, [warmup](int64_t t) {
      const double s = static_cast<double>(t + 1), w = static_cast<double>(warmup);
      return std::min(s / w, std::sqrt(w / s));
    });
  return std::make_unique<optim::LinearLR>(opt, 1.0 / static_cast<double>(warmup), 1.0, warmup);
}

void check_train_config(const json& t) {
  auto positive = [&](const char* k) {
    if (t[k].get<int64_t>() < 1) throw ConfigError(std::string("config: train.") + k + ": must be >= 1, got " + t[k].dump());
  };
  positive("epochs");
  positive("batch_size");
  positive("bucket_batches");
  positive("keep_checkpoints");
  for (const char* k : {"early_stopping_patience", "checkpoint_every"})
    if (t[k].get<int64_t>() < 0) throw ConfigError(std::string("config: train.") + k + ": must be >= 0, got " + t[k].dump());
  if (t["clip_grad_norm"].get<double>() < 0)
    throw ConfigError("config: train.clip_grad_norm: must be >= 0, got " + t["clip_grad_norm"].dump());
}

std::shared_ptr<models::SequenceModel> build_model(const json& config, data::TaskKind kind, const data::Vocab& vocab,
                                                   int64_t feature_dim, int64_t num_labels) {
  try {
    return models::make_model(model_config(config, kind, vocab.size(), feature_dim, num_labels));
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    // the models name the field ("model.encoder.hidden_size: must be >= 1, got 0"): a config error
    const std::string w = e.what();
    if (w.rfind("model", 0) == 0) throw ConfigError("config: " + w);
    throw;
  }
}

void write_json_atomic(const fs::path& path, const json& j) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    check(static_cast<bool>(out), "train", "cannot write ", tmp.string());
    out << j.dump(2) << "\n";
    check(static_cast<bool>(out), "train", "write failed: ", tmp.string());
  }
  fs::rename(tmp, path);
}

// train_loss.tsv without the steps after `step`.
void truncate_losses(const fs::path& file, int64_t step) {
  std::ifstream in(file);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    int64_t s = 0;
    if ((ls >> s) && s <= step) kept += line + "\n";
  }
  in.close();
  std::ofstream out(file, std::ios::trunc);
  out << kept;
}

// metrics.jsonl without the evaluations after `step` (a resumed run redoes them).
void truncate_metrics(const fs::path& file, int64_t step) {
  std::ifstream in(file);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("step", int64_t{0}) <= step) kept += line + "\n";
  }
  in.close();
  std::ofstream out(file, std::ios::trunc);
  out << kept;
}

void prune_checkpoints(const fs::path& dir, int64_t keep) {
  std::vector<std::pair<int64_t, fs::path>> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(kCkptPrefix, 0) == 0 && n.size() > 17 && n.substr(n.size() - 12) == ".safetensors") {
      const std::string digits = n.substr(5, n.size() - 5 - 12);
      if (!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit))
        files.emplace_back(std::stoll(digits), e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < files.size(); ++i) fs::remove(files[i].second);
}

// The flat "test.slot_f1"-style names of an evaluation.
void flatten_metrics(const json& m, const std::string& prefix, json& out) {
  for (const char* k : {"loss", "accuracy", "sequence_accuracy", "slot_f1", "slot_precision", "slot_recall"})
    if (m.contains(k)) out[prefix + "." + k] = m[k];
  if (m.contains("per_slot"))
    for (auto it = m["per_slot"].begin(); it != m["per_slot"].end(); ++it)
      out[prefix + ".slot_f1." + it.key()] = it.value()["f1"];
  if (!m.contains("per_slot") && m.contains("per_label"))
    for (auto it = m["per_label"].begin(); it != m["per_label"].end(); ++it)
      out[prefix + ".f1." + it.key()] = it.value()["f1"];
}
}  // namespace

// ==================================================================== word dropout
void word_dropout(Tensor& ids, const Tensor& labels, const std::vector<int>& bio, double span_p, double token_p,
                  uint64_t seed, bool token_in_spans_only) {
  if ((span_p <= 0 && token_p <= 0) || !ids.defined()) return;
  check(ids.dtype() == DType::I64, "word_dropout", "ids must be int64 token ids, got ", dtype_name(ids.dtype()));
  Generator g(seed);
  int64_t* d = ids.data_ptr<int64_t>();
  const bool spans = labels.defined() && labels.shape() == ids.shape() && !bio.empty();
  if (span_p > 0 && !spans) {
    for (int64_t i = 0; i < ids.numel(); ++i)
      if (d[i] != data::Vocab::kPad && g.uniform() < span_p) d[i] = data::Vocab::kUnk;
  } else if (span_p > 0) {
    const int64_t* y = labels.data_ptr<int64_t>();
    bool dropping = false;
    for (int64_t i = 0; i < ids.numel(); ++i) {
      const int kind = y[i] >= 0 ? bio[static_cast<size_t>(y[i])] : 0;  // 0 other, 1 B-, 2 I-
      if (kind == 1) dropping = g.uniform() < span_p;
      else if (kind != 2) dropping = false;
      if (dropping && d[i] != data::Vocab::kPad) d[i] = data::Vocab::kUnk;
    }
  }
  // token_p draws after span_p's, and only when > 0: runs without it replace exactly what they did before.
  // Scope slots without spans (classification) has no slot words: nothing to replace.
  if (token_p > 0 && (spans || !token_in_spans_only)) {
    const int64_t* y = spans && token_in_spans_only ? labels.data_ptr<int64_t>() : nullptr;
    for (int64_t i = 0; i < ids.numel(); ++i) {
      if (d[i] == data::Vocab::kPad || (y && (y[i] < 0 || bio[static_cast<size_t>(y[i])] == 0))) continue;
      if (g.uniform() < token_p) d[i] = data::Vocab::kUnk;
    }
  }
}

// ==================================================================== evaluation
MetricAccumulator evaluate(models::SequenceModel& model, const std::vector<data::Encoded>& data,
                           const std::vector<std::string>& labels, data::TaskKind kind, int64_t feature_dim,
                           int64_t batch_size) {
  MetricAccumulator acc(labels, kind == data::TaskKind::Tagging);
  if (data.empty()) return acc;
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<int64_t> lengths;
  for (const auto& e : data) lengths.push_back(e.length);
  data::Batcher batcher(static_cast<int64_t>(data.size()), lengths, batch_size);
  for (const auto& idx : batcher.sequential()) {
    data::Batch b = data::collate(data, idx, kind, feature_dim);
    Tensor logits = model.forward_batch(feature_dim > 0 ? b.features : b.ids, b.lengths);
    Tensor loss = model.loss(logits, b.labels);
    const auto pred = argmax(logits, -1).to_vector<int64_t>();
    int64_t counted = 0;
    if (kind == data::TaskKind::Tagging) {
      const int64_t T = logits.size(1);
      for (size_t r = 0; r < idx.size(); ++r) {
        const auto& ex = data[idx[r]];
        std::vector<int64_t> p(pred.begin() + r * T, pred.begin() + r * T + ex.length);
        acc.add(ex.tags, p);
        counted += ex.length;
      }
    } else {
      for (size_t r = 0; r < idx.size(); ++r) acc.add({data[idx[r]].label}, {pred[r]});
      counted = static_cast<int64_t>(idx.size());
    }
    acc.add_loss(loss.item() * static_cast<double>(counted), counted);
  }
  model.train(was_training);
  return acc;
}

// ==================================================================== tagging / classification
namespace detail {
namespace {
class TaggingTask : public Task {
 public:
  TaggingTask(const json& config, data::Dataset ds, const json& resume_meta) : config_(config), ds_(std::move(ds)) {
    kind_ = kind_for(config_, ds_);
    if (!resume_meta.is_null()) {
      vocab_ = data::Vocab::from_json(resume_meta["vocab"]);
    } else if (ds_.feature_dim == 0) {
      std::vector<std::vector<std::string>> sents;
      for (const auto& e : ds_.train) sents.push_back(e.tokens);
      vocab_ = data::Vocab::build(sents, config_["data"]["min_freq"].get<int64_t>());
    }
    train_ = data::encode(ds_.train, vocab_, ds_.labels, kind_, ds_.feature_dim);
    valid_ = data::encode(ds_.valid, vocab_, ds_.labels, kind_, ds_.feature_dim);
    test_ = data::encode(ds_.test, vocab_, ds_.labels, kind_, ds_.feature_dim);
    if (kind_ == data::TaskKind::Tagging)
      for (const auto& l : ds_.labels) bio_.push_back(l.rfind("B-", 0) == 0 ? 1 : l.rfind("I-", 0) == 0 ? 2 : 0);
    unk_prob_ = config_["data"]["unk_prob"].get<double>();
    unk_token_prob_ = config_["data"]["unk_token_prob"].get<double>();
    unk_token_slots_ = config_["data"]["unk_token_scope"].get<std::string>() == "slots";
    if (!(unk_prob_ >= 0 && unk_prob_ <= 1))
      throw ConfigError("config: data.unk_prob: must be in [0, 1], got " + config_["data"]["unk_prob"].dump());
    if (!(unk_token_prob_ >= 0 && unk_token_prob_ < 1))
      throw ConfigError("config: data.unk_token_prob: must be in [0, 1), got " + config_["data"]["unk_token_prob"].dump());
  }
  // Built after the data, from the seeded generator (run_training seeds it before this call).
  void build() {
    model_ = build_model(config_, kind_, vocab_, ds_.feature_dim, static_cast<int64_t>(ds_.labels.size()));
  }

  nn::Module& module() override { return *model_; }
  std::string describe() const override { return model_->describe(); }
  int64_t num_parameters() const override { return model_->num_parameters(); }
  std::vector<int64_t> train_lengths() const override {
    std::vector<int64_t> l;
    for (const auto& e : train_) l.push_back(e.length);
    return l;
  }
  size_t valid_size() const override { return valid_.size(); }
  size_t test_size() const override { return test_.size(); }

  Tensor batch_loss(const std::vector<int64_t>& batch, uint64_t seed) override {
    data::Batch b = data::collate(train_, batch, kind_, ds_.feature_dim);
    if (ds_.feature_dim == 0) word_dropout(b.ids, b.labels, bio_, unk_prob_, unk_token_prob_, seed, unk_token_slots_);
    Tensor logits = model_->forward_batch(ds_.feature_dim > 0 ? b.features : b.ids, b.lengths);
    return model_->loss(logits, b.labels);
  }
  json evaluate(bool test) override {
    return train::evaluate(*model_, test ? test_ : valid_, ds_.labels, kind_, ds_.feature_dim).to_json();
  }
  std::string score_name() const override { return kind_ == data::TaskKind::Tagging ? "slot_f1" : "accuracy"; }
  json meta() const override {
    return {{"vocab", vocab_.to_json()},       {"labels", ds_.labels},
            {"task", ds_.name},                {"kind", data::task_kind_name(kind_)},
            {"feature_dim", ds_.feature_dim},  {"model", model_->describe()}};
  }
  void flatten(const json& m, const std::string& prefix, json& out) const override { flatten_metrics(m, prefix, out); }
  void finish(const fs::path& dir, json& summary) override {
    // attention pictures of the best model
    json maps = json::array();
    LoadedModel best = load_model(dir / "best.safetensors");
    if (best.model->encoder().has_attention() && ds_.feature_dim == 0) {
      std::vector<std::string> sentences;
      if (ds_.name.rfind("booking", 0) == 0) sentences = {"arrive Taipei on November 2nd", "leave Taipei on November 2nd"};
      else
        for (size_t i = 0; i < ds_.test.size() && sentences.size() < 2; ++i) {
          std::string s;
          for (const auto& t : ds_.test[i].tokens) s += (s.empty() ? "" : " ") + t;
          sentences.push_back(s);
        }
      for (const auto& s : sentences) maps.push_back(write_attention_svg(best, s, dir / "attention").string());
    }
    summary["encoder"] = config_["model"]["encoder"]["type"];
    summary["attention_maps"] = maps;
  }

 private:
  json config_;
  data::Dataset ds_;
  data::TaskKind kind_;
  data::Vocab vocab_;
  std::vector<data::Encoded> train_, valid_, test_;
  std::vector<int> bio_;  // per label: 1 for B-x, 2 for I-x, 0 otherwise (word dropout's spans)
  double unk_prob_ = 0, unk_token_prob_ = 0;
  bool unk_token_slots_ = false;
  std::shared_ptr<models::SequenceModel> model_;
};
}  // namespace

std::unique_ptr<Task> make_tagging_task(const json& config, data::Dataset ds, const json& resume_meta) {
  auto t = std::make_unique<TaggingTask>(config, std::move(ds), resume_meta);
  t->build();
  return t;
}

std::string fmt(double v, int prec) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}
}  // namespace detail

// ==================================================================== training
json run_training(const TrainOptions& options) {
  std::ostream& log = options.log ? *options.log : std::cerr;
  const fs::path dir = options.run_dir;
  const auto wall0 = std::chrono::steady_clock::now();

  // ---- resume or start
  std::optional<io::CheckpointFile> last;
  if (fs::exists(dir)) last = io::latest_checkpoint(dir, kCkptPrefix);
  if (!options.resume && last)
    throw ConfigError("run directory " + dir.string() + " already holds checkpoints (" + last->path.filename().string() +
                      "); pass --resume to continue it, or choose another --run-dir");
  json config = options.config;
  json resume_meta;
  if (options.resume && last) {
    io::Checkpoint peek = io::load_checkpoint(last->path);
    check(peek.meta.contains("user") && peek.meta["user"].contains("config"), "train",
          last->path.string(), " holds no run metadata");
    resume_meta = peek.meta["user"];
    config = resume_meta["config"];
  } else if (options.resume) {
    log << "no checkpoint in " << dir.string() << ": starting a new run\n";
  }
  config = resolve_config(config);
  check_train_config(config["train"]);
  // A run that fails before writing anything (a data or model option found bad while building
  // them) leaves no empty run directory behind: the guard removes the directory it created if an
  // error escapes while it is still empty (fs::remove never deletes a non-empty one).
  struct EmptyDirGuard {
    fs::path dir;
    bool created;
    int uncaught = std::uncaught_exceptions();
    ~EmptyDirGuard() {
      std::error_code ec;
      if (created && std::uncaught_exceptions() > uncaught) fs::remove(dir, ec);
    }
  } empty_dir_guard{dir, !fs::exists(dir)};
  fs::create_directories(dir);

  // ---- data, model (the same draws from the seeded generator on every start)
  const json& tc = config["train"];
  const uint64_t seed = tc["seed"].get<uint64_t>();
  data::Dataset ds;
  try {
    ds = data::load_dataset(config["data"]["dataset"].get<std::string>(), config["data"]);
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    throw ConfigError(std::string("config: data: ") + e.what());
  }
  const std::string task_name = ds.name;
  const int64_t batch_size = tc["batch_size"].get<int64_t>(), epochs = tc["epochs"].get<int64_t>();
  manual_seed(seed);
  std::unique_ptr<detail::Task> task = ds.kind == data::TaskKind::Sequence
                                           ? detail::make_sequence_task(config, std::move(ds), resume_meta)
                                           : detail::make_tagging_task(config, std::move(ds), resume_meta);
  const std::vector<int64_t> lengths = task->train_lengths();
  data::Batcher batcher(static_cast<int64_t>(lengths.size()), lengths, batch_size, tc["bucket_batches"].get<int64_t>());
  const int64_t nb = batcher.num_batches();

  // ---- optimizer, schedule
  nn::Module& model = task->module();
  auto params = model.parameters();
  auto opt = make_optimizer(config["optimizer"], params);
  auto sched = make_scheduler(config["schedule"], *opt, epochs * nb);
  TrainingState st{&model, opt.get(), sched.get(), &default_generator()};

  json user = task->meta();
  user["config"] = config;
  int64_t epoch = 0, batch = 0, best_epoch = -1, bad_evals = 0;
  // best_loss breaks ties of the score: once the metric saturates (exact match 100%), a later epoch
  // with the same score and a lower valid loss is the better model to keep
  double best_score = -1e300, best_loss = std::numeric_limits<double>::infinity(), elapsed_before = 0, loss_sum = 0;
  int64_t loss_count = 0;
  bool done = false;
  if (!resume_meta.is_null()) {
    st.user = json::object();
    load_checkpoint(last->path, st);
    const json& r = st.user["progress"];
    epoch = r["epoch"];
    batch = r["batch"];
    best_epoch = r["best_epoch"];
    bad_evals = r["bad_evals"];
    best_score = r["best_score"];
    best_loss = r.contains("best_loss") && r["best_loss"].is_number() ? r["best_loss"].get<double>() : std::numeric_limits<double>::infinity();
    elapsed_before = r["elapsed"];
    loss_sum = r["loss_sum"];
    loss_count = r["loss_count"];
    done = r["done"];
    truncate_metrics(dir / "metrics.jsonl", st.step);
    truncate_losses(dir / "train_loss.tsv", st.step);
    log << "resuming " << dir.string() << " from step " << st.step << " (epoch " << epoch + 1 << ", batch " << batch
        << "/" << nb << ")\n";
  } else {
    write_json_atomic(dir / "config.json", config);
    std::ofstream(dir / "metrics.jsonl", std::ios::trunc);
    std::ofstream(dir / "train_loss.tsv", std::ios::trunc);
  }
  std::ofstream loss_log(dir / "train_loss.tsv", std::ios::app);
  const std::string curves_title = task_name + ": " + task->describe();

  auto elapsed = [&] { return elapsed_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count(); };
  auto save = [&] {
    json u = user;
    u["progress"] = {{"epoch", epoch},           {"batch", batch},        {"best_epoch", best_epoch},
                     {"bad_evals", bad_evals},   {"best_score", best_score}, {"best_loss", std::isfinite(best_loss) ? json(best_loss) : json(nullptr)}, {"elapsed", elapsed()},
                     {"loss_sum", loss_sum},     {"loss_count", loss_count}, {"done", done}};
    st.user = u;
    save_checkpoint(io::checkpoint_path(dir, kCkptPrefix, st.step), st);
    prune_checkpoints(dir, tc["keep_checkpoints"].get<int64_t>());
  };
  if (!resume_meta.is_null() && last->step != st.step) throw Error("train: checkpoint step mismatch");

  log << "training " << task->describe() << ", " << task->num_parameters() << " parameters, " << lengths.size()
      << " train / " << task->valid_size() << " valid / " << task->test_size() << " test sequences\n";
  const double clip = tc["clip_grad_norm"].get<double>();
  const int64_t ckpt_every = tc["checkpoint_every"].get<int64_t>(), patience = tc["early_stopping_patience"].get<int64_t>();
  const std::string score_name = task->score_name();
  // higher is better inside the loop; a lower-is-better metric (an error rate) is negated
  const double sign = task->higher_is_better() ? 1.0 : -1.0;
  Progress bar(log, options.progress_bar && is_terminal(log));

  // ---- epochs
  while (!done && epoch < epochs) {
    const auto order = batcher.epoch(seed, epoch);
    const auto te0 = std::chrono::steady_clock::now();
    int64_t seqs = 0;
    bar.start("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), nb, batch);
    model.train();
    for (; batch < nb; ++batch) {
      opt->zero_grad();
      Tensor loss = task->batch_loss(order[batch], data::mix_seed(seed, epoch + 1, batch + 1));
      loss.backward();
      if (clip > 0) optim::clip_grad_norm_(params, clip);
      opt->step();
      if (sched) sched->step();
      const double l = loss.item();
      if (!std::isfinite(l)) throw Error("train: loss became " + std::to_string(l) + " at step " + std::to_string(st.step + 1) + " (lower optimizer.lr or set train.clip_grad_norm)");
      const int64_t bs = static_cast<int64_t>(order[batch].size());
      loss_sum += l;
      loss_count += 1;
      loss_log << st.step + 1 << '\t' << l << '\n';
      seqs += bs;
      st.step += 1;
      bar.update(batch + 1, bs, loss_sum / loss_count);
      if (ckpt_every > 0 && st.step % ckpt_every == 0) {
        loss_log.flush();
        batch += 1;  // the checkpoint records this batch as done
        save();
        batch -= 1;
      }
    }
    bar.finish();
    const double epoch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - te0).count();

    // ---- evaluate, early stopping
    json m = task->evaluate(false);
    const double shown = m[score_name].get<double>(), score = sign * shown;
    json rec = {{"epoch", epoch + 1}, {"step", st.step}, {"split", "valid"}, {"train_loss", loss_count ? loss_sum / loss_count : 0.0},
                {"lr", opt->lr()}, {"train_seconds", epoch_s},  // this epoch's steps alone, evaluation excluded
                {"wall_seconds", elapsed()}};
    rec.update(m);
    std::ofstream(dir / "metrics.jsonl", std::ios::app) << rec.dump() << "\n";
    loss_log.flush();
    write_curves(dir, curves_title);
    log << "epoch " << epoch + 1 << "/" << epochs << "  step " << st.step << "  train_loss " << fmt(rec["train_loss"])
        << "  valid_loss " << fmt(m.value("loss", 0.0)) << "  valid_" << score_name << " " << fmt(shown) << "  "
        << (epoch_s > 0 ? static_cast<int64_t>(seqs / epoch_s) : 0) << " seq/s  " << fmt(epoch_s, 1) << "s\n";
    const double vloss = m.value("loss", std::numeric_limits<double>::infinity());
    if (score > best_score || (score == best_score && vloss < best_loss)) {
      best_score = score;
      best_loss = vloss;
      best_epoch = epoch + 1;
      bad_evals = 0;
      TrainingState bs{&model};
      bs.step = st.step;
      bs.user = user;
      bs.user["valid"] = m;
      bs.user["epoch"] = epoch + 1;
      save_checkpoint(dir / "best.safetensors", bs);
    } else if (patience > 0 && ++bad_evals >= patience) {
      log << "early stopping: no better valid_" << score_name << " for " << patience << " evaluations (best "
          << fmt(sign * best_score) << " at epoch " << best_epoch << ")\n";
      done = true;
    }
    epoch += 1;
    batch = 0;
    loss_sum = 0;
    loss_count = 0;
    if (epoch >= epochs) done = true;
    save();
  }

  // ---- test with the best validation model
  {
    TrainingState bs{&model};
    load_checkpoint(dir / "best.safetensors", bs);
  }
  json tm = task->evaluate(true);
  json summary = {{"task", task_name},
                  {"kind", user["kind"]},
                  {"model", task->describe()},
                  {"parameters", task->num_parameters()},
                  {"epochs", epoch},
                  {"best_epoch", best_epoch},
                  {"steps", st.step},
                  {"wall_seconds", elapsed()},
                  {"run_dir", dir.string()},
                  {"valid.best_" + score_name, sign * best_score}};
  task->flatten(tm, "test", summary);
  task->finish(dir, summary);
  summary["curves"] = (dir / "curves.svg").string();
  summary["test"] = tm;
  write_json_atomic(dir / "summary.json", summary);
  return summary;
}

// ==================================================================== loading
LoadedModel load_model(const fs::path& path_in) {
  fs::path path = path_in;
  if (fs::is_directory(path)) {
    if (fs::exists(path / "best.safetensors")) {
      path = path / "best.safetensors";
    } else if (auto last = io::latest_checkpoint(path, kCkptPrefix)) {
      path = last->path;
    } else {
      fail("load_model", "no best.safetensors or checkpoint in ", path.string());
    }
  }
  check(fs::exists(path), "load_model", "no such file: ", path.string());
  io::Checkpoint peek = io::load_checkpoint(path);
  check(peek.meta.contains("user") && peek.meta["user"].contains("config") && peek.meta["user"].contains("labels"),
        "load_model", path.string(), " is not a seqnn run checkpoint (no config/labels in its metadata)");
  LoadedModel m;
  m.meta = peek.meta["user"];
  m.config = resolve_config(m.meta["config"]);
  m.vocab = data::Vocab::from_json(m.meta["vocab"]);
  m.labels = m.meta["labels"].get<std::vector<std::string>>();
  const std::string kind = m.meta["kind"].get<std::string>();
  m.kind = kind == "tagging" ? data::TaskKind::Tagging
           : kind == "sequence" ? data::TaskKind::Sequence
                                : data::TaskKind::Classification;
  m.feature_dim = m.meta.value("feature_dim", int64_t{0});
  if (m.kind == data::TaskKind::Sequence) detail::load_sequence_model(m);
  else m.model = build_model(m.config, m.kind, m.vocab, m.feature_dim, static_cast<int64_t>(m.labels.size()));
  TrainingState st{&m.module()};
  load_checkpoint(path, st);
  m.step = st.step;
  m.module().eval();
  return m;
}

nn::Module& LoadedModel::module() {
  if (seq2seq) return *seq2seq;
  check(model != nullptr, "LoadedModel", "no model loaded");
  return *model;
}

std::vector<std::string> predict(LoadedModel& m, const std::vector<std::string>& tokens) {
  check(m.kind != data::TaskKind::Sequence, "predict", "a sequence model writes text: use predict_sequences");
  check(!tokens.empty(), "predict", "empty sentence");
  check(m.feature_dim == 0, "predict", "this model reads vectors, not tokens");
  NoGradGuard no_grad;
  const int64_t T = static_cast<int64_t>(tokens.size());
  Tensor ids = from_vector(m.vocab.encode(tokens), {1, T});
  Tensor logits = m.model->forward_batch(ids, from_vector(std::vector<int64_t>{T}, {1}));
  const auto pred = argmax(logits, -1).to_vector<int64_t>();
  std::vector<std::string> out;
  for (int64_t p : pred) out.push_back(m.labels[static_cast<size_t>(p)]);
  return out;
}

SentenceAttention sentence_attention(LoadedModel& m, const std::string& sentence) {
  check(m.kind != data::TaskKind::Sequence, "attention", "a sequence model's attention is its alignment: use "
                                                         "predict_sequences with attention on");
  check(m.feature_dim == 0, "attention", "this model reads vectors, not tokens");
  auto& enc = m.model->encoder();
  check(enc.has_attention(), "attention", "the model's encoder (", enc.describe(),
        ") has no attention layers; train one with model.encoder.type transformer or window_attention");
  SentenceAttention out;
  out.tokens = data::tokenize(sentence, false);
  const auto tokens = data::tokenize(sentence, true);
  check(!tokens.empty(), "attention", "empty sentence");
  NoGradGuard no_grad;
  const int64_t T = static_cast<int64_t>(tokens.size());
  m.model->eval();
  enc.set_record_attention(true);
  try {
    m.model->forward_batch(from_vector(m.vocab.encode(tokens), {1, T}), from_vector(std::vector<int64_t>{T}, {1}));
  } catch (...) {
    enc.set_record_attention(false);
    throw;
  }
  enc.set_record_attention(false);
  for (const auto& w : enc.attention_maps()) out.layers.push_back(select(w, 0, 0).contiguous());  // (N,T,T)
  check(!out.layers.empty(), "attention", "the encoder recorded no attention maps");
  return out;
}

fs::path write_attention_svg(LoadedModel& m, const std::string& sentence, const fs::path& dir) {
  SentenceAttention a = sentence_attention(m, sentence);
  std::vector<Heatmap> panels;
  int64_t heads = 1;
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const Tensor w = a.layers[l].to(DType::F64);
    heads = w.size(0);
    const int64_t T = w.size(1);
    const auto v = w.to_vector<double>();
    for (int64_t h = 0; h < heads; ++h)
      panels.push_back({"layer " + std::to_string(l + 1) + ", head " + std::to_string(h + 1), a.tokens, a.tokens,
                        std::vector<double>(v.begin() + h * T * T, v.begin() + (h + 1) * T * T)});
  }
  const fs::path file = dir / (slug(sentence) + ".svg");
  write_text_atomic(file, heatmap_svg(panels, heads, "attention: \"" + sentence + "\" (rows: queries, columns: keys)"));
  return file;
}

std::string format_prediction(LoadedModel& m, const std::string& sentence) {
  const auto shown = data::tokenize(sentence, false);
  const auto tokens = data::input_tokens(m.config["data"], sentence);  // words, or characters (langid)
  check(!tokens.empty(), "predict", "nothing to read in \"", sentence, "\"");
  const auto labels = predict(m, tokens);
  std::string out;
  if (m.kind == data::TaskKind::Tagging) {
    for (size_t i = 0; i < shown.size(); ++i) out += (i ? " " : "") + shown[i] + "/" + labels[i];
  } else {
    out = labels[0];
  }
  return out;
}

}  // namespace seqnn::train
