// kernels/recurrent_step.h (internal): the small-batch streaming step of RNN / LSTM / GRU in
// float32, on weights packed once into gate-interleaved panels.
//
// Packing (per weight matrix W: (G*H, K), PyTorch's gate-stacked layout, K = I or H): the hidden
// units are cut into panels of U = 16 consecutive units; panel p holds, for every k, the G gates'
// 16 weights of its units side by side:
//   packed[p][k][g][u] = W[g*H + p*U + u][k]        (0 for p*U + u >= H)      size P*K*G*U
// so one panel is one contiguous stream, and a row x (K) times the panel yields all G gate
// pre-activations of 16 units at once; the cell update then runs in the same pass (epilogue):
//   RNN   h = act(a_x + a_h + b_ih + b_hh)      (Linear: h = a_x + a_h + b_ih + b_hh, no activation)
//   LSTM  i,f,g,o = sig, sig, act, sig of (a_x + a_h + b_ih + b_hh);  c = f c + i g;  h = o act(c)
//         (act: tanh, or the LSTM's activation option: identity, ReLU, sigmoid)
//         with peephole weights (3,H) = w_ci, w_cf, w_co: w_ci c_prev, w_cf c_prev join i's and f's
//         pre-activations, w_co c (the new c) joins o's
//   GRU   r,z = sig(a_x + a_h + b_ih + b_hh)[r,z];  n = tanh(a_x[n] + b_in + r (a_h[n] + b_hn))
//         h = (1-z) n + z h_prev
// Bias packing: packed_bias[p][s][u] with S = G slots (GRU: 4 slots r, z, b_in, b_hn).
// The fast kernel splits the panels over seqnn's threads when the work pays (see the .cpp), and
// picks its ISA (AVX-512 / AVX2+FMA / baseline) from vecmath_isa(). No allocation.
#pragma once

#include <cstdint>

#include "seqnn/recurrent.h"

namespace seqnn::kernels {

// Linear: y = W_ih x + W_hh h_prev + b (G = 1, no activation; R = 0: no recurrence): LSTM's
// projection h = W_hr h~ (R = 0), Jordan's pre-activation W_ih x + W_hh y_{t-1} + b and its
// output layer W_ho a + b_ho (R = 0); the caller applies any other activation.
enum class StepCell { RnnTanh, RnnRelu, Lstm, Gru, Linear };

inline constexpr int64_t kStepLanes = 16;  // U: hidden units per panel

inline int64_t step_gates(StepCell c) { return c == StepCell::Lstm ? 4 : c == StepCell::Gru ? 3 : 1; }
inline int64_t step_bias_slots(StepCell c) { return c == StepCell::Gru ? 4 : step_gates(c); }
inline int64_t step_panels(int64_t H) { return (H + kStepLanes - 1) / kStepLanes; }
// floats of a packed (G*H, K) matrix / of the packed bias
inline int64_t step_packed_size(StepCell c, int64_t H, int64_t K) {
  return step_panels(H) * K * step_gates(c) * kStepLanes;
}
inline int64_t step_bias_size(StepCell c, int64_t H) { return step_panels(H) * step_bias_slots(c) * kStepLanes; }

// w: (G*H, K) -> out: (P, K, G, U)
void pack_step_weights(StepCell cell, const float* w, int64_t H, int64_t K, float* out);
// b_ih, b_hh: (G*H) each, or both null (no bias), or b_hh alone null (one bias, not GRU) -> out: (P, S, U)
void pack_step_bias(StepCell cell, const float* b_ih, const float* b_hh, int64_t H, float* out);

// The order in which each thread streams its share of the panels. The result is the same either
// way (panels are independent; each one sums over k in the same order). A caller stepping the same
// weights again and again alternates Up and Down: the panels a thread read last are still in its
// L2 cache, so the next step starts on them (with one direction only, every step evicts each line
// just before it is needed again and the whole stream comes from L3).
enum class StepSweep { Up, Down };
inline StepSweep flip(StepSweep s) { return s == StepSweep::Up ? StepSweep::Down : StepSweep::Up; }

// One step for B rows (any B >= 0; meant for B <= 8). R is the width of the recurrent input:
// H, except for an LSTM with a projection (R = P), Jordan (R = O) and a Linear projection (R = 0:
// h_prev, whh unused).
//   x: (B,I)  h_prev: (B,R)  c_prev: (B,H) LSTM else null  wih: packed (G*H,I)  whh: packed (G*H,R)
//   bias: packed  h_out: (B,H), must not overlap h_prev  c_out: (B,H) LSTM, may equal c_prev
//   GRU reads h_prev in its update (z h_prev), so R must equal H there.
//   peep: (3,H) LSTM's peephole weights, unpacked, or null (no peepholes; ignored by other cells)
//   act: the LSTM's activation of g and c (LSTMOptions::activation; ignored by other cells)
void recurrent_step(StepCell cell, int64_t B, int64_t I, int64_t H, int64_t R, const float* x, const float* h_prev,
                    const float* c_prev, const float* wih, const float* whh, const float* bias, float* h_out,
                    float* c_out, const float* peep = nullptr, StepSweep sweep = StepSweep::Up,
                    Activation act = Activation::Tanh);

namespace ref {
// The same step on the unpacked PyTorch layouts, plain loops and std:: functions (double sums).
//   w_ih: (G*H,I)  w_hh: (G*H,R)  b_ih, b_hh: (G*H) or null  other arguments as above
void recurrent_step(StepCell cell, int64_t B, int64_t I, int64_t H, int64_t R, const float* x, const float* h_prev,
                    const float* c_prev, const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                    float* h_out, float* c_out, const float* peep = nullptr, Activation act = Activation::Tanh);
}  // namespace ref

}  // namespace seqnn::kernels
