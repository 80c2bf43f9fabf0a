// src/runtime/preinit/omp_wait_policy.cpp: OpenMP threads that spin only briefly, then sleep,
// while they wait.
//
// seqnn's own parallel work no longer runs on OpenMP (kernels/team.h, since stop 17) and OpenBLAS
// is single-threaded, so this now matters for OpenMP regions of the program's own; the
// measurements below were made when seqnn's regions were OpenMP's.
//
// libgomp's default lets a thread that reaches a barrier spin for 300000 rounds before it
// sleeps. On a machine whose cores are also busy with other work, the spinning thread burns the
// time slice its partner needs to finish, and every parallel region then costs a scheduler
// slice. Sleeping at once (OMP_WAIT_POLICY=passive, spin count 0) fixes that but pays a futex
// wake-up for every short parallel region, which the step-by-step decoders run hundreds of per
// call. A spin of 10000 rounds (a few microseconds) keeps back-to-back regions warm and bounds
// what a descheduled partner can cost. Measured on this 2-core machine, SEQNN_NUM_THREADS=2,
// bench_seq2seq (char GRU encoder-decoder, B 64), ms per call, train / greedy / beam 4:
//   quiet:                GOMP_SPINCOUNT=0 71-79 / 24-27 / 64    10000: 62 / 19.4-19.7 / 58-60
//   two busy loops beside: GOMP_SPINCOUNT=0 2211 / 298            10000: 1030 / 149
//                          libgomp default (300000) 4496 / 1905
// and earlier, at load ~4 from other jobs: LSTM forward (100,32,256,256) 420 ms with the
// default vs 51 ms passive; a toy Transformer seq2seq epoch 59 s vs 2.1 s.
// libgomp reads its environment once, in its own initialiser, which runs before any initialiser
// of seqnn's library; setenv() from the executable's .preinit_array (which runs earlier still)
// does not survive either, because libc's own initialiser then resets `environ` to the
// process's original block. So, from .preinit_array, where nothing else has run yet: when the
// environment names no policy (neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT), the program
// re-executes itself once (/proc/self/exe, same argv) with GOMP_SPINCOUNT=10000 appended.
// The second start finds a policy and goes on; a user's own choice is never touched; if the
// re-exec cannot happen (no /proc, an environment of over 4094 entries) the program simply runs
// with libgomp's default. Cost: one exec, about 1 ms.
//
// This object is linked into seqnn's executables (the CLI, tests, benchmarks, examples; CMake
// target seqnn::omp_wait_policy for your own programs), not into the library: a shared library
// has no .preinit_array, and a program that embeds seqnn keeps its own OpenMP settings.
// Only async-signal-safe calls here (no malloc, no stdio): libc is not initialised yet.
#include <unistd.h>

#include <cstddef>
#include <cstring>

namespace {

char kSpin[] = "GOMP_SPINCOUNT=10000";
constexpr std::size_t kMaxEnv = 4096;
char* g_env[kMaxEnv];

bool names_policy(const char* e) {
  return std::strncmp(e, "OMP_WAIT_POLICY=", 16) == 0 || std::strncmp(e, "GOMP_SPINCOUNT=", 15) == 0;
}

void seqnn_omp_wait_policy(int, char** argv, char** envp) {
  if (argv == nullptr || envp == nullptr) return;
  std::size_t n = 0;
  for (; envp[n] != nullptr; ++n) {
    if (names_policy(envp[n])) return;  // the user chose (or this is the re-executed start)
    if (n + 2 >= kMaxEnv) return;
    g_env[n] = envp[n];
  }
  g_env[n] = kSpin;
  g_env[n + 1] = nullptr;
  execve("/proc/self/exe", argv, g_env);  // returns only on failure: run on with the default
}

}  // namespace

__attribute__((section(".preinit_array"), used)) static void (*const seqnn_omp_wait_policy_preinit)(
    int, char**, char**) = &seqnn_omp_wait_policy;
