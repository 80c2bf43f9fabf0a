// seqnn/threads.h: the one threading knob.
//
// SEQNN_NUM_THREADS (default: the number of cores) sets how many threads seqnn's parallel work
// uses. Those threads are seqnn's own team: they start at the first parallel region, and after
// each one poll briefly for the next, then sleep. OpenBLAS runs single-threaded and seqnn splits
// a large BLAS call over the team, so one set of threads owns the cores. The value is also
// passed to omp_set_num_threads() for OpenMP regions of the program's own.
#pragma once

#include <string>

namespace seqnn {

int num_threads();
void set_num_threads(int n);  // n >= 1
// "OpenBLAS (openmp) ... single-threaded, 2 threads in seqnn's team, ...": what the runtime uses.
std::string runtime_info();

}  // namespace seqnn
