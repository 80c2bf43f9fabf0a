// kernels/recurrent_seq.h (internal): the per-step kernels of the whole-sequence float32 fast
// path of recurrent_layer (src/ops/recurrent.cpp) for LSTM (any activation of g and c, optional
// peephole; a projection uses the cell-alone kernels below), GRU and RNN (tanh / relu).
//
// The op precomputes G = X W_ih^T + biases for all steps with one GEMM; what is left per step is
// the recurrent product and the cell math. These kernels do both in one pass over a range of
// batch rows [r0, r1), on W_hh packed once per call:
//
//   forward  (W_hh packed by pack_step_weights(cell, w_hh, H, H): gate-interleaved panels of 16
//            hidden units, kernels/recurrent_step.h): for each panel and a block of rows, the
//            accumulators of all G gates of the panel's 16 units start at G_t (GRU: r, z at G_t,
//            the n gate's hidden part at b_hn) and take h_{t-1} W_hh^T; the epilogue is the cell
//            update (kernels/recurrent.h), written straight to G_t (activated gates, kept for
//            backward), c_t, h_t (and GRU's hn = W_hn h + b_hn). Gates never round-trip through
//            memory between the product and the nonlinearity.
//   backward dh(rows, R) = beta dh + dG(rows, GH) W_hh(GH, R), W_hh packed by pack_seq_hidden_t
//            into groups of 4 column panels of 16: packed[grp][m][q][u] = W_hh[m][(4 grp + q) 16 + u]
//            (a group holds min(4, panels left) panels; 0 beyond R). The cell backward passes
//            (lstm/gru/rnn_cell_backward_rows) are vectorised float versions of the ones in
//            kernels/recurrent.h, over n rows.
//
// Rows are independent through the whole recurrence, so the op gives each thread a fixed range
// of batch rows for all T steps: no barrier per step. No kernel here allocates or spawns
// threads; each picks its ISA (AVX-512 / AVX2+FMA / baseline) from vecmath_isa().
// Activations use kernels/vecmath.h (vm::sigmoid, vm::tanh; a few ulps).
#pragma once

#include <cstdint>

#include "kernels/recurrent_step.h"

namespace seqnn::kernels {

// floats of pack_seq_hidden_t's output for a (GH, R) matrix
inline int64_t seq_packed_t_size(int64_t GH, int64_t R) { return step_panels(R) * kStepLanes * GH; }
// w: (GH, R) row-major -> out (see above)
void pack_seq_hidden_t(const float* w, int64_t GH, int64_t R, float* out);
// The same packing of w^T from w: (R, GH) row-major (a Linear weight: x w^T through
// seq_backward_gemm_rows), without a transposed copy: out = pack_seq_hidden_t(w^T, GH, R).
void pack_seq_hidden(const float* w, int64_t GH, int64_t R, float* out);

// One forward step for rows [r0, r1) (row strides: h H, g G*H, c H, hn H).
//   h_prev: (B,H)  g: (B,G*H) in G_t, out activated gates (GRU: r, z, n)  c_prev, c: LSTM (B,H)
//   h: (B,H) out (must not overlap h_prev)  hn: GRU (B,H) out  whh: packed (G*H,H)
//   peep: LSTM (3,H) or null  b_hn: GRU (H) or null  act: the LSTM's activation of g and c
void seq_forward_rows(StepCell cell, int64_t r0, int64_t r1, int64_t H, const float* h_prev, float* g,
                      const float* c_prev, float* c, float* h, float* hn, const float* whh, const float* peep,
                      const float* b_hn, Activation act);

// dh(rows r0..r1, R) = (accumulate ? dh : bias ? bias : 0) + dg(rows, GH) W_hh, wt = pack_seq_hidden_t(W_hh).
// bias: (R) or null, the same for every row (Jordan's b_ho: the accumulators start from it).
void seq_backward_gemm_rows(int64_t r0, int64_t r1, int64_t GH, int64_t R, const float* dg, const float* wt,
                            float* dh, bool accumulate, const float* bias = nullptr);

// The LSTM cell update alone (activation act of g and c), on the fused kernels' gate math: g (n,4H)
// pre-activations in, activated i,f,g,o out; c_prev, c, h (n,H) (lstm_cell_forward's arguments).
// For the projection path, whose recurrent product (width P) runs apart.
void lstm_cell_forward_fast(float* g, const float* c_prev, float* c, float* h, const float* peep, int64_t n,
                            int64_t H, Activation act);

// The float cell backward passes of kernels/recurrent.h (same arguments, n rows), vectorised.
void lstm_cell_backward_fast(const float* dh, float* dc, const float* g, const float* c, const float* c_prev,
                             const float* peep, float* dg, int64_t n, int64_t H, Activation act);
void gru_cell_backward_fast(const float* dh, const float* g, const float* hn, const float* h_prev, float* dgi,
                            float* dgh, float* dh_prev, int64_t n, int64_t H);

namespace ref {
// Naive versions on the unpacked PyTorch layout w_hh (G*H, H) / (GH, R), same arguments.
void seq_forward_rows(StepCell cell, int64_t r0, int64_t r1, int64_t H, const float* h_prev, float* g,
                      const float* c_prev, float* c, float* h, float* hn, const float* w_hh, const float* peep,
                      const float* b_hn, Activation act);
void seq_backward_gemm_rows(int64_t r0, int64_t r1, int64_t GH, int64_t R, const float* dg, const float* w_hh,
                            float* dh, bool accumulate, const float* bias = nullptr);
}  // namespace ref

}  // namespace seqnn::kernels
