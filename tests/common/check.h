// tests/common/check.h: small checks shared by the unit tests (kernel-vs-reference error,
// bad-input errors, scratch directories).
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace seqnn::testutil {

// max|a - b| / max(max|b|, 1e-30): the error of a kernel's output `a` relative to the scale of its
// reference `b` (same length).
template <class T>
double max_rel_err(const std::vector<T>& a, const std::vector<T>& b) {
  double scale = 1e-30, err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return err / scale;
}

// Expects f() to throw seqnn::Error whose message starts with "op:" (the op named first, as
// `fail`/`check` write it) and contains `part`.
void expect_error(const std::function<void()>& f, const std::string& op, const std::string& part = "");

// The message of the seqnn::Error that f() throws, or "<no error>".
std::string error_of(const std::function<void()>& f);

// A fresh, empty directory <tmp>/seqnn_<suite>_<pid>/<name>. Every such root this process made is
// removed when it exits.
std::filesystem::path scratch_dir(const std::string& suite, const std::string& name);

}  // namespace seqnn::testutil
