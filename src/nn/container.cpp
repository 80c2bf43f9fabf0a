// nn::Sequential: chains single-tensor modules; children named "0", "1", ...
#include "seqnn/nn/container.h"

namespace seqnn::nn {

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) : Module("Sequential") {
  for (const auto& m : modules) push_back_impl(m);
}

void Sequential::push_back_impl(std::shared_ptr<Module> module) {
  check(module != nullptr, "Sequential.push_back", "module ", modules_.size(), " is null");
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

std::shared_ptr<Module> Sequential::operator[](int64_t i) const {
  const int64_t n = static_cast<int64_t>(modules_.size());
  check(i >= -n && i < n, "Sequential[]", "index ", i, " out of range for ", n, " modules");
  return modules_[static_cast<size_t>(i < 0 ? i + n : i)];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& m : modules_) y = m->forward(y);
  return y;
}

}  // namespace seqnn::nn
