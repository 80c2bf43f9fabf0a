// seqnn/optim/lr_scheduler.h: learning-rate schedules, torch.optim.lr_scheduler (1.13).
//
// Like PyTorch, a scheduler takes the optimizer's current group lrs as base_lrs and makes its
// first step at construction (last_epoch -1 -> 0); call step() once per epoch/iteration AFTER
// optimizer.step(). The recursive ("chainable") formulas are PyTorch's, so the lr sequences
// agree value for value:
//   StepLR:            lr_t = lr_{t-1} * gamma        when t > 0 and t % step_size == 0
//   CosineAnnealingLR: lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T))
//                      (and PyTorch's restart branch when (t - 1 - T) % 2T == 0)
//   LinearLR:          lr_0 = base * start;  lr_t = lr_{t-1} * (1 + (end - start) /
//                      (total * start + (t - 1) * (end - start)))  for 0 < t <= total
//   LambdaLR:          lr_t = base * f(t)
//   NoamLR:            LambdaLR with f(t) = d_model^-0.5 * min(t^-0.5, t * warmup^-1.5), t = max(t, 1)
//
// Checkpoints: state_dict() is JSON with every number needed to continue exactly (last_epoch,
// step count, base and last lrs, hyper-parameters); restore the optimizer's own state_dict
// too, which carries the current lrs the recursive formulas continue from.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/optim/optimizer.h"

namespace seqnn::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // last_epoch += 1, then sets every group's lr to get_lr().
  void step();
  // The lrs set by the last step(), one per group.
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  const std::string& name() const { return name_; }

  nlohmann::json state_dict() const;
  // Validates (scheduler type, group count, fields) and then restores; throws Error without
  // changing anything on bad input. The optimizer's lrs are not touched.
  void load_state_dict(const nlohmann::json& state);

 protected:
  LRScheduler(Optimizer& optimizer, std::string name);
  // Derived constructors call this last (get_lr is virtual): PyTorch's _initial_step.
  void initial_step();
  virtual std::vector<double> get_lr() = 0;
  // Hyper-parameters in the state (validated by load_hparams before anything changes).
  virtual nlohmann::json hparams() const { return nlohmann::json::object(); }
  virtual void check_hparams(const nlohmann::json& j) const {}
  virtual void load_hparams(const nlohmann::json& j) {}
  // The current lr of each group.
  std::vector<double> group_lrs() const;

  Optimizer& optimizer_;
  std::string name_;
  std::vector<double> base_lrs_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  std::vector<double> last_lr_;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  std::vector<double> get_lr() override;
  nlohmann::json hparams() const override;
  void check_hparams(const nlohmann::json& j) const override;
  void load_hparams(const nlohmann::json& j) override;

 private:
  int64_t step_size_;
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 protected:
  std::vector<double> get_lr() override;
  nlohmann::json hparams() const override;
  void check_hparams(const nlohmann::json& j) const override;
  void load_hparams(const nlohmann::json& j) override;

 private:
  int64_t T_max_;
  double eta_min_;
};

class LinearLR : public LRScheduler {
 public:
  // start_factor in (0, 1], end_factor in [0, 1], total_iters >= 1.
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3.0, double end_factor = 1.0, int64_t total_iters = 5);

 protected:
  std::vector<double> get_lr() override;
  nlohmann::json hparams() const override;
  void check_hparams(const nlohmann::json& j) const override;
  void load_hparams(const nlohmann::json& j) override;

 private:
  double start_factor_;
  double end_factor_;
  int64_t total_iters_;
};

class LambdaLR : public LRScheduler {
 public:
  using Lambda = std::function<double(int64_t epoch)>;
  // One factor function for every group, or one per group.
  LambdaLR(Optimizer& optimizer, Lambda lambda);
  LambdaLR(Optimizer& optimizer, std::vector<Lambda> lambdas);

 protected:
  LambdaLR(Optimizer& optimizer, std::vector<Lambda> lambdas, std::string name);
  std::vector<double> get_lr() override;

 private:
  std::vector<Lambda> lambdas_;
};

// The Transformer ("Noam") schedule: linear warmup, then inverse square root decay.
class NoamLR : public LambdaLR {
 public:
  NoamLR(Optimizer& optimizer, int64_t d_model, int64_t warmup_steps);
  // d_model^-0.5 * min(t^-0.5, t * warmup^-1.5) with t = max(epoch, 1).
  static double factor(int64_t epoch, int64_t d_model, int64_t warmup_steps);

 protected:
  nlohmann::json hparams() const override;
  void check_hparams(const nlohmann::json& j) const override;

 private:
  int64_t d_model_;
  int64_t warmup_steps_;
};

}  // namespace seqnn::optim
