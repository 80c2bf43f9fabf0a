// seqnn/optim/sgd.h: stochastic gradient descent with momentum, torch.optim.SGD (1.13).
//
//   g = maximize ? -grad : grad
//   g = g + weight_decay * p                          (if weight_decay != 0)
//   b = g                     at the first step        (if momentum != 0)
//   b = momentum * b + (1 - dampening) * g  after
//   g = nesterov ? g + momentum * b : b
//   p = p - lr * g
#pragma once

#include "seqnn/optim/optimizer.h"

namespace seqnn::optim {

class SGDOptions {
 public:
  SGDOptions(double lr) : lr_(lr) {}  // NOLINT: SGDOptions(0.1)
  SGDOptions& lr(double v) { lr_ = v; return *this; }
  SGDOptions& momentum(double v) { momentum_ = v; return *this; }
  SGDOptions& dampening(double v) { dampening_ = v; return *this; }
  SGDOptions& weight_decay(double v) { weight_decay_ = v; return *this; }
  SGDOptions& nesterov(bool v) { nesterov_ = v; return *this; }
  SGDOptions& maximize(bool v) { maximize_ = v; return *this; }
  double lr() const { return lr_; }
  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  double weight_decay() const { return weight_decay_; }
  bool nesterov() const { return nesterov_; }
  bool maximize() const { return maximize_; }

  // Error("<op>: Invalid learning rate: -1") etc., PyTorch's checks; nesterov needs
  // momentum > 0 and dampening == 0.
  void validate(const std::string& op) const;
  nlohmann::json to_json() const;
  static SGDOptions from_json(const nlohmann::json& j, const std::string& op);
  // {"momentum_buffer"} when momentum != 0.
  std::vector<std::string> state_names() const;

 private:
  double lr_;
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  double weight_decay_ = 0.0;
  bool nesterov_ = false;
  bool maximize_ = false;
};

class SGD : public OptimizerWith<SGDOptions> {
 public:
  SGD(const std::vector<Tensor>& params, const SGDOptions& options);
  void step() override;
};

}  // namespace seqnn::optim
