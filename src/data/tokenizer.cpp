// src/data/tokenizer.cpp: character and SentencePiece subword tokenizers, UTF-8 and base64 codecs.
#include "seqnn/data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "seqnn/error.h"

namespace seqnn::data {

namespace {
constexpr const char* kOp = "tokenizer";
constexpr const char* kUnkSurface = "\xE2\x81\x87";  // U+2047 DOUBLE QUESTION MARK
const char* const kReservedPieces[4] = {"<pad>", "<unk>", "<s>", "</s>"};

std::string hex_byte(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", b);
  return buf;
}
}  // namespace

// ==================================================================== UTF-8
// Well-formed sequences (Unicode 15, table 3-7):
//   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC,EE..EF 80..BF 80..BF | ED 80..9F 80..BF
//   | F0 90..BF 80..BF 80..BF | F1..F3 80..BF x3 | F4 80..8F 80..BF 80..BF
std::vector<char32_t> utf8_decode(const std::string& text, const std::string& op) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t len = 0;
    char32_t cp = 0;
    if (c >= 0xC0 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF7) { len = 4; cp = c & 0x07; }
    else if (c >= 0x80 && c <= 0xBF) fail(op, "invalid UTF-8 at byte ", i, ": unexpected continuation byte ", hex_byte(c));
    else fail(op, "invalid UTF-8 at byte ", i, ": byte ", hex_byte(c), " never occurs in UTF-8");
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n)
        fail(op, "invalid UTF-8 at byte ", i, ": truncated ", len, "-byte sequence (the text ends after ", k,
             " byte", k == 1 ? "" : "s", ")");
      const unsigned char b = p[i + k];
      if ((b & 0xC0) != 0x80)
        fail(op, "invalid UTF-8 at byte ", i, ": truncated ", len, "-byte sequence (byte ", i + k, " is ", hex_byte(b),
             ", not a continuation byte)");
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len]) fail(op, "invalid UTF-8 at byte ", i, ": overlong encoding of a ", len, "-byte sequence");
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
      fail(op, "invalid UTF-8 at byte ", i, ": surrogate code point ", buf);
    }
    if (cp > 0x10FFFF) fail(op, "invalid UTF-8 at byte ", i, ": code point above U+10FFFF");
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string utf8_encode(char32_t cp) {
  check(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF), "utf8_encode", "not a Unicode scalar value: ",
        static_cast<uint32_t>(cp));
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// ==================================================================== base64
namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

// Every 3 bytes b0 b1 b2 -> 4 sextets (b0>>2, (b0&3)<<4|b1>>4, (b1&15)<<2|b2>>6, b2&63); a final
// group of 1 or 2 bytes is padded with "==" or "=".
std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t v = uint32_t(p[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& text, const std::string& op) {
  check(text.size() % 4 == 0, op, "base64: length ", text.size(), " is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=') {
        check(last && k >= 2, op, "base64: misplaced padding '=' at offset ", i + k);
        ++pad;
        v[k] = 0;
        continue;
      }
      check(pad == 0, op, "base64: data after padding at offset ", i + k);
      v[k] = b64_value(c);
      if (v[k] < 0) {
        const auto b = static_cast<unsigned char>(c);
        std::string shown = hex_byte(b);
        if (b >= 0x20 && b < 0x7F) shown = {'\'', c, '\''};
        fail(op, "base64: invalid character ", shown, " at offset ", i + k);
      }
    }
    const uint32_t w = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    // the bits of a padded group past its last byte must be zero (one canonical text per byte string)
    check(pad == 0 || (pad == 1 && (w & 0xFF) == 0) || (pad == 2 && (w & 0xFFFF) == 0), op,
          "base64: non-zero bits after the last byte at offset ", i);
    out += static_cast<char>(w >> 16);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(w & 0xFF);
  }
  return out;
}

// ==================================================================== CharTokenizer
namespace {
std::string reserved_or_empty(int64_t id) { return id >= 0 && id < 4 ? kReservedPieces[id] : ""; }

class CharTokenizer final : public Tokenizer {
 public:
  CharTokenizer(std::vector<char32_t> chars, int64_t min_freq, int64_t max_size)
      : chars_(std::move(chars)), min_freq_(min_freq), max_size_(max_size) {
    for (size_t i = 0; i < chars_.size(); ++i) index_.emplace(chars_[i], static_cast<int64_t>(i) + 4);
  }
  std::string type() const override { return "char"; }
  int64_t vocab_size() const override { return static_cast<int64_t>(chars_.size()) + 4; }
  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int64_t> ids;
    for (char32_t cp : utf8_decode(text)) {
      auto it = index_.find(cp);
      ids.push_back(it == index_.end() ? kUnk : it->second);
    }
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    for (int64_t id : ids) {
      check_id(id, "decode");
      if (id == kUnk) out += kUnkSurface;
      else if (id >= 4) out += utf8_encode(chars_[static_cast<size_t>(id - 4)]);
    }
    return out;
  }
  std::string piece(int64_t id) const override {
    check_id(id, "piece");
    return id < 4 ? reserved_or_empty(id) : utf8_encode(chars_[static_cast<size_t>(id - 4)]);
  }
  nlohmann::json to_json() const override {
    std::vector<std::string> chars;
    for (char32_t c : chars_) chars.push_back(utf8_encode(c));
    return {{"type", "char"}, {"vocab_size", vocab_size()}, {"min_freq", min_freq_}, {"max_size", max_size_},
            {"chars", chars}};
  }

 private:
  void check_id(int64_t id, const char* what) const {
    check(id >= 0 && id < vocab_size(), kOp, what, ": id ", id, " out of range [0, ", vocab_size(), ")");
  }
  std::vector<char32_t> chars_;  // id - 4 -> code point
  std::unordered_map<char32_t, int64_t> index_;
  int64_t min_freq_, max_size_;
};

std::shared_ptr<Tokenizer> train_char(const std::vector<std::string>& texts, const TokenizerOptions& o) {
  check(o.min_freq >= 1, kOp, "min_freq must be >= 1, got ", o.min_freq);
  check(o.max_size == 0 || o.max_size >= 5, kOp, "max_size must be 0 (no cap) or >= 5 (the four reserved ids and ",
        "one character), got ", o.max_size);
  std::unordered_map<char32_t, std::pair<int64_t, int64_t>> stats;  // code point -> (count, first appearance)
  int64_t order = 0;
  for (size_t t = 0; t < texts.size(); ++t) {
    std::vector<char32_t> cps;
    try {
      cps = utf8_decode(texts[t]);
    } catch (const Error& e) {
      fail(kOp, "training text ", t, ": ", std::string(e.what()).substr(std::char_traits<char>::length(kOp) + 2));
    }
    for (char32_t c : cps) {
      auto [it, fresh] = stats.try_emplace(c, 0, order);
      if (fresh) ++order;
      ++it->second.first;
    }
  }
  check(!stats.empty(), kOp, "no training text (", texts.size(), " texts, all empty)");
  std::vector<std::pair<char32_t, std::pair<int64_t, int64_t>>> v(stats.begin(), stats.end());
  // most frequent first; ties by first appearance
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second.first != b.second.first ? a.second.first > b.second.first : a.second.second < b.second.second;
  });
  std::vector<char32_t> chars;
  for (const auto& [c, s] : v) {
    if (s.first < o.min_freq) break;
    if (o.max_size > 0 && static_cast<int64_t>(chars.size()) + 4 >= o.max_size) break;
    chars.push_back(c);
  }
  check(!chars.empty(), kOp, "no character occurs min_freq=", o.min_freq, " times in the training text");
  return std::make_shared<CharTokenizer>(std::move(chars), o.min_freq, o.max_size);
}

std::shared_ptr<Tokenizer> char_from_json(const nlohmann::json& j) {
  check(j.contains("chars") && j["chars"].is_array(), kOp, "char: \"chars\" must be an array of characters");
  check(j.contains("vocab_size") && j["vocab_size"].is_number_integer(), kOp, "char: \"vocab_size\" must be an integer");
  const auto& arr = j["chars"];
  check(!arr.empty(), kOp, "char: \"chars\" is empty");
  std::vector<char32_t> chars;
  std::unordered_map<char32_t, size_t> seen;
  for (size_t i = 0; i < arr.size(); ++i) {
    check(arr[i].is_string(), kOp, "char: chars[", i, "] is not a string");
    std::vector<char32_t> cps = utf8_decode(arr[i].get<std::string>());
    check(cps.size() == 1, kOp, "char: chars[", i, "] must be one character, got ", cps.size());
    auto [it, fresh] = seen.emplace(cps[0], i);
    check(fresh, kOp, "char: chars[", i, "] repeats chars[", it->second, "]");
    chars.push_back(cps[0]);
  }
  const int64_t size = j["vocab_size"].get<int64_t>();
  check(size == static_cast<int64_t>(chars.size()) + 4, kOp, "char: vocab_size ", size, " does not match the ",
        chars.size(), " characters + 4 reserved ids");
  int64_t min_freq = 1, max_size = 0;
  for (auto [key, out] : {std::pair{"min_freq", &min_freq}, std::pair{"max_size", &max_size}}) {
    if (!j.contains(key)) continue;
    check(j[key].is_number_integer(), kOp, "char: \"", key, "\" must be an integer");
    *out = j[key].get<int64_t>();
  }
  return std::make_shared<CharTokenizer>(std::move(chars), min_freq, max_size);
}
}  // namespace

// ==================================================================== SubwordTokenizer
namespace {
class SubwordTokenizer final : public Tokenizer {
 public:
  SubwordTokenizer(std::string proto, TokenizerOptions options) : proto_(std::move(proto)), opt_(std::move(options)) {
    const auto st = sp_.LoadFromSerializedProto(proto_);
    check(st.ok(), kOp, "subword: corrupt SentencePiece model: ", st.ToString());
    check(sp_.pad_id() == kPad && sp_.unk_id() == kUnk && sp_.bos_id() == kBos && sp_.eos_id() == kEos, kOp,
          "subword: the SentencePiece model's reserved ids are pad ", sp_.pad_id(), ", unk ", sp_.unk_id(), ", bos ",
          sp_.bos_id(), ", eos ", sp_.eos_id(), " (expected 0, 1, 2, 3)");
  }
  std::string type() const override { return "subword"; }
  int64_t vocab_size() const override { return sp_.GetPieceSize(); }
  std::vector<int64_t> encode(const std::string& text) const override {
    utf8_decode(text);  // the same UTF-8 rules as the char tokenizer (SentencePiece would map bad bytes to unk)
    std::vector<int> ids;
    const auto st = sp_.Encode(text, &ids);
    check(st.ok(), kOp, "subword: encode failed: ", st.ToString());
    return {ids.begin(), ids.end()};
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::vector<int> keep;
    keep.reserve(ids.size());
    for (int64_t id : ids) {
      check_id(id, "decode");
      if (id != kPad && id != kBos && id != kEos) keep.push_back(static_cast<int>(id));
    }
    std::string out;
    const auto st = sp_.Decode(keep, &out);
    check(st.ok(), kOp, "subword: decode failed: ", st.ToString());
    return out;
  }
  std::string piece(int64_t id) const override {
    check_id(id, "piece");
    return sp_.IdToPiece(static_cast<int>(id));
  }
  nlohmann::json to_json() const override {
    return {{"type", "subword"},
            {"vocab_size", vocab_size()},
            {"model_type", opt_.model_type},
            {"character_coverage", opt_.character_coverage},
            {"seed", opt_.seed},
            {"model", base64_encode(proto_)}};
  }

 private:
  void check_id(int64_t id, const char* what) const {
    check(id >= 0 && id < vocab_size(), kOp, what, ": id ", id, " out of range [0, ", vocab_size(), ")");
  }
  std::string proto_;
  TokenizerOptions opt_;
  sentencepiece::SentencePieceProcessor sp_;
};

class TextIterator final : public sentencepiece::SentenceIterator {
 public:
  explicit TextIterator(const std::vector<std::string>& texts) : texts_(texts) { skip_empty(); }
  bool done() const override { return i_ >= texts_.size(); }
  void Next() override {
    ++i_;
    skip_empty();
  }
  const std::string& value() const override { return texts_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void skip_empty() {
    while (i_ < texts_.size() && texts_[i_].empty()) ++i_;
  }
  const std::vector<std::string>& texts_;
  size_t i_ = 0;
};

std::string fmt_double(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

std::shared_ptr<Tokenizer> train_subword(const std::vector<std::string>& texts, const TokenizerOptions& o) {
  check(o.model_type == "unigram" || o.model_type == "bpe", kOp, "subword: model_type must be unigram or bpe, got \"",
        o.model_type, "\"");
  check(o.vocab_size >= 5, kOp, "subword: vocab_size must be >= 5 (four reserved ids and one piece), got ",
        o.vocab_size);
  check(o.character_coverage > 0 && o.character_coverage <= 1, kOp,
        "subword: character_coverage must be in (0, 1], got ", o.character_coverage);
  for (size_t t = 0; t < texts.size(); ++t) {
    try {
      utf8_decode(texts[t]);
    } catch (const Error& e) {
      fail(kOp, "training text ", t, ": ", std::string(e.what()).substr(std::char_traits<char>::length(kOp) + 2));
    }
  }
  check(std::any_of(texts.begin(), texts.end(), [](const std::string& s) { return !s.empty(); }), kOp,
        "no training text (", texts.size(), " texts, all empty)");
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", fmt_double(o.character_coverage)},
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"unk_surface", kUnkSurface},
      // no NFKC: the text comes back as given, up to whitespace (remove_extra_whitespaces)
      {"normalization_rule_name", "identity"},
      // one thread: the EM statistics are then summed in one order (bit-identical models)
      {"num_threads", "1"},
      {"minloglevel", "2"},  // errors only; SentencePiece's INFO lines go to stderr otherwise
  };
  // SentencePiece's log level and random generator are process-wide: one training at a time
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned int>(o.seed % 0xFFFFFFFFull));
  TextIterator it(texts);
  std::string proto;
  const auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
  check(st.ok(), kOp, "subword: SentencePiece training failed (vocab_size ", o.vocab_size, ", ", o.model_type, "): ",
        st.ToString());
  return std::make_shared<SubwordTokenizer>(std::move(proto), o);
}

std::shared_ptr<Tokenizer> subword_from_json(const nlohmann::json& j) {
  check(j.contains("model") && j["model"].is_string(), kOp, "subword: \"model\" must be a base64 string");
  check(j.contains("vocab_size") && j["vocab_size"].is_number_integer(), kOp,
        "subword: \"vocab_size\" must be an integer");
  TokenizerOptions o;
  o.type = "subword";
  o.vocab_size = j["vocab_size"].get<int64_t>();
  if (j.contains("model_type")) {
    check(j["model_type"].is_string(), kOp, "subword: \"model_type\" must be a string");
    o.model_type = j["model_type"].get<std::string>();
  }
  if (j.contains("character_coverage")) {
    check(j["character_coverage"].is_number(), kOp, "subword: \"character_coverage\" must be a number");
    o.character_coverage = j["character_coverage"].get<double>();
  }
  if (j.contains("seed")) {
    check(j["seed"].is_number_unsigned(), kOp, "subword: \"seed\" must be a non-negative integer");
    o.seed = j["seed"].get<uint64_t>();
  }
  std::string proto = base64_decode(j["model"].get<std::string>(), kOp);
  check(!proto.empty(), kOp, "subword: \"model\" is empty");
  auto t = std::make_shared<SubwordTokenizer>(std::move(proto), o);
  check(t->vocab_size() == o.vocab_size, kOp, "subword: vocab_size ", o.vocab_size,
        " does not match the SentencePiece model's ", t->vocab_size(), " pieces");
  return t;
}
}  // namespace

// ==================================================================== entry points
std::shared_ptr<Tokenizer> train_tokenizer(const std::vector<std::string>& texts, const TokenizerOptions& options) {
  check(!texts.empty(), kOp, "no training text");
  if (options.type == "char") return train_char(texts, options);
  if (options.type == "subword") return train_subword(texts, options);
  fail(kOp, "unknown type \"", options.type, "\" (expected char or subword)");
}

std::shared_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j) {
  check(j.is_object(), kOp, "expected a JSON object, got ", j.dump().substr(0, 60));
  check(j.contains("type") && j["type"].is_string(), kOp, "\"type\" must be a string (char or subword)");
  const std::string type = j["type"].get<std::string>();
  if (type == "char") return char_from_json(j);
  if (type == "subword") return subword_from_json(j);
  fail(kOp, "unknown type \"", type, "\" (expected char or subword)");
}

}  // namespace seqnn::data
