// seqnn/train/plots.h: the pictures of a run, hand-written SVG (no dependency), and a terminal
// version of an attention map.
//
//   curves.svg        left: training loss per step (faint) and its exponential moving average
//                     (alpha 0.1), validation loss per evaluation (dots); right: validation
//                     accuracy and F1 (slot F1 for tagging, macro label F1 otherwise) per epoch
//   attention maps    one panel per (layer, head): query tokens down the rows, key tokens along
//                     the columns, cell colour = weight on a shared 0..max scale (viridis), a
//                     colour bar, the title; a <title> tooltip per cell gives the value
//
//   train::Heatmap h{"layer 1, head 2", rows, cols, weights};   // weights row-major rows x cols
//   std::string svg = train::heatmap_svg({h}, 1, "leave Taipei on November 2nd");
//   std::cout << train::heatmap_text(h);
// Every cell is a <rect class="cell" .../>; non-finite values are drawn as 0 (never "nan" in the
// file).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace seqnn::train {

struct Heatmap {
  std::string title;
  std::vector<std::string> rows, cols;  // query tokens, key tokens
  std::vector<double> values;           // rows.size() * cols.size(), row-major
};

// Panels in a grid of `columns` columns under one title, sharing the colour scale.
std::string heatmap_svg(const std::vector<Heatmap>& panels, int64_t columns, const std::string& title);

// A character-shaded grid (" .:-=+*#%@" from 0 to the map's maximum), the row tokens on the left
// and the column tokens written vertically above, then the scale.
std::string heatmap_text(const Heatmap& h);

// The curves of a run: step_loss (step, training loss) and the evaluations (metrics.jsonl lines:
// epoch, step, loss, accuracy, slot_f1 or per_label).
std::string curves_svg(const std::vector<std::pair<int64_t, double>>& step_loss, const std::vector<nlohmann::json>& evals,
                       const std::string& title);

// Reads RUN_DIR/train_loss.tsv and RUN_DIR/metrics.jsonl and writes RUN_DIR/curves.svg
// atomically (temp file + rename).
void write_curves(const std::filesystem::path& run_dir, const std::string& title);

// "leave Taipei on November 2nd" -> "leave_taipei_on_november_2nd" (file names; at most 60 chars).
std::string slug(const std::string& text);

// Writes `content` to `path` through a temp file and a rename.
void write_text_atomic(const std::filesystem::path& path, const std::string& content);

}  // namespace seqnn::train
