// tests/test_tokenizer.cpp: UTF-8 and base64 codecs, the char tokenizer, SentencePiece subwords,
// and the JSON form that travels in checkpoints.
#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <string>
#include <vector>

#include "common/check.h"
#include "seqnn/data/tokenizer.h"
#include "seqnn/error.h"

using namespace seqnn;
using namespace seqnn::data;
using seqnn::testutil::error_of;
using seqnn::testutil::expect_error;
using json = nlohmann::json;

namespace {
TokenizerOptions char_opts() {
  TokenizerOptions o;
  o.type = "char";
  return o;
}

TokenizerOptions subword_opts(int64_t vocab, const std::string& model = "unigram") {
  TokenizerOptions o;
  o.type = "subword";
  o.vocab_size = vocab;
  o.model_type = model;
  return o;
}

// A small English corpus with repeated words, so subword training finds multi-character pieces.
std::vector<std::string> corpus() {
  std::vector<std::string> base = {
      "Open the file", "Close the file", "Save the file as", "Open a new window", "Close the window",
      "Print the document", "Save all documents", "The file could not be opened", "Cannot save the file",
      "Select a file to open", "Open recent files", "Delete the selected files", "Rename the file",
      "The window could not be closed", "Show hidden files", "Print preview of the document",
      "Settings for the printer", "Select all", "Undo the last action", "Redo the last action",
      "Zoom in", "Zoom out", "Über die Anwendung", "Datei öffnen", "Fenster schließen",
  };
  std::vector<std::string> out;
  for (int rep = 0; rep < 4; ++rep)
    for (const auto& s : base) out.push_back(s);
  return out;
}
}  // namespace

// ==================================================================== UTF-8
TEST(Utf8, DecodesAndEncodesEveryLength) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  const std::vector<char32_t> cps = utf8_decode(s);
  ASSERT_EQ(cps, (std::vector<char32_t>{U'a', 0xE9, 0x20AC, 0x1F600}));
  std::string back;
  for (char32_t c : cps) back += utf8_encode(c);
  EXPECT_EQ(back, s);
  EXPECT_EQ(utf8_decode(std::string("\0x", 2)), (std::vector<char32_t>{0, U'x'}));  // NUL is a character
  EXPECT_EQ(utf8_encode(0x10FFFF), "\xF4\x8F\xBF\xBF");
  EXPECT_TRUE(utf8_decode("").empty());
}

TEST(Utf8, RejectsMalformedInputNamingTheByte) {
  struct Case {
    std::string text, part;
  };
  const std::vector<Case> cases = {
      {"ab\x80", "byte 2: unexpected continuation byte 0x80"},
      {"x\xC0\xAF", "byte 1: overlong encoding of a 2-byte"},      // '/' in 2 bytes
      {"\xE0\x80\xAF", "byte 0: overlong encoding of a 3-byte"},   // '/' in 3 bytes
      {"\xF0\x82\x82\xAC", "byte 0: overlong encoding of a 4-byte"},
      {"ok\xED\xA0\x80", "byte 2: surrogate code point U+D800"},
      {"\xF4\x90\x80\x80", "byte 0: code point above U+10FFFF"},
      {"abc\xE2\x82", "byte 3: truncated 3-byte sequence (the text ends"},
      {"\xE2\x28\xA1", "byte 0: truncated 3-byte sequence (byte 1 is 0x28"},
      {"\xFF", "byte 0: byte 0xFF never occurs"},
      {"\xF8\x88\x80\x80\x80", "byte 0: byte 0xF8 never occurs"},
  };
  for (const auto& c : cases) expect_error([&] { utf8_decode(c.text); }, "tokenizer", c.part);
  expect_error([&] { utf8_decode("\xC3", "metric"); }, "metric", "truncated 2-byte");
  EXPECT_THROW(utf8_encode(0xD800), Error);
  EXPECT_THROW(utf8_encode(0x110000), Error);
}

// ==================================================================== base64
TEST(Base64, RoundTripsAndMatchesRfc4648Vectors) {
  // RFC 4648 section 10 test vectors
  const std::vector<std::pair<std::string, std::string>> v = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [raw, enc] : v) {
    EXPECT_EQ(base64_encode(raw), enc);
    EXPECT_EQ(base64_decode(enc), raw);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base64_decode(base64_encode(all)), all);
}

TEST(Base64, RejectsCorruptText) {
  expect_error([] { base64_decode("Zm9"); }, "tokenizer", "length 3 is not a multiple of 4");
  expect_error([] { base64_decode("Zm9v!A=="); }, "tokenizer", "invalid character '!' at offset 4");
  expect_error([] { base64_decode("Zm 9"); }, "tokenizer", "invalid character ' ' at offset 2");
  expect_error([] { base64_decode("Z===", "x"); }, "x", "misplaced padding '=' at offset 1");
  expect_error([] { base64_decode("Zg==Zm9v"); }, "tokenizer", "misplaced padding");
  expect_error([] { base64_decode("Zm=v"); }, "tokenizer", "data after padding at offset 3");
  expect_error([] { base64_decode("Zh=="); }, "tokenizer", "non-zero bits");  // 'h' leaves bits after "f"
}

// ==================================================================== char tokenizer
TEST(CharTokenizer, IdsByFrequencyThenFirstAppearance) {
  // counts: a 3, b 2, c 2 (b seen first), é 1
  auto t = train_tokenizer({"abcab", "cé", "a"}, char_opts());
  EXPECT_EQ(t->type(), "char");
  ASSERT_EQ(t->vocab_size(), 8);
  EXPECT_EQ(t->encode("abcé"), (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(t->piece(0), "<pad>");
  EXPECT_EQ(t->piece(1), "<unk>");
  EXPECT_EQ(t->piece(2), "<s>");
  EXPECT_EQ(t->piece(3), "</s>");
  EXPECT_EQ(t->piece(7), "\xC3\xA9");
  EXPECT_EQ(Tokenizer::kPad, 0);
  EXPECT_EQ(Tokenizer::kUnk, 1);
  EXPECT_EQ(Tokenizer::kBos, 2);
  EXPECT_EQ(Tokenizer::kEos, 3);
}

TEST(CharTokenizer, RoundTripUnknownAndReservedIds) {
  auto t = train_tokenizer({"Hallo Welt", "Grüße aus Köln"}, char_opts());
  for (const std::string s : {"Hallo", "Köln Welt", "", "  "}) EXPECT_EQ(t->decode(t->encode(s)), s) << s;
  // unseen characters -> unk, printed as U+2047
  const auto ids = t->encode("HxW");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], Tokenizer::kUnk);
  EXPECT_EQ(t->decode(ids), "H\xE2\x81\x87W");
  // pad / bos / eos are skipped when decoding
  std::vector<int64_t> framed = {Tokenizer::kBos};
  for (int64_t id : t->encode("Welt")) framed.push_back(id);
  framed.push_back(Tokenizer::kEos);
  framed.push_back(Tokenizer::kPad);
  EXPECT_EQ(t->decode(framed), "Welt");
  expect_error([&] { t->decode({4, t->vocab_size()}); }, "tokenizer", "out of range");
  expect_error([&] { t->decode({-1}); }, "tokenizer", "id -1 out of range");
  expect_error([&] { t->piece(t->vocab_size()); }, "tokenizer", "out of range");
  expect_error([&] { t->encode("bad \xC3"); }, "tokenizer", "invalid UTF-8 at byte 4");
}

TEST(CharTokenizer, MinFreqAndMaxSize) {
  const std::vector<std::string> texts = {"aaaabbbccd"};
  TokenizerOptions o = char_opts();
  o.min_freq = 2;
  auto t = train_tokenizer(texts, o);
  EXPECT_EQ(t->vocab_size(), 4 + 3);  // a b c
  EXPECT_EQ(t->encode("d"), (std::vector<int64_t>{Tokenizer::kUnk}));
  o.min_freq = 1;
  o.max_size = 6;  // reserved + 2 most frequent
  t = train_tokenizer(texts, o);
  EXPECT_EQ(t->vocab_size(), 6);
  EXPECT_EQ(t->encode("abc"), (std::vector<int64_t>{4, 5, Tokenizer::kUnk}));
  o.max_size = 3;
  expect_error([&] { train_tokenizer(texts, o); }, "tokenizer", "max_size");
  o.max_size = 0;
  o.min_freq = 100;
  expect_error([&] { train_tokenizer(texts, o); }, "tokenizer", "no character occurs");
  expect_error([&] { train_tokenizer({}, char_opts()); }, "tokenizer", "no training text");
  expect_error([&] { train_tokenizer({"", ""}, char_opts()); }, "tokenizer", "no training text");
  expect_error([&] { train_tokenizer({"ok", "b\xED\xBF\xBF"}, char_opts()); }, "tokenizer",
               "training text 1: invalid UTF-8 at byte 1: surrogate");
  TokenizerOptions bad;
  bad.type = "word";
  expect_error([&] { train_tokenizer({"x"}, bad); }, "tokenizer", "unknown type \"word\"");
}

TEST(CharTokenizer, JsonRoundTripAndValidation) {
  auto t = train_tokenizer({"Grüße, Welt!"}, char_opts());
  const json j = t->to_json();
  auto u = tokenizer_from_json(j);
  EXPECT_EQ(u->type(), "char");
  EXPECT_EQ(u->vocab_size(), t->vocab_size());
  for (int64_t id = 0; id < t->vocab_size(); ++id) EXPECT_EQ(u->piece(id), t->piece(id));
  EXPECT_EQ(u->encode("Welt, Grüße"), t->encode("Welt, Grüße"));
  EXPECT_EQ(u->to_json(), j);

  auto with = [&](const char* key, const json& v) {
    json k = j;
    k[key] = v;
    return k;
  };
  expect_error([&] { tokenizer_from_json(json::array()); }, "tokenizer", "expected a JSON object");
  expect_error([&] { tokenizer_from_json(with("type", "bpe")); }, "tokenizer", "unknown type \"bpe\"");
  expect_error([&] { tokenizer_from_json(with("type", 3)); }, "tokenizer", "\"type\" must be a string");
  expect_error([&] { tokenizer_from_json(with("vocab_size", 99)); }, "tokenizer", "vocab_size 99 does not match");
  expect_error([&] { tokenizer_from_json(with("chars", json::array({"a", "bc"}))); }, "tokenizer",
               "chars[1] must be one character");
  expect_error([&] { tokenizer_from_json(with("chars", json::array({"a", "a"}))); }, "tokenizer",
               "chars[1] repeats chars[0]");
  expect_error([&] { tokenizer_from_json(with("chars", json::array({"a", 5}))); }, "tokenizer", "not a string");
  expect_error([&] { tokenizer_from_json(with("min_freq", "x")); }, "tokenizer", "\"min_freq\" must be an integer");
  json nochars = j;
  nochars.erase("chars");
  expect_error([&] { tokenizer_from_json(nochars); }, "tokenizer", "\"chars\" must be an array");
}

// ==================================================================== subword tokenizer
TEST(SubwordTokenizer, TrainsPiecesAndRoundTrips) {
  for (const std::string model : {"unigram", "bpe"}) {
    SCOPED_TRACE(model);
    auto t = train_tokenizer(corpus(), subword_opts(70, model));
    EXPECT_EQ(t->type(), "subword");
    EXPECT_EQ(t->vocab_size(), 70);
    EXPECT_EQ(t->piece(0), "<pad>");
    EXPECT_EQ(t->piece(1), "<unk>");
    EXPECT_EQ(t->piece(2), "<s>");
    EXPECT_EQ(t->piece(3), "</s>");
    // subwords: frequent words become single pieces, so a sentence takes fewer ids than characters
    const std::string s = "Open the file";
    const auto ids = t->encode(s);
    EXPECT_LT(ids.size(), 8u);
    int64_t multi = 0;
    for (int64_t id : ids) {
      EXPECT_GE(id, 4);
      if (t->piece(id).size() > 1 + std::string("\xE2\x96\x81").size()) ++multi;
    }
    EXPECT_GT(multi, 0);
    EXPECT_EQ(t->decode(ids), s);
    for (const std::string x : {"Close the window", "Datei öffnen", "Save the document as"})
      EXPECT_EQ(t->decode(t->encode(x)), x) << x;
    // whitespace is normalised (runs collapsed, ends trimmed)
    EXPECT_EQ(t->decode(t->encode("  Open   the  file ")), "Open the file");
    // the word marker shows in the pieces
    bool marker = false;
    for (int64_t id : ids) marker |= t->piece(id).rfind("\xE2\x96\x81", 0) == 0;
    EXPECT_TRUE(marker);
    // an unseen character -> unk, printed as U+2047; bos/eos/pad skipped
    const auto q = t->encode("Open \xE4\xB8\xAD");  // a CJK character never seen
    EXPECT_NE(std::find(q.begin(), q.end(), Tokenizer::kUnk), q.end());
    std::vector<int64_t> framed = {Tokenizer::kBos};
    framed.insert(framed.end(), q.begin(), q.end());
    framed.push_back(Tokenizer::kEos);
    framed.push_back(Tokenizer::kPad);
    EXPECT_EQ(t->decode(framed), "Open \xE2\x81\x87");
    expect_error([&] { t->decode({t->vocab_size()}); }, "tokenizer", "out of range");
    expect_error([&] { t->piece(-1); }, "tokenizer", "out of range");
    expect_error([&] { t->encode("x\xFF"); }, "tokenizer", "invalid UTF-8 at byte 1");
  }
}

TEST(SubwordTokenizer, DeterministicAndJsonRoundTrip) {
  auto a = train_tokenizer(corpus(), subword_opts(72));
  auto b = train_tokenizer(corpus(), subword_opts(72));
  const json ja = a->to_json(), jb = b->to_json();
  EXPECT_EQ(ja["model"], jb["model"]);  // bit-identical model protos
  auto c = tokenizer_from_json(ja);
  EXPECT_EQ(c->to_json(), ja);
  EXPECT_EQ(c->vocab_size(), a->vocab_size());
  for (int64_t id = 0; id < a->vocab_size(); ++id) EXPECT_EQ(c->piece(id), a->piece(id));
  for (const auto& s : corpus()) EXPECT_EQ(c->encode(s), a->encode(s));
  // a different vocabulary size is a different model
  auto d = train_tokenizer(corpus(), subword_opts(64));
  EXPECT_NE(d->to_json()["model"], ja["model"]);
}

TEST(SubwordTokenizer, CorruptJsonBase64AndProto) {
  const json j = train_tokenizer(corpus(), subword_opts(60))->to_json();
  auto with = [&](const char* key, const json& v) {
    json k = j;
    k[key] = v;
    return k;
  };
  const std::string model = j["model"].get<std::string>();
  expect_error([&] { tokenizer_from_json(with("model", 7)); }, "tokenizer", "\"model\" must be a base64 string");
  expect_error([&] { tokenizer_from_json(with("model", model.substr(0, model.size() - 1))); }, "tokenizer",
               "base64: length");
  std::string bad = model;
  bad[10] = '*';
  expect_error([&] { tokenizer_from_json(with("model", bad)); }, "tokenizer", "invalid character '*' at offset 10");
  expect_error([&] { tokenizer_from_json(with("model", "")); }, "tokenizer", "\"model\" is empty");
  // valid base64 of bytes that are not a SentencePiece model
  expect_error([&] { tokenizer_from_json(with("model", base64_encode("this is not a protobuf message"))); },
               "tokenizer", "corrupt SentencePiece model");
  // a truncated proto
  const std::string proto = base64_decode(model);
  expect_error([&] { tokenizer_from_json(with("model", base64_encode(proto.substr(0, proto.size() / 2)))); },
               "tokenizer", "corrupt SentencePiece model");
  expect_error([&] { tokenizer_from_json(with("vocab_size", 61)); }, "tokenizer",
               "vocab_size 61 does not match the SentencePiece model's 60 pieces");
  expect_error([&] { tokenizer_from_json(with("vocab_size", "60")); }, "tokenizer", "must be an integer");
  expect_error([&] { tokenizer_from_json(with("seed", -1)); }, "tokenizer", "\"seed\" must be");
}

TEST(SubwordTokenizer, ModelWithOtherReservedIdsIsRejected) {
  // a valid SentencePiece model with SentencePiece's default ids (unk 0, bos 1, eos 2, no pad)
  std::vector<std::string> texts = corpus();
  struct It : sentencepiece::SentenceIterator {
    const std::vector<std::string>& t;
    size_t i = 0;
    explicit It(const std::vector<std::string>& x) : t(x) {}
    bool done() const override { return i >= t.size(); }
    void Next() override { ++i; }
    const std::string& value() const override { return t[i]; }
    sentencepiece::util::Status status() const override { return {}; }
  } it(texts);
  std::string proto;
  ASSERT_TRUE(sentencepiece::SentencePieceTrainer::Train(
                  {{"vocab_size", "60"}, {"num_threads", "1"}, {"minloglevel", "2"}}, &it, &proto)
                  .ok());
  const json j = {{"type", "subword"}, {"vocab_size", 60}, {"model", base64_encode(proto)}};
  expect_error([&] { tokenizer_from_json(j); }, "tokenizer",
               "reserved ids are pad -1, unk 0, bos 1, eos 2 (expected 0, 1, 2, 3)");
}

TEST(SubwordTokenizer, BadOptionsAndVocabularyTooLargeOrSmall) {
  expect_error([&] { train_tokenizer(corpus(), subword_opts(4)); }, "tokenizer", "vocab_size must be >= 5");
  expect_error([&] { train_tokenizer(corpus(), subword_opts(50, "word")); }, "tokenizer", "model_type must be");
  TokenizerOptions o = subword_opts(50);
  o.character_coverage = 0;
  expect_error([&] { train_tokenizer(corpus(), o); }, "tokenizer", "character_coverage");
  // more pieces than the text can give, or fewer than its characters: SentencePiece's own message
  const std::string big = error_of([&] { train_tokenizer({"ab ab ab", "ba"}, subword_opts(500)); });
  EXPECT_NE(big.find("tokenizer: subword: SentencePiece training failed"), std::string::npos) << big;
  const std::string small = error_of([&] { train_tokenizer(corpus(), subword_opts(10)); });
  EXPECT_NE(small.find("tokenizer: subword: SentencePiece training failed"), std::string::npos) << small;
  expect_error([&] { train_tokenizer({"", ""}, subword_opts(50)); }, "tokenizer", "no training text");
  expect_error([&] { train_tokenizer({"fine", "\xC3\x28"}, subword_opts(50)); }, "tokenizer",
               "training text 1: invalid UTF-8 at byte 0");
}
