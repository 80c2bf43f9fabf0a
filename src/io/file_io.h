// src/io/file_io.h: helpers shared by the readers and writers in src/io (internal).
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seqnn/tensor.h"

namespace seqnn::io::detail {

// The whole file; throws Error("<op>: cannot read '<path>': <reason>").
std::string read_file(const std::filesystem::path& path, const char* op);

// Writes the concatenation of `chunks` to `path` atomically: "<path>.tmp.<pid>" in the same
// directory, fsync, rename over path, fsync the directory. On failure the temp file is removed,
// any old file at path is untouched, and Error("<op>: <path>: <reason>") is thrown.
void write_file_atomic(const std::filesystem::path& path, const std::vector<std::string_view>& chunks,
                       const char* op);

// The element count of `shape`, or nullopt when the product of max(d, 1) over the dims overflows
// int64 (the tensor code computes strides that way, so it must fit even when a dim is 0).
std::optional<int64_t> checked_numel(const Shape& shape);

// Little-endian loads from possibly unaligned bytes (the host is little-endian).
template <class T>
inline T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// IEEE half / bfloat16 bits -> float (exact: every value is representable).
float half_to_float(uint16_t h);
inline float bf16_to_float(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Fills a fresh tensor of `shape` and `out` dtype from `n` raw little-endian elements at `src`
// of the given file element kind (widening F16/BF16 -> F32, I32/U8 -> I64, bytes -> Bool).
enum class Raw { F32, F64, F16, BF16, I64, I32, U8, Bool };
size_t raw_size(Raw r);
DType raw_target(Raw r);
Tensor tensor_from_raw(const char* src, Raw kind, const Shape& shape);

}  // namespace seqnn::io::detail
