// tests/test_text_metrics.cpp: BLEU and chrF against published worked examples (sacreBLEU's README
// and test suite, Papineni et al. 2002, Wikipedia), the 13a tokenizer, and edit distances by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/check.h"
#include "seqnn/error.h"
#include "seqnn/train/text_metrics.h"

using namespace seqnn;
using namespace seqnn::train;
using seqnn::testutil::expect_error;
using Strings = std::vector<std::string>;

namespace {
// sacreBLEU README ("Using SacreBLEU from Python"): two reference streams.
const Strings kSys = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
const std::vector<Strings> kRefs = {
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."},
};
}  // namespace

// ==================================================================== 13a tokenizer
// Expected strings: the output of sacreBLEU's Tokenizer13a regular expressions (tokenizer_13a.py,
// tokenizer_re.py) on these lines.
TEST(Tokenize13a, MatchesSacreBleuRegexes) {
  EXPECT_EQ(tokenize_13a("Hello, world."), "Hello , world .");
  EXPECT_EQ(tokenize_13a("3.14 and 1,000 items."), "3.14 and 1,000 items .");
  EXPECT_EQ(tokenize_13a("a-b 3-4 x-"), "a-b 3 - 4 x-");
  EXPECT_EQ(tokenize_13a("&quot;x&quot; &amp; y&lt;z&gt;"), "\" x \" & y < z >");
  EXPECT_EQ(tokenize_13a("It's (test) [ok] {x} e.g. U.S.A."), "It's ( test ) [ ok ] { x } e . g . U . S . A .");
  EXPECT_EQ(tokenize_13a("Preis: 5,- EUR; 10.5%"), "Preis : 5 , - EUR ; 10.5 %");
  EXPECT_EQ(tokenize_13a("Gr\xC3\xBC\xC3\x9F" "e, K\xC3\xB6ln.\xC2\xA0" "Ende"),
            "Gr\xC3\xBC\xC3\x9F" "e , K\xC3\xB6ln . Ende");  // U+00A0 is whitespace to str.split()
  EXPECT_EQ(tokenize_13a("line-\nbreak\nnext<skipped>"), "linebreak next");
  EXPECT_EQ(tokenize_13a("a..b,,c"), "a . . b , , c");
  EXPECT_EQ(tokenize_13a("1.a ,5"), "1 . a , 5");
  EXPECT_EQ(tokenize_13a(""), "");
  expect_error([] { tokenize_13a("bad\xC3"); }, "tokenize_13a", "invalid UTF-8");
}

// ==================================================================== BLEU
TEST(Bleu, SacreBleuReadmeExample) {
  // README: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)";
  // test/test_bleu.py pins the score to 48.530827.
  const BleuScore b = corpus_bleu_multi(kSys, kRefs);
  EXPECT_NEAR(b.score, 48.530827, 1e-6);
  EXPECT_NEAR(b.precisions[0], 82.4, 0.05);
  EXPECT_NEAR(b.precisions[1], 50.0, 0.05);
  EXPECT_NEAR(b.precisions[2], 45.5, 0.05);
  EXPECT_NEAR(b.precisions[3], 37.5, 0.05);
  EXPECT_NEAR(b.brevity_penalty, 0.943, 5e-4);
  EXPECT_NEAR(b.ratio, 0.944, 5e-4);
  EXPECT_EQ(b.hyp_len, 17);
  EXPECT_EQ(b.ref_len, 18);
  // test_bleu.py: empty hypotheses are scored, not removed
  EXPECT_EQ(corpus_bleu_multi({"", "", ""}, kRefs).score, 0.0);
}

TEST(Bleu, SacreBleuReadmeVariableReferences) {
  // README "Variable Number of References": the first reference of segment 0 is '' ->
  // "BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)"
  std::vector<Strings> refs = kRefs;
  refs[0][0] = "";
  const BleuScore b = corpus_bleu_multi(kSys, refs);
  EXPECT_NEAR(b.score, 29.44, 0.005);
  EXPECT_NEAR(b.precisions[0], 82.4, 0.05);
  EXPECT_NEAR(b.precisions[1], 42.9, 0.05);
  EXPECT_NEAR(b.precisions[2], 27.3, 0.05);
  EXPECT_NEAR(b.precisions[3], 12.5, 0.05);
  EXPECT_NEAR(b.brevity_penalty, 0.889, 5e-4);
  EXPECT_NEAR(b.ratio, 0.895, 5e-4);
  EXPECT_EQ(b.hyp_len, 17);
  EXPECT_EQ(b.ref_len, 19);
}

TEST(Bleu, SacreBleuTestStatisticsAndScoring) {
  // test_bleu.py test_case_statistics: counts [4,2,1,0], totals [6,5,4,3]
  const BleuScore s = corpus_bleu({"am I am a character sequence"}, {"I am a symbol string sequence a a"});
  EXPECT_EQ(s.counts, (std::array<int64_t, 4>{4, 2, 1, 0}));
  EXPECT_EQ(s.totals, (std::array<int64_t, 4>{6, 5, 4, 3}));
  // test_case_scoring: compute_bleu([9,7,5,3], [10,8,6,4], 11, 11) = 0.8375922397 (x100)
  EXPECT_NEAR(bleu_from_stats({9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11).score, 83.75922397, 1e-7);
  // test_raw_bleu_cases: identical segments score 100 whatever the smoothing
  EXPECT_NEAR(corpus_bleu({"this is a test"}, {"this is a test"}).score, 100.0, 1e-12);
}

TEST(Bleu, ExpSmoothingAndBrevityPenaltyByHand) {
  // "this is a fest" vs "this is a test": counts 3/4, 2/3, 1/2, 0/1; exp smoothing makes p4 = 100/(2*1)
  // BLEU = 100 * (3/4 * 2/3 * 1/2 * 1/2)^(1/4) = 100 * 0.125^0.25
  const BleuScore b = corpus_bleu({"this is a fest"}, {"this is a test"});
  EXPECT_NEAR(b.precisions[3], 50.0, 1e-12);
  EXPECT_NEAR(b.score, 100 * std::pow(0.125, 0.25), 1e-10);
  // two orders without matches: 100/(2*t3), then 100/(4*t4)
  const BleuScore z = bleu_from_stats({5, 1, 0, 0}, {5, 4, 3, 2}, 5, 5);
  EXPECT_NEAR(z.precisions[2], 100.0 / 6, 1e-12);
  EXPECT_NEAR(z.precisions[3], 100.0 / 8, 1e-12);
  EXPECT_NEAR(z.score, 100 * std::pow(1.0 * 0.25 * (1.0 / 6) * (1.0 / 8), 0.25), 1e-10);
  // a hypothesis shorter than every 4-gram: total_4 = 0 -> BLEU 0; BP = exp(1 - 6/2)
  const BleuScore c = corpus_bleu({"the cat"}, {"the cat sat on the mat"});
  EXPECT_EQ(c.score, 0.0);
  EXPECT_NEAR(c.brevity_penalty, std::exp(1.0 - 6.0 / 2.0), 1e-15);
  EXPECT_NEAR(c.precisions[0], 100.0, 1e-12);
  // nothing matches: 0, precisions 0
  const BleuScore n = corpus_bleu({"x y z w"}, {"a b c d"});
  EXPECT_EQ(n.score, 0.0);
  EXPECT_EQ(n.precisions[0], 0.0);
  EXPECT_EQ(n.brevity_penalty, 1.0);
  // an empty corpus scores 0
  EXPECT_EQ(corpus_bleu({}, {}).score, 0.0);
}

TEST(Bleu, PapineniAndWikipediaModifiedPrecision) {
  // Papineni et al. 2002, section 2.1, example 1 (without the final periods, which the paper does not
  // count): candidate 1 has modified unigram precision 17/18 and bigram precision 10/17; candidate 2
  // has 8/14 and 1/13.
  const Strings refs1 = {"It is a guide to action that ensures that the military will forever heed Party commands"};
  const std::vector<Strings> refs = {
      {"It is a guide to action that ensures that the military will forever heed Party commands"},
      {"It is the guiding principle which guarantees the military forces always being under the command of the Party"},
      {"It is the practical guide for the army always to heed the directions of the party"},
  };
  const BleuScore c1 =
      corpus_bleu_multi({"It is a guide to action which ensures that the military always obeys the commands of the party"}, refs);
  EXPECT_EQ(c1.counts[0], 17);
  EXPECT_EQ(c1.totals[0], 18);
  EXPECT_EQ(c1.counts[1], 10);
  EXPECT_EQ(c1.totals[1], 17);
  const BleuScore c2 =
      corpus_bleu_multi({"It is to insure the troops forever hearing the activity guidebook that party direct"}, refs);
  EXPECT_EQ(c2.counts[0], 8);
  EXPECT_EQ(c2.totals[0], 14);
  EXPECT_EQ(c2.counts[1], 1);
  EXPECT_EQ(c2.totals[1], 13);
  // Wikipedia "BLEU", modified precision: "the the the the the the the" against "the cat is on the mat"
  // and "there is a cat on the mat" scores 2/7 (clipped to the count in the first reference).
  const BleuScore w = corpus_bleu_multi({"the the the the the the the"},
                                        {{"the cat is on the mat"}, {"there is a cat on the mat"}});
  EXPECT_EQ(w.counts[0], 2);
  EXPECT_EQ(w.totals[0], 7);
  EXPECT_NEAR(w.precisions[0], 100.0 * 2 / 7, 1e-12);
  // the closest reference length, ties to the shorter: hyp 7 words, refs 6 and 7 -> 7
  EXPECT_EQ(w.ref_len, 7);
  EXPECT_EQ(corpus_bleu_multi({"a b c d e"}, {{"a b c d"}, {"a b c d e f"}}).ref_len, 4);
}

TEST(Bleu, BadInput) {
  expect_error([] { corpus_bleu({"a", "b"}, {"a"}); }, "corpus_bleu", "2 hypotheses and 1 references");
  expect_error([] { corpus_bleu({"a", "b"}, {"a", ""}); }, "corpus_bleu", "segment 1: empty reference");
  expect_error([] { corpus_bleu_multi({"a"}, {{"a"}, {"b", "c"}}); }, "corpus_bleu", "reference stream 1 has 2");
  expect_error([] { corpus_bleu_multi({"a"}, {}); }, "corpus_bleu", "no reference streams");
  expect_error([] { corpus_bleu({"ok", "b\xFF"}, {"ok", "b"}); }, "corpus_bleu", "hypothesis 1: invalid UTF-8 at byte 1");
  expect_error([] { corpus_bleu({"ok"}, {"\xC3"}); }, "corpus_bleu", "reference 0: invalid UTF-8");
}

// ==================================================================== chrF
TEST(Chrf, SacreBleuReadmeExample) {
  // README: chrf.corpus_score(sys, refs) -> "chrF2 = 59.73" (two reference streams)
  EXPECT_NEAR(corpus_chrf_multi(kSys, kRefs), 59.73, 0.005);
}

TEST(Chrf, SacreBleuTestCasesEffectiveOrder) {
  // test/test_chrf.py test_cases_effective_order: char_order 6, word_order 0, beta 3, the default
  // (sacreBLEU < 2.0 style) effective-order averaging
  struct Case {
    Strings hyp, ref;
    double score;
  };
  const std::vector<Case> cases = {
      {{"a"}, {"a"}, 100.0},      {{""}, {"reference"}, 0.0},      {{"a b c"}, {"a b c"}, 100.0},
      {{"a b c"}, {"abc"}, 100.0}, {{""}, {"c"}, 0.0},             {{"a", "b"}, {"a", "c"}, 50.0},
      {{"aa"}, {"ab"}, 25.0},
  };
  for (const auto& c : cases) EXPECT_NEAR(corpus_chrf(c.hyp, c.ref, 6, 0, 3.0), c.score, 1e-4) << c.hyp[0];
}

TEST(Chrf, SacreBleuTestCasesEpsSmoothing) {
  // test/test_chrf.py test_cases: beta 3, eps_smoothing=True (chrF++.py / NLTK / Moses style)
  struct Case {
    Strings hyp, ref;
    double score;
  };
  const std::vector<Case> cases = {
      {{"abcdefg"}, {"hijklmnop"}, 0.0},
      {{"a"}, {"b"}, 0.0},
      {{""}, {"b"}, 0.0},
      {{""}, {"ref"}, 0.0},
      {{""}, {"reference"}, 0.0},
      {{"aa"}, {"ab"}, 8.3333},
      {{"a", "b"}, {"a", "c"}, 8.3333},
      {{"a"}, {"a"}, 16.6667},
      {{"a b c"}, {"a b c"}, 50.0},
      {{"a b c"}, {"abc"}, 50.0},
      {{" risk assessment must be made of those who are qualified and expertise in the sector - these are the "
        "scientists ."},
       {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the "
        "scientists ."},
       63.361730},
      {{" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "},
       {"Das Verh\xC3\xA4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."},
       64.1302698},
      {{"Niemand hat die Absicht, eine Mauer zu errichten"}, {"Niemand hat die Absicht, eine Mauer zu errichten"}, 100.0},
  };
  for (const auto& c : cases)
    EXPECT_NEAR(corpus_chrf(c.hyp, c.ref, 6, 0, 3.0, false, true), c.score, 1e-4) << c.hyp[0];
}

TEST(Chrf, SacreBleuSentenceLevelCzech) {
  // test/test_chrf.py test_sentence_level_chrf: sentence_chrf(hyp, [ref], eps_smoothing=True), beta 2
  struct Case {
    std::string hyp, ref;
    double score;
  };
  const std::vector<Case> cases = {
      {"Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
       "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", 39.14078509},
      {"Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
       "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.", 31.22557079},
      {"Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
       "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.", 57.15704367},
  };
  for (const auto& c : cases) EXPECT_NEAR(corpus_chrf({c.hyp}, {c.ref}, 6, 0, 2.0, false, true), c.score, 1e-4);
}

TEST(Chrf, SacreBleuKeepWhitespace) {
  // test/test_chrf.py test_cases_keep_whitespace: beta 3, whitespace kept, effective-order averaging
  EXPECT_NEAR(corpus_chrf({"Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."},
                          {"Das Verh\xC3\xA4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, 6, 0,
                          3.0, true),
              67.3481606, 1e-4);
  EXPECT_NEAR(corpus_chrf({"risk assessment must be made of those who are qualified and expertise in the sector - these "
                           "are the scientists ."},
                          {"risk assessment has to be undertaken by those who are qualified and expert in that area - "
                           "that is the scientists ."},
                          6, 0, 3.0, true),
              65.2414427, 1e-4);
}

TEST(Chrf, ByHandCorpusSumsAndWordOrder) {
  // corpus statistics are summed before the F-score: "ab"/"ab" and "cd"/"xy" give, per order,
  // n=1: 4 hyp, 4 ref, 2 matches; n=2: 2, 2, 1 -> P = R = 1/2 -> chrF 50 (any beta)
  EXPECT_NEAR(corpus_chrf({"ab", "cd"}, {"ab", "xy"}), 50.0, 1e-12);
  // code points, not bytes: "ä" vs "ä" is one matching 1-gram
  EXPECT_NEAR(corpus_chrf({"\xC3\xA4"}, {"\xC3\xA4"}), 100.0, 1e-12);
  // beta 2 by hand: hyp "ab", ref "abc": n=1 P=1, R=2/3; n=2 P=1, R=1/2; n=3 ref only (skipped)
  // P = 1, R = 7/12 -> 5 P R / (4 P + R)
  const double P = 1, R = 7.0 / 12;
  EXPECT_NEAR(corpus_chrf({"ab"}, {"abc"}), 100 * 5 * P * R / (4 * P + R), 1e-12);
  // chrF++ (word_order 2): "a b." vs "a b.": chars a b . (3, 2, 1 n-grams), words a | b | . (1-grams),
  // "a b" "b ." (2-grams): everything matches -> 100; a wrong word lowers only the word orders
  EXPECT_NEAR(corpus_chrf({"a b."}, {"a b."}, 6, 2), 100.0, 1e-12);
  // "xy z" vs "xyz": characters identical (whitespace removed), words differ: char orders 1..3 give
  // P = R = 1, word 1-grams 0/2 and 0/1, word 2-grams: the reference has none (skipped)
  // P = 3/4, R = 3/4 -> 75
  EXPECT_NEAR(corpus_chrf({"xy z"}, {"xyz"}, 6, 2), 75.0, 1e-12);
  EXPECT_NEAR(corpus_chrf({"xy z"}, {"xyz"}), 100.0, 1e-12);
  // the best reference per segment
  EXPECT_NEAR(corpus_chrf_multi({"abc"}, {{"xyz"}, {"abc"}}), 100.0, 1e-12);
}

TEST(Chrf, BadInput) {
  expect_error([] { corpus_chrf({"a"}, {"a", "b"}); }, "corpus_chrf", "1 hypotheses and 2 references");
  expect_error([] { corpus_chrf({"a"}, {""}); }, "corpus_chrf", "segment 0: empty reference");
  expect_error([] { corpus_chrf({"a"}, {"a"}, 0, 0); }, "corpus_chrf", "positive sum");
  expect_error([] { corpus_chrf({"a"}, {"a"}, 6, 0, 0.0); }, "corpus_chrf", "beta must be positive");
  expect_error([] { corpus_chrf({"\xE2\x82"}, {"a"}); }, "corpus_chrf", "hypothesis 0: invalid UTF-8 at byte 0");
}

// ==================================================================== edit distance
TEST(EditDistance, CharactersByHand) {
  // kitten -> sitting: k->s, e->i, +g = 3 edits against 7 reference characters
  EditStats s = char_errors({"kitten"}, {"sitting"});
  EXPECT_EQ(s.edits, 3);
  EXPECT_EQ(s.ref_len, 7);
  EXPECT_NEAR(s.rate(), 3.0 / 7, 1e-15);
  // code points: Straße -> Strasse: ß->s, +s = 2 of 7
  s = char_errors({"Stra\xC3\x9F" "e"}, {"Strasse"});
  EXPECT_EQ(s.edits, 2);
  EXPECT_EQ(s.ref_len, 7);
  // summed over the corpus: (3 + 0 + 3) / (7 + 3 + 3)
  s = char_errors({"kitten", "abc", ""}, {"sitting", "abc", "xyz"});
  EXPECT_EQ(s.edits, 6);
  EXPECT_EQ(s.ref_len, 13);
  // deletions only (hypothesis longer), transposition = 2 edits
  EXPECT_EQ(char_errors({"abcd"}, {"ab"}).edits, 2);
  EXPECT_EQ(char_errors({"ab"}, {"ba"}).edits, 2);
  // empty cases: both empty -> rate 0; only the reference empty -> infinite rate
  EXPECT_EQ(char_errors({""}, {""}).rate(), 0.0);
  EXPECT_EQ(char_errors({}, {}).rate(), 0.0);
  EXPECT_EQ(char_errors({"ab"}, {""}).rate(), std::numeric_limits<double>::infinity());
}

TEST(EditDistance, WordsByHand) {
  // "the cat sat" vs "the cat sat down": 1 insertion of 4 words; runs of whitespace separate once
  EditStats s = word_errors({"the  cat sat "}, {"the cat sat down"});
  EXPECT_EQ(s.edits, 1);
  EXPECT_EQ(s.ref_len, 4);
  EXPECT_NEAR(s.rate(), 0.25, 1e-15);
  // substitution + deletion: "a x c d e" vs "a b c d" -> x->b, -e = 2
  s = word_errors({"a x c d e"}, {"a b c d"});
  EXPECT_EQ(s.edits, 2);
  EXPECT_EQ(s.ref_len, 4);
  // summed: 2 + 3 (everything inserted) over 4 + 3
  s = word_errors({"a x c d e", ""}, {"a b c d", "one two three"});
  EXPECT_EQ(s.edits, 5);
  EXPECT_EQ(s.ref_len, 7);
  expect_error([] { word_errors({"a"}, {}); }, "word_errors", "1 hypotheses and 0 references");
  expect_error([] { char_errors({"a"}, {"b", "c"}); }, "char_errors", "1 hypotheses and 2 references");
  expect_error([] { char_errors({"a"}, {"\xFF"}); }, "char_errors", "reference 0: invalid UTF-8");
}
