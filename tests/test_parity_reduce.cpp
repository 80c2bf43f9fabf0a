// Reductions and softmax against live PyTorch 1.13: values and gradients, F32 and F64.
#include <gtest/gtest.h>

#include "common/parity_batch.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// Small integers: many exact ties for the max rules.
Tensor with_ties(const Shape& s, DType dt, Generator& gen) {
  std::vector<double> v;
  for (int64_t i = 0; i < numel_of(s); ++i) v.push_back(static_cast<double>(gen.randint(0, 3)));
  return from_vector(v, s).to(dt);
}

const char* kSumCode =
    "d = args['dims']\n"
    "k = args['keep']\n"
    "f = torch.sum if args['op'] == 'sum' else torch.mean\n"
    "out = f(x, dim=d if d else list(range(x.dim())), keepdim=k) if (d or k) else f(x)\n";

}  // namespace

TEST(ParityReduce, SumMean) {
  ParityBatch p(21);
  for (DType dt : {DType::F32, DType::F64}) {
    for (Shape s : {Shape{3, 4, 5}, Shape{1, 4, 1}, Shape{2, 0, 3}, Shape{6}}) {
      Tensor x = randn(s, dt, &p.gen);
      std::vector<std::vector<int64_t>> dimsets = {{}, {0}, {-1}};
      if (s.size() == 3) dimsets.insert(dimsets.end(), {{1}, {0, 2}, {2, 0}, {0, 1}, {-2, -1}, {0, 1, 2}});
      for (const auto& dims : dimsets)
        for (bool keep : {false, true})
          for (std::string op : {"sum", "mean"}) {
            const std::string what =
                op + " " + dtype_name(dt) + " " + shape_str(s) + " dims " + shape_str(dims) + (keep ? " keepdim" : "");
            p.add(
                what, kSumCode, {{"x", x}},
                [&](const TensorList& in) {
                  if (dims.empty() && !keep) return op == "sum" ? sum(in[0]) : mean(in[0]);
                  return op == "sum" ? sum(in[0], dims, keep) : mean(in[0], dims, keep);
                },
                {{"dims", dims}, {"keep", keep}, {"op", op}});
          }
    }
  }
  p.check();
}

// Indices are compared exactly; argmax has no gradient.
TEST(ParityReduce, MaxArgmax) {
  ParityBatch p(22);
  for (DType dt : {DType::F32, DType::F64}) {
    for (bool ties : {false, true}) {
      for (Shape s : {Shape{3, 4, 5}, Shape{1, 7}, Shape{5}}) {
        Tensor x = ties ? with_ties(s, dt, p.gen) : randn(s, dt, &p.gen);
        const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s) + (ties ? " ties" : "");
        p.add("max() " + tag, "out = x.max()", {{"x", x}}, [](const TensorList& in) { return max(in[0]); });
        for (int64_t d = -1; d < static_cast<int64_t>(s.size()); ++d)
          for (bool keep : {false, true}) {
            p.add(
                "max(dim) " + tag + " dim " + std::to_string(d),
                "r = torch.max(x, dim=args['d'], keepdim=args['k'])\nout = (r.values, r.indices)", {{"x", x}},
                [&](const TensorList& in) {
                  MaxResult r = max(in[0], d, keep);
                  return TensorList{r.values, r.indices};
                },
                {{"d", d}, {"k", keep}});
            p.add(
                "argmax " + tag + " dim " + std::to_string(d),
                "out = torch.argmax(x, dim=args['d'], keepdim=args['k'])", {{"x", x}},
                [&](const TensorList& in) { return argmax(in[0], d, keep); }, {{"d", d}, {"k", keep}});
          }
      }
    }
  }
  p.check();
}

TEST(ParityReduce, SoftmaxLogSoftmax) {
  ParityBatch p(23);
  for (DType dt : {DType::F32, DType::F64}) {
    for (Shape s : {Shape{3, 4, 5}, Shape{2, 1, 6}, Shape{1, 3, 1}, Shape{0, 3, 2}}) {
      Tensor x = randn(s, dt, &p.gen);
      for (int64_t d = -3; d < 3; ++d)
        for (bool log : {false, true}) {
          p.add(
              std::string(log ? "log_softmax " : "softmax ") + dtype_name(dt) + " " + shape_str(s) + " dim " +
                  std::to_string(d),
              "out = (F.log_softmax if args['log'] else F.softmax)(x, dim=args['d'])", {{"x", x}},
              [&](const TensorList& in) { return log ? log_softmax(in[0], d) : softmax(in[0], d); },
              {{"d", d}, {"log", log}});
        }
    }
    // non-contiguous input and large logits
    Tensor big = randn({4, 6}, dt, &p.gen);
    p.add(std::string("softmax transposed ") + dtype_name(dt), "out = F.softmax(x.t(), dim=1)", {{"x", big}},
          [](const TensorList& in) { return softmax(transpose(in[0], 0, 1), 1); });
    p.add(std::string("log_softmax large ") + dtype_name(dt), "out = F.log_softmax(x, dim=1)",
          {{"x", from_vector(std::vector<double>{1000, 999, -1000, 0}, {2, 2}).to(dt)}},
          [](const TensorList& in) { return log_softmax(in[0], 1); });
  }
  p.check();
}
