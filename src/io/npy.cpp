// .npy reader and writer (format: see include/seqnn/io/npy.h).
//
// The header is a Python dict literal. parse_dict() is a small strict recursive-descent parser
// for exactly what NumPy writes: string keys, values that are strings, True/False, or tuples of
// non-negative integers ("(3,)" is a tuple, "(3)" is an int and rejected, as NumPy would).
#include "seqnn/io/npy.h"

#include <limits>
#include <map>
#include <variant>

#include "io/file_io.h"

namespace seqnn::io {

using detail::Raw;

namespace {

constexpr const char* kOp = "npy";
constexpr char kMagic[] = "\x93NUMPY";  // 6 bytes

// ==================================================================== the dict parser

using Value = std::variant<std::string, bool, Shape>;

class DictParser {
 public:
  DictParser(std::string_view text, const std::string& src) : s_(text), src_(src) {}

  std::map<std::string, Value> parse() {
    std::map<std::string, Value> out;
    skip_ws();
    expect('{');
    skip_ws();
    while (peek() != '}') {
      std::string key = parse_string();
      check(!out.count(key), kOp, src_, ": header dict repeats key '", key, "'");
      skip_ws();
      expect(':');
      skip_ws();
      out[key] = parse_value();
      skip_ws();
      if (peek() == ',') {
        ++i_;
        skip_ws();
      } else if (peek() != '}') {
        bad("expected ',' or '}'");
      }
    }
    ++i_;
    skip_ws();
    if (i_ != s_.size()) bad("unexpected text after the dict");
    return out;
  }

 private:
  [[noreturn]] void bad(const char* what) {
    fail(kOp, src_, ": malformed header dict: ", what, " at offset ", i_);
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) bad((std::string("expected '") + c + "'").c_str());
    ++i_;
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool take_word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  // 'text' or "text", no escapes.
  std::string parse_string() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    const size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != q) {
      if (s_[i_] == '\\' || s_[i_] == '\n') bad("unsupported character in a string");
      ++i_;
    }
    if (i_ >= s_.size()) bad("unterminated string");
    return std::string(s_.substr(start, i_++ - start));
  }
  int64_t parse_int() {
    if (peek() == '-') fail(kOp, src_, ": shape entries must be non-negative, got a negative number");
    if (peek() < '0' || peek() > '9') bad("expected an integer");
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = s_[i_++] - '0';
      check(v <= (std::numeric_limits<int64_t>::max() - digit) / 10, kOp, src_,
            ": shape entry is too large");
      v = v * 10 + digit;
    }
    return v;
  }
  Shape parse_tuple() {
    expect('(');
    skip_ws();
    Shape out;
    bool comma = false;
    while (peek() != ')') {
      out.push_back(parse_int());
      skip_ws();
      comma = false;
      if (peek() == ',') {
        ++i_;
        comma = true;
        skip_ws();
      } else if (peek() != ')') {
        bad("expected ',' or ')' in a tuple");
      }
    }
    ++i_;
    // Python: "(3)" is the int 3, not a tuple.
    if (out.size() == 1 && !comma) bad("'(n)' is an int, a 1-tuple is written '(n,)'");
    return out;
  }
  Value parse_value() {
    const char c = peek();
    if (c == '\'' || c == '"') return parse_string();
    if (c == '(') return parse_tuple();
    if (take_word("True")) return true;
    if (take_word("False")) return false;
    bad("expected a string, True, False or a tuple");
  }

  std::string_view s_;
  const std::string& src_;
  size_t i_ = 0;
};

// ==================================================================== descr

struct Descr {
  const char* text;
  Raw raw;
};
constexpr Descr kDescrs[] = {{"<f4", Raw::F32}, {"<f8", Raw::F64}, {"<i8", Raw::I64}, {"<i4", Raw::I32},
                             {"|u1", Raw::U8},  {"|b1", Raw::Bool}, {"<f2", Raw::F16}};

Raw parse_descr(const std::string& d, const std::string& src) {
  for (const auto& x : kDescrs)
    if (d == x.text) return x.raw;
  check(d.empty() || d[0] != '>', kOp, src, ": big-endian descr '", d, "' is not supported");
  fail(kOp, src, ": unsupported descr '", d, "' (supported: <f4, <f8, <i8, <i4, |u1, |b1, <f2)");
}

// C-order data of shape reverse(s) -> C-order data of shape s (what Fortran order means).
Tensor from_fortran(const Tensor& rev, const Shape& shape) {
  Tensor out = empty(shape, rev.dtype());
  const int64_t n = out.numel(), nd = static_cast<int64_t>(shape.size());
  if (n == 0 || nd < 2) {
    if (n > 0) std::memcpy(out.raw_data(), rev.raw_data(), static_cast<size_t>(n) * dtype_size(rev.dtype()));
    return out;
  }
  // Fortran strides: element (i0..i_{nd-1}) sits at sum_k i_k * prod_{j<k} shape_j.
  Shape fstride(nd);
  int64_t s = 1;
  for (int64_t k = 0; k < nd; ++k) {
    fstride[k] = s;
    s *= shape[k];
  }
  const size_t es = dtype_size(rev.dtype());
  const char* src = static_cast<const char*>(rev.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  Shape idx(nd, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * es, src + off * es, es);
    for (int64_t k = nd - 1; k >= 0; --k) {  // odometer, last dim fastest
      off += fstride[k];
      if (++idx[k] < shape[k]) break;
      off -= fstride[k] * shape[k];
      idx[k] = 0;
    }
  }
  return out;
}

}  // namespace

// ==================================================================== reading

Tensor read_npy(std::string_view bytes, const std::string& src) {
  check(bytes.size() >= 10, kOp, src, ": file is ", bytes.size(), " bytes, too short for a .npy header");
  check(bytes.substr(0, 6) == std::string_view(kMagic, 6), kOp, src, ": bad magic (not a .npy file)");
  const int major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  check((major == 1 || major == 2) && minor == 0, kOp, src, ": unsupported format version ", major, ".",
        minor, " (supported: 1.0, 2.0)");
  uint64_t hlen, start;
  if (major == 1) {
    hlen = detail::load_le<uint16_t>(bytes.data() + 8);
    start = 10;
  } else {
    check(bytes.size() >= 12, kOp, src, ": file is ", bytes.size(), " bytes, too short for a .npy header");
    hlen = detail::load_le<uint32_t>(bytes.data() + 8);
    start = 12;
  }
  check(hlen <= bytes.size() - start, kOp, src, ": header length ", hlen, " exceeds the file (",
        bytes.size() - start, " bytes after the length field)");
  auto dict = DictParser(bytes.substr(start, hlen), src).parse();

  check(dict.size() == 3 && dict.count("descr") && dict.count("fortran_order") && dict.count("shape"), kOp,
        src, ": header dict must have exactly the keys 'descr', 'fortran_order', 'shape'");
  const auto* descr = std::get_if<std::string>(&dict["descr"]);
  const auto* fortran = std::get_if<bool>(&dict["fortran_order"]);
  const auto* shape = std::get_if<Shape>(&dict["shape"]);
  check(descr, kOp, src, ": 'descr' must be a string");
  check(fortran, kOp, src, ": 'fortran_order' must be True or False");
  check(shape, kOp, src, ": 'shape' must be a tuple of integers");
  const Raw raw = parse_descr(*descr, src);

  auto numel = detail::checked_numel(*shape);
  const uint64_t es = detail::raw_size(raw);
  check(numel.has_value() && static_cast<uint64_t>(*numel) <= std::numeric_limits<uint64_t>::max() / es, kOp,
        src, ": shape ", *shape, " element count overflows");
  const uint64_t need = static_cast<uint64_t>(*numel) * es, have = bytes.size() - start - hlen;
  check(have >= need, kOp, src, ": data is truncated: shape ", *shape, " of ", *descr, " needs ", need,
        " bytes, file has ", have);
  check(have == need, kOp, src, ": ", have - need, " trailing bytes after the data of shape ", *shape);

  const char* data = bytes.data() + start + hlen;
  if (!*fortran) return detail::tensor_from_raw(data, raw, *shape);
  return from_fortran(detail::tensor_from_raw(data, raw, Shape(shape->rbegin(), shape->rend())), *shape);
}

Tensor load_npy(const std::filesystem::path& path) {
  return read_npy(detail::read_file(path, kOp), path.string());
}

// ==================================================================== writing

namespace {

const char* descr_of(DType dt) {
  switch (dt) {
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::I64: return "<i8";
    case DType::Bool: return "|b1";
  }
  return "?";
}

// Magic, version, length and the padded dict: NumPy's exact layout, total a multiple of 64.
std::string npy_header(const Tensor& t) {
  std::string dict = std::string("{'descr': '") + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) dict += (i ? ", " : "") + std::to_string(t.shape()[i]);
  dict += t.shape().size() == 1 ? ",), }" : "), }";
  auto padded = [&](size_t prefix) {
    const size_t total = prefix + dict.size() + 1;  // + '\n'
    return dict + std::string((64 - total % 64) % 64, ' ') + "\n";
  };
  std::string h = padded(10);
  std::string out(kMagic, 6);
  if (h.size() <= 0xffff) {
    out += '\x01';
    out += '\0';
    const uint16_t n = static_cast<uint16_t>(h.size());
    out.append(reinterpret_cast<const char*>(&n), 2);
  } else {
    h = padded(12);
    out += '\x02';
    out += '\0';
    const uint32_t n = static_cast<uint32_t>(h.size());
    out.append(reinterpret_cast<const char*>(&n), 4);
  }
  return out + h;
}

Tensor prepared(const Tensor& t) {
  check(t.defined(), kOp, "cannot save an undefined tensor");
  return t.detach().contiguous();
}

}  // namespace

std::string write_npy(const Tensor& tensor) {
  Tensor c = prepared(tensor);
  std::string out = npy_header(c);
  out.append(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  return out;
}

void save_npy(const std::filesystem::path& path, const Tensor& tensor) {
  Tensor c = prepared(tensor);
  const std::string header = npy_header(c);
  detail::write_file_atomic(
      path,
      {header, std::string_view(static_cast<const char*>(c.raw_data()),
                                static_cast<size_t>(c.numel()) * dtype_size(c.dtype()))},
      kOp);
}

}  // namespace seqnn::io
