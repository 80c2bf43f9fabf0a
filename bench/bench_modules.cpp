// Whole attention modules, float32, time-major (L, B=4, E=256), 8 heads, dropout 0:
//   BM_mha_<mode>/<L>            nn::MultiheadAttention self-attention, need_weights = false
//   BM_encoder_layer_<mode>/<L>  nn::TransformerEncoderLayer (post-norm, relu, FF 1024)
// mode fwd: eval() under NoGradGuard (what PyTorch's fast path covers); fwdbwd: training mode,
// backward from a random output gradient into the input and every parameter.
// bench/compare.py --only modules runs torch.nn's modules on the same work.
#include <benchmark/benchmark.h>

#include "seqnn/autograd.h"
#include "seqnn/nn/multihead_attention.h"
#include "seqnn/nn/transformer.h"
#include "seqnn/ops.h"

using namespace seqnn;

namespace {

constexpr int64_t kB = 4, kE = 256, kN = 8, kFF = 1024;

template <class M, class F>
void run(benchmark::State& st, M& m, bool backward, const F& forward) {
  const int64_t L = st.range(0);
  Generator g(1);
  Tensor x = randn({L, kB, kE}, DType::F32, &g), go = randn({L, kB, kE}, DType::F32, &g);
  if (backward) {
    m.train();
    x.requires_grad_();
  } else {
    m.eval();
  }
  for (auto _ : st) {
    if (backward) {
      forward(x).backward(go);
      benchmark::DoNotOptimize(x.grad().raw_data());
      x.zero_grad(true);
      m.zero_grad(true);
    } else {
      NoGradGuard ng;
      Tensor y = forward(x);
      benchmark::DoNotOptimize(y.raw_data());
    }
  }
}

void mha(benchmark::State& st, bool backward) {
  Generator g(2);
  nn::MultiheadAttention m(nn::MultiheadAttentionOptions(kE, kN), &g);
  run(st, m, backward, [&](const Tensor& x) { return m.forward(x, x, x, Tensor(), false).output; });
}

void encoder_layer(benchmark::State& st, bool backward) {
  Generator g(3);
  nn::TransformerEncoderLayer m(nn::TransformerEncoderLayerOptions(kE, kN).dim_feedforward(kFF).dropout(0.0), &g);
  run(st, m, backward, [&](const Tensor& x) { return m.forward(x); });
}

void BM_mha_fwd(benchmark::State& st) { mha(st, false); }
void BM_mha_fwdbwd(benchmark::State& st) { mha(st, true); }
void BM_encoder_layer_fwd(benchmark::State& st) { encoder_layer(st, false); }
void BM_encoder_layer_fwdbwd(benchmark::State& st) { encoder_layer(st, true); }

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t L : {256, 1024, 2048}) b->Arg(L);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_mha_fwd)->Apply(sizes);
BENCHMARK(BM_mha_fwdbwd)->Apply(sizes);
BENCHMARK(BM_encoder_layer_fwd)->Apply(sizes);
BENCHMARK(BM_encoder_layer_fwdbwd)->Apply(sizes);

BENCHMARK_MAIN();
