// kernels/team.h: the polling thread team.
//
// One job slot. The caller publishes (fn, ctx, n), marks parts 1..n-1 free and bumps the
// generation `gen_`. Helper k sees the new generation, claims part k (compare-and-swap from free
// to claimed), runs fn(ctx, k, n) and marks it done. The caller runs part 0, then claims and runs
// every part still free itself (its helper is asleep, or lost its core to another program on a
// busy machine: waiting for it would cost a scheduler time slice), then polls until all parts are
// done. Part states carry the job's generation, so a late claim for an ended job fails.
// When num_threads() has been lowered, the next job retires every helper (they exit at that job
// without taking part) and starts as many as it needs. A helper that has polled for
// kSpinMicros without a new job registers in `sleepers_` and waits on `gen_`
// (std::atomic::wait: a futex); the caller wakes sleepers only when there are any. Both sides use
// sequentially consistent operations on `gen_` and `sleepers_`, so one of them always sees the
// other's write: no lost wake-up, and no system call while the helpers poll.
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#include "kernels/team.h"
#include "seqnn/threads.h"

namespace seqnn::kernels::detail {

namespace {

// Polling time of an idle helper before it sleeps, in microseconds.
constexpr int kSpinMicros = 100;
// Polling time of the caller waiting for a helper's part before it sleeps.
constexpr int kWaitMicros = 20;

thread_local bool t_in_team = false;  // a helper, or a caller running its own part of a job

class Team {
 public:
  bool run(int n, void (*fn)(void*, int, int), void* ctx) {
    if (n < 2 || t_in_team || omp_in_parallel()) return false;
    std::unique_lock<std::mutex> lock(use_, std::try_to_lock);
    if (!lock.owns_lock()) return false;  // another thread of the program is using the team
    if (helpers_ > std::max(n, num_threads()) - 1) {  // num_threads() was lowered: retire them all
      epoch_.fetch_add(1, std::memory_order_relaxed);   // (published by this job's gen_ below)
      helpers_ = 0;
    }
    while (helpers_ < n - 1) {
      const int id = helpers_ + 1;
      const uint32_t start = gen_.load(std::memory_order_relaxed);  // this job will be start + 1
      const uint32_t epoch = epoch_.load(std::memory_order_relaxed);
      try {
        std::thread([this, id, start, epoch] { helper(id, start, epoch); }).detach();
      } catch (const std::system_error&) {  // out of threads: the caller runs the job alone
        return false;
      }
      helpers_ = id;
    }
    fn_ = fn;
    ctx_ = ctx;
    n_of_job_ = n;
    error_ = nullptr;
    const uint32_t g = gen_.load(std::memory_order_relaxed) + 1;
    for (int k = 1; k < n; ++k) part_[k].store(state(g, kFree), std::memory_order_relaxed);
    gen_.store(g, std::memory_order_seq_cst);  // publishes the stores above
    if (sleepers_.load(std::memory_order_seq_cst) > 0) gen_.notify_all();
    std::exception_ptr mine;
    t_in_team = true;
    try {
      fn(ctx, 0, n);
    } catch (...) {
      mine = std::current_exception();
    }
    // Parts no helper has claimed yet (its helper is asleep, or lost its core to another job on
    // a busy machine) are run here rather than waited for.
    for (int k = 1; k < n; ++k) {
      uint64_t want = state(g, kFree);
      if (!part_[k].compare_exchange_strong(want, state(g, kClaimed), std::memory_order_acquire)) continue;
      try {
        fn(ctx, k, n);
      } catch (...) {
        if (!mine) mine = std::current_exception();
      }
      part_[k].store(state(g, kDone), std::memory_order_release);
    }
    t_in_team = false;
    // Wait for the claimed parts: poll briefly, then sleep until the helper says it is done (a
    // helper that lost its core to another program gets it back sooner with this one idle).
    const auto since = std::chrono::steady_clock::now();
    for (int k = 1; k < n; ++k) {
      uint64_t now_state;
      for (uint32_t polls = 1; (now_state = part_[k].load(std::memory_order_acquire)) != state(g, kDone); ++polls) {
        _mm_pause();
        if (polls % 64 == 0 && std::chrono::steady_clock::now() - since > std::chrono::microseconds(kWaitMicros)) {
          caller_asleep_.store(true, std::memory_order_seq_cst);
          part_[k].wait(now_state, std::memory_order_seq_cst);  // returns at once if the part moved on
          caller_asleep_.store(false, std::memory_order_relaxed);
        }
      }
    }
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  static constexpr uint64_t kFree = 0, kClaimed = 1, kDone = 2;
  static constexpr int kMaxParts = 1024;  // SEQNN_NUM_THREADS's upper bound
  // A part's state is tagged with its job's generation, so that a claim made late, for a job
  // that has already ended, fails instead of taking a part of the next job.
  static uint64_t state(uint32_t gen, uint64_t s) { return (uint64_t{gen} << 2) | s; }

  void helper(int id, uint32_t seen, uint32_t epoch) {
    t_in_team = true;
    const auto spin = std::chrono::microseconds(kSpinMicros);
    for (;;) {
      uint32_t g;
      auto since = std::chrono::steady_clock::now();
      for (uint32_t polls = 1; (g = gen_.load(std::memory_order_acquire)) == seen; ++polls) {
        _mm_pause();
        if (polls % 64 == 0 && std::chrono::steady_clock::now() - since > spin) {
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          gen_.wait(seen, std::memory_order_seq_cst);  // returns at once if gen_ moved meanwhile
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
          since = std::chrono::steady_clock::now();
        }
      }
      seen = g;
      if (epoch_.load(std::memory_order_relaxed) != epoch) return;  // retired (see run)
      uint64_t want = state(g, kFree);  // fails for a part the caller took, or a job without one
      if (!part_[id].compare_exchange_strong(want, state(g, kClaimed), std::memory_order_acquire)) continue;
      try {
        fn_(ctx_, id, n_of_job_);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      part_[id].store(state(g, kDone), std::memory_order_seq_cst);
      if (caller_asleep_.load(std::memory_order_seq_cst)) part_[id].notify_all();
    }
  }

  std::mutex use_, error_mutex_;
  int helpers_ = 0;  // helper threads started (ids 1..helpers_)
  void (*fn_)(void*, int, int) = nullptr;
  void* ctx_ = nullptr;
  int n_of_job_ = 0;
  std::exception_ptr error_;
  std::atomic<uint64_t> part_[kMaxParts] = {};
  std::atomic<uint32_t> epoch_{0};  // a helper started under another epoch exits at its next job
  alignas(64) std::atomic<uint32_t> gen_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<bool> caller_asleep_{false};
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

bool in_parallel_region() { return t_in_team || omp_in_parallel(); }

bool team_run(int n, void (*fn)(void*, int, int), void* ctx) { return team().run(n, fn, ctx); }

}  // namespace seqnn::kernels::detail
