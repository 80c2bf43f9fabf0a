// Training checkpoints: model + optimizer + scheduler + generator + step in one atomic file.
#include "seqnn/train/checkpoint.h"

#include "seqnn/io/checkpoint.h"

namespace seqnn::train {

namespace {
constexpr const char* kOp = "train.load_checkpoint";
}

void save_checkpoint(const std::filesystem::path& path, const TrainingState& st) {
  check(st.model != nullptr, "train.save_checkpoint", "TrainingState.model is null");
  io::Checkpoint ck;
  for (const auto& [name, t] : st.model->state_dict()) ck.tensors["model." + name] = t;
  nlohmann::json meta = {{"step", st.step}, {"user", st.user}};
  if (st.optimizer) {
    optim::OptimizerState os = st.optimizer->state_dict();
    for (const auto& [name, t] : os.tensors) ck.tensors["optim." + name] = t;
    meta["optim"] = os.meta;
  }
  if (st.scheduler) meta["scheduler"] = st.scheduler->state_dict();
  if (st.generator) meta["rng"] = st.generator->state();
  ck.meta = std::move(meta);
  io::save_checkpoint(path, ck);
}

void load_checkpoint(const std::filesystem::path& path, TrainingState& st) {
  check(st.model != nullptr, kOp, "TrainingState.model is null");
  io::Checkpoint ck = io::load_checkpoint(path);
  const nlohmann::json& meta = ck.meta;
  const std::string where = path.string();
  auto need = [&](const char* key) -> const nlohmann::json& {
    check(meta.is_object() && meta.contains(key), kOp, where, ": checkpoint has no '", key,
          "' (was it written by train::save_checkpoint with that part?)");
    return meta.at(key);
  };
  const nlohmann::json& step = need("step");
  check(step.is_number_integer() && step.get<int64_t>() >= 0, kOp, where, ": 'step' must be a non-negative integer");
  if (st.optimizer) need("optim");
  if (st.scheduler) need("scheduler");
  if (st.generator) check(need("rng").is_string(), kOp, where, ": 'rng' must be a string");

  std::map<std::string, Tensor> model, optim;
  for (const auto& [name, t] : ck.tensors) {
    if (name.rfind("model.", 0) == 0)
      model[name.substr(6)] = t;
    else if (name.rfind("optim.", 0) == 0)
      optim[name.substr(6)] = t;
    else
      fail(kOp, where, ": unexpected tensor '", name, "' (expected model.* or optim.*)");
  }
  st.model->load_state_dict(model);  // strict: throws before copying on any mismatch
  if (st.optimizer) st.optimizer->load_state_dict({optim, meta.at("optim")});
  if (st.scheduler) st.scheduler->load_state_dict(meta.at("scheduler"));
  if (st.generator) st.generator->set_state(meta.at("rng").get<std::string>());
  st.step = step.get<int64_t>();
  st.user = meta.contains("user") ? meta.at("user") : nlohmann::json::object();
}

}  // namespace seqnn::train
