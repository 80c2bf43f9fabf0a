// seqnn/data/tokenizer.h: text <-> ids for sequence tasks (translation, transcripts).
//
// Every tokenizer reserves the same four ids: pad 0, unk 1, bos 2, eos 3 (what seq2seq models
// and searches assume). encode() never adds BOS/EOS; the trainer does.
//   CharTokenizer      one id per Unicode code point (UTF-8 decoded; invalid bytes are an Error
//                      naming the byte offset), built from training text (min_freq, max_size);
//                      unseen characters -> unk. decode(encode(s)) == s for seen characters.
//   SubwordTokenizer   SentencePiece (Debian's libsentencepiece-dev): a unigram or BPE model
//                      trained in memory on the training text with vocab_size pieces, encode and
//                      decode (decode(encode(s)) == s up to SentencePiece's whitespace
//                      normalisation). Training is deterministic for the same text and options.
// A tokenizer travels inside checkpoints: to_json() holds everything to rebuild it (the
// SentencePiece model proto base64-encoded), from_json() validates it (unknown type, wrong
// sizes, a corrupt proto: an Error naming "tokenizer").
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace seqnn::data {

class Tokenizer {
 public:
  static constexpr int64_t kPad = 0, kUnk = 1, kBos = 2, kEos = 3;
  virtual ~Tokenizer() = default;
  virtual std::string type() const = 0;  // "char" / "subword"
  virtual int64_t vocab_size() const = 0;
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // Ids outside [0, vocab_size) are an Error; pad/bos/eos are skipped, unk prints as "\u2047".
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // The surface form of one id (for attention-map axes): a character, or a piece with
  // SentencePiece's "\u2581" word marker.
  virtual std::string piece(int64_t id) const = 0;
  virtual nlohmann::json to_json() const = 0;
};

struct TokenizerOptions {
  std::string type = "char";      // char / subword
  int64_t min_freq = 1;           // char: characters seen fewer times map to unk
  int64_t max_size = 0;           // char: > 0 caps vocab_size() (the four reserved ids included) by keeping
                                  // the most frequent characters (ties: first seen); must then be >= 5
  int64_t vocab_size = 4000;      // subword: pieces including the four reserved ids
  std::string model_type = "unigram";  // subword: unigram / bpe
  double character_coverage = 1.0;     // subword
  uint64_t seed = 0;              // subword: SentencePiece's random generator (training is single-threaded)
};

// Builds a tokenizer from training text. Errors: no text, vocab_size too small for the text.
std::shared_ptr<Tokenizer> train_tokenizer(const std::vector<std::string>& texts, const TokenizerOptions& options);
std::shared_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j);

// ==================================================================== helpers
// UTF-8 -> code points, strictly: overlong forms, surrogates (U+D800..DFFF), code points above
// U+10FFFF, stray continuation bytes and truncated sequences are an Error
//   "<op>: invalid UTF-8 at byte 5: overlong encoding of a 2-byte sequence"
std::vector<char32_t> utf8_decode(const std::string& text, const std::string& op = "tokenizer");
// One code point (a valid scalar value) as UTF-8.
std::string utf8_encode(char32_t cp);
// RFC 4648 base64 with '=' padding. decode rejects characters outside the alphabet, a length that
// is not a multiple of 4, misplaced padding and non-zero bits after the last byte (an Error
// naming op and the offending offset).
std::string base64_encode(const std::string& bytes);
std::string base64_decode(const std::string& text, const std::string& op = "tokenizer");

}  // namespace seqnn::data
