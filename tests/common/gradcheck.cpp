#include "common/gradcheck.h"

#include <gtest/gtest.h>

#include <cmath>

namespace seqnn::testutil {

namespace {
double dot(const Tensor& a, const std::vector<double>& w) {
  std::vector<double> v = a.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i] * w[i];
  return s;
}
}  // namespace

bool gradcheck(const std::string& what, const std::function<Tensor(const TensorList&)>& f, TensorList inputs,
               const GradcheckOptions& opt) {
  auto skipped = [&](size_t i) { return std::find(opt.skip.begin(), opt.skip.end(), i) != opt.skip.end(); };
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (skipped(i) || !inputs[i].defined()) continue;
    inputs[i] = inputs[i].to(DType::F64).contiguous().detach().clone();
    inputs[i].requires_grad_(true);
  }
  Tensor out = f(inputs);
  EXPECT_EQ(out.dtype(), DType::F64) << what << ": gradcheck needs a float64 output";
  Generator gen(1234);
  Tensor w = randn(out.shape(), DType::F64, &gen);
  const std::vector<double> wv = w.to_vector<double>();
  out.backward(w);

  bool ok = true;
  int reported = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (skipped(i) || !inputs[i].defined()) continue;
    Tensor g = inputs[i].grad();
    std::vector<double> analytic = g.defined() ? g.to_vector<double>() : std::vector<double>(inputs[i].numel(), 0.0);
    double* p = inputs[i].data_ptr<double>();
    for (int64_t k = 0; k < inputs[i].numel(); ++k) {
      const double orig = p[k];
      double fp, fm;
      {
        NoGradGuard ng;
        p[k] = orig + opt.eps;
        fp = dot(f(inputs), wv);
        p[k] = orig - opt.eps;
        fm = dot(f(inputs), wv);
        p[k] = orig;
      }
      const double numeric = (fp - fm) / (2 * opt.eps);
      const double err = std::fabs(analytic[k] - numeric);
      if (!(err <= opt.atol + opt.rtol * std::fabs(numeric))) {
        ok = false;
        if (reported++ < 5)
          ADD_FAILURE() << what << ": input " << i << " element " << k << " analytic " << analytic[k] << " numeric "
                        << numeric << " (err " << err << ")";
      }
    }
  }
  return ok;
}

}  // namespace seqnn::testutil
