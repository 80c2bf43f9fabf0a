// seqnn/optim/adam.h: Adam and AdamW, torch.optim.Adam / AdamW 1.13 (single-tensor path).
//
//   t = t + 1;  g = maximize ? -grad : grad
//   Adam:  g = g + weight_decay * p             (L2 penalty, if weight_decay != 0)
//   AdamW: p = p * (1 - lr * weight_decay)      (decoupled decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   v_max = max(v_max, v)                        (amsgrad; then v_max replaces v below)
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p = p - (lr / (1 - beta1^t)) * m / denom
#pragma once

#include <utility>

#include "seqnn/optim/optimizer.h"

namespace seqnn::optim {

// The options of Adam and AdamW (they differ only in the default weight_decay and its use).
class AdamOptions {
 public:
  AdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT
  AdamOptions& lr(double v) { lr_ = v; return *this; }
  AdamOptions& betas(std::pair<double, double> v) { betas_ = v; return *this; }
  AdamOptions& eps(double v) { eps_ = v; return *this; }
  AdamOptions& weight_decay(double v) { weight_decay_ = v; return *this; }
  AdamOptions& amsgrad(bool v) { amsgrad_ = v; return *this; }
  AdamOptions& maximize(bool v) { maximize_ = v; return *this; }
  double lr() const { return lr_; }
  const std::pair<double, double>& betas() const { return betas_; }
  double eps() const { return eps_; }
  double weight_decay() const { return weight_decay_; }
  bool amsgrad() const { return amsgrad_; }
  bool maximize() const { return maximize_; }

  // PyTorch's checks: lr >= 0, eps >= 0, 0 <= beta < 1, weight_decay >= 0.
  void validate(const std::string& op) const;
  nlohmann::json to_json() const;
  static AdamOptions from_json(const nlohmann::json& j, const std::string& op);
  // exp_avg, exp_avg_sq (+ max_exp_avg_sq with amsgrad).
  std::vector<std::string> state_names() const;

 protected:
  double lr_;
  std::pair<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
  double weight_decay_ = 0.0;
  bool amsgrad_ = false;
  bool maximize_ = false;
};

// AdamW's options: AdamOptions with weight_decay defaulting to 1e-2 (PyTorch).
class AdamWOptions : public AdamOptions {
 public:
  AdamWOptions(double lr = 1e-3) : AdamOptions(lr) { weight_decay_ = 1e-2; }  // NOLINT
  AdamWOptions(const AdamOptions& o) : AdamOptions(o) {}                      // NOLINT
  AdamWOptions& lr(double v) { lr_ = v; return *this; }
  AdamWOptions& betas(std::pair<double, double> v) { betas_ = v; return *this; }
  AdamWOptions& eps(double v) { eps_ = v; return *this; }
  AdamWOptions& weight_decay(double v) { weight_decay_ = v; return *this; }
  AdamWOptions& amsgrad(bool v) { amsgrad_ = v; return *this; }
  AdamWOptions& maximize(bool v) { maximize_ = v; return *this; }
  using AdamOptions::betas;
  using AdamOptions::eps;
  using AdamOptions::lr;
  using AdamOptions::weight_decay;
  using AdamOptions::amsgrad;
  using AdamOptions::maximize;
  static AdamWOptions from_json(const nlohmann::json& j, const std::string& op) {
    return AdamWOptions(AdamOptions::from_json(j, op));
  }
};

class Adam : public OptimizerWith<AdamOptions> {
 public:
  Adam(const std::vector<Tensor>& params, const AdamOptions& options = AdamOptions());
  void step() override;
};

class AdamW : public OptimizerWith<AdamWOptions> {
 public:
  AdamW(const std::vector<Tensor>& params, const AdamWOptions& options = AdamWOptions());
  void step() override;
};

}  // namespace seqnn::optim
