// src/io/idx.cpp: the IDX reader/writer and the gzip door (zlib).
#include "seqnn/io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "io/file_io.h"

namespace seqnn::io {

// ==================================================================== types
const char* idx_type_name(IdxType t) {
  switch (t) {
    case IdxType::U8: return "u8";
    case IdxType::I8: return "i8";
    case IdxType::I16: return "i16";
    case IdxType::I32: return "i32";
    case IdxType::F32: return "f32";
    case IdxType::F64: return "f64";
  }
  return "?";
}

size_t idx_type_size(IdxType t) {
  switch (t) {
    case IdxType::U8: case IdxType::I8: return 1;
    case IdxType::I16: return 2;
    case IdxType::I32: case IdxType::F32: return 4;
    case IdxType::F64: return 8;
  }
  return 0;
}

namespace {
bool valid_type(uint8_t code) {
  return code == 0x08 || code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D || code == 0x0E;
}

uint32_t load_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

// Reverses each element's bytes in place (IDX is big-endian, the host little-endian).
void swap_elements(uint8_t* p, size_t n_elems, size_t width) {
  if (width == 1) return;
  for (size_t i = 0; i < n_elems; ++i) std::reverse(p + i * width, p + (i + 1) * width);
}
}  // namespace

int64_t IdxArray::numel() const {
  // A zero dimension makes the array empty whatever the others are (read_idx accepts e.g.
  // (0, 2^31, 2^31)), so check for it before multiplying; otherwise the product is checked.
  for (int64_t d : shape)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : shape)
    check(d > 0 && !__builtin_mul_overflow(n, d, &n), "idx", "shape ", shape, " has no int64 element count");
  return n;
}

const uint8_t* IdxArray::u8() const {
  check(type == IdxType::U8, "idx", "array holds ", idx_type_name(type), ", not u8");
  return bytes.data();
}

double IdxArray::at(int64_t i) const {
  check(i >= 0 && i < numel(), "idx", "index ", i, " out of range for ", shape);
  const uint8_t* p = bytes.data() + static_cast<size_t>(i) * idx_type_size(type);
  switch (type) {
    case IdxType::U8: return *p;
    case IdxType::I8: return static_cast<int8_t>(*p);
    case IdxType::I16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case IdxType::I32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case IdxType::F32: { float v; std::memcpy(&v, p, 4); return v; }
    case IdxType::F64: { double v; std::memcpy(&v, p, 8); return v; }
  }
  return 0;
}

// ==================================================================== read / write
IdxArray read_idx(std::string_view bytes, const std::string& name) {
  const uint64_t size = bytes.size();
  check(size >= 4, "idx", name, ": ", size, " bytes is too short for the 4-byte magic");
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  check(b[0] == 0 && b[1] == 0, "idx", name, ": bad magic ", int(b[0]), " ", int(b[1]),
        " (an IDX file starts with two zero bytes)");
  check(valid_type(b[2]), "idx", name, ": unknown element type code 0x", std::hex, int(b[2]), std::dec,
        " (expected 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32 or 0x0e f64)");
  const int rank = b[3];
  check(rank >= 1 && rank <= kIdxMaxRank, "idx", name, ": rank ", rank, " must be in [1,", kIdxMaxRank, "]");
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(rank);
  check(size >= header, "idx", name, ": truncated header: ", size, " bytes, a rank-", rank, " header needs ", header);

  IdxArray a;
  a.type = static_cast<IdxType>(b[2]);
  const uint64_t width = idx_type_size(a.type);
  const uint64_t available = size - header;
  // numel, checked: stop as soon as the product exceeds what the file could hold
  for (int d = 0; d < rank; ++d) a.shape.push_back(load_be32(bytes.data() + 4 + 4 * d));
  const bool empty = std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end();
  uint64_t numel = empty ? 0 : 1;
  bool too_big = false;
  for (int64_t dim : a.shape) {
    if (empty || too_big) break;
    const uint64_t u = static_cast<uint64_t>(dim);
    if (numel > available / width / u) too_big = true;  // numel * dim * width > available
    else numel *= u;
  }
  check(!too_big, "idx", name, ": a ", a.shape, " ", idx_type_name(a.type), " array needs more than the ",
        available, " bytes after the header (truncated file or corrupt dimensions)");
  const uint64_t need = numel * width;
  check(need == available, "idx", name, ": a ", a.shape, " ", idx_type_name(a.type), " array needs ", need,
        " bytes after the ", header, "-byte header, the file has ", available,
        need > available ? " (truncated)" : " (trailing bytes)");
  a.bytes.assign(b + header, b + size);
  swap_elements(a.bytes.data(), numel, width);
  return a;
}

std::string write_idx(const IdxArray& a) {
  const int rank = static_cast<int>(a.shape.size());
  check(rank >= 1 && rank <= kIdxMaxRank, "idx", "write: rank ", rank, " must be in [1,", kIdxMaxRank, "]");
  uint64_t numel = 1;
  for (int64_t d : a.shape) {
    check(d >= 0 && d <= std::numeric_limits<uint32_t>::max(), "idx", "write: dimension ", d, " does not fit u32");
    numel *= static_cast<uint64_t>(d);
  }
  const size_t width = idx_type_size(a.type);
  check(a.bytes.size() == numel * width, "idx", "write: ", a.bytes.size(), " bytes for a ", a.shape, " ",
        idx_type_name(a.type), " array (expected ", numel * width, ")");
  std::string out;
  out.push_back('\0');
  out.push_back('\0');
  out.push_back(static_cast<char>(a.type));
  out.push_back(static_cast<char>(rank));
  for (int64_t d : a.shape)
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((static_cast<uint64_t>(d) >> s) & 0xff));
  const size_t at = out.size();
  out.append(reinterpret_cast<const char*>(a.bytes.data()), a.bytes.size());
  swap_elements(reinterpret_cast<uint8_t*>(out.data() + at), numel, width);
  return out;
}

// ==================================================================== gzip
bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::string gunzip(std::string_view bytes, const std::string& name, size_t max_bytes) {
  z_stream zs{};
  // 15 + 16: a gzip header and trailer (CRC and length are checked by zlib)
  check(inflateInit2(&zs, 15 + 16) == Z_OK, "gzip", name, ": inflateInit2 failed");
  std::string out;
  std::string chunk(size_t{1} << 16, '\0');
  const auto* next = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  int rc = Z_OK;
  std::string error;
  while (true) {
    // feed at most 1 GiB per call (avail_in is a uInt)
    if (zs.avail_in == 0 && left > 0) {
      const size_t take = std::min<size_t>(left, size_t{1} << 30);
      zs.next_in = const_cast<Bytef*>(next);
      zs.avail_in = static_cast<uInt>(take);
      next += take;
      left -= take;
    }
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    const size_t produced = chunk.size() - zs.avail_out;
    if (out.size() + produced > max_bytes) {
      error = "inflates to more than " + std::to_string(max_bytes) + " bytes";
      break;
    }
    out.append(chunk.data(), produced);
    if (rc == Z_STREAM_END) {
      // another gzip member may follow (concatenated .gz files)
      if (zs.avail_in == 0 && left == 0) break;
      if (inflateReset(&zs) != Z_OK) { error = "inflateReset failed"; break; }
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      error = std::string("corrupt gzip data (") + (zs.msg ? zs.msg : "zlib error " + std::to_string(rc)) + ")";
      break;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
      error = "truncated gzip stream";
      break;
    }
  }
  inflateEnd(&zs);
  if (!error.empty()) fail("gzip", name, ": ", error);
  return out;
}

IdxArray load_idx(const std::filesystem::path& path) {
  const std::string raw = detail::read_file(path, "idx");
  const std::string name = path.string();
  if (is_gzip(raw)) return read_idx(gunzip(raw, name), name);
  return read_idx(raw, name);
}

}  // namespace seqnn::io
