// optim::Optimizer: parameter groups, per-parameter state, state_dict / load_state_dict.
#include "seqnn/optim/optimizer.h"

#include <set>
#include <unordered_set>

#include "seqnn/autograd.h"

namespace seqnn::optim {

// ==================================================================== json helpers

namespace detail {

double json_double(const nlohmann::json& j, const char* key, const std::string& op) {
  check(j.is_object() && j.contains(key) && j.at(key).is_number(), op,
        "loaded options need a number \"", key, "\", got ", j.is_object() && j.contains(key) ? j.at(key).dump() : "nothing");
  return j.at(key).get<double>();
}

bool json_bool(const nlohmann::json& j, const char* key, const std::string& op) {
  check(j.is_object() && j.contains(key) && j.at(key).is_boolean(), op,
        "loaded options need a boolean \"", key, "\", got ", j.is_object() && j.contains(key) ? j.at(key).dump() : "nothing");
  return j.at(key).get<bool>();
}

}  // namespace detail

// ==================================================================== groups

void Optimizer::add_params(const std::vector<Tensor>& params) {
  const std::string op = name_ + ".add_param_group";
  check(!params.empty(), op, "optimizer got an empty parameter list");
  std::unordered_set<const TensorImpl*> held;
  for (const auto& g : groups_)
    for (const auto& p : g) held.insert(p.impl());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    check(p.defined(), op, "parameter ", i, " is undefined");
    check(p.is_floating_point(), op, "parameter ", i, " must be floating point, got ", dtype_name(p.dtype()));
    check(p.is_leaf(), op, "can't optimize a non-leaf tensor (parameter ", i, ")");
    check(p.is_contiguous(), op, "parameter ", i, " ", p.shape(), " must be contiguous");
    check(held.insert(p.impl()).second, op, "some parameters appear more than once (parameter ", i, ")");
  }
  groups_.push_back(params);
}

const std::vector<Tensor>& Optimizer::params(size_t group) const {
  check(group < groups_.size(), name_ + ".params", "group ", group, " out of range for ", groups_.size(), " groups");
  return groups_[group];
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const auto& g : groups_) out.insert(out.end(), g.begin(), g.end());
  return out;
}

size_t Optimizer::global_index(size_t group, size_t j) const {
  size_t idx = 0;
  for (size_t g = 0; g < group; ++g) idx += groups_[g].size();
  return idx + j;
}

Optimizer::ParamState& Optimizer::state_of(size_t group, size_t j) { return state_[global_index(group, j)]; }

Tensor& Optimizer::buffer_like(ParamState& st, const std::string& name, const Tensor& p) {
  Tensor& b = st.buffers[name];
  if (!b.defined()) {
    b = zeros(p.shape(), p.dtype());
  } else if (b.dtype() != p.dtype()) {
    NoGradGuard no_grad;
    b = b.to(p.dtype()).contiguous();
  }
  return b;
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const auto& g : groups_)
    for (const auto& p : g) p.zero_grad(set_to_none);
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < groups_.size(); ++g) set_group_lr(g, lr);
}

int64_t Optimizer::step_count(size_t param_index) const {
  auto it = state_.find(param_index);
  return it == state_.end() ? 0 : it->second.step;
}

// ==================================================================== state_dict

OptimizerState Optimizer::state_dict() const {
  OptimizerState out;
  out.meta["optimizer"] = name_;
  out.meta["param_groups"] = nlohmann::json::array();
  size_t idx = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    nlohmann::json j = group_options_json(g);
    j["params"] = nlohmann::json::array();
    for (size_t k = 0; k < groups_[g].size(); ++k) j["params"].push_back(idx++);
    out.meta["param_groups"].push_back(j);
  }
  out.meta["state"] = nlohmann::json::object();
  NoGradGuard no_grad;
  for (const auto& [i, st] : state_) {
    out.meta["state"][std::to_string(i)] = {{"step", st.step}};
    for (const auto& [name, t] : st.buffers) out.tensors["state." + std::to_string(i) + "." + name] = t.clone();
  }
  return out;
}

void Optimizer::load_state_dict(const OptimizerState& sd) {
  const std::string op = name_ + ".load_state_dict";
  const auto& meta = sd.meta;
  check(meta.is_object() && meta.contains("optimizer") && meta.contains("param_groups") && meta.contains("state"), op,
        "state needs \"optimizer\", \"param_groups\" and \"state\" entries");
  check(meta.at("optimizer") == name_, op, "state was saved by ", meta.at("optimizer").dump(), ", not ", name_);
  const auto& jgroups = meta.at("param_groups");
  check(jgroups.is_array() && jgroups.size() == groups_.size(), op,
        "loaded state dict has a different number of parameter groups: ", jgroups.is_array() ? jgroups.size() : 0,
        " vs ", groups_.size(), " in the optimizer");

  // Options and the buffer names each group's parameters carry.
  std::vector<Tensor> all = parameters();
  std::vector<std::vector<std::string>> names_of_param(all.size());
  size_t idx = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const auto& jg = jgroups[g];
    check(jg.is_object() && jg.contains("params") && jg.at("params").is_array() &&
              jg.at("params").size() == groups_[g].size(),
          op, "loaded state dict contains a parameter group that doesn't match the size of optimizer's group ", g,
          " (", groups_[g].size(), " parameters)");
    std::vector<std::string> names = check_group_options(jg);
    for (size_t k = 0; k < groups_[g].size(); ++k) names_of_param[idx++] = names;
  }

  // Per-parameter state: known indices, a step count, exactly the expected buffers.
  std::map<size_t, ParamState> loaded;
  const auto& jstate = meta.at("state");
  check(jstate.is_object(), op, "\"state\" must be an object");
  std::set<std::string> used;
  for (const auto& [key, js] : jstate.items()) {
    size_t i = 0;
    try {
      size_t pos = 0;
      i = std::stoul(key, &pos);
      check(pos == key.size(), op, "bad state index \"", key, "\"");
    } catch (const std::logic_error&) {
      fail(op, "bad state index \"", key, "\"");
    }
    check(i < all.size(), op, "state index ", i, " out of range for ", all.size(), " parameters");
    check(js.is_object() && js.contains("step") && js.at("step").is_number_integer() && js.at("step").get<int64_t>() >= 0,
          op, "state ", i, " needs a non-negative integer \"step\"");
    ParamState st;
    st.step = js.at("step").get<int64_t>();
    for (const auto& name : names_of_param[i]) {
      const std::string tkey = "state." + key + "." + name;
      auto it = sd.tensors.find(tkey);
      check(it != sd.tensors.end() && it->second.defined(), op, "missing tensor \"", tkey, "\"");
      check(it->second.shape() == all[i].shape(), op, "size mismatch for ", tkey, ": shape ", it->second.shape(),
            " in the state, parameter ", i, " is ", all[i].shape());
      used.insert(tkey);
    }
  }
  for (const auto& [k, t] : sd.tensors) check(used.count(k) != 0, op, "unexpected tensor \"", k, "\"");

  // Everything is valid: commit.
  NoGradGuard no_grad;
  for (const auto& [key, js] : jstate.items()) {
    const size_t i = std::stoul(key);
    ParamState& st = loaded[i];
    st.step = js.at("step").get<int64_t>();
    for (const auto& name : names_of_param[i]) {
      Tensor b = empty(all[i].shape(), all[i].dtype());
      b.copy_(sd.tensors.at("state." + key + "." + name));
      st.buffers[name] = b;
    }
  }
  for (size_t g = 0; g < groups_.size(); ++g) apply_group_options(g, jgroups[g]);
  state_ = std::move(loaded);
}

}  // namespace seqnn::optim
