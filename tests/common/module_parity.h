// tests/common/module_parity.h: one module case against its torch.nn twin.
//
//   ModuleCase c{what, module, {{"q", q}, ...}, outs};       // ours ran forward already
//   gys = backward_with_random_cotangents(c.outs, gen);        // ours: backward of sum <gy_i, out_i>
//   oracle.push_back(module_oracle_case(c, gys, code, args, {{"am", mask}}));
//   ... run_torch(oracle) ... compare_module_case(c, ref[i]);
// In `code`, load(m) is the oracle's strict, order-checking load_state, and finish(m, outs)
// runs backward with GY0, GY1, ... (when given) and reports every parameter's gradient as
// extra['d_<name>'] and each named input's as extra['d<input>'] (names absent from the case
// are skipped). compare_module_case checks the
// outputs at 1e-5 and every gradient at 1e-4 (relative to each tensor's scale).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>

#include "common/torch_oracle.h"
#include "seqnn/nn/module.h"
#include "seqnn/ops.h"

namespace seqnn::testutil {

inline const char* kModuleParityPrelude = R"(
load = load_state

def finish(m, outs, names=()):
    outs = [o for o in outs if o is not None]
    if 'GY0' in globals():
        torch.autograd.backward(outs, [globals()['GY%d' % i] for i in range(len(outs))])
        for k, p in m.named_parameters():
            extra['d_' + k] = p.grad if p.grad is not None else torch.zeros_like(p)
        for n in names:
            if n in globals() and globals()[n] is not None and globals()[n].grad is not None:
                extra['d' + n] = globals()[n].grad
    return [o.detach() for o in outs]
)";

struct ModuleCase {
  std::string what;
  std::shared_ptr<nn::Module> module;
  std::vector<std::pair<std::string, Tensor>> inputs;  // ours; those requiring grad are compared
  TensorList outs;
  bool backward = true;
};

// Our backward of sum_i <gy_i, out_i>; returns the cotangents.
inline TensorList backward_with_random_cotangents(const TensorList& outs, Generator& gen) {
  TensorList gys;
  Tensor loss;
  for (const auto& o : outs) {
    gys.push_back(randn(o.shape(), o.dtype(), &gen));
    Tensor term = sum(o * gys.back());
    loss = loss.defined() ? loss + term : term;
  }
  loss.backward();
  return gys;
}

inline OracleCase module_oracle_case(const ModuleCase& c, const TensorList& gys, const std::string& code,
                                     const nlohmann::json& args,
                                     const std::vector<std::pair<std::string, Tensor>>& more = {}) {
  OracleCase oc;
  oc.code = std::string(kModuleParityPrelude) + code;
  for (const auto& [k, t] : c.inputs) oc.inputs.push_back({k, t});
  for (const auto& [k, t] : more) oc.inputs.push_back({k, t});
  for (size_t i = 0; i < gys.size(); ++i) oc.inputs.push_back({"GY" + std::to_string(i), gys[i]});
  for (const auto& [k, t] : c.module->state_dict()) oc.state.push_back({k, t});
  oc.args = args;
  return oc;
}

inline void compare_module_case(const ModuleCase& c, const OracleResult& r) {
  ASSERT_EQ(r.outs.size(), c.outs.size()) << c.what;
  for (size_t i = 0; i < c.outs.size(); ++i) expect_close(c.outs[i], r.outs[i], 1e-5, c.what + " out" + std::to_string(i));
  if (!c.backward) return;
  for (const auto& [name, p] : c.module->named_parameters()) {
    auto it = r.extra.find("d_" + name);
    ASSERT_TRUE(it != r.extra.end()) << c.what << ": torch has no gradient for " << name;
    ASSERT_TRUE(p.grad().defined()) << c.what << ": no gradient for " << name;
    expect_close(p.grad(), it->second, 1e-4, c.what + " d" + name);
  }
  for (const auto& [k, t] : c.inputs) {
    if (!t.requires_grad()) continue;
    auto it = r.extra.find("d" + k);
    ASSERT_TRUE(it != r.extra.end()) << c.what << ": torch has no gradient for " << k;
    ASSERT_TRUE(t.grad().defined()) << c.what << ": no gradient for " << k;
    expect_close(t.grad(), it->second, 1e-4, c.what + " d" + k);
  }
}

struct ParityRng {
  std::mt19937 eng;
  explicit ParityRng(uint32_t seed) : eng(seed) {}
  int64_t uni(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(eng); }
  bool coin(double p = 0.5) { return std::bernoulli_distribution(p)(eng); }
  // Mostly small sizes, now and then up to `big`.
  int64_t size(int64_t big) { return coin(0.85) ? uni(1, 9) : uni(10, big); }
};

}  // namespace seqnn::testutil
