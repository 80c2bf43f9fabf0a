// src/data/audio.cpp: WAV reading/writing and log-mel filterbank features.
//
// Log-mel features of a mono signal x[0..n) at sample rate sr (FilterbankOptions o):
//   L = round(o.frame_ms * sr / 1000)            frame length (25 ms at 22050 Hz: 551)
//   S = round(o.shift_ms * sr / 1000)            shift (10 ms: 221; std::llround, halves away from 0)
//   T = n < L ? 0 : 1 + floor((n - L) / S)       frames (whole frames only, no padding)
//   N = o.n_fft, or the next power of two >= L   FFT size (zero-padded frame)
// For frame t, with f[i] = x[t S + i], i in [0, L):
//   1. DC removal:   f[i] -= mean(f)                                 (if o.remove_dc)
//   2. pre-emphasis: g[i] = f[i] - p f[i-1] for i >= 1, g[0] = f[0] - p f[0]  (p = o.preemphasis;
//                    the first sample uses itself as its predecessor, as Kaldi does)
//   3. window:       h[i] = g[i] w[i], w[i] for i in [0, L), L > 1:
//                      hamming      0.54 - 0.46 cos(2 pi i / (L - 1))
//                      hann         0.5 - 0.5 cos(2 pi i / (L - 1))
//                      povey        (0.5 - 0.5 cos(2 pi i / (L - 1)))^0.85
//                      rectangular  1                       (every window is 1 when L == 1)
//   4. power:        P[k] = |sum_{i<L} h[i] e^{-2 pi j i k / N}|^2, k in [0, N/2]
//                    (FFTW single-precision r2c of h zero-padded to N)
//   5. mel energies: E[m] = sum_k W[m][k] P[k], m in [0, n_mels)
//   6. log:          out[t][m] = log(max(E[m], o.log_floor))
// The filters W (HTK mel scale, triangles linear in Hz, as librosa's htk=True / torchaudio's
// melscale_fbanks): mel(f) = 2595 log10(1 + f / 700), its inverse f = 700 (10^(mel/2595) - 1);
// n_mels + 2 edges c_0..c_{n_mels+1} equally spaced in mel from mel(f_min) to mel(f_max) and
// mapped back to Hz; bin k sits at f_k = k sr / N; filter m rises from c_m to its peak at c_{m+1}
// and falls to c_{m+2}:
//   W[m][k] = max(0, min((f_k - c_m) / (c_{m+1} - c_m), (c_{m+2} - f_k) / (c_{m+2} - c_{m+1})))
// (A filter narrower than a bin can be all zeros; its output is then log(log_floor).)
// Steps 1-3 and 5 run in double; only the FFT is single precision.
#include "seqnn/data/audio.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>

#include "io/file_io.h"
#include "seqnn/error.h"

namespace seqnn::data {

// ==================================================================== WAV reading

namespace {

constexpr const char* kWav = "wav";
constexpr uint32_t kPlaceholderAll = 0xFFFFFFFFu;   // "unknown size" of streaming writers
constexpr uint32_t kPlaceholderEspeak = 0x7FFFF000u;  // espeak-ng --stdout's data size
constexpr uint64_t kMaxSampleRate = 100'000'000;      // anything above is not audio

uint16_t le16(const char* p) { return io::detail::load_le<uint16_t>(p); }
uint32_t le32(const char* p) { return io::detail::load_le<uint32_t>(p); }

// A chunk id for messages: printable ASCII as is, other bytes as \xNN.
std::string fourcc(const char* p) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c < 0x7f) {
      s += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    }
  }
  return s;
}

enum class SampleKind { PcmInt, Float };

struct Format {
  SampleKind kind = SampleKind::PcmInt;
  uint32_t channels = 0, sample_rate = 0, bits = 0, block_align = 0;
};

// The fmt chunk's body [p, p + size).
Format parse_fmt(const char* p, uint64_t size, uint64_t offset, const std::string& name) {
  check(size >= 16, kWav, name, ": fmt chunk at offset ", offset, " is ", size,
        " bytes, shorter than the 16 bytes of a WAVEFORMAT");
  uint16_t tag = le16(p);
  Format f;
  f.channels = le16(p + 2);
  f.sample_rate = le32(p + 4);
  f.block_align = le16(p + 12);
  f.bits = le16(p + 14);
  if (tag == 0xFFFE) {  // WAVE_FORMAT_EXTENSIBLE: the real format is the subformat GUID's first 2 bytes
    check(size >= 40, kWav, name, ": WAVE_FORMAT_EXTENSIBLE fmt chunk is ", size, " bytes, shorter than 40");
    const uint16_t cb = le16(p + 16);
    check(cb >= 22, kWav, name, ": WAVE_FORMAT_EXTENSIBLE extension size is ", cb, ", expected at least 22");
    static const unsigned char kBase[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                            0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
    check(std::memcmp(p + 26, kBase, 14) == 0, kWav, name,
          ": WAVE_FORMAT_EXTENSIBLE subformat is not a KSDATAFORMAT_SUBTYPE GUID (only PCM and IEEE float are supported)");
    tag = le16(p + 24);
  }
  check(tag == 1 || tag == 3, kWav, name, ": format tag ", tag,
        " is not supported (supported: 1 PCM, 3 IEEE float, 0xFFFE extensible with either)");
  f.kind = tag == 1 ? SampleKind::PcmInt : SampleKind::Float;
  check(f.channels >= 1 && f.channels <= 8, kWav, name, ": fmt channels is ", f.channels, ", expected 1..8");
  check(f.sample_rate >= 1 && f.sample_rate <= kMaxSampleRate, kWav, name, ": fmt sample rate is ", f.sample_rate,
        " Hz, expected 1..", kMaxSampleRate);
  if (f.kind == SampleKind::PcmInt)
    check(f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32, kWav, name, ": PCM bits per sample is ",
          f.bits, ", expected 8, 16, 24 or 32");
  else
    check(f.bits == 32 || f.bits == 64, kWav, name, ": IEEE float bits per sample is ", f.bits, ", expected 32 or 64");
  const uint32_t want = f.channels * (f.bits / 8);
  check(f.block_align == want, kWav, name, ": fmt block align is ", f.block_align, ", expected channels (",
        f.channels, ") * bytes per sample (", f.bits / 8, ") = ", want);
  return f;
}

// One sample at p as a float in [-1, 1].
float read_sample(const char* p, const Format& f, const std::string& name, uint64_t offset) {
  if (f.kind == SampleKind::Float) {
    double v;
    if (f.bits == 32) {
      v = io::detail::load_le<float>(p);
    } else {
      v = io::detail::load_le<double>(p);
    }
    check(std::isfinite(v), kWav, name, ": non-finite float sample at offset ", offset);
    return static_cast<float>(std::clamp(v, -1.0, 1.0));
  }
  switch (f.bits) {
    case 8: return (static_cast<float>(static_cast<unsigned char>(p[0])) - 128.0f) / 128.0f;
    case 16: return static_cast<float>(static_cast<int16_t>(le16(p))) / 32768.0f;
    case 24: {
      const uint32_t u = static_cast<uint32_t>(static_cast<unsigned char>(p[0])) |
                         static_cast<uint32_t>(static_cast<unsigned char>(p[1])) << 8 |
                         static_cast<uint32_t>(static_cast<unsigned char>(p[2])) << 16;
      const int32_t s = static_cast<int32_t>(u << 8) >> 8;  // sign-extend 24 -> 32 bits
      return static_cast<float>(s / 8388608.0);
    }
    default: return static_cast<float>(static_cast<int32_t>(le32(p)) / 2147483648.0);
  }
}

}  // namespace

Wav parse_wav(std::string_view bytes, const std::string& name) {
  const uint64_t size = bytes.size();
  const char* b = bytes.data();
  check(size >= 12, kWav, name, ": file is ", size, " bytes, shorter than the 12-byte RIFF header");
  if (std::memcmp(b, "RIFX", 4) == 0) fail(kWav, name, ": big-endian RIFX files are not supported");
  if (std::memcmp(b, "RF64", 4) == 0) fail(kWav, name, ": RF64 files are not supported");
  check(std::memcmp(b, "RIFF", 4) == 0, kWav, name, ": not a RIFF file (starts with '", fourcc(b), "')");
  check(std::memcmp(b + 8, "WAVE", 4) == 0, kWav, name, ": RIFF form type is '", fourcc(b + 8),
        "', expected 'WAVE'");
  const uint32_t riff_size = le32(b + 4);
  const uint64_t riff_end = 8 + static_cast<uint64_t>(riff_size);
  check(riff_size >= 4, kWav, name, ": RIFF size ", riff_size, " is smaller than the 4-byte form type");
  // Past the end only as a streaming placeholder, which the data chunk must confirm below.
  const bool riff_past_end = riff_end > size;
  const uint64_t end = std::min(riff_end, size);

  Format fmt;
  bool have_fmt = false, have_data = false, data_streaming = false;
  uint64_t data_off = 0, data_size = 0;
  uint64_t off = 12;
  while (off < end) {
    check(end - off >= 8, kWav, name, ": chunk header at offset ", off, " needs 8 bytes, only ", end - off,
          " remain in the RIFF chunk");
    const std::string id = fourcc(b + off);
    const uint32_t csize = le32(b + off + 4);
    const uint64_t body = off + 8;
    const uint64_t body_end = body + csize;  // <= 2^32 + 2^32 + 8: no overflow in 64 bits
    if (id == "data") {
      check(!have_data, kWav, name, ": second data chunk at offset ", off);
      have_data = true;
      data_off = body;
      if (body_end > size && (csize == kPlaceholderAll || csize == kPlaceholderEspeak) && riff_past_end) {
        data_streaming = true;  // streaming header: the data is the rest of the file
        data_size = size - body;
        break;
      }
      check(body_end <= end, kWav, name, ": data chunk of ", csize, " bytes at offset ", body, " runs past the end of the ",
            body_end > size ? size : riff_end, body_end > size ? "-byte file" : "-byte RIFF chunk");
      data_size = csize;
    } else {
      check(body_end <= end, kWav, name, ": ", id.substr(0, id.find_last_not_of(' ') + 1), " chunk of ", csize, " bytes at offset ", body,
            " runs past the end of the ", body_end > size ? size : riff_end,
            body_end > size ? "-byte file" : "-byte RIFF chunk");
      if (id == "fmt ") {
        check(!have_fmt, kWav, name, ": second fmt chunk at offset ", off);
        fmt = parse_fmt(b + body, csize, off, name);
        have_fmt = true;
      }
    }
    off = body_end + (csize & 1u);  // odd-sized chunks are padded (a missing final pad is tolerated)
  }
  check(!riff_past_end || data_streaming, kWav, name, ": RIFF size ", riff_size, " runs past the end of the ", size,
        "-byte file");
  check(have_fmt, kWav, name, ": no fmt chunk");
  check(have_data, kWav, name, ": no data chunk");

  if (data_streaming) {
    data_size -= data_size % fmt.block_align;  // a truncated last frame of a stream is dropped
  } else {
    check(data_size % fmt.block_align == 0, kWav, name, ": data chunk of ", data_size,
          " bytes is not a whole number of ", fmt.block_align, "-byte frames");
  }
  Wav w;
  w.sample_rate = fmt.sample_rate;
  const uint64_t frames = data_size / fmt.block_align;
  w.samples.resize(frames);
  const uint32_t bps = fmt.bits / 8;
  for (uint64_t i = 0; i < frames; ++i) {
    const uint64_t at = data_off + i * fmt.block_align;
    double sum = 0;
    for (uint32_t c = 0; c < fmt.channels; ++c) sum += read_sample(b + at + c * bps, fmt, name, at + c * bps);
    w.samples[i] = static_cast<float>(sum / fmt.channels);
  }
  return w;
}

Wav load_wav(const std::filesystem::path& path) { return parse_wav(io::detail::read_file(path, kWav), path.string()); }

// ==================================================================== WAV writing

std::string write_wav(const Wav& wav) {
  check(wav.sample_rate >= 1 && wav.sample_rate <= static_cast<int64_t>(kMaxSampleRate), kWav,
        "write_wav: sample rate ", wav.sample_rate, " Hz is outside 1..", kMaxSampleRate);
  const uint64_t data = static_cast<uint64_t>(wav.samples.size()) * 2;
  check(data <= 0xFFFFFFFFull - 36, kWav, "write_wav: ", wav.samples.size(),
        " samples do not fit in a RIFF file (4 GiB)");
  std::string out(44 + data, '\0');
  char* p = out.data();
  auto put32 = [&](size_t at, uint32_t v) { std::memcpy(p + at, &v, 4); };
  auto put16 = [&](size_t at, uint16_t v) { std::memcpy(p + at, &v, 2); };
  std::memcpy(p, "RIFF", 4);
  put32(4, static_cast<uint32_t>(36 + data));
  std::memcpy(p + 8, "WAVEfmt ", 8);
  put32(16, 16);
  put16(20, 1);                                              // PCM
  put16(22, 1);                                              // mono
  put32(24, static_cast<uint32_t>(wav.sample_rate));
  put32(28, static_cast<uint32_t>(wav.sample_rate * 2));     // byte rate
  put16(32, 2);                                              // block align
  put16(34, 16);                                             // bits
  std::memcpy(p + 36, "data", 4);
  put32(40, static_cast<uint32_t>(data));
  for (size_t i = 0; i < wav.samples.size(); ++i) {
    const float x = wav.samples[i];
    const double v = std::isnan(x) ? 0.0 : std::nearbyint(static_cast<double>(x) * 32768.0);
    const int16_t s = static_cast<int16_t>(std::clamp(v, -32768.0, 32767.0));
    std::memcpy(p + 44 + 2 * i, &s, 2);
  }
  return out;
}

// ==================================================================== framing

namespace {
constexpr const char* kMel = "log_mel";
constexpr int64_t kMaxFrame = int64_t{1} << 24;  // samples; keeps the FFT size an int

int64_t samples_for(double ms, int64_t sr, const char* field) {
  check(std::isfinite(ms) && ms > 0, kMel, field, " must be > 0, got ", ms);
  check(sr >= 1, kMel, "sample rate must be >= 1, got ", sr);
  const double n = std::round(ms * static_cast<double>(sr) / 1000.0);
  check(n >= 1 && n <= static_cast<double>(kMaxFrame), kMel, field, " = ", ms, " ms at ", sr, " Hz is ", n,
        " samples, expected 1..", kMaxFrame);
  return static_cast<int64_t>(n);
}

int64_t fft_size(const FilterbankOptions& o, int64_t frame_len) {
  if (o.n_fft == 0) {
    int64_t n = 1;
    while (n < frame_len) n *= 2;
    return n;
  }
  check(o.n_fft >= frame_len && o.n_fft <= 2 * kMaxFrame, kMel, "n_fft ", o.n_fft,
        " must be >= the frame length (", frame_len, " samples) and <= ", 2 * kMaxFrame);
  return o.n_fft;
}

double hz_to_mel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
double mel_to_hz(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

// The filters as dense (n_mels, bins) doubles, after checking the frequency options.
std::vector<double> filters(const FilterbankOptions& o, int64_t sr, int64_t n_fft) {
  check(o.n_mels >= 1 && o.n_mels <= 4096, kMel, "n_mels must be in 1..4096, got ", o.n_mels);
  const double nyquist = static_cast<double>(sr) / 2.0;
  const double f_max = o.f_max == 0 ? nyquist : o.f_max;
  check(std::isfinite(o.f_min) && o.f_min >= 0, kMel, "f_min must be >= 0, got ", o.f_min);
  check(std::isfinite(f_max) && f_max > 0 && f_max <= nyquist, kMel, "f_max ", o.f_max,
        " Hz must be in (0, Nyquist = ", nyquist, " Hz] (0 = Nyquist)");
  check(o.f_min < f_max, kMel, "f_min ", o.f_min, " Hz must be below f_max ", f_max, " Hz");
  const int64_t bins = n_fft / 2 + 1;
  const double lo = hz_to_mel(o.f_min), hi = hz_to_mel(f_max);
  std::vector<double> c(static_cast<size_t>(o.n_mels + 2));
  for (int64_t j = 0; j < o.n_mels + 2; ++j)
    c[j] = mel_to_hz(lo + (hi - lo) * static_cast<double>(j) / static_cast<double>(o.n_mels + 1));
  std::vector<double> w(static_cast<size_t>(o.n_mels * bins), 0.0);
  for (int64_t m = 0; m < o.n_mels; ++m)
    for (int64_t k = 0; k < bins; ++k) {
      const double f = static_cast<double>(k) * static_cast<double>(sr) / static_cast<double>(n_fft);
      const double up = (f - c[m]) / (c[m + 1] - c[m]), down = (c[m + 2] - f) / (c[m + 2] - c[m + 1]);
      w[m * bins + k] = std::max(0.0, std::min(up, down));
    }
  return w;
}

std::vector<double> window(const FilterbankOptions& o, int64_t L) {
  std::vector<double> w(static_cast<size_t>(L), 1.0);
  const bool hamming = o.window == "hamming", hann = o.window == "hann", povey = o.window == "povey";
  check(hamming || hann || povey || o.window == "rectangular", kMel, "window \"", o.window,
        "\" is not one of hamming, hann, povey, rectangular");
  if (L == 1) return w;
  for (int64_t i = 0; i < L; ++i) {
    const double c = std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(L - 1));
    if (hamming) w[i] = 0.54 - 0.46 * c;
    else if (hann) w[i] = 0.5 - 0.5 * c;
    else if (povey) w[i] = std::pow(0.5 - 0.5 * c, 0.85);
  }
  return w;
}

// ---------------------------------------------------------------- FFTW plans
// FFTW's planner is not thread-safe, its execute functions are: one r2c plan per size, made
// under a lock and kept for the process; frames are transformed with fftwf_execute_dft_r2c on
// fftwf_malloc'ed (so equally aligned) buffers.
struct FftwBuffer {
  void* p = nullptr;
  explicit FftwBuffer(size_t bytes) : p(fftwf_malloc(bytes)) {
    if (!p) fail(kMel, "fftwf_malloc of ", bytes, " bytes failed");
  }
  ~FftwBuffer() { fftwf_free(p); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
};

struct PlanCache {
  std::mutex mutex;
  std::map<int64_t, fftwf_plan> plans;
  ~PlanCache() {
    for (auto& [n, p] : plans) fftwf_destroy_plan(p);
  }
};

fftwf_plan r2c_plan(int64_t n) {
  static PlanCache cache;
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.plans.find(n);
  if (it != cache.plans.end()) return it->second;
  FftwBuffer in(static_cast<size_t>(n) * sizeof(float)), out(static_cast<size_t>(n / 2 + 1) * sizeof(fftwf_complex));
  fftwf_plan p = fftwf_plan_dft_r2c_1d(static_cast<int>(n), static_cast<float*>(in.p),
                                       static_cast<fftwf_complex*>(out.p), FFTW_ESTIMATE);
  check(p != nullptr, kMel, "FFTW could not plan a real FFT of size ", n);
  cache.plans.emplace(n, p);
  return p;
}

}  // namespace

int64_t frame_length(const FilterbankOptions& o, int64_t sample_rate) {
  return samples_for(o.frame_ms, sample_rate, "frame_ms");
}
int64_t frame_shift(const FilterbankOptions& o, int64_t sample_rate) {
  return samples_for(o.shift_ms, sample_rate, "shift_ms");
}
int64_t num_frames(int64_t n_samples, const FilterbankOptions& o, int64_t sample_rate) {
  const int64_t L = frame_length(o, sample_rate), S = frame_shift(o, sample_rate);
  check(n_samples >= 0, kMel, "sample count must be >= 0, got ", n_samples);
  return n_samples < L ? 0 : 1 + (n_samples - L) / S;
}

std::vector<float> mel_filterbank(const FilterbankOptions& o, int64_t sample_rate) {
  const int64_t n_fft = fft_size(o, frame_length(o, sample_rate));
  const std::vector<double> w = filters(o, sample_rate, n_fft);
  return std::vector<float>(w.begin(), w.end());
}

// ==================================================================== log-mel

std::vector<float> log_mel(const Wav& wav, const FilterbankOptions& o, int64_t* frames_out) {
  if (frames_out) *frames_out = 0;
  check(wav.sample_rate >= 1, kMel, "sample rate must be >= 1, got ", wav.sample_rate);
  check(!wav.samples.empty(), kMel, "the wav has no samples");
  const int64_t sr = wav.sample_rate;
  const int64_t L = frame_length(o, sr), S = frame_shift(o, sr);
  const int64_t N = fft_size(o, L), bins = N / 2 + 1;
  check(std::isfinite(o.preemphasis) && o.preemphasis >= 0 && o.preemphasis <= 1, kMel,
        "preemphasis must be in [0, 1], got ", o.preemphasis);
  check(std::isfinite(o.log_floor) && o.log_floor > 0, kMel, "log_floor must be > 0, got ", o.log_floor);
  const std::vector<double> win = window(o, L);
  const std::vector<double> fb = filters(o, sr, N);
  const int64_t T = num_frames(static_cast<int64_t>(wav.samples.size()), o, sr);
  if (frames_out) *frames_out = T;
  std::vector<float> out(static_cast<size_t>(T * o.n_mels));
  if (T == 0) return out;

  // Each filter's nonzero bin range, so step 5 skips the zeros.
  std::vector<int64_t> first(o.n_mels, bins), last(o.n_mels, -1);
  for (int64_t m = 0; m < o.n_mels; ++m)
    for (int64_t k = 0; k < bins; ++k)
      if (fb[m * bins + k] > 0) {
        first[m] = std::min(first[m], k);
        last[m] = k;
      }

  const fftwf_plan plan = r2c_plan(N);
  FftwBuffer in_buf(static_cast<size_t>(N) * sizeof(float)), out_buf(static_cast<size_t>(bins) * sizeof(fftwf_complex));
  float* in = static_cast<float*>(in_buf.p);
  fftwf_complex* spec = static_cast<fftwf_complex*>(out_buf.p);
  std::vector<double> frame(static_cast<size_t>(L)), power(static_cast<size_t>(bins));
  const float* x = wav.samples.data();
  const double p = o.preemphasis;
  for (int64_t t = 0; t < T; ++t) {
    const float* f = x + t * S;
    double mean = 0;
    if (o.remove_dc) {
      for (int64_t i = 0; i < L; ++i) mean += f[i];
      mean /= static_cast<double>(L);
    }
    for (int64_t i = 0; i < L; ++i) frame[i] = static_cast<double>(f[i]) - mean;
    for (int64_t i = L - 1; i >= 1; --i) frame[i] -= p * frame[i - 1];
    frame[0] -= p * frame[0];
    for (int64_t i = 0; i < L; ++i) in[i] = static_cast<float>(frame[i] * win[i]);
    std::fill(in + L, in + N, 0.0f);
    fftwf_execute_dft_r2c(plan, in, spec);
    for (int64_t k = 0; k < bins; ++k) {
      const double re = spec[k][0], im = spec[k][1];
      power[k] = re * re + im * im;
    }
    float* row = out.data() + t * o.n_mels;
    for (int64_t m = 0; m < o.n_mels; ++m) {
      double e = 0;
      const double* w = fb.data() + m * bins;
      for (int64_t k = first[m]; k <= last[m]; ++k) e += w[k] * power[k];
      row[m] = static_cast<float>(std::log(std::max(e, o.log_floor)));
    }
  }
  return out;
}

void normalize_features(std::vector<float>& features, int64_t frames, int64_t dim) {
  check(frames >= 0 && dim >= 1 && static_cast<int64_t>(features.size()) == frames * dim, "normalize_features",
        "features hold ", features.size(), " values, expected frames (", frames, ") * dim (", dim, ")");
  if (frames == 0) return;
  for (int64_t j = 0; j < dim; ++j) {
    double mean = 0, var = 0;
    for (int64_t t = 0; t < frames; ++t) mean += features[t * dim + j];
    mean /= static_cast<double>(frames);
    for (int64_t t = 0; t < frames; ++t) {
      const double d = features[t * dim + j] - mean;
      var += d * d;
    }
    var /= static_cast<double>(frames);
    const double inv = 1.0 / std::sqrt(var + 1e-5);
    for (int64_t t = 0; t < frames; ++t)
      features[t * dim + j] = static_cast<float>((features[t * dim + j] - mean) * inv);
  }
}

}  // namespace seqnn::data
