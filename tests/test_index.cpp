// Indexing ops: kernels against their references, gradient checks, hand-set cases, views
// sharing storage, and bad input.
#include <gtest/gtest.h>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/index.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

Tensor iota(const Shape& s, DType dt = DType::F64) { return reshape(arange(numel_of(s), dt), s); }

Tensor idx(const std::vector<int64_t>& v) { return from_vector(v, {static_cast<int64_t>(v.size())}); }

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

}  // namespace

// ==================================================================== kernels vs reference

TEST(IndexKernels, CopyStridedMatchesReference) {
  Generator gen(7);
  // src: a permuted, sliced 4-d layout; dst: a strided region of a bigger buffer.
  const Shape shape = {3, 1, 5, 4};
  const Shape ss = {2, 999, 40, 8}, ds = {200, 7, 20, 3};
  for (int rep = 0; rep < 2; ++rep) {
    Tensor src = randn({400}, DType::F64, &gen);
    Tensor a = zeros({1000}, DType::F64), b = zeros({1000}, DType::F64);
    kernels::copy_strided<double>(4, shape.data(), src.data_ptr<double>() + 1, ss.data(), a.data_ptr<double>() + 2,
                                  ds.data());
    kernels::ref::copy_strided<double>(4, shape.data(), src.data_ptr<double>() + 1, ss.data(),
                                       b.data_ptr<double>() + 2, ds.data());
    EXPECT_EQ(vals(a), vals(b));
  }
  // Contiguous on both sides (merged into one memcpy), large enough to run in parallel.
  const Shape big = {64, 1024}, cs = {1024, 1};
  Tensor s = randn(big, DType::F32, &gen), d1 = zeros(big), d2 = zeros(big);
  kernels::copy_strided<float>(2, big.data(), s.data_ptr<float>(), cs.data(), d1.data_ptr<float>(), cs.data());
  kernels::ref::copy_strided<float>(2, big.data(), s.data_ptr<float>(), cs.data(), d2.data_ptr<float>(), cs.data());
  EXPECT_EQ(d1.to_vector<float>(), d2.to_vector<float>());
  EXPECT_EQ(d1.to_vector<float>(), s.to_vector<float>());
  // 0-d and empty shapes.
  double x = 3, y = 0;
  kernels::copy_strided<double>(0, nullptr, &x, nullptr, &y, nullptr);
  EXPECT_EQ(y, 3.0);
  const Shape empty_shape = {2, 0}, es = {0, 1};
  kernels::copy_strided<double>(2, empty_shape.data(), &x, es.data(), &y, es.data());
}

TEST(IndexKernels, GatherAndIndexAddMatchReference) {
  Generator gen(8);
  for (auto [outer, n, inner, m] : std::vector<std::array<int64_t, 4>>{{1, 5, 1, 9}, {3, 4, 7, 6}, {2, 3, 3000, 5}}) {
    Tensor x = randn({outer, n, inner}, DType::F64, &gen);
    Tensor ix = randint(0, n, {m}, &gen);
    Tensor o1 = zeros({outer, m, inner}, DType::F64), o2 = zeros({outer, m, inner}, DType::F64);
    kernels::index_gather<double>(outer, n, inner, m, x.data_ptr<double>(), ix.data_ptr<int64_t>(),
                                  o1.data_ptr<double>());
    kernels::ref::index_gather<double>(outer, n, inner, m, x.data_ptr<double>(), ix.data_ptr<int64_t>(),
                                       o2.data_ptr<double>());
    EXPECT_EQ(vals(o1), vals(o2));
    Tensor g = randn({outer, m, inner}, DType::F32, &gen);
    Tensor d1 = ones({outer, n, inner}), d2 = ones({outer, n, inner});
    kernels::index_add<float>(outer, n, inner, m, g.data_ptr<float>(), ix.data_ptr<int64_t>(), d1.data_ptr<float>());
    kernels::ref::index_add<float>(outer, n, inner, m, g.data_ptr<float>(), ix.data_ptr<int64_t>(),
                                   d2.data_ptr<float>());
    EXPECT_EQ(d1.to_vector<float>(), d2.to_vector<float>());
  }
}

// ==================================================================== hand-set cases and views

TEST(Index, SlicePythonSemanticsAndView) {
  Tensor x = iota({2, 6});
  Tensor s = slice(x, 1, -5, -1, 2);  // columns 1, 3
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(vals(s), (std::vector<double>{1, 3, 7, 9}));
  EXPECT_EQ(s.impl()->storage, x.impl()->storage);
  EXPECT_EQ(s.raw_data(), static_cast<double*>(x.raw_data()) + 1);
  EXPECT_EQ(slice(x, 1, -100, 100).shape(), (Shape{2, 6}));  // clamped like Python
  EXPECT_EQ(slice(x, 1, 5, 1).shape(), (Shape{2, 0}));      // end before start: empty
  EXPECT_EQ(slice(x, 1, 6, 10).shape(), (Shape{2, 0}));
  EXPECT_EQ(vals(slice(x, 1, 0, 6, 4)), (std::vector<double>{0, 4, 6, 10}));
  EXPECT_EQ(vals(slice(x, -2, 1, 2)), (std::vector<double>{6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(vals(slice(x, 1, 2, INT64_MAX, INT64_MAX)), (std::vector<double>{2, 8}));
  // A slice of a slice of a transpose still reads the right elements.
  Tensor t = slice(slice(transpose(x, 0, 1), 0, 1, 6, 2), 1, 1, 2);
  EXPECT_EQ(vals(t), (std::vector<double>{7, 9, 11}));
  EXPECT_EQ(t.raw_data(), static_cast<double*>(x.raw_data()) + 7);
  // Writes through the storage are seen by the view.
  static_cast<double*>(x.raw_data())[3] = 42;
  EXPECT_EQ(vals(s)[1], 42.0);
}

TEST(Index, SelectAndIndexSelect) {
  Tensor x = iota({2, 3, 2});
  Tensor s = select(x, 1, -1);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(vals(s), (std::vector<double>{4, 5, 10, 11}));
  EXPECT_EQ(s.raw_data(), static_cast<double*>(x.raw_data()) + 4);
  EXPECT_EQ(select(iota({3}), 0, 2).shape(), Shape{});
  Tensor r = index_select(x, 1, idx({2, 0, 2}));
  EXPECT_EQ(r.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(vals(r), (std::vector<double>{4, 5, 0, 1, 4, 5, 10, 11, 6, 7, 10, 11}));
  EXPECT_NE(r.raw_data(), x.raw_data());
  EXPECT_EQ(index_select(x, 0, idx({})).shape(), (Shape{0, 3, 2}));
  EXPECT_EQ(index_select(x, -1, from_vector(std::vector<int64_t>{1}, {})).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(index_select(arange(5), 0, idx({4, 4})).to_vector<int64_t>(), (std::vector<int64_t>{4, 4}));
  // Repeated indices accumulate in backward.
  Tensor v = iota({4}).requires_grad_();
  index_select(v, 0, idx({1, 3, 1, 1})).backward(ones({4}, DType::F64));
  EXPECT_EQ(vals(v.grad()), (std::vector<double>{0, 3, 0, 1}));
}

TEST(Index, CatStackValuesAndEmpties) {
  Tensor a = iota({2, 2}), b = iota({2, 1});
  EXPECT_EQ(vals(cat({a, b}, 1)), (std::vector<double>{0, 1, 0, 2, 3, 1}));
  EXPECT_EQ(vals(cat({a, transpose(a, 0, 1)}, 0)), (std::vector<double>{0, 1, 2, 3, 0, 2, 1, 3}));
  // PyTorch 1.13 skips 1-d empty tensors of shape (0), whatever the other shapes.
  Tensor e = zeros({0}, DType::F64);
  EXPECT_EQ(cat({e, a, e}, 1).shape(), (Shape{2, 2}));
  EXPECT_EQ(cat({e, e}, 0).shape(), (Shape{0}));
  EXPECT_EQ(cat({e}, 5).shape(), (Shape{0}));  // as torch 1.13: dim unchecked when all are skipped
  EXPECT_EQ(cat({zeros({0, 2}, DType::F64), a}, 0).shape(), (Shape{2, 2}));
  EXPECT_EQ(vals(stack({a, a}, -1)), (std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3}));
  Tensor s = stack({a, iota({2, 2})}, 2);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(vals(s), (std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(stack({scalar_tensor(1, DType::F64), scalar_tensor(2, DType::F64)}, 0).shape(), (Shape{2}));
  EXPECT_EQ(cat({arange(2), arange(3)}, 0).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0, 1, 2}));
}

TEST(Index, SplitChunkAreViews) {
  Tensor x = iota({7, 2});
  TensorList p = split(x, 3);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[2].shape(), (Shape{1, 2}));
  EXPECT_EQ(p[1].raw_data(), static_cast<double*>(x.raw_data()) + 6);
  TensorList q = split(x, std::vector<int64_t>{1, 0, 1}, 1);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].shape(), (Shape{7, 0}));
  EXPECT_EQ(vals(q[2]), (std::vector<double>{1, 3, 5, 7, 9, 11, 13}));
  EXPECT_EQ(q[2].raw_data(), static_cast<double*>(x.raw_data()) + 1);
  // chunk: ceil division, may return fewer pieces (5 into 4 -> 2,2,1).
  EXPECT_EQ(chunk(iota({5}), 4).size(), 3u);
  EXPECT_EQ(chunk(iota({6}), 4).size(), 3u);
  EXPECT_EQ(chunk(iota({0, 2}), 3).size(), 3u);
  EXPECT_EQ(split(iota({0}), 2).size(), 1u);
  TensorList c = chunk(x, 2, 0);
  EXPECT_EQ(c[0].shape(), (Shape{4, 2}));
  EXPECT_EQ(c[1].raw_data(), static_cast<double*>(x.raw_data()) + 8);
  // Only some outputs used: the others get zero gradient.
  Tensor v = iota({5}).requires_grad_();
  TensorList parts = split(v, 2);
  parts[1].backward(ones({2}, DType::F64));
  EXPECT_EQ(vals(v.grad()), (std::vector<double>{0, 0, 1, 1, 0}));
}

// ==================================================================== gradient checks (float64)

TEST(IndexGrad, Slice) {
  Generator gen(1);
  gradcheck("slice step 2 negative bounds", [](const TensorList& in) { return slice(in[0], 1, -6, -1, 2); },
            {randn({3, 7}, DType::F64, &gen)});
  gradcheck("slice dim 0 clamp", [](const TensorList& in) { return slice(in[0], 0, 1, 100); },
            {randn({4, 2, 3}, DType::F64, &gen)});
  gradcheck("slice of transpose", [](const TensorList& in) { return slice(transpose(in[0], 0, 2), -1, 0, 4, 3); },
            {randn({4, 2, 3}, DType::F64, &gen)});
}

TEST(IndexGrad, Select) {
  Generator gen(2);
  for (int64_t d = 0; d < 3; ++d)
    gradcheck("select dim " + std::to_string(d), [d](const TensorList& in) { return select(in[0], d, -1); },
              {randn({2, 3, 4}, DType::F64, &gen)});
}

TEST(IndexGrad, IndexSelectRepeated) {
  Generator gen(3);
  const Tensor ix = idx({2, 0, 2, 2, 1});
  for (int64_t d = 0; d < 3; ++d)
    gradcheck("index_select dim " + std::to_string(d),
              [&](const TensorList& in) { return index_select(in[0], d, ix); }, {randn({3, 3, 3}, DType::F64, &gen)});
}

TEST(IndexGrad, CatStackEachDim) {
  Generator gen(4);
  for (int64_t d = -3; d < 3; ++d) {
    Shape sb = {2, 3, 4};
    sb[(d + 3) % 3] = 1;
    gradcheck("cat dim " + std::to_string(d), [d](const TensorList& in) { return cat({in[0], in[1], in[0]}, d); },
              {randn({2, 3, 4}, DType::F64, &gen), randn(sb, DType::F64, &gen)});
  }
  for (int64_t d = -4; d <= 3; ++d)
    gradcheck("stack dim " + std::to_string(d), [d](const TensorList& in) { return stack({in[0], in[1]}, d); },
              {randn({2, 3, 4}, DType::F64, &gen), randn({2, 3, 4}, DType::F64, &gen)});
  gradcheck("cat skipping (0)", [](const TensorList& in) { return cat({in[1], in[0], in[1]}, 1); },
            {randn({2, 3}, DType::F64, &gen), randn({0}, DType::F64, &gen)});
}

TEST(IndexGrad, SplitChunkAllOutputsUsed) {
  Generator gen(5);
  gradcheck("split size", [](const TensorList& in) {
    TensorList p = split(in[0], 2, 1);  // (3,2) (3,2) (3,1)
    return cat({p[2], p[0], p[1]}, 1);
  }, {randn({3, 5}, DType::F64, &gen)});
  gradcheck("split sizes", [](const TensorList& in) {
    TensorList p = split(in[0], std::vector<int64_t>{1, 3}, 0);
    return cat({p[1], p[0], p[0]}, 0);
  }, {randn({4, 2}, DType::F64, &gen)});
  gradcheck("chunk", [](const TensorList& in) {
    TensorList p = chunk(in[0], 3, -1);  // 7 -> 3,3,1
    return stack({select(p[0], 1, 0), select(p[1], 1, 2), select(p[2], 1, 0)}, 0);
  }, {randn({2, 7}, DType::F64, &gen)});
}

// ==================================================================== bad input

TEST(IndexErrors, BadArguments) {
  Tensor x = iota({2, 3});
  expect_error([&] { slice(x, 1, 0, 2, 0); }, "slice", "step");
  expect_error([&] { slice(x, 2, 0, 1); }, "slice", "dim 2");
  expect_error([&] { slice(scalar_tensor(1), 0, 0, 1); }, "slice", "0-d");
  expect_error([&] { select(x, 1, 3); }, "select", "index 3 out of range for dim 1 of size 3");
  expect_error([&] { select(x, 0, -3); }, "select", "index -3");
  expect_error([&] { select(scalar_tensor(1), 0, 0); }, "select", "0-d");
  expect_error([&] { index_select(x, 1, idx({0, 3})); }, "index_select", "index 3 at position 1");
  expect_error([&] { index_select(x, 1, idx({-1})); }, "index_select", "index -1");
  expect_error([&] { index_select(x, 0, from_vector(std::vector<double>{0}, {1})); }, "index_select", "int64");
  expect_error([&] { index_select(x, 0, from_vector(std::vector<int64_t>{0}, {1, 1})); }, "index_select", "1-d");
  expect_error([&] { cat({}, 0); }, "cat", "non-empty");
  expect_error([&] { cat({x, iota({3, 3})}, 1); }, "cat", "(3,3)");
  expect_error([&] { cat({x, iota({2, 3, 1})}, 0); }, "cat", "except in dim 0");
  expect_error([&] { cat({x, x.to(DType::F32)}, 0); }, "cat", "dtype");
  expect_error([&] { cat({x, scalar_tensor(1, DType::F64)}, 0); }, "cat", "zero-dimensional");
  expect_error([&] { cat({x, x}, 2); }, "cat", "dim 2");
  expect_error([&] { stack({}, 0); }, "stack", "non-empty");
  expect_error([&] { stack({x, iota({3, 2})}, 0); }, "stack", "same shape");
  expect_error([&] { stack({x, x}, 3); }, "stack", "dim 3 out of range [-3, 2]");
  expect_error([&] { stack({x, x}, -4); }, "stack", "dim -4");
  expect_error([&] { split(x, 0, 1); }, "split", "split_size");
  expect_error([&] { split(x, -1, 1); }, "split", "non-negative");
  expect_error([&] { split(x, std::vector<int64_t>{1, 1}, 1); }, "split", "sum to 2");
  expect_error([&] { split(x, std::vector<int64_t>{4, -1}, 1); }, "split", "non-negative");
  expect_error([&] { chunk(x, 0); }, "chunk", "positive");
  expect_error([&] { chunk(scalar_tensor(1), 2); }, "chunk", "0-d");
}
