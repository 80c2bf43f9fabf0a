// Shared I/O helpers: whole-file reads, atomic writes, checked element counts and the widening
// conversions from file element types to seqnn dtypes.
#include "io/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <limits>

namespace seqnn::io::detail {

static_assert(std::endian::native == std::endian::little, "seqnn I/O assumes a little-endian host");

// ==================================================================== reading

std::string read_file(const std::filesystem::path& path, const char* op) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(op, "cannot read '", path.string(), "': ", std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (bad) fail(op, "cannot read '", path.string(), "': ", std::strerror(err));
  return bytes;
}

// ==================================================================== atomic writes

namespace {

// Closes a descriptor and removes the temp file unless released (the success path).
struct TempFile {
  std::string path;
  int fd = -1;
  bool keep = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!keep) ::unlink(path.c_str());
  }
};

[[noreturn]] void fail_errno(const char* op, const std::filesystem::path& path, const char* what) {
  fail(op, path.string(), ": ", what, ": ", std::strerror(errno));
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path, const std::vector<std::string_view>& chunks,
                       const char* op) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  TempFile tmp;
  tmp.path = path.string() + ".tmp." + std::to_string(::getpid());
  tmp.fd = ::open(tmp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (tmp.fd < 0) {
    tmp.keep = true;  // not ours: nothing was created (or it is a directory in the way)
    fail_errno(op, path, ("cannot create temp file '" + tmp.path + "'").c_str());
  }
  for (std::string_view c : chunks) {
    const char* p = c.data();
    size_t left = c.size();
    while (left > 0) {
      ssize_t n = ::write(tmp.fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_errno(op, path, "write failed");
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  if (::fsync(tmp.fd) != 0) fail_errno(op, path, "fsync failed");
  if (::close(tmp.fd) != 0) {
    tmp.fd = -1;
    fail_errno(op, path, "close failed");
  }
  tmp.fd = -1;
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) fail_errno(op, path, "rename failed");
  tmp.keep = true;
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// ==================================================================== element counts

std::optional<int64_t> checked_numel(const Shape& shape) {
  int64_t strided = 1, n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    int64_t m = std::max<int64_t>(d, 1);
    if (strided > std::numeric_limits<int64_t>::max() / m) return std::nullopt;
    strided *= m;
    n = (d == 0) ? 0 : n * d;  // n <= strided, no overflow
  }
  return n;
}

// ==================================================================== conversions

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {  // inf / nan (payload kept)
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // normal: rebias 15 -> 127
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal: value = mant * 2^-24, renormalise
    int e = -1;
    do {
      mant <<= 1;
      ++e;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

size_t raw_size(Raw r) {
  switch (r) {
    case Raw::F32: return 4;
    case Raw::F64: return 8;
    case Raw::F16: return 2;
    case Raw::BF16: return 2;
    case Raw::I64: return 8;
    case Raw::I32: return 4;
    case Raw::U8: return 1;
    case Raw::Bool: return 1;
  }
  return 0;
}

DType raw_target(Raw r) {
  switch (r) {
    case Raw::F32:
    case Raw::F16:
    case Raw::BF16: return DType::F32;
    case Raw::F64: return DType::F64;
    case Raw::I64:
    case Raw::I32:
    case Raw::U8: return DType::I64;
    case Raw::Bool: return DType::Bool;
  }
  return DType::F32;
}

Tensor tensor_from_raw(const char* src, Raw kind, const Shape& shape) {
  Tensor t = empty(shape, raw_target(kind));
  const size_t n = static_cast<size_t>(t.numel());
  if (n == 0) return t;
  switch (kind) {
    case Raw::F32:
    case Raw::F64:
    case Raw::I64: std::memcpy(t.raw_data(), src, n * raw_size(kind)); break;
    case Raw::F16: {
      float* o = t.data_ptr<float>();
      for (size_t i = 0; i < n; ++i) o[i] = half_to_float(load_le<uint16_t>(src + 2 * i));
      break;
    }
    case Raw::BF16: {
      float* o = t.data_ptr<float>();
      for (size_t i = 0; i < n; ++i) o[i] = bf16_to_float(load_le<uint16_t>(src + 2 * i));
      break;
    }
    case Raw::I32: {
      int64_t* o = t.data_ptr<int64_t>();
      for (size_t i = 0; i < n; ++i) o[i] = load_le<int32_t>(src + 4 * i);
      break;
    }
    case Raw::U8: {
      int64_t* o = t.data_ptr<int64_t>();
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<uint8_t>(src[i]);
      break;
    }
    case Raw::Bool: {
      // Any non-zero byte is true; store canonical 0/1 bytes (other values are not valid bools).
      auto* o = static_cast<uint8_t*>(t.raw_data());
      for (size_t i = 0; i < n; ++i) o[i] = src[i] != 0 ? 1 : 0;
      break;
    }
  }
  return t;
}

}  // namespace seqnn::io::detail
