// matmul / bmm / linear against live PyTorch 1.13: values and gradients, float32 and float64,
// all rank combinations, broadcast batches, size-1 dims, K = 1, empty dims and views.
#include <gtest/gtest.h>

#include <functional>

#include "common/parity_batch.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {


std::string dts(DType dt) { return dt == DType::F32 ? " f32" : " f64"; }

}  // namespace

TEST(ParityLinalg, MatmulRanksAndBroadcast) {
  ParityBatch p;
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{
             {{3}, {3}},           {{1}, {1}},          {{2, 3}, {3}},          {{3}, {3, 2}},
             {{4, 1}, {1, 5}},     {{1, 6}, {6, 1}},    {{5, 7}, {7, 3}},       {{2, 4, 3}, {3}},
             {{3}, {2, 3, 4}},     {{2, 4, 3}, {3, 5}}, {{3, 5}, {2, 5, 4}},   {{2, 4, 3}, {2, 3, 5}},
             {{2, 1, 3, 4}, {5, 4, 2}}, {{1, 2, 3}, {3, 1, 3, 2}}, {{3, 1, 1}, {1, 1, 4}}, {{2, 0, 3}, {3, 4}},
             {{2, 3, 0}, {0, 4}}, {{2, 33, 65}, {65, 17}}}) {
      Tensor a = randn(sa, dt, &p.gen), b = randn(sb, dt, &p.gen);
      p.add("matmul " + shape_str(sa) + " @ " + shape_str(sb) + dts(dt), "out = torch.matmul(a, b)",
            {{"a", a}, {"b", b}}, [](const TensorList& in) { return TensorList{matmul(in[0], in[1])}; });
    }
    // Views: transposed operands go to gemm as flags, permuted batches as strides.
    Tensor a = randn({4, 3}, dt, &p.gen), b = randn({5, 4}, dt, &p.gen);
    p.add("matmul a^T b^T" + dts(dt), "out = a.t() @ b.t()", {{"a", a}, {"b", b}},
          [](const TensorList& in) { return TensorList{matmul(transpose(in[0], 0, 1), transpose(in[1], 0, 1))}; });
    Tensor c = randn({3, 2, 4}, dt, &p.gen), d = randn({2, 5, 4}, dt, &p.gen);
    p.add("matmul permuted batch, b^T" + dts(dt), "out = c.permute(1, 0, 2) @ d.transpose(1, 2)",
          {{"c", c}, {"d", d}}, [](const TensorList& in) {
            return TensorList{matmul(permute(in[0], {1, 0, 2}), transpose(in[1], 1, 2))};
          });
    Tensor e = randn({3, 8}, dt, &p.gen), f = randn({4, 3}, dt, &p.gen);
    p.add("matmul strided slice (copied)" + dts(dt), "out = e[:, ::2] @ f", {{"e", e}, {"f", f}},
          [](const TensorList& in) { return TensorList{matmul(slice(in[0], 1, 0, 8, 2), in[1])}; });
  }
  p.check();
}

TEST(ParityLinalg, Bmm) {
  ParityBatch p;
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& [sa, sb] : std::vector<std::pair<Shape, Shape>>{
             {{3, 2, 4}, {3, 4, 5}}, {{1, 1, 1}, {1, 1, 1}}, {{2, 3, 1}, {2, 1, 4}}, {{4, 1, 6}, {4, 6, 1}},
             {{0, 2, 3}, {0, 3, 2}}, {{2, 0, 3}, {2, 3, 2}}}) {
      Tensor a = randn(sa, dt, &p.gen), b = randn(sb, dt, &p.gen);
      p.add("bmm " + shape_str(sa) + " @ " + shape_str(sb) + dts(dt), "out = torch.bmm(a, b)", {{"a", a}, {"b", b}},
            [](const TensorList& in) { return TensorList{bmm(in[0], in[1])}; });
    }
    Tensor a = randn({2, 4, 3}, dt, &p.gen), b = randn({2, 4, 5}, dt, &p.gen);
    p.add("bmm a^T" + dts(dt), "out = torch.bmm(a.transpose(1, 2), b)", {{"a", a}, {"b", b}},
          [](const TensorList& in) { return TensorList{bmm(transpose(in[0], 1, 2), in[1])}; });
  }
  p.check();
}

TEST(ParityLinalg, Linear) {
  ParityBatch p;
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& [sx, o] : std::vector<std::pair<Shape, int64_t>>{
             {{4, 3}, 5}, {{2, 3, 4}, 6}, {{3}, 2}, {{0, 3}, 4}, {{5, 1}, 3}, {{1, 1}, 1}, {{2, 1, 3, 7}, 1},
             {{16, 64}, 48}}) {
      Tensor x = randn(sx, dt, &p.gen), w = randn({o, sx.back()}, dt, &p.gen), b = randn({o}, dt, &p.gen);
      p.add("linear " + shape_str(sx) + " -> " + std::to_string(o) + dts(dt), "out = F.linear(x, w, b)",
            {{"x", x}, {"w", w}, {"b", b}},
            [](const TensorList& in) { return TensorList{linear(in[0], in[1], in[2])}; });
      p.add("linear no bias " + shape_str(sx) + " -> " + std::to_string(o) + dts(dt), "out = F.linear(x, w)",
            {{"x", x}, {"w", w}}, [](const TensorList& in) { return TensorList{linear(in[0], in[1])}; });
    }
    Tensor x = randn({3, 4}, dt, &p.gen), w = randn({3, 5}, dt, &p.gen), b = randn({5}, dt, &p.gen);
    p.add("linear x^T, W^T views" + dts(dt), "out = F.linear(x.t(), w.t(), b)", {{"x", x}, {"w", w}, {"b", b}},
          [](const TensorList& in) {
            return TensorList{linear(transpose(in[0], 0, 1), transpose(in[1], 0, 1), in[2])};
          });
  }
  p.check();
}
