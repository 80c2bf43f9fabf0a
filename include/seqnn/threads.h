// seqnn/threads.h: the one threading knob.
//
// SEQNN_NUM_THREADS (default: the number of cores) sets how many threads seqnn's own parallel
// regions use, and how many OpenBLAS uses for calls made outside them. Inside seqnn's parallel
// regions BLAS runs single-threaded (Debian's OpenMP build of OpenBLAS does this by itself; the
// gemm wrapper checks), so the two never oversubscribe the cores.
#pragma once

#include <string>

namespace seqnn {

int num_threads();
void set_num_threads(int n);  // n >= 1
// "openblas-openmp 0.3.21 (Haswell), 2 threads": what the runtime is using.
std::string runtime_info();

}  // namespace seqnn
