// seqnn/train/config.h: the JSON run configuration: schema, defaults, validation, docs.
//
// A config has five sections: data, model (with model.encoder and model.seq2seq), optimizer, schedule,
// train.
// Every field has a default, a type (the JSON type of its default: integer, number, boolean,
// string), a documentation line and, for strings, optionally a list of allowed values.
// resolve_config() checks a user's JSON against the schema and fills in every default:
//   unknown field            ConfigError("config: unknown field model.encodr (did you mean model.encoder?)")
//   wrong type               ConfigError("config: model.encoder.hidden_size: expected integer, got string \"big\"")
//   value not allowed        ConfigError("config: optimizer.type: must be one of adam, adamw, sgd, got \"adm\"")
// Config files may hold // comments; print_config() writes the full config with each field's
// documentation as a comment above it, and what it prints loads back unchanged.
//
// The schema grows by registration: encoders add their fields under model.encoder (see
// models/encoder.h), datasets add theirs with register_config_field().
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seqnn/error.h"

namespace seqnn::train {

// A config the user got wrong (the CLI exits with status 2).
class ConfigError : public Error {
 public:
  using Error::Error;
};

struct ConfigField {
  std::string path;                  // dotted: "model.encoder.hidden_size"
  nlohmann::json default_value;      // its JSON type is the field's type
  std::string doc;
  std::vector<std::string> choices;  // allowed string values (empty: any)
};

// Adds a field (or replaces the one with the same path), e.g. a new dataset's options.
void register_config_field(ConfigField field);
// Every field, in section order (data, model, model.encoder, model.seq2seq, optimizer, schedule, train).
std::vector<ConfigField> config_fields();

// The full default config.
nlohmann::json default_config();
// Validates `user` (a possibly partial config) and returns it merged onto the defaults.
nlohmann::json resolve_config(const nlohmann::json& user);
// Reads a JSON file (// and /* */ comments allowed) and resolves it. A missing file or a
// syntax error is a ConfigError naming the file.
nlohmann::json load_config_file(const std::filesystem::path& path);
// The config as JSON with "// doc" comment lines (loads back with load_config_file).
std::string print_config(const nlohmann::json& config);
// docs/CONFIG.md: a table per section with each field's type, default and documentation.
std::string config_markdown();
// "integer", "number", "boolean", "string", "object", "array", "null".
std::string json_type_name(const nlohmann::json& j);

}  // namespace seqnn::train
