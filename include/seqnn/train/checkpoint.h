// seqnn/train/checkpoint.h: save and resume a whole training run.
//
// A training checkpoint is one safetensors file (written atomically by io::save_checkpoint:
// temp file, fsync, rename, fsync of the directory) holding
//   tensors  "model.<name>"  the module's state_dict (PyTorch names after the prefix)
//            "optim.<name>"  the optimizer's per-parameter state ("optim.state.3.exp_avg")
//   meta     {"step", "optim": optimizer scalars, "scheduler": scheduler state,
//             "rng": generator state, "user": whatever the caller adds}
// Loading restores every piece in place, so the run continues bit-for-bit as if it had never
// stopped:
//
//   train::TrainingState st{&model, &opt, &sched, &default_generator()};
//   if (auto last = io::latest_checkpoint(dir, "ckpt")) train::load_checkpoint(last->path, st);
//   for (; st.step < total; ++st.step) {
//     ... one training step ...
//     if ((st.step + 1) % 100 == 0) { st.step += 1; train::save_checkpoint(io::checkpoint_path(dir, "ckpt", st.step), st); st.step -= 1; }
//   }
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "seqnn/nn/module.h"
#include "seqnn/optim/lr_scheduler.h"
#include "seqnn/optim/optimizer.h"
#include "seqnn/random.h"

namespace seqnn::train {

// Non-owning views of what a run consists of. Any pointer may be null (not saved / restored),
// except model.
struct TrainingState {
  nn::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  optim::LRScheduler* scheduler = nullptr;
  Generator* generator = nullptr;  // e.g. &default_generator() when dropout draws from it
  int64_t step = 0;                // steps completed
  nlohmann::json user = nlohmann::json::object();  // caller's metadata (config, metrics, ...)
};

void save_checkpoint(const std::filesystem::path& path, const TrainingState& state);

// Restores model, optimizer, scheduler, generator, step and user metadata in place. Every
// piece is validated before any is changed where the parts allow it (model keys and shapes,
// optimizer state); a checkpoint lacking a part that `state` asks for (e.g. no scheduler
// saved) is an Error naming the part.
void load_checkpoint(const std::filesystem::path& path, TrainingState& state);

}  // namespace seqnn::train
