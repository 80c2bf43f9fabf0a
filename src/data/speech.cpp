// src/data/speech.cpp: the speech dataset (eSpeak NG utterances -> log-mel features), its
// espeak-ng runner and its cache. See include/seqnn/data/speech.h.
#include "seqnn/data/speech.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "seqnn/error.h"
#include "seqnn/io/safetensors.h"
#include "seqnn/tensor.h"
#include "seqnn/threads.h"

extern char** environ;

namespace seqnn::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kOp = "speech";
constexpr const char* kInstall = "install it with: apt-get install espeak-ng";
constexpr const char* kCacheFormat = "seqnn-speech-cache-1";
}  // namespace

// ==================================================================== vocabularies

std::vector<std::string> speech_vocabulary(const std::string& name) {
  static const std::vector<std::string> digits = {"zero", "one", "two",   "three", "four", "five",
                                                  "six",  "seven", "eight", "nine",  "oh"};
  // Short, common, acoustically distinct words (in the spirit of the Speech Commands list).
  static const std::vector<std::string> words = {
      "yes", "no",    "up",   "down", "left",  "right", "on",    "off",  "stop",  "go",
      "red", "green", "blue", "black", "white", "cat",  "dog",   "house", "tree", "bird",
      "sun", "moon",  "day",  "night", "open",  "close", "hot",  "cold",  "big",  "small"};
  if (name == "digits") return digits;
  if (name == "words") return words;
  if (name == "both") {
    std::vector<std::string> v = digits;
    v.insert(v.end(), words.begin(), words.end());
    return v;
  }
  fail(kOp, "vocabulary \"", name, "\" is not one of digits, words, both");
}

std::vector<std::string> parse_voice_list(const std::string& list, const std::string& field) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    const size_t a = cur.find_first_not_of(" \t"), b = cur.find_last_not_of(" \t");
    std::string item = a == std::string::npos ? "" : cur.substr(a, b - a + 1);
    check(!item.empty(), kOp, field, " \"", list, "\" has an empty item (expected e.g. \"en-us+m1,en-gb+f2\")");
    check(std::find(out.begin(), out.end(), item) == out.end(), kOp, field, ": voice \"", item, "\" appears twice");
    out.push_back(item);
    cur.clear();
  };
  for (char ch : list) {
    if (ch == ',') flush();
    else cur += ch;
  }
  flush();
  return out;
}

std::string SpeechOptions::default_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return (fs::path(xdg) / "seqnn" / "speech").string();
  const char* home = std::getenv("HOME");
  if (home && *home) return (fs::path(home) / ".cache" / "seqnn" / "speech").string();
  return "";
}

// ==================================================================== running espeak-ng

namespace {

struct ProcResult {
  int status = -1;  // exit code, or -1 when killed by a signal
  std::string out, err;
};

// The program's path: `name` itself when it holds a '/', else the first executable PATH entry.
std::string find_program(const std::string& name) {
  check(!name.empty(), kOp, "the espeak-ng program name is empty; ", kInstall);
  if (name.find('/') != std::string::npos) {
    check(::access(name.c_str(), X_OK) == 0 && !fs::is_directory(name), kOp, name,
          " not found (or not executable); ", kInstall);
    return name;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream ss(dirs);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    const fs::path p = fs::path(dir.empty() ? "." : dir) / name;
    std::error_code ec;
    if (::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p, ec)) return p.string();
  }
  fail(kOp, name, " not found on PATH; ", kInstall);
}

// Closes a descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Runs argv[0] (a path) with stdin from /dev/null, stdout and stderr captured through pipes.
// The pipes are O_CLOEXEC, so processes spawned by other threads at the same time never inherit
// them (which would keep a pipe open past its child's exit).
ProcResult run_program(const std::vector<std::string>& args) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) fail(kOp, "pipe failed: ", std::strerror(errno));
  Fd out_r{out_pipe[0]}, out_w{out_pipe[1]};
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) fail(kOp, "pipe failed: ", std::strerror(errno));
  Fd err_r{err_pipe[0]}, err_w{err_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);  // dup2 clears FD_CLOEXEC on 1 and 2
  posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == ENOENT) fail(kOp, args[0], " not found; ", kInstall);
  if (rc != 0) fail(kOp, "cannot run ", args[0], ": ", std::strerror(rc));
  out_w.reset();
  err_w.reset();

  ProcResult r;
  pollfd fds[2] = {{out_r.fd, POLLIN, 0}, {err_r.fd, POLLIN, 0}};
  std::string* dest[2] = {&r.out, &r.err};
  int open = 2;
  char buf[1 << 16];
  while (open > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        dest[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;  // EOF (or a read error): stop polling it
        --open;
      }
    }
  }
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

std::string espeak_version(const std::string& program) {
  const ProcResult r = run_program({program, "--version"});
  check(r.status == 0, kOp, program, " --version failed (exit ", r.status, "): ", trimmed(r.err));
  return trimmed(r.out);
}

// The variant file names `espeak-ng --voices=variant` lists ("m1", "f3", "Mr serious").
std::set<std::string> espeak_variants(const std::string& program) {
  const ProcResult r = run_program({program, "--voices=variant"});
  check(r.status == 0, kOp, program, " --voices=variant failed (exit ", r.status, "): ", trimmed(r.err));
  std::set<std::string> out;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line)) {
    const size_t at = line.find("!v/");
    if (at == std::string::npos) continue;
    // The file column ends where the "Other Languages" column starts (two or more spaces) or at the end.
    std::string rest = line.substr(at + 3);
    const size_t gap = rest.find("  ");
    out.insert(trimmed(gap == std::string::npos ? rest : rest.substr(0, gap)));
  }
  return out;
}

}  // namespace

Wav synthesize(const std::string& text, const std::string& voice, int64_t speed, int64_t pitch,
               const std::string& espeak) {
  const std::string program = find_program(espeak);
  const ProcResult r = run_program({program, "-v", voice, "-s", std::to_string(speed), "-p", std::to_string(pitch),
                                    "--stdout", "--", text});
  check(r.status == 0 && !r.out.empty(), kOp, espeak, " -v ", voice, " failed (exit ", r.status, ", ", r.out.size(),
        " bytes of audio): ", r.err.empty() ? "no message" : trimmed(r.err));
  return parse_wav(r.out, espeak + " output (voice " + voice + ", \"" + text + "\")");
}

std::vector<float> speech_features(const Wav& wav, const SpeechOptions& options, int64_t* frames_out) {
  int64_t frames = 0;
  std::vector<float> f = log_mel(wav, options.features, &frames);
  if (options.normalize) normalize_features(f, frames, options.features.n_mels);
  if (frames_out) *frames_out = frames;
  return f;
}

// ==================================================================== options

namespace {

void validate(const SpeechOptions& o) {
  speech_vocabulary(o.vocabulary);
  check(o.min_words >= 1 && o.min_words <= o.max_words && o.max_words <= 50, kOp,
        "words per utterance must satisfy 1 <= min_words <= max_words <= 50, got ", o.min_words, "..", o.max_words);
  constexpr int64_t kMax = 10'000'000;
  check(o.train_size >= 1 && o.train_size <= kMax, kOp, "train_size must be in 1..", kMax, ", got ", o.train_size);
  check(o.valid_size >= 0 && o.valid_size <= kMax, kOp, "valid_size must be in 0..", kMax, ", got ", o.valid_size);
  check(o.test_size >= 0 && o.test_size <= kMax, kOp, "test_size must be in 0..", kMax, ", got ", o.test_size);
  check(!o.train_voices.empty(), kOp, "train_voices is empty");
  check(o.test_size == 0 || !o.test_voices.empty(), kOp, "test_voices is empty but test_size is ", o.test_size);
  for (const auto* list : {&o.train_voices, &o.test_voices})
    for (const auto& v : *list) {
      const bool ok = !v.empty() && v.front() != '-' && v.front() != '+' &&
                      std::all_of(v.begin(), v.end(), [](char c) {
                        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '_';
                      });
      check(ok, kOp, "voice \"", v, "\" is not an espeak-ng voice name (letters, digits, '-', '_', '+variant')");
    }
  for (const auto& v : o.test_voices)
    check(std::find(o.train_voices.begin(), o.train_voices.end(), v) == o.train_voices.end(), kOp, "voice \"", v,
          "\" is in both train_voices and test_voices; the test voices must be held out");
  check(o.min_speed >= 80 && o.min_speed <= o.max_speed && o.max_speed <= 450, kOp,
        "speed must satisfy 80 <= min_speed <= max_speed <= 450 (words per minute), got ", o.min_speed, "..",
        o.max_speed);
  check(o.min_pitch >= 0 && o.min_pitch <= o.max_pitch && o.max_pitch <= 99, kOp,
        "pitch must satisfy 0 <= min_pitch <= max_pitch <= 99, got ", o.min_pitch, "..", o.max_pitch);
}

// Everything that changes the generated data, canonically (the cache key's input).
json options_json(const SpeechOptions& o) {
  const FilterbankOptions& f = o.features;
  return json{{"format", kCacheFormat},
              {"vocabulary", o.vocabulary},
              {"words", {o.min_words, o.max_words}},
              {"sizes", {o.train_size, o.valid_size, o.test_size}},
              {"train_voices", o.train_voices},
              {"test_voices", o.test_voices},
              {"speed", {o.min_speed, o.max_speed}},
              {"pitch", {o.min_pitch, o.max_pitch}},
              {"features",
               {{"frame_ms", f.frame_ms}, {"shift_ms", f.shift_ms}, {"n_mels", f.n_mels}, {"f_min", f.f_min},
                {"f_max", f.f_max}, {"preemphasis", f.preemphasis}, {"window", f.window}, {"n_fft", f.n_fft},
                {"log_floor", f.log_floor}, {"remove_dc", f.remove_dc}}},
              {"normalize", o.normalize},
              {"seed", o.seed}};
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string cache_key(const SpeechOptions& o, const std::string& version) {
  json j = options_json(o);
  j["espeak_version"] = version;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(j.dump())));
  return buf;
}

// ==================================================================== utterances

struct Utterance {
  int split = 0;  // 0 train, 1 valid, 2 test
  std::string text, voice;
  int64_t speed = 0, pitch = 0;
};

struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int64_t uniform(int64_t lo, int64_t hi) {  // [lo, hi]
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
};

// Utterance `index` of `split`: a function of (seed, split, index) only. Voices go round-robin
// over the split's list (train and valid each start at their first voice), so each voice speaks
// an equal share.
Utterance draw(const SpeechOptions& o, const std::vector<std::string>& vocab, int split, int64_t index) {
  SplitMix r{o.seed * 0x2545F4914F6CDD1Dull ^ (static_cast<uint64_t>(split) << 56) ^ static_cast<uint64_t>(index)};
  r.next();
  Utterance u;
  u.split = split;
  const int64_t n = r.uniform(o.min_words, o.max_words);
  for (int64_t k = 0; k < n; ++k) {
    if (k) u.text += ' ';
    u.text += vocab[static_cast<size_t>(r.uniform(0, static_cast<int64_t>(vocab.size()) - 1))];
  }
  const auto& voices = split == 2 ? o.test_voices : o.train_voices;
  u.voice = voices[static_cast<size_t>(index % static_cast<int64_t>(voices.size()))];
  u.speed = r.uniform(o.min_speed, o.max_speed);
  u.pitch = r.uniform(o.min_pitch, o.max_pitch);
  return u;
}

std::vector<Utterance> all_utterances(const SpeechOptions& o) {
  const std::vector<std::string> vocab = speech_vocabulary(o.vocabulary);
  std::vector<Utterance> out;
  const int64_t sizes[3] = {o.train_size, o.valid_size, o.test_size};
  for (int s = 0; s < 3; ++s)
    for (int64_t i = 0; i < sizes[s]; ++i) out.push_back(draw(o, vocab, s, i));
  return out;
}

// Synthesises and featurises every utterance on a few threads; features[i] is (frames[i], n_mels).
void generate(const SpeechOptions& o, const std::string& program, const std::vector<Utterance>& utts,
              std::vector<std::vector<float>>& features, std::vector<int64_t>& frames) {
  const size_t n = utts.size();
  features.assign(n, {});
  frames.assign(n, 0);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (size_t i = next++; i < n && !stop; i = next++) {
      try {
        const Utterance& u = utts[i];
        const Wav w = synthesize(u.text, u.voice, u.speed, u.pitch, program);
        features[i] = speech_features(w, o, &frames[i]);
        check(frames[i] > 0, kOp, "utterance \"", u.text, "\" (voice ", u.voice, ") is ", w.samples.size(),
              " samples, shorter than one frame");
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        stop = true;
      }
    }
  };
  const size_t nt = std::min<size_t>(static_cast<size_t>(std::clamp(num_threads(), 2, 8)), std::max<size_t>(n, 1));
  std::vector<std::thread> threads;
  for (size_t t = 1; t < nt; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

// ==================================================================== cache

void save_cache(const fs::path& path, const std::string& key, const SpeechOptions& o,
                const std::vector<Utterance>& utts, const std::vector<std::vector<float>>& features,
                const std::vector<int64_t>& frames) {
  int64_t total = 0;
  for (int64_t f : frames) total += f;
  const int64_t dim = o.features.n_mels;
  std::vector<float> flat;
  flat.reserve(static_cast<size_t>(total * dim));
  for (const auto& f : features) flat.insert(flat.end(), f.begin(), f.end());
  json targets = json::array(), voices = json::array();
  for (const auto& u : utts) {
    targets.push_back(u.text);
    voices.push_back(u.voice);
  }
  io::TensorMap m;
  m["features"] = from_vector(flat, {total, dim});
  m["frames"] = from_vector(frames, {static_cast<int64_t>(frames.size())});
  io::save_safetensors(path, m,
                       {{"format", kCacheFormat},
                        {"key", key},
                        {"options", options_json(o).dump()},
                        {"targets", targets.dump()},
                        {"voices", voices.dump()}});
}

[[noreturn]] void corrupt(const std::string& where, const std::string& what) {
  fail(kOp, where, " is corrupt or stale: ", what, "; delete it to regenerate the data");
}

// Reads the cache and checks it against the options and the utterances they draw; fills
// features/frames. Any failure is an Error naming the file.
void load_cache(const fs::path& path, const std::string& key, const SpeechOptions& o,
                const std::vector<Utterance>& utts, std::vector<std::vector<float>>& features,
                std::vector<int64_t>& frames) {
  const std::string where = "cache file '" + path.string() + "'";
  auto bad = [&](const std::string& what) { corrupt(where, what); };
  io::Safetensors st;
  try {
    st = io::load_safetensors(path);
  } catch (const Error& e) {
    bad(e.what());
  }
  auto meta = [&](const char* k) {
    auto it = st.metadata.find(k);
    if (it == st.metadata.end()) corrupt(where, std::string("no \"") + k + "\" metadata");
    return it->second;
  };
  if (meta("format") != kCacheFormat) bad("format \"" + meta("format") + "\", expected \"" + kCacheFormat + "\"");
  if (meta("key") != key) bad("key " + meta("key") + " does not match the options' key " + key);
  if (st.tensors.size() != 2 || !st.tensors.count("features") || !st.tensors.count("frames"))
    bad("expected exactly the tensors 'features' and 'frames'");
  const Tensor& feat = st.tensors.at("features");
  const Tensor& fr = st.tensors.at("frames");
  const int64_t n = static_cast<int64_t>(utts.size()), dim = o.features.n_mels;
  if (fr.dtype() != DType::I64 || fr.shape() != Shape{n})
    bad("'frames' is " + shape_str(fr.shape()) + ", expected I64 (" + std::to_string(n) + ")");
  if (feat.dtype() != DType::F32 || feat.dim() != 2 || feat.shape()[1] != dim)
    bad("'features' is " + shape_str(feat.shape()) + ", expected F32 (frames, " + std::to_string(dim) + ")");
  const std::vector<int64_t> counts = fr.to_vector<int64_t>();
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (counts[i] < 1 || counts[i] > feat.shape()[0] - total)
      bad("utterance " + std::to_string(i) + " has " + std::to_string(counts[i]) +
          " frames; the counts must be >= 1 and sum to the " + std::to_string(feat.shape()[0]) + " feature rows");
    total += counts[i];
  }
  if (total != feat.shape()[0])
    bad("the frame counts sum to " + std::to_string(total) + ", not the " + std::to_string(feat.shape()[0]) +
        " feature rows");
  json targets, voices;
  try {
    targets = json::parse(meta("targets"));
    voices = json::parse(meta("voices"));
  } catch (const json::exception&) {
    bad("the targets or voices metadata is not JSON");
  }
  if (!targets.is_array() || !voices.is_array() || static_cast<int64_t>(targets.size()) != n ||
      static_cast<int64_t>(voices.size()) != n)
    bad("the targets and voices metadata must be arrays of " + std::to_string(n) + " strings");
  for (int64_t i = 0; i < n; ++i)
    if (targets[i] != utts[i].text || voices[i] != utts[i].voice)
      bad("utterance " + std::to_string(i) + " does not match what the options draw (\"" + utts[i].text +
          "\", voice " + utts[i].voice + ")");
  const std::vector<float> flat = feat.to_vector<float>();
  if (!std::all_of(flat.begin(), flat.end(), [](float x) { return std::isfinite(x); })) bad("non-finite features");
  features.assign(static_cast<size_t>(n), {});
  frames = counts;
  size_t at = 0;
  for (int64_t i = 0; i < n; ++i) {
    const size_t len = static_cast<size_t>(counts[i] * dim);
    features[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(at), flat.begin() + static_cast<std::ptrdiff_t>(at + len));
    at += len;
  }
}

}  // namespace

std::string speech_cache_path(const SpeechOptions& options) {
  if (options.cache_dir.empty()) return "";
  const std::string key = cache_key(options, espeak_version(find_program(options.espeak)));
  return (fs::path(options.cache_dir) / ("speech-" + key + ".safetensors")).string();
}

// ==================================================================== the dataset

Dataset make_speech(const SpeechOptions& o) {
  validate(o);
  const std::string program = find_program(o.espeak);
  const std::string version = espeak_version(program);
  // espeak-ng falls back to the default voice for an unknown variant without a word: check them.
  const std::set<std::string> variants = espeak_variants(program);
  for (const auto* list : {&o.train_voices, &o.test_voices})
    for (const auto& v : *list) {
      const size_t plus = v.find('+');
      if (plus == std::string::npos) continue;
      const std::string var = v.substr(plus + 1);
      check(variants.count(var) > 0, kOp, "voice \"", v, "\": variant \"", var, "\" is not among ", o.espeak,
            "'s variants (see: ", o.espeak, " --voices=variant)");
    }

  const std::vector<Utterance> utts = all_utterances(o);
  std::vector<std::vector<float>> features;
  std::vector<int64_t> frames;
  fs::path cache;
  const std::string key = cache_key(o, version);
  if (!o.cache_dir.empty()) cache = fs::path(o.cache_dir) / ("speech-" + key + ".safetensors");
  std::error_code ec;
  if (!cache.empty() && fs::exists(cache, ec)) {
    load_cache(cache, key, o, utts, features, frames);
  } else {
    generate(o, program, utts, features, frames);
    if (!cache.empty()) {
      fs::create_directories(cache.parent_path(), ec);
      if (ec) {
        std::cerr << "speech: warning: cannot create the cache directory " << cache.parent_path() << ": "
                  << ec.message() << "; the data is not cached\n";
      } else {
        save_cache(cache, key, o, utts, features, frames);
      }
    }
  }

  Dataset d;
  d.name = "speech";
  d.kind = TaskKind::Sequence;
  d.feature_dim = o.features.n_mels;
  for (size_t i = 0; i < utts.size(); ++i) {
    Example e;
    e.features = std::move(features[i]);
    e.feature_dim = o.features.n_mels;
    e.target = utts[i].text;
    e.group = utts[i].voice;
    (utts[i].split == 0 ? d.train : utts[i].split == 1 ? d.valid : d.test).push_back(std::move(e));
  }
  return d;
}

}  // namespace seqnn::data
