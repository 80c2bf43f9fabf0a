// seqnn/recurrent.h: fused recurrent layers (one layer, one or two directions) with autograd.
//
// The cells, PyTorch's gate orders and layouts (G gates, H hidden, R = width fed back):
//   RNN     h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)                 G=1, R=H
//   LSTM    i,f,g,o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)             G=4, R=H (or P)
//           [peephole: i += w_ci*c_{t-1}; f += w_cf*c_{t-1}; o += w_co*c_t]
//           i,f,o = sigmoid(.), g = act(.)
//           c_t = f*c_{t-1} + i*g
//           h_t = o*act(c_t)           [projection: h_t = W_hr (o*act(c_t)), R = P]
//   GRU     r,z = sigmoid(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})   G=3, R=H
//           n   = tanh(W_in x_t + b_in + r*(W_hn h_{t-1} + b_hn))
//           h_t = (1-z)*n + z*h_{t-1}
//   Jordan  a_t = act(W_ih x_t + b_ih + W_hh y_{t-1} + b_hh)                  G=1, R=O
//           y_t = out_act(W_ho a_t + b_ho)      (the recurrence feeds back the OUTPUT y)
//
// Whole sequence, per direction: one GEMM X(T*B,I) W_ih^T for all steps, one GEMM per step
// h_{t-1} W_hh^T into the gate buffer, one fused pass of gate math; backward through time by
// hand, weight gradients as large GEMMs after the loop; the two directions run concurrently.
// Ragged batches (lengths): a sequence b only sees steps t < lengths[b]; outputs past its
// length are zero, h_n/c_n are its state after its last valid step, and the reverse direction
// starts at its own end (t = lengths[b]-1), like PyTorch's packed sequences.
#pragma once

#include <vector>

#include "seqnn/autograd.h"
#include "seqnn/tensor.h"

namespace seqnn {

enum class CellType { RNN, LSTM, GRU, Jordan };
enum class Activation { Tanh, Relu, Sigmoid, Identity };

// The parameters of one direction of one layer, PyTorch layouts. Undefined = absent.
struct RecurrentWeights {
  Tensor w_ih;    // (G*H, I)
  Tensor w_hh;    // (G*H, R)
  Tensor b_ih;    // (G*H)
  Tensor b_hh;    // (G*H)
  Tensor w_hr;    // LSTM projection (P, H)
  Tensor w_peep;  // peephole LSTM (3, H): rows w_ci, w_cf, w_co
  Tensor w_ho;    // Jordan output layer (O, H)
  Tensor b_ho;    // Jordan output bias (O)
};

struct RecurrentSpec {
  CellType cell = CellType::LSTM;
  // RNN: the nonlinearity (Tanh or Relu). LSTM: g's activation and the squash of c_t (Tanh in
  // PyTorch; Identity gives the notes' linear memory cell). Jordan: the hidden activation.
  Activation activation = Activation::Tanh;
  // Jordan only: y_t's activation.
  Activation output_activation = Activation::Identity;
};

struct RecurrentOutput {
  Tensor output;  // (T, B, D*R)   zero past each sequence's length
  Tensor h_n;     // (D, B, R)
  Tensor c_n;     // (D, B, H)     LSTM only, else undefined
};

// x: (T,B,I) time-major; h0: (D,B,R) or undefined (zeros); c0: (D,B,H) or undefined (zeros);
// weights: D = 1 (forward) or 2 (forward, reverse); lengths: I64 (B), each in [1, T], any
// order, or undefined (all T). F32 or F64, one dtype throughout. Differentiable in x, h0, c0
// and every weight.
RecurrentOutput recurrent_layer(const RecurrentSpec& spec, const Tensor& x, const Tensor& h0, const Tensor& c0,
                                const std::vector<RecurrentWeights>& weights, const Tensor& lengths = Tensor());

}  // namespace seqnn
