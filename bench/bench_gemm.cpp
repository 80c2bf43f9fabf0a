// The gemm wrapper (seqnn's own AVX-512 kernel where the CPU has it, else OpenBLAS) against a
// direct cblas_sgemm call on the same buffers (bench/compare.py prints the ratio): square
// products, and the shapes a recurrent layer's training step makes (BM_*_shape, args
// M, N, K, trans_a, trans_b): the input projection X W_ih^T, dX = dG W_ih, dW = dG^T X; and
// the fused attention kernel's tile products.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include "kernels/gemm.h"
#include "seqnn/random.h"
#include "seqnn/threads.h"

extern "C" void openblas_set_num_threads(int);

using namespace seqnn;

namespace {
// seqnn keeps OpenBLAS single-threaded (its own team owns the cores: seqnn/threads.h); the direct
// cblas_sgemm benchmarks give OpenBLAS the same threads, as a program calling it directly has.
struct OpenBlasThreads {
  OpenBlasThreads() { openblas_set_num_threads(num_threads()); }
  ~OpenBlasThreads() { set_num_threads(num_threads()); }  // back to seqnn's settings
};

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
  const OpenBlasThreads threads;
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, o.a.data_ptr<float>(), n,
                o.b.data_ptr<float>(), n, 0.0f, o.c.data_ptr<float>(), n);
    benchmark::DoNotOptimize(o.c.data_ptr<float>());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}
struct Shaped {
  Shaped(const benchmark::State& st)
      : M(st.range(0)), N(st.range(1)), K(st.range(2)), ta(st.range(3) != 0), tb(st.range(4) != 0),
        a(randn({M * K})), b(randn({K * N})), c(zeros({M * N})) {}
  int64_t M, N, K;
  bool ta, tb;
  Tensor a, b, c;
  int64_t lda() const { return ta ? M : K; }
  int64_t ldb() const { return tb ? K : N; }
};

void set_counters(benchmark::State& st, const Shaped& o) {
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * o.M * o.N * o.K, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

void BM_wrapper_shape(benchmark::State& st) {
  Shaped o(st);
  for (auto _ : st) {
    kernels::gemm<float>(o.ta, o.tb, o.M, o.N, o.K, 1.0f, o.a.data_ptr<float>(), o.lda(), o.b.data_ptr<float>(),
                         o.ldb(), 0.0f, o.c.data_ptr<float>(), o.N);
    benchmark::DoNotOptimize(o.c.data_ptr<float>());
  }
  set_counters(st, o);
}

void BM_cblas_shape(benchmark::State& st) {
  Shaped o(st);
  const OpenBlasThreads threads;
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, o.ta ? CblasTrans : CblasNoTrans, o.tb ? CblasTrans : CblasNoTrans, o.M, o.N, o.K, 1.0f,
                o.a.data_ptr<float>(), o.lda(), o.b.data_ptr<float>(), o.ldb(), 0.0f, o.c.data_ptr<float>(), o.N);
    benchmark::DoNotOptimize(o.c.data_ptr<float>());
  }
  set_counters(st, o);
}

// Fashion-MNIST row-LSTM (T 28, B 128, I 64, H 128) and the issue-3 LSTMs (T 100, B 32,
// I = H = 256; T 100, B 64, I = H = 512), and the Jordan network's weight gradients.
void shapes(benchmark::internal::Benchmark* b) {
  b->Args({3584, 512, 64, 0, 1})->Args({3584, 64, 512, 0, 0})->Args({512, 64, 3584, 1, 0})->Args({512, 128, 3584, 1, 0});
  b->Args({3200, 1024, 256, 0, 1})->Args({3200, 256, 1024, 0, 0})->Args({1024, 256, 3200, 1, 0});
  b->Args({6400, 2048, 512, 0, 1})->Args({6400, 512, 2048, 0, 0})->Args({2048, 512, 6400, 1, 0});
  // the issue-3 Jordan network (T 100, B 32, I = H = O = 256): each weight gradient dG^T X
  b->Args({256, 256, 3200, 1, 0});
  // fused attention tiles (64 queries x 256 keys, head dim 32): S = Q K^T, O = P V, dV = P^T dO
  b->Args({64, 256, 32, 0, 1})->Args({64, 32, 256, 0, 0})->Args({256, 32, 64, 1, 0});
  // Fashion-MNIST ViT (batch 128 x 49 patches = 6272 tokens, d 64, FF 128): X W^T of in_proj and
  // of the FF's two layers, dX = dY W, dW = dY^T X
  b->Args({6272, 192, 64, 0, 1})->Args({6272, 128, 64, 0, 1})->Args({6272, 64, 128, 0, 1});
  b->Args({6272, 64, 192, 0, 0})->Args({192, 64, 6272, 1, 0})->Args({64, 128, 6272, 1, 0});
}
}  // namespace

BENCHMARK(BM_wrapper_shape)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_cblas_shape)->Apply(shapes)->UseRealTime();
BENCHMARK(BM_gemm_wrapper)->Arg(64)->Arg(256)->Arg(512)->UseRealTime();
BENCHMARK(BM_cblas_direct)->Arg(64)->Arg(256)->Arg(512)->UseRealTime();
BENCHMARK_MAIN();
