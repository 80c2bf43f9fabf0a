// src/data/dataset.cpp: the dataset registry.
#include "seqnn/data/dataset.h"

#include <map>
#include <mutex>

#include "seqnn/data/booking.h"
#include "seqnn/error.h"

namespace seqnn::data {

const char* task_kind_name(TaskKind k) { return k == TaskKind::Tagging ? "tagging" : "classification"; }

int64_t Example::length() const {
  if (feature_dim > 0) return static_cast<int64_t>(features.size()) / feature_dim;
  return static_cast<int64_t>(tokens.size());
}

// ==================================================================== registry
namespace {
BookingOptions booking_options(const nlohmann::json& c) {
  BookingOptions o;
  if (c.contains("train_size")) o.train_size = c["train_size"].get<int64_t>();
  if (c.contains("valid_size")) o.valid_size = c["valid_size"].get<int64_t>();
  if (c.contains("test_size")) o.test_size = c["test_size"].get<int64_t>();
  if (c.contains("seed")) o.seed = c["seed"].get<uint64_t>();
  return o;
}

std::map<std::string, DatasetFactory>& registry() {
  static std::map<std::string, DatasetFactory> r = {
      {"booking", [](const nlohmann::json& c) { return make_booking(booking_options(c)); }},
      {"booking_intent", [](const nlohmann::json& c) { return make_booking_intent(booking_options(c)); }},
  };
  return r;
}
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void register_dataset(const std::string& name, DatasetFactory factory) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[name] = std::move(factory);
}

std::vector<std::string> dataset_names() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> out;
  for (const auto& [k, v] : registry()) out.push_back(k);
  return out;
}

Dataset load_dataset(const std::string& name, const nlohmann::json& data_config) {
  DatasetFactory f;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(name);
    if (it != registry().end()) f = it->second;
  }
  if (!f) {
    std::string known;
    for (const auto& n : dataset_names()) known += (known.empty() ? "" : ", ") + n;
    fail("dataset", "unknown dataset \"", name, "\" (known: ", known, ")");
  }
  Dataset d = f(data_config);
  check(!d.train.empty(), "dataset", name, ": empty training split");
  return d;
}

}  // namespace seqnn::data
