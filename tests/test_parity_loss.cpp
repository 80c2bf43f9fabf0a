// Losses against live PyTorch 1.13: every loss, every reduction, ignore_index, label
// smoothing, class weights, the (N,C,T) layout, probability targets; F32 and F64.
#include <gtest/gtest.h>

#include "common/torch_oracle.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

struct Pending {
  std::string what;
  Tensor out;
  std::vector<std::pair<std::string, Tensor>> leaves;
};

// inputs named as in the Python code; floating ones in `grad` become leaves that require grad
void add_case(std::vector<OracleCase>& cases, std::vector<Pending>& pend, const std::string& what,
              const std::vector<std::pair<std::string, Tensor>>& inputs, const std::vector<std::string>& grad,
              const std::function<Tensor(const TensorList&)>& f, const std::string& code, nlohmann::json args,
              Generator& gen) {
  OracleCase c;
  Pending p{what, Tensor(), {}};
  TensorList vals;
  for (const auto& [name, t] : inputs) {
    const bool g = std::find(grad.begin(), grad.end(), name) != grad.end();
    Tensor l = g ? t.clone().detach().requires_grad_() : t;
    vals.push_back(l);
    c.inputs.push_back({name, l});
    if (g) p.leaves.push_back({name, l});
  }
  p.out = f(vals);
  Tensor gy = randn(p.out.shape(), p.out.dtype(), &gen);
  p.out.backward(gy);
  c.grad_outs = {gy};
  c.code = code;
  c.args = std::move(args);
  cases.push_back(c);
  pend.push_back(p);
}

void compare(const std::vector<OracleCase>& cases, const std::vector<Pending>& pend) {
  auto res = run_torch(cases);
  ASSERT_EQ(res.size(), pend.size());
  for (size_t i = 0; i < pend.size(); ++i) {
    expect_close(pend[i].out, res[i].outs[0], 1e-5, pend[i].what + " out");
    for (const auto& [name, leaf] : pend[i].leaves) {
      ASSERT_TRUE(res[i].grads.count(name)) << pend[i].what << " " << name;
      expect_close(leaf.grad(), res[i].grads.at(name), 1e-4, pend[i].what + " d" + name);
    }
  }
}

const char* kRed[] = {"none", "mean", "sum"};
const Reduction kReds[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

Tensor targets(const Shape& s, int64_t C, Generator& gen, int64_t ignore) {
  Tensor t = randint(0, C, s, &gen);
  int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 1; i < t.numel(); i += 4) p[i] = ignore;  // ignore_index present
  return t;
}

Tensor softmax_rows(const Tensor& logits) { return softmax(logits, logits.dim() == 1 ? 0 : 1).detach(); }

}  // namespace

TEST(ParityLoss, CrossEntropyAndNll) {
  Generator gen(81);
  std::vector<OracleCase> cases;
  std::vector<Pending> pend;
  for (DType dt : {DType::F32, DType::F64}) {
    for (Shape s : {Shape{6, 5}, Shape{4, 3, 7}, Shape{2, 4, 3, 2}, Shape{1, 1}, Shape{5}, Shape{0, 3}}) {
      const int64_t C = s.size() == 1 ? s[0] : s[1];
      Shape ts;
      if (s.size() > 1) {
        ts = s;
        ts.erase(ts.begin() + 1);
      }
      Tensor x = randn(s, dt, &gen), w = uniform({C}, 0.2, 2.0, dt, &gen);
      for (int64_t ignore : {-100, 1}) {
        Tensor t =
            s.size() == 1 ? from_vector(std::vector<int64_t>{ignore == 1 ? 3 : 1}, {}) : targets(ts, C, gen, ignore);
        Tensor pt = softmax_rows(randn(s, dt, &gen));
        for (int r = 0; r < 3; ++r)
          for (double ls : {0.0, 0.1})
            for (bool weighted : {false, true}) {
              CrossEntropyOptions o;
              o.reduction(kReds[r]).label_smoothing(ls).ignore_index(ignore);
              if (weighted) o.weight(w);
              nlohmann::json args = {{"red", kRed[r]}, {"ls", ls}, {"ii", ignore}, {"w", weighted}};
              const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s) + " " + kRed[r] + " ls " +
                                      std::to_string(ls) + " ignore " + std::to_string(ignore) +
                                      (weighted ? " weighted" : "");
              add_case(
                  cases, pend, "cross_entropy " + tag, {{"x", x}, {"t", t}, {"w", w}}, {"x"},
                  [&](const TensorList& in) { return cross_entropy(in[0], in[1], o); },
                  "out = F.cross_entropy(x, t, weight=w if args['w'] else None, ignore_index=args['ii'], "
                  "reduction=args['red'], label_smoothing=args['ls'])",
                  args, gen);
              if (ls == 0)
                add_case(
                    cases, pend, "nll_loss " + tag, {{"x", x}, {"t", t}, {"w", w}}, {"x"},
                    [&](const TensorList& in) { return nll_loss(log_softmax(in[0], s.size() == 1 ? 0 : 1), in[1], o); },
                    "lp = F.log_softmax(x, dim=0 if x.dim() == 1 else 1)\n"
                    "out = F.nll_loss(lp, t, weight=w if args['w'] else None, ignore_index=args['ii'], "
                    "reduction=args['red'])",
                    args, gen);
              if (ignore == -100) {  // probability targets (ignore_index unsupported there)
                add_case(
                    cases, pend, "cross_entropy prob " + tag, {{"x", x}, {"pt", pt}, {"w", w}}, {"x", "pt"},
                    [&](const TensorList& in) { return cross_entropy(in[0], in[1], o); },
                    "out = F.cross_entropy(x, pt, weight=w if args['w'] else None, reduction=args['red'], "
                    "label_smoothing=args['ls'])",
                    args, gen);
              }
            }
      }
    }
  }
  compare(cases, pend);
}

TEST(ParityLoss, AllIgnoredMeanIsNaN) {
  Generator gen(82);
  std::vector<OracleCase> cases;
  std::vector<Pending> pend;
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = randn({3, 4}, dt, &gen), w = uniform({4}, 0.2, 2.0, dt, &gen);
    Tensor t = from_vector(std::vector<int64_t>{-100, -100, -100}, {3});
    for (double ls : {0.0, 0.1}) {
      CrossEntropyOptions o;
      o.label_smoothing(ls).weight(w);
      add_case(
          cases, pend, std::string("all ignored ") + dtype_name(dt) + " ls " + std::to_string(ls),
          {{"x", x}, {"t", t}, {"w", w}}, {"x"}, [&](const TensorList& in) { return cross_entropy(in[0], in[1], o); },
          "out = F.cross_entropy(x, t, weight=w, label_smoothing=args['ls'])", {{"ls", ls}}, gen);
    }
  }
  compare(cases, pend);
}

TEST(ParityLoss, MseAndBce) {
  Generator gen(83);
  std::vector<OracleCase> cases;
  std::vector<Pending> pend;
  for (DType dt : {DType::F32, DType::F64}) {
    for (Shape s : {Shape{4, 5}, Shape{2, 3, 6}, Shape{1}, Shape{}, Shape{0, 3}}) {
      Tensor x = randn(s, dt, &gen), y = randn(s, dt, &gen), p = rand(s, dt, &gen);
      const int64_t L = s.empty() ? 1 : s.back();
      Tensor pw = uniform({L}, 0.3, 3.0, dt, &gen);
      for (int r = 0; r < 3; ++r) {
        const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s) + " " + kRed[r];
        nlohmann::json args = {{"red", kRed[r]}};
        add_case(
            cases, pend, "mse " + tag, {{"x", x}, {"y", y}}, {"x", "y"},
            [&](const TensorList& in) { return mse_loss(in[0], in[1], kReds[r]); },
            "out = F.mse_loss(x, y, reduction=args['red'])", args, gen);
        add_case(
            cases, pend, "bce " + tag, {{"x", x}, {"p", p}}, {"x", "p"},
            [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], kReds[r]); },
            "out = F.binary_cross_entropy_with_logits(x, p, reduction=args['red'])", args, gen);
        if (s.empty()) continue;  // PyTorch 1.13 itself fails on a 0-d input with pos_weight (1)
        add_case(
            cases, pend, "bce pos_weight " + tag, {{"x", x}, {"p", p}, {"pw", pw}}, {"x", "p"},
            [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], kReds[r], in[2]); },
            "out = F.binary_cross_entropy_with_logits(x, p, reduction=args['red'], pos_weight=pw)", args, gen);
      }
    }
    // large logits stay finite and match
    Tensor big = from_vector(std::vector<double>{80, -80, 30, -30}, {2, 2}).to(dt);
    Tensor p = from_vector(std::vector<double>{0, 1, 0.5, 0.2}, {2, 2}).to(dt);
    add_case(
        cases, pend, std::string("bce large ") + dtype_name(dt), {{"x", big}, {"p", p}}, {"x", "p"},
        [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], Reduction::None); },
        "out = F.binary_cross_entropy_with_logits(x, p, reduction='none')", {}, gen);
  }
  compare(cases, pend);
}
