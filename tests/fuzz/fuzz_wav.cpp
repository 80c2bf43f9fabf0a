// Fuzz target: the WAV reader.
//
// Any input must either parse or throw seqnn::Error; anything else is a bug. What parses must
// hold finite samples in [-1, 1] and survive write_wav (16-bit PCM) and a second parse with the
// same sample rate and count, each sample within one 16-bit step (1/32768) of the original.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seqnn/data/audio.h"
#include "seqnn/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seqnn::data::Wav w;
  try {
    w = seqnn::data::parse_wav(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const seqnn::Error&) {
    return 0;  // rejected with a message: fine
  }
  if (w.sample_rate < 1 || w.samples.size() > size) std::abort();
  for (float x : w.samples)
    if (!std::isfinite(x) || x < -1.0f || x > 1.0f) std::abort();
  const seqnn::data::Wav back = seqnn::data::parse_wav(seqnn::data::write_wav(w), "roundtrip");
  if (back.sample_rate != w.sample_rate || back.samples.size() != w.samples.size()) std::abort();
  for (size_t i = 0; i < w.samples.size(); ++i)
    if (std::fabs(back.samples[i] - w.samples[i]) > 1.0f / 32768 + 1e-7f) std::abort();
  return 0;
}
