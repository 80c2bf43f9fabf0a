// seqnn/data/vocab.h: a token <-> id table with <pad> = 0 and <unk> = 1.
//
//   data::Vocab v = data::Vocab::build(sentences, /*min_freq=*/1);
//   v.id("taipei") -> 1 (<unk>) when never seen;  v.token(5) -> "arrive"
// Tokens are looked up as given; lowercase them first (data::tokenize does) if the table was
// built from lowercased text. Ids are assigned in order of first appearance, so a build from the
// same sentences gives the same table everywhere.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace seqnn::data {

class Vocab {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kUnk = 1;
  static constexpr const char* kPadToken = "<pad>";
  static constexpr const char* kUnkToken = "<unk>";

  Vocab();  // just <pad> and <unk>
  // Every token seen at least min_freq times (first-appearance order).
  static Vocab build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq = 1);
  // From the token list of to_json() (index = id); validates <pad>/<unk> and duplicates.
  static Vocab from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;

  // Adds `token` if new; returns its id.
  int64_t add(const std::string& token);
  int64_t id(const std::string& token) const;  // kUnk when absent
  bool contains(const std::string& token) const { return index_.count(token) != 0; }
  // Error("Vocab.token: ...") when out of range.
  const std::string& token(int64_t id) const;
  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> index_;
};

// Splits on whitespace; punctuation , . ? ! ; is split off as its own token; lowercases unless
// lower is false (the original spelling, for display).
std::vector<std::string> tokenize(const std::string& text, bool lower = true);
std::string lowercase(const std::string& s);

}  // namespace seqnn::data
