// safetensors reader and writer (format: see include/seqnn/io/safetensors.h).
//
// Reading is two steps: parse_header() validates the JSON header against the size of the data
// section (types, dtypes, shapes, offsets, overlaps, metadata) without touching tensor bytes;
// only then are the tensors built from the data section. So a hostile file can at worst make
// the reader throw Error, never read out of bounds or allocate more than the file holds.
#include "seqnn/io/safetensors.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/file_io.h"

namespace seqnn::io {

using nlohmann::json;
using detail::Raw;

namespace {

constexpr const char* kOp = "safetensors";
constexpr uint64_t kMaxHeader = 100'000'000;  // 100 MB, as the reference implementation

// ==================================================================== dtypes

struct DtypeName {
  const char* name;
  Raw raw;
};
constexpr DtypeName kDtypes[] = {{"F32", Raw::F32}, {"F64", Raw::F64}, {"F16", Raw::F16},
                                 {"BF16", Raw::BF16}, {"I64", Raw::I64}, {"I32", Raw::I32},
                                 {"U8", Raw::U8},   {"BOOL", Raw::Bool}};

std::optional<Raw> parse_dtype(const std::string& s) {
  for (const auto& d : kDtypes)
    if (s == d.name) return d.raw;
  return std::nullopt;
}

const char* file_dtype(DType dt) {
  switch (dt) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

// ==================================================================== header validation

// A JSON number that is a non-negative integer fitting in int64, or nullopt.
std::optional<uint64_t> as_index(const json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return u;
  }
  return std::nullopt;
}

// A short rendering of a JSON value for messages. Containers are dumped only when flat, so a
// deeply nested hostile value cannot recurse through the serializer.
std::string describe(const json& v) {
  if (v.is_structured()) {
    bool flat = v.size() <= 8;
    for (const auto& x : v) flat = flat && x.is_primitive();
    if (!flat) return std::string("a nested ") + v.type_name();
  }
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

SafetensorsEntry parse_entry(const std::string& src, const std::string& name, const json& e,
                             uint64_t data_size) {
  const std::string where = src + ": entry '" + name + "'";
  check(e.is_object(), kOp, where, " must be an object, got ", e.type_name());
  SafetensorsEntry out;
  out.name = name;
  // dtype
  auto dt = e.find("dtype");
  check(dt != e.end(), kOp, where, " has no \"dtype\"");
  check(dt->is_string(), kOp, where, ": dtype must be a string, got ", describe(*dt));
  out.dtype = dt->get<std::string>();
  auto raw = parse_dtype(out.dtype);
  check(raw.has_value(), kOp, where, ": unsupported dtype '", out.dtype,
        "' (supported: F32, F64, F16, BF16, I64, I32, U8, BOOL)");
  // shape
  auto sh = e.find("shape");
  check(sh != e.end(), kOp, where, " has no \"shape\"");
  check(sh->is_array(), kOp, where, ": shape must be an array, got ", describe(*sh));
  for (size_t i = 0; i < sh->size(); ++i) {
    auto d = as_index((*sh)[i]);
    check(d.has_value(), kOp, where, ": shape entry ", i, " must be a non-negative integer, got ",
          describe((*sh)[i]));
    out.shape.push_back(static_cast<int64_t>(*d));
  }
  auto numel = detail::checked_numel(out.shape);
  const uint64_t esize = detail::raw_size(*raw);
  check(numel.has_value() && static_cast<uint64_t>(*numel) <= std::numeric_limits<uint64_t>::max() / esize,
        kOp, where, ": shape ", out.shape, " element count overflows");
  // data_offsets
  auto off = e.find("data_offsets");
  check(off != e.end(), kOp, where, " has no \"data_offsets\"");
  check(off->is_array() && off->size() == 2, kOp, where,
        ": data_offsets must be [begin, end], got ", describe(*off));
  auto b = as_index((*off)[0]), en = as_index((*off)[1]);
  check(b.has_value() && en.has_value(), kOp, where,
        ": data_offsets must be non-negative integers, got ", describe(*off));
  out.begin = *b;
  out.end = *en;
  check(out.begin <= out.end, kOp, where, ": data_offsets begin ", out.begin, " > end ", out.end);
  const uint64_t need = static_cast<uint64_t>(*numel) * esize;
  check(need == out.end - out.begin, kOp, where, ": shape ", out.shape, " of ", out.dtype, " needs ",
        need, " bytes but data_offsets [", out.begin, ", ", out.end, "] hold ", out.end - out.begin);
  check(out.end <= data_size, kOp, where, ": data_offsets [", out.begin, ", ", out.end,
        "] lie outside the data section (", data_size, " bytes)");
  return out;
}

SafetensorsHeader parse_header(std::string_view text, uint64_t data_size, const std::string& src) {
  json h;
  try {
    h = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(kOp, src, ": header is not valid JSON: ", e.what());
  }
  check(h.is_object(), kOp, src, ": header must be a JSON object, got ", h.type_name());
  SafetensorsHeader out;
  for (const auto& [key, value] : h.items()) {
    if (key == "__metadata__") {
      check(value.is_object(), kOp, src, ": __metadata__ must be an object, got ", value.type_name());
      for (const auto& [k, v] : value.items()) {
        check(v.is_string(), kOp, src, ": metadata value for key '", k, "' must be a string, got ",
              v.type_name());
        out.metadata[k] = v.get<std::string>();
      }
    } else {
      out.entries.push_back(parse_entry(src, key, value, data_size));
    }
  }
  // No two tensors may share bytes (zero-length ranges share nothing).
  std::vector<const SafetensorsEntry*> by_begin;
  for (const auto& e : out.entries)
    if (e.end > e.begin) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const auto *a = by_begin[i - 1], *b = by_begin[i];
    check(b->begin >= a->end, kOp, src, ": entries '", a->name, "' [", a->begin, ", ", a->end, "] and '",
          b->name, "' [", b->begin, ", ", b->end, "] overlap");
  }
  out.data_size = data_size;
  return out;
}

// Validates the 8-byte prefix; returns N, the header length.
uint64_t header_length(std::string_view prefix, uint64_t file_size, const std::string& src) {
  check(file_size >= 8, kOp, src, ": file is ", file_size,
        " bytes, shorter than the 8-byte header length");
  const uint64_t n = detail::load_le<uint64_t>(prefix.data());
  check(n <= kMaxHeader, kOp, src, ": header length ", n, " exceeds the limit of ", kMaxHeader, " bytes");
  check(n <= file_size - 8, kOp, src, ": header length ", n, " exceeds the file (", file_size - 8,
        " bytes after the length field)");
  return n;
}

}  // namespace

// ==================================================================== reading

Safetensors read_safetensors(std::string_view bytes, const std::string& source) {
  const uint64_t n = header_length(bytes, bytes.size(), source);
  SafetensorsHeader h = parse_header(bytes.substr(8, n), bytes.size() - 8 - n, source);
  const char* data = bytes.data() + 8 + n;
  Safetensors out;
  out.metadata = std::move(h.metadata);
  for (const auto& e : h.entries)
    out.tensors[e.name] = detail::tensor_from_raw(data + e.begin, *parse_dtype(e.dtype), e.shape);
  return out;
}

Safetensors load_safetensors(const std::filesystem::path& path) {
  return read_safetensors(detail::read_file(path, kOp), path.string());
}

SafetensorsHeader inspect_safetensors(const std::filesystem::path& path) {
  const std::string src = path.string();
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff end = in ? static_cast<std::streamoff>(in.tellg()) : -1;
  check(end >= 0, kOp, "cannot read '", src, "'");
  const uint64_t size = static_cast<uint64_t>(end);
  char prefix[8] = {};
  in.seekg(0);
  in.read(prefix, size >= 8 ? 8 : 0);
  const uint64_t n = header_length(std::string_view(prefix, 8), size, src);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  check(bool(in), kOp, src, ": cannot read the header");
  SafetensorsHeader h = parse_header(text, size - 8 - n, src);
  h.data_offset = 8 + n;
  return h;
}

// ==================================================================== writing

namespace {

// Header text (padded) + the contiguous tensors whose bytes follow it, in name order.
struct Serialized {
  std::string header;
  std::vector<Tensor> data;
};

Serialized serialize(const TensorMap& tensors, const StringMap& metadata) {
  json h = json::object();
  Serialized out;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    check(name != "__metadata__", kOp, "a tensor cannot be named \"__metadata__\"");
    check(t.defined(), kOp, "tensor '", name, "' is undefined");
    Tensor c = t.detach().contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    h[name] = {{"dtype", file_dtype(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    out.data.push_back(c);
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  try {
    out.header = h.dump();
  } catch (const json::exception& e) {
    fail(kOp, "tensor names and metadata must be valid UTF-8: ", e.what());
  }
  out.header.append((8 - out.header.size() % 8) % 8, ' ');
  return out;
}

std::vector<std::string_view> chunks_of(const Serialized& s, const std::string& prefix) {
  std::vector<std::string_view> chunks{prefix, s.header};
  for (const Tensor& t : s.data)
    chunks.emplace_back(static_cast<const char*>(t.raw_data()),
                        static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  return chunks;
}

std::string length_prefix(uint64_t n) {
  std::string p(8, '\0');
  std::memcpy(p.data(), &n, 8);
  return p;
}

}  // namespace

std::string write_safetensors(const TensorMap& tensors, const StringMap& metadata) {
  Serialized s = serialize(tensors, metadata);
  const std::string prefix = length_prefix(s.header.size());
  std::string out;
  for (std::string_view c : chunks_of(s, prefix)) out.append(c);
  return out;
}

void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors, const StringMap& metadata) {
  Serialized s = serialize(tensors, metadata);  // all checks happen before the file is touched
  const std::string prefix = length_prefix(s.header.size());
  detail::write_file_atomic(path, chunks_of(s, prefix), kOp);
}

}  // namespace seqnn::io
