// Elementwise family against live PyTorch 1.13: every function in float32 and float64, over
// shapes with size-1 dims, 0-d tensors and empty tensors; forward to 1e-5, gradients to 1e-4.
#include <gtest/gtest.h>

#include "common/parity_batch.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

using Fn = std::function<Tensor(const TensorList&)>;

std::string tag(const std::string& name, DType dt, const Shape& a, const Shape& b = Shape{-1}) {
  std::string s = name + " " + dtype_name(dt) + " " + shape_str(a);
  if (b != Shape{-1}) s += " " + shape_str(b);
  return s;
}

const std::vector<Shape> kShapes{{}, {1}, {3, 1, 4}, {2, 5}, {7, 1}, {0, 3}};
const std::vector<std::pair<Shape, Shape>> kPairs{{{3, 1, 4}, {5, 4}}, {{2, 3}, {2, 3}}, {{}, {2, 3}}, {{4, 1}, {1}},
                                                  {{0, 3}, {3}},       {{1}, {1}},       {{2, 5}, {5}}, {{6, 1}, {1, 3}}};

}  // namespace

TEST(ParityElementwise, BinaryArithmeticAndPow) {
  Generator gen(21);
  ParityBatch p(1);
  struct Op {
    std::string name, code;
    Fn f;
    bool positive_a, positive_b;
  };
  const std::vector<Op> ops{
      {"add", "out = a + b", [](const TensorList& t) { return add(t[0], t[1]); }, false, false},
      {"sub", "out = a - b", [](const TensorList& t) { return sub(t[0], t[1]); }, false, false},
      {"mul", "out = a * b", [](const TensorList& t) { return mul(t[0], t[1]); }, false, false},
      {"div", "out = a / b", [](const TensorList& t) { return div(t[0], t[1]); }, false, true},
      {"pow", "out = torch.pow(a, b)", [](const TensorList& t) { return pow(t[0], t[1]); }, true, false},
      {"operators", "out = (a + b) * a - b / (a * a + 1.0)",
       [](const TensorList& t) { return (t[0] + t[1]) * t[0] - t[1] / (t[0] * t[0] + 1.0); }, false, false},
  };
  for (DType dt : {DType::F32, DType::F64})
    for (const auto& op : ops)
      for (const auto& [sa, sb] : kPairs) {
        Tensor a = op.positive_a ? uniform(sa, 0.3, 2.5, dt, &gen) : randn(sa, dt, &gen);
        Tensor b = op.positive_b ? uniform(sb, 0.5, 2.0, dt, &gen) : randn(sb, dt, &gen);
        p.add(tag(op.name, dt, sa, sb), op.code, {{"a", a}, {"b", b}}, op.f);
      }
  p.check();
}

TEST(ParityElementwise, ScalarOperands) {
  Generator gen(22);
  ParityBatch p(2);
  const std::vector<std::tuple<std::string, std::string, Fn>> ops{
      {"add s", "out = x + 1.5", [](const TensorList& t) { return add(t[0], 1.5); }},
      {"sub s", "out = x - 0.25", [](const TensorList& t) { return sub(t[0], 0.25); }},
      {"mul s", "out = x * -2.5", [](const TensorList& t) { return mul(t[0], -2.5); }},
      {"div s", "out = x / 3.0", [](const TensorList& t) { return div(t[0], 3.0); }},
      {"s+x", "out = 2.0 + x", [](const TensorList& t) { return 2.0 + t[0]; }},
      {"s-x", "out = 2.0 - x", [](const TensorList& t) { return 2.0 - t[0]; }},
      {"s*x", "out = 0.5 * x", [](const TensorList& t) { return 0.5 * t[0]; }},
      {"s/x", "out = 2.0 / (x * x + 0.5)", [](const TensorList& t) { return 2.0 / (t[0] * t[0] + 0.5); }},
      {"neg", "out = -x", [](const TensorList& t) { return -t[0]; }},
  };
  for (DType dt : {DType::F32, DType::F64})
    for (const auto& [name, code, f] : ops)
      for (const Shape& s : kShapes) p.add(tag(name, dt, s), code, {{"x", randn(s, dt, &gen)}}, f);
  p.check();
}

TEST(ParityElementwise, UnaryAndActivations) {
  Generator gen(23);
  ParityBatch p(3);
  const std::vector<std::tuple<std::string, std::string, Fn, bool>> ops{
      {"neg", "out = torch.neg(x)", [](const TensorList& t) { return neg(t[0]); }, false},
      {"exp", "out = torch.exp(x)", [](const TensorList& t) { return exp(t[0]); }, false},
      {"log", "out = torch.log(x)", [](const TensorList& t) { return log(t[0]); }, true},
      {"sqrt", "out = torch.sqrt(x)", [](const TensorList& t) { return sqrt(t[0]); }, true},
      {"abs", "out = torch.abs(x)", [](const TensorList& t) { return abs(t[0]); }, false},
      {"tanh", "out = torch.tanh(x)", [](const TensorList& t) { return tanh(t[0]); }, false},
      {"sigmoid", "out = torch.sigmoid(x)", [](const TensorList& t) { return sigmoid(t[0]); }, false},
      {"relu", "out = F.relu(x)", [](const TensorList& t) { return relu(t[0]); }, false},
      {"gelu", "out = F.gelu(x)", [](const TensorList& t) { return gelu(t[0]); }, false},
      {"gelu tanh", "out = F.gelu(x, approximate='tanh')", [](const TensorList& t) { return gelu(t[0], "tanh"); },
       false},
      {"elu", "out = F.elu(x)", [](const TensorList& t) { return elu(t[0]); }, false},
      {"elu 0.3", "out = F.elu(x, alpha=0.3)", [](const TensorList& t) { return elu(t[0], 0.3); }, false},
      {"pow 2", "out = torch.pow(x, 2)", [](const TensorList& t) { return pow(t[0], 2.0); }, false},
      {"pow 3", "out = torch.pow(x, 3.0)", [](const TensorList& t) { return pow(t[0], 3.0); }, false},
      {"pow 0", "out = torch.pow(x, 0.0)", [](const TensorList& t) { return pow(t[0], 0.0); }, false},
      {"pow -1.5", "out = torch.pow(x, -1.5)", [](const TensorList& t) { return pow(t[0], -1.5); }, true},
      {"pow 0.5", "out = torch.pow(x, 0.5)", [](const TensorList& t) { return pow(t[0], 0.5); }, true},
      {"clamp", "out = torch.clamp(x, -0.5, 0.7)", [](const TensorList& t) { return clamp(t[0], -0.5, 0.7); }, false},
      {"clamp min", "out = torch.clamp(x, min=-0.5)",
       [](const TensorList& t) { return clamp(t[0], -0.5, std::nullopt); }, false},
      {"clamp max", "out = torch.clamp(x, max=0.7)",
       [](const TensorList& t) { return clamp(t[0], std::nullopt, 0.7); }, false},
  };
  for (DType dt : {DType::F32, DType::F64})
    for (const auto& [name, code, f, positive] : ops)
      for (const Shape& s : kShapes) {
        Tensor x = positive ? uniform(s, 0.2, 3.0, dt, &gen) : mul(randn(s, dt, &gen), 2.0);
        p.add(tag(name, dt, s), code, {{"x", x}}, f);
      }
  // Wide range (saturation of tanh/sigmoid/gelu, large exp) on one larger tensor.
  for (DType dt : {DType::F32, DType::F64})
    for (const auto& [name, code, f, positive] : ops) {
      if (positive) continue;
      p.add(tag(name + " wide", dt, {257}), code, {{"x", uniform({257}, -9.0, 9.0, dt, &gen)}}, f);
    }
  p.check();
}

TEST(ParityElementwise, MaskedFillAndWhere) {
  Generator gen(24);
  ParityBatch p(4);
  const std::vector<std::pair<Shape, Shape>> mf{{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 4}, {3, 1}}, {{2, 1, 5}, {}},
                                               {{}, {}},          {{0, 4}, {4}}, {{1}, {1}},       {{4}, {2, 4}}};
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& [sx, sm] : mf) {
      Tensor m = bernoulli(sm, 0.4, &gen).to(DType::Bool);
      p.add(tag("masked_fill", dt, sx, sm), "out = x.masked_fill(m, -1e9)",
                       {{"x", randn(sx, dt, &gen)}, {"m", m}},
                       [](const TensorList& t) { return masked_fill(t[0], t[1], -1e9); });
      p.add(tag("masked_fill -inf", dt, sx, sm), "out = x.masked_fill(m, float('-inf'))",
                       {{"x", randn(sx, dt, &gen)}, {"m", m}},
                       [](const TensorList& t) { return masked_fill(t[0], t[1], -INFINITY); });
    }
    const std::vector<std::tuple<Shape, Shape, Shape>> wh{{{3, 4}, {3, 4}, {3, 4}}, {{3, 1}, {4}, {3, 4}},
                                                         {{3, 4}, {2, 1, 4}, {}},  {{}, {2, 3}, {3}},
                                                         {{0, 2}, {2}, {1}},       {{1}, {1}, {1}}};
    for (const auto& [sc, sa, sb] : wh) {
      Tensor c = bernoulli(sc, 0.5, &gen).to(DType::Bool);
      p.add(tag("where", dt, sc, sa) + " " + shape_str(sb), "out = torch.where(c, a, b)",
                       {{"c", c}, {"a", randn(sa, dt, &gen)}, {"b", randn(sb, dt, &gen)}},
                       [](const TensorList& t) { return where(t[0], t[1], t[2]); });
    }
  }
  p.check();
}

TEST(ParityElementwise, ComparisonsAndLogicalNot) {
  Generator gen(25);
  ParityBatch p(5);
  const std::vector<std::tuple<std::string, std::string, Fn>> ops{
      {"eq", "out = torch.eq(a, b)", [](const TensorList& t) { return eq(t[0], t[1]); }},
      {"ne", "out = torch.ne(a, b)", [](const TensorList& t) { return ne(t[0], t[1]); }},
      {"lt", "out = torch.lt(a, b)", [](const TensorList& t) { return lt(t[0], t[1]); }},
      {"le", "out = torch.le(a, b)", [](const TensorList& t) { return le(t[0], t[1]); }},
      {"gt", "out = torch.gt(a, b)", [](const TensorList& t) { return gt(t[0], t[1]); }},
      {"ge", "out = torch.ge(a, b)", [](const TensorList& t) { return ge(t[0], t[1]); }},
      {"gt scalar", "out = a > 1.0", [](const TensorList& t) { return gt(t[0], 1.0); }},
      {"le scalar", "out = a <= 1.5", [](const TensorList& t) { return le(t[0], 1.5); }},
      {"logical_not", "out = torch.logical_not(a)", [](const TensorList& t) { return logical_not(t[0]); }},
  };
  for (DType dt : {DType::F32, DType::F64, DType::I64, DType::Bool})
    for (const auto& [name, code, f] : ops)
      for (const auto& [sa, sb] : kPairs) {
        // small integers: plenty of ties
        Tensor a = randint(0, 3, sa, &gen).to(dt), b = randint(0, 3, sb, &gen).to(dt);
        p.add(tag(name, dt, sa, sb), code, {{"a", a}, {"b", b}}, f);
      }
  p.check();
}
