// src/data/dataset.cpp: the dataset registry.
#include "seqnn/data/dataset.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "seqnn/data/booking.h"
#include "seqnn/data/fashion_mnist.h"
#include "seqnn/data/langid.h"
#include "seqnn/data/speech.h"
#include "seqnn/data/translation.h"
#include "seqnn/data/seq_toy.h"
#include "seqnn/data/vocab.h"
#include "seqnn/error.h"

namespace seqnn::data {

const char* task_kind_name(TaskKind k) {
  switch (k) {
    case TaskKind::Tagging: return "tagging";
    case TaskKind::Classification: return "classification";
    case TaskKind::Sequence: return "sequence";
  }
  return "?";
}

int64_t Example::length() const {
  if (feature_dim > 0) return static_cast<int64_t>(features.size()) / feature_dim;
  if (tokens.empty() && !source.empty()) return static_cast<int64_t>(source.size());
  return static_cast<int64_t>(tokens.size());
}

// ==================================================================== registry
namespace {
BookingOptions booking_options(const nlohmann::json& c) {
  BookingOptions o;
  if (c.contains("train_size")) o.train_size = c["train_size"].get<int64_t>();
  if (c.contains("valid_size")) o.valid_size = c["valid_size"].get<int64_t>();
  if (c.contains("test_size")) o.test_size = c["test_size"].get<int64_t>();
  if (c.contains("seed")) o.seed = c["seed"].get<uint64_t>();
  return o;
}

// Reads data.<key> when present (the trainer passes the resolved section, so it always is).
template <class T>
void read(const nlohmann::json& c, const char* key, T& out) {
  if (c.contains(key)) out = c[key].get<T>();
}

FashionMnistOptions fashion_options(const nlohmann::json& c) {
  FashionMnistOptions o;
  read(c, "fashion_dir", o.dir);
  read(c, "view", o.view);
  read(c, "patch_size", o.patch_size);
  read(c, "fashion_valid", o.valid_size);
  read(c, "max_train", o.max_train);
  read(c, "max_test", o.max_test);
  return o;
}

LangIdOptions langid_options(const nlohmann::json& c) {
  LangIdOptions o;
  read(c, "locale_dir", o.locale_dir);
  if (c.contains("languages")) o.languages = parse_language_list(c["languages"].get<std::string>());
  read(c, "langid_test_fraction", o.test_fraction);
  read(c, "langid_valid_fraction", o.valid_fraction);
  read(c, "max_per_language", o.max_per_language);
  read(c, "langid_max_chars", o.max_chars);
  read(c, "langid_min_letters", o.min_letters);
  read(c, "seed", o.seed);
  return o;
}

// data.speech_cache_dir: "auto" is SpeechOptions::default_cache_dir() (machine-dependent, so not
// the field's default text), "" is no cache.
SpeechOptions speech_options(const nlohmann::json& c) {
  SpeechOptions o;
  read(c, "speech_vocabulary", o.vocabulary);
  read(c, "speech_min_words", o.min_words);
  read(c, "speech_max_words", o.max_words);
  read(c, "speech_train_size", o.train_size);
  read(c, "speech_valid_size", o.valid_size);
  read(c, "speech_test_size", o.test_size);
  if (c.contains("speech_train_voices"))
    o.train_voices = parse_voice_list(c["speech_train_voices"].get<std::string>(), "data.speech_train_voices");
  if (c.contains("speech_test_voices"))
    o.test_voices = parse_voice_list(c["speech_test_voices"].get<std::string>(), "data.speech_test_voices");
  read(c, "speech_min_speed", o.min_speed);
  read(c, "speech_max_speed", o.max_speed);
  read(c, "speech_min_pitch", o.min_pitch);
  read(c, "speech_max_pitch", o.max_pitch);
  read(c, "speech_n_mels", o.features.n_mels);
  read(c, "speech_frame_ms", o.features.frame_ms);
  read(c, "speech_shift_ms", o.features.shift_ms);
  read(c, "speech_normalize", o.normalize);
  if (c.contains("speech_cache_dir")) {
    const std::string dir = c["speech_cache_dir"].get<std::string>();
    o.cache_dir = dir == "auto" ? SpeechOptions::default_cache_dir() : dir;
  }
  read(c, "speech_seed", o.seed);
  read(c, "speech_espeak", o.espeak);
  return o;
}

std::vector<DatasetField> speech_fields() {
  const SpeechOptions d;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  return {
      {"speech_vocabulary", d.vocabulary,
       "speech: the spoken words: digits (zero..nine, oh), words (30 short common words) or both",
       {"digits", "words", "both"}},
      {"speech_min_words", d.min_words, "speech: fewest words in an utterance", {}},
      {"speech_max_words", d.max_words, "speech: most words in an utterance", {}},
      {"speech_train_size", d.train_size, "speech: training utterances (spoken by the training voices)", {}},
      {"speech_valid_size", d.valid_size, "speech: validation utterances (training voices, other utterances)", {}},
      {"speech_test_size", d.test_size, "speech: test utterances, spoken only by the held-out test voices", {}},
      {"speech_train_voices", join(d.train_voices),
       "speech: comma-separated espeak-ng voices language[+variant] for train and valid "
       "(espeak-ng --voices=en, --voices=variant)",
       {}},
      {"speech_test_voices", join(d.test_voices),
       "speech: comma-separated held-out voices for the test split (none may be a training voice)", {}},
      {"speech_min_speed", d.min_speed, "speech: slowest speaking rate, words per minute (uniform per utterance)", {}},
      {"speech_max_speed", d.max_speed, "speech: fastest speaking rate, words per minute", {}},
      {"speech_min_pitch", d.min_pitch, "speech: lowest espeak-ng pitch, 0..99 (uniform per utterance)", {}},
      {"speech_max_pitch", d.max_pitch, "speech: highest espeak-ng pitch, 0..99", {}},
      {"speech_n_mels", d.features.n_mels, "speech: log-mel filterbank channels = the feature dimension", {}},
      {"speech_frame_ms", d.features.frame_ms, "speech: frame (window) length in ms", {}},
      {"speech_shift_ms", d.features.shift_ms, "speech: frame shift in ms (10: 100 frames a second)", {}},
      {"speech_normalize", d.normalize,
       "speech: per-utterance mean and variance normalisation of each mel channel", {}},
      {"speech_cache_dir", "auto",
       "speech: where generated features are cached (auto: $XDG_CACHE_HOME/seqnn/speech or "
       "~/.cache/seqnn/speech; empty: no cache)",
       {}},
      {"speech_seed", d.seed, "speech: seed of the utterances (words, voice order, speed, pitch)", {}},
      {"speech_espeak", d.espeak, "speech: the espeak-ng program (a name searched on PATH, or a path)", {}},
  };
}

TranslationOptions translation_options(const nlohmann::json& c) {
  TranslationOptions o;
  read(c, "locale_dir", o.locale_dir);
  read(c, "translation_language", o.language);
  read(c, "translation_max_chars", o.max_chars);
  read(c, "translation_min_chars", o.min_chars);
  read(c, "translation_test_fraction", o.test_fraction);
  read(c, "translation_valid_fraction", o.valid_fraction);
  read(c, "translation_max_pairs", o.max_pairs);
  read(c, "seed", o.seed);
  return o;
}

SeqToyOptions seq_toy_options(const nlohmann::json& c) {
  SeqToyOptions o;
  read(c, "seq_task", o.task);
  read(c, "seq_alphabet", o.alphabet);
  read(c, "seq_min_length", o.min_length);
  read(c, "seq_max_length", o.max_length);
  read(c, "train_size", o.train_size);
  read(c, "valid_size", o.valid_size);
  read(c, "test_size", o.test_size);
  read(c, "seed", o.seed);
  return o;
}

std::vector<DatasetField> seq_toy_fields() {
  const SeqToyOptions d;
  return {
      {"seq_task", d.task, "seq_toy: copy, reverse or sort a random letter string (sizes from train_size/valid_size/test_size)",
       {"copy", "reverse", "sort"}},
      {"seq_alphabet", d.alphabet, "seq_toy: letters used (the first n of a..z)", {}},
      {"seq_min_length", d.min_length, "seq_toy: shortest source", {}},
      {"seq_max_length", d.max_length, "seq_toy: longest source", {}},
  };
}

std::vector<DatasetField> fashion_fields() {
  const FashionMnistOptions d;
  return {
      {"fashion_dir", d.dir, "fashion_mnist: directory of the IDX files (Debian's dataset-fashion-mnist)", {}},
      {"view", d.view,
       "fashion_mnist: an image as rows (28 vectors of 28 pixels) or patches (non-overlapping patch_size^2 patches, "
       "ViT style: 49 vectors of 16 for 4x4)",
       {"rows", "patches"}},
      {"patch_size", d.patch_size, "fashion_mnist, view patches: patch side (must divide 28)", {}},
      {"fashion_valid", d.valid_size, "fashion_mnist: validation images, taken from the end of the training file", {}},
      {"max_train", d.max_train, "fashion_mnist: > 0 keeps only the first max_train training images", {}},
      {"max_test", d.max_test, "fashion_mnist: > 0 keeps only the first max_test test images", {}},
  };
}

std::vector<DatasetField> langid_fields() {
  const LangIdOptions d;
  std::string langs;
  for (const auto& l : d.languages) langs += (langs.empty() ? "" : ",") + l;
  return {
      {"locale_dir", d.locale_dir, "langid: where the gettext catalogs are (<dir>/<lang>/LC_MESSAGES/*.mo)", {}},
      {"languages", langs, "langid: comma-separated language directories, one class each", {}},
      {"langid_test_fraction", d.test_fraction,
       "langid: fraction of programs (catalog families) whose strings form the test split", {}},
      {"langid_valid_fraction", d.valid_fraction, "langid: fraction of programs for the validation split", {}},
      {"max_per_language", d.max_per_language,
       "langid: at most this many training strings per language (valid, test: a quarter of it)", {}},
      {"langid_max_chars", d.max_chars, "langid: strings are cut to this many characters", {}},
      {"langid_min_letters", d.min_letters, "langid: strings with fewer letters are dropped", {}},
  };
}

std::vector<DatasetField> translation_fields() {
  const TranslationOptions d;
  return {
      {"locale_dir", d.locale_dir, "langid, translation: where the gettext catalogs are (<dir>/<lang>/LC_MESSAGES/*.mo)",
       {}},
      {"translation_language", d.language,
       "translation: the target language's catalog directory (English msgid -> its msgstr)", {}},
      {"translation_max_chars", d.max_chars, "translation: pairs with a longer source or target (code points) are dropped",
       {}},
      {"translation_min_chars", d.min_chars, "translation: pairs with a shorter source or target are dropped", {}},
      {"translation_test_fraction", d.test_fraction,
       "translation: fraction of catalog files (a seeded choice) whose pairs form the test split", {}},
      {"translation_valid_fraction", d.valid_fraction, "translation: fraction of catalog files for validation", {}},
      {"translation_max_pairs", d.max_pairs,
       "translation: > 0 keeps a seeded choice of this many training pairs (valid/test cut by the same ratio)", {}},
  };
}

struct Entry {
  DatasetFactory factory;
  std::vector<DatasetField> fields;
};

std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r = {
      {"booking", {[](const nlohmann::json& c) { return make_booking(booking_options(c)); }, {}}},
      {"booking_intent", {[](const nlohmann::json& c) { return make_booking_intent(booking_options(c)); }, {}}},
      {"fashion_mnist", {[](const nlohmann::json& c) { return make_fashion_mnist(fashion_options(c)); },
                         fashion_fields()}},
      {"langid", {[](const nlohmann::json& c) { return make_langid(langid_options(c)); }, langid_fields()}},
      {"speech", {[](const nlohmann::json& c) { return make_speech(speech_options(c)); }, speech_fields()}},
      {"translation", {[](const nlohmann::json& c) { return make_translation(translation_options(c)); },
                       translation_fields()}},
      {"seq_toy", {[](const nlohmann::json& c) { return make_seq_toy(seq_toy_options(c)); }, seq_toy_fields()}},
  };
  return r;
}
// registration order of the fields (the map is sorted by name)
std::vector<std::string>& field_order() {
  static std::vector<std::string> o = {"fashion_mnist", "langid", "speech", "translation", "seq_toy"};
  return o;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

SpeechOptions speech_options_from_config(const nlohmann::json& data_config) { return speech_options(data_config); }

void register_dataset(const std::string& name, DatasetFactory factory, std::vector<DatasetField> fields) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[name] = {std::move(factory), std::move(fields)};
  auto& order = field_order();
  if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
}

std::vector<DatasetField> dataset_fields() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<DatasetField> out;
  for (const auto& name : field_order()) {
    auto it = registry().find(name);
    if (it == registry().end()) continue;
    for (const auto& f : it->second.fields)
      if (std::none_of(out.begin(), out.end(), [&](const DatasetField& x) { return x.name == f.name; }))
        out.push_back(f);
  }
  return out;
}

std::vector<std::string> dataset_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> out;
  for (const auto& [k, v] : registry()) out.push_back(k);
  return out;
}

std::vector<std::string> input_tokens(const nlohmann::json& data_config, const std::string& text) {
  if (data_config.value("dataset", std::string()) == "langid") {
    std::vector<std::string> chars = utf8_chars(clean_ui_string(text));
    const int64_t max_chars = data_config.value("langid_max_chars", LangIdOptions{}.max_chars);
    if (static_cast<int64_t>(chars.size()) > max_chars) chars.resize(static_cast<size_t>(max_chars));
    return chars;
  }
  return tokenize(text, true);
}

Dataset load_dataset(const std::string& name, const nlohmann::json& data_config) {
  DatasetFactory f;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(name);
    if (it != registry().end()) f = it->second.factory;
  }
  if (!f) {
    std::string known;
    for (const auto& n : dataset_names()) known += (known.empty() ? "" : ", ") + n;
    fail("dataset", "unknown dataset \"", name, "\" (known: ", known, ")");
  }
  Dataset d = f(data_config);
  check(!d.train.empty(), "dataset", name, ": empty training split");
  return d;
}

}  // namespace seqnn::data
