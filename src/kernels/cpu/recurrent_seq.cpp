// Whole-sequence per-step kernels (kernels/recurrent_seq.h): the fused forward step (recurrent
// product + cell update) and the backward product dh = dG W_hh on packed W_hh, and vectorised
// float cell backward passes.
//
// Register blocking (the row and gate loops are unrolled by pragma: left to itself GCC turned
// the 6-row tile into a loop over rows with the accumulators on the stack) (AVX-512): a forward tile is NB rows x one panel (G gates x 16 units) = NB*G
// zmm accumulators; per k it loads G weight vectors and broadcasts NB h values (NB = 6, LSTM:
// 24 accumulators + 4 weights + 1 broadcast of the 32 registers). A backward tile is NB rows x
// a group of Q <= 4 column panels. A panel (K*G*16 floats, 64 KiB at H = 256) stays in L2
// while all row blocks stream it. With AVX2 / baseline (v16 is 2 or 4 registers) NB is 2.
#include <algorithm>
#include <cstring>

#pragma GCC optimize("no-trapping-math")  // as in vecmath.cpp: lets the vm:: selects vectorise
#pragma GCC diagnostic ignored "-Wpsabi"     // v16 helpers are always inlined into one ISA's code

#include "kernels/cpu/gate_math.h"
#include "kernels/cpu/isa_dispatch.h"
#include "kernels/parallel.h"
#include "kernels/recurrent.h"
#include "kernels/recurrent_seq.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {

constexpr int U = static_cast<int>(kStepLanes);
using gate::v16;

// Full: all 16 lanes are in range; else only nu (loads pad with 0, stores write nu).
template <bool Full>
[[gnu::always_inline]] inline v16 loadp(const float* p, int nu) {
  v16 v;
  if constexpr (Full) {
    std::memcpy(&v, p, sizeof v);
  } else {
    alignas(64) float t[U] = {};
    for (int u = 0; u < nu; ++u) t[u] = p[u];
    std::memcpy(&v, t, sizeof v);
  }
  return v;
}
template <bool Full>
[[gnu::always_inline]] inline void storep(float* p, const float* a, int nu) {
  if constexpr (Full) {
    std::memcpy(p, a, sizeof(float) * U);
  } else {
    for (int u = 0; u < nu; ++u) p[u] = a[u];
  }
}
template <bool Full>
[[gnu::always_inline]] inline void storev(float* p, v16 v, int nu) {
  alignas(64) float t[U];
  std::memcpy(t, &v, sizeof t);
  storep<Full>(p, t, nu);
}
// *p in all 16 lanes. Z: the AVX-512 instantiation (the only one dispatch gives more than 2 rows),
// where it is one vbroadcastss from memory, written as asm: GCC 12 turned a 16-element
// initialiser into masked partial broadcasts here, and an intrinsic cannot be inlined into a
// function that is not itself compiled for AVX-512. Elsewhere 0 + s (an add and a register
// broadcast; -0 becomes +0, which no product or sum here can tell apart): GCC 12 builds the
// initialiser lane by lane through the stack.
template <bool Z>
[[gnu::always_inline]] inline v16 splat(const float* p) {
  if constexpr (Z) {
#if defined(__clang__)
    // clang makes the initialiser one broadcast, and cannot place a zmm asm operand in code it
    // compiles without AVX-512 before inlining
    const float x = *p;
    return v16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
#else
    v16 r;
    asm("vbroadcastss %1, %0" : "=v"(r) : "m"(*p));
    return r;
#endif
  } else {
    return v16{} + *p;
  }
}

// Splits n rows into blocks of at most NBMax rows of near-equal size (32 rows: 6,6,5,5,5,5
// rather than 6,6,6,6,6,2, whose last block of 2 rows loads as many weights per FMA as 3 of 6):
// block i of row_blocks(n, NBMax) starts at its first row and holds block_rows(...) rows.
// (The callers switch on the size themselves: a lambda would not inherit the target ISA of
// the function it is written in, and GCC compiled its body for the baseline.)
struct RowBlocks {
  int64_t nblk, base, extra;
  RowBlocks(int64_t n, int64_t nbmax)
      : nblk(n > 0 ? (n + nbmax - 1) / nbmax : 0), base(nblk ? n / nblk : 0), extra(nblk ? n % nblk : 0) {}
  int64_t rows(int64_t i) const { return base + (i < extra ? 1 : 0); }
};

// The LSTM cell update of 16 units (nu valid) of one row from the pre-activations a_i, a_f, a_g,
// a_o (gate activations: kernels/cpu/gate_math.h): stores c, the activated gates i, f, g, o into
// grow (+0, +H, +2H, +3H) for backward, and h = o act(c) (g = act(a_g) too; act: tanh unless
// LSTMOptions::activation says otherwise). Peepholes (3,H) when Peep.
template <bool Full, bool Peep, Activation A>
[[gnu::always_inline]] inline void lstm_units(v16 ai, v16 af, v16 ag, v16 ao, const float* c_prev, const float* peep,
                                              int64_t H, int64_t j0, int nu, float* c, float* grow, float* h) {
  const v16 cp = loadp<Full>(c_prev, nu);
  if constexpr (Peep) {
    ai += loadp<Full>(peep + j0, nu) * cp;
    af += loadp<Full>(peep + H + j0, nu) * cp;
  }
  const v16 i = gate::sigmoid(ai), f = gate::sigmoid(af), gg = gate::act<A>(ag);
  const v16 ct = f * cp + i * gg;
  if constexpr (Peep) ao += loadp<Full>(peep + 2 * H + j0, nu) * ct;
  const v16 o = gate::sigmoid(ao);
  storev<Full>(c, ct, nu);
  storev<Full>(grow, i, nu);
  storev<Full>(grow + H, f, nu);
  storev<Full>(grow + 2 * H, gg, nu);
  storev<Full>(grow + 3 * H, o, nu);
  storev<Full>(h, o * gate::act<A>(ct), nu);
}

// ==================================================================== forward tile
template <StepCell C, bool Peep, Activation A = Activation::Tanh>  // A: the LSTM's activation
struct Fwd {
  static constexpr int G = C == StepCell::Lstm ? 4 : C == StepCell::Gru ? 3 : 1;

  // rows b0 .. b0+NB, panel p
  template <int NB, bool Full, bool Z>
  [[gnu::always_inline]] static inline void tile(int64_t p, int64_t b0, int64_t H, const float* h_prev, float* g,
                                                 const float* c_prev, float* c, float* h, float* hn, const float* whh,
                                                 const float* peep, const float* b_hn, const float* pf, int64_t npf) {
    const int64_t GH = G * H, j0 = p * U;
    const int nu = Full ? U : static_cast<int>(H - j0);
    v16 acc[NB][G];
    #pragma GCC unroll 16
    for (int nb = 0; nb < NB; ++nb)
      #pragma GCC unroll 16
      for (int q = 0; q < G; ++q) {
        if (C == StepCell::Gru && q == 2) {
          acc[nb][q] = b_hn ? loadp<Full>(b_hn + j0, nu) : v16{};
        } else {
          acc[nb][q] = loadp<Full>(g + (b0 + nb) * GH + q * H + j0, nu);
        }
      }
    const float* w = whh + p * H * G * U;
    const float* hp = h_prev + b0 * H;
    for (int64_t k = 0; k < H; ++k, w += G * U) {
      if (k < npf) __builtin_prefetch(pf + k * U, 0, 2);  // a line of the next panel, into L2
      v16 wv[G];
      #pragma GCC unroll 16
      for (int q = 0; q < G; ++q) std::memcpy(&wv[q], w + q * U, sizeof(v16));
      #pragma GCC unroll 16
      for (int nb = 0; nb < NB; ++nb) {
        const v16 a = splat<Z>(hp + nb * H + k);
        #pragma GCC unroll 16
        for (int q = 0; q < G; ++q) acc[nb][q] += a * wv[q];
      }
    }
    // epilogue: the cell update of the panel's units (gate activations: kernels/cpu/gate_math.h)
    #pragma GCC unroll 16
    for (int nb = 0; nb < NB; ++nb) {
      const int64_t row = (b0 + nb) * H + j0;
      float* grow = g + (b0 + nb) * GH + j0;
      if constexpr (C == StepCell::Lstm) {
        lstm_units<Full, Peep, A>(acc[nb][0], acc[nb][1], acc[nb][2], acc[nb][3], c_prev + row, peep, H, j0, nu,
                                  c + row, grow, h + row);
      } else if constexpr (C == StepCell::Gru) {
        const v16 hp0 = loadp<Full>(h_prev + row, nu), xn = loadp<Full>(grow + 2 * H, nu);
        const v16 r = gate::sigmoid(acc[nb][0]), z = gate::sigmoid(acc[nb][1]);
        const v16 nn = gate::tanh(xn + r * acc[nb][2]);
        storev<Full>(hn + row, acc[nb][2], nu);
        storev<Full>(grow, r, nu);
        storev<Full>(grow + H, z, nu);
        storev<Full>(grow + 2 * H, nn, nu);
        storev<Full>(h + row, (1.0f - z) * nn + z * hp0, nu);
      } else if constexpr (C == StepCell::RnnTanh) {
        storev<Full>(h + row, gate::tanh(acc[nb][0]), nu);
      } else {
        alignas(64) float a[U], out[U];
        std::memcpy(a, &acc[nb][0], sizeof a);
        for (int u = 0; u < U; ++u) out[u] = a[u] > 0.0f ? a[u] : 0.0f;
        storep<Full>(h + row, out, nu);
      }
    }
  }

  // tile<nb> for a block of nb <= NBMax rows
  template <int NBMax, bool Full, bool Z>
  [[gnu::always_inline]] static inline void blk(int64_t nb, int64_t p, int64_t b, int64_t H, const float* h_prev,
                                                float* g, const float* c_prev, float* c, float* h, float* hn,
                                                const float* whh, const float* peep, const float* b_hn, const float* pf,
                                                int64_t npf) {
    if constexpr (NBMax >= 8) if (nb == 8) return tile<8, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
    if constexpr (NBMax >= 7) if (nb == 7) return tile<7, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
    if constexpr (NBMax >= 6) if (nb == 6) return tile<6, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
    if constexpr (NBMax >= 5) if (nb == 5) return tile<5, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
    if constexpr (NBMax >= 4) if (nb == 4) return tile<4, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
    if constexpr (NBMax >= 3) if (nb == 3) return tile<3, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
    if constexpr (NBMax >= 2) if (nb == 2) return tile<2, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
    tile<1, Full, Z>(p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
  }

  template <int NBMax>
  [[gnu::always_inline]] static inline void run(int64_t r0, int64_t r1, int64_t H, const float* h_prev, float* g,
                                                const float* c_prev, float* c, float* h, float* hn, const float* whh,
                                                const float* peep, const float* b_hn) {
    constexpr bool Z = NBMax >= 6;  // dispatch gives the AVX-512 instantiation 6 rows, the others 2
    // With AVX-512, GRU's 3 gates leave room for 8 rows (24 accumulators + 3 weights + 1 broadcast
    // of the 32 zmm registers): a third fewer weight loads per FMA than 6 rows.
    constexpr int NBm = Z && G == 3 ? 8 : NBMax;
    const int64_t P = step_panels(H), Pfull = H / U, GH = G * H;
    const RowBlocks rb(r1 - r0, NBm);
    // Prefetches. Every thread streams all of W_hh each step (4 MiB at H 512: from L3), a
    // panel (H * G lines) at a time, which then stays in L2 for the panel's row blocks. Each
    // block fetches a share of the next panel (the last panel: the first, for the next step)
    // into L2, a line per k, so that the next panel's first block does not wait on L3; and,
    // before it starts, the G_t lines the next block's accumulators start from (written by
    // the input GEMM long before: in DRAM at these sizes).
    const int64_t panel_lines = H * G, share = (panel_lines + rb.nblk - 1) / rb.nblk;
    for (int64_t p = 0; p < P; ++p) {
      const float* next_panel = whh + (p + 1 < P ? p + 1 : 0) * H * G * U;
      int64_t b = r0;
      for (int64_t i = 0; i < rb.nblk; ++i) {
        const int64_t nb = rb.rows(i);
        // the next block: the following rows of this panel, or the first rows of the next one
        const bool last = i + 1 == rb.nblk;
        const int64_t bn = last ? r0 : b + nb, nbn = last ? rb.rows(0) : rb.rows(i + 1), jn = (last ? p + 1 : p) * U;
        if (jn < H)
          for (int64_t r = 0; r < nbn; ++r)
            for (int q = 0; q < G; ++q) __builtin_prefetch(g + (bn + r) * GH + q * H + jn, 0, 3);
        const int64_t l0 = std::min(panel_lines, i * share), npf = std::min({share, panel_lines - l0, H});
        const float* pf = next_panel + l0 * U;
        if (p < Pfull) {
          blk<NBm, true, Z>(nb, p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
        } else {
          blk<NBm, false, Z>(nb, p, b, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn, pf, npf);
        }
        b += nb;
      }
    }
  }
};

// ==================================================================== backward product
struct Bwd {
  template <int NB, int Q, bool Z>
  [[gnu::always_inline]] static inline void tile(int64_t grp, int64_t b0, int64_t GH, int64_t R, const float* dg,
                                                 const float* wt, float* dh, bool accumulate, const float* bias) {
    const int64_t c0 = grp * 4 * U;
    const bool full = c0 + Q * U <= R;
    int nu[Q];
    #pragma GCC unroll 16
    for (int q = 0; q < Q; ++q) nu[q] = static_cast<int>(std::clamp<int64_t>(R - c0 - q * U, 0, U));
    v16 acc[NB][Q];
    #pragma GCC unroll 16
    for (int nb = 0; nb < NB; ++nb)
      #pragma GCC unroll 16
      for (int q = 0; q < Q; ++q) {
        const float* d = accumulate ? dh + (b0 + nb) * R + c0 + q * U : bias ? bias + c0 + q * U : nullptr;
        acc[nb][q] = !d ? v16{} : full ? loadp<true>(d, U) : loadp<false>(d, nu[q]);
      }
    const float* w = wt + grp * GH * 4 * U;
    const float* a = dg + b0 * GH;
    for (int64_t m = 0; m < GH; ++m, w += Q * U) {
      v16 wv[Q];
      #pragma GCC unroll 16
      for (int q = 0; q < Q; ++q) std::memcpy(&wv[q], w + q * U, sizeof(v16));
      #pragma GCC unroll 16
      for (int nb = 0; nb < NB; ++nb) {
        const v16 av = splat<Z>(a + nb * GH + m);
        #pragma GCC unroll 16
        for (int q = 0; q < Q; ++q) acc[nb][q] += av * wv[q];
      }
    }
    #pragma GCC unroll 16
    for (int nb = 0; nb < NB; ++nb)
      #pragma GCC unroll 16
      for (int q = 0; q < Q; ++q) {
        float* d = dh + (b0 + nb) * R + c0 + q * U;
        alignas(64) float t[U];
        std::memcpy(t, &acc[nb][q], sizeof t);
        if (full) {
          storep<true>(d, t, U);
        } else {
          storep<false>(d, t, nu[q]);
        }
      }
  }

  template <int Q, int NBMax>
  [[gnu::always_inline]] static inline void rows(int64_t grp, int64_t r0, int64_t r1, int64_t GH, int64_t R,
                                                 const float* dg, const float* wt, float* dh, bool accumulate,
                                                 const float* bias) {
    constexpr bool Z = NBMax >= 6;
    const RowBlocks rb(r1 - r0, NBMax);
    int64_t b = r0;
    for (int64_t i = 0; i < rb.nblk; ++i) {
      const int64_t nb = rb.rows(i);
      if constexpr (NBMax >= 6) if (nb == 6) tile<6, Q, Z>(grp, b, GH, R, dg, wt, dh, accumulate, bias);
      if constexpr (NBMax >= 5) if (nb == 5) tile<5, Q, Z>(grp, b, GH, R, dg, wt, dh, accumulate, bias);
      if constexpr (NBMax >= 4) if (nb == 4) tile<4, Q, Z>(grp, b, GH, R, dg, wt, dh, accumulate, bias);
      if constexpr (NBMax >= 3) if (nb == 3) tile<3, Q, Z>(grp, b, GH, R, dg, wt, dh, accumulate, bias);
      if constexpr (NBMax >= 2) if (nb == 2) tile<2, Q, Z>(grp, b, GH, R, dg, wt, dh, accumulate, bias);
      if (nb == 1) tile<1, Q, Z>(grp, b, GH, R, dg, wt, dh, accumulate, bias);
      b += nb;
    }
  }

  template <int NBMax>
  [[gnu::always_inline]] static inline void run(int64_t r0, int64_t r1, int64_t GH, int64_t R, const float* dg,
                                                const float* wt, float* dh, bool accumulate, const float* bias) {
    const int64_t P = step_panels(R), ngrp = (P + 3) / 4;
    for (int64_t grp = 0; grp < ngrp; ++grp) {
      switch (std::min<int64_t>(4, P - grp * 4)) {
        case 4: rows<4, NBMax>(grp, r0, r1, GH, R, dg, wt, dh, accumulate, bias); break;
        case 3: rows<3, NBMax>(grp, r0, r1, GH, R, dg, wt, dh, accumulate, bias); break;
        case 2: rows<2, NBMax>(grp, r0, r1, GH, R, dg, wt, dh, accumulate, bias); break;
        default: rows<1, NBMax>(grp, r0, r1, GH, R, dg, wt, dh, accumulate, bias); break;
      }
    }
  }
};

// ==================================================================== cell forward alone
// The LSTM cell update of n rows whose gate pre-activations g (n,4H) are complete (the
// projection path: its recurrent product is a row GEMM of width P): lstm_units over each row.
struct LstmFwdCell {
  template <bool Peep, Activation A>
  [[gnu::always_inline]] static inline void rows(float* g, const float* c_prev, float* c, float* h, const float* peep,
                                                 int64_t n, int64_t H) {
    for (int64_t b = 0; b < n; ++b) {
      float* gr = g + b * 4 * H;
      int64_t j0 = 0;
      for (; j0 + U <= H; j0 += U)
        lstm_units<true, Peep, A>(loadp<true>(gr + j0, U), loadp<true>(gr + H + j0, U), loadp<true>(gr + 2 * H + j0, U),
                                  loadp<true>(gr + 3 * H + j0, U), c_prev + b * H + j0, peep, H, j0, U,
                                  c + b * H + j0, gr + j0, h + b * H + j0);
      if (j0 < H) {
        const int nu = static_cast<int>(H - j0);
        lstm_units<false, Peep, A>(loadp<false>(gr + j0, nu), loadp<false>(gr + H + j0, nu),
                                   loadp<false>(gr + 2 * H + j0, nu), loadp<false>(gr + 3 * H + j0, nu),
                                   c_prev + b * H + j0, peep, H, j0, nu, c + b * H + j0, gr + j0, h + b * H + j0);
      }
    }
  }
  template <bool Peep>
  [[gnu::always_inline]] static inline void rows(float* g, const float* c_prev, float* c, float* h, const float* peep,
                                                 int64_t n, int64_t H, Activation act) {
    switch (act) {  // a switch, not a lambda: a lambda would be compiled for the baseline ISA
      case Activation::Tanh: return rows<Peep, Activation::Tanh>(g, c_prev, c, h, peep, n, H);
      case Activation::Relu: return rows<Peep, Activation::Relu>(g, c_prev, c, h, peep, n, H);
      case Activation::Sigmoid: return rows<Peep, Activation::Sigmoid>(g, c_prev, c, h, peep, n, H);
      case Activation::Identity: return rows<Peep, Activation::Identity>(g, c_prev, c, h, peep, n, H);
    }
  }
  template <int>
  [[gnu::always_inline]] static inline void run(float* g, const float* c_prev, float* c, float* h, const float* peep,
                                                int64_t n, int64_t H, Activation act) {
    if (peep) return rows<true>(g, c_prev, c, h, peep, n, H, act);
    rows<false>(g, c_prev, c, h, peep, n, H, act);
  }
};

// ==================================================================== cell backward (float, vm::)
// The loops carry `omp simd` as vecmath's do: without it GCC 12 left them scalar (the LSTM
// one was 19% of a row-LSTM training step, more than the recurrent product it follows).
// The activation A of g and c: act'(x) from act(x) as in kernels/recurrent.h; act(c) recomputed
// with vm:: (what the gate math computed to ~2 ulps).
template <Activation A>
[[gnu::always_inline]] inline float cell_act(float x) {
  if constexpr (A == Activation::Tanh) return vm::tanh(x);
  if constexpr (A == Activation::Sigmoid) return vm::sigmoid(x);
  if constexpr (A == Activation::Relu) return x > 0.0f ? x : 0.0f;
  if constexpr (A == Activation::Identity) return x;
}
struct LstmBwd {
  template <Activation A>
  [[gnu::always_inline]] static inline void rows(const float* dh, float* dc, const float* g, const float* c,
                                                 const float* c_prev, const float* peep, float* dg, int64_t n,
                                                 int64_t H) {
    for (int64_t b = 0; b < n; ++b) {
      const float* __restrict gi = g + b * 4 * H;
      const float* __restrict gf = gi + H;
      const float* __restrict gu = gi + 2 * H;
      const float* __restrict go = gi + 3 * H;
      float* __restrict di = dg + b * 4 * H;
      float* __restrict df = di + H;
      float* __restrict du = di + 2 * H;
      float* __restrict dout = di + 3 * H;
      const float* __restrict dhr = dh + b * H;
      const float* __restrict cr = c + b * H;
      const float* __restrict cp = c_prev + b * H;
      float* __restrict dcr = dc + b * H;
      if (peep) {
        const float* __restrict wci = peep;
        const float* __restrict wcf = peep + H;
        const float* __restrict wco = peep + 2 * H;
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const float i = gi[j], f = gf[j], u = gu[j], o = go[j];
          const float ac = cell_act<A>(cr[j]);
          const float dot = dhr[j] * ac * o * (1.0f - o);
          const float dct = dcr[j] + dhr[j] * o * act_grad_from_output<A>(ac) + dot * wco[j];
          const float dit = dct * u * i * (1.0f - i);
          const float dft = dct * cp[j] * f * (1.0f - f);
          di[j] = dit, df[j] = dft, du[j] = dct * i * act_grad_from_output<A>(u), dout[j] = dot;
          dcr[j] = dct * f + dit * wci[j] + dft * wcf[j];
        }
      } else {
#pragma omp simd
        for (int64_t j = 0; j < H; ++j) {
          const float i = gi[j], f = gf[j], u = gu[j], o = go[j];
          const float ac = cell_act<A>(cr[j]);
          const float dot = dhr[j] * ac * o * (1.0f - o);
          const float dct = dcr[j] + dhr[j] * o * act_grad_from_output<A>(ac);
          di[j] = dct * u * i * (1.0f - i), df[j] = dct * cp[j] * f * (1.0f - f);
          du[j] = dct * i * act_grad_from_output<A>(u), dout[j] = dot;
          dcr[j] = dct * f;
        }
      }
    }
  }
  template <int>
  [[gnu::always_inline]] static inline void run(const float* dh, float* dc, const float* g, const float* c,
                                                const float* c_prev, const float* peep, float* dg, int64_t n,
                                                int64_t H, Activation act) {
    switch (act) {
      case Activation::Tanh: return rows<Activation::Tanh>(dh, dc, g, c, c_prev, peep, dg, n, H);
      case Activation::Relu: return rows<Activation::Relu>(dh, dc, g, c, c_prev, peep, dg, n, H);
      case Activation::Sigmoid: return rows<Activation::Sigmoid>(dh, dc, g, c, c_prev, peep, dg, n, H);
      case Activation::Identity: return rows<Activation::Identity>(dh, dc, g, c, c_prev, peep, dg, n, H);
    }
  }
};
struct GruBwd {
  template <int>
  [[gnu::always_inline]] static inline void run(const float* dh, const float* g, const float* hn, const float* h_prev, float* dgi, float* dgh,
                  float* dh_prev, int64_t n, int64_t H) {
    for (int64_t b = 0; b < n; ++b) {
      const float* __restrict gr = g + b * 3 * H;
      const float* __restrict gz = gr + H;
      const float* __restrict gn = gr + 2 * H;
      const float* __restrict hnr = hn + b * H;
      const float* __restrict hp = h_prev + b * H;
      const float* dhr = dh + b * H;  // may alias dh_prev: each element is read before it is written
      float* dhp = dh_prev + b * H;
      float* __restrict ir = dgi + b * 3 * H;
      float* __restrict hr = dgh + b * 3 * H;
#pragma omp simd  // element j of dh is read before element j of dh_prev is written
      for (int64_t j = 0; j < H; ++j) {
        const float r = gr[j], z = gz[j], nn = gn[j], d = dhr[j];
        const float dnt = d * (1.0f - z) * (1.0f - nn * nn);
        const float dzt = d * (hp[j] - nn) * z * (1.0f - z);
        const float drt = dnt * hnr[j] * r * (1.0f - r);
        ir[j] = drt, ir[H + j] = dzt, ir[2 * H + j] = dnt;
        hr[j] = drt, hr[H + j] = dzt, hr[2 * H + j] = dnt * r;
        dhp[j] = d * z;
      }
    }
  }
};

// ==================================================================== ISA dispatch
// K::run<NBMax>(a...) compiled for each ISA; NBMax: the widest row block that fits the
// registers (32 zmm with AVX-512; v16 takes 2 ymm / 4 xmm registers elsewhere).
template <class K, class... A>
void dispatch(A... a) {
  isa::dispatch_widths<K, 6, 2, 2>(a...);
}

}  // namespace

// ==================================================================== entries
namespace {
// The packed layout of an operand whose element (m, col), m < GH, col < R, is
// w[m * ms + col * cs], cs == 1 or ms == 1: out[grp][m][q][u] = element(m, (4 grp + q) 16 + u), 0 past R.
void pack_panels(const float* w, int64_t GH, int64_t R, int64_t ms, int64_t cs, float* out) {
  // groups split over threads (4 MiB for an LSTM's W_hh at H 512, packed on every call); inline
  // inside a parallel region (one direction of a bidirectional layer)
  const int64_t P = step_panels(R), ngrp = (P + 3) / 4;
  parallel_for(ngrp, std::max<int64_t>(1, (int64_t{1} << 15) / (GH * 4 * U)), [&](int64_t g0, int64_t g1) {
    for (int64_t grp = g0; grp < g1; ++grp) {
      // the group's Q U columns from c0, nv of them before R: element (m, c0 + j) goes to o[m Q U + j]
      const int64_t Q = std::min<int64_t>(4, P - grp * 4), c0 = grp * 4 * U, W = Q * U, nv = std::min(W, R - c0);
      float* o = out + grp * GH * 4 * U;
      if (cs == 1) {  // a row of w holds the group's columns side by side
        for (int64_t m = 0; m < GH; ++m) {
          std::memcpy(o + m * W, w + m * ms + c0, sizeof(float) * nv);
          std::fill(o + m * W + nv, o + (m + 1) * W, 0.0f);
        }
      } else {  // ms == 1 (pack_seq_hidden): a column is a run of w, read front to back
        for (int64_t j = 0; j < W; ++j) {
          const float* src = w + (c0 + j) * cs;
          for (int64_t m = 0; m < GH; ++m) o[m * W + j] = j < nv ? src[m] : 0.0f;
        }
      }
    }
  });
}
}  // namespace

void pack_seq_hidden_t(const float* w, int64_t GH, int64_t R, float* out) { pack_panels(w, GH, R, R, 1, out); }

void pack_seq_hidden(const float* w, int64_t GH, int64_t R, float* out) { pack_panels(w, GH, R, 1, GH, out); }

namespace {
template <bool Peep>
void lstm_forward_rows(Activation act, int64_t r0, int64_t r1, int64_t H, const float* h_prev, float* g,
                       const float* c_prev, float* c, float* h, float* hn, const float* whh, const float* peep) {
  const float* nb = nullptr;  // b_hn: GRU's
  with_activation(act, [&]<Activation A>() {
    dispatch<Fwd<StepCell::Lstm, Peep, A>>(r0, r1, H, h_prev, g, c_prev, c, h, hn, whh, peep, nb);
  });
}
}  // namespace

void seq_forward_rows(StepCell cell, int64_t r0, int64_t r1, int64_t H, const float* h_prev, float* g,
                      const float* c_prev, float* c, float* h, float* hn, const float* whh, const float* peep,
                      const float* b_hn, Activation act) {
  if (r1 <= r0 || H <= 0) return;
  switch (cell) {
    case StepCell::Lstm:
      if (peep) return lstm_forward_rows<true>(act, r0, r1, H, h_prev, g, c_prev, c, h, hn, whh, peep);
      return lstm_forward_rows<false>(act, r0, r1, H, h_prev, g, c_prev, c, h, hn, whh, peep);
    case StepCell::Gru:
      return dispatch<Fwd<StepCell::Gru, false>>(r0, r1, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn);
    case StepCell::RnnTanh:
      return dispatch<Fwd<StepCell::RnnTanh, false>>(r0, r1, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn);
    case StepCell::RnnRelu:
      return dispatch<Fwd<StepCell::RnnRelu, false>>(r0, r1, H, h_prev, g, c_prev, c, h, hn, whh, peep, b_hn);
    case StepCell::Linear: return;  // the step's projection, not a recurrent cell: never passed here
  }
}

void seq_backward_gemm_rows(int64_t r0, int64_t r1, int64_t GH, int64_t R, const float* dg, const float* wt,
                            float* dh, bool accumulate, const float* bias) {
  if (r1 <= r0 || R <= 0) return;
  dispatch<Bwd>(r0, r1, GH, R, dg, wt, dh, accumulate, bias);
}

void lstm_cell_forward_fast(float* g, const float* c_prev, float* c, float* h, const float* peep, int64_t n,
                            int64_t H, Activation act) {
  if (n <= 0 || H <= 0) return;
  dispatch<LstmFwdCell>(g, c_prev, c, h, peep, n, H, act);
}

void lstm_cell_backward_fast(const float* dh, float* dc, const float* g, const float* c, const float* c_prev,
                             const float* peep, float* dg, int64_t n, int64_t H, Activation act) {
  dispatch<LstmBwd>(dh, dc, g, c, c_prev, peep, dg, n, H, act);
}

void gru_cell_backward_fast(const float* dh, const float* g, const float* hn, const float* h_prev, float* dgi,
                            float* dgh, float* dh_prev, int64_t n, int64_t H) {
  dispatch<GruBwd>(dh, g, hn, h_prev, dgi, dgh, dh_prev, n, H);
}

}  // namespace seqnn::kernels
