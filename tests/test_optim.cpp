// Optimizers, clipping and LR schedulers (unit tests: hand-computed steps, checkpoints that
// resume bit-for-bit, bad input).
#include <gtest/gtest.h>

#include "common/check.h"

#include <cmath>

#include "seqnn/nn/module.h"
#include "seqnn/optim/optim.h"
#include "seqnn/random.h"

using namespace seqnn;
using namespace seqnn::testutil;
using namespace seqnn::optim;

namespace {

#define EXPECT_ERROR_HAS(stmt, text)                          \
  do {                                                        \
    std::string msg_ = error_of([&] { stmt; });               \
    EXPECT_NE(msg_.find(text), std::string::npos) << msg_;    \
  } while (0)

Tensor param(std::vector<double> v, DType dt = DType::F64) {
  Tensor t = from_vector(v, {static_cast<int64_t>(v.size())}).to(dt);
  t.requires_grad_();
  return t;
}

void set_grad(const Tensor& p, std::vector<double> g) {
  p.set_grad(from_vector(g, p.shape()).to(p.dtype()));
}

double val(const Tensor& t, int64_t i = 0) { return t.to_vector<double>()[static_cast<size_t>(i)]; }

}  // namespace

// ==================================================================== SGD

TEST(SGD, PlainAndMaximize) {
  Tensor p = param({1.0, -2.0});
  SGD opt({p}, SGDOptions(0.1));
  set_grad(p, {0.5, 1.0});
  opt.step();
  EXPECT_DOUBLE_EQ(val(p, 0), 0.95);
  EXPECT_DOUBLE_EQ(val(p, 1), -2.1);
  Tensor q = param({1.0});
  SGD up({q}, SGDOptions(0.1).maximize(true));
  set_grad(q, {0.5});
  up.step();
  EXPECT_DOUBLE_EQ(val(q), 1.05);
}

TEST(SGD, MomentumDampeningWeightDecay) {
  Tensor p = param({1.0});
  SGD opt({p}, SGDOptions(0.1).momentum(0.9).dampening(0.1).weight_decay(0.1));
  set_grad(p, {0.5});
  opt.step();  // d = 0.5 + 0.1*1 = 0.6; buf = 0.6 (no dampening at the first step); p = 1 - 0.06
  EXPECT_NEAR(val(p), 0.94, 1e-15);
  opt.step();  // d = 0.5 + 0.094 = 0.594; buf = 0.9*0.6 + 0.9*0.594 = 1.0746; p = 0.94 - 0.10746
  EXPECT_NEAR(val(p), 0.83254, 1e-15);
  auto sd = opt.state_dict();
  EXPECT_NEAR(val(sd.tensors.at("state.0.momentum_buffer")), 1.0746, 1e-15);
}

TEST(SGD, Nesterov) {
  Tensor p = param({1.0});
  SGD opt({p}, SGDOptions(0.1).momentum(0.9).nesterov(true));
  set_grad(p, {0.5});
  opt.step();  // buf = 0.5; d = 0.5 + 0.9*0.5 = 0.95
  EXPECT_NEAR(val(p), 0.905, 1e-15);
  opt.step();  // buf = 0.45 + 0.5 = 0.95; d = 0.5 + 0.855 = 1.355
  EXPECT_NEAR(val(p), 0.905 - 0.1355, 1e-15);
}

TEST(SGD, BadOptions) {
  Tensor p = param({1.0});
  EXPECT_ERROR_HAS(SGD({p}, SGDOptions(-0.1)), "SGD: Invalid learning rate: -0.1");
  EXPECT_ERROR_HAS(SGD({p}, SGDOptions(0.1).momentum(-1)), "SGD: Invalid momentum value: -1");
  EXPECT_ERROR_HAS(SGD({p}, SGDOptions(0.1).weight_decay(-1)), "SGD: Invalid weight_decay value: -1");
  EXPECT_ERROR_HAS(SGD({p}, SGDOptions(0.1).nesterov(true)), "SGD: Nesterov momentum requires a momentum and zero dampening");
  EXPECT_ERROR_HAS(SGD({p}, SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)),
                   "Nesterov momentum requires a momentum and zero dampening");
  SGD opt({p}, SGDOptions(0.1));
  EXPECT_ERROR_HAS(opt.set_lr(-1), "SGD: Invalid learning rate: -1");
  EXPECT_DOUBLE_EQ(opt.lr(), 0.1);
}

// ==================================================================== Adam / AdamW

TEST(Adam, FirstStepIsSignedLr) {
  // After one step m/(1-b1) = g and sqrt(v/(1-b2)) = |g|: p -= lr * g / (|g| + eps).
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor p = param({1.0, -1.0}, dt);
    Adam opt({p}, AdamOptions(0.1));
    set_grad(p, {0.5, -2.0});
    opt.step();
    EXPECT_NEAR(val(p, 0), 1.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-6);
    EXPECT_NEAR(val(p, 1), -1.0 + 0.1 * 2.0 / (2.0 + 1e-8), 1e-6);
    EXPECT_EQ(opt.step_count(0), 1);
  }
}

TEST(Adam, WeightDecayIsL2AndAdamWIsDecoupled) {
  Tensor a = param({2.0}), w = param({2.0});
  Adam adam({a}, AdamOptions(0.1).weight_decay(0.5));
  AdamW adamw({w}, AdamWOptions(0.1).weight_decay(0.5));
  set_grad(a, {-0.5});
  set_grad(w, {-0.5});
  adam.step();   // g = -0.5 + 0.5*2 = 0.5 -> p = 2 - 0.1 * 0.5/(0.5+eps)
  adamw.step();  // p = 2 * (1 - 0.05) = 1.9, then + 0.1 * 0.5/(0.5+eps)
  EXPECT_NEAR(val(a), 2.0 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
  EXPECT_NEAR(val(w), 1.9 + 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
  EXPECT_EQ(AdamWOptions().weight_decay(), 1e-2);
  EXPECT_EQ(AdamOptions().weight_decay(), 0.0);
}

TEST(Adam, SecondStepByHand) {
  const double lr = 0.01, b1 = 0.8, b2 = 0.9, eps = 1e-6;
  Tensor p = param({0.3});
  Adam opt({p}, AdamOptions(lr).betas({b1, b2}).eps(eps));
  double m = 0, v = 0, x = 0.3;
  for (int t = 1; t <= 2; ++t) {
    const double g = t == 1 ? 0.7 : -0.2;
    set_grad(p, {g});
    opt.step();
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double denom = std::sqrt(v) / std::sqrt(1 - std::pow(b2, t)) + eps;
    x = x - lr / (1 - std::pow(b1, t)) * (m / denom);
    EXPECT_NEAR(val(p), x, 1e-15) << "step " << t;
  }
}

TEST(Adam, AmsgradKeepsTheMaximum) {
  Tensor p = param({0.0}), q = param({0.0});
  Adam ams({p}, AdamOptions(0.1).amsgrad(true));
  Adam plain({q}, AdamOptions(0.1));
  for (double g : {1.0, 0.01, 0.01}) {
    set_grad(p, {g});
    set_grad(q, {g});
    ams.step();
    plain.step();
  }
  auto sd = ams.state_dict();
  EXPECT_NEAR(val(sd.tensors.at("state.0.max_exp_avg_sq")), 1e-3, 1e-12);  // (1-b2)*1^2 from step 1
  EXPECT_LT(val(sd.tensors.at("state.0.exp_avg_sq")), 1e-3);
  EXPECT_EQ(plain.state_dict().tensors.count("state.0.max_exp_avg_sq"), 0u);
  EXPECT_GT(val(p), val(q));  // the larger denominator slows amsgrad's steps
}

TEST(Adam, BadOptions) {
  Tensor p = param({1.0});
  EXPECT_ERROR_HAS(Adam({p}, AdamOptions(-1e-3)), "Adam: Invalid learning rate: -0.001");
  EXPECT_ERROR_HAS(Adam({p}, AdamOptions().eps(-1)), "Adam: Invalid epsilon value: -1");
  EXPECT_ERROR_HAS(Adam({p}, AdamOptions().betas({1.0, 0.9})), "Adam: Invalid beta parameter at index 0: 1");
  EXPECT_ERROR_HAS(Adam({p}, AdamOptions().betas({0.9, -0.1})), "Adam: Invalid beta parameter at index 1: -0.1");
  EXPECT_ERROR_HAS(Adam({p}, AdamOptions().weight_decay(-1)), "Adam: Invalid weight_decay value: -1");
  EXPECT_ERROR_HAS(AdamW({p}, AdamWOptions(-1)), "AdamW: Invalid learning rate: -1");
}

// ==================================================================== shared mechanics

TEST(Optimizer, BadParameters) {
  EXPECT_ERROR_HAS(SGD({}, SGDOptions(0.1)), "SGD.add_param_group: optimizer got an empty parameter list");
  Tensor p = param({1.0, 2.0});
  EXPECT_ERROR_HAS(SGD({p, p}, SGDOptions(0.1)), "some parameters appear more than once");
  EXPECT_ERROR_HAS(SGD({zeros({2}, DType::I64)}, SGDOptions(0.1)), "must be floating point");
  EXPECT_ERROR_HAS(SGD({Tensor()}, SGDOptions(0.1)), "parameter 0 is undefined");
  Tensor leaf = zeros({2, 3}, DType::F64).requires_grad_();
  EXPECT_ERROR_HAS(SGD({leaf.transpose(0, 1)}, SGDOptions(0.1)), "non-leaf");
  EXPECT_ERROR_HAS(SGD({zeros({2, 3}).transpose(0, 1)}, SGDOptions(0.1)), "must be contiguous");
  SGD opt({p}, SGDOptions(0.1));
  EXPECT_ERROR_HAS(opt.add_param_group({p}), "some parameters appear more than once");
  EXPECT_ERROR_HAS(opt.options(3), "SGD.options: group 3 out of range for 1 groups");
}

TEST(Optimizer, SkipsUndefinedGradsAndZeroGrad) {
  Tensor a = param({1.0}), b = param({1.0});
  Adam opt({a, b}, AdamOptions(0.1));
  set_grad(a, {1.0});
  opt.step();
  EXPECT_NE(val(a), 1.0);
  EXPECT_EQ(val(b), 1.0);
  EXPECT_EQ(opt.step_count(1), 0);
  EXPECT_EQ(opt.state_dict().meta["state"].size(), 1u);
  opt.zero_grad();
  EXPECT_EQ(val(a.grad()), 0.0);
  opt.zero_grad(true);
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizer, ParamGroups) {
  Tensor a = param({1.0}), b = param({1.0});
  SGD opt({a}, SGDOptions(0.1).momentum(0.5));
  opt.add_param_group({b}, SGDOptions(1.0));
  EXPECT_EQ(opt.num_param_groups(), 2u);
  EXPECT_EQ(opt.parameters().size(), 2u);
  set_grad(a, {1.0});
  set_grad(b, {1.0});
  opt.step();
  EXPECT_DOUBLE_EQ(val(a), 0.9);
  EXPECT_DOUBLE_EQ(val(b), 0.0);
  EXPECT_DOUBLE_EQ(opt.group_lr(1), 1.0);
  opt.set_lr(0.25);
  EXPECT_DOUBLE_EQ(opt.group_lr(0), 0.25);
  EXPECT_DOUBLE_EQ(opt.group_lr(1), 0.25);
  auto sd = opt.state_dict();
  EXPECT_EQ(sd.meta["param_groups"][1]["params"], nlohmann::json::array({1}));
  EXPECT_EQ(sd.meta["param_groups"][0]["momentum"], 0.5);
  EXPECT_EQ(sd.tensors.count("state.0.momentum_buffer"), 1u);
  EXPECT_EQ(sd.tensors.count("state.1.momentum_buffer"), 0u);  // group 1 has no momentum
}

TEST(Optimizer, FollowsModuleToDtype) {
  nn::Module m("M");
  Tensor w = m.register_parameter("w", full({3}, 1.0));
  Adam opt(m.parameters(), AdamOptions(0.1));
  set_grad(w, {1, 1, 1});
  opt.step();
  m.to(DType::F64);
  set_grad(w, {1, 1, 1});
  opt.step();
  EXPECT_EQ(w.dtype(), DType::F64);
  EXPECT_EQ(opt.state_dict().tensors.at("state.0.exp_avg").dtype(), DType::F64);
}

// ==================================================================== checkpoints

namespace {

// Runs `steps` steps of opt over params with gradients drawn from gen.
void run_steps(Optimizer& opt, const std::vector<Tensor>& params, Generator& gen, int steps) {
  for (int s = 0; s < steps; ++s) {
    for (const auto& p : params) p.set_grad(randn(p.shape(), p.dtype(), &gen));
    opt.step();
  }
}

std::vector<Tensor> make_params(DType dt, Generator& gen) {
  std::vector<Tensor> ps{randn({3, 4}, dt, &gen), randn({5}, dt, &gen)};
  for (auto& p : ps) p.requires_grad_();
  return ps;
}

std::vector<Tensor> clone_params(const std::vector<Tensor>& ps) {
  std::vector<Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

// The state through a JSON text round trip (what a checkpoint file does to the scalars).
OptimizerState through_text(const OptimizerState& s) {
  OptimizerState out = s;
  out.meta = nlohmann::json::parse(s.meta.dump());
  return out;
}

template <class Opt, class Options>
void expect_bitwise_resume(const Options& options, DType dt) {
  Generator init(1);
  auto ps = make_params(dt, init);
  Opt opt(ps, options);
  Generator grads(2);
  run_steps(opt, ps, grads, 5);
  OptimizerState saved = through_text(opt.state_dict());
  auto resumed_ps = clone_params(ps);
  Generator grads_copy = grads;
  run_steps(opt, ps, grads, 5);

  Opt resumed(resumed_ps, options);
  resumed.load_state_dict(saved);
  run_steps(resumed, resumed_ps, grads_copy, 5);
  for (size_t i = 0; i < ps.size(); ++i) EXPECT_EQ(ps[i].to_vector<double>(), resumed_ps[i].to_vector<double>());
  EXPECT_EQ(opt.step_count(0), 10);
  EXPECT_EQ(resumed.step_count(0), 10);
}

}  // namespace

TEST(Checkpoint, OptimizersResumeBitForBit) {
  for (DType dt : {DType::F32, DType::F64}) {
    expect_bitwise_resume<SGD>(SGDOptions(0.05).momentum(0.9).nesterov(true).weight_decay(0.01), dt);
    expect_bitwise_resume<Adam>(AdamOptions(0.01).amsgrad(true).weight_decay(0.1), dt);
    expect_bitwise_resume<AdamW>(AdamWOptions(0.01), dt);
  }
}

TEST(Checkpoint, LoadRestoresOptionsAndConvertsDtype) {
  Tensor p = param({1.0, 2.0}, DType::F64);
  Adam src({p}, AdamOptions(0.5).betas({0.8, 0.95}).amsgrad(true));
  set_grad(p, {1, 1});
  src.step();
  Tensor q = param({1.0, 2.0}, DType::F32);
  Adam dst({q}, AdamOptions(0.1).amsgrad(true));
  dst.load_state_dict(src.state_dict());
  EXPECT_EQ(dst.lr(), 0.5);
  EXPECT_EQ(dst.options().betas(), std::make_pair(0.8, 0.95));
  EXPECT_EQ(dst.step_count(0), 1);
  EXPECT_EQ(dst.state_dict().tensors.at("state.0.exp_avg").dtype(), DType::F32);
}

TEST(Checkpoint, LoadErrorsLeaveTheOptimizerUntouched) {
  Tensor a = param({1.0, 2.0}), b = param({3.0});
  Adam opt({a, b}, AdamOptions(0.1));
  set_grad(a, {1, 1});
  set_grad(b, {1});
  opt.step();
  const OptimizerState good = opt.state_dict();

  Tensor c = param({1.0, 2.0}), d = param({3.0});
  Adam other({c, d}, AdamOptions(0.2));
  auto expect_rejected = [&](const OptimizerState& s, const std::string& text) {
    EXPECT_ERROR_HAS(other.load_state_dict(s), text);
    EXPECT_EQ(other.lr(), 0.2);
    EXPECT_EQ(other.step_count(0), 0);
  };
  SGD sgd({param({1.0})}, SGDOptions(0.1));
  expect_rejected(sgd.state_dict(), "Adam.load_state_dict: state was saved by \"SGD\", not Adam");

  Adam one({param({1.0, 2.0})}, AdamOptions(0.1));
  expect_rejected(one.state_dict(), "doesn't match the size of optimizer's group 0");

  Adam two_groups({param({1.0, 2.0})}, AdamOptions(0.1));
  two_groups.add_param_group({param({3.0})});
  expect_rejected(two_groups.state_dict(), "different number of parameter groups: 2 vs 1");

  OptimizerState s = good;
  s.tensors.erase("state.1.exp_avg_sq");
  expect_rejected(s, "missing tensor \"state.1.exp_avg_sq\"");

  s = good;
  s.tensors["state.1.exp_avg"] = zeros({2}, DType::F64);
  expect_rejected(s, "size mismatch for state.1.exp_avg: shape (2) in the state, parameter 1 is (1)");

  s = good;
  s.tensors["state.0.bogus"] = zeros({2}, DType::F64);
  expect_rejected(s, "unexpected tensor \"state.0.bogus\"");

  s = good;
  s.meta["param_groups"][0]["lr"] = -1.0;
  expect_rejected(s, "Adam: Invalid learning rate: -1");

  s = good;
  s.meta["param_groups"][0].erase("eps");
  expect_rejected(s, "loaded options need a number \"eps\"");

  s = good;
  s.meta["state"]["7"] = {{"step", 1}};
  expect_rejected(s, "state index 7 out of range for 2 parameters");

  s = good;
  s.meta["state"]["x"] = {{"step", 1}};
  expect_rejected(s, "bad state index \"x\"");

  // Amsgrad on in the state: its extra buffer is required.
  s = good;
  s.meta["param_groups"][0]["amsgrad"] = true;
  expect_rejected(s, "missing tensor \"state.0.max_exp_avg_sq\"");

  other.load_state_dict(good);
  EXPECT_EQ(other.lr(), 0.1);
}

// ==================================================================== clipping

TEST(ClipGrad, NormTwoOneAndInf) {
  Tensor a = param({0, 0}), b = param({0}, DType::F32);
  set_grad(a, {3, 4});
  set_grad(b, {12});
  double total = clip_grad_norm_({a, b}, 1.0);
  EXPECT_DOUBLE_EQ(total, 13.0);
  const double coef = 1.0 / (13.0 + 1e-6);
  EXPECT_NEAR(val(a.grad(), 0), 3 * coef, 1e-15);
  EXPECT_NEAR(val(a.grad(), 1), 4 * coef, 1e-15);
  EXPECT_NEAR(val(b.grad()), 12 * coef, 1e-7);

  set_grad(a, {3, -4});
  set_grad(b, {12});
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b}, 6.0, INFINITY), 12.0);
  EXPECT_NEAR(val(a.grad(), 1), -4 * 6 / (12 + 1e-6), 1e-15);

  set_grad(a, {3, -4});
  set_grad(b, {12});
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a, b}, 100.0, 1.0), 19.0);
  EXPECT_EQ(val(a.grad(), 1), -4.0);  // coefficient clamped to 1

  set_grad(a, {1, 1});
  EXPECT_NEAR(nn::utils::clip_grad_norm_({a}, 100.0, 3.0), std::cbrt(2.0), 1e-15);
}

TEST(ClipGrad, EdgeCases) {
  Tensor a = param({0, 0}), none = param({1});
  EXPECT_EQ(clip_grad_norm_({none}, 1.0), 0.0);
  set_grad(a, {NAN, 1});
  EXPECT_ERROR_HAS(clip_grad_norm_({a}, 1.0, 2.0, true), "clip_grad_norm_: the total norm of order 2");
  EXPECT_EQ(val(a.grad(), 1), 1.0);  // untouched on error
  EXPECT_TRUE(std::isnan(clip_grad_norm_({a}, 1.0)));
  EXPECT_TRUE(std::isnan(val(a.grad(), 1)));  // scaled by NaN, as PyTorch
  EXPECT_ERROR_HAS(clip_grad_norm_({a}, 1.0, 0.0), "clip_grad_norm_: norm_type must be > 0 or inf");
  EXPECT_ERROR_HAS(clip_grad_norm_({a}, 1.0, -INFINITY), "norm_type must be > 0 or inf");
}

TEST(ClipGrad, Value) {
  Tensor a = param({0, 0, 0, 0}), b = param({0}, DType::F32);
  set_grad(a, {-3, 0.5, 2, NAN});
  set_grad(b, {-0.25});
  clip_grad_value_({a, b}, 1.0);
  auto g = a.grad().to_vector<double>();
  EXPECT_EQ(g[0], -1.0);
  EXPECT_EQ(g[1], 0.5);
  EXPECT_EQ(g[2], 1.0);
  EXPECT_TRUE(std::isnan(g[3]));
  EXPECT_EQ(val(b.grad()), -0.25);
  EXPECT_ERROR_HAS(clip_grad_value_({a}, NAN), "clip_grad_value_: clip_value must not be NaN");
}

// ==================================================================== schedulers

namespace {
std::vector<double> lr_sequence(LRScheduler& s, Optimizer& opt, int n) {
  std::vector<double> out{opt.lr()};
  for (int i = 1; i < n; ++i) {
    s.step();
    out.push_back(opt.lr());
    EXPECT_EQ(s.get_last_lr()[0], opt.lr());
  }
  return out;
}
}  // namespace

TEST(Scheduler, StepLR) {
  SGD opt({param({1.0})}, SGDOptions(1.0));
  StepLR s(opt, 2, 0.5);
  EXPECT_EQ(s.last_epoch(), 0);
  EXPECT_EQ(lr_sequence(s, opt, 6), (std::vector<double>{1, 1, 0.5, 0.5, 0.25, 0.25}));
  EXPECT_EQ(s.last_epoch(), 5);
}

TEST(Scheduler, LinearLRDocExample) {
  SGD opt({param({1.0})}, SGDOptions(0.05));
  LinearLR s(opt, 0.5, 1.0, 4);
  auto lrs = lr_sequence(s, opt, 7);
  std::vector<double> want{0.025, 0.03125, 0.0375, 0.04375, 0.05, 0.05, 0.05};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(lrs[i], want[i], 1e-15) << i;
}

TEST(Scheduler, CosineMatchesClosedFormWithinPeriod) {
  SGD opt({param({1.0})}, SGDOptions(0.1));
  CosineAnnealingLR s(opt, 10, 0.001);
  auto lrs = lr_sequence(s, opt, 11);
  for (int t = 0; t <= 10; ++t)
    EXPECT_NEAR(lrs[t], 0.001 + (0.1 - 0.001) * (1 + std::cos(M_PI * t / 10)) / 2, 1e-12) << t;
}

TEST(Scheduler, LambdaAndNoam) {
  SGD opt({param({1.0})}, SGDOptions(2.0));
  opt.add_param_group({param({1.0})}, SGDOptions(4.0));
  LambdaLR s(opt, [](int64_t e) { return std::pow(0.5, static_cast<double>(e)); });
  s.step();
  s.step();
  EXPECT_EQ(s.get_last_lr(), (std::vector<double>{0.5, 1.0}));
  EXPECT_ERROR_HAS(LambdaLR(opt, std::vector<LambdaLR::Lambda>{[](int64_t) { return 1.0; }}),
                   "LambdaLR: expected 2 lr_lambdas (one per parameter group), but got 1");

  SGD o2({param({1.0})}, SGDOptions(1.0));
  NoamLR noam(o2, 512, 4000);
  const double scale = std::pow(512.0, -0.5);
  EXPECT_DOUBLE_EQ(o2.lr(), scale * 1 * std::pow(4000.0, -1.5));  // epoch 0 counts as 1
  for (int i = 0; i < 4000; ++i) noam.step();  // epoch 4000
  EXPECT_NEAR(o2.lr(), scale / std::sqrt(4000.0), 1e-15);  // the peak at warmup
  for (int i = 0; i < 4000; ++i) noam.step();
  EXPECT_NEAR(o2.lr(), scale / std::sqrt(8000.0), 1e-15);
}

TEST(Scheduler, BadArguments) {
  SGD opt({param({1.0})}, SGDOptions(1.0));
  EXPECT_ERROR_HAS(StepLR(opt, 0), "StepLR: step_size must be >= 1, got 0");
  EXPECT_ERROR_HAS(CosineAnnealingLR(opt, 0), "CosineAnnealingLR: T_max must be >= 1");
  EXPECT_ERROR_HAS(LinearLR(opt, 0.0), "LinearLR: Starting multiplicative factor expected to be in (0, 1]");
  EXPECT_ERROR_HAS(LinearLR(opt, 0.5, 1.5), "LinearLR: Ending multiplicative factor");
  EXPECT_ERROR_HAS(LinearLR(opt, 0.5, 1.0, 0), "LinearLR: total_iters must be >= 1");
  EXPECT_ERROR_HAS(NoamLR(opt, 0, 10), "NoamLR: d_model must be >= 1");
  EXPECT_ERROR_HAS(NoamLR(opt, 8, 0), "NoamLR: warmup_steps must be >= 1");
}

TEST(Scheduler, CheckpointResumesBitForBit) {
  auto run = [](bool resume) {
    SGD opt({param({1.0})}, SGDOptions(0.1).momentum(0.9));
    opt.add_param_group({param({1.0})}, SGDOptions(0.3));
    CosineAnnealingLR s(opt, 7, 0.01);
    for (int i = 0; i < 10; ++i) s.step();
    std::vector<double> lrs;
    if (!resume) {
      for (int i = 0; i < 10; ++i) {
        s.step();
        lrs.insert(lrs.end(), s.get_last_lr().begin(), s.get_last_lr().end());
      }
      return lrs;
    }
    OptimizerState os = opt.state_dict();
    nlohmann::json ss = nlohmann::json::parse(s.state_dict().dump());
    SGD opt2({param({1.0})}, SGDOptions(0.1).momentum(0.9));
    opt2.add_param_group({param({1.0})}, SGDOptions(0.3));
    CosineAnnealingLR s2(opt2, 3);  // other hyper-parameters: the state carries them
    opt2.load_state_dict(os);
    s2.load_state_dict(ss);
    EXPECT_EQ(s2.last_epoch(), 10);
    for (int i = 0; i < 10; ++i) {
      s2.step();
      lrs.insert(lrs.end(), s2.get_last_lr().begin(), s2.get_last_lr().end());
    }
    return lrs;
  };
  EXPECT_EQ(run(false), run(true));
}

TEST(Scheduler, LoadErrors) {
  SGD opt({param({1.0})}, SGDOptions(1.0));
  StepLR step(opt, 3);
  CosineAnnealingLR cos(opt, 5);
  EXPECT_ERROR_HAS(cos.load_state_dict(step.state_dict()),
                   "CosineAnnealingLR.load_state_dict: state was saved by \"StepLR\", not CosineAnnealingLR");
  auto s = step.state_dict();
  s["base_lrs"] = {1.0, 2.0};
  EXPECT_ERROR_HAS(step.load_state_dict(s), "state needs \"base_lrs\" with 1 numbers");
  s = step.state_dict();
  s["hparams"]["step_size"] = 0;
  EXPECT_ERROR_HAS(step.load_state_dict(s), "step_size must be >= 1");
  s = step.state_dict();
  s.erase("last_epoch");
  EXPECT_ERROR_HAS(step.load_state_dict(s), "state needs an integer \"last_epoch\"");
  NoamLR a(opt, 16, 10), b(opt, 32, 10);
  EXPECT_ERROR_HAS(b.load_state_dict(a.state_dict()), "NoamLR.load_state_dict: state has d_model=16");
}
