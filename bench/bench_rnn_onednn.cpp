// oneDNN's RNN primitives (LSTM and linear-before-reset GRU, PyTorch's GRU), float32, on the
// shapes of bench_rnn.cpp, so bench/compare.py --only rnn can print seqnn next to oneDNN.
//
//   BM_<cell>_fwd/T/B/I/H      forward inference
//   BM_<cell>_fwdbwd/T/B/I/H   forward training (keeps the workspace) + backward from a random
//                              output gradient (zero gradient into h_n / c_n)
//   BM_bilstm2_*/T/B/I/H       2-layer bidirectional LSTM: one bidirectional_concat primitive
//                              per layer (layer 1 reads 2H features, so one L=2 primitive,
//                              which needs SLC = 2H, cannot hold both layers)
//
//   BM_lstm_step/H             one step at B = 1, I = H (forward inference, T = 1): what
//                              seqnn's LSTM::step does. Each call reads the same initial state
//                              (the work does not depend on its values).
//
// Best case for oneDNN: primitives, memory and the weights (reordered once into the layout
// each primitive prefers, format `any`) are all created outside the timed loop; the loop
// only executes. Diff weights stay in oneDNN's chosen layout (never reordered back).
// FLOPs (the GFLOPS counter): 2*T*B*(I+H)*G*H per layer per direction forward, 3x that for
// forward + backward.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstring>
#include <random>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

using namespace dnnl;
using dim = memory::dim;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

enum class Cell { LSTM, GRU };

// ---------------------------------------------------------------------------------------------
// Shapes and FLOPs
// ---------------------------------------------------------------------------------------------
struct LayerShape {
  Cell cell;
  dim T, B, I, H;
  int dirs;  // 1 or 2 (bidirectional_concat)
  int gates() const { return cell == Cell::LSTM ? 4 : 3; }
  int bias_gates() const { return 4; }  // LSTM: 4; lbr_gru: 3 + the separate b_hn
  double fwd_flops() const { return 2.0 * T * B * (I + H) * gates() * H * dirs; }
};

// ---------------------------------------------------------------------------------------------
// Memory helpers
// ---------------------------------------------------------------------------------------------
void fill_uniform(const memory& m, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  auto* p = static_cast<float*>(m.get_data_handle());
  const size_t n = m.get_desc().get_size() / sizeof(float);
  for (size_t i = 0; i < n; ++i) p[i] = u(rng);
}

void fill_zero(const memory& m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

using Args = std::unordered_map<int, memory>;

// Every argument the primitive descriptor asks for, from `ids`: reuse the memory already in
// `have` when the layout matches, else allocate a fresh one.
Args allocate_args(const primitive_desc_base& pd, const std::vector<int>& ids, const Args& have, const engine& eng) {
  Args out;
  for (int id : ids) {
    memory::desc md = pd.query_md(query::exec_arg_md, id);
    if (md.is_zero()) continue;
    auto it = have.find(id);
    out[id] = (it != have.end() && it->second.get_desc() == md) ? it->second : memory(md, eng);
  }
  return out;
}

const std::vector<int> kFwdIds = {DNNL_ARG_SRC_LAYER, DNNL_ARG_SRC_ITER,      DNNL_ARG_SRC_ITER_C,
                                  DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER, DNNL_ARG_BIAS,
                                  DNNL_ARG_DST_LAYER,  DNNL_ARG_DST_ITER,      DNNL_ARG_DST_ITER_C,
                                  DNNL_ARG_WORKSPACE};
const std::vector<int> kDiffIds = {DNNL_ARG_DIFF_SRC_LAYER,      DNNL_ARG_DIFF_SRC_ITER,  DNNL_ARG_DIFF_SRC_ITER_C,
                                   DNNL_ARG_DIFF_WEIGHTS_LAYER,  DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS,
                                   DNNL_ARG_DIFF_DST_LAYER,      DNNL_ARG_DIFF_DST_ITER,  DNNL_ARG_DIFF_DST_ITER_C};

// ---------------------------------------------------------------------------------------------
// Primitive descriptors (the oneDNN 2.x desc+pd API, or 3.x's pd-only API)
// ---------------------------------------------------------------------------------------------
struct Mds {
  memory::desc x, h, y, w_l, w_i, bias;
};

Mds make_mds(const LayerShape& s) {
  Mds m;
  m.x = memory::desc({s.T, s.B, s.I}, dt::f32, tag::tnc);
  m.y = memory::desc({s.T, s.B, s.dirs * s.H}, dt::f32, tag::tnc);
  m.h = memory::desc({1, s.dirs, s.B, s.H}, dt::f32, tag::ldnc);
  m.w_l = memory::desc({1, s.dirs, s.I, s.gates(), s.H}, dt::f32, tag::any);
  m.w_i = memory::desc({1, s.dirs, s.H, s.gates(), s.H}, dt::f32, tag::any);
  m.bias = memory::desc({1, s.dirs, s.bias_gates(), s.H}, dt::f32, tag::ldgo);
  return m;
}

rnn_direction direction(const LayerShape& s) {
  return s.dirs == 2 ? rnn_direction::bidirectional_concat : rnn_direction::unidirectional_left2right;
}

template <class Fwd>
typename Fwd::primitive_desc make_fwd_pd(const LayerShape& s, prop_kind prop, const engine& eng) {
  const Mds m = make_mds(s);
  constexpr bool lstm = std::is_same_v<Fwd, lstm_forward>;
#if DNNL_VERSION_MAJOR >= 3
  if constexpr (lstm)
    return {eng, prop, direction(s), m.x, m.h, m.h, m.w_l, m.w_i, m.bias, m.y, m.h, m.h};
  else
    return {eng, prop, direction(s), m.x, m.h, m.w_l, m.w_i, m.bias, m.y, m.h};
#else
  if constexpr (lstm)
    return {typename Fwd::desc(prop, direction(s), m.x, m.h, m.h, m.w_l, m.w_i, m.bias, m.y, m.h, m.h), eng};
  else
    return {typename Fwd::desc(prop, direction(s), m.x, m.h, m.w_l, m.w_i, m.bias, m.y, m.h), eng};
#endif
}

template <class Fwd, class Bwd>
typename Bwd::primitive_desc make_bwd_pd(const LayerShape& s, const engine& eng,
                                         const typename Fwd::primitive_desc& hint) {
  const Mds m = make_mds(s);
  constexpr bool lstm = std::is_same_v<Fwd, lstm_forward>;
  const memory::desc dw_l = m.w_l, dw_i = m.w_i;  // `any`: oneDNN picks the layout
#if DNNL_VERSION_MAJOR >= 3
  if constexpr (lstm)
    return {eng, prop_kind::backward, direction(s), m.x, m.h, m.h, m.w_l, m.w_i, m.bias, m.y, m.h, m.h,
            m.x, m.h, m.h, dw_l, dw_i, m.bias, m.y, m.h, m.h, hint};
  else
    return {eng, prop_kind::backward, direction(s), m.x, m.h, m.w_l, m.w_i, m.bias, m.y, m.h,
            m.x, m.h, dw_l, dw_i, m.bias, m.y, m.h, hint};
#else
  if constexpr (lstm)
    return {typename Bwd::desc(prop_kind::backward, direction(s), m.x, m.h, m.h, m.w_l, m.w_i, m.bias, m.y, m.h,
                               m.h, m.x, m.h, m.h, dw_l, dw_i, m.bias, m.y, m.h, m.h),
            eng, hint};
  else
    return {typename Bwd::desc(prop_kind::backward, direction(s), m.x, m.h, m.w_l, m.w_i, m.bias, m.y, m.h, m.x,
                               m.h, dw_l, dw_i, m.bias, m.y, m.h),
            eng, hint};
#endif
}

// ---------------------------------------------------------------------------------------------
// One layer: forward (and, for training, backward) primitives with all their memory
// ---------------------------------------------------------------------------------------------
struct Layer {
  primitive fwd, bwd;
  Args fwd_args, bwd_args;
};

// The user's weights in PyTorch-like plain layout (ldigo), reordered into the layout `pd`
// wants for argument `id`.
memory weights_for(const primitive_desc_base& pd, int id, memory user, const engine& eng, stream& s) {
  memory::desc want = pd.query_md(query::exec_arg_md, id);
  if (want == user.get_desc()) return user;
  memory m(want, eng);
  reorder(user, m).execute(s, user, m);
  s.wait();
  return m;
}

// Builds one layer with its own random input, weights and output gradient; Net::chain() then
// wires a stack of layers together.
template <class Fwd, class Bwd>
Layer make_layer(const LayerShape& s, bool training, const engine& eng, stream& st, std::mt19937& rng) {
  Layer L;
  auto fpd = make_fwd_pd<Fwd>(s, training ? prop_kind::forward_training : prop_kind::forward_inference, eng);
  L.fwd = Fwd(fpd);
  const float k = 1.0f / std::sqrt(static_cast<float>(s.H));  // PyTorch's init range
  memory w_l({{1, s.dirs, s.I, s.gates(), s.H}, dt::f32, tag::ldigo}, eng);
  memory w_i({{1, s.dirs, s.H, s.gates(), s.H}, dt::f32, tag::ldigo}, eng);
  fill_uniform(w_l, rng, -k, k);
  fill_uniform(w_i, rng, -k, k);
  L.fwd_args = allocate_args(fpd, kFwdIds, {}, eng);
  L.fwd_args[DNNL_ARG_WEIGHTS_LAYER] = weights_for(fpd, DNNL_ARG_WEIGHTS_LAYER, w_l, eng, st);
  L.fwd_args[DNNL_ARG_WEIGHTS_ITER] = weights_for(fpd, DNNL_ARG_WEIGHTS_ITER, w_i, eng, st);
  fill_uniform(L.fwd_args[DNNL_ARG_SRC_LAYER], rng, -1.0f, 1.0f);
  fill_uniform(L.fwd_args[DNNL_ARG_BIAS], rng, -k, k);
  fill_zero(L.fwd_args[DNNL_ARG_SRC_ITER]);
  if (L.fwd_args.count(DNNL_ARG_SRC_ITER_C)) fill_zero(L.fwd_args[DNNL_ARG_SRC_ITER_C]);
  if (!training) return L;

  auto bpd = make_bwd_pd<Fwd, Bwd>(s, eng, fpd);
  L.bwd = Bwd(bpd);
  std::vector<int> ids = kFwdIds;
  ids.insert(ids.end(), kDiffIds.begin(), kDiffIds.end());
  L.bwd_args = allocate_args(bpd, ids, L.fwd_args, eng);
  L.bwd_args[DNNL_ARG_WEIGHTS_LAYER] = weights_for(bpd, DNNL_ARG_WEIGHTS_LAYER, w_l, eng, st);
  L.bwd_args[DNNL_ARG_WEIGHTS_ITER] = weights_for(bpd, DNNL_ARG_WEIGHTS_ITER, w_i, eng, st);
  fill_uniform(L.bwd_args[DNNL_ARG_DIFF_DST_LAYER], rng, -1.0f, 1.0f);
  for (int id : {DNNL_ARG_DIFF_DST_ITER, DNNL_ARG_DIFF_DST_ITER_C, DNNL_ARG_DIFF_WEIGHTS_LAYER,
                 DNNL_ARG_DIFF_WEIGHTS_ITER, DNNL_ARG_DIFF_BIAS})
    if (L.bwd_args.count(id)) fill_zero(L.bwd_args[id]);
  return L;
}

// ---------------------------------------------------------------------------------------------
// A stack of layers and the timed loop
// ---------------------------------------------------------------------------------------------
struct Net {
  engine eng{engine::kind::cpu, 0};
  stream st{eng};
  std::vector<Layer> layers;

  // Layer l reads layer l-1's output; in backward, layer l-1's output gradient is layer l's
  // input gradient.
  void chain() {
    for (size_t l = 1; l < layers.size(); ++l) {
      memory y = layers[l - 1].fwd_args.at(DNNL_ARG_DST_LAYER);
      layers[l].fwd_args[DNNL_ARG_SRC_LAYER] = y;
      if (layers[l].bwd) {
        layers[l].bwd_args[DNNL_ARG_SRC_LAYER] = y;
        layers[l - 1].bwd_args[DNNL_ARG_DIFF_DST_LAYER] = layers[l].bwd_args.at(DNNL_ARG_DIFF_SRC_LAYER);
      }
    }
  }
  void forward() {
    for (auto& L : layers) L.fwd.execute(st, L.fwd_args);
    st.wait();
  }
  void forward_backward() {
    for (auto& L : layers) L.fwd.execute(st, L.fwd_args);
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) it->bwd.execute(st, it->bwd_args);
    st.wait();
  }
};

void run(benchmark::State& st, Cell cell, int num_layers, int dirs, bool training) {
  const dim T = st.range(0), B = st.range(1), I = st.range(2), H = st.range(3);
  Net net;
  std::mt19937 rng(0x5eed);
  double flops = 0;
  for (int l = 0; l < num_layers; ++l) {
    const LayerShape s{cell, T, B, l == 0 ? I : dirs * H, H, dirs};
    flops += s.fwd_flops();
    if (cell == Cell::LSTM)
      net.layers.push_back(make_layer<lstm_forward, lstm_backward>(s, training, net.eng, net.st, rng));
    else
      net.layers.push_back(make_layer<lbr_gru_forward, lbr_gru_backward>(s, training, net.eng, net.st, rng));
  }
  net.chain();
  if (training) {
    net.forward_backward();  // warm-up: first execution sets up scratchpads
    for (auto _ : st) net.forward_backward();
    flops *= 3;
  } else {
    net.forward();
    for (auto _ : st) net.forward();
  }
  st.counters["GFLOPS"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_lstm_fwd(benchmark::State& st) { run(st, Cell::LSTM, 1, 1, false); }
void BM_lstm_fwdbwd(benchmark::State& st) { run(st, Cell::LSTM, 1, 1, true); }
void BM_gru_fwd(benchmark::State& st) { run(st, Cell::GRU, 1, 1, false); }
void BM_gru_fwdbwd(benchmark::State& st) { run(st, Cell::GRU, 1, 1, true); }
void BM_bilstm2_fwd(benchmark::State& st) { run(st, Cell::LSTM, 2, 2, false); }
void BM_bilstm2_fwdbwd(benchmark::State& st) { run(st, Cell::LSTM, 2, 2, true); }

void BM_lstm_step(benchmark::State& st) {
  const dim H = st.range(0);
  Net net;
  std::mt19937 rng(0x5eed);
  const LayerShape s{Cell::LSTM, 1, 1, H, H, 1};
  net.layers.push_back(make_layer<lstm_forward, lstm_backward>(s, false, net.eng, net.st, rng));
  net.forward();
  for (auto _ : st) net.forward();
  st.counters["GFLOPS"] =
      benchmark::Counter(s.fwd_flops(), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

// (T, B, I, H): the shapes of bench_rnn.cpp and compare.py.
void shapes(benchmark::internal::Benchmark* b) {
  b->Args({100, 32, 256, 256})->Args({100, 64, 512, 512})->Args({50, 16, 128, 128})->Args({100, 1, 128, 128});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}
}  // namespace

BENCHMARK(BM_lstm_fwd)->Apply(shapes);
BENCHMARK(BM_lstm_fwdbwd)->Apply(shapes);
BENCHMARK(BM_gru_fwd)->Apply(shapes);
BENCHMARK(BM_gru_fwdbwd)->Apply(shapes);
BENCHMARK(BM_bilstm2_fwd)->Args({100, 32, 256, 256})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_bilstm2_fwdbwd)->Args({100, 32, 256, 256})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_lstm_step)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
