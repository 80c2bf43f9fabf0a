// seqnn/nn/container.h: torch.nn.Sequential, a chain of single-tensor modules.
//   y = m_{n-1}( ... m_1(m_0(x)) ... )     (the identity when empty)
// Children are named "0", "1", ... in order, so parameters read "0.weight", "2.bias".
#pragma once

#include <initializer_list>
#include <memory>

#include "seqnn/nn/module.h"

namespace seqnn::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);

  // Appends a module under the next index name; returns it.
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    push_back_impl(module);
    return module;
  }
  Tensor forward(const Tensor& x) override;

  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  // Negative i counts from the end; Error when out of range.
  std::shared_ptr<Module> operator[](int64_t i) const;
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

 private:
  void push_back_impl(std::shared_ptr<Module> module);
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace seqnn::nn
