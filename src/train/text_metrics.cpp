// src/train/text_metrics.cpp: corpus BLEU and chrF (sacreBLEU 2.x definitions), edit distances.
#include "seqnn/train/text_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "seqnn/data/tokenizer.h"
#include "seqnn/error.h"

namespace seqnn::train {

namespace {
// ==================================================================== text helpers
// Python's str.isspace() (what str.split() and str.strip() use): bidirectional class WS/B/S or Zs.
bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }

std::u32string decode(const std::string& s, const std::string& op, const char* what, size_t i) {
  try {
    const std::vector<char32_t> v = data::utf8_decode(s, op);
    return {v.begin(), v.end()};
  } catch (const Error& e) {
    fail(op, what, " ", i, ": ", std::string(e.what()).substr(op.size() + 2));
  }
}

std::string encode(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) out += data::utf8_encode(c);
  return out;
}

// str.split(): runs of whitespace separate; no empty pieces.
std::vector<std::u32string> split_ws(const std::u32string& s) {
  std::vector<std::u32string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !is_space(s[j])) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// str.replace(from, to): non-overlapping, left to right.
void replace_all(std::u32string& s, std::u32string_view from, std::u32string_view to) {
  std::u32string out;
  size_t i = 0;
  for (size_t k; (k = s.find(from, i)) != std::u32string::npos; i = k + from.size()) {
    out.append(s, i, k - i);
    out.append(to);
  }
  out.append(s, i, std::u32string::npos);
  s = std::move(out);
}

void check_sizes(size_t h, size_t r, const char* op) {
  check(h == r, op, "got ", h, " hypotheses and ", r, " references (expected one reference per hypothesis)");
}

// sacreBLEU's reference streams -> per segment, its non-empty references.
std::vector<std::vector<const std::string*>> segment_refs(size_t n_hyps,
                                                          const std::vector<std::vector<std::string>>& streams,
                                                          const char* op) {
  check(!streams.empty(), op, "no reference streams");
  for (size_t k = 0; k < streams.size(); ++k)
    check(streams[k].size() == n_hyps, op, "reference stream ", k, " has ", streams[k].size(), " segments for ",
          n_hyps, " hypotheses");
  std::vector<std::vector<const std::string*>> out(n_hyps);
  for (size_t i = 0; i < n_hyps; ++i) {
    for (const auto& s : streams)
      if (!s[i].empty()) out[i].push_back(&s[i]);
    check(!out[i].empty(), op, "segment ", i, ": empty reference (sacreBLEU rejects empty references)");
  }
  return out;
}
}  // namespace

// ==================================================================== 13a tokenizer
// mteval-v13a's tokenisation as sacreBLEU writes it (Tokenizer13a + TokenizerRegexp):
//   unescape, then " line ", then four regex substitutions, then whitespace normalised.
std::string tokenize_13a(const std::string& line) {
  std::u32string s = decode(line, "tokenize_13a", "line", 0);
  replace_all(s, U"<skipped>", U"");
  replace_all(s, U"-\n", U"");
  replace_all(s, U"\n", U" ");
  replace_all(s, U"&quot;", U"\"");
  replace_all(s, U"&amp;", U"&");
  replace_all(s, U"&lt;", U"<");
  replace_all(s, U"&gt;", U">");
  s = U" " + s + U" ";
  // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "
  std::u32string a;
  for (char32_t c : s) {
    const bool sym = (c >= U'{' && c <= U'~') || (c >= U'[' && c <= U'`') || (c >= U' ' && c <= U'&') ||
                     (c >= U'(' && c <= U'+') || (c >= U':' && c <= U'@') || c == U'/';
    if (sym) {
      a += U' ';
      a += c;
      a += U' ';
    } else {
      a += c;
    }
  }
  // the other three match two characters; re.sub resumes after each match (no overlaps)
  auto pairs = [](const std::u32string& in, auto match, auto emit) {
    std::u32string out;
    size_t i = 0;
    while (i < in.size()) {
      if (i + 1 < in.size() && match(in[i], in[i + 1])) {
        emit(out, in[i], in[i + 1]);
        i += 2;
      } else {
        out += in[i++];
      }
    }
    return out;
  };
  const auto is_pc = [](char32_t c) { return c == U'.' || c == U','; };
  // ([^0-9])([\.,]) -> "\1 \2 "
  a = pairs(a, [&](char32_t x, char32_t y) { return !is_digit(x) && is_pc(y); },
            [](std::u32string& o, char32_t x, char32_t y) { o += x, o += U' ', o += y, o += U' '; });
  // ([\.,])([^0-9]) -> " \1 \2"
  a = pairs(a, [&](char32_t x, char32_t y) { return is_pc(x) && !is_digit(y); },
            [](std::u32string& o, char32_t x, char32_t y) { o += U' ', o += x, o += U' ', o += y; });
  // ([0-9])(-) -> "\1 \2 "
  a = pairs(a, [&](char32_t x, char32_t y) { return is_digit(x) && y == U'-'; },
            [](std::u32string& o, char32_t x, char32_t y) { o += x, o += U' ', o += y, o += U' '; });
  std::string out;
  for (const auto& t : split_ws(a)) out += (out.empty() ? "" : " ") + encode(t);
  return out;
}

// ==================================================================== BLEU
namespace {
using NgramCounts = std::unordered_map<std::u32string, int64_t>;

// The 13a tokens of a segment after str.rstrip(), as code points.
std::vector<std::u32string> bleu_tokens(const std::string& seg, const char* what, size_t i) {
  std::u32string s = decode(seg, "corpus_bleu", what, i);
  while (!s.empty() && is_space(s.back())) s.pop_back();
  return split_ws(decode(tokenize_13a(encode(s)), "corpus_bleu", what, i));
}

// Every n-gram, n = 1..4, as its tokens joined by ' ' (tokens hold no whitespace, so the key is unique).
NgramCounts word_ngrams(const std::vector<std::u32string>& tok) {
  NgramCounts c;
  for (size_t n = 1; n <= 4; ++n)
    for (size_t i = 0; i + n <= tok.size(); ++i) {
      std::u32string key = tok[i];
      for (size_t k = 1; k < n; ++k) key += U' ' + tok[i + k];
      ++c[key];
    }
  return c;
}
}  // namespace

BleuScore bleu_from_stats(const std::array<int64_t, 4>& counts, const std::array<int64_t, 4>& totals, int64_t hyp_len,
                          int64_t ref_len) {
  BleuScore b;
  b.counts = counts;
  b.totals = totals;
  b.hyp_len = hyp_len;
  b.ref_len = ref_len;
  b.ratio = ref_len > 0 ? static_cast<double>(hyp_len) / static_cast<double>(ref_len) : 0.0;
  b.brevity_penalty = hyp_len < ref_len ? (hyp_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / hyp_len) : 0.0)
                                        : 1.0;
  if (std::all_of(counts.begin(), counts.end(), [](int64_t c) { return c == 0; })) return b;
  double smooth = 1.0;
  for (int n = 0; n < 4; ++n) {
    if (totals[n] == 0) break;  // the orders from here keep precision 0, so BLEU is 0
    if (counts[n] == 0) {
      smooth *= 2;  // "exp" smoothing (NIST): 1 / 2^k for the k-th order without matches
      b.precisions[n] = 100.0 / (smooth * static_cast<double>(totals[n]));
    } else {
      b.precisions[n] = 100.0 * static_cast<double>(counts[n]) / static_cast<double>(totals[n]);
    }
  }
  // sacreBLEU's my_log floors log(0) at -9999999999, which makes the score exactly 0
  double log_sum = 0;
  for (double p : b.precisions) log_sum += p == 0.0 ? -9999999999.0 : std::log(p);
  b.score = b.brevity_penalty * std::exp(log_sum / 4.0);
  return b;
}

BleuScore corpus_bleu_multi(const std::vector<std::string>& hyps,
                            const std::vector<std::vector<std::string>>& ref_streams) {
  const auto refs = segment_refs(hyps.size(), ref_streams, "corpus_bleu");
  std::array<int64_t, 4> counts{}, totals{};
  int64_t hyp_len = 0, ref_len = 0;
  for (size_t i = 0; i < hyps.size(); ++i) {
    // references: the largest count of each n-gram in any one of them, and their lengths
    NgramCounts ref_ngrams;
    std::vector<int64_t> ref_lens;
    for (const std::string* r : refs[i]) {
      const auto tok = bleu_tokens(*r, "reference", i);
      ref_lens.push_back(static_cast<int64_t>(tok.size()));
      for (const auto& [g, c] : word_ngrams(tok)) ref_ngrams[g] = std::max(ref_ngrams[g], c);
    }
    const auto htok = bleu_tokens(hyps[i], "hypothesis", i);
    const int64_t hl = static_cast<int64_t>(htok.size());
    // the closest reference length, ties to the shorter
    int64_t best = -1, best_diff = -1;
    for (int64_t rl : ref_lens) {
      const int64_t d = std::llabs(hl - rl);
      if (best_diff < 0 || d < best_diff || (d == best_diff && rl < best)) best = rl, best_diff = d;
    }
    hyp_len += hl;
    ref_len += best;
    for (const auto& [g, c] : word_ngrams(htok)) {
      const size_t n = static_cast<size_t>(std::count(g.begin(), g.end(), U' '));
      totals[n] += c;
      auto it = ref_ngrams.find(g);
      if (it != ref_ngrams.end()) counts[n] += std::min(c, it->second);
    }
  }
  return bleu_from_stats(counts, totals, hyp_len, ref_len);
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  check_sizes(hyps.size(), refs.size(), "corpus_bleu");
  return corpus_bleu_multi(hyps, {refs});
}

// ==================================================================== chrF
namespace {
struct ChrfConfig {
  int char_order, word_order;
  double beta;
  bool whitespace, eps_smoothing;
  int order() const { return char_order + word_order; }
};

using ViewCounts = std::unordered_map<std::u32string_view, int64_t>;

// Per order: the n-gram counts of one segment. Views point into `chars` / `words_joined`.
struct SegmentNgrams {
  std::u32string chars, words_joined;
  std::vector<ViewCounts> orders;
};

// chrF++'s word split: whitespace, then one ASCII punctuation character split off the end, else
// off the front, of every word longer than one character.
std::vector<std::u32string> chrf_words(const std::u32string& s) {
  static const std::u32string_view kPuncts = U"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  std::vector<std::u32string> out;
  for (auto& w : split_ws(s)) {
    if (w.size() == 1) out.push_back(w);
    else if (kPuncts.find(w.back()) != std::u32string_view::npos) out.push_back(w.substr(0, w.size() - 1)), out.push_back(w.substr(w.size() - 1));
    else if (kPuncts.find(w.front()) != std::u32string_view::npos) out.push_back(w.substr(0, 1)), out.push_back(w.substr(1));
    else out.push_back(w);
  }
  return out;
}

void extract(const std::u32string& text, const ChrfConfig& c, SegmentNgrams& g) {
  g.chars.clear();
  for (char32_t ch : text)
    if (c.whitespace || !is_space(ch)) g.chars += ch;
  g.orders.assign(static_cast<size_t>(c.order()), {});
  for (int n = 1; n <= c.char_order; ++n)
    for (size_t i = 0; i + n <= g.chars.size(); ++i) ++g.orders[n - 1][std::u32string_view(g.chars).substr(i, n)];
  if (c.word_order == 0) return;
  // words joined by ' ' so that a word n-gram is one contiguous view (words hold no whitespace)
  const auto words = chrf_words(text);
  std::vector<size_t> start;
  g.words_joined.clear();
  for (const auto& w : words) {
    if (!g.words_joined.empty()) g.words_joined += U' ';
    start.push_back(g.words_joined.size());
    g.words_joined += w;
  }
  const std::u32string_view all(g.words_joined);
  for (int n = 1; n <= c.word_order; ++n)
    for (size_t i = 0; i + n <= words.size(); ++i) {
      const size_t a = start[i], b = start[i + n - 1] + words[i + n - 1].size();
      ++g.orders[c.char_order + n - 1][all.substr(a, b - a)];
    }
}

// sacreBLEU's CHRF._compute_f_score on a statistics vector [hyp, ref, match] * order.
double chrf_f_score(const std::vector<int64_t>& st, const ChrfConfig& c) {
  const double eps = 1e-16, factor = c.beta * c.beta;
  double score = 0, avg_p = 0, avg_r = 0;
  int eff = 0;
  for (int i = 0; i < c.order(); ++i) {
    const int64_t h = st[3 * i], r = st[3 * i + 1], m = st[3 * i + 2];
    const double p = h > 0 ? static_cast<double>(m) / h : eps;
    const double rec = r > 0 ? static_cast<double>(m) / r : eps;
    const double denom = factor * p + rec;
    score += denom > 0 ? (1 + factor) * p * rec / denom : eps;
    if (h > 0 && r > 0) avg_p += p, avg_r += rec, ++eff;
  }
  if (c.eps_smoothing) return 100 * score / c.order();
  if (eff == 0) return 0.0;
  avg_p /= eff;
  avg_r /= eff;
  if (avg_p + avg_r == 0) return 0.0;
  return 100 * (1 + factor) * avg_p * avg_r / (factor * avg_p + avg_r);
}

double chrf_impl(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& streams,
                 const ChrfConfig& c) {
  check(c.char_order >= 0 && c.word_order >= 0 && c.order() >= 1, "corpus_chrf", "char_order (", c.char_order,
        ") and word_order (", c.word_order, ") must be >= 0 with a positive sum");
  check(std::isfinite(c.beta) && c.beta > 0, "corpus_chrf", "beta must be positive, got ", c.beta);
  const auto refs = segment_refs(hyps.size(), streams, "corpus_chrf");
  const size_t K = static_cast<size_t>(c.order());
  std::vector<int64_t> total(3 * K, 0), st(3 * K), best;
  SegmentNgrams hg, rg;
  for (size_t i = 0; i < hyps.size(); ++i) {
    extract(decode(hyps[i], "corpus_chrf", "hypothesis", i), c, hg);
    double best_f = -1;
    for (const std::string* r : refs[i]) {
      extract(decode(*r, "corpus_chrf", "reference", i), c, rg);
      for (size_t k = 0; k < K; ++k) {
        int64_t h = 0, ref = 0, m = 0;
        for (const auto& [g, n] : hg.orders[k]) {
          h += n;
          auto it = rg.orders[k].find(g);
          if (it != rg.orders[k].end()) m += std::min(n, it->second);
        }
        for (const auto& [g, n] : rg.orders[k]) ref += n;
        st[3 * k] = rg.orders[k].empty() ? 0 : h;  // no hits counted where the reference has no n-grams
        st[3 * k + 1] = ref;
        st[3 * k + 2] = m;
      }
      const double f = chrf_f_score(st, c);
      if (f > best_f) best_f = f, best = st;
    }
    for (size_t k = 0; k < 3 * K; ++k) total[k] += best[k];
  }
  return chrf_f_score(total, c);
}
}  // namespace

double corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::string>& refs, int char_order,
                   int word_order, double beta, bool whitespace, bool eps_smoothing) {
  check_sizes(hyps.size(), refs.size(), "corpus_chrf");
  return chrf_impl(hyps, {refs}, {char_order, word_order, beta, whitespace, eps_smoothing});
}

double corpus_chrf_multi(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& ref_streams,
                         int char_order, int word_order, double beta, bool whitespace, bool eps_smoothing) {
  return chrf_impl(hyps, ref_streams, {char_order, word_order, beta, whitespace, eps_smoothing});
}

// ==================================================================== edit distance
namespace {
// Levenshtein distance with two rows: d[i][j] = min(d[i-1][j] + 1, d[i][j-1] + 1, d[i-1][j-1] + (a_i != b_j)).
template <class T>
int64_t levenshtein(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<int64_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

double EditStats::rate() const {
  if (ref_len == 0) return edits == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return static_cast<double>(edits) / static_cast<double>(ref_len);
}

EditStats char_errors(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  check_sizes(hyps.size(), refs.size(), "char_errors");
  EditStats s;
  for (size_t i = 0; i < hyps.size(); ++i) {
    const std::u32string h = decode(hyps[i], "char_errors", "hypothesis", i);
    const std::u32string r = decode(refs[i], "char_errors", "reference", i);
    s.edits += levenshtein(std::vector<char32_t>(h.begin(), h.end()), std::vector<char32_t>(r.begin(), r.end()));
    s.ref_len += static_cast<int64_t>(r.size());
  }
  return s;
}

EditStats word_errors(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  check_sizes(hyps.size(), refs.size(), "word_errors");
  EditStats s;
  for (size_t i = 0; i < hyps.size(); ++i) {
    const auto h = split_ws(decode(hyps[i], "word_errors", "hypothesis", i));
    const auto r = split_ws(decode(refs[i], "word_errors", "reference", i));
    s.edits += levenshtein(h, r);
    s.ref_len += static_cast<int64_t>(r.size());
  }
  return s;
}

}  // namespace seqnn::train
