// nn::Module: registration, traversal with PyTorch's dotted names, train/eval, state_dict.
#include "seqnn/nn/module.h"

#include <sstream>
#include <unordered_set>

#include "seqnn/autograd.h"

namespace seqnn::nn {

// ==================================================================== TensorDict

TensorDict::TensorDict(std::initializer_list<Item> items) {
  for (const auto& [k, v] : items) insert(k, v);
}

TensorDict::TensorDict(const std::map<std::string, Tensor>& m) {
  for (const auto& [k, v] : m) insert(k, v);
}

void TensorDict::insert(const std::string& key, const Tensor& value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    items_[it->second].second = value;
    return;
  }
  index_.emplace(key, items_.size());
  items_.emplace_back(key, value);
}

const Tensor* TensorDict::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

const Tensor& TensorDict::at(const std::string& key) const {
  const Tensor* t = find(key);
  if (!t) fail("TensorDict.at", "no key \"", key, "\"");
  return *t;
}

std::map<std::string, Tensor> TensorDict::to_map() const {
  return std::map<std::string, Tensor>(items_.begin(), items_.end());
}

std::vector<std::string> TensorDict::keys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& it : items_) out.push_back(it.first);
  return out;
}

// ==================================================================== registration

Module::Module(std::string name) : name_(std::move(name)) {}

Tensor Module::forward(const Tensor&) {
  fail(name_ + ".forward", "this module has no single-tensor forward(const Tensor&); call its own forward method");
}

void Module::check_new_name(const std::string& name, const char* what,
                            const std::vector<Entry>* same_kind) const {
  const std::string op = name_ + "." + what;
  check(!name.empty(), op, "name can't be empty");
  check(name.find('.') == std::string::npos, op, "name can't contain \".\", got \"", name, "\"");
  auto used_in = [&](const std::vector<Entry>& v) {
    for (const auto& e : v)
      if (e.name == name) return true;
    return false;
  };
  bool clash = (&params_ != same_kind && used_in(params_)) || (&buffers_ != same_kind && used_in(buffers_));
  for (const auto& c : children_) clash = clash || c.first == name;
  check(!clash, op, "attribute \"", name, "\" already exists");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  const std::string op = name_ + ".register_parameter";
  check_new_name(name, "register_parameter", &params_);
  check(t.defined(), op, "parameter \"", name, "\" is an undefined tensor");
  check(t.is_floating_point(), op, "parameter \"", name, "\" must be floating point, got ", dtype_name(t.dtype()));
  check(t.is_leaf(), op, "cannot register the non-leaf tensor \"", name,
        "\" as a parameter (it was computed by an op); detach() it first");
  t.requires_grad_(requires_grad);
  for (auto& e : params_) {
    if (e.name == name) {
      e.tensor = t;
      return t;
    }
  }
  params_.push_back({name, t});
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name, "register_buffer", &buffers_);
  check(t.defined(), name_ + ".register_buffer", "buffer \"", name, "\" is an undefined tensor");
  for (auto& e : buffers_) {
    if (e.name == name) {
      e.tensor = t;
      return t;
    }
  }
  buffers_.push_back({name, t});
  return t;
}

void Module::register_module_impl(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "register_module", nullptr);
  check(module != nullptr, name_ + ".register_module", "module \"", name, "\" is null");
  check(module.get() != this, name_ + ".register_module", "a module can't be its own child (\"", name, "\")");
  children_.emplace_back(name, std::move(module));
}

// ==================================================================== traversal

void Module::collect_modules(const std::string& prefix, std::vector<std::pair<std::string, Module*>>& out,
                             bool dedupe) const {
  // Pre-order walk; `dedupe` drops modules met before (shared submodules), like PyTorch.
  if (dedupe) {
    for (const auto& [n, m] : out)
      if (m == this) return;
  }
  out.emplace_back(prefix, const_cast<Module*>(this));
  for (const auto& [n, child] : children_)
    child->collect_modules(prefix.empty() ? n : prefix + "." + n, out, dedupe);
}

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

// Dotted names of one kind of entry (params_ or buffers_) over this module and, with recurse,
// its descendants; a tensor reachable twice is listed once, under its first name.
TensorDict Module::named_entries(std::vector<Entry> Module::*kind, bool recurse) const {
  std::vector<std::pair<std::string, Module*>> mods;
  if (recurse) {
    collect_modules("", mods, true);
  } else {
    mods.emplace_back("", const_cast<Module*>(this));
  }
  TensorDict out;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& [prefix, m] : mods)
    for (const auto& e : m->*kind)
      if (seen.insert(e.tensor.impl()).second) out.insert(join(prefix, e.name), e.tensor);
  return out;
}

TensorDict Module::named_parameters(bool recurse) const { return named_entries(&Module::params_, recurse); }

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

TensorDict Module::named_buffers(bool recurse) const { return named_entries(&Module::buffers_, recurse); }

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, Module*>> mods;
  collect_modules(prefix, mods, true);
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  for (const auto& [n, m] : mods) {
    std::shared_ptr<Module> owned = m->weak_from_this().lock();
    // Not held by a shared_ptr (e.g. a module on the stack): a non-owning alias.
    if (!owned) owned = std::shared_ptr<Module>(std::shared_ptr<Module>(), m);
    out.emplace_back(n, std::move(owned));
  }
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::unordered_set<const Module*> seen;
  for (const auto& c : children_)
    if (seen.insert(c.second.get()).second) out.push_back(c);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_children()) out.push_back(m);
  return out;
}

// ==================================================================== mode and grads

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (auto& t : parameters()) t.zero_grad(set_to_none);
}

// ==================================================================== state

void Module::collect_state(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  // PyTorch's order: own parameters, own buffers, then each child with its prefix. No
  // deduplication: a shared tensor appears under every name (state_dict in PyTorch does too).
  for (const auto& e : params_) out.emplace_back(prefix + e.name, e.tensor);
  for (const auto& e : buffers_) out.emplace_back(prefix + e.name, e.tensor);
  for (const auto& [n, child] : children_) child->collect_state(prefix + n + ".", out);
}

TensorDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> items;
  collect_state("", items);
  TensorDict out;
  for (const auto& [k, t] : items) out.insert(k, t.detach());
  return out;
}

LoadResult Module::load_state_dict(const TensorDict& state, bool strict) {
  std::vector<std::pair<std::string, Tensor>> own;
  collect_state("", own);

  LoadResult result;
  std::vector<std::string> mismatches;
  std::unordered_set<std::string> own_keys;
  for (const auto& [key, dst] : own) {
    own_keys.insert(key);
    const Tensor* src = state.find(key);
    if (!src) {
      result.missing_keys.push_back(key);
      continue;
    }
    if (!src->defined() || src->shape() != dst.shape()) {
      std::ostringstream os;
      os << "size mismatch for " << key << ": copying a param with shape "
         << (src->defined() ? shape_str(src->shape()) : std::string("<undefined>"))
         << " from checkpoint, the shape in current model is " << shape_str(dst.shape()) << ".";
      mismatches.push_back(os.str());
    }
  }
  for (const auto& [key, t] : state)
    if (!own_keys.count(key)) result.unexpected_keys.push_back(key);

  // One message with every problem, PyTorch's order: missing, unexpected, then mismatches.
  std::vector<std::string> msgs;
  auto quoted = [](const std::vector<std::string>& keys) {
    std::string s;
    for (size_t i = 0; i < keys.size(); ++i) s += (i ? ", \"" : "\"") + keys[i] + "\"";
    return s;
  };
  if (strict && !result.missing_keys.empty())
    msgs.push_back("Missing key(s) in state_dict: " + quoted(result.missing_keys) + ".");
  if (strict && !result.unexpected_keys.empty())
    msgs.push_back("Unexpected key(s) in state_dict: " + quoted(result.unexpected_keys) + ".");
  msgs.insert(msgs.end(), mismatches.begin(), mismatches.end());
  if (!msgs.empty()) {
    std::string text = "Error(s) in loading state_dict for " + name_ + ":";
    for (const auto& m : msgs) text += "\n\t" + m;
    throw Error(text);
  }

  NoGradGuard no_grad;
  for (auto& [key, dst] : own) {
    const Tensor* src = state.find(key);
    if (src && src->impl() != dst.impl()) dst.copy_(*src);
  }
  return result;
}

void Module::to(DType dtype) {
  check(is_floating(dtype), name_ + ".to", "modules convert to floating dtypes only, got ", dtype_name(dtype));
  NoGradGuard no_grad;
  // Swap the converted data into the existing TensorImpl, so every handle sees it.
  auto convert = [dtype](const Tensor& t) {
    if (!t.defined() || !t.is_floating_point() || t.dtype() == dtype) return;
    Tensor c = t.to(dtype).contiguous();
    TensorImpl* impl = t.impl();
    impl->storage = c.impl()->storage;
    impl->offset = c.impl()->offset;
    impl->shape = c.impl()->shape;
    impl->strides = c.impl()->strides;
    impl->dtype = dtype;
    if (impl->grad) {
      Tensor g = Tensor(impl->grad).to(dtype);
      impl->grad = g.impl_ptr();
    }
  };
  for (auto& t : parameters()) convert(t);
  for (auto& t : buffers()) convert(t);
}

}  // namespace seqnn::nn
