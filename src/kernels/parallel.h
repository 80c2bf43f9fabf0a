// kernels/parallel.h (internal): split work over seqnn's threads (the team of kernels/team.h).
//
//   parallel_for(n, grain, [&](int64_t begin, int64_t end) { ... });
// Splits [0, n) into up to num_threads() contiguous ranges of at least about grain items
// (n * t / c boundaries) and runs them concurrently.
//   parallel_parts(parts, [&](int t, int c) { ... });
// Runs part t of c for every t in [0, parts) concurrently (c == parts).
// Both run everything on the calling thread, in order, when the work is below grain, when
// num_threads() is 1, and where kernels/team.h cannot take the job (nested inside another
// region, inside the caller's own OpenMP region, or while another thread uses the team).
// Bodies may throw: the first exception reaches the caller after every part has finished.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/team.h"
#include "seqnn/threads.h"

namespace seqnn::kernels {

template <class F>
void parallel_parts(int parts, const F& f) {
  if (parts > 1 && num_threads() > 1) {
    auto part = [](void* p, int t, int c) { (*static_cast<const F*>(p))(t, c); };
    if (detail::team_run(parts, part, const_cast<F*>(&f))) return;
  }
  for (int t = 0; t < parts; ++t) f(t, parts);
}

template <class F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  const int64_t g = std::max<int64_t>(1, grain);
  const int64_t chunks = std::min<int64_t>(num_threads(), (n + g - 1) / g);
  if (chunks > 1) {
    struct Ctx {
      const F* f;
      int64_t n;
    } ctx{&f, n};
    auto part = [](void* p, int t, int c) {
      const Ctx& x = *static_cast<const Ctx*>(p);
      const int64_t begin = x.n * t / c, end = x.n * (t + 1) / c;
      if (begin < end) (*x.f)(begin, end);
    };
    if (detail::team_run(static_cast<int>(chunks), part, &ctx)) return;
  }
  f(int64_t{0}, n);
}

}  // namespace seqnn::kernels
