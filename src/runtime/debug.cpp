// Non-finite value checks (seqnn/debug.h): the switch and the scan.
#include "seqnn/debug.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace seqnn {

namespace {

bool env_on() {
  const char* s = std::getenv("SEQNN_CHECK_FINITE");
  return s && *s && std::strcmp(s, "0") != 0;
}

std::atomic<bool>& flag() {
  static std::atomic<bool> on{env_on()};
  return on;
}

// Applied at load so that the environment wins before any op runs.
const bool g_loaded = flag().load();

template <class T>
int64_t first_non_finite(const T* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return i;
  return -1;
}

}  // namespace

bool check_finite_enabled() { return flag().load(std::memory_order_relaxed); }
void set_check_finite(bool on) { flag().store(on, std::memory_order_relaxed); }

void check_finite(const Tensor& t, const std::string& op, const std::string& what) {
  (void)g_loaded;
  if (!t.defined() || !t.is_floating_point() || t.numel() == 0) return;
  const Tensor c = t.detach().contiguous();
  int64_t at = -1;
  double value = 0.0;
  if (c.dtype() == DType::F32) {
    at = first_non_finite(c.data_ptr<float>(), c.numel());
    if (at >= 0) value = c.data_ptr<float>()[at];
  } else {
    at = first_non_finite(c.data_ptr<double>(), c.numel());
    if (at >= 0) value = c.data_ptr<double>()[at];
  }
  if (at < 0) return;
  // flat index -> multi-index
  const Shape& s = c.shape();
  std::vector<int64_t> idx(s.size());
  int64_t rest = at;
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = s[d] ? rest % s[d] : 0;
    rest = s[d] ? rest / s[d] : 0;
  }
  std::ostringstream where;
  where << "[";
  for (size_t d = 0; d < idx.size(); ++d) where << (d ? "," : "") << idx[d];
  where << "]";
  const char* kind = std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  fail(op, what, " of shape ", s, " holds a non-finite value (", kind, ") at ", where.str(),
       " (finite checks are on: SEQNN_CHECK_FINITE / set_check_finite)");
}

}  // namespace seqnn
