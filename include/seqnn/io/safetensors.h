// seqnn/io/safetensors.h: read and write the safetensors format (what PyTorch/HF use for weights).
//
// Layout of a file:
//   [8 bytes]  N, the header length, little-endian u64
//   [N bytes]  JSON header: {"name": {"dtype": "F32", "shape": [2,3], "data_offsets": [b, e]}, ...,
//              "__metadata__": {"key": "value", ...}}   (offsets relative to the data section)
//   [rest]     the data section: each tensor's raw little-endian bytes, row-major
//
// Reading accepts F32, F64, F16 and BF16 (the last two widened to F32), I64, I32 and U8 (widened
// to I64) and BOOL. Every header field is validated before any byte is used; a bad file throws
// seqnn::Error("safetensors: <file>: <what is wrong>"), never crashes.
// Writing produces F32, F64, I64 and BOOL tensors, entries sorted by name, header padded with
// spaces to a multiple of 8, written atomically (temp file + fsync + rename).
//
//   auto st = io::load_safetensors("model.safetensors");
//   Tensor w = st.tensors.at("weight_ih_l0");
//   io::save_safetensors("out.safetensors", st.tensors, {{"format", "pt"}});
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "seqnn/tensor.h"

namespace seqnn::io {

using TensorMap = std::map<std::string, Tensor>;        // ordered by name
using StringMap = std::map<std::string, std::string>;  // the "__metadata__" section

struct Safetensors {
  TensorMap tensors;
  StringMap metadata;
};

// One header entry, as stored in the file (dtype is the file's, e.g. "BF16").
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // ordered by name
  StringMap metadata;
  uint64_t data_offset = 0;  // where the data section starts in the file (8 + N)
  uint64_t data_size = 0;    // bytes in the data section
};

// ------------------------------------------------------------ reading
Safetensors load_safetensors(const std::filesystem::path& path);
// The same from bytes in memory; `source` names them in error messages.
Safetensors read_safetensors(std::string_view bytes, const std::string& source = "<memory>");
// Reads and validates only the header (against the file's size): cheap, for listing a file or
// checking that a checkpoint is complete.
SafetensorsHeader inspect_safetensors(const std::filesystem::path& path);

// ------------------------------------------------------------ writing
// Throws Error (and leaves any existing file at `path` untouched) on an undefined tensor, an
// unsupported dtype, the reserved name "__metadata__", or names that are not valid UTF-8.
void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                      const StringMap& metadata = {});
// The file's bytes, in memory.
std::string write_safetensors(const TensorMap& tensors, const StringMap& metadata = {});

}  // namespace seqnn::io
