// tests/common/parity_batch.h: many parity cases, one Python process.
//
//   ParityBatch p(seed);                      // seed of p.gen (cotangents; inputs may draw from it too)
//   p.add("softmax dim1", "out = torch.softmax(x, 1)", {{"x", randn({3, 4}, DType::F32, &p.gen)}},
//         [](const TensorList& in) { return softmax(in[0], 1); });          // one output, or
//   p.add("split", "out = torch.split(x, 2)", {{"x", x}},
//         [](const TensorList& in) { return split(in[0], 2); });            // a TensorList
//   p.add("ce", "out = F.cross_entropy(x, t, weight=w)", {{"x", x}, {"t", t}, {"w", w}}, f, args,
//         /*no_grad=*/{"w"});                                             // w: no gradient compared
//   p.check();   // runs PyTorch once and compares everything
//
// add() makes leaf copies of `inputs` (floating ones require grad unless named in `no_grad`), runs
// f on them, and backpropagates random cotangents (drawn from p.gen) into every output that
// requires grad; PyTorch runs `code` over the same inputs and cotangents (`args` as JSON).
// check() compares, case by case: the output count; each output's dtype; floating outputs with
// expect_close at 1e-5, other outputs (indices, masks) exactly; and, when seqnn ran a backward,
// the gradient of every input that requires grad at 1e-4. A floating output that does not require
// grad while some input does fails the case (a differentiable op lost its graph).
#pragma once

#include <algorithm>
#include <functional>

#include <gtest/gtest.h>

#include "common/torch_oracle.h"
#include "seqnn/random.h"

namespace seqnn::testutil {

struct ParityBatch {
  using Inputs = std::vector<std::pair<std::string, Tensor>>;

  explicit ParityBatch(uint64_t seed = 99) : gen(seed) {}

  Generator gen;
  std::vector<OracleCase> cases;
  std::vector<std::string> names;
  std::vector<TensorList> outs;
  std::vector<Inputs> grads;  // seqnn's input gradients, compared by name

  inline void add(const std::string& name, const std::string& code, Inputs inputs,
                  const std::function<TensorList(const TensorList&)>& f,
                  nlohmann::json args = nlohmann::json::object(), const std::vector<std::string>& no_grad = {}) {
    TensorList leaves;
    bool any_grad = false;
    for (auto& [n, t] : inputs) {
      t = t.detach().clone();
      if (t.is_floating_point() && std::find(no_grad.begin(), no_grad.end(), n) == no_grad.end()) {
        t.requires_grad_();
        any_grad = true;
      }
      leaves.push_back(t);
    }
    const TensorList o = f(leaves);
    // Cotangents are positional: a non-differentiable output before a differentiable one gets a
    // zero placeholder (PyTorch skips outputs that do not require grad), trailing ones none.
    TensorList roots, groots, gouts;
    for (const Tensor& t : o) {
      if (any_grad) EXPECT_TRUE(!t.is_floating_point() || t.requires_grad()) << name << ": output lost its graph";
      if (!t.requires_grad()) {
        gouts.push_back(zeros(t.shape(), t.dtype()));
        continue;
      }
      roots.push_back(t);
      groots.push_back(randn(t.shape(), t.dtype(), &gen));
      gouts.push_back(groots.back());
    }
    while (!gouts.empty() && !o[gouts.size() - 1].requires_grad()) gouts.pop_back();
    Inputs g;
    if (!roots.empty()) {
      autograd::backward(roots, groots);
      for (const auto& [n, t] : inputs)
        if (t.requires_grad()) g.emplace_back(n, t.grad());
    }
    OracleCase c;
    c.code = code;
    c.inputs = std::move(inputs);
    c.grad_outs = std::move(gouts);
    c.args = std::move(args);
    cases.push_back(std::move(c));
    names.push_back(name);
    outs.push_back(o);
    grads.push_back(std::move(g));
  }

  // Single-output convenience.
  inline void add(const std::string& name, const std::string& code, Inputs inputs,
                  const std::function<Tensor(const TensorList&)>& f,
                  nlohmann::json args = nlohmann::json::object(), const std::vector<std::string>& no_grad = {}) {
    add(name, code, std::move(inputs), [&f](const TensorList& in) { return TensorList{f(in)}; }, std::move(args),
        no_grad);
  }

  inline void check() {
    const std::vector<OracleResult> res = run_torch(cases);
    ASSERT_EQ(res.size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
      ASSERT_EQ(res[i].outs.size(), outs[i].size()) << names[i];
      for (size_t k = 0; k < outs[i].size(); ++k) {
        const Tensor &a = outs[i][k], &e = res[i].outs[k];
        const std::string what = names[i] + " out " + std::to_string(k);
        EXPECT_EQ(a.dtype(), e.dtype()) << what;
        if (a.is_floating_point()) {
          expect_close(a, e, 1e-5, what);
        } else {
          EXPECT_EQ(a.shape(), e.shape()) << what;
          EXPECT_EQ(a.to_vector<double>(), e.to_vector<double>()) << what;
        }
      }
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
