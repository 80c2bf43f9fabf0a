// tests/common/parity_batch.h: many parity cases, one Python process.
//
//   ParityBatch p;
//   p.add("softmax dim1", "out = torch.softmax(x, 1)", {{"x", randn({3, 4})}},
//         [](const TensorList& in) { return TensorList{softmax(in[0], 1)}; });
//   p.check();   // runs PyTorch once, compares outputs (1e-5) and input gradients (1e-4)
//
// seqnn runs `f` on leaves made from `inputs` (floating ones require grad) with random output
// cotangents; PyTorch runs `code` with the same inputs and cotangents.
#pragma once

#include <functional>

#include <gtest/gtest.h>

#include "common/torch_oracle.h"
#include "seqnn/random.h"

namespace seqnn::testutil {

struct ParityBatch {
  std::vector<OracleCase> cases;
  std::vector<std::string> names;
  std::vector<TensorList> outs;
  std::vector<std::vector<std::pair<std::string, Tensor>>> grads;
  Generator gen{99};

  inline void add(const std::string& name, const std::string& code,
           std::vector<std::pair<std::string, Tensor>> inputs, const std::function<TensorList(const TensorList&)>& f,
           nlohmann::json args = nlohmann::json::object()) {
    TensorList leaves;
    for (auto& [n, t] : inputs) {
      t = t.detach().clone();
      if (t.is_floating_point()) t.requires_grad_();
      leaves.push_back(t);
    }
    TensorList o = f(leaves), gouts;
    for (const Tensor& t : o) gouts.push_back(randn(t.shape(), t.dtype(), &gen));
    autograd::backward(o, gouts);
    std::vector<std::pair<std::string, Tensor>> g;
    for (const auto& [n, t] : inputs)
      if (t.is_floating_point()) g.emplace_back(n, t.grad());
    OracleCase c;
    c.code = code;
    c.inputs = inputs;
    c.grad_outs = gouts;
    c.args = std::move(args);
    cases.push_back(c);
    names.push_back(name);
    outs.push_back(o);
    grads.push_back(g);
  }

  inline void check() {
    const std::vector<OracleResult> res = run_torch(cases);
    ASSERT_EQ(res.size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      ASSERT_EQ(res[i].outs.size(), outs[i].size()) << names[i];
      for (size_t k = 0; k < outs[i].size(); ++k)
        expect_close(outs[i][k], res[i].outs[k], 1e-5, names[i] + " out " + std::to_string(k));
      for (const auto& [n, g] : grads[i]) {
        auto it = res[i].grads.find(n);
        ASSERT_TRUE(it != res[i].grads.end()) << names[i] << ": no torch grad for " << n;
        // Torch leaves .grad None when no output depends on the input; seqnn has zeros or none.
        if (!it->second.defined()) {
          if (g.defined())
            for (double v : g.to_vector<double>()) EXPECT_EQ(v, 0.0) << names[i] << " d" << n;
          continue;
        }
        expect_close(g, it->second, 1e-4, names[i] + " d" + n);
      }
    }
  }
};

}  // namespace seqnn::testutil
