// Fuzz target: the in-memory safetensors reader.
//
// Any input must either parse or throw seqnn::Error; anything else (a crash, a sanitizer report,
// another exception) is a bug. What parses must survive a write/read round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "seqnn/io/safetensors.h"

namespace {

bool same(const seqnn::Tensor& a, const seqnn::Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const size_t n = static_cast<size_t>(a.numel()) * seqnn::dtype_size(a.dtype());
  return n == 0 || std::memcmp(a.raw_data(), b.raw_data(), n) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  seqnn::io::Safetensors st;
  try {
    st = seqnn::io::read_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const seqnn::Error&) {
    return 0;  // rejected with a message: fine
  }
  // Accepted: writing it back and reading that must give the same tensors and metadata. (Names
  // that are not valid UTF-8 cannot occur: the JSON parser already rejected them.)
  seqnn::io::Safetensors back = seqnn::io::read_safetensors(seqnn::io::write_safetensors(st.tensors, st.metadata));
  if (back.metadata != st.metadata || back.tensors.size() != st.tensors.size()) std::abort();
  for (const auto& [name, t] : st.tensors) {
    auto it = back.tensors.find(name);
    if (it == back.tensors.end() || !same(t, it->second)) std::abort();
  }
  return 0;
}
