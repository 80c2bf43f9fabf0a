// tests/test_translation_data.cpp: the English -> German translation dataset: each cleaning rule
// exactly on hand-written catalogs (io::write_mo into a scratch locale dir), the split by catalog
// file, and the properties of the dataset built from the catalogs installed on this machine.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "common/check.h"
#include "seqnn/data/dataset.h"
#include "seqnn/data/tokenizer.h"
#include "seqnn/data/translation.h"
#include "seqnn/io/mo.h"

using namespace seqnn;
using namespace seqnn::data;
namespace fs = std::filesystem;
using nlohmann::json;
using testutil::expect_error;

namespace {
using Pairs = std::vector<std::pair<std::string, std::string>>;

io::MoEntry entry(const std::string& id, const std::string& str, const std::string& ctx = "") {
  io::MoEntry e;
  e.context = ctx;
  e.msgid = id;
  e.msgstr = {str};
  return e;
}

void write_catalog(const fs::path& dir, const std::string& stem, const std::vector<io::MoEntry>& entries) {
  io::MoCatalog c;
  c.header = "Content-Type: text/plain; charset=UTF-8\n";
  c.entries = entries;
  fs::create_directories(dir);
  std::ofstream(dir / (stem + ".mo"), std::ios::binary) << io::write_mo(c);
}

Pairs pairs_of(const std::vector<Example>& ex) {
  Pairs p;
  for (const auto& e : ex) p.emplace_back(e.source, e.target);
  return p;
}

int64_t code_points(const std::string& s) { return static_cast<int64_t>(utf8_decode(s).size()); }
}  // namespace

// ==================================================================== cleaning and split
TEST(TranslationData, CleaningOfOneString) {
  auto c = [](const std::string& s) { return clean_translation_text(s); };
  EXPECT_EQ(c("_Open"), "Open");
  EXPECT_EQ(c("\xC3\x96_ffnen"), "\xC3\x96" "ffnen");  // Ö_ffnen
  EXPECT_EQ(c("Save &As"), "Save As");
  EXPECT_EQ(c("_\xC3\x9C" "ber"), "\xC3\x9C" "ber");  // _Über
  EXPECT_EQ(c("snake_case and AT&T"), "snake_case and AT&T");
  EXPECT_EQ(c("Drag & Drop"), "Drag & Drop");
  EXPECT_EQ(c("file_2 x_"), "file_2 x_");
  EXPECT_EQ(c("  Done.\n"), "Done.");
  EXPECT_EQ(c("a   b  c"), "a b c");
  EXPECT_EQ(c(""), "");
  EXPECT_EQ(c("Line one\nLine two"), std::nullopt);
  EXPECT_EQ(c("Name:\tvalue"), std::nullopt);
  EXPECT_EQ(c("bell\x07"), std::nullopt);
  EXPECT_EQ(c("del\x7F" "x"), std::nullopt);
  EXPECT_EQ(c("c1 \xC2\x85 x"), std::nullopt);  // U+0085 NEXT LINE
  EXPECT_EQ(c("latin1 \xE9t\xE9"), std::nullopt);  // not UTF-8
  // pairs: a msgid shortcut also removes one inside a German word; otherwise each side alone
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(clean_translation_pair("_Name", "Na_me"), P("Name", "Name"));
  EXPECT_EQ(clean_translation_pair("_Save", "Spei_chern"), P("Save", "Speichern"));
  EXPECT_EQ(clean_translation_pair("&Open", "\xC3\x96&ffnen"), P("Open", "\xC3\x96" "ffnen"));
  EXPECT_EQ(clean_translation_pair("_Open", "_Datei_name"), P("Open", "Datei_name"));  // the word-start marker wins
  EXPECT_EQ(clean_translation_pair("file_name", "Datei_name"), P("file_name", "Datei_name"));
  EXPECT_EQ(clean_translation_pair("a\nb", "c"), std::nullopt);
  EXPECT_EQ(clean_translation_pair("ok", "\xFF"), std::nullopt);
}

TEST(TranslationData, SplitByCatalogFileIsSeededAndExact) {
  std::vector<std::string> stems;
  for (int i = 0; i < 40; ++i) stems.push_back("catalog" + std::to_string(i));
  TranslationOptions o;  // test 0.1, valid 0.05 -> 4 and 2 of 40
  const std::vector<int> s = split_catalogs(stems, o);
  EXPECT_EQ(std::count(s.begin(), s.end(), 2), 4);
  EXPECT_EQ(std::count(s.begin(), s.end(), 1), 2);
  EXPECT_EQ(std::count(s.begin(), s.end(), 0), 34);
  EXPECT_EQ(split_catalogs(stems, o), s);  // deterministic
  // a catalog's split does not depend on the order the files are listed in
  std::vector<std::string> rev(stems.rbegin(), stems.rend());
  const std::vector<int> r = split_catalogs(rev, o);
  for (size_t i = 0; i < stems.size(); ++i) EXPECT_EQ(r[stems.size() - 1 - i], s[i]);
  o.seed = 2;
  EXPECT_NE(split_catalogs(stems, o), s);
  // small fractions still give one file; zero gives none
  o.test_fraction = 0.001;
  o.valid_fraction = 0;
  const std::vector<int> t = split_catalogs(stems, o);
  EXPECT_EQ(std::count(t.begin(), t.end(), 2), 1);
  EXPECT_EQ(std::count(t.begin(), t.end(), 1), 0);
  o = TranslationOptions{};
  expect_error([&] { split_catalogs({"a", "b"}, o); }, "translation", "2 catalogs cannot fill the splits");
}

// ==================================================================== every rule on synthetic catalogs
TEST(TranslationData, RulesOnHandWrittenCatalogs) {
  const fs::path root = testutil::scratch_dir("translation", "rules");
  const fs::path dir = root / "de" / "LC_MESSAGES";
  TranslationOptions o;
  o.locale_dir = root.string();
  o.test_fraction = 0.34;  // one file of three each
  o.valid_fraction = 0.33;
  const std::vector<std::string> stems = {"alpha", "beta", "gamma"};
  const std::vector<int> split = split_catalogs(stems, o);
  std::map<int, std::string> file_of;
  for (size_t i = 0; i < stems.size(); ++i) file_of[split[i]] = stems[i];
  ASSERT_EQ(file_of.size(), 3u);

  io::MoEntry plural;
  plural.msgid = "%d file";
  plural.msgid_plural = "%d files";
  plural.msgstr = {"%d Datei", "%d Dateien"};
  const std::string s80 = "Please wait while the selected items are being copied to the destination folder.";
  ASSERT_EQ(code_points(s80), 80);
  const std::string t80 = "Bitte warten, w\xC3\xA4hrend die Elemente in den Zielordner kopiert werden ...";
  ASSERT_LE(code_points(t80), 80);
  write_catalog(dir, file_of[0],
                {
                    entry("Open file", "Datei \xC3\xB6" "ffnen"),            // kept
                    plural,                                                   // plural: dropped
                    entry("_Save", "_Speichern", "menu"),                     // context dropped, accelerators removed
                    entry("Quit", ""),                                        // empty: dropped
                    entry("Name", "Name"),                                    // identical: dropped
                    entry("_Name", "Na_me"),                                  // identical after cleaning: dropped
                    entry("Line one\nLine two", "Zeile eins\nZeile zwei"),    // inner newline: dropped
                    entry("Done.\n", "Fertig.\n"),                            // trailing newline trimmed: kept
                    entry("%s: %s (%d)", "%s: %s (%d) x"),                    // 3 format marks: dropped
                    entry("{0} of {1} {2}", "{0} von {1} {2}"),               // 3 format marks: dropped
                    entry("Copying %s", "Kopiere %s"),                        // 1 mark: kept
                    entry("%s: %s", "%s \xE2\x80\x93 %s"),                    // no letter in the source: dropped
                    entry(s80, t80),                                          // exactly 80: kept
                    entry(s80 + "!", t80),                                    // 81: dropped
                    entry("Go", "L"),                                         // target of 1 < min_chars: dropped
                    entry("translator-credits", "Jemand <a@b.de>"),           // dropped
                    entry("Open file", "Datei \xC3\xB6" "ffnen"),             // duplicate pair: dropped
                    entry("Open file", "Datei aufmachen"),                    // same source, other target: kept
                    entry("_Edit", "_Bearbeiten"),                            // kept
                    entry("Tab\there", "Tab\thier"),                          // control character: dropped
                    entry("  Many   spaces  ", "Viele    Leerzeichen"),       // normalised: kept
                });
  write_catalog(dir, file_of[1],
                {
                    entry("Open file", "\xC3\x96" "ffne Datei"),  // source seen in train: dropped
                    entry("Close window", "Fenster schlie\xC3\x9F" "en"),
                    entry("Paste", "Einf\xC3\xBCgen"),
                });
  write_catalog(dir, file_of[2],
                {
                    entry("Save", "Sichern"),  // "_Save" in train cleans to "Save": dropped
                    entry("Print page", "Seite drucken"),
                    entry("Print page", "Seite drucken", "ctx"),  // duplicate pair: dropped
                    entry("Print all", "Alles drucken"),
                    entry("Print it", "Drucken"),
                });
  const Dataset d = make_translation(o);
  EXPECT_EQ(d.name, "translation");
  EXPECT_EQ(d.kind, TaskKind::Sequence);
  EXPECT_TRUE(d.labels.empty());
  const Pairs train = {
      {"Open file", "Datei \xC3\xB6" "ffnen"}, {"Save", "Speichern"},     {"Done.", "Fertig."},
      {"Copying %s", "Kopiere %s"},            {s80, t80},                {"Open file", "Datei aufmachen"},
      {"Edit", "Bearbeiten"},                  {"Many spaces", "Viele Leerzeichen"},
  };
  EXPECT_EQ(pairs_of(d.train), train);
  EXPECT_EQ(pairs_of(d.valid),
            (Pairs{{"Close window", "Fenster schlie\xC3\x9F" "en"}, {"Paste", "Einf\xC3\xBCgen"}}));
  EXPECT_EQ(pairs_of(d.test),
            (Pairs{{"Print page", "Seite drucken"}, {"Print all", "Alles drucken"}, {"Print it", "Drucken"}}));
  for (const auto& e : d.train) EXPECT_EQ(e.group, file_of[0]);
  for (const auto& e : d.valid) EXPECT_EQ(e.group, file_of[1]);
  for (const auto& e : d.test) {
    EXPECT_EQ(e.group, file_of[2]);
    EXPECT_TRUE(e.tokens.empty());
    EXPECT_EQ(e.length(), static_cast<int64_t>(e.source.size()));
  }

  // length caps are options
  TranslationOptions shorter = o;
  shorter.max_chars = 10;
  shorter.min_chars = 5;
  const Dataset ds = make_translation(shorter);
  for (const auto& e : ds.train) {
    EXPECT_GE(code_points(e.source), 5);
    EXPECT_LE(code_points(e.target), 10);
  }
  EXPECT_EQ(pairs_of(ds.train), (Pairs{{"Done.", "Fertig."}, {"Copying %s", "Kopiere %s"}}));
  EXPECT_EQ(pairs_of(ds.valid), (Pairs{{"Paste", "Einf\xC3\xBCgen"}}));
  EXPECT_EQ(pairs_of(ds.test), (Pairs{{"Print it", "Drucken"}}));

  // max_pairs: a seeded subset of training pairs in file order; held-out splits keep at least one
  TranslationOptions cap = o;
  cap.max_pairs = 3;
  const Dataset dc = make_translation(cap);
  ASSERT_EQ(dc.train.size(), 3u);
  EXPECT_EQ(dc.valid.size(), 1u);
  EXPECT_EQ(dc.test.size(), 1u);
  size_t pos = 0;
  for (const auto& e : dc.train) {  // a subsequence of the full training list
    while (pos < train.size() && train[pos] != std::make_pair(e.source, e.target)) ++pos;
    EXPECT_LT(pos, train.size());
  }
  EXPECT_EQ(pairs_of(make_translation(cap).train), pairs_of(dc.train));

  // through the registry, with its config fields
  const json cfg = {{"dataset", "translation"}, {"locale_dir", root.string()}, {"translation_test_fraction", 0.34},
                    {"translation_valid_fraction", 0.33}, {"translation_max_chars", 80}, {"seed", 1}};
  const Dataset dr = load_dataset("translation", cfg);
  EXPECT_EQ(pairs_of(dr.train), train);
  std::set<std::string> names;
  for (const auto& f : dataset_fields()) names.insert(f.name);
  for (const char* f : {"locale_dir", "translation_language", "translation_max_chars", "translation_min_chars",
                        "translation_test_fraction", "translation_valid_fraction", "translation_max_pairs"})
    EXPECT_TRUE(names.count(f)) << f;
}

TEST(TranslationData, Errors) {
  const fs::path root = testutil::scratch_dir("translation", "errors");
  TranslationOptions o;
  o.locale_dir = (root / "nowhere").string();
  expect_error([&] { make_translation(o); }, "translation", "no .mo catalogs in " + (root / "nowhere/de/LC_MESSAGES").string());
  o.locale_dir = root.string();
  o.language = "../x";
  expect_error([&] { make_translation(o); }, "translation", "is not a language directory name");
  o.language = "de";
  const fs::path dir = root / "de" / "LC_MESSAGES";
  write_catalog(dir, "one", {entry("Open file", "Datei \xC3\xB6" "ffnen")});
  write_catalog(dir, "two", {entry("Close file", "Datei schlie\xC3\x9F" "en")});
  expect_error([&] { make_translation(o); }, "translation", "cannot fill the splits");
  write_catalog(dir, "three", {entry("Name", "Name")});
  o.test_fraction = 0.34;
  o.valid_fraction = 0.33;
  // whichever file is held out, one split is left without usable pairs or train is empty
  std::string m = testutil::error_of([&] { make_translation(o); });
  EXPECT_NE(m.find("translation: no "), std::string::npos) << m;
  o.min_chars = 0;
  expect_error([&] { make_translation(o); }, "translation", "translation_min_chars");
  o.min_chars = 2;
  o.test_fraction = 0.7;
  o.valid_fraction = 0.3;
  expect_error([&] { make_translation(o); }, "translation", "sum to < 1");
  o.test_fraction = 0.34;
  o.valid_fraction = 0.33;
  o.max_pairs = -1;
  expect_error([&] { make_translation(o); }, "translation", "translation_max_pairs");
  o.max_pairs = 0;
  std::ofstream(dir / "three.mo", std::ios::binary) << "this is not a catalog";
  expect_error([&] { make_translation(o); }, "mo", "three.mo");
}

// ==================================================================== the installed catalogs
TEST(TranslationData, InstalledGermanCatalogs) {
  TranslationOptions o;  // the defaults: /usr/share/locale, de, 80 chars, 10% / 5% of the files
  const Dataset d = make_translation(o);
  const size_t total = d.train.size() + d.valid.size() + d.test.size();
  std::printf("translation (de, defaults): %zu train, %zu valid, %zu test pairs (%zu total)\n", d.train.size(),
              d.valid.size(), d.test.size(), total);
  EXPECT_GT(d.train.size(), 20000u);
  EXPECT_GT(d.valid.size(), 100u);
  EXPECT_GT(d.test.size(), 300u);
  // every catalog in exactly one split, and nothing held out whose source is in train
  std::array<std::set<std::string>, 3> groups;
  std::set<std::string> train_sources;
  const std::vector<Example>* splits[3] = {&d.train, &d.valid, &d.test};
  for (int sp = 0; sp < 3; ++sp) {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& e : *splits[sp]) {
      groups[sp].insert(e.group);
      if (sp == 0) train_sources.insert(e.source);
      else EXPECT_EQ(train_sources.count(e.source), 0u) << e.source;
      EXPECT_TRUE(seen.insert({e.source, e.target}).second) << "duplicate " << e.source;
      for (const std::string* s : {&e.source, &e.target}) {
        const auto cps = utf8_decode(*s);
        EXPECT_GE(cps.size(), 2u);
        EXPECT_LE(cps.size(), 80u);
        for (char32_t c : cps) EXPECT_FALSE(c < 0x20 || (c >= 0x7F && c <= 0x9F)) << *s;
        EXPECT_EQ(s->find("  "), std::string::npos);
        EXPECT_NE(s->front(), ' ');
        EXPECT_NE(s->back(), ' ');
        EXPECT_LE(std::count(s->begin(), s->end(), '%') + std::count(s->begin(), s->end(), '{'), 2);
      }
      EXPECT_NE(e.source, e.target);
    }
  }
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      for (const auto& g : groups[a]) EXPECT_EQ(groups[b].count(g), 0u) << g;
  EXPECT_GE(groups[2].size(), 5u);
  // deterministic; another seed holds out other catalogs
  const Dataset again = make_translation(o);
  EXPECT_EQ(pairs_of(again.train), pairs_of(d.train));
  EXPECT_EQ(pairs_of(again.test), pairs_of(d.test));
  o.seed = 2;
  const Dataset other = make_translation(o);
  std::set<std::string> other_test;
  for (const auto& e : other.test) other_test.insert(e.group);
  EXPECT_NE(other_test, groups[2]);
}
