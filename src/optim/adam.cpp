// optim::Adam and optim::AdamW: PyTorch 1.13's _single_tensor_adam(w) on raw parameter data.
//
// The per-step scalars are computed in double as Python does (beta ** step, lr / bc1,
// sqrt(bc2)) and cast to the parameter's type for the elementwise pass, as ATen does with a
// Python scalar operand.
#include "seqnn/optim/adam.h"

#include <cmath>

#include "kernels/parallel.h"
#include "ops/dispatch.h"
#include "seqnn/autograd.h"

namespace seqnn::optim {

// ==================================================================== options

void AdamOptions::validate(const std::string& op) const {
  check(lr_ >= 0.0, op, "Invalid learning rate: ", lr_);
  check(eps_ >= 0.0, op, "Invalid epsilon value: ", eps_);
  check(betas_.first >= 0.0 && betas_.first < 1.0, op, "Invalid beta parameter at index 0: ", betas_.first);
  check(betas_.second >= 0.0 && betas_.second < 1.0, op, "Invalid beta parameter at index 1: ", betas_.second);
  check(weight_decay_ >= 0.0, op, "Invalid weight_decay value: ", weight_decay_);
}

nlohmann::json AdamOptions::to_json() const {
  return {{"lr", lr_},
          {"betas", {betas_.first, betas_.second}},
          {"eps", eps_},
          {"weight_decay", weight_decay_},
          {"amsgrad", amsgrad_},
          {"maximize", maximize_}};
}

AdamOptions AdamOptions::from_json(const nlohmann::json& j, const std::string& op) {
  using namespace detail;
  AdamOptions o(json_double(j, "lr", op));
  check(j.contains("betas") && j.at("betas").is_array() && j.at("betas").size() == 2 && j.at("betas")[0].is_number() &&
            j.at("betas")[1].is_number(),
        op, "loaded options need \"betas\": [beta1, beta2]");
  o.betas({j.at("betas")[0].get<double>(), j.at("betas")[1].get<double>()})
      .eps(json_double(j, "eps", op))
      .weight_decay(json_double(j, "weight_decay", op))
      .amsgrad(json_bool(j, "amsgrad", op))
      .maximize(json_bool(j, "maximize", op));
  o.validate(op);
  return o;
}

std::vector<std::string> AdamOptions::state_names() const {
  if (amsgrad_) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

// ==================================================================== update

namespace {

constexpr int64_t kGrain = 1 << 16;

struct AdamScalars {
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;              // lr / (1 - beta1^t)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  bool l2, decoupled, amsgrad, maximize;
};

// p, g, m (exp_avg), v (exp_avg_sq): (n); vmax: (n), used with Amsgrad. The flags are template
// parameters so the inner loop has no branches.
template <class T, bool L2, bool Decoupled, bool Amsgrad>
void adam_loop(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamScalars& s) {
  const T b1 = static_cast<T>(s.beta1), b2 = static_cast<T>(s.beta2);
  const T one_b1 = static_cast<T>(1.0 - s.beta1), one_b2 = static_cast<T>(1.0 - s.beta2);
  const T wd = static_cast<T>(s.weight_decay), shrink = static_cast<T>(1.0 - s.lr * s.weight_decay);
  const T bc2 = static_cast<T>(s.bias_correction2_sqrt), eps = static_cast<T>(s.eps);
  const T neg_step = static_cast<T>(-s.step_size), sign = s.maximize ? T(-1) : T(1);
  kernels::parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      T gi = sign * g[i];
      if constexpr (L2) gi = gi + wd * p[i];
      T pi = p[i];
      if constexpr (Decoupled) pi = pi * shrink;
      const T mi = m[i] * b1 + one_b1 * gi;
      const T vi = v[i] * b2 + one_b2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      T second = vi;
      if constexpr (Amsgrad) {
        const T a = vmax[i];
        second = (a < vi || vi != vi) ? vi : a;  // torch.maximum: NaN propagates
        vmax[i] = second;
      }
      const T denom = std::sqrt(second) / bc2 + eps;
      p[i] = pi + neg_step * (mi / denom);
    }
  });
}

template <class T>
void adam_update(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamScalars& s) {
  auto pick = [&]<bool L2, bool Decoupled>() {
    if (s.amsgrad) return adam_loop<T, L2, Decoupled, true>(p, g, m, v, vmax, n, s);
    return adam_loop<T, L2, Decoupled, false>(p, g, m, v, vmax, n, s);
  };
  if (s.l2) return pick.template operator()<true, false>();
  if (s.decoupled) return pick.template operator()<false, true>();
  pick.template operator()<false, false>();
}

// One parameter's update; m, v (and vmax with amsgrad) are its state buffers, `step` its
// count after this update.
void adam_param(const Tensor& p, const Tensor& grad, const Tensor& m, const Tensor& v, const Tensor& vmax,
                int64_t step, const AdamOptions& o, bool decoupled, const char* op) {
  AdamScalars s{};
  s.lr = o.lr();
  s.beta1 = o.betas().first;
  s.beta2 = o.betas().second;
  s.eps = o.eps();
  s.weight_decay = o.weight_decay();
  const double t = static_cast<double>(step);
  s.step_size = o.lr() / (1.0 - std::pow(s.beta1, t));
  s.bias_correction2_sqrt = std::sqrt(1.0 - std::pow(s.beta2, t));
  s.l2 = !decoupled && o.weight_decay() != 0.0;
  s.decoupled = decoupled;
  s.amsgrad = o.amsgrad();
  s.maximize = o.maximize();
  dispatch_float(p.dtype(), op, [&]<class T>() {
    adam_update<T>(p.data_ptr<T>(), grad.data_ptr<T>(), m.data_ptr<T>(), v.data_ptr<T>(),
                   vmax.defined() ? vmax.data_ptr<T>() : nullptr, p.numel(), s);
  });
}

}  // namespace

// ==================================================================== Adam / AdamW

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& options) : OptimizerWith("Adam", params, options) {}

void Adam::step() {
  for_each_param_with_grad([](const Tensor& p, const Tensor& grad, ParamState& st, const AdamOptions& o) {
    Tensor m = buffer_like(st, "exp_avg", p), v = buffer_like(st, "exp_avg_sq", p);
    Tensor vmax = o.amsgrad() ? buffer_like(st, "max_exp_avg_sq", p) : Tensor();
    adam_param(p, grad, m, v, vmax, ++st.step, o, /*decoupled=*/false, "Adam.step");
  });
}

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : OptimizerWith("AdamW", params, options) {}

void AdamW::step() {
  for_each_param_with_grad([](const Tensor& p, const Tensor& grad, ParamState& st, const AdamWOptions& o) {
    Tensor m = buffer_like(st, "exp_avg", p), v = buffer_like(st, "exp_avg_sq", p);
    Tensor vmax = o.amsgrad() ? buffer_like(st, "max_exp_avg_sq", p) : Tensor();
    adam_param(p, grad, m, v, vmax, ++st.step, o, /*decoupled=*/true, "AdamW.step");
  });
}

}  // namespace seqnn::optim
