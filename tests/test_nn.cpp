// nn::Module mechanics, Sequential and nn::init (unit tests).
//
// The layers with a forward (Linear, LayerNorm, ...) call ops of other families; their tests
// live in test_parity_nn.cpp. Here the modules are local ones whose data we read directly.
#include <gtest/gtest.h>

#include "common/check.h"

#include <cmath>

#include "seqnn/nn/container.h"
#include "seqnn/nn/init.h"
#include "seqnn/nn/module.h"
#include "seqnn/nn/dropout.h"
#include "seqnn/nn/embedding.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/normalization.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// A Linear-shaped module with a buffer: weight (O,I), bias (O), buffer "count" ().
struct Leaf : nn::Module {
  Leaf(int64_t in, int64_t out, DType dt = DType::F32) : Module("Leaf") {
    weight = register_parameter("weight", zeros({out, in}, dt));
    bias = register_parameter("bias", zeros({out}, dt));
    count = register_buffer("count", zeros({}, DType::I64));
  }
  Tensor weight, bias, count;
};

// encoder: Sequential(Leaf(4,3), Leaf(3,2)); then own "scale" and a child "head".
struct Net : nn::Module {
  Net() : Module("Net") {
    scale = register_parameter("scale", ones({2}));
    encoder = register_module("encoder", std::make_shared<nn::Sequential>());
    encoder->push_back(std::make_shared<Leaf>(4, 3));
    encoder->push_back(std::make_shared<Leaf>(3, 2));
    head = register_module("head", std::make_shared<Leaf>(2, 1));
    stats = register_buffer("stats", zeros({2}));
  }
  Tensor scale, stats;
  std::shared_ptr<nn::Sequential> encoder;
  std::shared_ptr<Leaf> head;
};

// y = k * x on raw data (no ops needed), to test Sequential's chaining.
struct Scale : nn::Module {
  explicit Scale(double k) : Module("Scale"), k(k) {}
  Tensor forward(const Tensor& x) override {
    std::vector<double> v = x.to_vector<double>();
    for (double& e : v) e *= k;
    return from_vector(v, x.shape());
  }
  double k;
};

std::vector<std::string> names_of(const nn::TensorDict& d) { return d.keys(); }

// Fills a tensor with 0, 1, 2, ... (+ offset).
void iota(const Tensor& t, double offset = 0) {
  if (t.dtype() == DType::F32) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data_ptr<float>()[i] = static_cast<float>(i + offset);
  } else if (t.dtype() == DType::F64) {
    for (int64_t i = 0; i < t.numel(); ++i) t.data_ptr<double>()[i] = i + offset;
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) t.data_ptr<int64_t>()[i] = static_cast<int64_t>(i + offset);
  }
}

}  // namespace

// ==================================================================== registration

TEST(Module, RegisterParameterSharesHandleAndSetsRequiresGrad) {
  nn::Module m("M");
  Tensor w = zeros({2, 3});
  Tensor r = m.register_parameter("w", w);
  EXPECT_EQ(r.impl(), w.impl());
  EXPECT_TRUE(w.requires_grad());
  Tensor frozen = m.register_parameter("frozen", zeros({2}), false);
  EXPECT_FALSE(frozen.requires_grad());
  auto named = m.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named.items()[0].first, "w");
  EXPECT_EQ(named.items()[1].first, "frozen");
  EXPECT_EQ(named["frozen"].impl(), frozen.impl());
  // Re-registering a parameter name replaces it in place (PyTorch).
  Tensor w2 = ones({4});
  m.register_parameter("w", w2);
  named = m.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named["w"].impl(), w2.impl());
}

TEST(Module, RegistrationErrors) {
  nn::Module m("Mine");
  m.register_parameter("w", zeros({2}));
  m.register_buffer("b", zeros({2}));
  EXPECT_NE(error_of([&] { m.register_parameter("", zeros({1})); }).find("Mine.register_parameter: name can't be empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_parameter("a.b", zeros({1})); }).find("can't contain \".\""), std::string::npos);
  EXPECT_NE(error_of([&] { m.register_parameter("b", zeros({1})); }).find("attribute \"b\" already exists"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_buffer("w", zeros({1})); }).find("attribute \"w\" already exists"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_module("w", std::make_shared<nn::Module>()); }).find("already exists"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_parameter("i", zeros({1}, DType::I64)); }).find("must be floating point"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m.register_parameter("u", Tensor()); }).find("undefined"), std::string::npos);
  Tensor leaf = zeros({2, 3}).requires_grad_();
  Tensor non_leaf = transpose(leaf, 0, 1);
  EXPECT_NE(error_of([&] { m.register_parameter("t", non_leaf); }).find("non-leaf"), std::string::npos);
  EXPECT_NE(error_of([&] { m.register_module("c", std::shared_ptr<nn::Module>()); }).find("is null"),
            std::string::npos);
}

TEST(Module, DefaultForwardThrowsNamingTheModule) {
  Leaf leaf(2, 3);
  std::string msg = error_of([&] { leaf.forward(zeros({1, 2})); });
  EXPECT_NE(msg.find("Leaf.forward"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no single-tensor forward"), std::string::npos) << msg;
}

// ==================================================================== traversal

TEST(Module, NamedParametersUsePyTorchDottedNamesInOrder) {
  Net net;
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"scale", "encoder.0.weight", "encoder.0.bias", "encoder.1.weight",
                                      "encoder.1.bias", "head.weight", "head.bias"}));
  EXPECT_EQ(names_of(net.named_parameters(false)), (std::vector<std::string>{"scale"}));
  EXPECT_EQ(net.parameters().size(), 7u);
  EXPECT_EQ(net.parameters()[1].impl(), std::dynamic_pointer_cast<Leaf>((*net.encoder)[0])->weight.impl());
  EXPECT_EQ(names_of(net.named_buffers()),
            (std::vector<std::string>{"stats", "encoder.0.count", "encoder.1.count", "head.count"}));
  EXPECT_EQ(net.buffers(false).size(), 1u);
}

TEST(Module, NamedModulesAndChildren) {
  auto net = std::make_shared<Net>();
  auto mods = net->named_modules();
  std::vector<std::string> names;
  for (auto& [n, m] : mods) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"", "encoder", "encoder.0", "encoder.1", "head"}));
  EXPECT_EQ(mods[0].second.get(), net.get());
  EXPECT_EQ(mods[0].second.use_count(), net.use_count());  // shares ownership
  EXPECT_EQ(mods[4].second.get(), net->head.get());
  auto children = net->children();
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].get(), net->encoder.get());
  EXPECT_EQ(net->named_children()[1].first, "head");
  // A module on the stack: a non-owning entry for itself.
  Net local;
  auto local_mods = local.named_modules("root");
  EXPECT_EQ(local_mods[0].first, "root");
  EXPECT_EQ(local_mods[1].first, "root.encoder");
  EXPECT_EQ(local_mods[0].second.get(), &local);
}

TEST(Module, SharedTensorsAndModulesAreListedOnce) {
  nn::Module root("Root");
  auto shared = std::make_shared<Leaf>(2, 2);
  root.register_module("a", shared);
  root.register_module("b", shared);
  auto extra = std::make_shared<nn::Module>("Extra");
  extra->register_parameter("tied", shared->weight);
  root.register_module("c", extra);
  EXPECT_EQ(names_of(root.named_parameters()), (std::vector<std::string>{"a.weight", "a.bias"}));
  std::vector<std::string> mods;
  for (auto& [n, m] : root.named_modules()) mods.push_back(n);
  EXPECT_EQ(mods, (std::vector<std::string>{"", "a", "c"}));
  EXPECT_EQ(root.children().size(), 2u);
  // state_dict lists every name (as PyTorch's does).
  EXPECT_EQ(root.state_dict().keys(),
            (std::vector<std::string>{"a.weight", "a.bias", "a.count", "b.weight", "b.bias", "b.count", "c.tied"}));
}

// ==================================================================== mode and grads

TEST(Module, TrainEvalRecurse) {
  Net net;
  EXPECT_TRUE(net.is_training());
  net.eval();
  EXPECT_FALSE(net.is_training());
  EXPECT_FALSE(net.encoder->is_training());
  EXPECT_FALSE((*net.encoder)[1]->is_training());
  EXPECT_FALSE(net.head->is_training());
  net.encoder->train();
  EXPECT_TRUE((*net.encoder)[0]->is_training());
  EXPECT_FALSE(net.is_training());
  net.train(true);
  EXPECT_TRUE(net.head->is_training());
}

TEST(Module, ZeroGrad) {
  Net net;
  for (auto& p : net.parameters()) p.set_grad(ones_like(p));
  net.zero_grad();
  for (auto& p : net.parameters()) {
    ASSERT_TRUE(p.grad().defined());
    for (float v : p.grad().to_vector<float>()) EXPECT_EQ(v, 0.0f);
  }
  net.zero_grad(true);
  for (auto& p : net.parameters()) EXPECT_FALSE(p.grad().defined());
}

// ==================================================================== state_dict

TEST(Module, StateDictOrderAndSharing) {
  Net net;
  auto sd = net.state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"scale", "stats", "encoder.0.weight", "encoder.0.bias",
                                                 "encoder.0.count", "encoder.1.weight", "encoder.1.bias",
                                                 "encoder.1.count", "head.weight", "head.bias", "head.count"}));
  // Values are detached views of the live data.
  EXPECT_FALSE(sd.at("scale").requires_grad());
  net.scale.data_ptr<float>()[0] = 7.0f;
  EXPECT_EQ(sd.at("scale").to_vector<float>()[0], 7.0f);
  EXPECT_THROW(sd.at("nope"), Error);
}

TEST(Module, LoadStateDictCopiesInPlace) {
  Net src, dst;
  for (auto& [k, t] : src.state_dict()) iota(t, 1);
  Tensor scale_handle = dst.scale;
  auto res = dst.load_state_dict(src.state_dict());
  EXPECT_TRUE(res.missing_keys.empty());
  EXPECT_TRUE(res.unexpected_keys.empty());
  EXPECT_EQ(scale_handle.impl(), dst.scale.impl());
  EXPECT_EQ(scale_handle.to_vector<float>(), (std::vector<float>{1, 2}));
  auto w = std::dynamic_pointer_cast<Leaf>((*dst.encoder)[1])->weight;
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(dst.head->count.to_vector<int64_t>(), (std::vector<int64_t>{1}));
  // Not aliased: the source can change afterwards.
  src.scale.data_ptr<float>()[0] = -1;
  EXPECT_EQ(dst.scale.to_vector<float>()[0], 1.0f);
}

TEST(Module, LoadStateDictConvertsDtype) {
  Leaf f32(3, 2, DType::F32);
  Leaf f64(3, 2, DType::F64);
  iota(f64.weight, 0.5);
  iota(f64.bias, -1.25);
  f32.load_state_dict(f64.state_dict());
  EXPECT_EQ(f32.weight.dtype(), DType::F32);
  EXPECT_EQ(f32.weight.to_vector<float>(), (std::vector<float>{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}));
  EXPECT_EQ(f32.bias.to_vector<float>(), (std::vector<float>{-1.25, -0.25}));
  // std::map works both ways (io::TensorMap).
  std::map<std::string, Tensor> as_map = f64.state_dict();
  EXPECT_EQ(as_map.begin()->first, "bias");
  std::map<std::string, Tensor> m{{"weight", full({2, 3}, 2.0, DType::F64)}, {"bias", zeros({2})}, {"count", zeros({}, DType::I64)}};
  f32.load_state_dict(m);
  EXPECT_EQ(f32.weight.to_vector<float>()[5], 2.0f);
}

TEST(Module, LoadStateDictReportsEveryProblemInOneError) {
  Leaf leaf(4, 2);
  iota(leaf.weight);
  nn::TensorDict bad{{"weight", zeros({3, 4})}, {"extra", zeros({1})}, {"count", zeros({}, DType::I64)}};
  std::string msg = error_of([&] { leaf.load_state_dict(bad); });
  EXPECT_EQ(msg,
            "Error(s) in loading state_dict for Leaf:\n"
            "\tMissing key(s) in state_dict: \"bias\".\n"
            "\tUnexpected key(s) in state_dict: \"extra\".\n"
            "\tsize mismatch for weight: copying a param with shape (3,4) from checkpoint, the shape in current "
            "model is (2,4).");
  // Nothing was copied (count was valid but the load failed as a whole).
  EXPECT_EQ(leaf.weight.to_vector<float>()[7], 7.0f);

  // Several keys are listed together, quoted, in order.
  nn::TensorDict empty_sd;
  msg = error_of([&] { leaf.load_state_dict(empty_sd); });
  EXPECT_NE(msg.find("Missing key(s) in state_dict: \"weight\", \"bias\", \"count\"."), std::string::npos) << msg;
}

TEST(Module, LoadStateDictNonStrict) {
  Leaf leaf(2, 1);
  nn::TensorDict partial{{"weight", full({1, 2}, 3.0)}, {"other", zeros({5})}};
  auto res = leaf.load_state_dict(partial, false);
  EXPECT_EQ(res.missing_keys, (std::vector<std::string>{"bias", "count"}));
  EXPECT_EQ(res.unexpected_keys, (std::vector<std::string>{"other"}));
  EXPECT_EQ(leaf.weight.to_vector<float>(), (std::vector<float>{3, 3}));
  // A size mismatch is an error even when not strict.
  nn::TensorDict wrong{{"weight", zeros({2, 2})}};
  std::string msg = error_of([&] { leaf.load_state_dict(wrong, false); });
  EXPECT_NE(msg.find("size mismatch for weight: copying a param with shape (2,2)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Missing"), std::string::npos) << msg;
}

TEST(Module, LoadStateDictNested) {
  Net net;
  auto sd = net.state_dict();
  nn::TensorDict bad;
  for (auto& [k, t] : sd)
    if (k != "encoder.1.bias") bad.insert(k, k == "head.weight" ? zeros({2, 2}) : t);
  std::string msg = error_of([&] { net.load_state_dict(bad); });
  EXPECT_NE(msg.find("Error(s) in loading state_dict for Net:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Missing key(s) in state_dict: \"encoder.1.bias\"."), std::string::npos) << msg;
  EXPECT_NE(msg.find("size mismatch for head.weight: copying a param with shape (2,2) from checkpoint, the shape in "
                     "current model is (1,2)."),
            std::string::npos)
      << msg;
}

TEST(Module, ToDtypeConvertsInPlace) {
  Net net;
  for (auto& [k, t] : net.state_dict()) iota(t, 0.5);
  Tensor held = net.head->weight;  // e.g. an optimizer's handle
  net.head->weight.set_grad(full({1, 2}, 0.25));
  net.to(DType::F64);
  EXPECT_EQ(held.dtype(), DType::F64);
  EXPECT_TRUE(held.requires_grad());
  EXPECT_EQ(held.to_vector<double>(), (std::vector<double>{0.5, 1.5}));
  EXPECT_EQ(held.grad().dtype(), DType::F64);
  EXPECT_EQ(held.grad().to_vector<double>()[1], 0.25);
  for (auto& t : net.parameters()) EXPECT_EQ(t.dtype(), DType::F64);
  EXPECT_EQ(net.stats.dtype(), DType::F64);
  EXPECT_EQ(net.head->count.dtype(), DType::I64);  // integer buffers keep their dtype
  net.to(DType::F32);
  EXPECT_EQ(held.to_vector<float>(), (std::vector<float>{0.5, 1.5}));
  EXPECT_THROW(net.to(DType::I64), Error);
}

// ==================================================================== Sequential

TEST(Sequential, ChainsAndNamesChildren) {
  nn::Sequential seq{std::make_shared<Scale>(2.0), std::make_shared<Scale>(-3.0)};
  auto third = seq.push_back(std::make_shared<Scale>(0.5));
  EXPECT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq[2].get(), third.get());
  EXPECT_EQ(seq[-1].get(), third.get());
  EXPECT_NE(error_of([&] { seq[3]; }).find("Sequential[]: index 3 out of range for 3 modules"), std::string::npos);
  std::vector<std::string> names;
  for (auto& [n, m] : seq.named_children()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"0", "1", "2"}));
  Tensor y = seq(from_vector(std::vector<double>{1, -2}, {2}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{-3, 6}));
  nn::Sequential empty_seq;
  Tensor x = ones({3});
  EXPECT_EQ(empty_seq.forward(x).impl(), x.impl());
  EXPECT_THROW(seq.push_back(std::shared_ptr<nn::Module>()), Error);
}

// ==================================================================== init

namespace {
struct Stats {
  double min, max, mean, std;
};
Stats stats_of(const Tensor& t) {
  auto v = t.to_vector<double>();
  Stats s{1e300, -1e300, 0, 0};
  for (double x : v) {
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
    s.mean += x;
  }
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size()));
  return s;
}
}  // namespace

TEST(Init, FansAndGains) {
  EXPECT_EQ(nn::init::calculate_fan_in_and_fan_out(zeros({5, 3})), std::make_pair(int64_t{3}, int64_t{5}));
  EXPECT_EQ(nn::init::calculate_fan_in_and_fan_out(zeros({6, 4, 3, 2})), std::make_pair(int64_t{24}, int64_t{36}));
  EXPECT_NE(error_of([] { nn::init::calculate_fan_in_and_fan_out(zeros({5})); }).find("fewer than 2 dimensions"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("linear"), 1.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("sigmoid"), 1.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("leaky_relu"), std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("leaky_relu", std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain("selu"), 0.75);
  EXPECT_NE(error_of([] { nn::init::calculate_gain("swish"); }).find("nn.init.calculate_gain: unsupported nonlinearity"),
            std::string::npos);
}

TEST(Init, UniformAndNormalStatistics) {
  for (DType dt : {DType::F32, DType::F64}) {
    Generator gen(11);
    Tensor t = empty({200, 300}, dt);
    nn::init::uniform_(t, -2.0, 3.0, &gen);
    Stats s = stats_of(t);
    EXPECT_GE(s.min, -2.0);
    EXPECT_LE(s.max, 3.0);
    EXPECT_LT(s.min, -1.99);
    EXPECT_GT(s.max, 2.99);
    EXPECT_NEAR(s.mean, 0.5, 0.02);
    EXPECT_NEAR(s.std, 5.0 / std::sqrt(12.0), 0.01);
    nn::init::normal_(t, 1.5, 0.5, &gen);
    s = stats_of(t);
    EXPECT_NEAR(s.mean, 1.5, 0.005);
    EXPECT_NEAR(s.std, 0.5, 0.005);
  }
}

TEST(Init, ConstantZerosOnes) {
  Tensor t = empty({3, 2}, DType::F64);
  nn::init::constant_(t, 2.5);
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>(6, 2.5));
  nn::init::zeros_(t);
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>(6, 0.0));
  nn::init::ones_(t);
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>(6, 1.0));
}

TEST(Init, KaimingAndXavierScales) {
  Generator gen(5);
  // fan_in = 250 * 2 = 500, fan_out = 400 * 2 = 800.
  Tensor t = empty({400, 250, 2});
  const double fan_in = 500, fan_out = 800;

  nn::init::kaiming_uniform_(t, 0.0, "fan_in", "leaky_relu", &gen);
  double bound = std::sqrt(2.0 / (1 + 0.0)) * std::sqrt(3.0 / fan_in);
  Stats s = stats_of(t);
  EXPECT_GE(s.min, -bound);
  EXPECT_LE(s.max, bound);
  EXPECT_GT(s.max, 0.999 * bound);
  EXPECT_NEAR(s.std, bound / std::sqrt(3.0), 0.01 * bound);

  nn::init::kaiming_uniform_(t, std::sqrt(5.0), "fan_out", "leaky_relu", &gen);
  bound = std::sqrt(2.0 / 6.0) * std::sqrt(3.0 / fan_out);
  s = stats_of(t);
  EXPECT_LE(s.max, bound);
  EXPECT_GT(s.max, 0.999 * bound);

  nn::init::kaiming_normal_(t, 0.0, "fan_in", "relu", &gen);
  s = stats_of(t);
  EXPECT_NEAR(s.std, std::sqrt(2.0) / std::sqrt(fan_in), 0.01 * std::sqrt(2.0 / fan_in));
  EXPECT_NEAR(s.mean, 0.0, 0.01 * std::sqrt(2.0 / fan_in));

  nn::init::xavier_uniform_(t, 2.0, &gen);
  bound = 2.0 * std::sqrt(6.0 / (fan_in + fan_out));
  s = stats_of(t);
  EXPECT_GE(s.min, -bound);
  EXPECT_LE(s.max, bound);
  EXPECT_GT(s.max, 0.999 * bound);

  nn::init::xavier_normal_(t, 1.0, &gen);
  s = stats_of(t);
  const double std = std::sqrt(2.0 / (fan_in + fan_out));
  EXPECT_NEAR(s.std, std, 0.01 * std);
}

TEST(Init, DeterministicPerGeneratorAndUsesDefault) {
  Generator a(42), b(42);
  Tensor x = empty({4, 5}), y = empty({4, 5});
  nn::init::xavier_uniform_(x, 1.0, &a);
  nn::init::xavier_uniform_(y, 1.0, &b);
  EXPECT_EQ(x.to_vector<float>(), y.to_vector<float>());
  manual_seed(9);
  nn::init::normal_(x);
  manual_seed(9);
  nn::init::normal_(y);
  EXPECT_EQ(x.to_vector<float>(), y.to_vector<float>());
}

TEST(Init, BadInput) {
  EXPECT_NE(error_of([] { nn::init::kaiming_uniform_(zeros({2, 2}), 0, "fan_avg"); }).find("nn.init.kaiming_uniform_"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::init::uniform_(zeros({2}, DType::I64)); }).find("nn.init.uniform_: needs a floating"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::init::uniform_(zeros({2}), 1.0, 0.0); }).find("nn.init.uniform_: needs a <= b"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::init::normal_(zeros({2}), 0.0, -1.0); }).find("nn.init.normal_: std must be >= 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::init::xavier_normal_(zeros({3})); }).find("fewer than 2 dimensions"), std::string::npos);
  EXPECT_NE(error_of([] { nn::init::ones_(transpose(zeros({2, 3}), 0, 1)); }).find("contiguous"), std::string::npos);
  // Zero-element tensors are a no-op (PyTorch warns).
  Tensor z = zeros({0, 3});
  nn::init::kaiming_uniform_(z);
  nn::init::xavier_uniform_(z);
  EXPECT_EQ(z.numel(), 0);
}

// ==================================================================== options

TEST(Options, BuilderStyle) {
  auto lo = nn::LinearOptions(3, 4).bias(false).dtype(DType::F64);
  EXPECT_EQ(lo.in_features(), 3);
  EXPECT_EQ(lo.out_features(), 4);
  EXPECT_FALSE(lo.bias());
  EXPECT_EQ(lo.dtype(), DType::F64);
  auto eo = nn::EmbeddingOptions(10, 5).padding_idx(-1);
  EXPECT_EQ(eo.num_embeddings(), 10);
  EXPECT_EQ(eo.embedding_dim(), 5);
  EXPECT_EQ(eo.padding_idx(), std::optional<int64_t>(-1));
  auto no = nn::LayerNormOptions({4, 5}).eps(1e-6).elementwise_affine(false);
  EXPECT_EQ(no.normalized_shape(), (Shape{4, 5}));
  EXPECT_EQ(no.eps(), 1e-6);
  EXPECT_FALSE(no.elementwise_affine());
  EXPECT_EQ(nn::LayerNormOptions({8}).eps(), 1e-5);
  EXPECT_EQ(nn::DropoutOptions().p(), 0.5);
  EXPECT_EQ(nn::DropoutOptions(0.1).p(), 0.1);
}
