// tests/common/module_gradcheck.h: finite differences through a module's parameters.
//
//   module_gradcheck("mha", m, [&] { return m.forward(x, x, x).output; }, {x});
//
// The module (float64) and the listed inputs (float64 leaves requiring grad) are perturbed in
// place one element at a time; the analytic gradient of <w, f()> (w a fixed random cotangent)
// from backward() is compared with the central difference (f(p+e) - f(p-e)) / 2e, element by
// element, |analytic - numeric| <= atol + rtol * |numeric|. Up to `max_elems` elements per tensor
// are checked, evenly spaced.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "seqnn/nn/module.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"

namespace seqnn::testutil {

inline bool module_gradcheck(const std::string& what, nn::Module& m, const std::function<Tensor()>& f,
                             const TensorList& inputs = {}, int64_t max_elems = 48, double eps = 1e-6,
                             double atol = 1e-6, double rtol = 1e-4) {
  Generator gen(1234);
  std::vector<std::pair<std::string, Tensor>> targets;
  for (const auto& [n, p] : m.named_parameters()) targets.emplace_back(n, p);
  for (size_t i = 0; i < inputs.size(); ++i) targets.emplace_back("input" + std::to_string(i), inputs[i]);
  for (auto& [n, t] : targets) {
    EXPECT_EQ(t.dtype(), DType::F64) << what << ": " << n << " must be float64";
    t.zero_grad(true);
  }
  const Tensor out0 = f();
  const Tensor w = randn(out0.shape(), DType::F64, &gen);
  sum(out0 * w).backward();
  auto loss = [&] {
    NoGradGuard ng;
    return sum(f() * w).item();
  };
  bool ok = true;
  int failures = 0;
  for (auto& [n, t] : targets) {
    const int64_t numel = t.numel();
    if (numel == 0) continue;
    const Tensor g = t.grad();
    std::vector<double> ga = g.defined() ? g.to_vector<double>() : std::vector<double>(numel, 0.0);
    double* p = t.data_ptr<double>();
    const int64_t stride = std::max<int64_t>(1, numel / max_elems);
    for (int64_t i = 0; i < numel; i += stride) {
      const double saved = p[i];
      p[i] = saved + eps;
      const double lp = loss();
      p[i] = saved - eps;
      const double lm = loss();
      p[i] = saved;
      const double num = (lp - lm) / (2 * eps);
      if (!(std::fabs(ga[i] - num) <= atol + rtol * std::fabs(num))) {
        ok = false;
        if (failures++ < 6)
          ADD_FAILURE() << what << ": d" << n << "[" << i << "] analytic " << ga[i] << " numeric " << num;
      }
    }
  }
  return ok;
}

}  // namespace seqnn::testutil
