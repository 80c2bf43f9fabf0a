// seqnn/nn/rnn.h: torch.nn.RNN / LSTM / GRU (PyTorch 1.13's contract), the notes' variants
// (peephole and linear-memory LSTM, Jordan networks) and streaming step().
//
// Every layer is one fused `recurrent_layer` call (seqnn/recurrent.h) with both directions; the
// equations, gate orders and ragged-batch semantics are written there. Shapes (D = 2 when
// bidirectional else 1, L = num_layers, R = width fed back: H, or P with LSTM's proj_size, or O
// for Jordan):
//   x      (T,B,I) time-major, (B,T,I) with batch_first, or unbatched (T,I)
//   h0     (L*D,B,R) [unbatched: (L*D,R)]        c0 (L*D,B,H) [unbatched: (L*D,H)], LSTM only
//   lengths I64 (B), each in [1,T], any order (PyTorch's pack_padded_sequence(enforce_sorted=
//          False) + pad_packed_sequence(total_length=T)): padded outputs are 0, h_n/c_n hold each
//          sequence's state after its last valid step
//   output (T,B,D*R) [(B,T,D*R) with batch_first; (T,D*R) unbatched]
//   h_n    (L*D,B,R) layer-major: row l*D + d is layer l, direction d (never batch-first)
//   c_n    (L*D,B,H)
// Dropout (training only) is applied to the output of every layer but the last, drawn from the
// default generator, as PyTorch does.
//
// Parameters, PyTorch's names and registration order for layer k (suffix "_reverse" for the
// second direction, after all of the first direction's):
//   weight_ih_l{k} (G*H, I_k)   weight_hh_l{k} (G*H, R)   bias_ih_l{k} (G*H)   bias_hh_l{k} (G*H)
//   weight_hr_l{k} (P, H)       LSTM with proj_size > 0
//   weight_peep_l{k} (3, H)     LSTM with peephole(true): rows w_ci, w_cf, w_co (seqnn only;
//                               one tensor, the layout recurrent_layer takes, no copy per call)
//   Jordan: weight_ih (H,I_k), weight_hh (H,O), bias_ih (H), bias_hh (H), weight_ho (O,H),
//           bias_ho (O)  (bias(false) drops all three biases)
// with I_0 = input_size and I_k = D*R above. Every parameter starts U(-1/sqrt(H), 1/sqrt(H))
// (PyTorch's reset_parameters), so a PyTorch state_dict loads unchanged, and back.
//
//   nn::LSTM lstm(nn::LSTMOptions(16, 32).num_layers(2).bidirectional(true));
//   auto [y, h_n, c_n] = lstm.forward(x);                 // x: (T,B,16) -> y: (T,B,64)
//   auto r = lstm.forward(x, Tensor(), Tensor(), lengths);  // ragged batch, zero initial state
//
// Streaming (unidirectional modules and cells): state = initial_state(B); then per time step
//   y_t = m.step(x_t, state);      // x_t: (B,I) -> y_t: (B,R); state updated
// equals forward() over the whole sequence. step() records no gradients (inference).
// Fast path (float32, B <= 8, RNN (tanh / relu), GRU, LSTM with any activation, peepholes and
// projection included, Jordan with any activations, not training with dropout): one fused kernel per layer
// on weights packed once per weight version (peephole weights are read in place; a projection
// and Jordan's output layer are a second packed step)
// (src/kernels/recurrent_step.h), and no allocation after the first step of a batch size:
//   - step() WRITES INTO the state's tensors (each h[i], c[i] is updated in place; a tensor that
//     is not a contiguous float32 buffer without requires_grad is first replaced by a private
//     copy). So do not put a tensor you still need into a State: copy it in.
//   - the returned y_t IS the state's top h tensor (same storage): the next step() overwrites
//     it; clone() it to keep it.
//   - copying a RecurrentState deep-copies its tensors (clone), so a copy is a snapshot.
//   - packed weights are cached in the module, keyed by each parameter's data pointer plus a
//     checksum of 64 evenly spaced elements (load_state_dict and optimizers write in place, so
//     pointers alone would miss them); a change the sample does not see (editing a single
//     unsampled weight) is missed: call invalidate_step_cache() after such an edit.
//   - one module's step() must not run concurrently with itself (the cache is shared).
// Everything else (float64, B > 8, dropout in training) runs
// recurrent_layer with T = 1 per layer and replaces the state's tensors by new ones.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "seqnn/nn/module.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"

namespace seqnn::nn {

// ==================================================================== options
// The options every recurrent module shares, builder style (libtorch's RNNOptionsBase).
template <class Derived>
class RecurrentOptionsBase {
 public:
  RecurrentOptionsBase(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  Derived& input_size(int64_t v) { input_size_ = v; return self(); }
  Derived& hidden_size(int64_t v) { hidden_size_ = v; return self(); }
  Derived& num_layers(int64_t v) { num_layers_ = v; return self(); }
  Derived& bias(bool v) { bias_ = v; return self(); }
  Derived& batch_first(bool v) { batch_first_ = v; return self(); }
  Derived& dropout(double v) { dropout_ = v; return self(); }
  Derived& bidirectional(bool v) { bidirectional_ = v; return self(); }
  Derived& dtype(DType v) { dtype_ = v; return self(); }
  int64_t input_size() const { return input_size_; }
  int64_t hidden_size() const { return hidden_size_; }
  int64_t num_layers() const { return num_layers_; }
  bool bias() const { return bias_; }
  bool batch_first() const { return batch_first_; }
  double dropout() const { return dropout_; }
  bool bidirectional() const { return bidirectional_; }
  DType dtype() const { return dtype_; }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  int64_t input_size_;
  int64_t hidden_size_;
  int64_t num_layers_ = 1;
  bool bias_ = true;
  bool batch_first_ = false;
  double dropout_ = 0.0;
  bool bidirectional_ = false;
  DType dtype_ = DType::F32;
};

// torch.nn.RNN: h_t = nonlinearity(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); Tanh or Relu.
class RNNOptions : public RecurrentOptionsBase<RNNOptions> {
 public:
  using RecurrentOptionsBase::RecurrentOptionsBase;
  RNNOptions& nonlinearity(Activation v) { nonlinearity_ = v; return *this; }
  Activation nonlinearity() const { return nonlinearity_; }

 private:
  Activation nonlinearity_ = Activation::Tanh;
};

// torch.nn.LSTM, plus seqnn's peephole connections and the activation of g and of c_t
// (Tanh in PyTorch; Identity gives the notes' linear memory cell).
class LSTMOptions : public RecurrentOptionsBase<LSTMOptions> {
 public:
  using RecurrentOptionsBase::RecurrentOptionsBase;
  LSTMOptions& proj_size(int64_t v) { proj_size_ = v; return *this; }
  LSTMOptions& peephole(bool v) { peephole_ = v; return *this; }
  LSTMOptions& activation(Activation v) { activation_ = v; return *this; }
  int64_t proj_size() const { return proj_size_; }
  bool peephole() const { return peephole_; }
  Activation activation() const { return activation_; }

 private:
  int64_t proj_size_ = 0;
  bool peephole_ = false;
  Activation activation_ = Activation::Tanh;
};

// torch.nn.GRU.
class GRUOptions : public RecurrentOptionsBase<GRUOptions> {
 public:
  using RecurrentOptionsBase::RecurrentOptionsBase;
};

// Jordan network: a_t = nonlinearity(W_ih x_t + b_ih + W_hh y_{t-1} + b_hh),
// y_t = output_activation(W_ho a_t + b_ho); the output y (size O) is what recurs.
class JordanOptions : public RecurrentOptionsBase<JordanOptions> {
 public:
  JordanOptions(int64_t input_size, int64_t hidden_size, int64_t output_size)
      : RecurrentOptionsBase(input_size, hidden_size), output_size_(output_size) {}
  JordanOptions& output_size(int64_t v) { output_size_ = v; return *this; }
  JordanOptions& nonlinearity(Activation v) { nonlinearity_ = v; return *this; }
  JordanOptions& output_activation(Activation v) { output_activation_ = v; return *this; }
  int64_t output_size() const { return output_size_; }
  Activation nonlinearity() const { return nonlinearity_; }
  Activation output_activation() const { return output_activation_; }

 private:
  int64_t output_size_;
  Activation nonlinearity_ = Activation::Tanh;
  Activation output_activation_ = Activation::Identity;
};

// ==================================================================== results and state
struct RNNOutput {
  Tensor output;  // (T,B,D*R) / (B,T,D*R) / (T,D*R), see above
  Tensor h_n;     // (L*D,B,R) / (L*D,R)
  Tensor c_n;     // (L*D,B,H) / (L*D,H), LSTM only (undefined otherwise)
};

// The streaming state of a module or cell: one entry per layer (and direction: index l*D + d),
// h[i]: (B,R), c[i]: (B,H) for LSTM (empty for the others).
// Copies are deep (each tensor cloned): a copy is a snapshot that later step() calls, which
// write into the state's tensors, do not change. Moves move.
struct RecurrentState {
  std::vector<Tensor> h;
  std::vector<Tensor> c;

  RecurrentState() = default;
  RecurrentState(const RecurrentState& other);
  RecurrentState& operator=(const RecurrentState& other);
  RecurrentState(RecurrentState&&) noexcept = default;
  RecurrentState& operator=(RecurrentState&&) noexcept = default;
};

namespace detail {
// The packed float32 weights of the step() fast path (defined in src/nn/rnn.cpp).
struct StepCache;
// The largest batch the step() fast path takes (decoding steps beams x sentences rows).
inline constexpr int64_t kFastStepMaxBatch = 8;
// Runs one fast step of the layers w[0..L) (one entry per layer, unidirectional) if it applies:
// x_t (B,I) F32 with 1 <= B <= kFastStepMaxBatch, state h[l] (B,H) (and c[l] for LSTM) F32. Returns false,
// touching nothing, when it does not; then the caller takes the general path. Allocates nothing
// once the cache is packed (a pointer and a count, not a vector, so a cell passes its one layer
// without building one).
// out_act: Jordan's output activation (ignored by the other cells).
bool fast_step(std::shared_ptr<StepCache>& cache, CellType cell, Activation act, const RecurrentWeights* w, int64_t L,
               const Tensor& x_t, RecurrentState& state, Tensor& y, Activation out_act = Activation::Identity);
// seqnn/debug.h's finite checks for the fast path, which bypasses the recorded ops.
void check_step_finite(const std::string& op, const Tensor& x_t, const RecurrentState& s, const Tensor& y);
}  // namespace detail

// ==================================================================== the shared module
// What RNN, LSTM, GRU and JordanRNN are made of: a stack of fused layers. Use the subclasses.
class RecurrentModule : public Module {
 public:
  // The resolved configuration (the subclasses fill it from their options).
  struct Config {
    CellType cell = CellType::LSTM;
    int64_t input_size = 0;
    int64_t hidden_size = 0;
    int64_t num_layers = 1;
    bool bias = true;
    bool batch_first = false;
    double dropout = 0.0;
    bool bidirectional = false;
    int64_t proj_size = 0;    // LSTM
    bool peephole = false;    // LSTM
    int64_t output_size = 0;  // Jordan
    Activation activation = Activation::Tanh;
    Activation output_activation = Activation::Identity;  // Jordan
    DType dtype = DType::F32;
  };

  // See the file comment. h0, c0 and lengths may each be undefined (zeros / all full length).
  RNNOutput forward(const Tensor& x, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(),
                    const Tensor& lengths = Tensor());

  // Streaming (unidirectional only): zero state for a batch of B, and one time step
  // x_t (B,I) -> top layer's y_t (B,R), updating `state`. No gradients are recorded.
  RecurrentState initial_state(int64_t batch) const;
  Tensor step(const Tensor& x_t, RecurrentState& state);
  // Drops the packed weights of step()'s fast path (re-packed at the next step).
  void invalidate_step_cache() { step_cache_.reset(); }

  // Re-draws every parameter from U(-1/sqrt(H), 1/sqrt(H)) as at construction.
  void reset_parameters(Generator* gen = nullptr);

  const Config& config() const { return cfg_; }
  int64_t num_directions() const { return cfg_.bidirectional ? 2 : 1; }
  // R: the width of h (hidden_size, proj_size when > 0, output_size for Jordan).
  int64_t state_size() const;
  // The parameters of layer `layer` (one entry per direction), as recurrent_layer takes them.
  std::vector<RecurrentWeights> layer_weights(int64_t layer) const;

 protected:
  RecurrentModule(const std::string& name, const Config& cfg, Generator* gen);

 private:
  RecurrentSpec spec() const;
  int64_t gates() const;
  std::string input_form() const;  // "(T,B,input_size=12)" etc. for messages
  Config cfg_;
  std::vector<RecurrentWeights> weights_;  // index layer*D + direction (handles to the parameters)
  std::shared_ptr<detail::StepCache> step_cache_;  // step()'s packed weights
  std::string step_op_;                            // "LSTM.step": step()'s checks name it
};

class RNN : public RecurrentModule {
 public:
  explicit RNN(const RNNOptions& options, Generator* gen = nullptr);
  const RNNOptions& options() const { return options_; }

 private:
  RNNOptions options_;
};

class LSTM : public RecurrentModule {
 public:
  explicit LSTM(const LSTMOptions& options, Generator* gen = nullptr);
  const LSTMOptions& options() const { return options_; }

 private:
  LSTMOptions options_;
};

class GRU : public RecurrentModule {
 public:
  explicit GRU(const GRUOptions& options, Generator* gen = nullptr);
  const GRUOptions& options() const { return options_; }

 private:
  GRUOptions options_;
};

class JordanRNN : public RecurrentModule {
 public:
  explicit JordanRNN(const JordanOptions& options, Generator* gen = nullptr);
  const JordanOptions& options() const { return options_; }

 private:
  JordanOptions options_;
};

}  // namespace seqnn::nn

#include "seqnn/nn/rnn_cell.h"
