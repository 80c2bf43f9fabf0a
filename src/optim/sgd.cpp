// optim::SGD: PyTorch 1.13's single-tensor SGD update, on raw parameter data.
#include "seqnn/optim/sgd.h"

#include "kernels/parallel.h"
#include "ops/dispatch.h"
#include "seqnn/autograd.h"

namespace seqnn::optim {

// ==================================================================== options

void SGDOptions::validate(const std::string& op) const {
  check(lr_ >= 0.0, op, "Invalid learning rate: ", lr_);
  check(momentum_ >= 0.0, op, "Invalid momentum value: ", momentum_);
  check(weight_decay_ >= 0.0, op, "Invalid weight_decay value: ", weight_decay_);
  check(!nesterov_ || (momentum_ > 0.0 && dampening_ == 0.0), op,
        "Nesterov momentum requires a momentum and zero dampening, got momentum=", momentum_,
        " dampening=", dampening_);
}

nlohmann::json SGDOptions::to_json() const {
  return {{"lr", lr_},           {"momentum", momentum_}, {"dampening", dampening_}, {"weight_decay", weight_decay_},
          {"nesterov", nesterov_}, {"maximize", maximize_}};
}

SGDOptions SGDOptions::from_json(const nlohmann::json& j, const std::string& op) {
  using namespace detail;
  SGDOptions o(json_double(j, "lr", op));
  o.momentum(json_double(j, "momentum", op))
      .dampening(json_double(j, "dampening", op))
      .weight_decay(json_double(j, "weight_decay", op))
      .nesterov(json_bool(j, "nesterov", op))
      .maximize(json_bool(j, "maximize", op));
  o.validate(op);
  return o;
}

std::vector<std::string> SGDOptions::state_names() const {
  if (momentum_ != 0.0) return {"momentum_buffer"};
  return {};
}

// ==================================================================== update

namespace {

constexpr int64_t kGrain = 1 << 16;

// p: (n)  g: (n)  buf: (n) (unused without Momentum). The flags are template parameters so
// the inner loop has no branches and vectorises. First: buf is initialised to d_p.
template <class T, bool Decay, bool Momentum, bool First, bool Nesterov>
void sgd_loop(T* p, const T* g, T* buf, int64_t n, T lr, T wd, T mom, T keep, T sign) {
  kernels::parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      T d = sign * g[i];
      if constexpr (Decay) d = d + wd * p[i];
      if constexpr (Momentum) {
        const T m = First ? d : buf[i] * mom + keep * d;
        buf[i] = m;
        d = Nesterov ? d + mom * m : m;
      }
      p[i] = p[i] - lr * d;
    }
  });
}

template <class T>
void sgd_update(T* p, const T* g, T* buf, int64_t n, const SGDOptions& o, bool first) {
  const T lr = static_cast<T>(o.lr()), wd = static_cast<T>(o.weight_decay());
  const T mom = static_cast<T>(o.momentum()), keep = static_cast<T>(1.0 - o.dampening());
  const T sign = o.maximize() ? T(-1) : T(1);
  const bool decay = o.weight_decay() != 0.0, nesterov = o.nesterov();
  // The 2 x (1 + 2 x 2) flag combinations that can occur.
  auto with_decay = [&]<bool Decay>() {
    if (!buf) return sgd_loop<T, Decay, false, false, false>(p, g, buf, n, lr, wd, mom, keep, sign);
    if (first) {
      if (nesterov) return sgd_loop<T, Decay, true, true, true>(p, g, buf, n, lr, wd, mom, keep, sign);
      return sgd_loop<T, Decay, true, true, false>(p, g, buf, n, lr, wd, mom, keep, sign);
    }
    if (nesterov) return sgd_loop<T, Decay, true, false, true>(p, g, buf, n, lr, wd, mom, keep, sign);
    return sgd_loop<T, Decay, true, false, false>(p, g, buf, n, lr, wd, mom, keep, sign);
  };
  if (decay) {
    with_decay.template operator()<true>();
  } else {
    with_decay.template operator()<false>();
  }
}

}  // namespace

SGD::SGD(const std::vector<Tensor>& params, const SGDOptions& options) : OptimizerWith("SGD", params, options) {}

void SGD::step() {
  for_each_param_with_grad([](const Tensor& p, const Tensor& grad, ParamState& st, const SGDOptions& o) {
    Tensor buf;
    bool first = false;
    if (o.momentum() != 0.0) {
      first = st.buffers.count("momentum_buffer") == 0;
      buf = buffer_like(st, "momentum_buffer", p);
    }
    ++st.step;
    dispatch_float(p.dtype(), "SGD.step", [&]<class T>() {
      sgd_update<T>(p.data_ptr<T>(), grad.data_ptr<T>(), buf.defined() ? buf.data_ptr<T>() : nullptr, p.numel(), o,
                    first);
    });
  });
}

}  // namespace seqnn::optim
