// Fused attention (scaled_dot_product_attention), float32, B x N heads of D = 32 (E = 256 at
// N = 8): forward (NoGradGuard) and forward + backward (q, k, v require grad; backward from a
// random output gradient), per mask:
//   none | causal (top-left) | window w=64 (left 64, right 0: the 64 previous keys and itself)
//   | keypad (key_lengths = 3L/4 for every batch row)
// Names: BM_attn_<mode>_<mask>/<L>/<B>. BM_attn_short_<mode>/<L>/<B>/<N>/<D>: the many short
// problems of a small Transformer (the ViT of configs/fashion_patches_vit.json: 49 patches,
// batch 128, 4 heads of 16), no mask. Counter peak_rss_mb = getrusage(ru_maxrss) of the
// process (a running maximum: bench/compare.py runs each case in its own process).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "seqnn/attention.h"
#include "seqnn/autograd.h"
#include "seqnn/ops.h"

using namespace seqnn;

namespace {

constexpr int64_t kN = 8, kD = 32;

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB -> MiB
}

AttentionMask make_mask(int kind, int64_t B, int64_t L) {
  AttentionMask m;
  if (kind == 1) m.causal();
  if (kind == 2) m.window(64, 0);
  if (kind == 3) m.key_lengths(full({B}, static_cast<double>(3 * L / 4), DType::I64));
  return m;
}

void run(benchmark::State& st, bool backward, int kind, int64_t N = kN, int64_t D = kD) {
  const int64_t L = st.range(0), B = st.range(1);
  Generator g(1);
  Tensor q = randn({B, N, L, D}, DType::F32, &g), k = randn({B, N, L, D}, DType::F32, &g);
  Tensor v = randn({B, N, L, D}, DType::F32, &g), go = randn({B, N, L, D}, DType::F32, &g);
  const AttentionMask mask = make_mask(kind, B, L);
  if (backward) {
    q.requires_grad_(), k.requires_grad_(), v.requires_grad_();
  }
  for (auto _ : st) {
    if (backward) {
      auto r = scaled_dot_product_attention(q, k, v, mask);
      r.output.backward(go);
      benchmark::DoNotOptimize(q.grad().raw_data());
      q.zero_grad(true), k.zero_grad(true), v.zero_grad(true);
    } else {
      NoGradGuard ng;
      auto r = scaled_dot_product_attention(q, k, v, mask);
      benchmark::DoNotOptimize(r.output.raw_data());
    }
  }
  st.counters["peak_rss_mb"] = peak_rss_mb();
}

void BM_attn_fwd_none(benchmark::State& st) { run(st, false, 0); }
void BM_attn_fwd_causal(benchmark::State& st) { run(st, false, 1); }
void BM_attn_fwd_window(benchmark::State& st) { run(st, false, 2); }
void BM_attn_fwd_keypad(benchmark::State& st) { run(st, false, 3); }
void BM_attn_fwdbwd_none(benchmark::State& st) { run(st, true, 0); }
void BM_attn_fwdbwd_causal(benchmark::State& st) { run(st, true, 1); }
void BM_attn_fwdbwd_window(benchmark::State& st) { run(st, true, 2); }
void BM_attn_fwdbwd_keypad(benchmark::State& st) { run(st, true, 3); }

void BM_attn_short_fwd(benchmark::State& st) { run(st, false, 0, st.range(2), st.range(3)); }
void BM_attn_short_fwdbwd(benchmark::State& st) { run(st, true, 0, st.range(2), st.range(3)); }

void sizes_short(benchmark::internal::Benchmark* b) {
  b->Args({49, 128, 4, 16})->Args({64, 32, 8, 32})->Args({100, 16, 4, 64});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int64_t L : {256, 1024, 2048, 4096}) b->Args({L, 4});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}
void sizes_window(benchmark::internal::Benchmark* b) {
  sizes(b);
  b->Args({8192, 4});
}
void sizes_long(benchmark::internal::Benchmark* b) {
  sizes(b);
  b->Args({16384, 1});
}

}  // namespace

BENCHMARK(BM_attn_fwd_none)->Apply(sizes);
BENCHMARK(BM_attn_fwd_causal)->Apply(sizes);
BENCHMARK(BM_attn_fwd_window)->Apply(sizes_window);
BENCHMARK(BM_attn_fwd_keypad)->Apply(sizes);
BENCHMARK(BM_attn_fwdbwd_none)->Apply(sizes_long);
BENCHMARK(BM_attn_fwdbwd_causal)->Apply(sizes);
BENCHMARK(BM_attn_fwdbwd_window)->Apply(sizes_window);
BENCHMARK(BM_attn_fwdbwd_keypad)->Apply(sizes);
BENCHMARK(BM_attn_short_fwd)->Apply(sizes_short);
BENCHMARK(BM_attn_short_fwdbwd)->Apply(sizes_short);

BENCHMARK_MAIN();
