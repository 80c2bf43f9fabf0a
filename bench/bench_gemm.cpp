// The gemm wrapper against a direct cblas_sgemm call on the same buffers: the wrapper's
// overhead must stay under 2% at 256^3 (bench/compare.py prints the ratio).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include "kernels/gemm.h"
#include "seqnn/random.h"

using namespace seqnn;

namespace {
struct Operands {
  explicit Operands(int64_t n) : a(randn({n, n})), b(randn({n, n})), c(zeros({n, n})) {}
  Tensor a, b, c;
};

void BM_gemm_wrapper(benchmark::State& st) {
  const int64_t n = st.range(0);
  Operands o(n);
  for (auto _ : st) {
    kernels::gemm<float>(false, true, n, n, n, 1.0f, o.a.data_ptr<float>(), n, o.b.data_ptr<float>(), n, 0.0f,
                         o.c.data_ptr<float>(), n);
    benchmark::DoNotOptimize(o.c.data_ptr<float>());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

void BM_cblas_direct(benchmark::State& st) {
  const int n = static_cast<int>(st.range(0));
  Operands o(n);
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, o.a.data_ptr<float>(), n,
                o.b.data_ptr<float>(), n, 0.0f, o.c.data_ptr<float>(), n);
    benchmark::DoNotOptimize(o.c.data_ptr<float>());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}
}  // namespace

BENCHMARK(BM_gemm_wrapper)->Arg(64)->Arg(256)->Arg(512)->UseRealTime();
BENCHMARK(BM_cblas_direct)->Arg(64)->Arg(256)->Arg(512)->UseRealTime();
BENCHMARK_MAIN();
