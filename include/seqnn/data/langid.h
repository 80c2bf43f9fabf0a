// seqnn/data/langid.h: language identification of real UI strings from gettext catalogs.
//
// For each language code (a directory name under locale_dir, e.g. "de", "pt_BR"), every
// <locale_dir>/<lang>/LC_MESSAGES/*.mo is parsed (io::parse_mo) and its translations (msgstr,
// the first form of plural entries) become examples: the characters (UTF-8 code points) of the
// cleaned string, labelled with the language. Cleaning (clean_ui_string): printf / brace format
// specifiers and keyboard-shortcut markers (_File, &Open) removed, whitespace collapsed; strings
// with fewer than min_letters letters, or equal to their msgid (untranslated), are dropped;
// strings are cut to max_chars code points.
//
// The split is BY PROGRAM: the catalog's domain (file name without .mo) is reduced to its
// program family (text before the first '-', trailing digits dropped: gtk20-properties -> gtk,
// dpkg-dev -> dpkg) and the family is hashed with the seed into test / valid / train, so every
// language's strings of one program land in the same split and the test strings come from
// programs never seen in training. Strings of valid/test that also occur in train (same
// language, same text) are dropped. Each language contributes at most max_per_language strings
// to each split (a seeded choice). Everything is deterministic in (files, options).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "seqnn/data/dataset.h"

namespace seqnn::data {

struct LangIdOptions {
  std::string locale_dir = "/usr/share/locale";
  std::vector<std::string> languages = {"de", "fr", "es", "it", "nl", "pt", "pl", "sv", "cs", "fi"};
  double test_fraction = 0.2;    // of program families
  double valid_fraction = 0.1;
  int64_t max_per_language = 3000;  // per split (valid/test: a quarter of it)
  int64_t max_chars = 80;
  int64_t min_letters = 8;
  uint64_t seed = 7;
};

// "de,fr, es" -> {"de","fr","es"}; empty items are an Error.
std::vector<std::string> parse_language_list(const std::string& list);
// The cleaning described above (without the length rules); "" when nothing is left.
std::string clean_ui_string(const std::string& s);
// UTF-8 code points as strings (invalid bytes become U+FFFD).
std::vector<std::string> utf8_chars(const std::string& s);
// "gtk20-properties" -> "gtk"; "Linux-PAM" -> "linux".
std::string program_family(const std::string& domain);
// 0 train, 1 valid, 2 test.
int split_of_program(const std::string& family, const LangIdOptions& options);

// Errors: a language with no catalogs ("langid: no .mo catalogs for language \"xx\" in
// /usr/share/locale/xx/LC_MESSAGES; languages with catalogs here: ..."), a language left with
// no training strings, an empty test split, and a corrupt catalog (the io::parse_mo message,
// naming the file).
Dataset make_langid(const LangIdOptions& options);

}  // namespace seqnn::data
