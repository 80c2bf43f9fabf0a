// Reductions and softmax against live PyTorch 1.13: values and gradients, F32 and F64.
#include <gtest/gtest.h>

#include "common/torch_oracle.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// One seqnn computation and its PyTorch twin over input x.
struct Pending {
  std::string what;
  TensorList outs;  // compared with r.outs in order
  Tensor dx;        // compared with r.grads["x"] when defined
};

// Runs f on a fresh leaf copy of x, backpropagates a random cotangent into outs[0], and
// queues the PyTorch case `code` with the same input and cotangent.
void add_case(std::vector<OracleCase>& cases, std::vector<Pending>& pend, const std::string& what, const Tensor& x0,
              const std::function<TensorList(const Tensor&)>& f, const std::string& code, nlohmann::json args,
              Generator& gen, bool backward = true) {
  Tensor x = x0.clone().detach().requires_grad_();
  TensorList outs = f(x);
  OracleCase c;
  c.code = code;
  c.args = std::move(args);
  c.inputs = {{"x", x}};
  Pending p{what, outs, Tensor()};
  if (backward) {
    Tensor gy = randn(outs[0].shape(), outs[0].dtype(), &gen);
    outs[0].backward(gy);
    p.dx = x.grad();
    c.grad_outs = {gy};
  }
  cases.push_back(c);
  pend.push_back(p);
}

void compare(const std::vector<OracleCase>& cases, const std::vector<Pending>& pend) {
  auto res = run_torch(cases);
  ASSERT_EQ(res.size(), pend.size());
  for (size_t i = 0; i < pend.size(); ++i) {
    ASSERT_EQ(res[i].outs.size(), pend[i].outs.size()) << pend[i].what;
    for (size_t k = 0; k < pend[i].outs.size(); ++k) {
      const Tensor& a = pend[i].outs[k];
      if (a.dtype() == DType::I64) {
        EXPECT_EQ(a.shape(), res[i].outs[k].shape()) << pend[i].what;
        EXPECT_EQ(a.to_vector<int64_t>(), res[i].outs[k].to_vector<int64_t>()) << pend[i].what << " indices";
      } else {
        expect_close(a, res[i].outs[k], 1e-5, pend[i].what + " out" + std::to_string(k));
      }
    }
    if (pend[i].dx.defined()) {
      ASSERT_TRUE(res[i].grads.count("x")) << pend[i].what;
      expect_close(pend[i].dx, res[i].grads.at("x"), 1e-4, pend[i].what + " dx");
    }
  }
}

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
  Generator gen(21);
  std::vector<OracleCase> cases;
  std::vector<Pending> pend;
  for (DType dt : {DType::F32, DType::F64}) {
    for (Shape s : {Shape{3, 4, 5}, Shape{1, 4, 1}, Shape{2, 0, 3}, Shape{6}}) {
      Tensor x = randn(s, dt, &gen);
      std::vector<std::vector<int64_t>> dimsets = {{}, {0}, {-1}};
      if (s.size() == 3) dimsets.insert(dimsets.end(), {{1}, {0, 2}, {2, 0}, {0, 1}, {-2, -1}, {0, 1, 2}});
      for (const auto& dims : dimsets)
        for (bool keep : {false, true})
          for (std::string op : {"sum", "mean"}) {
            const std::string what =
                op + " " + dtype_name(dt) + " " + shape_str(s) + " dims " + shape_str(dims) + (keep ? " keepdim" : "");
            add_case(
                cases, pend, what, x,
                [&](const Tensor& t) {
                  if (dims.empty() && !keep) return TensorList{op == "sum" ? sum(t) : mean(t)};
                  return TensorList{op == "sum" ? sum(t, dims, keep) : mean(t, dims, keep)};
                },
                kSumCode, {{"dims", dims}, {"keep", keep}, {"op", op}}, gen);
          }
    }
  }
  compare(cases, pend);
}

TEST(ParityReduce, MaxArgmax) {
  Generator gen(22);
  std::vector<OracleCase> cases;
  std::vector<Pending> pend;
  for (DType dt : {DType::F32, DType::F64}) {
    for (bool ties : {false, true}) {
      for (Shape s : {Shape{3, 4, 5}, Shape{1, 7}, Shape{5}}) {
        Tensor x = ties ? with_ties(s, dt, gen) : randn(s, dt, &gen);
        const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s) + (ties ? " ties" : "");
        add_case(
            cases, pend, "max() " + tag, x, [](const Tensor& t) { return TensorList{max(t)}; }, "out = x.max()", {},
            gen);
        for (int64_t d = -1; d < static_cast<int64_t>(s.size()); ++d)
          for (bool keep : {false, true}) {
            add_case(
                cases, pend, "max(dim) " + tag + " dim " + std::to_string(d), x,
                [&](const Tensor& t) {
                  MaxResult r = max(t, d, keep);
                  return TensorList{r.values, r.indices};
                },
                "r = torch.max(x, dim=args['d'], keepdim=args['k'])\nout = (r.values, r.indices)",
                {{"d", d}, {"k", keep}}, gen);
            add_case(
                cases, pend, "argmax " + tag + " dim " + std::to_string(d), x,
                [&](const Tensor& t) { return TensorList{argmax(t, d, keep)}; },
                "out = torch.argmax(x, dim=args['d'], keepdim=args['k'])", {{"d", d}, {"k", keep}}, gen, false);
          }
      }
    }
  }
  compare(cases, pend);
}

TEST(ParityReduce, SoftmaxLogSoftmax) {
  Generator gen(23);
  std::vector<OracleCase> cases;
  std::vector<Pending> pend;
  for (DType dt : {DType::F32, DType::F64}) {
    for (Shape s : {Shape{3, 4, 5}, Shape{2, 1, 6}, Shape{1, 3, 1}, Shape{0, 3, 2}}) {
      Tensor x = randn(s, dt, &gen);
      for (int64_t d = -3; d < 3; ++d)
        for (bool log : {false, true}) {
          add_case(
              cases, pend,
              std::string(log ? "log_softmax " : "softmax ") + dtype_name(dt) + " " + shape_str(s) + " dim " +
                  std::to_string(d),
              x, [&](const Tensor& t) { return TensorList{log ? log_softmax(t, d) : softmax(t, d)}; },
              "out = (F.log_softmax if args['log'] else F.softmax)(x, dim=args['d'])", {{"d", d}, {"log", log}}, gen);
        }
    }
    // non-contiguous input and large logits
    Tensor big = randn({4, 6}, dt, &gen);
    add_case(
        cases, pend, std::string("softmax transposed ") + dtype_name(dt), big,
        [](const Tensor& t) { return TensorList{softmax(transpose(t, 0, 1), 1)}; }, "out = F.softmax(x.t(), dim=1)", {},
        gen);
    add_case(
        cases, pend, std::string("log_softmax large ") + dtype_name(dt),
        from_vector(std::vector<double>{1000, 999, -1000, 0}, {2, 2}).to(dt),
        [](const Tensor& t) { return TensorList{log_softmax(t, 1)}; }, "out = F.log_softmax(x, dim=1)", {}, gen);
  }
  compare(cases, pend);
}
