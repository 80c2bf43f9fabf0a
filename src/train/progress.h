// src/train/progress.h: the training progress display (internal).
//
// On a terminal: one line redrawn in place,
//   epoch 2/6 [##########..........] 63/94  1830 seq/s  ETA 0:02  loss 0.0412
// elsewhere (a pipe, a file, CI): nothing per step; the trainer prints a plain line per epoch.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace seqnn::train {

class Progress {
 public:
  Progress(std::ostream& os, bool enabled) : os_(os), enabled_(enabled) {}
  void start(const std::string& label, int64_t total, int64_t done);
  void update(int64_t done, int64_t sequences, double loss);
  void finish();  // clears the line
  bool enabled() const { return enabled_; }

 private:
  std::ostream& os_;
  bool enabled_;
  std::string label_;
  int64_t total_ = 0, start_done_ = 0, sequences_ = 0;
  std::chrono::steady_clock::time_point t0_, last_draw_;
};

// "1:05" / "0:07" / "1:02:03"
std::string format_duration(double seconds);
// Whether the stream is std::cerr/std::cout attached to a terminal.
bool is_terminal(const std::ostream& os);

}  // namespace seqnn::train
