// seqnn/optim/optimizer.h: the base of SGD, Adam and AdamW (torch.optim.Optimizer).
//
// An optimizer holds parameter groups (each with its own options, as PyTorch's param_groups)
// and per-parameter state (a step count and named buffers such as "exp_avg"), indexed by the
// parameter's position over all groups in order, as in PyTorch's state_dict.
//
//   optim::Adam opt(model.parameters(), optim::AdamOptions(1e-3).weight_decay(0.01));
//   opt.add_param_group(head.parameters(), optim::AdamOptions(1e-4));  // a second group
//   loss.backward(); opt.step(); opt.zero_grad();
//
// step() updates parameter data in place (raw loops, no autograd) and skips parameters whose
// gradient is undefined. state_dict() snapshots everything needed to resume bit-for-bit:
//   tensors: "state.<i>.<buffer>" (copies)
//   meta:    {"optimizer": "Adam", "param_groups": [{"lr": .., ..., "params": [0, 1]}],
//             "state": {"<i>": {"step": n}}}
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/autograd.h"
#include "seqnn/tensor.h"

namespace seqnn::optim {

struct OptimizerState {
  std::map<std::string, Tensor> tensors;
  nlohmann::json meta;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Zeroes every gradient in place, or drops them (set_to_none). 1.13's default: false.
  void zero_grad(bool set_to_none = false);

  const std::string& name() const { return name_; }
  size_t num_param_groups() const { return groups_.size(); }
  const std::vector<Tensor>& params(size_t group = 0) const;
  // Every parameter, groups in order (the state indices).
  std::vector<Tensor> parameters() const;

  // Learning rate of group 0 / of every group (what schedulers change).
  double lr() const { return group_lr(0); }
  void set_lr(double lr);
  virtual double group_lr(size_t group) const = 0;
  virtual void set_group_lr(size_t group, double lr) = 0;

  // The number of updates parameter i (state index) has received (0 before the first).
  int64_t step_count(size_t param_index) const;

  OptimizerState state_dict() const;
  // Validates everything first (optimizer type, group count and sizes, options, state
  // indices, buffer names and shapes) and throws one Error without changing anything; then
  // replaces options and state. Buffers are converted to their parameter's dtype.
  void load_state_dict(const OptimizerState& state);

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}

  struct ParamState {
    int64_t step = 0;
    std::map<std::string, Tensor> buffers;
  };

  // Checks the parameters (floating, contiguous, leaf, defined, not already held) and appends
  // them as a new group.
  void add_params(const std::vector<Tensor>& params);
  // The state of parameter j of group g (created empty on first use).
  ParamState& state_of(size_t group, size_t j);
  size_t global_index(size_t group, size_t j) const;
  // A state buffer of parameter p, converted to p's dtype if needed (after Module::to()).
  static Tensor& buffer_like(ParamState& st, const std::string& name, const Tensor& p);

  // ---- hooks for the options of each optimizer
  virtual nlohmann::json group_options_json(size_t group) const = 0;
  // Validates loaded options (throwing Error) and returns the names of the state buffers a
  // parameter of such a group carries.
  virtual std::vector<std::string> check_group_options(const nlohmann::json& j) const = 0;
  // Commits options already checked.
  virtual void apply_group_options(size_t group, const nlohmann::json& j) = 0;

  std::string name_;
  std::vector<std::vector<Tensor>> groups_;
  std::map<size_t, ParamState> state_;
};

// ==================================================================== options plumbing
namespace detail {
// Reads a required field of loaded options, throwing Error("<op>: ...") when it is missing or
// has the wrong type.
double json_double(const nlohmann::json& j, const char* key, const std::string& op);
bool json_bool(const nlohmann::json& j, const char* key, const std::string& op);
}  // namespace detail

// The group bookkeeping shared by optimizers whose options are one class `Options` with
// lr()/lr(v), validate(op), to_json(), static from_json(j, op) and state_names().
template <class Options>
class OptimizerWith : public Optimizer {
 public:
  // Adds a group with its own options (validated), like torch's add_param_group.
  void add_param_group(const std::vector<Tensor>& params, const Options& options) {
    options.validate(name_);
    add_params(params);
    options_.push_back(options);
  }
  // Adds a group with the defaults given at construction.
  void add_param_group(const std::vector<Tensor>& params) { add_param_group(params, defaults_); }

  const Options& options(size_t group = 0) const {
    check(group < options_.size(), name_ + ".options", "group ", group, " out of range for ", options_.size(),
          " groups");
    return options_[group];
  }
  void set_options(size_t group, const Options& options) {
    this->options(group);
    options.validate(name_);
    options_[group] = options;
  }
  double group_lr(size_t group) const override { return options(group).lr(); }
  void set_group_lr(size_t group, double lr) override {
    Options o = options(group);
    o.lr(lr);
    set_options(group, o);
  }

 protected:
  OptimizerWith(std::string name, const std::vector<Tensor>& params, const Options& defaults)
      : Optimizer(std::move(name)), defaults_(defaults) {
    add_param_group(params, defaults);
  }
  // The walk every step() makes: f(p, grad (contiguous), state, group options) for each
  // parameter that has a gradient, group by group, with grad mode off.
  template <class F>
  void for_each_param_with_grad(F&& f) {
    NoGradGuard no_grad;
    for (size_t gi = 0; gi < groups_.size(); ++gi)
      for (size_t j = 0; j < groups_[gi].size(); ++j) {
        const Tensor& p = groups_[gi][j];
        const Tensor grad = p.grad();
        if (!grad.defined()) continue;
        f(p, grad.contiguous(), state_of(gi, j), options_[gi]);
      }
  }
  nlohmann::json group_options_json(size_t group) const override { return options_[group].to_json(); }
  std::vector<std::string> check_group_options(const nlohmann::json& j) const override {
    return Options::from_json(j, name_).state_names();
  }
  void apply_group_options(size_t group, const nlohmann::json& j) override {
    options_[group] = Options::from_json(j, name_);
  }

  Options defaults_;
  std::vector<Options> options_;
};

}  // namespace seqnn::optim
