// seqnn/data/speech.h: spoken digit and word sequences synthesised with eSpeak NG (the notes'
// speech example: N frames in, M characters out, CTC).
//
// Each utterance is min_words..max_words words drawn from the vocabulary, spoken by
//   espeak-ng -v <voice> -s <speed> -p <pitch> --stdout "<words>"
// run as a program (posix_spawn with an argv array, no shell; its WAV read from a pipe, never a
// temp file), then cut into frames (25 ms, 10 ms shift) and turned into log-mel features
// (data/audio.h). An Example holds the features (frames x n_mels, feature_dim = n_mels), the
// transcript as `target` ("three one four": lowercase words, one space) and the voice as `group`.
//
// Splits: train and valid are spoken by train_voices (different utterances, drawn independently:
// short transcripts can repeat); test ONLY by test_voices, which must not share a voice with
// train_voices, so the test error measures voices never heard in training. Every utterance's
// words, voice, speed and pitch are a function of (seed, split, index) alone, so the dataset is
// the same for a seed whatever the thread count; the espeak-ng processes run on
// clamp(num_threads(), 2, 8) threads.
//
// Normalisation (normalize = true): per utterance, each mel bin's mean and variance over the
// frames are removed ((x - mean) / sqrt(var + 1e-5)), which hides loudness and most of the
// voice's spectral tilt (cepstral mean and variance normalisation, in the log-mel domain).
//
// Cache: the generated features are kept in <cache_dir>/speech-<16 hex digits>.safetensors, the
// hex digits hashing every option that changes the data (not cache_dir or espeak) and the
// espeak-ng version. Written atomically (temp file + fsync + rename), read back with
// io::load_safetensors and checked against the options (counts, shapes, transcripts' words,
// voices); a cache file that fails a check is an Error naming the file and saying to delete it
// (it is never silently regenerated: a bad cache means a disk or software problem worth seeing).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/data/audio.h"
#include "seqnn/data/dataset.h"

namespace seqnn::data {

struct SpeechOptions {
  std::string vocabulary = "digits";  // digits ("zero".."nine", "oh"), words (30 short words) or both
  int64_t min_words = 1, max_words = 5;
  int64_t train_size = 3000, valid_size = 300, test_size = 500;
  // espeak-ng voices, "<language>[+<variant>]" (see `espeak-ng --voices=en`, `--voices=variant`).
  // Defaults: train = 10 voices over variants m1-m5, f1-f3 and four accents; test = variants m6,
  // m7, f4, f5, never used in training.
  std::vector<std::string> train_voices = {"en-us+m1", "en-us+m2", "en-us+f1", "en-us+f2", "en-gb+m3",
                                           "en-gb+f3", "en-gb-x-rp+m4", "en-gb-scotland+m5",
                                           "en-029+m1", "en-us-nyc+f1"};
  std::vector<std::string> test_voices = {"en-us+m7", "en-gb+f4", "en-gb-x-rp+m6", "en-us+f5"};
  int64_t min_speed = 130, max_speed = 200;  // words per minute, uniform per utterance
  int64_t min_pitch = 30, max_pitch = 70;    // espeak-ng pitch 0..99, uniform per utterance
  FilterbankOptions features;                // 25 ms / 10 ms, 40 log-mel bins
  bool normalize = true;                     // per-utterance mean/variance per mel bin (above)
  std::string cache_dir = default_cache_dir();  // "" = no cache
  uint64_t seed = 1;
  std::string espeak = "espeak-ng";          // program name (searched on PATH) or path

  // $XDG_CACHE_HOME/seqnn/speech, else $HOME/.cache/seqnn/speech, else "" (no cache).
  static std::string default_cache_dir();
};

// The words of a vocabulary name ("digits", "words", "both"); Error for another name.
std::vector<std::string> speech_vocabulary(const std::string& name);
// "a, b,c" -> {"a","b","c"}; empty items or duplicates are an Error naming `field`.
std::vector<std::string> parse_voice_list(const std::string& list, const std::string& field);

// Runs `espeak-ng -v voice -s speed -p pitch --stdout text` and parses its WAV. Errors: the
// program missing ("speech: espeak-ng not found on PATH; install it with: apt-get install
// espeak-ng"), a non-zero exit or empty output (with its stderr: an unknown voice), an unknown
// variant (checked against `espeak-ng --voices=variant` by make_speech, not here).
Wav synthesize(const std::string& text, const std::string& voice, int64_t speed, int64_t pitch,
               const std::string& espeak = "espeak-ng");

// The features of one utterance as the speech dataset computes them (log_mel, then
// normalize_features when options.normalize), (frames, n_mels); for decoding a user's WAV.
std::vector<float> speech_features(const Wav& wav, const SpeechOptions& options, int64_t* frames_out);

// The options a config's "data" section describes (its speech_* fields), as the dataset reads
// them: what a trained speech model's run used.
SpeechOptions speech_options_from_config(const nlohmann::json& data_config);

// The cache file make_speech uses for these options (asks espeak-ng for its version); "" when
// cache_dir is "".
std::string speech_cache_path(const SpeechOptions& options);

// The dataset (kind Sequence, feature_dim = n_mels, no labels: a Tokenizer is trained on the
// transcripts). Errors: bad options (sizes, ranges, an empty or
// overlapping voice list, an unknown vocabulary), espeak-ng missing or failing, an utterance
// shorter than one frame, a bad cache file.
Dataset make_speech(const SpeechOptions& options);

}  // namespace seqnn::data
