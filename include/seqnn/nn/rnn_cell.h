// seqnn/nn/rnn_cell.h: torch.nn.RNNCell / LSTMCell / GRUCell, one time step of one layer.
//
//   x (B,I) or unbatched (I);  h, c (B,H) or (H) (undefined = zeros)  ->  h', c' shaped like h
// Parameters (PyTorch's names, order and init U(-1/sqrt(H), 1/sqrt(H))):
//   weight_ih (G*H, I)   weight_hh (G*H, H)   bias_ih (G*H)   bias_hh (G*H)
// with G = 1 (RNN), 4 (LSTM: i,f,g,o), 3 (GRU: r,z,n). A cell is recurrent_layer with T = 1,
// differentiable in x, h, c and the weights. step(x_t, state) is the same under no-grad, on the
// RecurrentState of seqnn/nn/rnn.h (one entry), with the fast path and in-place contract written
// there (float32, 1 <= B <= 8, hidden_size >= 8; smaller cells keep the general path, whose
// result is bitwise that of forward()).
#pragma once

#include <memory>

#include "seqnn/nn/module.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"

namespace seqnn::nn {

struct RecurrentState;
namespace detail {
struct StepCache;
}

template <class Derived>
class CellOptionsBase {
 public:
  CellOptionsBase(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  Derived& input_size(int64_t v) { input_size_ = v; return self(); }
  Derived& hidden_size(int64_t v) { hidden_size_ = v; return self(); }
  Derived& bias(bool v) { bias_ = v; return self(); }
  Derived& dtype(DType v) { dtype_ = v; return self(); }
  int64_t input_size() const { return input_size_; }
  int64_t hidden_size() const { return hidden_size_; }
  bool bias() const { return bias_; }
  DType dtype() const { return dtype_; }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  int64_t input_size_;
  int64_t hidden_size_;
  bool bias_ = true;
  DType dtype_ = DType::F32;
};

class RNNCellOptions : public CellOptionsBase<RNNCellOptions> {
 public:
  using CellOptionsBase::CellOptionsBase;
  RNNCellOptions& nonlinearity(Activation v) { nonlinearity_ = v; return *this; }
  Activation nonlinearity() const { return nonlinearity_; }

 private:
  Activation nonlinearity_ = Activation::Tanh;
};

class LSTMCellOptions : public CellOptionsBase<LSTMCellOptions> {
 public:
  using CellOptionsBase::CellOptionsBase;
};

class GRUCellOptions : public CellOptionsBase<GRUCellOptions> {
 public:
  using CellOptionsBase::CellOptionsBase;
};

struct LSTMCellOutput {
  Tensor h;  // (B,H) or (H)
  Tensor c;  // (B,H) or (H)
};

// ==================================================================== the shared cell
class RecurrentCell : public Module {
 public:
  // Zero state for a batch of B (h, and c for LSTM), and one no-grad step x_t (B,I) -> h' (B,H).
  RecurrentState initial_state(int64_t batch) const;
  Tensor step(const Tensor& x_t, RecurrentState& state);
  // Drops the packed weights of step()'s fast path (re-packed at the next step).
  void invalidate_step_cache() { step_cache_.reset(); }
  void reset_parameters(Generator* gen = nullptr);

  int64_t input_size() const { return input_size_; }
  int64_t hidden_size() const { return hidden_size_; }
  RecurrentWeights weights() const { return {weight_ih, weight_hh, bias_ih, bias_hh, {}, {}, {}, {}}; }

  Tensor weight_ih;  // (G*H, I)
  Tensor weight_hh;  // (G*H, H)
  Tensor bias_ih;    // (G*H), undefined with bias(false)
  Tensor bias_hh;    // (G*H), undefined with bias(false)

 protected:
  RecurrentCell(const std::string& name, CellType cell, Activation act, int64_t input_size, int64_t hidden_size,
                bool bias, DType dtype, Generator* gen);
  // Checks shapes (messages name "<Cell>.forward"), runs one step; h, c may be undefined.
  LSTMCellOutput run(const Tensor& x, const Tensor& h, const Tensor& c) const;

 private:
  CellType cell_;
  Activation act_;
  int64_t input_size_;
  int64_t hidden_size_;
  std::shared_ptr<detail::StepCache> step_cache_;  // step()'s packed weights
};

class RNNCell : public RecurrentCell {
 public:
  explicit RNNCell(const RNNCellOptions& options, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  Tensor forward(const Tensor& x, const Tensor& h) { return run(x, h, Tensor()).h; }
  const RNNCellOptions& options() const { return options_; }

 private:
  RNNCellOptions options_;
};

class LSTMCell : public RecurrentCell {
 public:
  explicit LSTMCell(const LSTMCellOptions& options, Generator* gen = nullptr);
  LSTMCellOutput forward(const Tensor& x, const Tensor& h = Tensor(), const Tensor& c = Tensor()) {
    return run(x, h, c);
  }
  const LSTMCellOptions& options() const { return options_; }

 private:
  LSTMCellOptions options_;
};

class GRUCell : public RecurrentCell {
 public:
  explicit GRUCell(const GRUCellOptions& options, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override { return forward(x, Tensor()); }
  Tensor forward(const Tensor& x, const Tensor& h) { return run(x, h, Tensor()).h; }
  const GRUCellOptions& options() const { return options_; }

 private:
  GRUCellOptions options_;
};

}  // namespace seqnn::nn
