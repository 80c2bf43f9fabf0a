// seqnn/io/checkpoint.h: training checkpoints as one safetensors file.
//
// A Checkpoint is a flat map of named tensors plus a JSON document (step, optimizer
// hyper-parameters, generator state, ...). It is stored as ONE safetensors file whose
// "__metadata__" holds the JSON under the key "seqnn.meta" (and "seqnn.format": "checkpoint/1"),
// so any safetensors reader (Python included) can open it.
//
// Writes are atomic: the bytes go to "<path>.tmp.<pid>" in the same directory, the file is
// fsync'ed, renamed over <path>, and the directory is fsync'ed. A crash at any point leaves
// either the old or the new checkpoint; a failed save (undefined tensor, unwritable directory)
// throws Error and leaves the old file untouched.
//
//   io::Checkpoint ck;
//   ck.tensors = io::prefixed(model_state, "model.");
//   ck.meta = {{"step", 1200}, {"lr", 3e-4}};
//   io::save_checkpoint(io::checkpoint_path("runs/a", "ckpt_", 1200), ck);
//   if (auto last = io::latest_checkpoint("runs/a", "ckpt_")) {
//     io::Checkpoint back = io::load_checkpoint(last->path);
//     auto model_state = io::strip_prefix(back.tensors, "model.");
//   }
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "seqnn/io/safetensors.h"

namespace seqnn::io {

struct Checkpoint {
  TensorMap tensors;
  nlohmann::json meta = nlohmann::json::object();
};

void save_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint);
// Loads a checkpoint; a plain safetensors file without "seqnn.meta" loads with meta = {}.
Checkpoint load_checkpoint(const std::filesystem::path& path);

// "<dir>/<prefix><step, 8 digits>.safetensors", e.g. runs/a/ckpt_00001200.safetensors.
std::filesystem::path checkpoint_path(const std::filesystem::path& dir, const std::string& prefix,
                                      int64_t step);

struct CheckpointFile {
  std::filesystem::path path;
  int64_t step = 0;
};

// The newest complete checkpoint in `dir`: among files named "<prefix><digits>.safetensors"
// (temp files and other names are ignored), the highest step whose header validates against its
// size. nullopt when there is none (or the directory does not exist).
std::optional<CheckpointFile> latest_checkpoint(const std::filesystem::path& dir,
                                                const std::string& prefix);

// {name: t} -> {prefix + name: t}, to merge several state maps into one checkpoint.
TensorMap prefixed(const TensorMap& tensors, const std::string& prefix);
// The entries whose name starts with prefix, with the prefix removed.
TensorMap strip_prefix(const TensorMap& tensors, const std::string& prefix);

}  // namespace seqnn::io
