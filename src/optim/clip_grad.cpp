// clip_grad_norm_ / clip_grad_value_ on raw gradient data.
#include "seqnn/optim/clip_grad.h"

#include <cmath>

#include "ops/dispatch.h"
#include "seqnn/autograd.h"

namespace seqnn::optim {

namespace {

// The gradients to work on, each made contiguous (a non-contiguous one is replaced by a
// contiguous copy first, so the in-place scaling lands in .grad).
std::vector<Tensor> contiguous_grads(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const auto& p : params) {
    if (!p.defined()) continue;
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!g.is_contiguous()) {
      g = g.contiguous();
      p.set_grad(g);
    }
    out.push_back(g);
  }
  return out;
}

}  // namespace

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  const char* op = "clip_grad_norm_";
  check(std::isinf(norm_type) ? norm_type > 0 : norm_type > 0.0, op, "norm_type must be > 0 or inf, got ", norm_type);
  NoGradGuard no_grad;
  std::vector<Tensor> grads = contiguous_grads(params);
  if (grads.empty()) return 0.0;

  // total = (sum_i |g_i|^p)^(1/p) over all elements (the norm of the per-tensor norms), or max |g_i|.
  const bool inf = std::isinf(norm_type);
  double acc = 0.0;
  for (const auto& g : grads) {
    dispatch_float(g.dtype(), op, [&]<class T>() {
      const T* x = g.data_ptr<T>();
      const int64_t n = g.numel();
      if (inf) {
        for (int64_t i = 0; i < n; ++i) {
          const double a = std::abs(static_cast<double>(x[i]));
          acc = (a > acc || a != a) ? a : acc;  // NaN propagates, like max()
        }
      } else if (norm_type == 2.0) {
        for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      } else if (norm_type == 1.0) {
        for (int64_t i = 0; i < n; ++i) acc += std::abs(static_cast<double>(x[i]));
      } else {
        for (int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(static_cast<double>(x[i])), norm_type);
      }
    });
  }
  const double total = inf ? acc : (norm_type == 2.0 ? std::sqrt(acc) : std::pow(acc, 1.0 / norm_type));
  check(!error_if_nonfinite || std::isfinite(total), op, "the total norm of order ", norm_type,
        " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and scale "
        "the gradients by the non-finite norm anyway, set `error_if_nonfinite=false`");

  // coef = min(max_norm / (total + 1e-6), 1); NaN stays NaN (std::min would return the NaN's partner).
  const double raw = max_norm / (total + 1e-6);
  const double coef = raw != raw ? raw : std::min(raw, 1.0);
  for (const auto& g : grads) {
    dispatch_float(g.dtype(), op, [&]<class T>() {
      T* x = g.data_ptr<T>();
      const T c = static_cast<T>(coef);
      for (int64_t i = 0, n = g.numel(); i < n; ++i) x[i] = x[i] * c;
    });
  }
  return total;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  const char* op = "clip_grad_value_";
  check(!std::isnan(clip_value), op, "clip_value must not be NaN");
  NoGradGuard no_grad;
  for (const auto& g : contiguous_grads(params)) {
    dispatch_float(g.dtype(), op, [&]<class T>() {
      T* x = g.data_ptr<T>();
      const T hi = static_cast<T>(clip_value), lo = -hi;
      // torch.clamp_(min=lo, max=hi) = min(max(x, lo), hi): NaN stays NaN; a negative clip_value
      // (lo > hi) gives hi everywhere, as in PyTorch.
      for (int64_t i = 0, n = g.numel(); i < n; ++i) {
        const T y = x[i] < lo ? lo : x[i];
        x[i] = y > hi ? hi : y;
      }
    });
  }
}

}  // namespace seqnn::optim
