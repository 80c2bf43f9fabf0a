// models/decoding.cpp: greedy, beam and sampling searches over a StepDecoder (decoding.h).
//
// Cost per step, with R live rows, vocabulary V, beam K, B live sources, S source positions:
//   decoder.step(R tokens)          the model's own cost (dominant for any real model)
//   per-row selection               O(R*V): one pass, one comparison per entry against the row's
//                                   current K-th best; only an entry that beats it touches the
//                                   K-element heap (O(log K), ~K*ln(V/K) times per row for random
//                                   order). Never a full sort of V. Rows run in parallel for
//                                   large R*V. The NaN / +inf check rides on the same comparison.
//   beam: per-source merge          the K*min(K,V) proposals of a source's beams, partial_sort of
//                                   the best K: O(B*K^2*log K)
//   decoder.reorder(R' rows)        a gather of the survivors' state; finished rows are left out
//                                   so R only shrinks as sources finish (skipped when identity)
//   sampling                        O(R*V) exps per step (top_k: the O(R*V) selection + O(R*k)
//                                   exps); rows in parallel
//   return_attention                O(R*S) copy per step; beam hypotheses follow back-pointers at
//                                   the end, O(length*S) each
// Hypotheses are back-pointer nodes (parent, token, step, row), O(1) per survivor per step;
// tokens are rebuilt only for the returned ones.
//
// Determinism: every choice breaks ties by the lower token id, then the lower beam index (the
// beam's rank in its source), and the sampler's uniform comes from a counter-based hash of
// (seed, first_source + source, step). A source's result thus depends only on its own rows:
// batched == per-source exactly.
#include "seqnn/models/decoding.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/parallel.h"
#include "seqnn/autograd.h"

namespace seqnn::models {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ==================================================================== options and setup
struct Setup {
  int64_t B = 0, V = 0;
  std::vector<int64_t> limit;  // per source: the most tokens generated (EOS included), >= 1
};

Setup setup(const StepDecoder& dec, const DecodeOptions& o, const char* name) {
  Setup s;
  s.B = dec.rows();
  s.V = dec.vocab_size();
  check(s.B >= 0, name, "decoder has ", s.B, " rows");
  check(s.V >= 1, name, "decoder vocab_size ", s.V, " must be >= 1");
  check(o.bos() >= 0 && o.bos() < s.V, name, "bos ", o.bos(), " outside [0, V=", s.V, ")");
  check(o.eos() >= 0 && o.eos() < s.V, name, "eos ", o.eos(), " outside [0, V=", s.V, ")");
  check(o.max_length() >= 1, name, "max_length ", o.max_length(), " must be >= 1");
  check(std::isfinite(o.max_length_ratio()) && o.max_length_ratio() >= 0, name, "max_length_ratio ",
        o.max_length_ratio(), " must be finite and >= 0");
  s.limit.assign(s.B, o.max_length());
  if (o.max_length_ratio() > 0) {
    const std::vector<int64_t> lens = dec.source_lengths();
    check(static_cast<int64_t>(lens.size()) == s.B, name, "max_length_ratio needs the decoder's source_lengths() (",
          s.B, " values), got ", lens.size());
    for (int64_t b = 0; b < s.B; ++b) {
      check(lens[b] >= 0, name, "source_lengths()[", b, "] = ", lens[b], " is negative");
      const double lim = std::ceil(o.max_length_ratio() * static_cast<double>(lens[b])) +
                         static_cast<double>(o.max_length_offset());
      s.limit[b] = std::max<int64_t>(1, std::min<double>(static_cast<double>(o.max_length()), lim));
    }
  }
  return s;
}

// ==================================================================== the decoder's outputs
// step() on the given last tokens; checks (R,V) floating, returns it contiguous.
Tensor checked_step(StepDecoder& dec, const std::vector<int64_t>& last, int64_t V, const char* name) {
  const int64_t R = static_cast<int64_t>(last.size());
  Tensor logp = dec.step(from_vector(last, {R}));
  check(logp.defined(), name, "decoder.step returned an undefined tensor, expected (rows=", R, ", V=", V,
        ") log-probabilities");
  check(logp.shape() == Shape{R, V}, name, "decoder.step returned ", logp.shape(), ", expected (rows=", R, ", V=",
        V, ") log-probabilities");
  check(logp.is_floating_point(), name, "decoder.step returned ", dtype_name(logp.dtype()),
        ", expected float32/float64 log-probabilities");
  return logp.contiguous();
}

void checked_reorder(StepDecoder& dec, const std::vector<int64_t>& index, int64_t R, const char* name) {
  bool identity = static_cast<int64_t>(index.size()) == R;
  for (size_t i = 0; identity && i < index.size(); ++i) identity = index[i] == static_cast<int64_t>(i);
  if (identity) return;
  dec.reorder(from_vector(index, {static_cast<int64_t>(index.size())}));
  check(dec.rows() == static_cast<int64_t>(index.size()), name, "decoder.reorder left ", dec.rows(),
        " rows, expected ", index.size());
}

// Appends last_attention() (R,S) as floats to `out`; S fixed by the first call (S < 0 before).
void collect_attention(const StepDecoder& dec, int64_t R, int64_t& S, std::vector<float>& out, const char* name) {
  const Tensor a = dec.last_attention();
  check(a.defined(), name, "return_attention needs a decoder whose last_attention() is defined");
  if (!(a.dim() == 2 && a.size(0) == R && (S < 0 || a.size(1) == S))) {
    if (S < 0) fail(name, "decoder.last_attention returned ", a.shape(), ", expected (rows=", R, ", S)");
    fail(name, "decoder.last_attention returned ", a.shape(), ", expected (rows=", R, ", S=", S, ") as at the first step");
  }
  check(a.is_floating_point(), name, "decoder.last_attention returned ", dtype_name(a.dtype()));
  S = a.size(1);
  const std::vector<float> v = a.to_vector<float>();
  out.insert(out.end(), v.begin(), v.end());
}

Tensor attention_tensor(const std::vector<float>& rows, int64_t n, int64_t S) {
  return from_vector(rows, {n, S});
}

// ==================================================================== per-row selection
// Best-first order of (value, id): the higher value, then the lower id.
inline bool better(double va, int64_t ia, double vb, int64_t ib) { return va > vb || (va == vb && ia < ib); }

// The k best (value, id) of x (V), best first, into vals/ids (1 <= k <= V). False on NaN / +inf.
template <class T>
bool row_top_k(const T* x, int64_t V, int64_t k, double* vals, int64_t* ids,
               std::vector<std::pair<double, int64_t>>& heap) {
  constexpr T kTInf = std::numeric_limits<T>::infinity();
  // A heap whose top is the worst kept entry.
  const auto worse_first = [](const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) {
    return better(a.first, a.second, b.first, b.second);
  };
  heap.clear();
  for (int64_t i = 0; i < k; ++i) {
    if (!(x[i] < kTInf)) return false;
    heap.emplace_back(static_cast<double>(x[i]), i);
    std::push_heap(heap.begin(), heap.end(), worse_first);
  }
  // One comparison per remaining entry against the k-th best value thr: ids arrive ascending, so
  // an entry equal to thr is worse than every kept one and never enters; !(v <= thr) also
  // catches NaN (and +inf, as thr < +inf).
  T thr = static_cast<T>(heap.front().first);
  for (int64_t i = k; i < V; ++i) {
    const T v = x[i];
    if (!(v <= thr)) [[unlikely]] {
      if (!(v < kTInf)) return false;
      std::pop_heap(heap.begin(), heap.end(), worse_first);
      heap.back() = {static_cast<double>(v), i};
      std::push_heap(heap.begin(), heap.end(), worse_first);
      thr = static_cast<T>(heap.front().first);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse_first);  // best first
  for (int64_t j = 0; j < k; ++j) vals[j] = heap[j].first, ids[j] = heap[j].second;
  return true;
}

// Top-k of every row of logp (R,V), in parallel over rows. Error naming the search on NaN.
void top_k_rows(const Tensor& logp, int64_t k, std::vector<double>& vals, std::vector<int64_t>& ids,
                const char* name) {
  const int64_t R = logp.size(0), V = logp.size(1);
  vals.assign(R * k, 0.0);
  ids.assign(R * k, 0);
  std::vector<char> bad(R, 0);
  const auto run = [&]<class T>() {
    const T* x = logp.data_ptr<T>();
    kernels::parallel_for(R, std::max<int64_t>(1, 32768 / std::max<int64_t>(V, 1)), [&](int64_t r0, int64_t r1) {
      std::vector<std::pair<double, int64_t>> heap;
      heap.reserve(k);
      for (int64_t r = r0; r < r1; ++r) bad[r] = !row_top_k<T>(x + r * V, V, k, &vals[r * k], &ids[r * k], heap);
    });
  };
  if (logp.dtype() == DType::F32) run.template operator()<float>();
  else run.template operator()<double>();
  for (int64_t r = 0; r < R; ++r)
    check(!bad[r], name, "decoder.step returned NaN or +inf log-probabilities in row ", r, " of ", logp.shape());
}

// ==================================================================== sampling
// splitmix64's finaliser: a bijective mix of 64 bits.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A uniform in [0,1) that depends only on (seed, source, step): counter-based, no shared stream.
inline double counter_uniform(uint64_t seed, uint64_t source, uint64_t step) {
  uint64_t z = mix64(seed + 0x9E3779B97F4A7C15ull);
  z = mix64(z ^ (source * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull));
  z = mix64(z ^ (step * 0x8CB92BA72F3D8DD7ull + 0x9E3779B97F4A7C15ull));
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

// Draws from softmax(x / temperature) over `cand` (ids ascending) by inverse CDF at u.
// Returns -1 when every candidate has probability 0 (all -inf).
template <class T>
int64_t sample_row(const T* x, const std::vector<int64_t>& cand, double temperature, double u,
                   std::vector<double>& w) {
  double m = -kInf;
  for (int64_t i : cand) m = std::max(m, static_cast<double>(x[i]));
  if (m == -kInf) return -1;
  w.resize(cand.size());
  double total = 0;
  for (size_t j = 0; j < cand.size(); ++j) total += (w[j] = std::exp((static_cast<double>(x[cand[j]]) - m) / temperature));
  const double target = u * total;
  double acc = 0;
  int64_t last_positive = -1;
  for (size_t j = 0; j < cand.size(); ++j) {
    if (w[j] <= 0) continue;
    acc += w[j];
    last_positive = cand[j];
    if (target < acc) return cand[j];
  }
  return last_positive;  // rounding left target == total
}

// ==================================================================== greedy and sampling
// One path per source: pick a token per live row, drop rows that end (EOS or their limit).
std::vector<Hypothesis> single_path(StepDecoder& dec, const DecodeOptions& o, const char* name, bool sample) {
  NoGradGuard no_grad;
  const Setup s = setup(dec, o, name);
  if (sample) {
    check(std::isfinite(o.temperature()) && o.temperature() > 0, name, "temperature ", o.temperature(),
          " must be finite and > 0");
    check(o.top_k() >= 0, name, "top_k ", o.top_k(), " must be >= 0 (0 = all tokens)");
    check(o.first_source() >= 0, name, "first_source ", o.first_source(), " must be >= 0");
  }
  std::vector<Hypothesis> out(s.B);
  std::vector<std::vector<float>> attn(o.return_attention() ? s.B : 0);
  std::vector<int64_t> live(s.B), last(s.B, o.bos());
  std::iota(live.begin(), live.end(), int64_t{0});
  const int64_t k = !sample ? 1 : o.top_k() > 0 ? std::min(o.top_k(), s.V) : s.V;  // candidates per row
  std::vector<double> vals;
  std::vector<int64_t> ids, chosen;
  std::vector<float> step_attn;
  int64_t S = -1;
  for (int64_t t = 0; !live.empty(); ++t) {
    const int64_t R = static_cast<int64_t>(live.size());
    const Tensor logp = checked_step(dec, last, s.V, name);
    if (o.return_attention()) {
      step_attn.clear();
      collect_attention(dec, R, S, step_attn, name);
      for (int64_t r = 0; r < R; ++r)
        attn[live[r]].insert(attn[live[r]].end(), step_attn.begin() + r * S, step_attn.begin() + (r + 1) * S);
    }
    chosen.assign(R, 0);
    if (!sample || k == 1) {
      top_k_rows(logp, 1, vals, ids, name);  // top_k 1 is the argmax: sampling it equals greedy
      chosen = ids;
    } else {
      if (k < s.V) top_k_rows(logp, k, vals, ids, name);
      std::vector<char> bad(R, 0);  // 1: NaN / +inf, 2: every candidate -inf
      const auto run = [&]<class T>() {
        const T* x = logp.data_ptr<T>();
        kernels::parallel_for(R, std::max<int64_t>(1, 16384 / std::max<int64_t>(k, 1)), [&](int64_t r0, int64_t r1) {
          std::vector<int64_t> cand;
          std::vector<double> w;
          for (int64_t r = r0; r < r1; ++r) {
            const T* row = x + r * s.V;
            if (k < s.V) {
              cand.assign(ids.begin() + r * k, ids.begin() + (r + 1) * k);
              std::sort(cand.begin(), cand.end());
            } else {
              cand.resize(s.V);
              std::iota(cand.begin(), cand.end(), int64_t{0});
              bool ok = true;
              for (int64_t i = 0; i < s.V; ++i) ok &= row[i] < std::numeric_limits<T>::infinity();
              if (!ok) {
                bad[r] = 1;
                continue;
              }
            }
            const double u = counter_uniform(o.seed(), static_cast<uint64_t>(o.first_source() + live[r]),
                                             static_cast<uint64_t>(t));
            chosen[r] = sample_row<T>(row, cand, o.temperature(), u, w);
            if (chosen[r] < 0) bad[r] = 2;
          }
        });
      };
      if (logp.dtype() == DType::F32) run.template operator()<float>();
      else run.template operator()<double>();
      for (int64_t r = 0; r < R; ++r) {
        check(bad[r] != 1, name, "decoder.step returned NaN or +inf log-probabilities in row ", r, " of ",
              logp.shape());
        check(bad[r] != 2, name, "every candidate log-prob of row ", r, " is -inf; nothing to sample");
      }
    }
    // Extend each source; keep the rows that go on.
    const auto value = [&](int64_t r) {
      return logp.dtype() == DType::F32 ? static_cast<double>(logp.data_ptr<float>()[r * s.V + chosen[r]])
                                        : logp.data_ptr<double>()[r * s.V + chosen[r]];
    };
    std::vector<int64_t> keep, next_live, next_last;
    for (int64_t r = 0; r < R; ++r) {
      Hypothesis& h = out[live[r]];
      const int64_t tok = chosen[r];
      h.log_prob += value(r);
      if (tok == o.eos()) {
        h.finished = true;
        continue;
      }
      h.tokens.push_back(tok);
      if (t + 1 >= s.limit[live[r]]) continue;  // cut at its limit, unfinished
      keep.push_back(r);
      next_live.push_back(live[r]);
      next_last.push_back(tok);
    }
    if (!next_live.empty()) checked_reorder(dec, keep, R, name);
    live.swap(next_live);
    last.swap(next_last);
  }
  for (int64_t b = 0; b < s.B; ++b) {
    out[b].score = out[b].log_prob;
    if (o.return_attention())
      out[b].attention = attention_tensor(attn[b], static_cast<int64_t>(out[b].tokens.size()) + out[b].finished, S);
  }
  return out;
}

}  // namespace

std::vector<Hypothesis> greedy_decode(StepDecoder& decoder, const DecodeOptions& options) {
  return single_path(decoder, options, "greedy_decode", false);
}

std::vector<Hypothesis> sample_decode(StepDecoder& decoder, const DecodeOptions& options) {
  return single_path(decoder, options, "sample_decode", true);
}

// ==================================================================== beam search
namespace {

struct Node {      // one generated token of some hypothesis
  int64_t parent;  // node index, -1 at BOS
  int64_t token;
  int64_t step;    // the step that produced it, and the row it was produced from
  int64_t row;
};
struct Beam {      // a live hypothesis
  int64_t node;    // -1: nothing generated yet
  double log_prob;
};
struct Ended {     // a finished or cut hypothesis
  int64_t node;
  double log_prob, score;
  bool finished;
};
struct Source {
  std::vector<Beam> beams;
  std::vector<Ended> ended;
  std::vector<double> best_scores;  // the best <= K ended scores, descending
  bool done = false;
};
struct Candidate {
  double log_prob;
  int64_t token, beam;
};

// score = log_prob / length^alpha (alpha = 0: the raw sum).
inline double normalised(double log_prob, int64_t length, double alpha) {
  return alpha == 0 ? log_prob : log_prob / std::pow(static_cast<double>(length), alpha);
}

void add_ended(Source& src, const Ended& e, int64_t K) {
  src.ended.push_back(e);
  auto& best = src.best_scores;
  best.insert(std::upper_bound(best.begin(), best.end(), e.score, std::greater<double>()), e.score);
  if (static_cast<int64_t>(best.size()) > K) best.pop_back();
}

}  // namespace

std::vector<std::vector<Hypothesis>> beam_search(StepDecoder& decoder, const DecodeOptions& o) {
  const char* name = "beam_search";
  NoGradGuard no_grad;
  const Setup s = setup(decoder, o, name);
  const int64_t K = o.beam_size();
  check(K >= 1, name, "beam_size ", K, " must be >= 1");
  check(o.num_return() >= 1 && o.num_return() <= K, name, "num_return ", o.num_return(), " must be in [1, beam_size=",
        K, "]");
  check(std::isfinite(o.length_penalty()), name, "length_penalty ", o.length_penalty(), " must be finite");
  const double alpha = o.length_penalty();
  const int64_t k = std::min(K, s.V);  // proposals per beam

  std::vector<Source> src(s.B);
  for (auto& x : src) x.beams.push_back({-1, 0.0});
  std::vector<Node> nodes;
  std::vector<std::vector<float>> attn_steps;  // per step: (R_t, S)
  int64_t S = -1;
  std::vector<double> vals;
  std::vector<int64_t> ids;
  std::vector<Candidate> pool;
  for (int64_t t = 0;; ++t) {
    // Rows: the live beams of the sources not done, in source order.
    std::vector<int64_t> last;
    for (const auto& x : src)
      if (!x.done)
        for (const Beam& bm : x.beams) last.push_back(bm.node < 0 ? o.bos() : nodes[bm.node].token);
    const int64_t R = static_cast<int64_t>(last.size());
    if (R == 0) break;
    const Tensor logp = checked_step(decoder, last, s.V, name);
    if (o.return_attention()) {
      attn_steps.emplace_back();
      collect_attention(decoder, R, S, attn_steps.back(), name);
    }
    top_k_rows(logp, k, vals, ids, name);

    std::vector<int64_t> index;  // the new rows, as rows of this step
    int64_t row0 = 0;
    for (int64_t b = 0; b < s.B; ++b) {
      Source& x = src[b];
      if (x.done) continue;
      const int64_t L = static_cast<int64_t>(x.beams.size());
      // Every beam's k best continuations; the best K of them survive.
      pool.clear();
      for (int64_t j = 0; j < L; ++j)
        for (int64_t i = 0; i < k; ++i)
          pool.push_back({x.beams[j].log_prob + vals[(row0 + j) * k + i], ids[(row0 + j) * k + i], j});
      const int64_t keep = std::min<int64_t>(K, static_cast<int64_t>(pool.size()));
      std::partial_sort(pool.begin(), pool.begin() + keep, pool.end(), [](const Candidate& a, const Candidate& c) {
        if (a.log_prob != c.log_prob) return a.log_prob > c.log_prob;
        if (a.token != c.token) return a.token < c.token;
        return a.beam < c.beam;
      });
      std::vector<Beam> next;
      std::vector<int64_t> next_rows;
      for (int64_t i = 0; i < keep; ++i) {
        const Candidate& c = pool[i];
        nodes.push_back({x.beams[c.beam].node, c.token, t, row0 + c.beam});
        const int64_t id = static_cast<int64_t>(nodes.size()) - 1;
        if (c.token == o.eos()) {
          add_ended(x, {id, c.log_prob, normalised(c.log_prob, t + 1, alpha), true}, K);
        } else {
          next.push_back({id, c.log_prob});
          next_rows.push_back(row0 + c.beam);
        }
      }
      row0 += L;
      if (t + 1 >= s.limit[b]) {  // at the limit: the live beams end as they stand
        for (const Beam& bm : next) add_ended(x, {bm.node, bm.log_prob, normalised(bm.log_prob, t + 1, alpha), false}, K);
        next.clear();
        next_rows.clear();
      } else if (!next.empty() && static_cast<int64_t>(x.best_scores.size()) >= K) {
        // Early stop: a live beam ends at a length in [t+2, limit] with log-probs <= 0 still to
        // add, so its score is at most max over that range of log_prob / length^alpha - one of
        // the two ends, as log_prob <= 0 makes the expression monotone in the length.
        double bound = -kInf;
        for (const Beam& bm : next)
          bound = std::max({bound, normalised(bm.log_prob, t + 2, alpha), normalised(bm.log_prob, s.limit[b], alpha)});
        if (bound <= x.best_scores.back()) next.clear(), next_rows.clear();
      }
      x.beams = std::move(next);
      x.done = x.beams.empty();
      index.insert(index.end(), next_rows.begin(), next_rows.end());
    }
    if (!index.empty()) checked_reorder(decoder, index, R, name);
  }

  // The best num_return of each source (stable: earlier-ended first among equal scores).
  std::vector<std::vector<Hypothesis>> out(s.B);
  for (int64_t b = 0; b < s.B; ++b) {
    auto& ended = src[b].ended;
    std::stable_sort(ended.begin(), ended.end(), [](const Ended& a, const Ended& c) { return a.score > c.score; });
    const int64_t n = std::min<int64_t>(o.num_return(), static_cast<int64_t>(ended.size()));
    for (int64_t i = 0; i < n; ++i) {
      Hypothesis h;
      h.log_prob = ended[i].log_prob;
      h.score = ended[i].score;
      h.finished = ended[i].finished;
      std::vector<int64_t> chain;
      for (int64_t id = ended[i].node; id >= 0; id = nodes[id].parent) chain.push_back(id);
      std::reverse(chain.begin(), chain.end());
      std::vector<float> rows;
      for (int64_t id : chain) {
        if (!(h.finished && id == chain.back())) h.tokens.push_back(nodes[id].token);  // not the EOS
        if (o.return_attention()) {
          const auto& a = attn_steps[nodes[id].step];
          rows.insert(rows.end(), a.begin() + nodes[id].row * S, a.begin() + (nodes[id].row + 1) * S);
        }
      }
      if (o.return_attention()) h.attention = attention_tensor(rows, static_cast<int64_t>(chain.size()), S);
      out[b].push_back(std::move(h));
    }
  }
  return out;
}

}  // namespace seqnn::models
