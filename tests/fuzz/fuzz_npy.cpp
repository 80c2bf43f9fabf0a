// Fuzz target: the in-memory .npy reader.
//
// Any input must either parse or throw seqnn::Error; anything else (a crash, a sanitizer report,
// another exception) is a bug. What parses must survive a write/read round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "seqnn/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seqnn::Tensor t;
  try {
    t = seqnn::io::read_npy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const seqnn::Error&) {
    return 0;  // rejected with a message: fine
  }
  seqnn::Tensor back = seqnn::io::read_npy(seqnn::io::write_npy(t));
  if (back.dtype() != t.dtype() || back.shape() != t.shape()) std::abort();
  const size_t n = static_cast<size_t>(t.numel()) * seqnn::dtype_size(t.dtype());
  if (n > 0 && std::memcmp(back.raw_data(), t.raw_data(), n) != 0) std::abort();
  return 0;
}
