// seqnn/nn/module.h: the base of every layer, PyTorch's torch.nn.Module in C++.
//
// A Module owns named parameters (leaf tensors that usually require grad), named buffers
// (state that is saved but not trained) and named child modules. Names follow PyTorch:
// children's entries are prefixed with the child's name and a dot, in registration order, so
//   Sequential{Linear(4,3), ReLU, Linear(3,2)}.named_parameters()
//     -> "0.weight", "0.bias", "2.weight", "2.bias"
// and a state_dict() saved by PyTorch loads unchanged.
//
//   struct Net : nn::Module {
//     Net() : Module("Net") {
//       fc = register_module("fc", std::make_shared<nn::Linear>(nn::LinearOptions(4, 3)));
//       scale = register_parameter("scale", ones({3}));
//     }
//     Tensor forward(const Tensor& x) override { return fc->forward(x) * scale; }
//     std::shared_ptr<nn::Linear> fc;
//     Tensor scale;
//   };
//
// Tensors are handles: the member `scale` and the registry share one TensorImpl, so
// load_state_dict() and to(dtype), which update the registered tensors in place, are seen
// through the members (and through an optimizer holding the same parameters).
#pragma once

#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "seqnn/tensor.h"

namespace seqnn::nn {

// ==================================================================== TensorDict
// An insertion-ordered name -> Tensor map (what state_dict() and named_parameters() return),
// libtorch's OrderedDict in spirit. Keys are unique; insert() of an existing key replaces its
// value in place. Converts implicitly to and from std::map (io::TensorMap).
class TensorDict {
 public:
  using Item = std::pair<std::string, Tensor>;
  TensorDict() = default;
  TensorDict(std::initializer_list<Item> items);
  TensorDict(const std::map<std::string, Tensor>& m);  // NOLINT: implicit on purpose

  void insert(const std::string& key, const Tensor& value);
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  // nullptr when absent.
  const Tensor* find(const std::string& key) const;
  // Throws Error("TensorDict.at: no key \"k\"") when absent.
  const Tensor& at(const std::string& key) const;
  const Tensor& operator[](const std::string& key) const { return at(key); }
  // The entries in order (positional access: items()[i].first / .second).
  const std::vector<Item>& items() const { return items_; }
  // A name-sorted copy, for APIs that take std::map (io::TensorMap).
  std::map<std::string, Tensor> to_map() const;
  operator std::map<std::string, Tensor>() const { return to_map(); }  // NOLINT: implicit on purpose
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> keys() const;
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

// What load_state_dict(strict=false) reports back (strict=true throws instead).
struct LoadResult {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

// ==================================================================== Module
class Module : public std::enable_shared_from_this<Module> {
 public:
  // `name` is the class name used in messages ("Linear"), like type(self).__name__.
  explicit Module(std::string name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }

  // ------------------------------------------------------------ forward
  // The single-tensor forward that Sequential chains. Throws Error by default: modules with
  // other signatures (an LSTM with its state, attention with masks) add their own methods.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // ------------------------------------------------------------ registration
  // Registers a floating leaf tensor as a parameter (and sets requires_grad on it); returns
  // the same handle. Re-registering an existing parameter name replaces it, as in PyTorch;
  // a name already used by a buffer or a child is an Error, as are "" and names with '.'.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_module_impl(name, module);
    return module;
  }

  // ------------------------------------------------------------ traversal
  // Dotted names in registration order: own entries first, then each child's, depth first.
  // A tensor (or module) reachable twice is listed once, under its first name (PyTorch).
  TensorDict named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  TensorDict named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  // Pre-order, this module first under the name "" (or `prefix`). The entry for this module
  // shares ownership when it is held by a shared_ptr, else it is a non-owning pointer.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules(const std::string& prefix = "");
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  std::vector<std::shared_ptr<Module>> children() const;

  // ------------------------------------------------------------ mode
  // Sets the training flag on this module and every descendant (Dropout reads it).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Zeroes the gradients of every parameter, or drops them (set_to_none). PyTorch 1.13's
  // default is set_to_none=false.
  void zero_grad(bool set_to_none = false);

  // ------------------------------------------------------------ state
  // Parameters then buffers of each module, children after, with dotted names. The values
  // are detached handles sharing the live data (clone them for a snapshot).
  TensorDict state_dict() const;
  // Copies each entry into the existing tensor in place (converting dtype). Every problem is
  // collected first and reported in ONE Error, PyTorch's message layout:
  //   Error(s) in loading state_dict for Linear:
  //     Missing key(s) in state_dict: "bias".
  //     Unexpected key(s) in state_dict: "extra".
  //     size mismatch for weight: copying a param with shape (3,4) from checkpoint, the shape
  //     in current model is (2,4).
  // Nothing is copied when it throws. strict=false tolerates missing and unexpected keys (and
  // returns them) but never a size mismatch.
  LoadResult load_state_dict(const TensorDict& state, bool strict = true);

  // Converts every floating parameter and buffer (and existing gradient) to `dtype`, in place:
  // handles held elsewhere (members, optimizers) see the new dtype.
  void to(DType dtype);

 private:
  struct Entry {
    std::string name;
    Tensor tensor;
  };
  void register_module_impl(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what, const std::vector<Entry>* same_kind) const;
  void collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out,
                       bool dedupe) const;
  void collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  TensorDict named_entries(std::vector<Entry> Module::*kind, bool recurse) const;

  std::string name_;
  bool training_ = true;
  std::vector<Entry> params_;
  std::vector<Entry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace seqnn::nn
