// Losses against live PyTorch 1.13: every loss, every reduction, ignore_index, label
// smoothing, class weights, the (N,C,T) layout, probability targets; F32 and F64.
#include <gtest/gtest.h>

#include "common/parity_batch.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

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
  ParityBatch pb(81);
  Generator& gen = pb.gen;
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
              pb.add(
                  "cross_entropy " + tag,
                  "out = F.cross_entropy(x, t, weight=w if args['w'] else None, ignore_index=args['ii'], "
                  "reduction=args['red'], label_smoothing=args['ls'])",
                  {{"x", x}, {"t", t}, {"w", w}}, [&](const TensorList& in) { return cross_entropy(in[0], in[1], o); },
                  args, {"w"});
              if (ls == 0)
                pb.add(
                    "nll_loss " + tag,
                    "lp = F.log_softmax(x, dim=0 if x.dim() == 1 else 1)\n"
                    "out = F.nll_loss(lp, t, weight=w if args['w'] else None, ignore_index=args['ii'], "
                    "reduction=args['red'])",
                    {{"x", x}, {"t", t}, {"w", w}},
                    [&](const TensorList& in) { return nll_loss(log_softmax(in[0], s.size() == 1 ? 0 : 1), in[1], o); },
                    args, {"w"});
              if (ignore == -100) {  // probability targets (ignore_index unsupported there)
                pb.add(
                    "cross_entropy prob " + tag,
                    "out = F.cross_entropy(x, pt, weight=w if args['w'] else None, reduction=args['red'], "
                    "label_smoothing=args['ls'])",
                    {{"x", x}, {"pt", pt}, {"w", w}},
                    [&](const TensorList& in) { return cross_entropy(in[0], in[1], o); }, args, {"w"});
              }
            }
      }
    }
  }
  pb.check();
}

TEST(ParityLoss, AllIgnoredMeanIsNaN) {
  ParityBatch pb(82);
  Generator& gen = pb.gen;
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = randn({3, 4}, dt, &gen), w = uniform({4}, 0.2, 2.0, dt, &gen);
    Tensor t = from_vector(std::vector<int64_t>{-100, -100, -100}, {3});
    for (double ls : {0.0, 0.1}) {
      CrossEntropyOptions o;
      o.label_smoothing(ls).weight(w);
      pb.add(std::string("all ignored ") + dtype_name(dt) + " ls " + std::to_string(ls),
             "out = F.cross_entropy(x, t, weight=w, label_smoothing=args['ls'])", {{"x", x}, {"t", t}, {"w", w}},
             [&](const TensorList& in) { return cross_entropy(in[0], in[1], o); }, {{"ls", ls}}, {"w"});
    }
  }
  pb.check();
}

TEST(ParityLoss, MseAndBce) {
  ParityBatch pb(83);
  Generator& gen = pb.gen;
  for (DType dt : {DType::F32, DType::F64}) {
    for (Shape s : {Shape{4, 5}, Shape{2, 3, 6}, Shape{1}, Shape{}, Shape{0, 3}}) {
      Tensor x = randn(s, dt, &gen), y = randn(s, dt, &gen), p = rand(s, dt, &gen);
      const int64_t L = s.empty() ? 1 : s.back();
      Tensor pw = uniform({L}, 0.3, 3.0, dt, &gen);
      for (int r = 0; r < 3; ++r) {
        const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s) + " " + kRed[r];
        nlohmann::json args = {{"red", kRed[r]}};
        pb.add("mse " + tag, "out = F.mse_loss(x, y, reduction=args['red'])", {{"x", x}, {"y", y}},
               [&](const TensorList& in) { return mse_loss(in[0], in[1], kReds[r]); }, args);
        pb.add("bce " + tag, "out = F.binary_cross_entropy_with_logits(x, p, reduction=args['red'])",
               {{"x", x}, {"p", p}},
               [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], kReds[r]); }, args);
        if (s.empty()) continue;  // PyTorch 1.13 itself fails on a 0-d input with pos_weight (1)
        pb.add(
            "bce pos_weight " + tag,
            "out = F.binary_cross_entropy_with_logits(x, p, reduction=args['red'], pos_weight=pw)",
            {{"x", x}, {"p", p}, {"pw", pw}},
            [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], kReds[r], in[2]); },
            args, {"pw"});
      }
    }
    // large logits stay finite and match
    Tensor big = from_vector(std::vector<double>{80, -80, 30, -30}, {2, 2}).to(dt);
    Tensor p = from_vector(std::vector<double>{0, 1, 0.5, 0.2}, {2, 2}).to(dt);
    pb.add(std::string("bce large ") + dtype_name(dt), "out = F.binary_cross_entropy_with_logits(x, p, reduction='none')",
           {{"x", big}, {"p", p}},
           [&](const TensorList& in) { return binary_cross_entropy_with_logits(in[0], in[1], Reduction::None); });
  }
  pb.check();
}
