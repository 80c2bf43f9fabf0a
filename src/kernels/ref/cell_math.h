// kernels/ref/cell_math.h (internal): the cell updates the naive references of the step kernel
// (ref/recurrent_step.cpp) and of the sequence kernel (ref/recurrent_seq.cpp) share, in double,
// with std:: functions, from the gate pre-activations (biases and products already summed).
//   LSTM  i = sig(a_i + w_ci c_prev), f = sig(a_f + w_cf c_prev), g = act(a_g),
//         c = f c_prev + i g, o = sig(a_o + w_co c), h = o act(c)       (w_c* = 0 without peepholes;
//         act: tanh, or LSTMOptions::activation)
//   GRU   r = sig(a_r), z = sig(a_z), n = tanh(x_n + r hn), h = (1 - z) n + z h_prev
//         (x_n: the input side of n with b_in; hn: the hidden side with b_hn, inside r's product)
#pragma once

#include <cmath>
#include <cstdint>

#include "seqnn/recurrent.h"

namespace seqnn::kernels::ref {

inline double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
inline double activate(double v, Activation a) {
  switch (a) {
    case Activation::Tanh: return std::tanh(v);
    case Activation::Sigmoid: return sigmoid(v);
    case Activation::Relu: return v > 0 ? v : 0;
    case Activation::Identity: return v;
  }
  return v;
}

struct LstmUnit {
  double i, f, g, o, c, h;
};
// Unit j of H; peep: (3,H) rows w_ci, w_cf, w_co, or null.
inline LstmUnit lstm_unit(double a_i, double a_f, double a_g, double a_o, double c_prev, const float* peep, int64_t H,
                          int64_t j, Activation act) {
  const double wci = peep ? peep[j] : 0.0, wcf = peep ? peep[H + j] : 0.0, wco = peep ? peep[2 * H + j] : 0.0;
  LstmUnit u;
  u.i = sigmoid(a_i + wci * c_prev);
  u.f = sigmoid(a_f + wcf * c_prev);
  u.g = activate(a_g, act);
  u.c = u.f * c_prev + u.i * u.g;
  u.o = sigmoid(a_o + wco * u.c);
  u.h = u.o * activate(u.c, act);
  return u;
}

struct GruUnit {
  double r, z, n, h;
};
inline GruUnit gru_unit(double a_r, double a_z, double x_n, double hn, double h_prev) {
  GruUnit u;
  u.r = sigmoid(a_r);
  u.z = sigmoid(a_z);
  u.n = std::tanh(x_n + u.r * hn);
  u.h = (1.0 - u.z) * u.n + u.z * h_prev;
  return u;
}

}  // namespace seqnn::kernels::ref
