// seqnn/train/text_metrics.h: corpus BLEU and chrF as sacreBLEU 2.x computes them, and edit
// distances (character / word error rates) for transcripts.
//
// BLEU (Papineni et al. 2002) with sacreBLEU's defaults: each segment is right-stripped and
// tokenised with the "13a" tokenizer (mteval-v13a.pl: the HTML entities &quot; &amp; &lt; &gt;
// unescaped, ASCII punctuation and symbols split off, '.' and ',' split off unless between digits,
// '-' split off after a digit); word n-grams n = 1..4 are counted per segment, a hypothesis n-gram
// matching at most as often as it occurs in the reference (with several references: the most
// often it occurs in any one of them). Counts are summed over the corpus, then
//   p_n = 100 * matches_n / total_n            (smooth "exp": a zero count instead gives
//                                              100 / (2^k * total_n), k = 1, 2, ... per zero order)
//   BP  = 1 if c >= r, else exp(1 - r / c)     (c hypothesis words, r reference words: per segment
//                                              the reference length closest to the hypothesis',
//                                              ties to the shorter)
//   BLEU = BP * exp(mean_n log p_n)            0..100; 0 when nothing matches at all
//
// chrF (Popović 2015) with sacreBLEU's defaults (chrF2): whitespace removed, character n-grams
// n = 1..char_order (code points) and, for chrF++, word n-grams n = 1..word_order (words split on
// whitespace, one leading or trailing ASCII punctuation character split off), per segment the
// triple (hypothesis n-grams, reference n-grams, matches) per order, where the hypothesis count is
// 0 for an order the reference has no n-grams of; the triples are summed over the corpus, then
//   P = mean of matches/hyp over the orders where hyp > 0 and ref > 0, R likewise with ref,
//   chrF = 100 * (1 + beta^2) P R / (beta^2 P + R)       (0 when P + R = 0)
// eps_smoothing = true is sacreBLEU's chrF++.py-compatible variant (the mean of per-order F scores,
// an empty order scoring eps); whitespace = true keeps whitespace inside the character n-grams.
// With several references the statistics of the reference with the best segment score are used.
//
// Text must be valid UTF-8 (an Error naming the function and the segment otherwise). As in
// sacreBLEU, an empty reference is an Error (with several references: a segment whose references
// are all empty), empty hypotheses are scored, and the lists must have equal lengths.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace seqnn::train {

struct BleuScore {
  double score = 0;                       // 0..100
  std::array<double, 4> precisions{};     // 0..100 (smoothed)
  double brevity_penalty = 0, ratio = 0;  // ratio = hyp_len / ref_len (0 when ref_len is 0)
  int64_t hyp_len = 0, ref_len = 0;       // 13a tokens
  std::array<int64_t, 4> counts{};        // matched n-grams, n = 1..4
  std::array<int64_t, 4> totals{};        // hypothesis n-grams
};

// sacreBLEU's corpus BLEU with its defaults: tokenize 13a, max n-gram 4, smooth "exp", one
// reference per hypothesis.
BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs);
// Several references per hypothesis, given as sacreBLEU takes them: ref_streams[k][i] is the k-th
// reference of hypothesis i; empty strings are missing references (skipped).
BleuScore corpus_bleu_multi(const std::vector<std::string>& hyps,
                            const std::vector<std::vector<std::string>>& ref_streams);
// The score from summed statistics (sacreBLEU's BLEU.compute_bleu, smooth "exp").
BleuScore bleu_from_stats(const std::array<int64_t, 4>& counts, const std::array<int64_t, 4>& totals,
                          int64_t hyp_len, int64_t ref_len);
// sacreBLEU's Tokenizer13a: the tokens joined by single spaces.
std::string tokenize_13a(const std::string& line);

// sacreBLEU's corpus chrF (chrF2: char_order 6, word_order 0, beta 2, whitespace removed;
// statistics summed over the corpus, then the F-score); 0-100.
double corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::string>& refs, int char_order = 6,
                   int word_order = 0, double beta = 2.0, bool whitespace = false, bool eps_smoothing = false);
double corpus_chrf_multi(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& ref_streams,
                         int char_order = 6, int word_order = 0, double beta = 2.0, bool whitespace = false,
                         bool eps_smoothing = false);

// Levenshtein distance (unit-cost insertions, deletions, substitutions) over code points /
// whitespace-separated words, summed over the corpus, and the reference length summed likewise.
// rate = edits / ref_len; 0 when both are 0; +infinity when only the references are empty.
struct EditStats {
  int64_t edits = 0, ref_len = 0;
  double rate() const;
};
EditStats char_errors(const std::vector<std::string>& hyps, const std::vector<std::string>& refs);
EditStats word_errors(const std::vector<std::string>& hyps, const std::vector<std::string>& refs);

}  // namespace seqnn::train
