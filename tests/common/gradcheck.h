// tests/common/gradcheck.h: finite-difference gradient checks (tier 2 of the test plan).
//
//   gradcheck("tanh", [](const TensorList& in) { return tanh(in[0]); }, {randn({3,4}, DType::F64)});
//
// The inputs are made float64 leaves that require grad. The check draws a random cotangent w
// of the output's shape, computes the analytic gradient of <w, f(x)> by backward(), and the
// numeric one by central differences ((f(x+e) - f(x-e)) / 2e) element by element, and expects
// |analytic - numeric| <= atol + rtol * |numeric| everywhere.
#pragma once

#include <functional>
#include <string>

#include "seqnn/ops.h"

namespace seqnn::testutil {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
  // Indices of inputs not to check (e.g. integer targets passed as inputs).
  std::vector<size_t> skip;
};

// Adds a GoogleTest failure per mismatching element (up to a few) and returns true on success.
bool gradcheck(const std::string& what, const std::function<Tensor(const TensorList&)>& f, TensorList inputs,
               const GradcheckOptions& opt = GradcheckOptions());

}  // namespace seqnn::testutil
