// src/data/langid.cpp: language identification from the gettext catalogs on this machine.
#include "seqnn/data/langid.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <set>

#include "seqnn/data/batch.h"
#include "seqnn/error.h"
#include "seqnn/io/mo.h"

namespace seqnn::data {

namespace fs = std::filesystem;

// ==================================================================== text helpers
std::vector<std::string> parse_language_list(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    size_t a = cur.find_first_not_of(" \t"), b = cur.find_last_not_of(" \t");
    std::string item = a == std::string::npos ? "" : cur.substr(a, b - a + 1);
    check(!item.empty(), "langid", "data.languages \"", list, "\" has an empty item (expected e.g. \"de,fr,es\")");
    check(item.find('/') == std::string::npos && item != "." && item != "..", "langid", "data.languages: \"", item,
          "\" is not a language code");
    check(std::find(out.begin(), out.end(), item) == out.end(), "langid", "data.languages: \"", item, "\" appears twice");
    out.push_back(item);
    cur.clear();
  };
  for (char ch : list) {
    if (ch == ',') flush();
    else cur += ch;
  }
  flush();
  check(out.size() >= 2, "langid", "data.languages needs at least two languages, got \"", list, "\"");
  return out;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xc0) == 0x80;
    if (!ok) {
      out.emplace_back("\xef\xbf\xbd");  // U+FFFD
      ++i;
      continue;
    }
    out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

namespace {
bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The length of a printf conversion at s[i] == '%' ("%s", "%-10.3lf", "%1$s", "%'d", "%zu"), 0 if none.
size_t printf_spec(const std::string& s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || std::strchr("$-+ #'.*", s[j]))) ++j;
  while (j < s.size() && std::strchr("hlLqjzt", s[j])) ++j;
  if (j < s.size() && std::strchr("diouxXeEfFgGaAcspnmC%S", s[j])) return j + 1 - i;
  return 0;
}
}  // namespace

// Removes: printf conversions (%s, %1$d, ...), "{...}" placeholders without spaces, the shortcut
// markers _X and &X (before a letter, not after an ASCII letter or digit: "Ö_ffnen" and "Save &As"
// lose theirs, "snake_case" keeps its underscore), and \n \t; collapses whitespace; trims.
std::string clean_ui_string(const std::string& s) {
  std::string t;
  t.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (size_t k = printf_spec(s, i)) {
        i += k - 1;
        t += ' ';
        continue;
      }
    }
    if (c == '{') {
      const size_t close = s.find('}', i);
      if (close != std::string::npos && close - i <= 32 && s.find_first_of(" \n\t", i) > close) {
        i = close;
        t += ' ';
        continue;
      }
    }
    // a shortcut marker: _ or & before a letter, not inside an ASCII word (snake_case stays)
    if ((c == '_' || c == '&') && i + 1 < s.size() &&
        (is_ascii_alpha(s[i + 1]) || static_cast<unsigned char>(s[i + 1]) >= 0xc0) &&
        (i == 0 || !(is_ascii_alpha(s[i - 1]) || std::isdigit(static_cast<unsigned char>(s[i - 1])) || s[i - 1] == '_')))
      continue;
    t += (c == '\n' || c == '\t' || c == '\r') ? ' ' : c;
  }
  std::string out;
  for (char c : t) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string program_family(const std::string& domain) {
  std::string f = domain.substr(0, domain.find('-'));
  while (f.size() > 1 && std::isdigit(static_cast<unsigned char>(f.back()))) f.pop_back();
  for (char& c : f) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return f;
}

int split_of_program(const std::string& family, const LangIdOptions& o) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, then mixed with the seed
  for (unsigned char c : family) h = (h ^ c) * 1099511628211ull;
  const double u = static_cast<double>(mix_seed(o.seed, h) >> 11) * 0x1.0p-53;
  if (u < o.test_fraction) return 2;
  if (u < o.test_fraction + o.valid_fraction) return 1;
  return 0;
}

// ==================================================================== the dataset
namespace {
int64_t count_letters(const std::vector<std::string>& chars) {
  int64_t n = 0;
  for (const auto& ch : chars)
    if (ch.size() > 1 || is_ascii_alpha(ch[0])) ++n;  // every non-ASCII code point counts
  return n;
}

std::vector<fs::path> catalogs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".mo" && e.is_regular_file(ec)) out.push_back(e.path());
  std::sort(out.begin(), out.end());  // directory order is not deterministic
  return out;
}

std::string available_languages(const fs::path& locale_dir) {
  std::vector<std::string> langs;
  std::error_code ec;
  if (fs::is_directory(locale_dir, ec))
    for (const auto& e : fs::directory_iterator(locale_dir, ec))
      if (!catalogs(e.path() / "LC_MESSAGES").empty()) langs.push_back(e.path().filename().string());
  std::sort(langs.begin(), langs.end());
  std::string s;
  for (const auto& l : langs) s += (s.empty() ? "" : ", ") + l;
  return s.empty() ? "none" : s;
}
}  // namespace

Dataset make_langid(const LangIdOptions& o) {
  check(o.languages.size() >= 2, "langid", "needs at least two languages");
  check(o.test_fraction > 0 && o.valid_fraction >= 0 && o.test_fraction + o.valid_fraction < 1, "langid",
        "data.langid_test_fraction (", o.test_fraction, ") and data.langid_valid_fraction (", o.valid_fraction,
        ") must be > 0, >= 0 and sum to < 1");
  check(o.max_per_language >= 4 && o.max_chars >= 1 && o.min_letters >= 0, "langid",
        "data.max_per_language must be >= 4, data.langid_max_chars >= 1, data.langid_min_letters >= 0");
  Dataset d;
  d.name = "langid";
  d.kind = TaskKind::Classification;
  d.labels = o.languages;
  const fs::path root = o.locale_dir;
  // per language, per split: the cleaned strings in catalog order (deduplicated)
  std::vector<std::array<std::vector<std::string>, 3>> texts(o.languages.size());
  for (size_t li = 0; li < o.languages.size(); ++li) {
    const std::string& lang = o.languages[li];
    const fs::path dir = root / lang / "LC_MESSAGES";
    const auto files = catalogs(dir);
    check(!files.empty(), "langid", "no .mo catalogs for language \"", lang, "\" in ", dir.string(),
          "; languages with catalogs here: ", available_languages(root));
    std::array<std::set<std::string>, 3> seen;
    for (const auto& f : files) {
      const int split = split_of_program(program_family(f.stem().string()), o);
      const io::MoCatalog cat = io::load_mo(f);
      for (const auto& e : cat.entries) {
        if (e.msgstr.empty()) continue;
        const std::string& tr = e.msgstr.front();
        if (tr.empty() || tr == e.msgid) continue;  // untranslated
        std::string s = clean_ui_string(tr);
        if (s.empty()) continue;
        if (seen[split].insert(s).second) texts[li][split].push_back(std::move(s));
      }
    }
    for (int sp = 1; sp <= 2; ++sp)  // nothing of valid/test was seen in training
      std::erase_if(texts[li][sp], [&](const std::string& s) { return seen[0].count(s) != 0; });
  }
  // to examples: length rules, then a seeded cap per language and split
  std::vector<Example>* out[3] = {&d.train, &d.valid, &d.test};
  for (size_t li = 0; li < o.languages.size(); ++li) {
    for (int sp = 0; sp < 3; ++sp) {
      std::vector<Example> ex;
      for (const auto& s : texts[li][sp]) {
        std::vector<std::string> chars = utf8_chars(s);
        if (count_letters(chars) < o.min_letters) continue;
        if (static_cast<int64_t>(chars.size()) > o.max_chars) chars.resize(static_cast<size_t>(o.max_chars));
        Example e;
        e.tokens = std::move(chars);
        e.label = o.languages[li];
        ex.push_back(std::move(e));
      }
      const int64_t cap = sp == 0 ? o.max_per_language : o.max_per_language / 4;
      if (static_cast<int64_t>(ex.size()) > cap) {
        // a seeded Fisher-Yates (splitmix draws: the same choice with every standard library)
        const uint64_t base = mix_seed(o.seed, li + 1, sp + 1);
        for (size_t i = ex.size() - 1; i > 0; --i) std::swap(ex[i], ex[mix_seed(base, i) % (i + 1)]);
        ex.resize(static_cast<size_t>(cap));
      }
      if (sp == 0)
        check(!ex.empty(), "langid", "language \"", o.languages[li], "\" has no usable training strings in ",
              (root / o.languages[li] / "LC_MESSAGES").string(), " (after cleaning and the program split)");
      for (auto& e : ex) out[sp]->push_back(std::move(e));
    }
  }
  check(!d.valid.empty(), "langid", "no validation strings: no catalog's program fell into the validation split (",
        "data.langid_valid_fraction ", o.valid_fraction, ", data.seed ", o.seed, ")");
  check(!d.test.empty(), "langid", "no test strings: no catalog's program fell into the test split (",
        "data.langid_test_fraction ", o.test_fraction, ", data.seed ", o.seed, ")");
  return d;
}

}  // namespace seqnn::data
