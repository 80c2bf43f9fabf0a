// seqnn/data/translation.h: English -> German sentence pairs from the gettext catalogs on this
// machine (<locale_dir>/<language>/LC_MESSAGES/*.mo: msgid -> msgstr), a sequence task (N vs M).
//
// Each Example holds source = the English msgid, target = the translation, group = the catalog's
// file stem ("coreutils"). Entries are read with io::load_mo and cleaned as follows, in order:
//   1. the header entry (msgid "") and plural entries are dropped; an entry with a context
//      (msgctxt) is kept with the context dropped (it only disambiguates the msgid; the pair is a
//      translation all the same, and duplicates go in step 5); entries whose msgid is
//      "translator-credits" / "translator_credits" (a list of names, not a translation) are dropped
//   2. clean_translation_pair(): keyboard-accelerator markers removed ('_' or '&' right before a
//      letter (ASCII, or a code point >= U+00C0) and not right after an ASCII letter, digit or '_':
//      "_Open" -> "Open", "Ö_ffnen" -> "Öffnen", "Save &As" -> "Save As"; "snake_case", "AT&T" and
//      "Drag & Drop" stay; a msgid with a marker also removes one inside a word of the msgstr,
//      "_Name" / "Na_me"); leading and trailing whitespace trimmed (so a CLI message's final "\n"
//      goes); then a string that still holds a control character (U+0000..001F, U+007F..009F:
//      inner newlines, tabs) or invalid UTF-8 is dropped, and runs of spaces become one space
//   3. dropped: an empty side; a target identical to its source (untranslated strings and names,
//      which would teach copying); a source without an ASCII letter outside printf conversions
//      and {...} placeholders (pure format or symbols: "%s: %s"); format-heavy strings (more than
//      kMaxFormatMarks '%' and '{' characters together on either side); a side shorter than
//      min_chars or longer than max_chars code points
//   4. the split is BY CATALOG FILE: the files are ranked by a seeded hash of their stem; the first
//      round(test_fraction * N) are test, the next round(valid_fraction * N) valid (each at least
//      one file when its fraction is > 0), the rest train, so a catalog lies wholly in one split
//   5. identical (source, target) pairs are kept once per split (the first, in file-name order)
//   6. valid and test pairs whose SOURCE also occurs in train are dropped (an honest held-out set:
//      gtk20 and gtk30 share many strings)
//   7. max_pairs > 0 keeps a seeded choice of at most max_pairs training pairs, and of valid and
//      test the same fraction (at least one pair each)
// Everything is deterministic in (catalog files, options). Examples keep file order within a split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "seqnn/data/dataset.h"

namespace seqnn::data {

struct TranslationOptions {
  std::string locale_dir = "/usr/share/locale";
  std::string language = "de";    // the target language's directory under locale_dir
  int64_t max_chars = 80;         // source and target, in code points
  int64_t min_chars = 2;
  double test_fraction = 0.1;     // of catalog FILES
  double valid_fraction = 0.05;
  int64_t max_pairs = 0;          // 0 = all
  uint64_t seed = 1;
};

// At most this many '%' and '{' characters together in a source or target (rule 3).
constexpr int64_t kMaxFormatMarks = 2;

// Rule 2 on one string; nullopt when it is dropped (a control character or invalid UTF-8).
std::optional<std::string> clean_translation_text(const std::string& s);
// Rule 2 on an entry: as clean_translation_text on each side, except that when the msgid has a
// shortcut marker and the msgstr none at a word start, the msgstr's first same marker character
// before a letter goes wherever it is (German "_Name" -> "Na_me": both become "Name").
std::optional<std::pair<std::string, std::string>> clean_translation_pair(const std::string& msgid,
                                                                          const std::string& msgstr);
// Rule 4: for catalog stems (any order), 0 train / 1 valid / 2 test each.
std::vector<int> split_catalogs(const std::vector<std::string>& stems, const TranslationOptions& options);

// Errors ("translation: ..."): bad options; a directory without catalogs (naming it); too few
// catalogs for the three splits; an empty split after cleaning; a corrupt catalog (the io::parse_mo
// message, naming the file).
Dataset make_translation(const TranslationOptions& options);

}  // namespace seqnn::data
