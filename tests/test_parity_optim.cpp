// Optimizers, schedulers and gradient clipping against PyTorch 1.13.
//
// Optimizers: both sides start from the same parameters and see the same 20 gradients (drawn
// here, passed to Python as inputs; `p.grad = G[k]` then `opt.step()`); the parameters after
// 20 steps must agree. One parameter gets no gradient on every third step, so skipping is
// checked too.
#include <gtest/gtest.h>

#include <cmath>

#include "common/torch_oracle.h"
#include "seqnn/optim/optim.h"
#include "seqnn/random.h"

using namespace seqnn;
using namespace seqnn::optim;
using namespace seqnn::testutil;

namespace {

constexpr int kSteps = 20;
const std::vector<Shape> kShapes{{3, 4}, {5}, {1, 1}};

// Python: the same loop over the stacked gradients G0, G1, G2 (each (20, *shape)).
const char* kOptimizerLoop = R"(
ps = [P0.detach().clone().requires_grad_(True), P1.detach().clone().requires_grad_(True),
      P2.detach().clone().requires_grad_(True)]
Gs = [G0, G1, G2]
opt = getattr(torch.optim, args['optimizer'])(ps, **args['options'])
for k in range(20):
    for i in range(3):
        ps[i].grad = None if (i == 1 and k % 3 == 2) else Gs[i][k].clone()
    opt.step()
out = [p.detach() for p in ps]
)";

struct OptCase {
  std::string optimizer;
  nlohmann::json options;  // PyTorch's keyword arguments
  std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)> make;
};

std::vector<OptCase> optimizer_cases() {
  std::vector<OptCase> cs;
  auto sgd = [&](nlohmann::json o, SGDOptions so) {
    cs.push_back({"SGD", o, [so](const std::vector<Tensor>& p) { return std::make_unique<SGD>(p, so); }});
  };
  sgd({{"lr", 0.1}}, SGDOptions(0.1));
  sgd({{"lr", 0.05}, {"momentum", 0.9}}, SGDOptions(0.05).momentum(0.9));
  sgd({{"lr", 0.05}, {"momentum", 0.9}, {"nesterov", true}}, SGDOptions(0.05).momentum(0.9).nesterov(true));
  sgd({{"lr", 0.05}, {"momentum", 0.8}, {"dampening", 0.3}}, SGDOptions(0.05).momentum(0.8).dampening(0.3));
  sgd({{"lr", 0.05}, {"momentum", 0.5}, {"weight_decay", 0.1}}, SGDOptions(0.05).momentum(0.5).weight_decay(0.1));
  sgd({{"lr", 0.1}, {"weight_decay", 0.2}, {"maximize", true}}, SGDOptions(0.1).weight_decay(0.2).maximize(true));
  sgd({{"lr", 0.05}, {"momentum", 0.7}, {"nesterov", true}, {"weight_decay", 0.05}, {"maximize", true}},
      SGDOptions(0.05).momentum(0.7).nesterov(true).weight_decay(0.05).maximize(true));
  auto adam = [&](nlohmann::json o, AdamOptions ao) {
    cs.push_back({"Adam", o, [ao](const std::vector<Tensor>& p) { return std::make_unique<Adam>(p, ao); }});
  };
  adam({{"lr", 0.01}}, AdamOptions(0.01));
  adam({{"lr", 0.01}, {"weight_decay", 0.1}}, AdamOptions(0.01).weight_decay(0.1));
  adam({{"lr", 0.02}, {"amsgrad", true}, {"betas", {0.8, 0.9}}}, AdamOptions(0.02).amsgrad(true).betas({0.8, 0.9}));
  adam({{"lr", 0.01}, {"eps", 1e-3}, {"maximize", true}}, AdamOptions(0.01).eps(1e-3).maximize(true));
  auto adamw = [&](nlohmann::json o, AdamWOptions ao) {
    cs.push_back({"AdamW", o, [ao](const std::vector<Tensor>& p) { return std::make_unique<AdamW>(p, ao); }});
  };
  adamw({{"lr", 0.01}}, AdamWOptions(0.01));
  adamw({{"lr", 0.01}, {"weight_decay", 0.0}, {"maximize", true}}, AdamWOptions(0.01).weight_decay(0.0).maximize(true));
  adamw({{"lr", 0.01}, {"weight_decay", 0.3}, {"amsgrad", true}}, AdamWOptions(0.01).weight_decay(0.3).amsgrad(true));
  return cs;
}

}  // namespace

TEST(ParityOptim, TwentyStepsMatchPyTorch) {
  auto cases = optimizer_cases();
  std::vector<OracleCase> oracle;
  std::vector<std::vector<Tensor>> results;
  Generator gen(123);
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& c : cases) {
      std::vector<Tensor> init, params, stacked;
      for (const auto& s : kShapes) {
        Tensor p = randn(s, dt, &gen);
        init.push_back(p);
        params.push_back(p.clone().requires_grad_());
        Shape gs = s;
        gs.insert(gs.begin(), kSteps);
        stacked.push_back(randn(gs, dt, &gen));
      }
      auto opt = c.make(params);
      for (int k = 0; k < kSteps; ++k) {
        for (size_t i = 0; i < params.size(); ++i) {
          // Row k of the stacked gradients, copied (contiguous).
          const int64_t n = params[i].numel();
          Tensor g = from_blob(static_cast<const char*>(stacked[i].raw_data()) + k * n * dtype_size(dt),
                               params[i].shape(), dt);
          params[i].set_grad(i == 1 && k % 3 == 2 ? Tensor() : g);
        }
        opt->step();
      }
      results.push_back(params);
      OracleCase oc;
      oc.code = kOptimizerLoop;
      oc.inputs = {{"P0", init[0]}, {"P1", init[1]}, {"P2", init[2]},
                   {"G0", stacked[0]}, {"G1", stacked[1]}, {"G2", stacked[2]}};
      oc.args = {{"optimizer", c.optimizer}, {"options", c.options}};
      oracle.push_back(oc);
    }
  }
  auto ref = run_torch(oracle);
  ASSERT_EQ(ref.size(), results.size());
  for (size_t j = 0; j < ref.size(); ++j) {
    const auto& c = cases[j % cases.size()];
    const bool f32 = results[j][0].dtype() == DType::F32;
    const std::string what = c.optimizer + " " + c.options.dump() + (f32 ? " float32" : " float64");
    for (size_t i = 0; i < 3; ++i)
      expect_close(results[j][i], ref[j].outs[i], f32 ? 1e-4 : 1e-10, what + " param " + std::to_string(i));
  }
}

// ==================================================================== schedulers

TEST(ParityOptim, SchedulerLrSequences) {
  struct SchedCase {
    std::string python;  // builds `sched` from `opt`
    std::function<std::unique_ptr<LRScheduler>(Optimizer&)> make;
  };
  std::vector<SchedCase> cases{
      {"torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)",
       [](Optimizer& o) { return std::make_unique<StepLR>(o, 3, 0.5); }},
      {"torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)",
       [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 10, 0.001); }},
      {"torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)",
       [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, 7); }},
      {"torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=8)",
       [](Optimizer& o) { return std::make_unique<LinearLR>(o, 0.25, 1.0, 8); }},
      {"torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.1, total_iters=10)",
       [](Optimizer& o) { return std::make_unique<LinearLR>(o, 1.0, 0.1, 10); }},
      {"torch.optim.lr_scheduler.LinearLR(opt)", [](Optimizer& o) { return std::make_unique<LinearLR>(o); }},
      {"torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.95 ** e)",
       [](Optimizer& o) {
         return std::make_unique<LambdaLR>(o, [](int64_t e) { return std::pow(0.95, static_cast<double>(e)); });
       }},
      // Noam as LambdaLR in torch, with step 0 counted as 1.
      {"torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 64 ** -0.5 * min(max(e, 1) ** -0.5, max(e, 1) * 10 ** -1.5))",
       [](Optimizer& o) { return std::make_unique<NoamLR>(o, 64, 10); }},
  };
  std::vector<OracleCase> oracle;
  std::vector<Tensor> ours;
  for (const auto& c : cases) {
    Tensor a = zeros({1}).requires_grad_(), b = zeros({2}).requires_grad_();
    SGD opt({a}, SGDOptions(0.1));
    opt.add_param_group({b}, SGDOptions(0.5));
    auto sched = c.make(opt);
    std::vector<double> lrs;
    for (int k = 0; k < 30; ++k) {
      if (k > 0) {
        opt.step();
        sched->step();
      }
      lrs.push_back(opt.group_lr(0));
      lrs.push_back(opt.group_lr(1));
      EXPECT_EQ(sched->get_last_lr(), (std::vector<double>{opt.group_lr(0), opt.group_lr(1)}));
    }
    ours.push_back(from_vector(lrs, {30, 2}));
    OracleCase oc;
    oc.code = std::string("a = torch.zeros(1, requires_grad=True)\nb = torch.zeros(2, requires_grad=True)\n"
                          "opt = torch.optim.SGD([{'params': [a]}, {'params': [b], 'lr': 0.5}], lr=0.1)\n"
                          "sched = ") +
              c.python +
              "\nlrs = []\nfor k in range(30):\n"
              "    if k > 0:\n        opt.step()\n        sched.step()\n"
              "    lrs.append([g['lr'] for g in opt.param_groups])\n"
              "out = torch.tensor(lrs, dtype=torch.float64)\n";
    oracle.push_back(oc);
  }
  auto ref = run_torch(oracle);
  for (size_t j = 0; j < cases.size(); ++j) expect_close(ours[j], ref[j].outs[0], 1e-12, cases[j].python);
}

// ==================================================================== clipping

TEST(ParityOptim, ClipGradNormAndValue) {
  struct ClipCase {
    std::string kind;  // "norm" or "value"
    double limit;
    double norm_type;
  };
  std::vector<ClipCase> cases{{"norm", 0.5, 2.0},  {"norm", 1000.0, 2.0},   {"norm", 0.5, INFINITY},
                              {"norm", 1.5, 1.0},  {"norm", 0.7, 3.0},      {"value", 0.3, 0},
                              {"value", 10.0, 0}};
  std::vector<OracleCase> oracle;
  std::vector<std::pair<double, std::vector<Tensor>>> ours;
  Generator gen(7);
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& c : cases) {
      std::vector<Tensor> grads{randn({4, 3}, dt, &gen), randn({7}, dt, &gen), randn({1}, dt, &gen)};
      std::vector<Tensor> params;
      for (const auto& g : grads) {
        Tensor p = zeros(g.shape(), dt).requires_grad_();
        p.set_grad(g.clone());
        params.push_back(p);
      }
      double total = 0;
      if (c.kind == "norm") {
        total = clip_grad_norm_(params, c.limit, c.norm_type);
      } else {
        clip_grad_value_(params, c.limit);
      }
      std::vector<Tensor> clipped;
      for (const auto& p : params) clipped.push_back(p.grad());
      ours.emplace_back(total, clipped);
      OracleCase oc;
      oc.inputs = {{"G0", grads[0]}, {"G1", grads[1]}, {"G2", grads[2]}};
      oc.args = {{"limit", c.limit}, {"norm_type", std::isinf(c.norm_type) ? "inf" : std::to_string(c.norm_type)}};
      oc.code = std::string("ps = [torch.zeros_like(g, requires_grad=True) for g in (G0, G1, G2)]\n"
                            "for p, g in zip(ps, (G0, G1, G2)):\n    p.grad = g.clone()\n") +
                (c.kind == "norm"
                     ? "total = torch.nn.utils.clip_grad_norm_(ps, args['limit'], norm_type=float(args['norm_type']))\n"
                     : "torch.nn.utils.clip_grad_value_(ps, args['limit'])\ntotal = torch.tensor(0.0)\n") +
                "out = [total.double(), ps[0].grad, ps[1].grad, ps[2].grad]\n";
      oracle.push_back(oc);
    }
  }
  auto ref = run_torch(oracle);
  for (size_t j = 0; j < ref.size(); ++j) {
    const auto& c = cases[j % cases.size()];
    const bool f32 = ours[j].second[0].dtype() == DType::F32;
    const std::string what = c.kind + " limit " + std::to_string(c.limit) + " p " + std::to_string(c.norm_type) +
                             (f32 ? " float32" : " float64");
    const double tol = f32 ? 1e-5 : 1e-12;
    expect_close(scalar_tensor(ours[j].first, DType::F64), ref[j].outs[0], tol, what + " total norm");
    for (size_t i = 0; i < 3; ++i) expect_close(ours[j].second[i], ref[j].outs[i + 1], tol, what + " grad");
  }
}
