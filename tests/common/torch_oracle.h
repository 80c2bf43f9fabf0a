// tests/common/torch_oracle.h: live parity with PyTorch (tier 4 of the test plan).
//
// A test describes each case as Python code over named input tensors; the oracle runs all cases
// of a call in one /usr/bin/python3 process (tests/parity/oracle.py, PyTorch 1.13), and returns
// the outputs, the gradients of the inputs that require grad, and any extra named tensors.
//
//   OracleCase c;
//   c.code = "out = torch.nn.functional.softmax(x, dim=1)";
//   c.inputs = {{"x", x}};             // x.requires_grad() -> its gradient comes back
//   c.grad_outs = {gy};                // cotangent for `out` (omit for a scalar out)
//   auto r = run_torch({c})[0];        // r.outs[0], r.grads["x"], r.extra["name"]
//
// In the code, `out` is a tensor or a tuple/list of tensors; `extra` (a dict of tensors) may be
// filled too. Names torch, F (torch.nn.functional), nn, math are in scope; `args` holds the
// case's JSON args. Float tensors keep their dtype on the Python side. A case that carries a
// module's state (OracleCase::state, e.g. from Module::state_dict()) can call load_state(m):
// it loads that state into the torch module strictly, checks that torch lists the same keys in
// the same order, and returns m.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/autograd.h"

namespace seqnn::testutil {

struct OracleCase {
  std::string code;
  std::vector<std::pair<std::string, Tensor>> inputs;
  TensorList grad_outs;         // one per output; empty = no backward (or scalar out: ones)
  nlohmann::json args = nlohmann::json::object();
  std::vector<std::pair<std::string, Tensor>> state;  // for load_state(m), in state_dict order
};

struct OracleResult {
  std::vector<Tensor> outs;
  std::map<std::string, Tensor> grads;
  std::map<std::string, Tensor> extra;
};

// Runs every case in one Python process. Fails the test (and throws) when Python or torch is
// missing: the README's test command installs python3-torch.
std::vector<OracleResult> run_torch(const std::vector<OracleCase>& cases);

// max|actual - expected| <= tol * max(max|expected|, floor): the error relative to the output's
// scale. Also checks shapes and finiteness agreement. Reports `what` on failure.
void expect_close(const Tensor& actual, const Tensor& expected, double tol, const std::string& what,
                  double floor = 1e-6);

// JSON <-> tensor (exact: values written with 17 significant digits, non-finite as strings).
nlohmann::json tensor_to_json(const Tensor& t);
Tensor tensor_from_json(const nlohmann::json& j);

}  // namespace seqnn::testutil
