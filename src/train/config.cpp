// src/train/config.cpp: the config schema, validation against it, and its documentation.
#include "seqnn/train/config.h"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "seqnn/data/dataset.h"
#include "seqnn/models/encoder.h"

namespace seqnn::train {

using nlohmann::json;

// ==================================================================== the schema
namespace {
std::vector<ConfigField> base_fields() {
  return {
      {"data.dataset", "booking",
       "which built-in dataset: booking (ticket-booking slot filling, tagging), booking_intent (the same sentences, "
       "classified by which of origin/destination they name), fashion_mnist (images as rows or patches, classified; "
       "Debian's dataset-fashion-mnist), langid (the language of gettext UI strings, from their characters), "
       "translation (English -> German gettext strings, a sequence task), speech (spoken digit and word sequences "
       "synthesised with espeak-ng, transcribed: a sequence task) or seq_toy (copy / reverse / sort letter strings)",
       {}},
      {"data.train_size", 3000, "booking*, seq_toy: training sentences (booking: cities from the training list)", {}},
      {"data.valid_size", 400, "booking*, seq_toy: validation sentences (booking: a disjoint city list)", {}},
      {"data.test_size", 1000, "booking*, seq_toy: test sentences (booking: a third disjoint city list, never seen in training)", {}},
      {"data.seed", 2024, "booking*, seq_toy: seed of the generator; langid, translation: seed of the catalog split and the caps", {}},
      {"data.min_freq", 1, "tokens seen fewer times in the training split map to <unk>", {}},
      {"data.unk_prob", 0.2,
       "training only, word dropout: for tagging, each labelled span (B-x I-x ...) becomes <unk> ... <unk> with this "
       "probability; for classification, each token; so the model learns to label words it has never seen from their "
       "context",
       {}},
      {"data.unk_token_prob", 0.3,
       "training only, word dropout per token: after unk_prob's spans, each token that unk_token_scope allows (never "
       "padding) becomes <unk> with this probability, so a model also learns multi-word values of which only some "
       "words are unseen (\"las\" + unseen \"vegas\", unseen words + \"city\"). With the default scope slots it "
       "acts on tagging only (booking: test slot F1 0.974 -> 0.999 for the default BiLSTM's seed 2)",
       {}},
      {"data.unk_token_scope", "slots",
       "which tokens unk_token_prob may replace: slots (tagging: only the words of labelled spans, so a run of <unk> "
       "next to a slot value is never an O word; classification has no spans: none) or all (every token, "
       "classification too)",
       {"all", "slots"}},
      {"data.tokenizer", "char",
       "sequence tasks: how source and target text become ids: char (one id per character) or subword (a SentencePiece "
       "model trained on the training text)",
       {"char", "subword"}},
      {"data.vocab_size", 2000, "sequence tasks, tokenizer subword: pieces per vocabulary (source and target each)", {}},
      {"model.kind", "auto",
       "tagger (a label per position, N vs N), classifier (a label per sequence, N vs 1), seq2seq (an encoder-decoder "
       "that writes the target, N vs M), ctc (a label or blank per input position, collapsed by CTC: speech), or auto "
       "(from the dataset: sequence datasets get seq2seq)",
       {"auto", "tagger", "classifier", "seq2seq", "ctc"}},
      {"model.embedding_dim", 64, "size of the token embeddings (or of the projection of vector inputs)", {}},
      {"model.dropout", 0.1, "dropout on the encoder output, training only", {}},
      {"model.pooling", "attention",
       "classifier: how positions become one vector: last (final state), mean (over valid positions), attention (a "
       "learned query, softmax over valid positions)",
       {"last", "mean", "attention"}},
      {"model.encoder.type", "lstm", "the encoder (registered types: see the model.encoder fields)", {}},
      {"model.seq2seq.architecture", "rnn",
       "seq2seq: rnn (model.encoder reads the source, an RNN decoder writes the target) or transformer (nn::Transformer "
       "encoder-decoder with the d_model/nhead/... fields below)",
       {"rnn", "transformer"}},
      {"model.seq2seq.cell", "gru", "seq2seq rnn: decoder cell", {"gru", "lstm", "rnn"}},
      {"model.seq2seq.hidden_size", 128, "seq2seq rnn: decoder hidden size", {}},
      {"model.seq2seq.num_layers", 1, "seq2seq rnn: decoder layers", {}},
      {"model.seq2seq.attention", "bahdanau",
       "seq2seq rnn: none (the context vector c enters every decoder step, seed 002), bahdanau (attention before the "
       "step, its context enters the step) or luong (attention after the step, combined with tanh)",
       {"none", "bahdanau", "luong"}},
      {"model.seq2seq.attention_score", "additive", "seq2seq rnn: the attention's scoring rule",
       {"additive", "dot", "scaled_dot", "general", "concat"}},
      {"model.seq2seq.d_model", 128, "seq2seq transformer: model width", {}},
      {"model.seq2seq.nhead", 4, "seq2seq transformer: attention heads", {}},
      {"model.seq2seq.num_encoder_layers", 2, "seq2seq transformer: encoder layers", {}},
      {"model.seq2seq.num_decoder_layers", 2, "seq2seq transformer: decoder layers", {}},
      {"model.seq2seq.dim_feedforward", 256, "seq2seq transformer: feed-forward width", {}},
      {"model.seq2seq.tie_embeddings", false, "seq2seq transformer: the output layer shares the target embedding", {}},
      {"optimizer.type", "adam", "adam, adamw or sgd (PyTorch's update rules)", {"adam", "adamw", "sgd"}},
      {"optimizer.lr", 0.005, "learning rate (the peak rate when a schedule warms up)", {}},
      {"optimizer.weight_decay", 0.0, "L2 penalty (adam, sgd) or decoupled decay (adamw)", {}},
      {"optimizer.momentum", 0.9, "sgd only: momentum", {}},
      {"schedule.type", "cosine",
       "learning-rate schedule, stepped once per optimizer step: none, cosine (to min_lr over the whole run), step "
       "(x gamma every step_size steps), noam (warmup then 1/sqrt(step), scaled so the peak is lr), linear_warmup "
       "(from lr/warmup_steps up to lr over warmup_steps, then constant)",
       {"none", "cosine", "step", "noam", "linear_warmup"}},
      {"schedule.warmup_steps", 100, "noam, linear_warmup: warmup length in steps", {}},
      {"schedule.step_size", 500, "step: steps between decays", {}},
      {"schedule.gamma", 0.5, "step: decay factor", {}},
      {"schedule.min_lr", 0.0, "cosine: final learning rate", {}},
      {"train.epochs", 5, "passes over the training split", {}},
      {"train.batch_size", 32, "sequences per step (batches group sequences of similar length)", {}},
      {"train.bucket_batches", 50, "length bucketing: sort pools of this many batches by length before cutting", {}},
      {"train.clip_grad_norm", 5.0, "clip the global gradient norm to this value (0: no clipping)", {}},
      {"train.seed", 1, "seed of initialisation, dropout and the data order", {}},
      {"train.early_stopping_patience", 3,
       "stop after this many evaluations without a better validation score (slot F1 for tagging, accuracy for "
       "classification, chrF for translation, exact match for the toy tasks, character error rate for speech; an equal score with a lower validation loss "
       "counts as better); 0: never stop early",
       {}},
      {"train.checkpoint_every", 50, "write a checkpoint every this many steps (and at the end of every epoch); 0: only "
                                     "at epoch ends",
       {}},
      {"train.keep_checkpoints", 2, "how many of the newest step checkpoints to keep in the run directory", {}},
      {"train.teacher_forcing", 1.0,
       "seq2seq rnn: probability that a decoder step reads the gold previous token (else its own previous guess)", {}},
      {"train.label_smoothing", 0.0, "seq2seq: label smoothing of the token cross-entropy (PyTorch's definition)", {}},
      {"train.beam_size", 4, "sequence tasks: beam width of the test decoding (1: greedy); validation decodes greedily", {}},
      {"train.length_penalty", 1.0, "sequence tasks: beam score = log-prob / length^length_penalty", {}},
      {"train.max_length_ratio", 2.0, "seq2seq decoding: at most ratio * source length + 10 target tokens", {}},
      {"train.valid_decode", 500, "sequence tasks: decode at most this many validation examples per evaluation (0: all)", {}},
  };
}

std::vector<ConfigField>& extra_fields() {
  static std::vector<ConfigField> f;
  return f;
}
std::mutex& fields_mutex() {
  static std::mutex m;
  return m;
}

const char* kSections[] = {"data", "model", "model.encoder", "model.seq2seq", "optimizer", "schedule", "train"};

std::string section_of(const std::string& path) { return path.substr(0, path.rfind('.')); }

bool is_integer(const json& j) { return j.is_number_integer() || j.is_number_unsigned(); }

// Does `value` fit the type of `def`? Integers are accepted where a number is expected.
bool type_fits(const json& def, const json& value) {
  if (is_integer(def)) return is_integer(value);
  if (def.is_number_float()) return value.is_number();
  if (def.is_boolean()) return value.is_boolean();
  if (def.is_string()) return value.is_string();
  return def.type() == value.type();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> d(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t prev = d[0];
    d[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cur = d[j];
      d[j] = std::min({d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1)});
      prev = cur;
    }
  }
  return d[b.size()];
}

std::string short_value(const json& j) {
  std::string s = j.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}
}  // namespace

std::string json_type_name(const json& j) {
  if (is_integer(j)) return "integer";
  if (j.is_number_float()) return "number";
  return j.type_name();
}

void register_config_field(ConfigField field) {
  std::lock_guard<std::mutex> lock(fields_mutex());
  auto& f = extra_fields();
  auto it = std::find_if(f.begin(), f.end(), [&](const ConfigField& x) { return x.path == field.path; });
  if (it != f.end()) *it = std::move(field);
  else f.push_back(std::move(field));
}

std::vector<ConfigField> config_fields() {
  std::vector<ConfigField> all = base_fields();
  // model.encoder: the union of every registered encoder's fields (first default wins)
  std::vector<std::string> types;
  for (const auto& spec : models::encoder_specs()) {
    types.push_back(spec.type);
    for (const auto& f : spec.fields) {
      const std::string path = "model.encoder." + f.name;
      auto it = std::find_if(all.begin(), all.end(), [&](const ConfigField& x) { return x.path == path; });
      if (it == all.end()) all.push_back({path, f.default_value, f.doc, {}});
    }
  }
  for (auto& f : all)
    if (f.path == "model.encoder.type") f.choices = types;
  for (auto& f : all)
    if (f.path == "data.dataset") f.choices = data::dataset_names();
  // data.*: each registered dataset's own fields (data/dataset.h)
  for (const auto& f : data::dataset_fields()) {
    const std::string path = "data." + f.name;
    if (std::none_of(all.begin(), all.end(), [&](const ConfigField& x) { return x.path == path; }))
      all.push_back({path, f.default_value, f.doc, f.choices});
  }
  {
    std::lock_guard<std::mutex> lock(fields_mutex());
    for (const auto& e : extra_fields()) {
      auto it = std::find_if(all.begin(), all.end(), [&](const ConfigField& x) { return x.path == e.path; });
      if (it != all.end()) *it = e;
      else all.push_back(e);
    }
  }
  // section order, registration order within a section
  std::vector<ConfigField> out;
  for (const char* s : kSections)
    for (const auto& f : all)
      if (section_of(f.path) == s) out.push_back(f);
  return out;
}

json default_config() {
  json c = json::object();
  for (const auto& f : config_fields()) c[json::json_pointer("/" + [&] {
                                          std::string p = f.path;
                                          std::replace(p.begin(), p.end(), '.', '/');
                                          return p;
                                        }())] = f.default_value;
  return c;
}

// ==================================================================== validation
json resolve_config(const json& user) {
  if (!user.is_object()) throw ConfigError("config: expected a JSON object at the top level, got " + json_type_name(user));
  const auto fields = config_fields();
  std::set<std::string> sections(std::begin(kSections), std::end(kSections));
  std::vector<std::string> known_paths(sections.begin(), sections.end());
  for (const auto& f : fields) known_paths.push_back(f.path);

  json out = default_config();
  // walk the user's tree: every object must be a section, every leaf a field
  std::function<void(const json&, const std::string&)> walk = [&](const json& node, const std::string& prefix) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
      auto f = std::find_if(fields.begin(), fields.end(), [&](const ConfigField& x) { return x.path == path; });
      if (sections.count(path)) {
        if (!it.value().is_object())
          throw ConfigError("config: " + path + ": expected object, got " + json_type_name(it.value()) + " " +
                            short_value(it.value()));
        walk(it.value(), path);
      } else if (f != fields.end()) {
        const json& v = it.value();
        if (!type_fits(f->default_value, v))
          throw ConfigError("config: " + path + ": expected " + json_type_name(f->default_value) + ", got " +
                            json_type_name(v) + " " + short_value(v));
        if (!f->choices.empty() && std::find(f->choices.begin(), f->choices.end(), v.get<std::string>()) == f->choices.end()) {
          std::string list;
          for (const auto& c : f->choices) list += (list.empty() ? "" : ", ") + c;
          throw ConfigError("config: " + path + ": must be one of " + list + ", got " + short_value(v));
        }
        std::string p = path;
        std::replace(p.begin(), p.end(), '.', '/');
        out[json::json_pointer("/" + p)] = f->default_value.is_number_float() ? json(v.get<double>()) : v;
      } else {
        std::string best;
        size_t best_d = 3;
        for (const auto& k : known_paths) {
          size_t d = edit_distance(path, k);
          if (d < best_d) best_d = d, best = k;
        }
        throw ConfigError("config: unknown field " + path + (best.empty() ? "" : " (did you mean " + best + "?)"));
      }
    }
  };
  walk(user, "");
  return out;
}

json load_config_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("config: cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str(), nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    auto p = what.find("parse error");
    throw ConfigError("config: " + path.string() + ": " + (p == std::string::npos ? what : what.substr(p)));
  }
  return resolve_config(j);
}

// ==================================================================== documentation
namespace {
const ConfigField* find_field(const std::vector<ConfigField>& fields, const std::string& path) {
  for (const auto& f : fields)
    if (f.path == path) return &f;
  return nullptr;
}

std::string field_doc(const ConfigField& f) {
  std::string d = f.doc;
  if (!f.choices.empty()) {
    std::string list;
    for (const auto& c : f.choices) list += (list.empty() ? "" : ", ") + c;
    d += " [" + list + "]";
  }
  return d;
}

void print_node(std::ostringstream& os, const nlohmann::ordered_json& node, const std::string& prefix, int indent,
                const std::vector<ConfigField>& fields) {
  const std::string pad(static_cast<size_t>(indent) * 2, ' ');
  os << "{\n";
  size_t i = 0;
  for (auto it = node.begin(); it != node.end(); ++it, ++i) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (const ConfigField* f = find_field(fields, path))
      os << pad << "  // " << field_doc(*f) << " (" << json_type_name(f->default_value) << ", default "
         << f->default_value.dump() << ")\n";
    os << pad << "  " << json(it.key()).dump() << ": ";
    if (it.value().is_object()) print_node(os, it.value(), path, indent + 1, fields);
    else os << it.value().dump();
    os << (i + 1 < node.size() ? ",\n" : "\n");
  }
  os << pad << "}";
}
}  // namespace

std::string print_config(const json& config) {
  std::ostringstream os;
  os << "// seqnn run configuration: every field with its default filled in. Save it, edit it, and\n"
        "// pass it back with `seqnn train --config FILE` (comments are allowed).\n";
  // schema order (sections, then fields as registered), not the alphabetical order of json
  const auto fields = config_fields();
  nlohmann::ordered_json ordered = nlohmann::ordered_json::object();
  for (const auto& f : fields) {
    std::string p = f.path;
    std::replace(p.begin(), p.end(), '.', '/');
    const json::json_pointer ptr("/" + p);
    if (config.contains(ptr)) ordered[nlohmann::ordered_json::json_pointer("/" + p)] = config.at(ptr);
  }
  print_node(os, ordered, "", 0, fields);
  os << "\n";
  return os.str();
}

std::string config_markdown() {
  std::ostringstream os;
  os << "# seqnn run configuration\n\n"
        "`seqnn train --config FILE` reads a JSON file (// comments allowed) with any subset of the fields\n"
        "below; every field left out takes its default. `seqnn train --print-config` prints the full default\n"
        "config with these descriptions as comments. Unknown fields and wrong types are rejected with the\n"
        "field's dotted path (`config: unknown field model.encodr (did you mean model.encoder?)`,\n"
        "`config: train.epochs: expected integer, got string \"5\"`), and `seqnn` exits with status 2.\n\n"
        "This file is generated from the schema in `src/train/config.cpp` (the encoders' fields come from\n"
        "their registration, `include/seqnn/models/encoder.h`); `test_pipeline` checks that it is current.\n";
  const auto fields = config_fields();
  for (const char* s : kSections) {
    os << "\n## " << s << "\n\n| field | type | default | description |\n|---|---|---|---|\n";
    for (const auto& f : fields)
      if (section_of(f.path) == s) {
        std::string doc = field_doc(f);
        os << "| `" << f.path << "` | " << json_type_name(f.default_value) << " | `" << f.default_value.dump() << "` | "
           << doc << " |\n";
      }
  }
  os << "\n## Encoder types (`model.encoder.type`)\n\n";
  for (const auto& spec : models::encoder_specs()) {
    os << "- `" << spec.type << "`: " << spec.doc << "; fields:";
    for (const auto& f : spec.fields) os << " `" << f.name << "`";
    os << "\n";
  }
  return os.str();
}

}  // namespace seqnn::train
