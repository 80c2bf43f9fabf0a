// kernels/spin_team.h (internal): a persistent team for short parallel work that comes back to
// back.
//
//   spin_parallel_for(n, grain, [&](int64_t begin, int64_t end) { ... });
// The contract of parallel_for (kernels/parallel.h), for calls that last a few to a few tens of
// microseconds and repeat, such as one streaming step() per token. Opening and closing an OpenMP
// parallel region costs about 3.3 us on the 2-core machine this was measured on (an empty
// region, libgomp, polling or not: its team start and end barrier make system calls); handing
// the work to helper threads that poll a shared counter costs a cache-line round trip, 0.5 us.
// On the streaming LSTM step at B = 1, H = 256 (about 20 us) that was a quarter of the time.
//
// The helpers (num_threads() - 1 of them) start at the first call and stay. After a job each
// polls for 50 us, then sleeps on a futex until the next one: an idle team costs nothing, and a
// machine shared with other work loses at most that much of a core per job.
// f runs inline, on the calling thread alone, when the work is below grain, when num_threads()
// is 1, inside an OpenMP parallel region or a job of this team, and while another thread of the
// program is using the team. f must not throw, and should not open parallel regions itself.
#pragma once

#include <algorithm>
#include <cstdint>

#include "seqnn/threads.h"

namespace seqnn::kernels {

namespace detail {
// Runs fn(ctx, t, m) for t in [0, m), m = n or fewer, t = 0 on the caller, then returns true;
// returns false having run nothing when the team is not available (see above).
bool spin_team_run(int n, void (*fn)(void*, int, int), void* ctx);
}  // namespace detail

template <class F>
void spin_parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  const int64_t g = std::max<int64_t>(1, grain);
  const int64_t chunks = std::min<int64_t>(num_threads(), (n + g - 1) / g);
  if (chunks > 1) {
    struct Ctx {
      const F* f;
      int64_t n;
    } ctx{&f, n};
    auto part = [](void* p, int t, int m) {
      const Ctx& c = *static_cast<const Ctx*>(p);
      const int64_t begin = c.n * t / m, end = c.n * (t + 1) / m;
      if (begin < end) (*c.f)(begin, end);
    };
    if (detail::spin_team_run(static_cast<int>(chunks), part, &ctx)) return;
  }
  f(int64_t{0}, n);
}

}  // namespace seqnn::kernels
