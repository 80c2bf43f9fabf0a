// Indexing ops against live PyTorch 1.13: values and gradients, float32 and float64, shapes
// with size-1 and empty dims. Every case of a test runs in one Python process.
#include <gtest/gtest.h>

#include <functional>

#include "common/parity_batch.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {


const char* kSliceCode =
    "idx = [slice(None)] * x.dim()\n"
    "idx[args['d']] = slice(args['s'], args['e'], args['st'])\n"
    "out = x[tuple(idx)]";

std::string dts(DType dt) { return dt == DType::F32 ? " f32" : " f64"; }

}  // namespace

TEST(ParityIndex, SliceSelect) {
  ParityBatch p;
  for (DType dt : {DType::F32, DType::F64}) {
    struct S {
      Shape shape;
      int64_t d, s, e, st;
    };
    for (const S& c : std::vector<S>{{{3, 7}, 1, -6, -1, 2},
                                     {{5}, 0, -100, 100, 3},
                                     {{4, 1, 3}, 0, 1, 3, 1},
                                     {{2, 5, 3}, -2, 4, 1, 1},
                                     {{2, 0, 3}, 2, 1, 3, 1},
                                     {{6, 2}, 0, -2, 6, 5}}) {
      Tensor x = randn(c.shape, dt, &p.gen);
      p.add("slice " + shape_str(c.shape) + dts(dt), kSliceCode, {{"x", x}},
            [c](const TensorList& in) { return TensorList{slice(in[0], c.d, c.s, c.e, c.st)}; },
            {{"d", c.d}, {"s", c.s}, {"e", c.e}, {"st", c.st}});
    }
    for (auto [shape, d, i] : std::vector<std::tuple<Shape, int64_t, int64_t>>{
             {{3, 4}, 0, -1}, {{3, 4}, 1, 2}, {{1, 2, 3}, 0, 0}, {{2, 1, 5}, -1, 4}, {{4}, 0, 1}}) {
      Tensor x = randn(shape, dt, &p.gen);
      p.add("select " + shape_str(shape) + dts(dt), "out = x.select(args['d'], args['i'])", {{"x", x}},
            [d = d, i = i](const TensorList& in) { return TensorList{select(in[0], d, i)}; }, {{"d", d}, {"i", i}});
    }
  }
  p.check();
}

TEST(ParityIndex, IndexSelect) {
  ParityBatch p;
  for (DType dt : {DType::F32, DType::F64}) {
    for (auto [shape, d, m] : std::vector<std::tuple<Shape, int64_t, int64_t>>{
             {{5, 3}, 0, 8}, {{2, 4, 3}, 1, 6}, {{2, 3, 1}, -1, 3}, {{1, 4}, 0, 2}, {{3, 2}, 1, 0}, {{0, 4}, 1, 3}}) {
      Tensor x = randn(shape, dt, &p.gen);
      const int64_t n = x.size(d);
      Tensor ix = randint(0, n, {m}, &p.gen);
      p.add("index_select " + shape_str(shape) + dts(dt), "out = torch.index_select(x, args['d'], i)",
            {{"x", x}, {"i", ix}},
            [d = d](const TensorList& in) { return TensorList{index_select(in[0], d, in[1])}; }, {{"d", d}});
    }
  }
  p.check();
}

TEST(ParityIndex, CatStack) {
  ParityBatch p;
  for (DType dt : {DType::F32, DType::F64}) {
    for (int64_t d = -3; d < 3; ++d) {
      Shape sa = {2, 3, 4}, sb = sa, sc = sa;
      sb[(d + 3) % 3] = 1;
      sc[(d + 3) % 3] = 0;
      Tensor a = randn(sa, dt, &p.gen), b = randn(sb, dt, &p.gen), c = randn(sc, dt, &p.gen);
      p.add("cat dim " + std::to_string(d) + dts(dt), "out = torch.cat([a, b, c, a], args['d'])",
            {{"a", a}, {"b", b}, {"c", c}},
            [d](const TensorList& in) { return TensorList{cat({in[0], in[1], in[2], in[0]}, d)}; }, {{"d", d}});
    }
    Tensor a = randn({2, 3}, dt, &p.gen), e = randn({0}, dt, &p.gen);
    p.add("cat skips (0)" + dts(dt), "out = torch.cat([e, a, e], 1)", {{"a", a}, {"e", e}},
          [](const TensorList& in) { return TensorList{cat({in[1], in[0], in[1]}, 1)}; });
    for (int64_t d = -4; d <= 3; ++d) {
      Tensor x = randn({2, 1, 3}, dt, &p.gen), y = randn({2, 1, 3}, dt, &p.gen);
      p.add("stack dim " + std::to_string(d) + dts(dt), "out = torch.stack([x, y, x], args['d'])",
            {{"x", x}, {"y", y}},
            [d](const TensorList& in) { return TensorList{stack({in[0], in[1], in[0]}, d)}; }, {{"d", d}});
    }
    Tensor s0 = randn({}, dt, &p.gen), s1 = randn({}, dt, &p.gen);
    p.add("stack 0-d" + dts(dt), "out = torch.stack([x, y], 0)", {{"x", s0}, {"y", s1}},
          [](const TensorList& in) { return TensorList{stack({in[0], in[1]}, 0)}; });
  }
  p.check();
}

TEST(ParityIndex, SplitChunk) {
  ParityBatch p;
  for (DType dt : {DType::F32, DType::F64}) {
    for (auto [shape, size, d] : std::vector<std::tuple<Shape, int64_t, int64_t>>{
             {{7, 2}, 3, 0}, {{2, 5}, 5, 1}, {{2, 5}, 7, -1}, {{1, 6, 1}, 1, 1}, {{0, 3}, 2, 0}}) {
      Tensor x = randn(shape, dt, &p.gen);
      p.add("split " + shape_str(shape) + dts(dt), "out = torch.split(x, args['s'], args['d'])", {{"x", x}},
            [size = size, d = d](const TensorList& in) { return split(in[0], size, d); }, {{"s", size}, {"d", d}});
    }
    for (auto [shape, sizes, d] : std::vector<std::tuple<Shape, std::vector<int64_t>, int64_t>>{
             {{6, 2}, {1, 0, 5}, 0}, {{2, 4, 3}, {3, 1}, 1}, {{3, 2}, {2}, -1}}) {
      Tensor x = randn(shape, dt, &p.gen);
      p.add("split sizes " + shape_str(shape) + dts(dt), "out = torch.split(x, args['s'], args['d'])", {{"x", x}},
            [sizes = sizes, d = d](const TensorList& in) { return split(in[0], sizes, d); },
            {{"s", sizes}, {"d", d}});
    }
    for (auto [shape, n, d] : std::vector<std::tuple<Shape, int64_t, int64_t>>{
             {{5, 2}, 4, 0}, {{6}, 4, 0}, {{2, 7}, 3, 1}, {{3, 1}, 2, 1}, {{0, 2}, 3, 0}, {{4, 3}, 1, -1}}) {
      Tensor x = randn(shape, dt, &p.gen);
      p.add("chunk " + shape_str(shape) + " into " + std::to_string(n) + dts(dt),
            "out = torch.chunk(x, args['n'], args['d'])", {{"x", x}},
            [n = n, d = d](const TensorList& in) { return chunk(in[0], n, d); }, {{"n", n}, {"d", d}});
    }
  }
  p.check();
}
