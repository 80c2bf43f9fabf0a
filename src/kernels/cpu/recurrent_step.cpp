// Small-batch streaming step (kernels/recurrent_step.h): packing, and the panel micro-kernel.
//
// For one panel (16 hidden units) and a chunk of NB <= 4 batch rows, the accumulators
// acc[nb][s] (16 lanes each, GCC vector extensions) start at the packed bias and take
//   acc[nb][g] += x[nb][k] * Wih_panel[k][g]     for k < I
//   acc[nb][g'] += h[nb][k] * Whh_panel[k][g]    for k < R   (g' = g, except GRU's n -> slot 3)
// streaming the panel once per chunk, contiguous; the cell update is the epilogue. One- and
// two-gate chunks (RNN, Linear at NB < 4) spread k over 2 or 4 accumulator sets (see accumulate).
// The kernel is compiled three times (AVX-512, AVX2+FMA, baseline) and the ISA vecmath picked is
// used.
// Sweep order (StepSweep): a thread walks its panels up or down, as the caller alternates. At
// B = 1 the step only streams weights, 1 MiB per thread at H = 256 (its L2 is 1 MiB) and 4 MiB at
// H = 512; walking back over what the last step read last turns those reads into L2 hits
// (kernel alone, bench_rnn BM_lstm_step_kernel, oneway:1 vs 0, medians of 6 alternating runs:
// H = 256 13.8 -> 12.0 us, H = 512 56.9 -> 54.3 us).
#include <algorithm>
#include <cstring>
#include <utility>

#pragma GCC optimize("no-trapping-math")  // as in vecmath.cpp: lets the vm:: selects vectorise
#pragma GCC diagnostic ignored "-Wpsabi"     // v16 helpers are always inlined into one ISA's code

#include "kernels/cpu/gate_math.h"
#include "kernels/cpu/isa_dispatch.h"
#include "kernels/parallel.h"
#include "kernels/recurrent.h"
#include "kernels/recurrent_step.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {

constexpr int U = static_cast<int>(kStepLanes);
// Software prefetch distance in the weight stream, in floats (8 KiB ahead). At B = 1 the step
// only streams weights (2 MiB at H = 256, 8 MiB at H = 512: from L3, not L2); with two threads
// the hardware prefetcher alone left the pair at 60% of the L3 bandwidth a plain read loop gets
// (kernel alone, median of 3000 steps, 2 threads: H = 256 16.9 -> 14.4 us, H = 512 71 -> 53 us).
constexpr int64_t kPfFloats = 2048;
using gate::v16;

[[gnu::always_inline]] inline v16 load16(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline v16 splat(float s) { return v16{} + s; }

// ==================================================================== the panel kernel
template <StepCell C, Activation A = Activation::Tanh>  // A: the LSTM's activation of g and c
struct Step {
  static constexpr int G = C == StepCell::Lstm ? 4 : C == StepCell::Gru ? 3 : 1;  // Linear: 1
  static constexpr int S = C == StepCell::Gru ? 4 : G;  // accumulator slots

  // acc[ks][nb][slot] += v[nb][k] * w[k][g] for k in [0, K), v (rows of stride K): the k's are
  // dealt round-robin to KS accumulator sets, so that one- and two-gate chunks still have four
  // independent FMA chains (one chain waits out the FMA latency on every k: the RNN / Linear
  // step at B = 1 ran at half the weight bandwidth of the four-gate LSTM's).
  template <int NB, int KS>
  [[gnu::always_inline]] static inline void accumulate(v16 (&acc)[KS][NB][S], const float* w, const float* v,
                                                       int64_t b0, int64_t K, bool hidden) {
    auto one = [&](int ks, int64_t k) {
      for (int g = 0; g < G; ++g) __builtin_prefetch(w + k * G * U + kPfFloats + g * U);
      v16 wv[G];
      for (int g = 0; g < G; ++g) wv[g] = load16(w + k * G * U + g * U);
      for (int nb = 0; nb < NB; ++nb) {
        const v16 xv = splat(v[(b0 + nb) * K + k]);
        for (int g = 0; g < G; ++g) acc[ks][nb][(C == StepCell::Gru && hidden && g == 2) ? 3 : g] += xv * wv[g];
      }
    };
    int64_t k = 0;
    for (; k + KS <= K; k += KS)
      for (int ks = 0; ks < KS; ++ks) one(ks, k + ks);
    for (int ks = 0; k < K; ++k, ++ks) one(ks, k);
  }

  template <int NB>
  [[gnu::always_inline]] static inline void chunk(int64_t p, int64_t b0, int64_t I, int64_t H, int64_t R,
                                                  const float* x,
                                                  const float* h_prev, const float* c_prev, const float* wih,
                                                  const float* whh, const float* bias, const float* peep,
                                                  float* h_out, float* c_out) {
    constexpr int KS = G * NB >= 4 ? 1 : 4 / (G * NB);
    v16 accs[KS][NB][S];
    const float* bp = bias + p * S * U;
    for (int s = 0; s < S; ++s) {
      const v16 bv = load16(bp + s * U);
      for (int nb = 0; nb < NB; ++nb) {
        accs[0][nb][s] = bv;
        for (int ks = 1; ks < KS; ++ks) accs[ks][nb][s] = v16{};
      }
    }
    accumulate<NB, KS>(accs, wih + p * I * G * U, x, b0, I, false);                       // input side
    if (R > 0) accumulate<NB, KS>(accs, whh + p * R * G * U, h_prev, b0, R, true);  // hidden (not Linear's R = 0)
    // the sets in a fixed order (a tree for KS = 4), so every panel sums the same way on any thread
    if constexpr (KS == 4)
      for (int nb = 0; nb < NB; ++nb)
        for (int s = 0; s < S; ++s)
          accs[0][nb][s] = (accs[0][nb][s] + accs[1][nb][s]) + (accs[2][nb][s] + accs[3][nb][s]);
    else if constexpr (KS == 2)
      for (int nb = 0; nb < NB; ++nb)
        for (int s = 0; s < S; ++s) accs[0][nb][s] += accs[1][nb][s];
    v16 (&acc)[NB][S] = accs[0];
    // epilogue: the cell update of the panel's units (gate activations: kernels/cpu/gate_math.h,
    // the same as the whole-sequence kernel's, so that stepping equals forward)
    const int64_t j0 = p * U;
    const int nu = static_cast<int>(std::min<int64_t>(U, H - j0));
    alignas(64) float wc[3][U] = {};  // peephole weights w_ci, w_cf, w_co of the panel's units
    if constexpr (C == StepCell::Lstm)
      if (peep)
        for (int q = 0; q < 3; ++q)
          for (int u = 0; u < nu; ++u) wc[q][u] = peep[q * H + j0 + u];
    for (int nb = 0; nb < NB; ++nb) {
      const int64_t row = (b0 + nb) * H + j0;
      alignas(64) float prev[U] = {}, hn[U], cn[U];
      v16 hv;
      if constexpr (C == StepCell::Lstm) {
        for (int u = 0; u < nu; ++u) prev[u] = c_prev[row + u];
        const v16 cp = load16(prev);
        if (peep) {
          acc[nb][0] += load16(wc[0]) * cp;
          acc[nb][1] += load16(wc[1]) * cp;
        }
        const v16 i = gate::sigmoid(acc[nb][0]), f = gate::sigmoid(acc[nb][1]), g = gate::act<A>(acc[nb][2]);
        const v16 c = f * cp + i * g;
        if (peep) acc[nb][3] += load16(wc[2]) * c;
        const v16 o = gate::sigmoid(acc[nb][3]);
        std::memcpy(cn, &c, sizeof cn);
        hv = o * gate::act<A>(c);
        for (int u = 0; u < nu; ++u) c_out[row + u] = cn[u];
      } else if constexpr (C == StepCell::Gru) {
        for (int u = 0; u < nu; ++u) prev[u] = h_prev[row + u];
        const v16 r = gate::sigmoid(acc[nb][0]), z = gate::sigmoid(acc[nb][1]);
        const v16 n = gate::tanh(acc[nb][2] + r * acc[nb][3]);
        hv = (1.0f - z) * n + z * load16(prev);
      } else if constexpr (C == StepCell::RnnTanh) {
        hv = gate::tanh(acc[nb][0]);
      } else if constexpr (C == StepCell::Linear) {
        hv = acc[nb][0];
      } else {
        alignas(64) float a[U];
        std::memcpy(a, &acc[nb][0], sizeof a);
        for (int u = 0; u < U; ++u) a[u] = a[u] > 0.0f ? a[u] : 0.0f;
        hv = load16(a);
      }
      std::memcpy(hn, &hv, sizeof hn);
      for (int u = 0; u < nu; ++u) h_out[row + u] = hn[u];
    }
  }

  // Panels [p0, p1) for all B rows, in batch chunks of 4, 2, 1; last panel first when `down`.
  [[gnu::always_inline]] static inline void run(int64_t p0, int64_t p1, bool down, int64_t B, int64_t I,
                                                int64_t H, int64_t R, const float* x, const float* h_prev,
                                                const float* c_prev, const float* wih, const float* whh,
                                                const float* bias, const float* peep, float* h_out,
                                                float* c_out) {
    for (int64_t q = p0; q < p1; ++q) {
      const int64_t p = down ? p0 + p1 - 1 - q : q;
      int64_t b = 0;
      for (; b + 4 <= B; b += 4) chunk<4>(p, b, I, H, R, x, h_prev, c_prev, wih, whh, bias, peep, h_out, c_out);
      for (; b + 2 <= B; b += 2) chunk<2>(p, b, I, H, R, x, h_prev, c_prev, wih, whh, bias, peep, h_out, c_out);
      for (; b < B; ++b) chunk<1>(p, b, I, H, R, x, h_prev, c_prev, wih, whh, bias, peep, h_out, c_out);
    }
  }
};

template <StepCell C, Activation A = Activation::Tanh>
void step_cell(StepSweep sweep, int64_t B, int64_t I, int64_t H, int64_t R, const float* x, const float* h_prev,
               const float* c_prev, const float* wih, const float* whh, const float* bias, const float* peep,
               float* h_out, float* c_out) {
  // Threads: each panel costs B*G*16*(I+H) multiply-adds; a thread gets at least kMinWork of
  // them, so small steps stay on one thread (a team job costs about half a microsecond).
  constexpr int64_t kMinWork = int64_t{1} << 17;
  const int64_t P = step_panels(H);
  const int64_t per_panel = std::max<int64_t>(1, B * Step<C, A>::G * U * (I + R));
  const int64_t grain = std::max<int64_t>(1, kMinWork / per_panel);
  parallel_for(P, grain, [&](int64_t p0, int64_t p1) {
    isa::dispatch<Step<C, A>>(p0, p1, sweep == StepSweep::Down, B, I, H, R, x, h_prev, c_prev, wih, whh, bias, peep,
                           h_out, c_out);
  });
}

}  // namespace

// ==================================================================== packing
namespace {
// 16 x 16 transpose in registers: r[u][k] -> r[k][u]. Stage d swaps bit d of the row index with
// bit d of the lane index (rows i and i + d exchange their d-blocks); after d = 8, 4, 2, 1 every
// bit is swapped. One two-source shuffle per vector and stage (vpermt2ps with AVX-512).
template <int D, int... J>
[[gnu::always_inline]] inline v16 swap_lo(v16 a, v16 b, std::integer_sequence<int, J...>) {
  return __builtin_shufflevector(a, b, ((J & D) == 0 ? J : 16 + J - D)...);
}
template <int D, int... J>
[[gnu::always_inline]] inline v16 swap_hi(v16 a, v16 b, std::integer_sequence<int, J...>) {
  return __builtin_shufflevector(a, b, ((J & D) == 0 ? J + D : 16 + J)...);
}
template <int D>
[[gnu::always_inline]] inline void transpose_stage(v16* r) {
  constexpr auto idx = std::make_integer_sequence<int, 16>{};
  #pragma GCC unroll 16
  for (int i = 0; i < 16; ++i)
    if ((i & D) == 0) {
      const v16 a = r[i], b = r[i + D];
      r[i] = swap_lo<D>(a, b, idx);
      r[i + D] = swap_hi<D>(a, b, idx);
    }
}

// pack_step_weights' panels p0..p1: out[p][k][g][u] = w[g H + p U + u][k]. Whole 16 x 16 blocks
// (16 units' rows x 16 k) are loaded as 16 rows and stored as 16 k-vectors after a transpose in
// registers; the edges (H or K not a multiple of 16) go element by element. The element loop
// alone (a scattered store per element) was 8% of a GRU 100x1x128 forward.
struct PackStep {
  [[gnu::always_inline]] static inline void run(const float* w, int64_t G, int64_t H, int64_t K, int64_t p0,
                                                int64_t p1, float* out) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t g = 0; g < G; ++g) {
        const int64_t nu = std::min<int64_t>(U, H - p * U);
        const float* rows = w + (g * H + p * U) * K;  // row u: rows + u K
        float* o = out + (p * K * G + g) * U;         // k-vector k: o + k G U
        int64_t k0 = 0;
        if (nu == U)
          for (; k0 + U <= K; k0 += U) {
            v16 r[16];
            #pragma GCC unroll 16
            for (int u = 0; u < 16; ++u) std::memcpy(&r[u], rows + u * K + k0, sizeof(v16));
            transpose_stage<8>(r);
            transpose_stage<4>(r);
            transpose_stage<2>(r);
            transpose_stage<1>(r);
            #pragma GCC unroll 16
            for (int k = 0; k < 16; ++k) std::memcpy(o + (k0 + k) * G * U, &r[k], sizeof(v16));
          }
        for (int64_t u = 0; u < U; ++u)
          for (int64_t k = k0; k < K; ++k) o[k * G * U + u] = u < nu ? rows[u * K + k] : 0.0f;
      }
  }
};
}  // namespace

void pack_step_weights(StepCell cell, const float* w, int64_t H, int64_t K, float* out) {
  // Panels split over threads (4 MiB at H 512, packed on every whole-sequence call); inline
  // inside a parallel region (one direction of a bidirectional layer).
  const int64_t G = step_gates(cell), P = step_panels(H);
  if (K <= 0) return;  // an empty matrix (Linear's W_hh: R = 0)
  parallel_for(P, std::max<int64_t>(1, (int64_t{1} << 15) / (G * U * K)), [&](int64_t p0, int64_t p1) {
    isa::dispatch<PackStep>(w, G, H, K, p0, p1, out);
  });
}

void pack_step_bias(StepCell cell, const float* b_ih, const float* b_hh, int64_t H, float* out) {
  const int64_t S = step_bias_slots(cell), P = step_panels(H);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t u = 0; u < U; ++u) {
        const int64_t j = p * U + u;
        float v = 0.0f;
        if (j < H && b_ih) {
          if (cell == StepCell::Gru && s == 2) v = b_ih[2 * H + j];       // b_in
          else if (cell == StepCell::Gru && s == 3) v = b_hh[2 * H + j];  // b_hn
          else v = b_ih[s * H + j] + (b_hh ? b_hh[s * H + j] : 0.0f);
        }
        out[(p * S + s) * U + u] = v;
      }
}

// ==================================================================== entry
void recurrent_step(StepCell cell, int64_t B, int64_t I, int64_t H, int64_t R, const float* x, const float* h_prev,
                    const float* c_prev, const float* wih, const float* whh, const float* bias, float* h_out,
                    float* c_out, const float* peep, StepSweep sweep, Activation act) {
  if (B <= 0 || H <= 0) return;
  if (cell != StepCell::Lstm) peep = nullptr;
  auto go = [&](auto f) { f(sweep, B, I, H, R, x, h_prev, c_prev, wih, whh, bias, peep, h_out, c_out); };
  switch (cell) {
    case StepCell::RnnTanh: return go(step_cell<StepCell::RnnTanh>);
    case StepCell::RnnRelu: return go(step_cell<StepCell::RnnRelu>);
    case StepCell::Lstm:
      return with_activation(act, [&]<Activation A>() { go(step_cell<StepCell::Lstm, A>); });
    case StepCell::Gru: return go(step_cell<StepCell::Gru>);
    case StepCell::Linear: return go(step_cell<StepCell::Linear>);
  }
}

}  // namespace seqnn::kernels
