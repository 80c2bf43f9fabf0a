// Tests for data/speech.h: the espeak-ng runner, the speech dataset (determinism, held-out
// voices, transcripts, shapes), its errors (espeak-ng missing, bad voices and options) and its
// cache (round trip, the cache really being read, corrupt files). Small sizes: ~20 utterances
// a dataset, a few seconds in all.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/check.h"
#include "seqnn/data/dataset.h"
#include "seqnn/data/speech.h"
#include "seqnn/error.h"
#include "seqnn/io/safetensors.h"
#include "seqnn/threads.h"

using namespace seqnn;
using namespace seqnn::data;
using seqnn::testutil::error_of;
using seqnn::testutil::expect_error;

namespace {

SpeechOptions small() {
  SpeechOptions o;
  o.train_size = 8;
  o.valid_size = 4;
  o.test_size = 8;
  o.max_words = 3;
  o.train_voices = {"en-us+m1", "en-gb+f3"};
  o.test_voices = {"en-us+m7", "en-gb+f4"};
  o.cache_dir = "";
  o.seed = 5;
  return o;
}

std::vector<std::string> words_of(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

void expect_same(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.train.size(), b.train.size());
  ASSERT_EQ(a.valid.size(), b.valid.size());
  ASSERT_EQ(a.test.size(), b.test.size());
  auto same = [](const std::vector<Example>& x, const std::vector<Example>& y) {
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].target, y[i].target) << i;
      EXPECT_EQ(x[i].group, y[i].group) << i;
      EXPECT_EQ(x[i].features, y[i].features) << i;
    }
  };
  same(a.train, b.train);
  same(a.valid, b.valid);
  same(a.test, b.test);
}

}  // namespace

// ==================================================================== espeak-ng

TEST(Speech, SynthesizeReadsEspeakThroughAPipe) {
  const Wav w = synthesize("three one four", "en-us", 160, 50);
  EXPECT_EQ(w.sample_rate, 22050);
  EXPECT_GT(w.samples.size(), 22050u / 2);  // three words: over half a second
  float peak = 0;
  for (float x : w.samples) peak = std::max(peak, std::fabs(x));
  EXPECT_GT(peak, 0.05f);
  // slower speech is longer
  EXPECT_GT(synthesize("three one four", "en-us", 100, 50).samples.size(), w.samples.size());
  // features as the dataset computes them
  SpeechOptions o;
  int64_t frames = 0;
  const auto f = speech_features(w, o, &frames);
  EXPECT_EQ(frames, num_frames(static_cast<int64_t>(w.samples.size()), o.features, 22050));
  EXPECT_EQ(f.size(), static_cast<size_t>(frames * 40));
  // text that looks like an option is spoken, not parsed
  EXPECT_GT(synthesize("-v", "en-us", 160, 50).samples.size(), 0u);
}

TEST(Speech, MissingEspeakSaysHowToInstallIt) {
  EXPECT_EQ(error_of([] { synthesize("one", "en-us", 160, 50, "seqnn-no-such-espeak"); }),
            "speech: seqnn-no-such-espeak not found on PATH; install it with: apt-get install espeak-ng");
  SpeechOptions o = small();
  o.espeak = "seqnn-no-such-espeak";
  EXPECT_EQ(error_of([&] { make_speech(o); }),
            "speech: seqnn-no-such-espeak not found on PATH; install it with: apt-get install espeak-ng");
  o.espeak = "/nonexistent/espeak-ng";
  expect_error([&] { make_speech(o); }, "speech", "/nonexistent/espeak-ng not found");
  expect_error([&] { make_speech(o); }, "speech", "install it with: apt-get install espeak-ng");
  // the default name, with PATH emptied of it
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  setenv("PATH", "/nonexistent-dir", 1);
  const std::string msg = error_of([] { make_speech(small()); });
  setenv("PATH", saved.c_str(), 1);
  EXPECT_EQ(msg, "speech: espeak-ng not found on PATH; install it with: apt-get install espeak-ng");
}

TEST(Speech, BadVoicesAndOptions) {
  SpeechOptions o = small();
  o.test_voices = {"en-us+m7", "en-us+m1"};
  expect_error([&] { make_speech(o); }, "speech",
               "voice \"en-us+m1\" is in both train_voices and test_voices; the test voices must be held out");
  o = small();
  o.train_voices = {"en-us+zz9"};  // espeak-ng would silently fall back to its default voice
  expect_error([&] { make_speech(o); }, "speech", "voice \"en-us+zz9\": variant \"zz9\" is not among espeak-ng's variants");
  expect_error([] { synthesize("one", "xx-bogus", 160, 50); }, "speech", "espeak-ng -v xx-bogus failed");
  o = small();
  o.train_voices = {"-en"};
  expect_error([&] { make_speech(o); }, "speech", "voice \"-en\" is not an espeak-ng voice name");
  o = small();
  o.train_voices.clear();
  expect_error([&] { make_speech(o); }, "speech", "train_voices is empty");
  o = small();
  o.vocabulary = "letters";
  expect_error([&] { make_speech(o); }, "speech", "vocabulary \"letters\" is not one of digits, words, both");
  o = small();
  o.min_words = 4;
  expect_error([&] { make_speech(o); }, "speech", "1 <= min_words <= max_words <= 50, got 4..3");
  o = small();
  o.max_pitch = 100;
  expect_error([&] { make_speech(o); }, "speech", "0 <= min_pitch <= max_pitch <= 99, got 30..100");
  o = small();
  o.min_speed = 50;
  expect_error([&] { make_speech(o); }, "speech", "80 <= min_speed <= max_speed <= 450");
  o = small();
  o.train_size = 0;
  expect_error([&] { make_speech(o); }, "speech", "train_size must be in 1..");
  expect_error([] { parse_voice_list("en-us,,en-gb", "data.speech_train_voices"); }, "speech",
               "data.speech_train_voices \"en-us,,en-gb\" has an empty item");
  expect_error([] { parse_voice_list("en-us, en-us", "f"); }, "speech", "voice \"en-us\" appears twice");
  EXPECT_EQ(parse_voice_list(" en-us+m1 ,en-gb", "f"), (std::vector<std::string>{"en-us+m1", "en-gb"}));
}

// ==================================================================== the dataset

TEST(Speech, DatasetShapesVoicesTranscriptsAndDeterminism) {
  const SpeechOptions o = small();
  const int saved_threads = num_threads();
  set_num_threads(1);  // 2 espeak threads
  const Dataset a = make_speech(o);
  set_num_threads(8);  // 8 espeak threads: the same data
  const Dataset b = make_speech(o);
  set_num_threads(saved_threads);
  expect_same(a, b);

  EXPECT_EQ(a.name, "speech");
  EXPECT_EQ(a.kind, TaskKind::Sequence);
  EXPECT_EQ(a.feature_dim, 40);
  ASSERT_EQ(a.train.size(), 8u);
  ASSERT_EQ(a.valid.size(), 4u);
  ASSERT_EQ(a.test.size(), 8u);
  const auto vocab = speech_vocabulary("digits");
  const std::set<std::string> train_voices(o.train_voices.begin(), o.train_voices.end());
  const std::set<std::string> test_voices(o.test_voices.begin(), o.test_voices.end());
  std::set<std::string> seen_test;
  int split = 0;
  for (const auto* part : {&a.train, &a.valid, &a.test}) {
    for (const auto& e : *part) {
      const auto w = words_of(e.target);
      EXPECT_GE(w.size(), 1u);
      EXPECT_LE(w.size(), 3u);
      std::string joined;
      for (const auto& x : w) {
        EXPECT_NE(std::find(vocab.begin(), vocab.end(), x), vocab.end()) << x;
        joined += (joined.empty() ? "" : " ") + x;
      }
      EXPECT_EQ(joined, e.target);  // lowercase words, single spaces
      // held-out voices only in test, training voices only in train/valid
      if (split == 2) {
        EXPECT_TRUE(test_voices.count(e.group)) << e.group;
        seen_test.insert(e.group);
      } else {
        EXPECT_TRUE(train_voices.count(e.group)) << e.group;
      }
      EXPECT_EQ(e.feature_dim, 40);
      ASSERT_EQ(e.features.size() % 40, 0u);
      const int64_t frames = e.length();
      // ~0.3 s or more per word at <= 200 wpm; a 10 ms shift: >= 25 frames a word, < 150 frames a word
      EXPECT_GE(frames, 25 * static_cast<int64_t>(w.size())) << e.target;
      EXPECT_LE(frames, 150 * static_cast<int64_t>(w.size()) + 100) << e.target;
      // normalised: every mel bin has mean ~0 over the utterance
      for (int j = 0; j < 40; ++j) {
        double m = 0;
        for (int64_t t = 0; t < frames; ++t) m += e.features[t * 40 + j];
        EXPECT_NEAR(m / frames, 0.0, 1e-4);
      }
      for (float x : e.features) ASSERT_TRUE(std::isfinite(x));
    }
    ++split;
  }
  EXPECT_EQ(seen_test, test_voices);  // round-robin: every test voice speaks
  // another seed: other utterances
  SpeechOptions o2 = o;
  o2.seed = 6;
  o2.valid_size = 0, o2.test_size = 0;
  const Dataset c = make_speech(o2);
  int differ = 0;
  for (size_t i = 0; i < c.train.size(); ++i) differ += c.train[i].target != a.train[i].target;
  EXPECT_GT(differ, 0);
}

TEST(Speech, WordsVocabularyAndRegistry) {
  EXPECT_EQ(speech_vocabulary("digits").size(), 11u);
  EXPECT_EQ(speech_vocabulary("words").size(), 30u);
  EXPECT_EQ(speech_vocabulary("both").size(), 41u);
  const auto names = dataset_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "speech"), names.end());
  std::set<std::string> fields;
  for (const auto& f : dataset_fields()) fields.insert(f.name);
  for (const char* f : {"speech_vocabulary", "speech_train_size", "speech_test_voices", "speech_cache_dir", "speech_seed"})
    EXPECT_TRUE(fields.count(f)) << f;
  const nlohmann::json c = {{"speech_vocabulary", "words"}, {"speech_train_size", 4}, {"speech_valid_size", 0},
                            {"speech_test_size", 2}, {"speech_max_words", 2}, {"speech_cache_dir", ""},
                            {"speech_train_voices", "en-us+m2"}, {"speech_test_voices", "en-gb+m6"},
                            {"speech_n_mels", 24}, {"speech_seed", 3}};
  const Dataset d = load_dataset("speech", c);
  EXPECT_EQ(d.feature_dim, 24);
  ASSERT_EQ(d.train.size(), 4u);
  ASSERT_EQ(d.test.size(), 2u);
  const auto words = speech_vocabulary("words");
  for (const auto& e : d.train) {
    EXPECT_EQ(e.group, "en-us+m2");
    for (const auto& w : words_of(e.target)) EXPECT_NE(std::find(words.begin(), words.end(), w), words.end()) << w;
  }
  for (const auto& e : d.test) EXPECT_EQ(e.group, "en-gb+m6");
}

// ==================================================================== the cache

TEST(Speech, CacheRoundTripAndCorruptFiles) {
  SpeechOptions o = small();
  o.cache_dir = (testutil::scratch_dir("speech", "cache") / "nested" / "dir").string();
  const std::string path = speech_cache_path(o);
  EXPECT_EQ(std::filesystem::path(path).parent_path().string(), o.cache_dir);
  EXPECT_EQ(std::filesystem::path(path).filename().string().rfind("speech-", 0), 0u);
  EXPECT_FALSE(std::filesystem::exists(path));
  const Dataset fresh = make_speech(o);
  ASSERT_TRUE(std::filesystem::exists(path));
  for (const auto& e : std::filesystem::directory_iterator(o.cache_dir))  // no temp file left
    EXPECT_EQ(e.path().string(), path);
  const Dataset cached = make_speech(o);
  expect_same(fresh, cached);
  {  // uncached equals cached
    SpeechOptions u = o;
    u.cache_dir = "";
    expect_same(fresh, make_speech(u));
  }
  // Other options, another file.
  SpeechOptions o2 = o;
  o2.features.n_mels = 20;
  EXPECT_NE(speech_cache_path(o2), path);

  // The cache really is read: rewrite it with doubled features (same metadata).
  io::Safetensors st = io::load_safetensors(path);
  {
    std::vector<float> f = st.tensors.at("features").to_vector<float>();
    for (auto& x : f) x *= 2;
    io::TensorMap m = st.tensors;
    m["features"] = from_vector(f, st.tensors.at("features").shape());
    io::save_safetensors(path, m, st.metadata);
    const Dataset doubled = make_speech(o);
    ASSERT_EQ(doubled.train[0].features.size(), fresh.train[0].features.size());
    for (size_t i = 0; i < fresh.train[0].features.size(); ++i)
      ASSERT_EQ(doubled.train[0].features[i], 2 * fresh.train[0].features[i]);
  }
  auto expect_corrupt = [&](const std::string& part) {
    const std::string msg = error_of([&] { make_speech(o); });
    EXPECT_EQ(msg.rfind("speech: cache file '" + path + "' is corrupt or stale: ", 0), 0u) << msg;
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_NE(msg.find("delete it to regenerate the data"), std::string::npos) << msg;
  };
  // truncated: the safetensors reader's error, named
  {
    const std::string bytes = [&] {
      std::ifstream in(path, std::ios::binary);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }();
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    expect_corrupt("safetensors: " + path);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a safetensors file";
    expect_corrupt("safetensors");
  }
  // frame counts that do not add up to the feature rows
  {
    io::TensorMap m = st.tensors;
    std::vector<int64_t> fr = m["frames"].to_vector<int64_t>();
    fr[3] += 1;
    m["frames"] = from_vector(fr, {static_cast<int64_t>(fr.size())});
    io::save_safetensors(path, m, st.metadata);
    expect_corrupt("frames");
  }
  // a wrong feature width
  {
    io::TensorMap m = st.tensors;
    m["features"] = from_vector(std::vector<float>(static_cast<size_t>(m["features"].shape()[0]) * 20, 0.0f),
                                {m["features"].shape()[0], 20});
    io::save_safetensors(path, m, st.metadata);
    expect_corrupt("'features' is (");
  }
  // transcripts that are not what the options draw
  {
    io::StringMap meta = st.metadata;
    nlohmann::json t = nlohmann::json::parse(meta["targets"]);
    t[0] = "nine nine nine nine";
    meta["targets"] = t.dump();
    io::save_safetensors(path, st.tensors, meta);
    expect_corrupt("utterance 0 does not match");
    meta["targets"] = "[1, 2";
    io::save_safetensors(path, st.tensors, meta);
    expect_corrupt("not JSON");
  }
  // another key (a file renamed onto this one), NaN features, a missing tensor
  {
    io::StringMap meta = st.metadata;
    meta["key"] = "0123456789abcdef";
    io::save_safetensors(path, st.tensors, meta);
    expect_corrupt("key 0123456789abcdef does not match");
    io::TensorMap m = st.tensors;
    std::vector<float> f = m["features"].to_vector<float>();
    f[7] = NAN;
    m["features"] = from_vector(f, m["features"].shape());
    io::save_safetensors(path, m, st.metadata);
    expect_corrupt("non-finite features");
    m = st.tensors;
    m.erase("frames");
    io::save_safetensors(path, m, st.metadata);
    expect_corrupt("expected exactly the tensors 'features' and 'frames'");
  }
  // deleting it regenerates
  std::filesystem::remove(path);
  expect_same(fresh, make_speech(o));
}
