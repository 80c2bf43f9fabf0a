// seqnn/data/audio.h: WAV files and log-mel filterbank features (the speech task's input).
//
// WAV (RIFF/WAVE): PCM integers of 8 (unsigned), 16, 24 and 32 bits, IEEE floats of 32 and 64
// bits (format tags 1 and 3, and WAVE_FORMAT_EXTENSIBLE 0xFFFE with either subformat), 1..8
// channels, mixed to mono by averaging. Samples become floats in [-1, 1]: an integer sample s of
// b bits is s / 2^(b-1) (8-bit data is unsigned: (s - 128) / 128); float samples are clamped to
// [-1, 1] and a non-finite one is an Error. The reader walks the chunks and checks every size and
// offset against the file's size (in 64-bit arithmetic) before reading a byte; a bad file throws
//   seqnn::Error("wav: x.wav: data chunk of 4000 bytes at offset 44 runs past the end of the 1000-byte file")
// Accepted irregularities, each on purpose:
//   - a RIFF size smaller than the file: what follows the RIFF chunk is ignored;
//   - a missing pad byte after an odd-sized chunk that ends the file;
//   - the streaming header of `espeak-ng --stdout` (and other writers that cannot seek back):
//     the data chunk's size is a placeholder (0xFFFFFFFF, or espeak-ng's 0x7FFFF000) that runs
//     past the end of the file, and the RIFF size runs past it too. Then the data is the rest of
//     the file (a trailing partial frame dropped). Any other size that runs past the end is an
//     Error.
// Unknown chunks (LIST, fact, cue, ...) are skipped; a second fmt or data chunk is an Error.
//
// Features (log_mel): the recipe of Kaldi/HTK-style filterbanks, math at the top of
// src/data/audio.cpp; the FFT is FFTW's single-precision real transform.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace seqnn::data {

// ==================================================================== WAV

struct Wav {
  int64_t sample_rate = 0;     // Hz
  std::vector<float> samples;  // mono, in [-1, 1]
};

// Parses the bytes of a WAV file; `name` names it in error messages ("wav: <name>: ...").
Wav parse_wav(std::string_view bytes, const std::string& name = "wav");
// 16-bit PCM mono: each sample x becomes clamp(round(x * 32768), -32768, 32767), so a parse of
// the result is within 1/32768 of x (exactly x when x is already a multiple of 1/32768 in
// [-1, 32767/32768]). Error for a sample rate outside [1, 2^32) or more data than a RIFF holds.
std::string write_wav(const Wav& wav);
// parse_wav of the file's bytes, named by its path.
Wav load_wav(const std::filesystem::path& path);

// ==================================================================== framing + log-mel

struct FilterbankOptions {
  double frame_ms = 25;          // window length (seed 004: 25 ms)
  double shift_ms = 10;          // hop (10 ms: 100 frames a second)
  int64_t n_mels = 40;           // mel filters = feature dimension
  double f_min = 20;             // Hz, lowest filter edge
  double f_max = 0;              // Hz, highest filter edge; 0 = Nyquist (sample_rate / 2)
  double preemphasis = 0.97;     // y[i] = x[i] - p x[i-1]; 0 = none
  std::string window = "hamming";  // hamming, hann, povey (Kaldi: hann^0.85) or rectangular
  int64_t n_fft = 0;             // FFT size, >= the frame length; 0 = next power of two >= it
  double log_floor = 1e-10;      // log(max(energy, log_floor))
  bool remove_dc = true;         // subtract each frame's mean first
};

// Frame length and shift in samples: round(frame_ms * sr / 1000), round(shift_ms * sr / 1000).
int64_t frame_length(const FilterbankOptions& o, int64_t sample_rate);
int64_t frame_shift(const FilterbankOptions& o, int64_t sample_rate);
// Frames of n samples: 0 when n < frame length, else 1 + (n - frame_length) / shift (only whole
// frames, no padding: Kaldi's snip_edges).
int64_t num_frames(int64_t n_samples, const FilterbankOptions& o, int64_t sample_rate);

// (n_mels, n_fft/2 + 1) row-major: the triangular HTK-mel filters (see src/data/audio.cpp).
std::vector<float> mel_filterbank(const FilterbankOptions& o, int64_t sample_rate);

// Log-mel energies, (frames, n_mels) row-major; *frames_out (when not null) = frames. A wav
// shorter than one frame gives 0 frames (an empty vector); a wav with no samples, a sample rate
// <= 0 and bad options (non-positive sizes, f_min >= f_max, f_max above Nyquist, an unknown
// window, n_fft smaller than the frame) are Errors naming "log_mel" and the field.
// Thread-safe (FFTW plans are made once per n_fft under a lock, then executed concurrently).
std::vector<float> log_mel(const Wav& wav, const FilterbankOptions& o, int64_t* frames_out = nullptr);

// Per-utterance mean and variance normalisation, in place, of (frames, dim) features: each column
// becomes (x - mean) / sqrt(var + 1e-5) with mean and (biased) variance over the frames.
void normalize_features(std::vector<float>& features, int64_t frames, int64_t dim);

}  // namespace seqnn::data
