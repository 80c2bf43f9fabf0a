// Elementwise, softmax and layer_norm throughput (bytes read + written per second), forward
// only, float32. bench/compare.py runs the same ops and sizes in PyTorch and prints ratios.
// Names are op/size so compare.py can match them: BM_<op>/<elements or rows x cols>.
#include <benchmark/benchmark.h>

#include "seqnn/ops.h"

using namespace seqnn;

namespace {
constexpr int64_t kN = 1 << 20;  // 1M elements = 4 MB per tensor

template <class F>
void run(benchmark::State& st, int64_t bytes_per_iter, F f) {
  for (auto _ : st) {
    Tensor y = f();
    benchmark::DoNotOptimize(y.raw_data());
  }
  st.SetBytesProcessed(st.iterations() * bytes_per_iter);
}

void BM_add(benchmark::State& st) {
  Tensor a = randn({kN}), b = randn({kN});
  run(st, 3 * 4 * kN, [&] { return add(a, b); });
}
void BM_mul(benchmark::State& st) {
  Tensor a = randn({kN}), b = randn({kN});
  run(st, 3 * 4 * kN, [&] { return mul(a, b); });
}
void BM_add_rowbias(benchmark::State& st) {  // (4096,256) + (256)
  Tensor a = randn({4096, 256}), b = randn({256});
  run(st, 2 * 4 * kN, [&] { return add(a, b); });
}
void BM_tanh(benchmark::State& st) {
  Tensor a = randn({kN});
  run(st, 2 * 4 * kN, [&] { return tanh(a); });
}
void BM_sigmoid(benchmark::State& st) {
  Tensor a = randn({kN});
  run(st, 2 * 4 * kN, [&] { return sigmoid(a); });
}
void BM_relu(benchmark::State& st) {
  Tensor a = randn({kN});
  run(st, 2 * 4 * kN, [&] { return relu(a); });
}
void BM_gelu(benchmark::State& st) {
  Tensor a = randn({kN});
  run(st, 2 * 4 * kN, [&] { return gelu(a); });
}
void BM_exp(benchmark::State& st) {
  Tensor a = randn({kN});
  run(st, 2 * 4 * kN, [&] { return exp(a); });
}
void BM_softmax(benchmark::State& st) {  // rows of st.range(0)
  const int64_t cols = st.range(0), rows = kN / cols;
  Tensor a = randn({rows, cols});
  run(st, 2 * 4 * kN, [&] { return softmax(a, -1); });
}
void BM_log_softmax(benchmark::State& st) {
  const int64_t cols = st.range(0), rows = kN / cols;
  Tensor a = randn({rows, cols});
  run(st, 2 * 4 * kN, [&] { return log_softmax(a, -1); });
}
void BM_layer_norm(benchmark::State& st) {
  const int64_t cols = st.range(0), rows = kN / cols;
  Tensor a = randn({rows, cols}), w = randn({cols}), b = randn({cols});
  run(st, 2 * 4 * kN, [&] { return layer_norm(a, {cols}, w, b); });
}
void BM_sum_lastdim(benchmark::State& st) {
  const int64_t cols = st.range(0), rows = kN / cols;
  Tensor a = randn({rows, cols});
  run(st, 4 * kN, [&] { return sum(a, {-1}); });
}
}  // namespace

BENCHMARK(BM_add)->Arg(kN)->UseRealTime();
BENCHMARK(BM_mul)->Arg(kN)->UseRealTime();
BENCHMARK(BM_add_rowbias)->Arg(kN)->UseRealTime();
BENCHMARK(BM_tanh)->Arg(kN)->UseRealTime();
BENCHMARK(BM_sigmoid)->Arg(kN)->UseRealTime();
BENCHMARK(BM_relu)->Arg(kN)->UseRealTime();
BENCHMARK(BM_gelu)->Arg(kN)->UseRealTime();
BENCHMARK(BM_exp)->Arg(kN)->UseRealTime();
BENCHMARK(BM_softmax)->Arg(64)->Arg(1024)->UseRealTime();
BENCHMARK(BM_log_softmax)->Arg(1024)->UseRealTime();
BENCHMARK(BM_layer_norm)->Arg(256)->Arg(1024)->UseRealTime();
BENCHMARK(BM_sum_lastdim)->Arg(1024)->UseRealTime();
BENCHMARK_MAIN();
