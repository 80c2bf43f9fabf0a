// Fuzz target: the IDX reader (and, for inputs that start with the gzip magic, the gzip door).
//
// Any input must either parse or throw seqnn::Error; anything else (a crash, a sanitizer report,
// another exception) is a bug. What parses must survive a write/read round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "seqnn/io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  seqnn::io::IdxArray a;
  try {
    std::string inflated;
    if (seqnn::io::is_gzip(in)) {
      inflated = seqnn::io::gunzip(in, "fuzz", size_t{1} << 24);  // a 16 MiB cap keeps bombs cheap
      in = inflated;
    }
    a = seqnn::io::read_idx(in, "fuzz");
  } catch (const seqnn::Error&) {
    return 0;  // rejected with a message: fine
  }
  const seqnn::io::IdxArray back = seqnn::io::read_idx(seqnn::io::write_idx(a), "roundtrip");
  if (back.type != a.type || back.shape != a.shape || back.bytes != a.bytes) std::abort();
  if (a.numel() > 0) (void)a.at(a.numel() - 1);
  return 0;
}
