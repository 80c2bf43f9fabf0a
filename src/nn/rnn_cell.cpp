// nn::RNNCell / LSTMCell / GRUCell: recurrent_layer with T = 1 (one code path with the layers).
//
//   (1,B,I) x, (1,B,H) h, c  ->  recurrent_layer  ->  h' = h_n[0], c' = c_n[0]
#include <cmath>

#include "seqnn/autograd.h"
#include "seqnn/debug.h"
#include "seqnn/nn/init.h"
#include "seqnn/nn/rnn.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

namespace {
int64_t gates_of(CellType cell) { return cell == CellType::LSTM ? 4 : cell == CellType::GRU ? 3 : 1; }
}  // namespace

RecurrentCell::RecurrentCell(const std::string& name, CellType cell, Activation act, int64_t input_size,
                             int64_t hidden_size, bool bias, DType dtype, Generator* gen)
    : Module(name), cell_(cell), act_(act), input_size_(input_size), hidden_size_(hidden_size) {
  check(input_size >= 1, name, "input_size must be >= 1, got ", input_size);
  check(hidden_size >= 1, name, "hidden_size must be >= 1, got ", hidden_size);
  check(cell != CellType::RNN || act == Activation::Tanh || act == Activation::Relu, name,
        "nonlinearity must be Tanh or Relu");
  check(is_floating(dtype), name, "dtype must be floating, got ", dtype_name(dtype));
  const int64_t GH = gates_of(cell) * hidden_size;
  weight_ih = register_parameter("weight_ih", empty({GH, input_size}, dtype));
  weight_hh = register_parameter("weight_hh", empty({GH, hidden_size}, dtype));
  if (bias) {
    bias_ih = register_parameter("bias_ih", empty({GH}, dtype));
    bias_hh = register_parameter("bias_hh", empty({GH}, dtype));
  }
  reset_parameters(gen);
}

void RecurrentCell::reset_parameters(Generator* gen) {
  // PyTorch's RNNCellBase.reset_parameters: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)).
  const double stdv = 1.0 / std::sqrt(static_cast<double>(hidden_size_));
  for (auto& p : parameters(false)) init::uniform_(p, -stdv, stdv, gen);
}

// ==================================================================== forward
LSTMCellOutput RecurrentCell::run(const Tensor& x, const Tensor& h, const Tensor& c) const {
  const std::string op = name() + ".forward";
  const int64_t I = input_size_, H = hidden_size_;
  const DType dt = weight_ih.dtype();
  check(x.defined() && (x.dim() == 1 || x.dim() == 2) && x.size(-1) == I, op, "input ",
        shape_or_none(x), " must be (B,input_size=", I, ") or (input_size=", I, ")");
  check(x.dtype() == dt, op, "input dtype ", dtype_name(x.dtype()), " must match the parameters' ", dtype_name(dt));
  const bool batched = x.dim() == 2;
  const int64_t B = batched ? x.size(0) : 1;
  const Shape s_shape = batched ? Shape{B, H} : Shape{H};
  const std::string s_form = batched ? "(B=" + std::to_string(B) + ",hidden_size=" + std::to_string(H) + ")"
                                     : "(hidden_size=" + std::to_string(H) + ")";
  check(!h.defined() || (h.shape() == s_shape && h.dtype() == dt), op, "h ", shape_or_none(h),
        " must be ", s_form, " ", dtype_name(dt));
  check(!c.defined() || cell_ == CellType::LSTM, op, "c is only for LSTMCell");
  check(!c.defined() || (c.shape() == s_shape && c.dtype() == dt), op, "c ", shape_or_none(c),
        " must be ", s_form, " ", dtype_name(dt));

  const Shape s3{1, B, H};
  RecurrentSpec spec;
  spec.cell = cell_;
  spec.activation = act_;
  RecurrentOutput r = recurrent_layer(spec, x.reshape({1, B, I}), h.defined() ? h.reshape(s3) : Tensor(),
                                      c.defined() ? c.reshape(s3) : Tensor(), {weights()});
  LSTMCellOutput out;
  out.h = r.h_n.reshape(s_shape);
  if (cell_ == CellType::LSTM) out.c = r.c_n.reshape(s_shape);
  return out;
}

// ==================================================================== streaming
RecurrentState RecurrentCell::initial_state(int64_t batch) const {
  check(batch >= 0, name() + ".initial_state", "batch must be >= 0, got ", batch);
  RecurrentState s;
  s.h.push_back(zeros({batch, hidden_size_}, weight_ih.dtype()));
  if (cell_ == CellType::LSTM) s.c.push_back(zeros({batch, hidden_size_}, weight_ih.dtype()));
  return s;
}

Tensor RecurrentCell::step(const Tensor& x_t, RecurrentState& state) {
  const std::string op = name() + ".step";
  const bool lstm = cell_ == CellType::LSTM;
  if (!x_t.defined() || x_t.dim() != 2) {  // (a Shape copy per step only when it fails)
    fail(op, "x_t ", shape_or_none(x_t), " must be (B,input_size=", input_size_, ")");
  }
  check(state.h.size() == 1 && state.c.size() == (lstm ? 1u : 0u), op, "state has ", state.h.size(), " h and ",
        state.c.size(), " c entries, expected 1 and ", lstm ? 1 : 0, " (use initial_state(B))");
  check(state.h[0].defined() && (!lstm || state.c[0].defined()), op, "state holds undefined tensors");
  NoGradGuard no_grad;
  // Fast path (rnn.h); cells below 8 hidden units keep recurrent_layer, bitwise forward().
  if (hidden_size_ >= 8 && x_t.shape()[1] == input_size_) {
    Tensor y;
    if (check_finite_enabled()) detail::check_step_finite(op, x_t, state, Tensor());
    const RecurrentWeights w = weights();
    if (detail::fast_step(step_cache_, cell_, act_, &w, 1, x_t, state, y)) {
      if (check_finite_enabled()) detail::check_step_finite(op, Tensor(), state, y);
      return y;
    }
  }
  LSTMCellOutput r = run(x_t, state.h[0], lstm ? state.c[0] : Tensor());
  state.h[0] = r.h;
  if (lstm) state.c[0] = r.c;
  return r.h;
}

// ==================================================================== the three cells
RNNCell::RNNCell(const RNNCellOptions& o, Generator* gen)
    : RecurrentCell("RNNCell", CellType::RNN, o.nonlinearity(), o.input_size(), o.hidden_size(), o.bias(), o.dtype(),
                    gen),
      options_(o) {}
LSTMCell::LSTMCell(const LSTMCellOptions& o, Generator* gen)
    : RecurrentCell("LSTMCell", CellType::LSTM, Activation::Tanh, o.input_size(), o.hidden_size(), o.bias(),
                    o.dtype(), gen),
      options_(o) {}
GRUCell::GRUCell(const GRUCellOptions& o, Generator* gen)
    : RecurrentCell("GRUCell", CellType::GRU, Activation::Tanh, o.input_size(), o.hidden_size(), o.bias(), o.dtype(),
                    gen),
      options_(o) {}

}  // namespace seqnn::nn
