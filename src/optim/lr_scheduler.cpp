// Learning-rate schedulers: PyTorch 1.13's recursive formulas (see the header).
#include "seqnn/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace seqnn::optim {

// ==================================================================== base

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name)
    : optimizer_(optimizer), name_(std::move(name)), base_lrs_(group_lrs()) {}

std::vector<double> LRScheduler::group_lrs() const {
  std::vector<double> out;
  for (size_t g = 0; g < optimizer_.num_param_groups(); ++g) out.push_back(optimizer_.group_lr(g));
  return out;
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  step();
}

void LRScheduler::step() {
  check(optimizer_.num_param_groups() == base_lrs_.size(), name_ + ".step", "the optimizer has ",
        optimizer_.num_param_groups(), " parameter groups, the scheduler was made for ", base_lrs_.size());
  ++step_count_;
  ++last_epoch_;
  std::vector<double> lrs = get_lr();
  for (size_t g = 0; g < lrs.size(); ++g) optimizer_.set_group_lr(g, lrs[g]);
  last_lr_ = group_lrs();
}

nlohmann::json LRScheduler::state_dict() const {
  return {{"scheduler", name_},      {"last_epoch", last_epoch_}, {"_step_count", step_count_},
          {"base_lrs", base_lrs_},   {"_last_lr", last_lr_},      {"hparams", hparams()}};
}

void LRScheduler::load_state_dict(const nlohmann::json& j) {
  const std::string op = name_ + ".load_state_dict";
  check(j.is_object() && j.contains("scheduler") && j.at("scheduler") == name_, op, "state was saved by ",
        j.is_object() && j.contains("scheduler") ? j.at("scheduler").dump() : std::string("an unknown scheduler"),
        ", not ", name_);
  for (const char* k : {"last_epoch", "_step_count"})
    check(j.contains(k) && j.at(k).is_number_integer(), op, "state needs an integer \"", k, "\"");
  const size_t groups = base_lrs_.size();
  for (const char* k : {"base_lrs", "_last_lr"}) {
    check(j.contains(k) && j.at(k).is_array() && j.at(k).size() == groups, op, "state needs \"", k, "\" with ",
          groups, " numbers (one per parameter group)");
    for (const auto& v : j.at(k)) check(v.is_number(), op, "\"", k, "\" must hold numbers, got ", v.dump());
  }
  check(j.at("last_epoch").get<int64_t>() >= 0, op, "last_epoch must be >= 0, got ", j.at("last_epoch").dump());
  check(j.contains("hparams") && j.at("hparams").is_object(), op, "state needs an object \"hparams\"");
  check_hparams(j.at("hparams"));

  last_epoch_ = j.at("last_epoch").get<int64_t>();
  step_count_ = j.at("_step_count").get<int64_t>();
  base_lrs_ = j.at("base_lrs").get<std::vector<double>>();
  last_lr_ = j.at("_last_lr").get<std::vector<double>>();
  load_hparams(j.at("hparams"));
}

namespace {
// A required hyper-parameter of a loaded state.
double hp_double(const nlohmann::json& j, const char* key, const std::string& op) {
  check(j.contains(key) && j.at(key).is_number(), op, "state needs a number hparams.", key);
  return j.at(key).get<double>();
}
int64_t hp_int(const nlohmann::json& j, const char* key, const std::string& op) {
  check(j.contains(key) && j.at(key).is_number_integer(), op, "state needs an integer hparams.", key);
  return j.at(key).get<int64_t>();
}
// Python's a % m for m > 0 (never negative).
int64_t py_mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }
}  // namespace

// ==================================================================== StepLR

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  check(step_size >= 1, "StepLR", "step_size must be >= 1, got ", step_size);
  initial_step();
}

std::vector<double> StepLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return lrs;
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

nlohmann::json StepLR::hparams() const { return {{"step_size", step_size_}, {"gamma", gamma_}}; }
void StepLR::check_hparams(const nlohmann::json& j) const {
  check(hp_int(j, "step_size", "StepLR.load_state_dict") >= 1, "StepLR.load_state_dict", "step_size must be >= 1");
  hp_double(j, "gamma", "StepLR.load_state_dict");
}
void StepLR::load_hparams(const nlohmann::json& j) {
  step_size_ = j.at("step_size").get<int64_t>();
  gamma_ = j.at("gamma").get<double>();
}

// ==================================================================== CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), T_max_(T_max), eta_min_(eta_min) {
  check(T_max >= 1, "CosineAnnealingLR", "T_max must be >= 1, got ", T_max);
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() {
  const double pi = std::numbers::pi, T = static_cast<double>(T_max_), t = static_cast<double>(last_epoch_);
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) return lrs;
  if (py_mod(last_epoch_ - 1 - T_max_, 2 * T_max_) == 0) {
    // The restart branch: climb back by the amplitude of one step.
    for (size_t g = 0; g < lrs.size(); ++g) lrs[g] = lrs[g] + (base_lrs_[g] - eta_min_) * (1 - std::cos(pi / T)) / 2;
    return lrs;
  }
  for (double& lr : lrs)
    lr = (1 + std::cos(pi * t / T)) / (1 + std::cos(pi * (t - 1) / T)) * (lr - eta_min_) + eta_min_;
  return lrs;
}

nlohmann::json CosineAnnealingLR::hparams() const { return {{"T_max", T_max_}, {"eta_min", eta_min_}}; }
void CosineAnnealingLR::check_hparams(const nlohmann::json& j) const {
  const std::string op = "CosineAnnealingLR.load_state_dict";
  check(hp_int(j, "T_max", op) >= 1, op, "T_max must be >= 1");
  hp_double(j, "eta_min", op);
}
void CosineAnnealingLR::load_hparams(const nlohmann::json& j) {
  T_max_ = j.at("T_max").get<int64_t>();
  eta_min_ = j.at("eta_min").get<double>();
}

// ==================================================================== LinearLR

namespace {
void check_linear(double start, double end, int64_t total, const std::string& op) {
  // PyTorch 1.13 accepts start_factor 0, which then divides by zero at the first step.
  check(start > 0.0 && start <= 1.0, op, "Starting multiplicative factor expected to be in (0, 1], got ", start);
  check(end >= 0.0 && end <= 1.0, op, "Ending multiplicative factor expected to be between 0 and 1, got ", end);
  check(total >= 1, op, "total_iters must be >= 1, got ", total);
}
}  // namespace

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(optimizer, "LinearLR"), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
  check_linear(start_factor, end_factor, total_iters, "LinearLR");
  initial_step();
}

std::vector<double> LinearLR::get_lr() {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) {
    for (double& lr : lrs) lr = lr * start_factor_;
    return lrs;
  }
  if (last_epoch_ > total_iters_) return lrs;
  const double d = end_factor_ - start_factor_;
  const double f = 1. + d / (static_cast<double>(total_iters_) * start_factor_ + static_cast<double>(last_epoch_ - 1) * d);
  for (double& lr : lrs) lr = lr * f;
  return lrs;
}

nlohmann::json LinearLR::hparams() const {
  return {{"start_factor", start_factor_}, {"end_factor", end_factor_}, {"total_iters", total_iters_}};
}
void LinearLR::check_hparams(const nlohmann::json& j) const {
  const std::string op = "LinearLR.load_state_dict";
  check_linear(hp_double(j, "start_factor", op), hp_double(j, "end_factor", op), hp_int(j, "total_iters", op), op);
}
void LinearLR::load_hparams(const nlohmann::json& j) {
  start_factor_ = j.at("start_factor").get<double>();
  end_factor_ = j.at("end_factor").get<double>();
  total_iters_ = j.at("total_iters").get<int64_t>();
}

// ==================================================================== LambdaLR and NoamLR

LambdaLR::LambdaLR(Optimizer& optimizer, Lambda lambda)
    : LambdaLR(optimizer, std::vector<Lambda>(optimizer.num_param_groups(), lambda), "LambdaLR") {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Lambda> lambdas)
    : LambdaLR(optimizer, std::move(lambdas), "LambdaLR") {}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Lambda> lambdas, std::string name)
    : LRScheduler(optimizer, std::move(name)), lambdas_(std::move(lambdas)) {
  check(lambdas_.size() == optimizer.num_param_groups(), name_, "expected ", optimizer.num_param_groups(),
        " lr_lambdas (one per parameter group), but got ", lambdas_.size());
  for (size_t g = 0; g < lambdas_.size(); ++g) check(static_cast<bool>(lambdas_[g]), name_, "lr_lambda ", g, " is empty");
  initial_step();
}

std::vector<double> LambdaLR::get_lr() {
  std::vector<double> lrs(base_lrs_.size());
  for (size_t g = 0; g < lrs.size(); ++g) lrs[g] = base_lrs_[g] * lambdas_[g](last_epoch_);
  return lrs;
}

double NoamLR::factor(int64_t epoch, int64_t d_model, int64_t warmup_steps) {
  const double t = static_cast<double>(std::max<int64_t>(epoch, 1));
  return std::pow(static_cast<double>(d_model), -0.5) *
         std::min(std::pow(t, -0.5), t * std::pow(static_cast<double>(warmup_steps), -1.5));
}

namespace {
LambdaLR::Lambda noam_lambda(int64_t d_model, int64_t warmup) {
  check(d_model >= 1, "NoamLR", "d_model must be >= 1, got ", d_model);
  check(warmup >= 1, "NoamLR", "warmup_steps must be >= 1, got ", warmup);
  return [d_model, warmup](int64_t e) { return NoamLR::factor(e, d_model, warmup); };
}
}  // namespace

NoamLR::NoamLR(Optimizer& optimizer, int64_t d_model, int64_t warmup_steps)
    : LambdaLR(optimizer, std::vector<Lambda>(optimizer.num_param_groups(), noam_lambda(d_model, warmup_steps)),
               "NoamLR"),
      d_model_(d_model),
      warmup_steps_(warmup_steps) {}

nlohmann::json NoamLR::hparams() const { return {{"d_model", d_model_}, {"warmup_steps", warmup_steps_}}; }
void NoamLR::check_hparams(const nlohmann::json& j) const {
  const std::string op = "NoamLR.load_state_dict";
  const int64_t d = hp_int(j, "d_model", op), w = hp_int(j, "warmup_steps", op);
  check(d == d_model_ && w == warmup_steps_, op, "state has d_model=", d, " warmup_steps=", w,
        ", this scheduler d_model=", d_model_, " warmup_steps=", warmup_steps_);
}

}  // namespace seqnn::optim
