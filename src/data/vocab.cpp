// src/data/vocab.cpp: the token table and the tokenizer.
#include "seqnn/data/vocab.h"

#include <cctype>
#include <map>

#include "seqnn/error.h"

namespace seqnn::data {

// ==================================================================== Vocab
Vocab::Vocab() {
  add(kPadToken);
  add(kUnkToken);
}

Vocab Vocab::build(const std::vector<std::vector<std::string>>& sentences, int64_t min_freq) {
  std::unordered_map<std::string, int64_t> count;
  std::vector<std::string> order;
  for (const auto& s : sentences)
    for (const auto& t : s)
      if (count[t]++ == 0) order.push_back(t);
  Vocab v;
  for (const auto& t : order)
    if (count[t] >= min_freq) v.add(t);
  return v;
}

Vocab Vocab::from_json(const nlohmann::json& j) {
  check(j.is_array() && j.size() >= 2, "Vocab.from_json", "expected an array of at least 2 tokens, got ",
        j.dump().substr(0, 60));
  Vocab v;
  for (size_t i = 0; i < j.size(); ++i) {
    check(j[i].is_string(), "Vocab.from_json", "entry ", i, " is not a string");
    std::string t = j[i].get<std::string>();
    if (i == 0) { check(t == kPadToken, "Vocab.from_json", "entry 0 must be <pad>, got ", t); continue; }
    if (i == 1) { check(t == kUnkToken, "Vocab.from_json", "entry 1 must be <unk>, got ", t); continue; }
    check(!v.contains(t), "Vocab.from_json", "duplicate token \"", t, "\" at ", i);
    v.add(t);
  }
  return v;
}

nlohmann::json Vocab::to_json() const { return nlohmann::json(tokens_); }

int64_t Vocab::add(const std::string& token) {
  auto it = index_.find(token);
  if (it != index_.end()) return it->second;
  int64_t id = size();
  tokens_.push_back(token);
  index_.emplace(token, id);
  return id;
}

int64_t Vocab::id(const std::string& token) const {
  auto it = index_.find(token);
  return it == index_.end() ? kUnk : it->second;
}

const std::string& Vocab::token(int64_t id) const {
  check(id >= 0 && id < size(), "Vocab.token", "id ", id, " out of range [0,", size(), ")");
  return tokens_[static_cast<size_t>(id)];
}

std::vector<int64_t> Vocab::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> out;
  out.reserve(tokens.size());
  for (const auto& t : tokens) out.push_back(id(t));
  return out;
}

// ==================================================================== tokenizer
std::string lowercase(const std::string& s) {
  std::string out = s;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> tokenize(const std::string& text, bool lower) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(lower ? lowercase(cur) : cur);
    cur.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else if (c == ',' || c == '.' || c == '?' || c == '!' || c == ';') {
      flush();
      out.emplace_back(1, c);
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

}  // namespace seqnn::data
