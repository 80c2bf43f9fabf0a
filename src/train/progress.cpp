// src/train/progress.cpp: the progress bar.
#include "progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace seqnn::train {

std::string format_duration(double s) {
  int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(t / 3600), (long long)(t / 60 % 60), (long long)(t % 60));
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(t / 60), (long long)(t % 60));
  return buf;
}

bool is_terminal(const std::ostream& os) {
  if (&os == &std::cerr) return isatty(STDERR_FILENO);
  if (&os == &std::cout) return isatty(STDOUT_FILENO);
  return false;
}

void Progress::start(const std::string& label, int64_t total, int64_t done) {
  label_ = label;
  total_ = total;
  start_done_ = done;
  sequences_ = 0;
  t0_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t done, int64_t sequences, double loss) {
  sequences_ += sequences;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double el = std::chrono::duration<double>(now - t0_).count();
  const double rate = el > 0 ? sequences_ / el : 0.0;
  const double steps_per_s = el > 0 ? (done - start_done_) / el : 0.0;
  const double eta = steps_per_s > 0 ? (total_ - done) / steps_per_s : 0.0;
  const int width = 20;
  const int filled = total_ ? static_cast<int>(width * done / total_) : width;
  std::ostringstream line;
  line << "\r" << label_ << " [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/"
       << total_ << "  " << static_cast<int64_t>(rate) << " seq/s  ETA " << format_duration(eta) << "  loss ";
  line.precision(4);
  line << std::fixed << loss << "\x1b[K";
  os_ << line.str() << std::flush;
}

void Progress::finish() {
  if (enabled_) os_ << "\r\x1b[K" << std::flush;
}

}  // namespace seqnn::train
