// Views and their gradients against PyTorch (also a smoke test of the oracle itself).
#include <gtest/gtest.h>

#include "common/torch_oracle.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

TEST(ParityViews, PermuteExpandReshape) {
  Generator gen(3);
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = randn({2, 3, 4}, dt, &gen).requires_grad_();
    Tensor y = reshape(expand(permute(x, {2, 0, 1}), {5, 4, 2, 3}), {20, -1});
    Tensor gy = randn(y.shape(), dt, &gen);
    y.backward(gy);
    OracleCase c;
    c.code = "out = x.permute(2, 0, 1).expand(5, 4, 2, 3).reshape(20, -1)";
    c.inputs = {{"x", x}};
    c.grad_outs = {gy};
    auto r = run_torch({c})[0];
    expect_close(y, r.outs[0], 1e-6, "output");
    expect_close(x.grad(), r.grads["x"], 1e-6, "dx");
  }
}
