// The built-in modules against torch.nn (PyTorch 1.13): structure, initialisation, and forward
// + parameter gradients given the same weights. Every case loads OUR state_dict into the torch
// module with strict=True, so parameter names and shapes are checked against PyTorch's too.
#include <gtest/gtest.h>

#include "common/check.h"

#include <cmath>

#include "common/torch_oracle.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// Python prelude: load(m) is the oracle's load_state (strict, key order checked); run(m, x)
// does forward + backward with GY and reports
// the gradients of every parameter as extra['d_<name>'] (and of x as extra['dx']).
const char* kPrelude = R"(
load = load_state  # the oracle's strict, order-checking loader

def run(m, x):
    y = m(x)
    y.backward(GY)
    for k, p in m.named_parameters():
        if p.grad is not None:
            extra['d_' + k] = p.grad
    if x.requires_grad:
        extra['dx'] = x.grad
    return y.detach()
)";

struct ModuleCase {
  std::string what;
  std::shared_ptr<nn::Module> module;
  Tensor x;
  std::string python;  // builds the torch module `m` (dtype matching)
  Tensor y;            // ours
  Tensor gy;
};

// Runs forward + backward on our side and queues the same on the torch side.
OracleCase prepare(ModuleCase& c, Generator& gen) {
  c.y = c.module->forward(c.x);
  c.gy = randn(c.y.shape(), c.y.dtype(), &gen);
  c.y.backward(c.gy);
  OracleCase oc;
  oc.code = std::string(kPrelude) + "m = load(" + c.python + ")\nout = run(m, x)\n";
  oc.inputs = {{"x", c.x}, {"GY", c.gy}};
  for (const auto& [k, t] : c.module->state_dict()) oc.state.push_back({k, t});
  return oc;
}

void compare(const ModuleCase& c, const OracleResult& r) {
  expect_close(c.y, r.outs[0], 1e-5, c.what + " forward");
  for (const auto& [name, p] : c.module->named_parameters()) {
    auto it = r.extra.find("d_" + name);
    ASSERT_TRUE(it != r.extra.end()) << c.what << ": torch has no gradient for " << name;
    ASSERT_TRUE(p.grad().defined()) << c.what << ": no gradient for " << name;
    expect_close(p.grad(), it->second, 1e-4, c.what + " d" + name);
  }
  if (c.x.requires_grad()) expect_close(c.x.grad(), r.extra.at("dx"), 1e-4, c.what + " dx");
}

void run_cases(std::vector<ModuleCase>& cases) {
  Generator gen(99);
  std::vector<OracleCase> oracle;
  for (auto& c : cases) oracle.push_back(prepare(c, gen));
  auto ref = run_torch(oracle);
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) compare(cases[i], ref[i]);
}

std::string torch_dtype(DType dt) { return dt == DType::F32 ? "torch.float32" : "torch.float64"; }

Tensor input(const Shape& s, DType dt, Generator& gen) { return randn(s, dt, &gen).requires_grad_(); }

}  // namespace

// ==================================================================== structure and init

TEST(ParityNN, LinearStructureAndInitBounds) {
  nn::Linear lin(nn::LinearOptions(400, 300));
  auto named = lin.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named.keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(named["weight"].shape(), (Shape{300, 400}));
  EXPECT_TRUE(lin.weight.requires_grad());
  nn::Linear nobias(nn::LinearOptions(3, 2).bias(false));
  EXPECT_EQ(nobias.state_dict().keys(), (std::vector<std::string>{"weight"}));
  EXPECT_FALSE(nobias.bias.defined());

  // PyTorch's formula: kaiming_uniform_(a=sqrt(5)) -> bound 1/sqrt(fan_in); bias the same.
  const double bound = 1.0 / std::sqrt(400.0);
  auto w = lin.weight.to_vector<double>(), b = lin.bias.to_vector<double>();
  double wmax = 0, bmax = 0, sq = 0;
  for (double v : w) wmax = std::max(wmax, std::fabs(v)), sq += v * v;
  for (double v : b) bmax = std::max(bmax, std::fabs(v));
  const double wstd = std::sqrt(sq / static_cast<double>(w.size()));
  EXPECT_LE(wmax, bound);
  EXPECT_LE(bmax, bound);

  // ... and what PyTorch actually draws for the same shape.
  OracleCase oc;
  oc.code = "torch.manual_seed(0)\nm = nn.Linear(400, 300)\n"
            "out = [m.weight.abs().max().double(), m.weight.std().double(), m.bias.abs().max().double()]\n";
  auto r = run_torch({oc})[0];
  EXPECT_NEAR(wmax, r.outs[0].item(), 0.002 * bound);
  EXPECT_NEAR(wstd, r.outs[1].item(), 0.02 * bound / std::sqrt(3.0));
  EXPECT_NEAR(bmax, r.outs[2].item(), 0.05 * bound);  // 300 draws: the max is near the bound
}

TEST(ParityNN, EmbeddingStructureInitAndPretrained) {
  nn::Embedding emb(nn::EmbeddingOptions(1000, 64).padding_idx(-2));
  EXPECT_EQ(emb.options().padding_idx(), std::optional<int64_t>(998));
  auto w = emb.weight.to_vector<double>();
  double sum = 0, sq = 0;
  for (int64_t j = 0; j < 64; ++j) EXPECT_EQ(w[998 * 64 + j], 0.0);
  for (double v : w) sum += v, sq += v * v;
  const double n = static_cast<double>(w.size()), mean = sum / n;
  EXPECT_NEAR(mean, 0.0, 0.02);                     // N(0, 1), as torch.nn.Embedding
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 1.0, 0.02);
  EXPECT_NE(error_of([] { nn::Embedding(nn::EmbeddingOptions(5, 2).padding_idx(5)); })
                .find("Embedding: padding_idx must be within num_embeddings=5"),
            std::string::npos);

  Tensor table = randn({4, 3});
  auto frozen = nn::Embedding::from_pretrained(table);
  EXPECT_FALSE(frozen->weight.requires_grad());
  EXPECT_EQ(frozen->weight.data_ptr<float>(), table.data_ptr<float>());  // shares the data
  auto tuned = nn::Embedding::from_pretrained(table, false, 1);
  EXPECT_TRUE(tuned->weight.requires_grad());
  EXPECT_NE(tuned->weight.to_vector<float>()[3], 0.0f);  // the padding row is kept as given
  EXPECT_NE(error_of([] { nn::Embedding::from_pretrained(zeros({4})); }).find("expected to be 2-dimensional"),
            std::string::npos);
}

TEST(ParityNN, LayerNormDropoutGeluStructure) {
  nn::LayerNorm ln(nn::LayerNormOptions({2, 3}));
  EXPECT_EQ(ln.state_dict().keys(), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(ln.weight.to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(ln.bias.to_vector<float>(), std::vector<float>(6, 0.0f));
  nn::LayerNorm plain(nn::LayerNormOptions({4}).elementwise_affine(false));
  EXPECT_TRUE(plain.named_parameters().empty());
  EXPECT_NE(error_of([] { nn::Dropout(1.5); }).find("Dropout: dropout probability has to be between 0 and 1, but got 1.5"),
            std::string::npos);
  EXPECT_NE(error_of([] { nn::GELU("erf"); }).find("GELU: approximate must be"), std::string::npos);
  EXPECT_NE(error_of([] { nn::Linear(nn::LinearOptions(-1, 2)); }).find("Linear: in_features and out_features"),
            std::string::npos);
}

TEST(ParityNN, LinearLoadStateDictErrorMessage) {
  nn::Linear lin(nn::LinearOptions(4, 2));
  nn::TensorDict sd{{"weight", zeros({3, 4})}, {"extra", zeros({1})}};
  EXPECT_EQ(error_of([&] { lin.load_state_dict(sd); }),
            "Error(s) in loading state_dict for Linear:\n"
            "\tMissing key(s) in state_dict: \"bias\".\n"
            "\tUnexpected key(s) in state_dict: \"extra\".\n"
            "\tsize mismatch for weight: copying a param with shape (3,4) from checkpoint, the shape in current "
            "model is (2,4).");
}

// ==================================================================== forward and gradients

TEST(ParityNN, LinearForwardAndGradients) {
  Generator gen(1);
  std::vector<ModuleCase> cases;
  for (DType dt : {DType::F32, DType::F64}) {
    const std::string tdt = torch_dtype(dt);
    struct S {
      Shape x;
      int64_t out;
      bool bias;
    };
    for (const S& s : std::vector<S>{{{2, 3, 5}, 4, true}, {{1, 5}, 1, true}, {{7, 5}, 3, false}, {{5}, 2, true},
                                     {{0, 5}, 3, true}}) {
      const int64_t in = s.x.back();
      auto m = std::make_shared<nn::Linear>(nn::LinearOptions(in, s.out).bias(s.bias).dtype(dt), &gen);
      cases.push_back({"Linear x" + shape_str(s.x) + " " + dtype_name(dt), m, input(s.x, dt, gen),
                       "nn.Linear(" + std::to_string(in) + ", " + std::to_string(s.out) +
                           ", bias=" + (s.bias ? "True" : "False") + ", dtype=" + tdt + ")"});
    }
  }
  run_cases(cases);
}

TEST(ParityNN, LayerNormForwardAndGradients) {
  Generator gen(2);
  std::vector<ModuleCase> cases;
  for (DType dt : {DType::F32, DType::F64}) {
    const std::string tdt = torch_dtype(dt);
    auto a = std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({6}).dtype(dt));
    // Non-trivial affine parameters, so their gradients and use are checked.
    a->weight.detach().copy_(randn({6}, dt, &gen));
    a->bias.detach().copy_(randn({6}, dt, &gen));
    cases.push_back({std::string("LayerNorm(6) ") + dtype_name(dt), a, input({2, 3, 6}, dt, gen),
                     "nn.LayerNorm(6, dtype=" + tdt + ")"});
    auto b = std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({2, 3}).eps(1e-3).dtype(dt));
    b->weight.detach().copy_(randn({2, 3}, dt, &gen));
    cases.push_back({std::string("LayerNorm(2,3) ") + dtype_name(dt), b, input({4, 2, 3}, dt, gen),
                     "nn.LayerNorm([2, 3], eps=1e-3, dtype=" + tdt + ")"});
    auto c = std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({5}).elementwise_affine(false).dtype(dt));
    cases.push_back({std::string("LayerNorm(5, no affine) ") + dtype_name(dt), c, input({1, 5}, dt, gen),
                     "nn.LayerNorm(5, elementwise_affine=False, dtype=" + tdt + ")"});
  }
  run_cases(cases);
}

TEST(ParityNN, EmbeddingForwardAndGradients) {
  Generator gen(3);
  std::vector<ModuleCase> cases;
  for (DType dt : {DType::F32, DType::F64}) {
    const std::string tdt = torch_dtype(dt);
    Tensor idx = from_vector(std::vector<int64_t>{1, 2, 2, 0, 9, 2, 5, 2, 7, 1, 3, 3, 0, 8, 2}, {3, 5});
    auto plain = std::make_shared<nn::Embedding>(nn::EmbeddingOptions(10, 4).dtype(dt), &gen);
    cases.push_back({std::string("Embedding ") + dtype_name(dt), plain, idx, "nn.Embedding(10, 4, dtype=" + tdt + ")"});
    auto pad = std::make_shared<nn::Embedding>(nn::EmbeddingOptions(10, 4).padding_idx(2).dtype(dt), &gen);
    cases.push_back({std::string("Embedding padding_idx=2 ") + dtype_name(dt), pad, idx,
                     "nn.Embedding(10, 4, padding_idx=2, dtype=" + tdt + ")"});
    auto single = std::make_shared<nn::Embedding>(nn::EmbeddingOptions(3, 2).dtype(dt), &gen);
    cases.push_back({std::string("Embedding 1-d indices ") + dtype_name(dt), single,
                     from_vector(std::vector<int64_t>{2}, {1}), "nn.Embedding(3, 2, dtype=" + tdt + ")"});
  }
  run_cases(cases);
}

TEST(ParityNN, SequentialWithActivations) {
  Generator gen(4);
  std::vector<ModuleCase> cases;
  for (DType dt : {DType::F32, DType::F64}) {
    const std::string tdt = torch_dtype(dt);
    auto seq = std::make_shared<nn::Sequential>();
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions(6, 8).dtype(dt), &gen));
    seq->push_back(std::make_shared<nn::ReLU>());
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions(8, 8).dtype(dt), &gen));
    seq->push_back(std::make_shared<nn::Tanh>());
    seq->push_back(std::make_shared<nn::LayerNorm>(nn::LayerNormOptions({8}).dtype(dt)));
    seq->push_back(std::make_shared<nn::GELU>("tanh"));
    seq->push_back(std::make_shared<nn::Linear>(nn::LinearOptions(8, 5).dtype(dt), &gen));
    seq->push_back(std::make_shared<nn::GELU>());
    seq->push_back(std::make_shared<nn::Sigmoid>());
    seq->push_back(std::make_shared<nn::Dropout>(0.5));
    seq->push_back(std::make_shared<nn::Softmax>(-1));
    seq->eval();  // dropout off on both sides
    cases.push_back({std::string("Sequential ") + dtype_name(dt), seq, input({3, 2, 6}, dt, gen),
                     "nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.LayerNorm(8), "
                     "nn.GELU(approximate='tanh'), nn.Linear(8, 5), nn.GELU(), nn.Sigmoid(), nn.Dropout(0.5), "
                     "nn.Softmax(dim=-1)).to(" + tdt + ").eval()"});
  }
  run_cases(cases);
}

TEST(ParityNN, DropoutTrainingAndEval) {
  Generator gen(5);
  nn::Dropout drop(0.3, &gen);
  Tensor x = ones({100000});
  std::vector<float> y = drop.forward(x).to_vector<float>();
  int64_t zeros_seen = 0;
  for (float v : y) {
    if (v == 0.0f) {
      ++zeros_seen;
    } else {
      EXPECT_FLOAT_EQ(v, 1.0f / 0.7f);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros_seen) / 100000.0, 0.3, 0.01);
  drop.eval();
  EXPECT_EQ(drop.forward(x).to_vector<float>(), x.to_vector<float>());
}
