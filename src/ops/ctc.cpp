// CTC: ctc_loss (PyTorch 1.13's contract), greedy decoding, prefix beam search.
// The math is in include/seqnn/ctc.h and src/kernels/ctc.h; this file checks arguments,
// reduces, and records the backward.
//
// Reductions over the per-sample losses nll_b (0 for an infeasible sample with zero_infinity):
//   none: (B)    sum: sum_b nll_b    mean: (1/B) sum_b nll_b / max(tl_b, 1)
// Backward: the kernel's dy = -g_b gamma with the per-sample upstream gradient
//   none: g_b = g[b]    sum: g_b = g    mean: g_b = g / (B max(tl_b, 1))
// Memory: the forward keeps alpha (B,T,2Smax+1) in double only when log_probs requires grad
// (else two rows per sample); the backward recomputes beta two rows at a time.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "kernels/ctc.h"
#include "kernels/parallel.h"
#include "ops/dispatch.h"
#include "seqnn/autograd.h"
#include "seqnn/ctc.h"

namespace seqnn {

namespace {

// ==================================================================== argument checks

// Everything the kernels need, checked.
struct CtcProblem {
  Tensor lp;        // contiguous log_probs, (T,B,C) or (T,C)
  Tensor targets;   // contiguous int64
  bool batched = true;
  int64_t T = 0, B = 0, C = 0, L = 1, blank = 0;
  std::vector<int64_t> il, tl, tg_off;
};

std::vector<int64_t> lengths_of(const Tensor& t, const char* name, const CtcProblem& p, const Tensor& lp) {
  const char* op = "ctc_loss";
  check(t.defined(), op, name, " must be defined");
  check(t.dtype() == DType::I64, op, name, " must be int64, got ", dtype_name(t.dtype()));
  if (p.batched)
    check(t.dim() == 1 && t.size(0) == p.B, op, name, " ", t.shape(), " must be (B=", p.B, ") for log_probs ",
          lp.shape());
  else
    check(t.numel() == 1 && t.dim() <= 1, op, name, " ", t.shape(), " must be a scalar or (1) for unbatched log_probs ",
          lp.shape());
  return t.to_vector<int64_t>();
}

CtcProblem check_problem(const Tensor& log_probs, const Tensor& targets, std::vector<int64_t> il,
                         std::vector<int64_t> tl, int64_t blank) {
  const char* op = "ctc_loss";
  CtcProblem p;
  check(log_probs.dim() == 3 || log_probs.dim() == 2, op, "log_probs ", log_probs.shape(),
        " must be (T,B,C) or unbatched (T,C)");
  p.batched = log_probs.dim() == 3;
  p.T = log_probs.size(0);
  p.B = p.batched ? log_probs.size(1) : 1;
  p.C = log_probs.size(-1);
  check(blank >= 0 && blank < p.C, op, "blank ", blank, " must be in [0, C=", p.C, ") for log_probs ",
        log_probs.shape());
  p.blank = blank;
  check(targets.dtype() == DType::I64, op, "targets must be int64 labels, got ", dtype_name(targets.dtype()));
  check(static_cast<int64_t>(il.size()) == p.B, op, "input_lengths has ", il.size(), " entries, expected B=", p.B,
        " for log_probs ", log_probs.shape());
  check(static_cast<int64_t>(tl.size()) == p.B, op, "target_lengths has ", tl.size(), " entries, expected B=", p.B,
        " for log_probs ", log_probs.shape());
  for (int64_t b = 0; b < p.B; ++b) {
    check(il[b] >= 0 && il[b] <= p.T, op, "input_lengths[", b, "] = ", il[b], " must be in [0, T=", p.T, "]");
    check(tl[b] >= 0, op, "target_lengths[", b, "] = ", tl[b], " must be >= 0");
  }
  // target layout: padded (B,S) or concatenated (sum tl); unbatched (S) holds exactly tl labels
  p.tg_off.assign(p.B, 0);
  int64_t smax = 0;
  for (int64_t b = 0; b < p.B; ++b) smax = std::max(smax, tl[b]);
  if (p.batched && targets.dim() == 2) {
    check(targets.size(0) == p.B, op, "targets ", targets.shape(), " must be (B=", p.B,
          ",S) (padded) or 1-D (concatenated)");
    const int64_t S = targets.size(1);
    for (int64_t b = 0; b < p.B; ++b) {
      check(tl[b] <= S, op, "target_lengths[", b, "] = ", tl[b], " exceeds the padded target length S=", S,
            " of targets ", targets.shape());
      p.tg_off[b] = b * S;
    }
  } else {
    check(targets.dim() == 1, op, "targets ", targets.shape(), " must be ",
          p.batched ? "(B,S) (padded) or 1-D (concatenated)" : "(S) for unbatched log_probs");
    int64_t pos = 0;
    for (int64_t b = 0; b < p.B; ++b) {
      p.tg_off[b] = pos;
      pos += tl[b];
    }
    check(pos == targets.size(0), op, "target_lengths sum to ", pos, " but targets ", targets.shape(), " hold ",
          targets.size(0), " labels");
  }
  p.targets = targets.contiguous();
  const int64_t* tg = p.targets.data_ptr<int64_t>();
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t k = 0; k < tl[b]; ++k) {
      const int64_t v = tg[p.tg_off[b] + k];
      check(v >= 0 && v < p.C, op, "target label ", v, " (sample ", b, ", position ", k, ") out of range [0, C=", p.C,
            ")");
      check(v != blank, op, "target label ", v, " (sample ", b, ", position ", k, ") equals blank=", blank);
    }
  p.L = 2 * smax + 1;
  p.il = std::move(il);
  p.tl = std::move(tl);
  p.lp = log_probs.contiguous();
  return p;
}

void check_log_probs(const Tensor& log_probs, const char* op) {
  check(log_probs.defined(), op, "log_probs must be defined");
  check(is_floating(log_probs.dtype()), op, "log_probs must be float32/float64, got ", dtype_name(log_probs.dtype()));
}

// ==================================================================== the loss

Tensor ctc_loss_impl(const Tensor& log_probs, const Tensor& targets, std::vector<int64_t> il, std::vector<int64_t> tl,
                     const CTCLossOptions& o) {
  const char* op = "ctc_loss";
  const CtcProblem p = check_problem(log_probs, targets, std::move(il), std::move(tl), o.blank());
  const bool keep = autograd::needs_grad({p.lp});
  Tensor alpha = empty({p.B, keep ? p.T : 2, p.L}, DType::F64);
  Tensor nll = empty({p.B}, DType::F64);
  dispatch_float(p.lp.dtype(), op, [&]<class T>() {
    kernels::ctc_forward<T>(p.lp.data_ptr<T>(), p.targets.data_ptr<int64_t>(), p.tg_off.data(), p.il.data(),
                            p.tl.data(), p.T, p.B, p.C, p.L, p.blank, keep, alpha.data_ptr<double>(),
                            nll.data_ptr<double>());
  });
  // per-sample losses (zero_infinity: +inf -> 0), then the reduction
  const double* z = nll.data_ptr<double>();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> loss(p.B);
  for (int64_t b = 0; b < p.B; ++b) loss[b] = (o.zero_infinity() && z[b] == inf) ? 0.0 : z[b];
  const Reduction red = o.reduction();
  Tensor out;
  if (red == Reduction::None) {
    out = from_vector(loss, p.batched ? Shape{p.B} : Shape{}).to(p.lp.dtype());
  } else {
    double s = 0;
    for (int64_t b = 0; b < p.B; ++b) s += red == Reduction::Mean ? loss[b] / std::max<int64_t>(p.tl[b], 1) : loss[b];
    if (red == Reduction::Mean) s /= static_cast<double>(p.B);  // B = 0: NaN, as PyTorch's mean of nothing
    out = full({}, s, p.lp.dtype());
  }
  if (!keep) return out;
  // dloss/dy_t(c) = -g_b gamma_t(c)  (kernels/ctc.h; the true derivative w.r.t. log_probs)
  autograd::record(op, {p.lp}, {out}, [p, alpha, nll, red, zi = o.zero_infinity()](const TensorList& g) {
    std::vector<double> gb(p.B);
    const Tensor gc = g[0].contiguous();
    const std::vector<double> gv = gc.to_vector<double>();
    for (int64_t b = 0; b < p.B; ++b)
      gb[b] = red == Reduction::None ? gv[b]
              : red == Reduction::Sum ? gv[0]
                                      : gv[0] / (static_cast<double>(p.B) * std::max<int64_t>(p.tl[b], 1));
    Tensor dlp = empty(p.lp.shape(), p.lp.dtype());
    Tensor work = empty({p.B, kernels::ctc_backward_work(p.L, p.C)}, DType::F64);
    dispatch_float(p.lp.dtype(), "ctc_loss", [&]<class T>() {
      kernels::ctc_backward<T>(p.lp.data_ptr<T>(), p.targets.data_ptr<int64_t>(), p.tg_off.data(), p.il.data(),
                               p.tl.data(), p.T, p.B, p.C, p.L, p.blank, alpha.data_ptr<double>(),
                               nll.data_ptr<double>(), gb.data(), zi, work.data_ptr<double>(), dlp.data_ptr<T>());
    });
    return TensorList{dlp};
  });
  return out;
}

}  // namespace

Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const Tensor& input_lengths,
                const Tensor& target_lengths, const CTCLossOptions& options) {
  const char* op = "ctc_loss";
  check_log_probs(log_probs, op);
  check(targets.defined(), op, "targets must be defined");
  check(log_probs.dim() == 3 || log_probs.dim() == 2, op, "log_probs ", log_probs.shape(),
        " must be (T,B,C) or unbatched (T,C)");
  CtcProblem shape_only;
  shape_only.batched = log_probs.dim() == 3;
  shape_only.B = shape_only.batched ? log_probs.size(1) : 1;
  return ctc_loss_impl(log_probs, targets, lengths_of(input_lengths, "input_lengths", shape_only, log_probs),
                       lengths_of(target_lengths, "target_lengths", shape_only, log_probs), options);
}

Tensor ctc_loss(const Tensor& log_probs, const Tensor& targets, const std::vector<int64_t>& input_lengths,
                const std::vector<int64_t>& target_lengths, const CTCLossOptions& options) {
  check_log_probs(log_probs, "ctc_loss");
  check(targets.defined(), "ctc_loss", "targets must be defined");
  return ctc_loss_impl(log_probs, targets, input_lengths, target_lengths, options);
}

// ==================================================================== decoding

namespace {

// The checked (T,B,C) log_probs and lengths of a decoder; the log-probs converted to double.
struct DecodeInput {
  int64_t T = 0, B = 0, C = 0;
  std::vector<double> y;  // (T,B,C)
  std::vector<int64_t> il;
};

DecodeInput check_decode(const Tensor& log_probs, const Tensor& input_lengths, int64_t blank, const char* op) {
  check_log_probs(log_probs, op);
  check(log_probs.dim() == 3, op, "log_probs ", log_probs.shape(), " must be (T,B,C)");
  DecodeInput d;
  d.T = log_probs.size(0);
  d.B = log_probs.size(1);
  d.C = log_probs.size(2);
  check(blank >= 0 && blank < d.C, op, "blank ", blank, " must be in [0, C=", d.C, ")");
  check(input_lengths.defined() && input_lengths.dtype() == DType::I64, op, "input_lengths must be int64");
  check(input_lengths.dim() == 1 && input_lengths.size(0) == d.B, op, "input_lengths ", input_lengths.shape(),
        " must be (B=", d.B, ") for log_probs ", log_probs.shape());
  d.il = input_lengths.to_vector<int64_t>();
  for (int64_t b = 0; b < d.B; ++b)
    check(d.il[b] >= 0 && d.il[b] <= d.T, op, "input_lengths[", b, "] = ", d.il[b], " must be in [0, T=", d.T, "]");
  d.y = log_probs.detach().to_vector<double>();
  return d;
}

double lse2(double a, double b) {
  const double m = std::max(a, b);
  if (m == -std::numeric_limits<double>::infinity()) return m;
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

// The first index of the largest of y[0..C).
int64_t argmax_row(const double* y, int64_t C) {
  int64_t best = 0;
  for (int64_t c = 1; c < C; ++c)
    if (y[c] > y[best]) best = c;
  return best;
}

}  // namespace

std::vector<std::vector<int64_t>> ctc_greedy_decode(const Tensor& log_probs, const Tensor& input_lengths,
                                                    int64_t blank) {
  const DecodeInput d = check_decode(log_probs, input_lengths, blank, "ctc_greedy_decode");
  std::vector<std::vector<int64_t>> out(d.B);
  for (int64_t b = 0; b < d.B; ++b) {
    int64_t prev = -1;  // the previous frame's label (merging repeats)
    for (int64_t t = 0; t < d.il[b]; ++t) {
      const int64_t c = argmax_row(d.y.data() + (t * d.B + b) * d.C, d.C);
      if (c != blank && c != prev) out[b].push_back(c);
      prev = c;
    }
  }
  return out;
}

// Prefix beam search. For a prefix l with (pb, pnb) at frame t-1 and a label c at frame t:
//   c = blank:        l      pb  += p(l) y_t(blank)                (p(l) = pb + pnb)
//   c = last(l):      l      pnb += pnb y_t(c)   (the repeat merges into l)
//                     l + c  pnb += pb y_t(c)    (a blank separated the two c's)
//   c != last(l):     l + c  pnb += p(l) y_t(c)
// (all in log space: += is log-add). Then the beam_size most probable prefixes survive, ties
// broken by the prefix (lexicographically smaller first) so results are deterministic.
std::vector<std::vector<CTCHypothesis>> ctc_prefix_beam_search(const Tensor& log_probs, const Tensor& input_lengths,
                                                               int64_t beam_size, int64_t blank, int64_t num_return,
                                                               double prune_log_prob) {
  const char* op = "ctc_prefix_beam_search";
  check(beam_size >= 1, op, "beam_size must be >= 1, got ", beam_size);
  check(num_return >= 1, op, "num_return must be >= 1, got ", num_return);
  const DecodeInput d = check_decode(log_probs, input_lengths, blank, op);
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  struct Beam {
    std::vector<int64_t> prefix;
    double pb, pnb, total;
  };
  std::vector<std::vector<CTCHypothesis>> out(d.B);
  kernels::parallel_for(d.B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      std::vector<Beam> beams{{{}, 0.0, kNegInf, 0.0}};
      std::vector<int64_t> labels;
      for (int64_t t = 0; t < d.il[b]; ++t) {
        const double* y = d.y.data() + (t * d.B + b) * d.C;
        const int64_t best = argmax_row(y, d.C);
        labels.clear();
        for (int64_t c = 0; c < d.C; ++c)
          if (y[c] >= prune_log_prob || c == best) labels.push_back(c);
        std::map<std::vector<int64_t>, std::pair<double, double>> next;  // prefix -> (pb, pnb)
        auto at = [&](const std::vector<int64_t>& key) -> std::pair<double, double>& {
          return next.try_emplace(key, kNegInf, kNegInf).first->second;
        };
        for (const Beam& beam : beams) {
          const int64_t last = beam.prefix.empty() ? -1 : beam.prefix.back();
          for (int64_t c : labels) {
            if (c == blank) {
              auto& e = at(beam.prefix);
              e.first = lse2(e.first, beam.total + y[c]);
              continue;
            }
            std::vector<int64_t> ext = beam.prefix;
            ext.push_back(c);
            auto& e = at(ext);
            if (c == last) {
              e.second = lse2(e.second, beam.pb + y[c]);
              auto& same = at(beam.prefix);
              same.second = lse2(same.second, beam.pnb + y[c]);
            } else {
              e.second = lse2(e.second, beam.total + y[c]);
            }
          }
        }
        beams.clear();
        for (auto& [prefix, pr] : next) beams.push_back({prefix, pr.first, pr.second, lse2(pr.first, pr.second)});
        // std::map iterates prefixes in lexicographic order: a stable sort keeps it for ties
        std::stable_sort(beams.begin(), beams.end(), [](const Beam& a, const Beam& c) { return a.total > c.total; });
        // prefixes reached only through probability-0 steps are not labellings (unless nothing else is left)
        if (beams[0].total > kNegInf)
          beams.erase(std::find_if(beams.begin(), beams.end(), [](const Beam& x) { return std::isinf(x.total); }),
                      beams.end());
        if (static_cast<int64_t>(beams.size()) > beam_size) beams.resize(beam_size);
      }
      const int64_t k = std::min<int64_t>(num_return, static_cast<int64_t>(beams.size()));
      for (int64_t i = 0; i < k; ++i) out[b].push_back({beams[i].prefix, beams[i].total});
    }
  });
  return out;
}

}  // namespace seqnn
