// kernels/parallel.h (internal): split a 1-d range over seqnn's threads.
//
//   parallel_for(n, grain, [&](int64_t begin, int64_t end) { ... });
// Runs inline when n <= grain or when already inside a parallel region.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "seqnn/threads.h"

namespace seqnn::kernels {

template <class F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  const int nt = num_threads();
  if (nt <= 1 || n <= grain || omp_in_parallel()) {
    f(int64_t{0}, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(nt, (n + grain - 1) / grain);
#pragma omp parallel num_threads(static_cast<int>(chunks))
  {
    const int64_t t = omp_get_thread_num(), c = omp_get_num_threads();
    const int64_t begin = n * t / c, end = n * (t + 1) / c;
    if (begin < end) f(begin, end);
  }
}

}  // namespace seqnn::kernels
