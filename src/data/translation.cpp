// src/data/translation.cpp: English -> German pairs from the gettext catalogs (see translation.h).
#include "seqnn/data/translation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <set>
#include <unordered_set>

#include "seqnn/data/batch.h"
#include "seqnn/data/tokenizer.h"
#include "seqnn/error.h"
#include "seqnn/io/mo.h"

namespace seqnn::data {

namespace fs = std::filesystem;

namespace {
constexpr const char* kOp = "translation";

bool is_ascii_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ascii_alnum(unsigned char c) { return is_ascii_alpha(c) || (c >= '0' && c <= '9'); }
bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// The length of a printf conversion at s[i] == '%' ("%s", "%-10.3lf", "%1$s", "%'d", "%zu"), 0 if none.
size_t printf_spec(const std::string& s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || std::strchr("$-+ #'.*", s[j]))) ++j;
  while (j < s.size() && std::strchr("hlLqjzt", s[j])) ++j;
  if (j < s.size() && std::strchr("diouxXeEfFgGaAcspnmC%S", s[j])) return j + 1 - i;
  return 0;
}

// An ASCII letter outside printf conversions and {...} placeholders ("%s: %s" and "{0}" have none).
bool has_word_letter(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (size_t k = printf_spec(s, i)) {
        i += k - 1;
        continue;
      }
    }
    if (s[i] == '{') {
      const size_t close = s.find('}', i);
      if (close != std::string::npos) {
        i = close;
        continue;
      }
    }
    if (is_ascii_alpha(static_cast<unsigned char>(s[i]))) return true;
  }
  return false;
}

int64_t format_marks(const std::string& s) {
  return std::count(s.begin(), s.end(), '%') + std::count(s.begin(), s.end(), '{');
}
}  // namespace

// ==================================================================== cleaning (rule 2)
namespace {
bool letter_cp(char32_t c) { return c < 0x80 ? is_ascii_alpha(static_cast<unsigned char>(c)) : c >= 0xC0; }

// Position of each accelerator marker ('_' / '&' before a letter, not inside an ASCII word).
std::vector<size_t> marker_positions(const std::vector<char32_t>& cps) {
  std::vector<size_t> out;
  for (size_t i = 0; i + 1 < cps.size(); ++i) {
    const char32_t c = cps[i];
    if (c != U'_' && c != U'&') continue;
    const bool in_word = i > 0 && cps[i - 1] < 0x80 &&
                         (is_ascii_alnum(static_cast<unsigned char>(cps[i - 1])) || cps[i - 1] == U'_');
    if (letter_cp(cps[i + 1]) && !in_word) out.push_back(i);
  }
  return out;
}

// Trim, reject control characters, collapse spaces.
std::optional<std::string> finish(const std::vector<char32_t>& cps, const std::vector<size_t>& drop) {
  std::u32string t;
  size_t k = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    if (k < drop.size() && drop[k] == i) {
      ++k;
      continue;
    }
    t += cps[i];
  }
  size_t a = 0, b = t.size();
  while (a < b && t[a] < 0x80 && is_ws(static_cast<char>(t[a]))) ++a;
  while (b > a && t[b - 1] < 0x80 && is_ws(static_cast<char>(t[b - 1]))) --b;
  std::string out;
  for (size_t i = a; i < b; ++i) {
    const char32_t c = t[i];
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) return std::nullopt;  // inner newline, tab, other controls
    if (c == U' ' && !out.empty() && out.back() == ' ') continue;
    out += utf8_encode(c);
  }
  return out;
}

std::optional<std::vector<char32_t>> decode_or_none(const std::string& s) {
  try {
    return utf8_decode(s, kOp);
  } catch (const Error&) {
    return std::nullopt;  // a catalog in another encoding, or a damaged string
  }
}
}  // namespace

std::optional<std::string> clean_translation_text(const std::string& s) {
  const auto cps = decode_or_none(s);
  if (!cps) return std::nullopt;
  return finish(*cps, marker_positions(*cps));
}

std::optional<std::pair<std::string, std::string>> clean_translation_pair(const std::string& msgid,
                                                                          const std::string& msgstr) {
  const auto src = decode_or_none(msgid), tgt = decode_or_none(msgstr);
  if (!src || !tgt) return std::nullopt;
  const std::vector<size_t> ms = marker_positions(*src);
  std::vector<size_t> mt = marker_positions(*tgt);
  if (!ms.empty() && mt.empty()) {
    // the source has a shortcut, the target none at a word start: German often puts it inside a
    // word ("Na_me", "Spei_chern"); drop the first such marker character before a letter
    const char32_t m = (*src)[ms.front()];
    for (size_t i = 0; i + 1 < tgt->size(); ++i)
      if ((*tgt)[i] == m && letter_cp((*tgt)[i + 1])) {
        mt.push_back(i);
        break;
      }
  }
  auto a = finish(*src, ms), b = finish(*tgt, mt);
  if (!a || !b) return std::nullopt;
  return std::make_pair(std::move(*a), std::move(*b));
}

// ==================================================================== split (rule 4)
std::vector<int> split_catalogs(const std::vector<std::string>& stems, const TranslationOptions& o) {
  const size_t n = stems.size();
  auto count_of = [&](double f) -> size_t {
    if (f <= 0) return 0;
    return std::max<size_t>(1, static_cast<size_t>(std::llround(f * static_cast<double>(n))));
  };
  const size_t n_test = count_of(o.test_fraction), n_valid = count_of(o.valid_fraction);
  check(n_test + n_valid < n, kOp, n, " catalog", n == 1 ? "" : "s", " cannot fill the splits: ", n_test,
        " test + ", n_valid, " valid leave no training catalog (data.translation_test_fraction ", o.test_fraction,
        ", data.translation_valid_fraction ", o.valid_fraction, ")");
  // rank by a seeded FNV-1a hash of the stem (ties, which need equal hashes, by name)
  std::vector<std::pair<uint64_t, size_t>> rank(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : stems[i]) h = (h ^ c) * 1099511628211ull;
    rank[i] = {mix_seed(o.seed, h, 0x7a11u), i};
  }
  std::sort(rank.begin(), rank.end(), [&](const auto& x, const auto& y) {
    return x.first != y.first ? x.first < y.first : stems[x.second] < stems[y.second];
  });
  std::vector<int> split(n, 0);
  for (size_t r = 0; r < n; ++r) split[rank[r].second] = r < n_test ? 2 : r < n_test + n_valid ? 1 : 0;
  return split;
}

// ==================================================================== the dataset
namespace {
std::vector<fs::path> list_catalogs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".mo" && e.is_regular_file(ec)) out.push_back(e.path());
  std::sort(out.begin(), out.end());  // directory order is not deterministic
  return out;
}

// Rules 1-3 for one entry: the cleaned pair, or nullopt.
std::optional<std::pair<std::string, std::string>> clean_pair(const io::MoEntry& e, const TranslationOptions& o) {
  if (e.is_plural() || e.msgid.empty() || e.msgstr.size() != 1 || e.msgstr[0].empty()) return std::nullopt;
  if (e.msgid == "translator-credits" || e.msgid == "translator_credits") return std::nullopt;
  auto cleaned = clean_translation_pair(e.msgid, e.msgstr[0]);
  if (!cleaned) return std::nullopt;
  auto& [src0, tgt0] = *cleaned;
  const std::string* src = &src0;
  const std::string* tgt = &tgt0;
  if (src->empty() || tgt->empty() || *src == *tgt || !has_word_letter(*src)) return std::nullopt;
  if (format_marks(*src) > kMaxFormatMarks || format_marks(*tgt) > kMaxFormatMarks) return std::nullopt;
  for (const std::string* s : {&*src, &*tgt}) {
    const auto len = static_cast<int64_t>(utf8_decode(*s, kOp).size());
    if (len < o.min_chars || len > o.max_chars) return std::nullopt;
  }
  return cleaned;
}

// Keeps a seeded choice of `keep` examples, in their original order (Fisher-Yates on indices).
void subsample(std::vector<Example>& ex, size_t keep, uint64_t seed, uint64_t salt) {
  if (ex.size() <= keep) return;
  std::vector<size_t> idx(ex.size());
  std::iota(idx.begin(), idx.end(), 0);
  const uint64_t base = mix_seed(seed, 0x5eed7a11u, salt);
  for (size_t i = idx.size() - 1; i > 0; --i) std::swap(idx[i], idx[mix_seed(base, i) % (i + 1)]);
  idx.resize(keep);
  std::sort(idx.begin(), idx.end());
  std::vector<Example> out;
  out.reserve(keep);
  for (size_t i : idx) out.push_back(std::move(ex[i]));
  ex = std::move(out);
}
}  // namespace

Dataset make_translation(const TranslationOptions& o) {
  check(o.min_chars >= 1 && o.max_chars >= o.min_chars, kOp, "data.translation_min_chars (", o.min_chars,
        ") must be >= 1 and data.translation_max_chars (", o.max_chars, ") >= it");
  check(o.test_fraction >= 0 && o.valid_fraction >= 0 && o.test_fraction + o.valid_fraction < 1, kOp,
        "data.translation_test_fraction (", o.test_fraction, ") and data.translation_valid_fraction (",
        o.valid_fraction, ") must be >= 0 and sum to < 1");
  check(o.max_pairs >= 0, kOp, "data.translation_max_pairs must be >= 0 (0 = all), got ", o.max_pairs);
  check(!o.language.empty() && o.language.find('/') == std::string::npos && o.language != "." && o.language != "..",
        kOp, "data.translation_language \"", o.language, "\" is not a language directory name");
  const fs::path dir = fs::path(o.locale_dir) / o.language / "LC_MESSAGES";
  const auto files = list_catalogs(dir);
  check(!files.empty(), kOp, "no .mo catalogs in ", dir.string(), " (data.locale_dir \"", o.locale_dir,
        "\", data.translation_language \"", o.language, "\")");
  std::vector<std::string> stems;
  for (const auto& f : files) stems.push_back(f.stem().string());
  const std::vector<int> split = split_catalogs(stems, o);

  Dataset d;
  d.name = "translation";
  d.kind = TaskKind::Sequence;
  std::array<std::vector<Example>*, 3> out = {&d.train, &d.valid, &d.test};
  std::array<std::set<std::pair<std::string, std::string>>, 3> seen;  // rule 5
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const io::MoCatalog cat = io::load_mo(files[fi]);
    const int sp = split[fi];
    for (const auto& e : cat.entries) {
      auto pair = clean_pair(e, o);
      if (!pair || !seen[sp].insert(*pair).second) continue;
      Example ex;
      ex.source = std::move(pair->first);
      ex.target = std::move(pair->second);
      ex.group = stems[fi];
      out[sp]->push_back(std::move(ex));
    }
  }
  // rule 6: nothing held out whose source was seen in training
  std::unordered_set<std::string> train_sources;
  for (const auto& e : d.train) train_sources.insert(e.source);
  for (int sp = 1; sp <= 2; ++sp)
    std::erase_if(*out[sp], [&](const Example& e) { return train_sources.count(e.source) != 0; });
  // rule 7
  if (o.max_pairs > 0 && static_cast<int64_t>(d.train.size()) > o.max_pairs) {
    const double frac = static_cast<double>(o.max_pairs) / static_cast<double>(d.train.size());
    subsample(d.train, static_cast<size_t>(o.max_pairs), o.seed, 0);
    for (int sp = 1; sp <= 2; ++sp) {
      const size_t n = out[sp]->size();
      subsample(*out[sp], std::max<size_t>(1, static_cast<size_t>(std::llround(frac * static_cast<double>(n)))),
                o.seed, static_cast<uint64_t>(sp));
    }
  }
  check(!d.train.empty(), kOp, "no training pairs left after cleaning in ", dir.string());
  const char* names[3] = {"training", "validation", "test"};
  const double fractions[3] = {1, o.valid_fraction, o.test_fraction};
  for (int sp = 1; sp <= 2; ++sp)
    check(fractions[sp] == 0 || !out[sp]->empty(), kOp, "no ", names[sp], " pairs: the held-out catalogs of ",
          dir.string(), " have none left after cleaning and removing sources seen in training (data.seed ", o.seed,
          ")");
  return d;
}

}  // namespace seqnn::data
