// seqnn's thread team (kernels/team.h) behind parallel_for / parallel_parts (kernels/parallel.h):
// every index exactly once, whatever the caller's situation (helpers polling or asleep, more or
// fewer threads than before, inside OpenMP or the team's own job, several callers at once, a
// forked child, a part that throws).
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/parallel.h"
#include "seqnn/threads.h"

using namespace seqnn;

namespace {

// Runs parallel_for over n with the given grain; true when every index was visited once,
// the ranges were contiguous and in bounds, and the thread count was as expected.
struct Visit {
  std::vector<std::atomic<int>> hits;
  std::atomic<int> calls{0}, bad{0};
  std::mutex m;
  std::set<std::thread::id> threads;
  explicit Visit(int64_t n) : hits(static_cast<size_t>(n)) {}
};

void visit(Visit& v, int64_t n, int64_t grain) {
  kernels::parallel_for(n, grain, [&](int64_t b, int64_t e) {
    if (b < 0 || e > n || b >= e) v.bad.fetch_add(1);
    for (int64_t i = std::max<int64_t>(b, 0); i < std::min(e, n); ++i) v.hits[i].fetch_add(1);
    v.calls.fetch_add(1);
    std::lock_guard<std::mutex> g(v.m);
    v.threads.insert(std::this_thread::get_id());
  });
}

// A job of `parts` parts that each wait (up to 10 s) until all have started: true only when they
// really ran at the same time, i.e. every helper took its part (the caller runs a part no helper
// has claimed yet only after its own part, which here cannot end before the others start).
bool rendezvous(int parts) {
  std::atomic<int> arrived{0}, complete{0};
  kernels::parallel_parts(parts, [&](int, int) {
    arrived.fetch_add(1);
    const auto t0 = std::chrono::steady_clock::now();
    while (arrived.load() < parts && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    }
    if (arrived.load() == parts) complete.fetch_add(1);
  });
  return complete.load() == parts;
}

bool each_once(const Visit& v) {
  for (const auto& h : v.hits)
    if (h.load() != 1) return false;
  return v.bad.load() == 0;
}

class Team : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = num_threads(); }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

}  // namespace

TEST_F(Team, EveryIndexOnceAndUsesTheThreads) {
  set_num_threads(2);
  for (int64_t n : {1, 2, 3, 17, 1000})
    for (int64_t grain : {0, 1, 5, 2000}) {
      Visit v(n);
      visit(v, n, grain);
      EXPECT_TRUE(each_once(v)) << "n=" << n << " grain=" << grain;
      const int64_t want = n <= std::max<int64_t>(grain, 1) ? 1 : 2;
      EXPECT_EQ(v.calls.load(), want) << "n=" << n << " grain=" << grain;
      // a part no helper has claimed when the caller's own part ends is run by the caller
      EXPECT_LE(static_cast<int64_t>(v.threads.size()), want) << "n=" << n << " grain=" << grain;
    }
}

TEST_F(Team, BackToBackAndAfterTheHelpersSlept) {
  set_num_threads(2);
  for (int r = 0; r < 20000; ++r) {  // back to back: the helper is polling
    Visit v(64);
    visit(v, 64, 1);
    ASSERT_TRUE(each_once(v)) << "round " << r;
  }
  for (int r = 0; r < 5; ++r) {  // after an idle spell the helper sleeps on a futex: woken
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    Visit v(64);
    visit(v, 64, 1);
    ASSERT_TRUE(each_once(v)) << "after sleep, round " << r;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(rendezvous(2)) << "the sleeping helper was not woken, round " << r;
  }
}

TEST_F(Team, MoreThenFewerThreads) {
  // Four helpers started, then jobs for fewer threads: the team is retired and a smaller one
  // started; a retired helper must take no part in later jobs, even when the count rises again.
  for (int nt : {5, 2, 3, 1, 2}) {
    set_num_threads(nt);
    for (int r = 0; r < 200; ++r) {
      Visit v(40);
      visit(v, 40, 1);
      ASSERT_TRUE(each_once(v)) << "threads " << nt << " round " << r;
      ASSERT_EQ(v.calls.load(), nt) << "threads " << nt;
    }
    EXPECT_TRUE(rendezvous(nt)) << "threads " << nt;
  }
}

TEST_F(Team, InlineInsideOpenMPAndInsideItsOwnJob) {
  set_num_threads(2);
  std::atomic<int> ok{0}, members{0};
#pragma omp parallel num_threads(2)
  {
    members.fetch_add(1);
    Visit v(50);
    visit(v, 50, 1);
    const int want = omp_in_parallel() ? 1 : 2;  // a team of one is not a parallel region
    if (each_once(v) && v.calls.load() == want) ok.fetch_add(1);
  }
  EXPECT_EQ(ok.load(), members.load());
  // a nested call from a part of a job runs inline on that part's thread
  std::atomic<int> inner_ok{0}, parts{0};
  kernels::parallel_for(2, 1, [&](int64_t, int64_t) {
    parts.fetch_add(1);
    Visit v(30);
    visit(v, 30, 1);
    if (each_once(v) && v.calls.load() == 1 && v.threads.size() == 1) inner_ok.fetch_add(1);
  });
  EXPECT_EQ(parts.load(), 2);
  EXPECT_EQ(inner_ok.load(), 2);
}

TEST_F(Team, SeveralCallersAtOnce) {
  // Callers that find the team busy run their work inline; none waits for another's job.
  set_num_threads(2);
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int r = 0; r < 2000; ++r) {
        Visit v(33);
        visit(v, 33, 1);
        if (!each_once(v)) failures.fetch_add(1);
      }
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(Team, ForkedChildGetsATeamOfItsOwn) {
  set_num_threads(2);
  Visit warm(10);
  visit(warm, 10, 1);  // the parent's helper exists now; a child has no copy of it
  ASSERT_TRUE(each_once(warm));
  // ...and has finished starting: it took part in a job. Forking while a thread is still starting
  // copies the locks it holds at that moment; under AddressSanitizer (whose runtime takes its own
  // locks in a new thread) the child's first helper could then block at its start forever, and
  // the child ran its jobs alone (correct, but not the concurrency checked below).
  ASSERT_TRUE(rendezvous(2));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(20);  // a hang (waiting on a helper that does not exist) fails instead of blocking ctest
    Visit v(100);
    visit(v, 100, 1);
    _exit(each_once(v) && rendezvous(2) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(Team, PartsRunConcurrentlyAndExceptionsReachTheCaller) {
  set_num_threads(2);
  // parallel_parts: each part once, with the part count; both parts wait for each other, so this
  // finishes only when they really run at the same time
  std::atomic<int> arrived{0}, seen_count{0};
  kernels::parallel_parts(2, [&](int t, int c) {
    seen_count.fetch_add(c);
    arrived.fetch_add(1 << (4 * t));
    const auto t0 = std::chrono::steady_clock::now();
    while (arrived.load() != 0x11 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10)) {
    }
  });
  EXPECT_EQ(arrived.load(), 0x11);
  EXPECT_EQ(seen_count.load(), 4);
  // a throw in either part reaches the caller after both parts ended; the team still works after
  for (int thrower : {0, 1}) {
    std::atomic<int> finished{0};
    EXPECT_THROW(kernels::parallel_parts(2,
                                         [&](int t, int) {
                                           if (t == thrower) throw std::runtime_error("part failed");
                                           std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                           finished.fetch_add(1);
                                         }),
                 std::runtime_error);
    EXPECT_EQ(finished.load(), 1) << "the other part had not finished when the exception came";
    Visit v(64);
    visit(v, 64, 1);
    EXPECT_TRUE(each_once(v));
    EXPECT_TRUE(rendezvous(2));
  }
}
