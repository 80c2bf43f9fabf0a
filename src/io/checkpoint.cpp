// Checkpoints: tensors + JSON meta in one safetensors file, atomic saves, finding the newest.
#include "seqnn/io/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace seqnn::io {

using nlohmann::json;

namespace {
constexpr const char* kOp = "checkpoint";
constexpr const char* kMetaKey = "seqnn.meta";
constexpr const char* kFormatKey = "seqnn.format";
constexpr const char* kFormat = "checkpoint/1";
constexpr const char* kExt = ".safetensors";
}  // namespace

// ==================================================================== save / load

void save_checkpoint(const std::filesystem::path& path, const Checkpoint& ck) {
  std::string meta;
  try {
    meta = ck.meta.dump();
  } catch (const json::exception& e) {
    fail(kOp, path.string(), ": meta cannot be serialised: ", e.what());
  }
  save_safetensors(path, ck.tensors, {{kMetaKey, meta}, {kFormatKey, kFormat}});
}

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  Safetensors st = load_safetensors(path);
  Checkpoint ck;
  ck.tensors = std::move(st.tensors);
  auto it = st.metadata.find(kMetaKey);
  if (it != st.metadata.end()) {
    try {
      ck.meta = json::parse(it->second);
    } catch (const json::exception& e) {
      fail(kOp, path.string(), ": metadata '", kMetaKey, "' is not valid JSON: ", e.what());
    }
  }
  return ck;
}

// ==================================================================== finding the newest

std::filesystem::path checkpoint_path(const std::filesystem::path& dir, const std::string& prefix, int64_t step) {
  check(step >= 0, kOp, "step must be >= 0, got ", step);
  char digits[32];
  std::snprintf(digits, sizeof digits, "%08lld", static_cast<long long>(step));
  return dir / (prefix + digits + kExt);
}

namespace {

// "<prefix><digits>.safetensors" -> the step; anything else (temp files included) -> nullopt.
std::optional<int64_t> step_of(const std::string& name, const std::string& prefix) {
  const std::string ext = kExt;
  if (name.size() <= prefix.size() + ext.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
    return std::nullopt;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::optional<CheckpointFile> latest_checkpoint(const std::filesystem::path& dir, const std::string& prefix) {
  std::vector<CheckpointFile> found;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (auto step = step_of(it->path().filename().string(), prefix)) found.push_back({it->path(), *step});
  }
  std::sort(found.begin(), found.end(), [](const CheckpointFile& a, const CheckpointFile& b) {
    return a.step != b.step ? a.step > b.step : a.path > b.path;
  });
  for (const auto& f : found) {
    try {
      inspect_safetensors(f.path);  // header valid and consistent with the file's size
      return f;
    } catch (const Error&) {
      // an incomplete or foreign file: fall back to the next older one
    }
  }
  return std::nullopt;
}

// ==================================================================== name prefixes

TensorMap prefixed(const TensorMap& tensors, const std::string& prefix) {
  TensorMap out;
  for (const auto& [name, t] : tensors) out.emplace(prefix + name, t);
  return out;
}

TensorMap strip_prefix(const TensorMap& tensors, const std::string& prefix) {
  TensorMap out;
  for (auto it = tensors.lower_bound(prefix); it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it)
    out.emplace(it->first.substr(prefix.size()), it->second);
  return out;
}

}  // namespace seqnn::io
