// Thread configuration: SEQNN_NUM_THREADS -> seqnn's thread team (kernels/team.h) and OpenMP.
// OpenBLAS is kept single-threaded: seqnn splits a large BLAS call over its own team, so that one
// set of threads owns the cores (a second, OpenMP's, polling beside it cost 9x; measured).
#include "seqnn/threads.h"

#include <omp.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "seqnn/error.h"

extern "C" {
void openblas_set_num_threads(int);
int openblas_get_parallel(void);  // 0 sequential, 1 pthreads, 2 OpenMP
char* openblas_get_config(void);
}

namespace seqnn {

namespace {
int read_env_threads() {
  int n = static_cast<int>(std::thread::hardware_concurrency());
  if (n < 1) n = 1;
  if (const char* s = std::getenv("SEQNN_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > 1024)
      throw Error(std::string("SEQNN_NUM_THREADS: expected an integer in [1, 1024], got '") + s + "'");
    n = static_cast<int>(v);
  }
  return n;
}

int& threads_ref() {
  static int n = [] {
    int v = read_env_threads();
    openblas_set_num_threads(1);  // first: the OpenMP build of OpenBLAS also sets OpenMP's count
    omp_set_num_threads(v);
    return v;
  }();
  return n;
}
}  // namespace

// Apply SEQNN_NUM_THREADS when the library loads, not at the first num_threads() call: code
// paths that only call BLAS (a one-direction recurrent layer, a plain matmul) never ask. A bad
// value cannot throw from a static initializer, so it is reported at the first explicit call.
namespace {
const bool g_threads_applied = [] {
  try {
    threads_ref();
  } catch (const Error&) {
  }
  return true;
}();
}  // namespace

int num_threads() { return threads_ref(); }

void set_num_threads(int n) {
  check(n >= 1, "set_num_threads", "need n >= 1, got ", n);
  threads_ref() = n;
  openblas_set_num_threads(1);
  omp_set_num_threads(n);
}

std::string runtime_info() {
  const int par = openblas_get_parallel();
  const char* kind = par == 2 ? "openmp" : par == 1 ? "pthreads" : "sequential";
  // OMP_WAIT_POLICY as libgomp read it at load (seqnn's executables set GOMP_SPINCOUNT=10000 unless the
  // user chose: src/runtime/preinit/omp_wait_policy.cpp)
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  std::string policy = wait ? std::string(wait) + (spin ? std::string(", GOMP_SPINCOUNT=") + spin : std::string())
                       : spin ? std::string("GOMP_SPINCOUNT=") + spin : "libgomp default (spins 300000 rounds)";
  return std::string("OpenBLAS (") + kind + ") " + openblas_get_config() + " single-threaded, " +
         std::to_string(num_threads()) + " threads in seqnn's team, OpenMP wait policy " + policy;
}

}  // namespace seqnn
