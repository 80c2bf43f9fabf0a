// kernels/recurrent.h (internal): the fused pointwise gate passes of the recurrent cells, one time
// step over n rows, and a naive reference of each whole cell (matmuls as loops) to test them.
//
// The op (src/ops/recurrent.cpp) computes the gate pre-activations with GEMMs:
//   g = x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          (RNN, LSTM, Jordan: one buffer)
//   g = x W_ih^T + b_ih (+ b_hh for r,z),  s = h_{t-1} W_hh^T   (GRU: the n gate needs W_hn h apart)
// and these kernels do the rest of the step (act' below is the activation's derivative written
// in terms of its output y: tanh 1-y^2, sigmoid y(1-y), relu [y>0], identity 1).
//
// RNN (also both layers of Jordan):  h = act(g)                 backward dg = dh * act'(h)
// LSTM, gates [i f g o] of width H, peephole w = (3,H) rows w_ci, w_cf, w_co or none:
//   i = sig(g_i + w_ci c_{t-1}), f = sig(g_f + w_cf c_{t-1}), u = act(g_g)
//   c_t = f c_{t-1} + i u,  o = sig(g_o + w_co c_t),  h = o act(c_t)
//   backward, from dh and dc (dL/dc_t from step t+1):
//     do~ = dh act(c_t) o(1-o);  dc += dh o act'(act(c_t)) + do~ w_co
//     di~ = dc u i(1-i);  df~ = dc c_{t-1} f(1-f);  du~ = dc i act'(u)
//     dc_{t-1} = dc f + di~ w_ci + df~ w_cf
// GRU (PyTorch's linear-before-reset), gates [r z n]:
//   r = sig(g_r + s_r), z = sig(g_z + s_z), hn = s_n + b_hn, n = tanh(g_n + r hn)
//   h = (1-z) n + z h_{t-1}
//   backward: dn~ = dh (1-z)(1-n^2);  dz~ = dh (h_{t-1} - n) z(1-z);  dr~ = dn~ hn r(1-r)
//     input side dgi = [dr~ dz~ dn~], hidden side dgh = [dr~ dz~ dn~ r], dh_{t-1} = dh z + dgh W_hh
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "seqnn/recurrent.h"

namespace seqnn::kernels {

// ==================================================================== activations
// The single place where the scalar math lives: swap in kernels/vecmath.h's vectorised
// sigmoid/tanh here (float) when it lands.
template <class T>
inline T rnn_sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
// float: tanh x = 2 sigmoid(2x) - 1 through expf (glibc's tanhf goes through the much slower
// expm1f; the absolute error stays within a few float ulps of 1). double: std::tanh.
template <class T>
inline T rnn_tanh(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return 2.0f / (1.0f + std::exp(-2.0f * x)) - 1.0f;
  } else {
    return std::tanh(x);
  }
}

template <Activation A, class T>
inline T act_forward(T x) {
  if constexpr (A == Activation::Tanh) return rnn_tanh(x);
  if constexpr (A == Activation::Sigmoid) return rnn_sigmoid(x);
  if constexpr (A == Activation::Relu) return x > T(0) ? x : T(0);
  if constexpr (A == Activation::Identity) return x;
}
// d act / d x, from the output y = act(x)
template <Activation A, class T>
inline T act_grad_from_output(T y) {
  if constexpr (A == Activation::Tanh) return T(1) - y * y;
  if constexpr (A == Activation::Sigmoid) return y * (T(1) - y);
  if constexpr (A == Activation::Relu) return y > T(0) ? T(1) : T(0);
  if constexpr (A == Activation::Identity) return T(1);
}

// Calls f.template operator()<A>() for the runtime activation a: the one place a runtime choice
// becomes a compile-time one. Not inside a function compiled for a wider ISA (isa::dispatch's
// bodies): a lambda's body is a function of its own, compiled for the library's baseline ISA
// whatever the target of the function it is written in; those bodies write the switch out.
template <class F>
inline void with_activation(Activation a, F&& f) {
  switch (a) {
    case Activation::Tanh: f.template operator()<Activation::Tanh>(); return;
    case Activation::Relu: f.template operator()<Activation::Relu>(); return;
    case Activation::Sigmoid: f.template operator()<Activation::Sigmoid>(); return;
    case Activation::Identity: f.template operator()<Activation::Identity>(); return;
  }
}

// ==================================================================== fused step kernels
// Row-major, rows contiguous; n rows per step.

// g: (m) pre-activations  h: (m) out = act(g) (h may alias g); m = n*H. float tanh / sigmoid go
// through the fused cells' gate math (kernels/cpu/gate_math.h: ~2 ulps), the rest through
// act_forward.
template <class T>
void rnn_cell_forward(const T* g, T* h, int64_t m, Activation act);
// dh, h: (m)  dg: (m) out = (dh [+ add]) * act'(h) (dg may alias dh or add). add (m) or null:
// the layer's output gradient at this step, folded in here rather than in a pass of its own.
template <class T>
void rnn_cell_backward(const T* dh, const T* h, T* dg, int64_t m, Activation act, const T* add = nullptr);

// g: (n,4H) in: pre-activations, out: activated i,f,u,o   c_prev: (n,H)  c: (n,H) out
// h: (n,H) out = o act(c)   peep: (3,H) or null
template <class T>
void lstm_cell_forward(T* g, const T* c_prev, T* c, T* h, const T* peep, int64_t n, int64_t H, Activation act);
// dh: (n,H)  dc: (n,H) in dL/dc_t (from t+1), out dL/dc_{t-1}  g: (n,4H) activated gates
// c, c_prev: (n,H)  peep: (3,H) or null  dg: (n,4H) out, gradient of the pre-activations
template <class T>
void lstm_cell_backward(const T* dh, T* dc, const T* g, const T* c, const T* c_prev, const T* peep, T* dg, int64_t n,
                        int64_t H, Activation act);

// g: (n,3H) in: input-side pre-activations (r,z parts including both biases), out: r,z,n
// s: (n,3H) h_{t-1} W_hh^T  b_hn: (H) or null  h_prev: (n,H)  h: (n,H) out  hn: (n,H) out = s_n + b_hn
template <class T>
void gru_cell_forward(T* g, const T* s, const T* b_hn, const T* h_prev, T* h, T* hn, int64_t n, int64_t H);
// dh: (n,H)  g: (n,3H) activated r,z,n  hn, h_prev: (n,H)  dgi, dgh: (n,3H) out
// dh_prev: (n,H) out = dh z (the direct part; may alias dh)
template <class T>
void gru_cell_backward(const T* dh, const T* g, const T* hn, const T* h_prev, T* dgi, T* dgh, T* dh_prev, int64_t n,
                       int64_t H);

// ==================================================================== reductions after the loop
// a: (rows,cols)  out: (cols) = column sums of a
template <class T>
void column_sum(const T* a, T* out, int64_t rows, int64_t cols);
// out (cols) += column sums of a (rows, cols) (column_sum without the zeroing); one thread
template <class T>
void column_sum_add(const T* a, int64_t rows, int64_t cols, T* out);
// dpeep (3,H) += lstm_peephole_grad's sums over these rows; one thread
template <class T>
void lstm_peephole_grad_add(const T* dg, const T* c_prev, const T* c, int64_t rows, int64_t H, T* dpeep);
// dg: (rows,4H) pre-activation grads  c_prev, c: (rows,H)  dpeep: (3,H) out
//   dw_ci = sum di~ c_prev, dw_cf = sum df~ c_prev, dw_co = sum do~ c
template <class T>
void lstm_peephole_grad(const T* dg, const T* c_prev, const T* c, T* dpeep, int64_t rows, int64_t H);

// ==================================================================== naive whole-cell reference
namespace ref {

// Dims of one cell: batch B, input I, hidden H, fed-back width R (H, P or O).
struct CellDims {
  int64_t B, I, H, R;
};
// Parameter pointers in PyTorch layouts (see seqnn/recurrent.h); null = absent.
template <class T>
struct CellParams {
  const T *w_ih = nullptr, *w_hh = nullptr, *b_ih = nullptr, *b_hh = nullptr, *w_hr = nullptr, *w_peep = nullptr,
          *w_ho = nullptr, *b_ho = nullptr;
};
// Gradients of the parameters, accumulated (+=); null = not wanted (must be non-null where the
// parameter is present).
template <class T>
struct CellGrads {
  T *w_ih = nullptr, *w_hh = nullptr, *b_ih = nullptr, *b_hh = nullptr, *w_hr = nullptr, *w_peep = nullptr,
    *w_ho = nullptr, *b_ho = nullptr;
};

// One step. x: (B,I)  h_prev: (B,R)  c_prev: (B,H) (LSTM)  h: (B,R) out  c: (B,H) out (LSTM)
template <class T>
void cell_forward(const RecurrentSpec& spec, const CellDims& d, const CellParams<T>& p, const T* x, const T* h_prev,
                  const T* c_prev, T* h, T* c);
// One step backward (recomputes the forward). dh: (B,R)  dc: (B,H) (LSTM)
// dx: (B,I) out  dh_prev: (B,R) out  dc_prev: (B,H) out (LSTM)  grads: +=
template <class T>
void cell_backward(const RecurrentSpec& spec, const CellDims& d, const CellParams<T>& p, const T* x, const T* h_prev,
                   const T* c_prev, const T* dh, const T* dc, T* dx, T* dh_prev, T* dc_prev, const CellGrads<T>& grads);

}  // namespace ref
}  // namespace seqnn::kernels
