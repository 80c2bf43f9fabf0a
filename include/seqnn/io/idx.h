// seqnn/io/idx.h: the IDX array format (MNIST, Fashion-MNIST), optionally gzip-compressed.
//
// An IDX file is a 4-byte magic, then one big-endian u32 per dimension, then the elements
// (big-endian, row-major):
//   magic = 0x00 0x00 <type> <rank>     type: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
// read_idx() validates everything before it touches an element: the two zero bytes, the type
// code, the rank (1..kIdxMaxRank), that the header fits, that the product of the dimensions
// (computed without overflow) times the element size is exactly the bytes that follow. A file
// that fails is an Error naming it and what was wrong:
//   "idx: t10k-images: a (10000,28,28) u8 array needs 7840000 bytes after the 16-byte header,
//    the file has 7839000 (truncated)"
//
//   io::IdxArray a = io::load_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
//   a.shape -> (10000,28,28); a.u8()[i] -> pixel i
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "seqnn/error.h"

namespace seqnn::io {

enum class IdxType : uint8_t { U8 = 0x08, I8 = 0x09, I16 = 0x0B, I32 = 0x0C, F32 = 0x0D, F64 = 0x0E };
constexpr int kIdxMaxRank = 8;
const char* idx_type_name(IdxType t);  // "u8", "i8", "i16", "i32", "f32", "f64"
size_t idx_type_size(IdxType t);

struct IdxArray {
  IdxType type = IdxType::U8;
  Shape shape;
  std::vector<uint8_t> bytes;  // the elements in HOST byte order, row-major

  int64_t numel() const;
  // The elements as u8 (Error unless type is U8), or converted to double (any type).
  const uint8_t* u8() const;
  double at(int64_t flat_index) const;
};

// Parses an uncompressed IDX image. `name` goes into error messages.
IdxArray read_idx(std::string_view bytes, const std::string& name = "idx");
// The IDX bytes back (big-endian); read_idx(write_idx(a)) == a.
std::string write_idx(const IdxArray& a);

// gzip: true when `bytes` start with the gzip magic 1f 8b.
bool is_gzip(std::string_view bytes);
// Inflates a gzip stream (zlib; concatenated members allowed). More than `max_bytes` of output,
// a corrupt or truncated stream are Errors naming `name`.
std::string gunzip(std::string_view bytes, const std::string& name = "gzip",
                   size_t max_bytes = size_t{1} << 31);

// Reads a file, inflating it first when it is gzip-compressed. Missing file -> Error naming it.
IdxArray load_idx(const std::filesystem::path& path);

}  // namespace seqnn::io
