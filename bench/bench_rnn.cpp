// seqnn's fused recurrent layer (recurrent_layer, seqnn/recurrent.h), float32, on the shapes
// of bench_rnn_onednn.cpp; bench/compare.py --only rnn prints it next to oneDNN and PyTorch.
//
//   BM_<cell>_fwd/T/B/I/H      forward under NoGradGuard (no graph, no saved state)
//   BM_<cell>_fwdbwd/T/B/I/H   forward recording the graph + autograd::backward from a random
//                              output gradient; x and every weight require grad (so dx is
//                              computed, like oneDNN's diff_src_layer); .grad accumulates
//   cells: lstm, gru, bilstm2 (2 layers, bidirectional: layer 1 reads 2H features),
//          lstm_peephole, lstm_proj (proj_size P = H/2), lstm_linear (activation Identity: the
//          notes' linear memory) and jordan (O = H, tanh hidden, identity output) at (100,32,256,256)
//   BM_lstm_step/H             streaming: one nn::LSTM(H, H)::step at B=1 (no gradients);
//                              2*(I+H)*4*H FLOPs; BM_lstm_peephole_step/H with peepholes,
//                              BM_lstm_proj_step/H with proj_size P = H/2 (2*(I+P)*4*H + 2*H*P),
//                              BM_lstm_linear_step/H with activation Identity
//   BM_jordan_step/H           one nn::JordanRNN(H, H, O = H)::step at B=1 (tanh, identity
//                              output): 2*(I+O)*H + 2*H*O FLOPs
//   BM_lstm_step_kernel/H/oneway:0  the same step on the packed-weight kernel alone
//                              (kernels::recurrent_step): what the module adds is the difference;
//                              oneway:1 streams the panels in one order only (see StepSweep)
//
// FLOPs (the GFLOPS counter): forward 2*T*B*(I+R)*G*H per layer per direction (+ 2*T*B*H*R
// for Jordan's output layer or the projection), 3x that for forward + backward. Weights ~ U(-1/sqrt(H),
// 1/sqrt(H)) like PyTorch's init, x ~ N(0,1), zero initial state.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/recurrent_step.h"
#include "seqnn/autograd.h"
#include "seqnn/nn/rnn.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"
#include "seqnn/threads.h"

using namespace seqnn;

namespace {

// Proj: LSTM with proj_size P = H/2; Linear: LSTM with activation Identity (the notes' linear memory)
enum class Kind { LSTM, GRU, Peephole, Jordan, Proj, Linear };

// ---------------------------------------------------------------------------------------------
// A stack of fused layers with its inputs, weights and output gradient
// ---------------------------------------------------------------------------------------------
struct Problem {
  RecurrentSpec spec;
  Tensor x, gy;
  std::vector<std::vector<RecurrentWeights>> layers;  // [layer][direction]
  double fwd_flops = 0;

  Tensor forward() const {
    Tensor h = x;
    for (const auto& w : layers) h = recurrent_layer(spec, h, Tensor(), Tensor(), w).output;
    return h;
  }
};

Tensor param(const Shape& shape, double k, bool grad) {
  Tensor t = uniform(shape, -k, k);
  if (grad) t.requires_grad_();
  return t;
}

// One direction of one layer: I inputs, H hidden. PyTorch's layouts (recurrent.h).
RecurrentWeights make_weights(Kind kind, int64_t I, int64_t H, bool grad) {
  const double k = 1.0 / std::sqrt(static_cast<double>(H));
  const int64_t G = kind == Kind::GRU ? 3 : kind == Kind::Jordan ? 1 : 4;
  const int64_t R = kind == Kind::Proj ? H / 2 : H;  // fed-back width: H, P = H/2, or O = H for Jordan
  RecurrentWeights w;
  w.w_ih = param({G * H, I}, k, grad);
  w.w_hh = param({G * H, R}, k, grad);
  w.b_ih = param({G * H}, k, grad);
  w.b_hh = param({G * H}, k, grad);
  if (kind == Kind::Peephole) w.w_peep = param({3, H}, k, grad);
  if (kind == Kind::Proj) w.w_hr = param({R, H}, k, grad);
  if (kind == Kind::Jordan) {
    w.w_ho = param({R, H}, k, grad);
    w.b_ho = param({R}, k, grad);
  }
  return w;
}

Problem make_problem(Kind kind, int num_layers, int dirs, int64_t T, int64_t B, int64_t I, int64_t H, bool grad) {
  Problem p;
  p.spec.cell = kind == Kind::GRU ? CellType::GRU : kind == Kind::Jordan ? CellType::Jordan : CellType::LSTM;
  p.spec.activation = kind == Kind::Linear ? Activation::Identity : Activation::Tanh;
  p.spec.output_activation = Activation::Identity;
  const int64_t G = kind == Kind::GRU ? 3 : kind == Kind::Jordan ? 1 : 4;
  p.x = randn({T, B, I});
  if (grad) p.x.requires_grad_();
  const int64_t R = kind == Kind::Proj ? H / 2 : H;
  for (int l = 0; l < num_layers; ++l) {
    const int64_t in = l == 0 ? I : dirs * R;
    std::vector<RecurrentWeights> ws;
    for (int d = 0; d < dirs; ++d) {
      ws.push_back(make_weights(kind, in, H, grad));
      p.fwd_flops += 2.0 * T * B * (in + R) * G * H;
      if (kind == Kind::Jordan || kind == Kind::Proj) p.fwd_flops += 2.0 * T * B * H * R;  // W_ho / W_hr
    }
    p.layers.push_back(std::move(ws));
  }
  p.gy = randn({T, B, dirs * R});
  return p;
}

// ---------------------------------------------------------------------------------------------
// The timed loops
// ---------------------------------------------------------------------------------------------
void run(benchmark::State& st, Kind kind, int num_layers, int dirs, bool training) {
  const int64_t T = st.range(0), B = st.range(1), I = st.range(2), H = st.range(3);
  // Applies SEQNN_NUM_THREADS to OpenMP and OpenBLAS now: the runtime reads it lazily, on the
  // first num_threads() call, which a unidirectional layer may never make.
  benchmark::DoNotOptimize(num_threads());
  Problem p = make_problem(kind, num_layers, dirs, T, B, I, H, training);
  double flops = p.fwd_flops;
  if (training) {
    flops *= 3;
    for (auto _ : st) {
      Tensor y = p.forward();
      autograd::backward({y}, {p.gy});
      benchmark::DoNotOptimize(p.x.grad().raw_data());
    }
  } else {
    NoGradGuard no_grad;
    for (auto _ : st) {
      Tensor y = p.forward();
      benchmark::DoNotOptimize(y.raw_data());
    }
  }
  st.counters["GFLOPS"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// One step of a streaming LSTM at B = 1: the latency a token-by-token decoder sees.
void lstm_step(benchmark::State& st, bool peephole, bool proj = false, Activation act = Activation::Tanh) {
  const int64_t H = st.range(0);
  benchmark::DoNotOptimize(num_threads());
  nn::LSTM lstm(nn::LSTMOptions(H, H).peephole(peephole).proj_size(proj ? H / 2 : 0).activation(act));
  nn::RecurrentState state = lstm.initial_state(1);
  const Tensor x = randn({1, H});
  for (auto _ : st) {
    Tensor y = lstm.step(x, state);
    benchmark::DoNotOptimize(y.raw_data());
  }
  const double P = proj ? H / 2 : 0, R = proj ? P : H;  // W_hh: (4H, R); W_hr: (P, H)
  const double flops = 2.0 * (H + R) * 4 * H + 2.0 * P * H;
  st.counters["GFLOPS"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_lstm_step(benchmark::State& st) { lstm_step(st, false); }

void BM_jordan_step(benchmark::State& st) {
  const int64_t H = st.range(0), O = H;
  benchmark::DoNotOptimize(num_threads());
  nn::JordanRNN jordan(nn::JordanOptions(H, H, O));
  nn::RecurrentState state = jordan.initial_state(1);
  const Tensor x = randn({1, H});
  for (auto _ : st) {
    Tensor y = jordan.step(x, state);
    benchmark::DoNotOptimize(y.raw_data());
  }
  const double flops = 2.0 * (H + O) * H + 2.0 * H * O;  // W_ih, W_hh (H, I + O); W_ho (O, H)
  st.counters["GFLOPS"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
void BM_lstm_peephole_step(benchmark::State& st) { lstm_step(st, true); }
void BM_lstm_proj_step(benchmark::State& st) { lstm_step(st, false, true); }
void BM_lstm_linear_step(benchmark::State& st) { lstm_step(st, false, false, Activation::Identity); }

// The kernel alone, alternating the panel order as the module does (oneway = 1: always Up, so
// every step streams all the weights from L3; the difference is what the alternation wins).
void BM_lstm_step_kernel(benchmark::State& st) {
  using kernels::StepCell;
  const bool oneway = st.range(1) != 0;
  const int64_t H = st.range(0), I = H;
  benchmark::DoNotOptimize(num_threads());
  const double k = 1.0 / std::sqrt(static_cast<double>(H));  // PyTorch's init range
  const Tensor w_ih = uniform({4 * H, I}, -k, k), w_hh = uniform({4 * H, H}, -k, k), b = uniform({4 * H}, -k, k);
  std::vector<float> wih(kernels::step_packed_size(StepCell::Lstm, H, I));
  std::vector<float> whh(kernels::step_packed_size(StepCell::Lstm, H, H));
  std::vector<float> bias(kernels::step_bias_size(StepCell::Lstm, H));
  kernels::pack_step_weights(StepCell::Lstm, w_ih.data_ptr<float>(), H, I, wih.data());
  kernels::pack_step_weights(StepCell::Lstm, w_hh.data_ptr<float>(), H, H, whh.data());
  kernels::pack_step_bias(StepCell::Lstm, b.data_ptr<float>(), b.data_ptr<float>(), H, bias.data());
  const Tensor x = randn({1, I});
  std::vector<float> h(H, 0.0f), h2(H), c(H, 0.0f);
  kernels::StepSweep sweep = kernels::StepSweep::Up;
  for (auto _ : st) {
    kernels::recurrent_step(StepCell::Lstm, 1, I, H, H, x.data_ptr<float>(), h.data(), c.data(), wih.data(), whh.data(),
                            bias.data(), h2.data(), c.data(), nullptr, sweep);
    if (!oneway) sweep = kernels::flip(sweep);
    std::swap(h, h2);
    benchmark::DoNotOptimize(h.data());
  }
  st.counters["GFLOPS"] = benchmark::Counter(2.0 * (I + H) * 4 * H, benchmark::Counter::kIsIterationInvariantRate,
                                             benchmark::Counter::kIs1000);
}

// The floor under BM_lstm_step_kernel: the same bytes (both packed matrices, panel by panel)
// only read, on the same team, split and ordered the same way (XOR of every word, no FMAs,
// the same software prefetch).
// At B = 1 the step streams its weights once per call (8 MiB at H = 512: from L3), so no step
// kernel on this machine can beat this loop; the kernel's time over it is what is left to win.
// Prefetches 8 KiB ahead, as the kernel does (kPfFloats in recurrent_step.cpp).
using u16v = uint32_t __attribute__((vector_size(64)));
[[gnu::target_clones("avx512f", "avx2", "default")]] uint32_t xor_words(const uint32_t* p, int64_t n) {
  u16v r = {};
  for (int64_t i = 0; i + 16 <= n; i += 16) {  // n is a multiple of 16 (a panel's width)
    __builtin_prefetch(p + i + 2048);
    u16v v;
    std::memcpy(&v, p + i, sizeof v);
    r ^= v;
  }
  uint32_t x = 0;
  for (int u = 0; u < 16; ++u) x ^= r[u];
  return x;
}

void BM_step_read_floor(benchmark::State& st) {
  using kernels::StepCell;
  const bool oneway = st.range(1) != 0;
  const int64_t H = st.range(0), I = H;
  benchmark::DoNotOptimize(num_threads());
  const int64_t P = kernels::step_panels(H);
  const int64_t panel = (kernels::step_packed_size(StepCell::Lstm, H, I) +
                         kernels::step_packed_size(StepCell::Lstm, H, H)) / P;  // words per panel
  std::vector<uint32_t> w(P * panel);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint32_t>(i * 2654435761u);
  std::vector<uint32_t> out(P);
  bool down = false;
  for (auto _ : st) {
    kernels::parallel_for(P, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t q = p0; q < p1; ++q) {
        const int64_t p = down ? p0 + p1 - 1 - q : q;
        out[p] = xor_words(w.data() + p * panel, panel);
      }
    });
    if (!oneway) down = !down;
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["GBps"] = benchmark::Counter(4.0 * P * panel, benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
}

void BM_lstm_fwd(benchmark::State& st) { run(st, Kind::LSTM, 1, 1, false); }
void BM_lstm_fwdbwd(benchmark::State& st) { run(st, Kind::LSTM, 1, 1, true); }
void BM_gru_fwd(benchmark::State& st) { run(st, Kind::GRU, 1, 1, false); }
void BM_gru_fwdbwd(benchmark::State& st) { run(st, Kind::GRU, 1, 1, true); }
void BM_bilstm2_fwd(benchmark::State& st) { run(st, Kind::LSTM, 2, 2, false); }
void BM_bilstm2_fwdbwd(benchmark::State& st) { run(st, Kind::LSTM, 2, 2, true); }
void BM_lstm_peephole_fwd(benchmark::State& st) { run(st, Kind::Peephole, 1, 1, false); }
void BM_lstm_peephole_fwdbwd(benchmark::State& st) { run(st, Kind::Peephole, 1, 1, true); }
void BM_lstm_proj_fwd(benchmark::State& st) { run(st, Kind::Proj, 1, 1, false); }
void BM_lstm_proj_fwdbwd(benchmark::State& st) { run(st, Kind::Proj, 1, 1, true); }
void BM_lstm_linear_fwd(benchmark::State& st) { run(st, Kind::Linear, 1, 1, false); }
void BM_lstm_linear_fwdbwd(benchmark::State& st) { run(st, Kind::Linear, 1, 1, true); }
void BM_jordan_fwd(benchmark::State& st) { run(st, Kind::Jordan, 1, 1, false); }
void BM_jordan_fwdbwd(benchmark::State& st) { run(st, Kind::Jordan, 1, 1, true); }

// (T, B, I, H): the shapes of bench_rnn_onednn.cpp and compare.py.
void shapes(benchmark::internal::Benchmark* b) {
  b->Args({100, 32, 256, 256})->Args({100, 64, 512, 512})->Args({50, 16, 128, 128})->Args({100, 1, 128, 128});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}
void one_shape(benchmark::internal::Benchmark* b) {
  b->Args({100, 32, 256, 256})->UseRealTime()->Unit(benchmark::kMillisecond);
}
}  // namespace

BENCHMARK(BM_lstm_fwd)->Apply(shapes);
BENCHMARK(BM_lstm_fwdbwd)->Apply(shapes);
BENCHMARK(BM_gru_fwd)->Apply(shapes);
BENCHMARK(BM_gru_fwdbwd)->Apply(shapes);
BENCHMARK(BM_bilstm2_fwd)->Apply(one_shape);
BENCHMARK(BM_bilstm2_fwdbwd)->Apply(one_shape);
BENCHMARK(BM_lstm_peephole_fwd)->Apply(one_shape);
BENCHMARK(BM_lstm_peephole_fwdbwd)->Apply(one_shape);
BENCHMARK(BM_lstm_proj_fwd)->Apply(one_shape);
BENCHMARK(BM_lstm_proj_fwdbwd)->Apply(one_shape);
BENCHMARK(BM_lstm_linear_fwd)->Apply(one_shape);
BENCHMARK(BM_lstm_linear_fwdbwd)->Apply(one_shape);
BENCHMARK(BM_jordan_fwd)->Apply(one_shape);
BENCHMARK(BM_jordan_fwdbwd)->Apply(one_shape);
BENCHMARK(BM_lstm_step)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_lstm_peephole_step)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_lstm_proj_step)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_lstm_linear_step)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_jordan_step)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_lstm_step_kernel)
    ->ArgsProduct({{256, 512}, {0, 1}})
    ->ArgNames({"", "oneway"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_step_read_floor)
    ->ArgsProduct({{256, 512}, {0, 1}})
    ->ArgNames({"", "oneway"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
