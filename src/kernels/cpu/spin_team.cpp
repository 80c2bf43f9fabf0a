// kernels/spin_team.h: the persistent polling team.
//
// One job slot. The caller publishes (fn, ctx, n) and bumps the generation `gen_`; helper k
// (1 <= k < n) sees the new generation, runs fn(ctx, k, n) and decrements `pending_`; the caller
// runs part 0 and then polls `pending_` down to 0. A job for fewer threads than there are helpers
// (num_threads() was lowered) retires them all and starts as many as it needs. A helper that has polled for kSpinMicros without
// a new job registers in `sleepers_` and waits on `gen_` (std::atomic::wait: a futex); the
// caller wakes sleepers only when there are any. Both sides use sequentially consistent
// operations on `gen_` and `sleepers_`, so one of them always sees the other's write: no lost
// wake-up, and no system call while the helpers are polling.
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <system_error>
#include <thread>

#include "kernels/spin_team.h"

namespace seqnn::kernels::detail {

namespace {

// How long an idle helper polls before it sleeps. A step-by-step decoder calls back within a few
// to a few tens of microseconds; a helper that has gone to sleep costs a futex wake-up (several
// microseconds) at the next job, one that polls longer costs a machine shared with other work that
// much of a core.
constexpr auto kSpin = std::chrono::microseconds(50);

thread_local bool t_in_team = false;  // a helper, or a caller inside its own part of a job

class Team {
 public:
  bool run(int n, void (*fn)(void*, int, int), void* ctx) {
    if (t_in_team || omp_in_parallel()) return false;
    std::unique_lock<std::mutex> lock(use_, std::try_to_lock);
    if (!lock.owns_lock()) return false;  // another thread of the program is using the team
    if (helpers_ > n - 1) {  // num_threads() was lowered: retire the team, start a smaller one
      epoch_.fetch_add(1, std::memory_order_relaxed);  // published by the job's gen_ below
      helpers_ = 0;
    }
    while (helpers_ < n - 1) {
      const int id = helpers_ + 1;
      const uint32_t start = gen_.load(std::memory_order_relaxed);  // this job will be start + 1
      const uint32_t epoch = epoch_.load(std::memory_order_relaxed);
      try {
        std::thread([this, id, start, epoch] { helper(id, start, epoch); }).detach();
      } catch (const std::system_error&) {  // out of threads: go on with the helpers there are
        break;
      }
      helpers_ = id;
    }
    n = std::min(n, helpers_ + 1);
    if (n < 2) return false;
    fn_ = fn;
    ctx_ = ctx;
    n_.store(n, std::memory_order_relaxed);
    pending_.store(n - 1, std::memory_order_relaxed);
    gen_.fetch_add(1, std::memory_order_seq_cst);  // publishes the three stores above
    if (sleepers_.load(std::memory_order_seq_cst) > 0) gen_.notify_all();
    t_in_team = true;
    fn(ctx, 0, n);
    t_in_team = false;
    for (uint32_t polls = 1; pending_.load(std::memory_order_acquire) != 0; ++polls) {
      _mm_pause();
      if (polls % 1024 == 0) sched_yield();  // a helper lost its core: let it have this one
    }
    return true;
  }

 private:
  void helper(int id, uint32_t seen, uint32_t epoch) {
    t_in_team = true;
    for (;;) {
      uint32_t g;
      auto since = std::chrono::steady_clock::now();
      for (uint32_t polls = 1; (g = gen_.load(std::memory_order_acquire)) == seen; ++polls) {
        _mm_pause();
        if (polls % 64 == 0 && std::chrono::steady_clock::now() - since > kSpin) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          gen_.wait(seen, std::memory_order_seq_cst);  // returns at once if gen_ moved meanwhile
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
          since = std::chrono::steady_clock::now();
        }
      }
      seen = g;
      if (epoch_.load(std::memory_order_relaxed) != epoch) return;  // retired (see run)
      const int n = n_.load(std::memory_order_relaxed);
      fn_(ctx_, id, n);
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::mutex use_;
  int helpers_ = 0;  // helper threads started (ids 1..helpers_)
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  std::atomic<int> n_{0};
  std::atomic<uint32_t> epoch_{0};  // helpers started under another epoch exit at their next job
  alignas(64) std::atomic<uint32_t> gen_{0};
  alignas(64) std::atomic<int> pending_{0};
  alignas(64) std::atomic<int> sleepers_{0};
};

// Never destroyed: helpers may still be polling or asleep while the program exits. A child
// process made by fork() has none of the parent's helpers (and maybe a locked `use_`), so it
// sets the parent's team aside (still reachable, for leak checkers) and starts its own at its
// first job.
std::atomic<Team*> g_team{nullptr}, g_forked_from{nullptr};

Team& team() {
  static const bool at_fork = [] {
    return pthread_atfork(nullptr, nullptr, [] { g_forked_from.store(g_team.exchange(nullptr)); }) == 0;
  }();
  (void)at_fork;
  Team* t = g_team.load(std::memory_order_acquire);
  if (t == nullptr) {
    Team* fresh = new Team;
    if (g_team.compare_exchange_strong(t, fresh, std::memory_order_acq_rel)) return *fresh;
    delete fresh;  // another thread installed one first; t now holds it
  }
  return *t;
}

}  // namespace

bool spin_team_run(int n, void (*fn)(void*, int, int), void* ctx) { return team().run(n, fn, ctx); }

}  // namespace seqnn::kernels::detail
