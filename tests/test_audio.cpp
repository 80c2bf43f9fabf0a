// Tests for data/audio.h: WAV reading in every format, every malformed-header error, espeak-ng's
// streaming header, write/parse round trips, framing counts, and log-mel features against an
// independent NumPy implementation (numpy.fft.rfft, run through the parity oracle's Python).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <random>
#include <thread>

#include "common/check.h"
#include "common/torch_oracle.h"
#include "seqnn/data/audio.h"
#include "seqnn/error.h"
#include "seqnn/tensor.h"

using namespace seqnn;
using namespace seqnn::data;
using seqnn::testutil::error_of;
using seqnn::testutil::expect_error;

namespace {

// ==================================================================== WAV builders

std::string u16(uint32_t v) { return std::string{static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff)}; }
std::string u32(uint32_t v) { return u16(v & 0xffff) + u16(v >> 16); }
std::string chunk(const std::string& id, const std::string& body, bool pad = true) {
  std::string c = id + u32(static_cast<uint32_t>(body.size())) + body;
  if (pad && body.size() % 2) c += '\0';
  return c;
}
std::string fmt_body(uint16_t tag, uint16_t channels, uint32_t rate, uint16_t bits) {
  const uint16_t align = static_cast<uint16_t>(channels * bits / 8);
  return u16(tag) + u16(channels) + u32(rate) + u32(rate * align) + u16(align) + u16(bits);
}
// WAVE_FORMAT_EXTENSIBLE with subformat `sub` (1 PCM, 3 float).
std::string fmt_ext_body(uint16_t sub, uint16_t channels, uint32_t rate, uint16_t bits) {
  // KSDATAFORMAT_SUBTYPE_{PCM,IEEE_FLOAT} = {0000000x-0000-0010-8000-00AA00389B71}, little-endian
  const std::string guid_tail("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
  return fmt_body(0xFFFE, channels, rate, bits) + u16(22) + u16(bits) + u32(channels == 1 ? 4 : 3) + u16(sub) +
         guid_tail;
}
std::string riff(const std::string& chunks) { return "RIFF" + u32(static_cast<uint32_t>(4 + chunks.size())) + "WAVE" + chunks; }
std::string wav_file(const std::string& fmt, const std::string& data) { return riff(chunk("fmt ", fmt) + chunk("data", data)); }

template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

void expect_samples(const Wav& w, const std::vector<float>& want, int64_t rate) {
  EXPECT_EQ(w.sample_rate, rate);
  ASSERT_EQ(w.samples.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(w.samples[i], want[i]) << "sample " << i;
}

}  // namespace

// ==================================================================== WAV formats

TEST(Wav, EveryPcmWidth) {
  // 8-bit is unsigned with 128 as zero.
  expect_samples(parse_wav(wav_file(fmt_body(1, 1, 8000, 8), std::string("\x80\x00\xff\xc0", 4))),
                 {0.0f, -1.0f, 127.0f / 128, 0.5f}, 8000);
  expect_samples(parse_wav(wav_file(fmt_body(1, 1, 16000, 16), raw<int16_t>({0, -32768, 32767, 16384, -1}))),
                 {0.0f, -1.0f, 32767.0f / 32768, 0.5f, -1.0f / 32768}, 16000);
  // 24-bit little-endian, sign-extended: 0x800000 = -1, 0x7fffff, 0x400000 = 0.5, 0xffffff = -1/2^23.
  expect_samples(parse_wav(wav_file(fmt_body(1, 1, 44100, 24),
                                    std::string("\x00\x00\x80\xff\xff\x7f\x00\x00\x40\xff\xff\xff", 12))),
                 {-1.0f, static_cast<float>(8388607.0 / 8388608), 0.5f, static_cast<float>(-1.0 / 8388608)}, 44100);
  expect_samples(parse_wav(wav_file(fmt_body(1, 1, 48000, 32), raw<int32_t>({INT32_MIN, 1 << 30, -(1 << 29)}))),
                 {-1.0f, 0.5f, -0.25f}, 48000);
}

TEST(Wav, FloatFormatsClampAndRejectNonFinite) {
  expect_samples(parse_wav(wav_file(fmt_body(3, 1, 22050, 32), raw<float>({0.25f, -0.75f, 1.5f, -3.0f}))),
                 {0.25f, -0.75f, 1.0f, -1.0f}, 22050);
  expect_samples(parse_wav(wav_file(fmt_body(3, 1, 22050, 64), raw<double>({0.125, -0.5}))), {0.125f, -0.5f}, 22050);
  expect_error([] { parse_wav(wav_file(fmt_body(3, 1, 8000, 32), raw<float>({0.0f, NAN})), "n.wav"); }, "wav",
               "n.wav: non-finite float sample at offset 48");
  expect_error([] { parse_wav(wav_file(fmt_body(3, 1, 8000, 64), raw<double>({INFINITY})), "i.wav"); }, "wav",
               "non-finite");
}

TEST(Wav, ExtensibleSubformats) {
  expect_samples(parse_wav(wav_file(fmt_ext_body(1, 1, 16000, 16), raw<int16_t>({8192, -16384}))), {0.25f, -0.5f},
                 16000);
  expect_samples(parse_wav(wav_file(fmt_ext_body(3, 1, 16000, 32), raw<float>({0.5f, -0.125f}))), {0.5f, -0.125f},
                 16000);
  expect_samples(parse_wav(wav_file(fmt_ext_body(1, 2, 16000, 24), std::string("\x00\x00\x40\x00\x00\x20", 6))),
                 {0.375f}, 16000);
}

TEST(Wav, ChannelsAreAveraged) {
  // stereo frames (L, R): (0.5, -0.5), (1 - 2^-15, 0.25)
  expect_samples(parse_wav(wav_file(fmt_body(1, 2, 8000, 16), raw<int16_t>({16384, -16384, 32767, 8192}))),
                 {0.0f, static_cast<float>((32767.0 / 32768 + 0.25) / 2)}, 8000);
  std::vector<int16_t> eight;
  for (int c = 0; c < 8; ++c) eight.push_back(static_cast<int16_t>(4096 * c));  // mean 14336
  expect_samples(parse_wav(wav_file(fmt_body(1, 8, 8000, 16), raw(eight))), {14336.0f / 32768}, 8000);
}

TEST(Wav, ChunkWalkingPaddingAndTrailingBytes) {
  const std::string fmt = chunk("fmt ", fmt_body(1, 1, 8000, 16));
  const std::string data = chunk("data", raw<int16_t>({16384, -8192}));
  // an odd-sized LIST chunk with its pad byte, before and after fmt
  expect_samples(parse_wav(riff(chunk("LIST", "abc") + fmt + chunk("fact", "12345") + data)), {0.5f, -0.25f}, 8000);
  // data before fmt
  expect_samples(parse_wav(riff(data + fmt)), {0.5f, -0.25f}, 8000);
  // an odd final chunk whose pad byte is missing at the end of the file
  const std::string no_pad = riff(fmt + data + chunk("junk", "xyz", false));
  expect_samples(parse_wav(no_pad), {0.5f, -0.25f}, 8000);
  // bytes after the RIFF chunk are ignored
  expect_samples(parse_wav(riff(fmt + data) + "trailing garbage"), {0.5f, -0.25f}, 8000);
  // an empty data chunk is a wav with no samples
  expect_samples(parse_wav(riff(fmt + chunk("data", ""))), {}, 8000);
}

TEST(Wav, WriteParseRoundTrip) {
  Wav w;
  w.sample_rate = 22050;
  for (int i = -32768; i < 32768; i += 97) w.samples.push_back(static_cast<float>(i) / 32768.0f);
  w.samples.push_back(-1.0f);
  const std::string bytes = write_wav(w);
  EXPECT_EQ(bytes.size(), 44 + 2 * w.samples.size());
  const Wav back = parse_wav(bytes, "rt");
  EXPECT_EQ(back.sample_rate, w.sample_rate);
  EXPECT_EQ(back.samples, w.samples);  // multiples of 2^-15: exact
  // arbitrary values: within half a step, +1.0 within one step (clamped to 32767)
  Wav r;
  r.sample_rate = 8000;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 1000; ++i) r.samples.push_back(u(gen));
  r.samples.push_back(1.0f);
  const Wav rb = parse_wav(write_wav(r));
  ASSERT_EQ(rb.samples.size(), r.samples.size());
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const double tol = (r.samples[i] == 1.0f ? 1.0 : 0.5) / 32768 + 1e-9;
    EXPECT_LE(std::fabs(rb.samples[i] - r.samples[i]), tol) << i;
  }
  // empty, and load_wav from a file
  EXPECT_TRUE(parse_wav(write_wav(Wav{16000, {}})).samples.empty());
  const auto dir = testutil::scratch_dir("audio", "wav");
  {
    std::FILE* f = std::fopen((dir / "a.wav").c_str(), "wb");
    ASSERT_TRUE(f);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  EXPECT_EQ(load_wav(dir / "a.wav").samples, w.samples);
  expect_error([&] { load_wav(dir / "missing.wav"); }, "wav", "cannot read");
  expect_error([] { write_wav(Wav{0, {0.0f}}); }, "wav", "write_wav: sample rate 0 Hz");
}

// ==================================================================== espeak-ng's streaming header

TEST(Wav, EspeakStreamingPlaceholderHeader) {
  // What `espeak-ng --stdout hello | xxd | head -3` shows: RIFF size 0x7ffff024, data size 0x7ffff000.
  const std::string header = "RIFF" + u32(0x7ffff024) + "WAVE" + chunk("fmt ", fmt_body(1, 1, 22050, 16)) + "data" +
                             u32(0x7ffff000);
  ASSERT_EQ(header.size(), 44u);
  const std::string samples = raw<int16_t>({0, 16384, -16384, 8192});
  expect_samples(parse_wav(header + samples), {0.0f, 0.5f, -0.5f, 0.25f}, 22050);
  // a stream cut in the middle of a frame drops the partial frame
  expect_samples(parse_wav(header + samples + "\x01"), {0.0f, 0.5f, -0.5f, 0.25f}, 22050);
  // the 0xFFFFFFFF placeholder of other streaming writers
  const std::string ff = "RIFF" + u32(0xffffffff) + "WAVE" + chunk("fmt ", fmt_body(1, 1, 8000, 16)) + "data" +
                         u32(0xffffffff);
  expect_samples(parse_wav(ff + samples), {0.0f, 0.5f, -0.5f, 0.25f}, 8000);
  // A placeholder data size inside a RIFF chunk of an honest size is not a stream: an error.
  const std::string honest = riff(chunk("fmt ", fmt_body(1, 1, 8000, 16))) ;
  std::string lie = "RIFF" + u32(static_cast<uint32_t>(honest.size() - 8 + 8 + samples.size())) + honest.substr(8) +
                    "data" + u32(0x7ffff000) + samples;
  expect_error([&] { parse_wav(lie, "lie.wav"); }, "wav", "lie.wav: data chunk of 2147479552 bytes at offset 44");
  // A size past the end that is not a placeholder is an error even with a streaming RIFF size.
  const std::string other = "RIFF" + u32(0x7ffff024) + "WAVE" + chunk("fmt ", fmt_body(1, 1, 8000, 16)) + "data" +
                            u32(4000) + samples;
  EXPECT_EQ(error_of([&] { parse_wav(other, "x.wav"); }),
            "wav: x.wav: data chunk of 4000 bytes at offset 44 runs past the end of the 52-byte file");
  // A streaming RIFF size with an honest data chunk: the RIFF size is the error.
  const std::string riff_only = "RIFF" + u32(0x7ffff024) + "WAVE" + chunk("fmt ", fmt_body(1, 1, 8000, 16)) +
                                chunk("data", samples);
  expect_error([&] { parse_wav(riff_only, "r.wav"); }, "wav", "r.wav: RIFF size 2147479588 runs past the end of the 52-byte file");
}

// ==================================================================== malformed headers

TEST(Wav, MalformedHeadersNameFileAndField) {
  const std::string fmt16 = fmt_body(1, 1, 8000, 16);
  const std::string good = wav_file(fmt16, raw<int16_t>({1, 2}));
  auto err = [](const std::string& bytes) { return error_of([&] { parse_wav(bytes, "x.wav"); }); };
  EXPECT_EQ(err("RIFF"), "wav: x.wav: file is 4 bytes, shorter than the 12-byte RIFF header");
  EXPECT_EQ(err("OggS" + good.substr(4)), "wav: x.wav: not a RIFF file (starts with 'OggS')");
  EXPECT_EQ(err("RIFX" + good.substr(4)), "wav: x.wav: big-endian RIFX files are not supported");
  EXPECT_EQ(err("RF64" + good.substr(4)), "wav: x.wav: RF64 files are not supported");
  EXPECT_EQ(err(good.substr(0, 8) + "AVI " + good.substr(12)), "wav: x.wav: RIFF form type is 'AVI ', expected 'WAVE'");
  EXPECT_EQ(err(std::string("\x01\x02\x03\x04", 4) + good.substr(4)),
            "wav: x.wav: not a RIFF file (starts with '\\x01\\x02\\x03\\x04')");
  EXPECT_EQ(err("RIFF" + u32(2) + "WAVE"), "wav: x.wav: RIFF size 2 is smaller than the 4-byte form type");
  EXPECT_EQ(err("RIFF" + u32(100) + good.substr(8)), "wav: x.wav: RIFF size 100 runs past the end of the 48-byte file");
  // a RIFF chunk ending inside a chunk header / a chunk body
  EXPECT_EQ(err(riff(chunk("fmt ", fmt16) + "dat")),
            "wav: x.wav: chunk header at offset 36 needs 8 bytes, only 3 remain in the RIFF chunk");
  EXPECT_EQ(err(riff("fmt " + u32(40) + fmt16)),
            "wav: x.wav: fmt chunk of 40 bytes at offset 20 runs past the end of the 36-byte file");
  {
    std::string short_riff = good;  // the RIFF size says the data chunk ends 2 bytes early
    const uint32_t s = static_cast<uint32_t>(good.size() - 8 - 2);
    std::memcpy(short_riff.data() + 4, &s, 4);
    EXPECT_EQ(err(short_riff), "wav: x.wav: data chunk of 4 bytes at offset 44 runs past the end of the 46-byte RIFF chunk");
  }
  EXPECT_EQ(err(riff(chunk("fmt ", fmt16) + "data" + u32(4000) + std::string(956, '\0'))),
            "wav: x.wav: data chunk of 4000 bytes at offset 44 runs past the end of the 1000-byte file");
  // fmt fields
  EXPECT_EQ(err(wav_file(fmt16.substr(0, 14), "")),
            "wav: x.wav: fmt chunk at offset 12 is 14 bytes, shorter than the 16 bytes of a WAVEFORMAT");
  EXPECT_EQ(err(wav_file(fmt_body(2, 1, 8000, 16), "")),
            "wav: x.wav: format tag 2 is not supported (supported: 1 PCM, 3 IEEE float, 0xFFFE extensible with either)");
  EXPECT_EQ(err(wav_file(fmt_body(1, 0, 8000, 16), "")), "wav: x.wav: fmt channels is 0, expected 1..8");
  EXPECT_EQ(err(wav_file(fmt_body(1, 9, 8000, 16), "")), "wav: x.wav: fmt channels is 9, expected 1..8");
  EXPECT_EQ(err(wav_file(fmt_body(1, 1, 0, 16), "")), "wav: x.wav: fmt sample rate is 0 Hz, expected 1..100000000");
  EXPECT_EQ(err(wav_file(fmt_body(1, 1, 8000, 12), "")),
            "wav: x.wav: PCM bits per sample is 12, expected 8, 16, 24 or 32");
  EXPECT_EQ(err(wav_file(fmt_body(3, 1, 8000, 16), "")),
            "wav: x.wav: IEEE float bits per sample is 16, expected 32 or 64");
  {
    std::string f = fmt16;
    f[12] = 4;  // block align 4 for mono 16-bit
    EXPECT_EQ(err(wav_file(f, "")),
              "wav: x.wav: fmt block align is 4, expected channels (1) * bytes per sample (2) = 2");
  }
  EXPECT_EQ(err(wav_file(fmt_body(0xFFFE, 1, 8000, 16) + u16(22), "")),
            "wav: x.wav: WAVE_FORMAT_EXTENSIBLE fmt chunk is 18 bytes, shorter than 40");
  {
    std::string e = fmt_ext_body(1, 1, 8000, 16);
    e[16] = 10;  // cbSize
    EXPECT_EQ(err(wav_file(e, "")), "wav: x.wav: WAVE_FORMAT_EXTENSIBLE extension size is 10, expected at least 22");
    e = fmt_ext_body(1, 1, 8000, 16);
    e[39] = 0;  // last GUID byte
    expect_error([&] { parse_wav(wav_file(e, ""), "x.wav"); }, "wav", "not a KSDATAFORMAT_SUBTYPE GUID");
    EXPECT_EQ(err(wav_file(fmt_ext_body(2, 1, 8000, 16), "")),
              "wav: x.wav: format tag 2 is not supported (supported: 1 PCM, 3 IEEE float, 0xFFFE extensible with either)");
  }
  // chunk structure
  EXPECT_EQ(err(riff(chunk("data", raw<int16_t>({1})))), "wav: x.wav: no fmt chunk");
  EXPECT_EQ(err(riff(chunk("fmt ", fmt16))), "wav: x.wav: no data chunk");
  EXPECT_EQ(err(riff(chunk("fmt ", fmt16) + chunk("fmt ", fmt16) + chunk("data", ""))),
            "wav: x.wav: second fmt chunk at offset 36");
  EXPECT_EQ(err(riff(chunk("fmt ", fmt16) + chunk("data", "") + chunk("data", ""))),
            "wav: x.wav: second data chunk at offset 44");
  EXPECT_EQ(err(wav_file(fmt16, "abc")), "wav: x.wav: data chunk of 3 bytes is not a whole number of 2-byte frames");
  // the default name
  EXPECT_EQ(error_of([] { parse_wav("RIFF"); }), "wav: wav: file is 4 bytes, shorter than the 12-byte RIFF header");
}

// ==================================================================== framing

TEST(LogMel, FrameCounts) {
  FilterbankOptions o;
  EXPECT_EQ(frame_length(o, 16000), 400);
  EXPECT_EQ(frame_shift(o, 16000), 160);
  EXPECT_EQ(frame_length(o, 22050), 551);  // 551.25
  EXPECT_EQ(frame_shift(o, 22050), 221);   // 220.5 rounds away from zero
  EXPECT_EQ(frame_length(o, 8000), 200);
  for (int64_t sr : {8000, 16000, 22050}) {
    const int64_t L = frame_length(o, sr), S = frame_shift(o, sr);
    EXPECT_EQ(num_frames(0, o, sr), 0);
    EXPECT_EQ(num_frames(L - 1, o, sr), 0);
    EXPECT_EQ(num_frames(L, o, sr), 1);
    EXPECT_EQ(num_frames(L + S - 1, o, sr), 1);
    EXPECT_EQ(num_frames(L + S, o, sr), 2);
    EXPECT_EQ(num_frames(L + 10 * S + 3, o, sr), 11);
    EXPECT_EQ(num_frames(sr, o, sr), 1 + (sr - L) / S);  // ~98 frames a second
  }
  EXPECT_EQ(num_frames(16000, o, 16000), 98);
  // log_mel agrees, and shorter-than-a-frame input is 0 frames, not an error
  Wav w{16000, std::vector<float>(16000, 0.1f)};
  int64_t frames = -1;
  EXPECT_EQ(log_mel(w, o, &frames).size(), 98u * 40);
  EXPECT_EQ(frames, 98);
  w.samples.resize(399);
  EXPECT_TRUE(log_mel(w, o, &frames).empty());
  EXPECT_EQ(frames, 0);
  w.samples.resize(400);
  EXPECT_EQ(log_mel(w, o, &frames).size(), 40u);
  EXPECT_EQ(frames, 1);
}

TEST(LogMel, BadInputErrors) {
  Wav w{16000, std::vector<float>(1000, 0.0f)};
  FilterbankOptions o;
  expect_error([&] { log_mel(Wav{16000, {}}, o); }, "log_mel", "the wav has no samples");
  expect_error([&] { log_mel(Wav{0, {1.0f}}, o); }, "log_mel", "sample rate must be >= 1, got 0");
  auto with = [&](auto edit, const std::string& part) {
    FilterbankOptions b;
    edit(b);
    expect_error([&] { log_mel(w, b); }, "log_mel", part);
  };
  with([](FilterbankOptions& b) { b.frame_ms = 0; }, "frame_ms must be > 0, got 0");
  with([](FilterbankOptions& b) { b.shift_ms = -1; }, "shift_ms must be > 0, got -1");
  with([](FilterbankOptions& b) { b.shift_ms = 0.01; }, "shift_ms = 0.01 ms at 16000 Hz is 0 samples");
  with([](FilterbankOptions& b) { b.n_mels = 0; }, "n_mels must be in 1..4096, got 0");
  with([](FilterbankOptions& b) { b.f_max = 9000; }, "f_max 9000 Hz must be in (0, Nyquist = 8000 Hz]");
  with([](FilterbankOptions& b) { b.f_min = -5; }, "f_min must be >= 0, got -5");
  with([](FilterbankOptions& b) { b.f_min = 4000, b.f_max = 3000; }, "f_min 4000 Hz must be below f_max 3000 Hz");
  with([](FilterbankOptions& b) { b.window = "blackman"; }, "window \"blackman\" is not one of hamming, hann, povey, rectangular");
  with([](FilterbankOptions& b) { b.n_fft = 256; }, "n_fft 256 must be >= the frame length (400 samples)");
  with([](FilterbankOptions& b) { b.preemphasis = 1.5; }, "preemphasis must be in [0, 1], got 1.5");
  with([](FilterbankOptions& b) { b.log_floor = 0; }, "log_floor must be > 0, got 0");
  std::vector<float> five(5);
  expect_error([&] { normalize_features(five, 2, 3); }, "normalize_features",
               "features hold 5 values, expected frames (2) * dim (3)");
}

TEST(LogMel, FilterbankShape) {
  FilterbankOptions o;
  const auto fb = mel_filterbank(o, 16000);  // n_fft 512 -> 257 bins
  ASSERT_EQ(fb.size(), 40u * 257);
  for (int m = 0; m < 40; ++m) {
    float peak = 0;
    int first = -1, last = -1;
    for (int k = 0; k < 257; ++k) {
      const float v = fb[m * 257 + k];
      EXPECT_GE(v, 0.0f);
      peak = std::max(peak, v);
      if (v > 0) {
        if (first < 0) first = k;
        last = k;
      }
    }
    EXPECT_LE(peak, 1.0f);
    EXPECT_GT(peak, 0.3f) << "filter " << m << " is (nearly) empty";
    EXPECT_GE(last, first);
    if (m > 0) {  // filters move up in frequency
      int prev_first = 0;
      while (fb[(m - 1) * 257 + prev_first] == 0) ++prev_first;
      EXPECT_GE(first, prev_first);
    }
  }
}

// A sine's energy lands in the filter whose peak is nearest its frequency.
TEST(LogMel, SineLandsInTheRightMelBin) {
  const int64_t sr = 16000;
  FilterbankOptions o;
  o.window = "hann";
  const int64_t n_fft = 512, bins = 257;
  const auto fb = mel_filterbank(o, sr);
  for (double f0 : {250.0, 440.0, 1000.0, 2500.0, 6000.0}) {
    Wav w{sr, {}};
    for (int i = 0; i < sr / 2; ++i) w.samples.push_back(static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * f0 * i / sr)));
    int64_t frames = 0;
    const auto lm = log_mel(w, o, &frames);
    ASSERT_GT(frames, 10);
    // the filter with the largest weight at f0's FFT bin
    const int64_t k0 = std::llround(f0 * n_fft / sr);
    int64_t want = 0;
    for (int64_t m = 1; m < 40; ++m)
      if (fb[m * bins + k0] > fb[want * bins + k0]) want = m;
    // the mel centre of that filter is within one filter spacing of f0
    const double mel = 2595 * std::log10(1 + f0 / 700), lo = 2595 * std::log10(1 + 20.0 / 700),
                 hi = 2595 * std::log10(1 + 8000.0 / 700), step = (hi - lo) / 41;
    EXPECT_LE(std::fabs(lo + (want + 1) * step - mel), step) << f0;
    for (int64_t t = 0; t < frames; ++t) {
      const float* row = lm.data() + t * 40;
      EXPECT_EQ(std::max_element(row, row + 40) - row, want) << "f0 " << f0 << " frame " << t;
    }
  }
}

TEST(LogMel, ConcurrentCallsAgree) {
  // FFTW plans are created under a lock and executed concurrently: results must not depend on it.
  std::mt19937 gen(11);
  std::normal_distribution<float> nd(0.0f, 0.2f);
  std::vector<Wav> wavs;
  for (int64_t sr : {8000, 16000, 22050, 44100}) {
    Wav w{sr, {}};
    for (int i = 0; i < sr; ++i) w.samples.push_back(nd(gen));
    wavs.push_back(w);
  }
  FilterbankOptions o;
  std::vector<std::vector<float>> serial;
  for (const auto& w : wavs) serial.push_back(log_mel(w, o));
  std::vector<std::vector<float>> par(wavs.size() * 4);
  std::vector<std::thread> ts;
  for (size_t i = 0; i < par.size(); ++i) ts.emplace_back([&, i] { par[i] = log_mel(wavs[i % wavs.size()], o); });
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < par.size(); ++i) EXPECT_EQ(par[i], serial[i % wavs.size()]) << i;
}

TEST(LogMel, NormalizeFeatures) {
  std::vector<float> f = {1, 10, 2, 20, 3, 30, 4, 40};  // (4 frames, 2 dims)
  normalize_features(f, 4, 2);
  for (int j = 0; j < 2; ++j) {
    double mean = 0, var = 0;
    for (int t = 0; t < 4; ++t) mean += f[t * 2 + j];
    for (int t = 0; t < 4; ++t) var += (f[t * 2 + j] - mean / 4) * (f[t * 2 + j] - mean / 4);
    EXPECT_NEAR(mean / 4, 0.0, 1e-6);
    EXPECT_NEAR(var / 4, 1.0, 1e-3);  // var / (var + 1e-5) with var 1.25 and 125
  }
  EXPECT_NEAR(f[0], -1.5 / std::sqrt(1.25 + 1e-5), 1e-6);
  std::vector<float> one = {5, 7};  // a single frame: all zeros
  normalize_features(one, 1, 2);
  EXPECT_EQ(one, (std::vector<float>{0, 0}));
}

// ==================================================================== NumPy reference

namespace {
// An independent implementation of the math at the top of src/data/audio.cpp, in float64.
const char* kNumpyLogMel = R"(
import numpy as np
def ref_log_mel(x, a):
    sr = a["sr"]
    L = int(np.floor(a["frame_ms"] * sr / 1000.0 + 0.5))
    S = int(np.floor(a["shift_ms"] * sr / 1000.0 + 0.5))
    N = a["n_fft"] or 1 << int(np.ceil(np.log2(L)))
    T = 0 if len(x) < L else 1 + (len(x) - L) // S
    n = np.arange(L)
    c = np.cos(2 * np.pi * n / (L - 1)) if L > 1 else np.ones(L)
    win = {"hamming": 0.54 - 0.46 * c, "hann": 0.5 - 0.5 * c, "povey": (0.5 - 0.5 * c) ** 0.85,
           "rectangular": np.ones(L)}[a["window"]]
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    imel = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    fmax = a["f_max"] or sr / 2.0
    edges = imel(np.linspace(mel(a["f_min"]), mel(fmax), a["n_mels"] + 2))
    fk = np.arange(N // 2 + 1) * sr / N
    W = np.zeros((a["n_mels"], N // 2 + 1))
    for m in range(a["n_mels"]):
        up = (fk - edges[m]) / (edges[m + 1] - edges[m])
        down = (edges[m + 2] - fk) / (edges[m + 2] - edges[m + 1])
        W[m] = np.maximum(0.0, np.minimum(up, down))
    out = np.zeros((T, a["n_mels"]))
    p = a["preemphasis"]
    for t in range(T):
        f = x[t * S:t * S + L].astype(np.float64)
        if a["remove_dc"]:
            f = f - f.mean()
        g = np.concatenate([[f[0] - p * f[0]], f[1:] - p * f[:-1]])
        P = np.abs(np.fft.rfft(g * win, n=N)) ** 2
        out[t] = np.log(np.maximum(W @ P, a["log_floor"]))
    return out
out = torch.from_numpy(ref_log_mel(x.numpy(), args))
)";

struct MelCase {
  std::string name;
  Wav wav;
  FilterbankOptions o;
};
}  // namespace

TEST(LogMel, MatchesNumpy) {
  std::mt19937 gen(2024);
  std::normal_distribution<float> nd(0.0f, 0.3f);
  auto noise = [&](int64_t sr, int64_t n) {
    Wav w{sr, {}};
    for (int64_t i = 0; i < n; ++i) w.samples.push_back(std::clamp(nd(gen), -1.0f, 1.0f));
    return w;
  };
  auto sine = [&](int64_t sr, int64_t n, double f0, double noise_amp) {
    Wav w{sr, {}};
    for (int64_t i = 0; i < n; ++i)
      w.samples.push_back(static_cast<float>(0.6 * std::sin(2 * std::numbers::pi * f0 * i / sr) + noise_amp * nd(gen)));
    return w;
  };
  std::vector<MelCase> cases;
  cases.push_back({"noise 16k defaults", noise(16000, 8000), {}});
  cases.push_back({"noise 22050 defaults", noise(22050, 11025), {}});
  cases.push_back({"sine 16k 1 kHz", sine(16000, 6000, 1000, 0.0), {}});
  cases.push_back({"sine+noise 22050 440 Hz", sine(22050, 7000, 440, 0.01), {}});
  {
    FilterbankOptions o;
    o.window = "hann", o.n_mels = 23, o.preemphasis = 0, o.remove_dc = false, o.f_min = 0;
    cases.push_back({"noise 8k hann no preemphasis", noise(8000, 3000), o});
  }
  {
    FilterbankOptions o;
    o.window = "povey", o.n_fft = 1024, o.f_max = 7000, o.n_mels = 64;
    // (with noise: the FFT is single precision, so bins ~100 dB below a pure sine's peak hold
    // float32 rounding, not signal; 40 dB of noise keeps every bin meaningful)
    cases.push_back({"sine 16k povey n_fft 1024", sine(16000, 5000, 3000, 0.01), o});
  }
  {
    FilterbankOptions o;
    o.window = "rectangular", o.frame_ms = 20, o.shift_ms = 15, o.n_mels = 10, o.log_floor = 1e-3;
    cases.push_back({"noise 44.1k rectangular 20/15 ms", noise(44100, 9000), o});
  }
  {
    FilterbankOptions o;
    o.n_mels = 80;
    Wav quiet = noise(16000, 4000);
    for (auto& s : quiet.samples) s *= 1e-4f;  // energies near the floor in some bins
    cases.push_back({"quiet noise 80 mels", quiet, o});
  }
  std::vector<testutil::OracleCase> oc;
  std::vector<std::vector<float>> mine;
  std::vector<int64_t> frames;
  for (const auto& c : cases) {
    int64_t t = 0;
    mine.push_back(log_mel(c.wav, c.o, &t));
    frames.push_back(t);
    testutil::OracleCase q;
    q.code = kNumpyLogMel;
    std::vector<double> x(c.wav.samples.begin(), c.wav.samples.end());
    q.inputs = {{"x", from_vector(x, {static_cast<int64_t>(x.size())})}};
    q.args = {{"sr", c.wav.sample_rate}, {"frame_ms", c.o.frame_ms}, {"shift_ms", c.o.shift_ms},
              {"n_fft", c.o.n_fft}, {"n_mels", c.o.n_mels}, {"f_min", c.o.f_min}, {"f_max", c.o.f_max},
              {"preemphasis", c.o.preemphasis}, {"window", c.o.window}, {"log_floor", c.o.log_floor},
              {"remove_dc", c.o.remove_dc}};
    oc.push_back(q);
  }
  const auto res = testutil::run_torch(oc);
  ASSERT_EQ(res.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Tensor& ref = res[i].outs[0];
    ASSERT_EQ(ref.dim(), 2) << cases[i].name;
    EXPECT_EQ(ref.shape()[0], frames[i]) << cases[i].name;
    EXPECT_EQ(ref.shape()[1], cases[i].o.n_mels) << cases[i].name;
    EXPECT_GT(frames[i], 5) << cases[i].name;
    const std::vector<double> r = ref.to_vector<double>();
    const std::vector<double> m(mine[i].begin(), mine[i].end());
    EXPECT_LT(testutil::max_rel_err(m, r), 1e-4) << cases[i].name;
  }
}
