// nn::RNN / LSTM / GRU / JordanRNN: a stack of fused recurrent layers (seqnn/recurrent.h).
//
//   in_0 = x (time-major);  for layer l: (in_{l+1}, h_n[l], c_n[l]) = recurrent_layer(in_l, h0[l], c0[l])
//   in_{l+1} = dropout(in_{l+1}, p)   for l < L-1, training only
//   output = in_L;  h_n = cat_l h_n[l] (layer-major, both directions of a layer together)
// Gradients flow through recurrent_layer, slice, cat, dropout and the layout views.
#include "seqnn/nn/rnn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "kernels/recurrent.h"
#include "kernels/recurrent_step.h"
#include "seqnn/autograd.h"
#include "seqnn/debug.h"
#include "seqnn/nn/init.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

// ==================================================================== configuration
namespace {

// A defined 2-d tensor of (rows, cols); rows < 0: any. For checks run on every step: builds nothing.
bool is_matrix(const Tensor& t, int64_t rows, int64_t cols) {
  if (!t.defined()) return false;
  const Shape& s = t.shape();
  return s.size() == 2 && (rows < 0 || s[0] == rows) && s[1] == cols;
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Tanh: return "Tanh";
    case Activation::Relu: return "Relu";
    case Activation::Sigmoid: return "Sigmoid";
    case Activation::Identity: return "Identity";
  }
  return "?";
}

template <class Options>
RecurrentModule::Config base_config(CellType cell, const Options& o) {
  RecurrentModule::Config c;
  c.cell = cell;
  c.input_size = o.input_size();
  c.hidden_size = o.hidden_size();
  c.num_layers = o.num_layers();
  c.bias = o.bias();
  c.batch_first = o.batch_first();
  c.dropout = o.dropout();
  c.bidirectional = o.bidirectional();
  c.dtype = o.dtype();
  return c;
}

void validate(const std::string& op, const RecurrentModule::Config& c) {
  check(c.input_size >= 1, op, "input_size must be >= 1, got ", c.input_size);
  check(c.hidden_size >= 1, op, "hidden_size must be >= 1, got ", c.hidden_size);
  check(c.num_layers >= 1, op, "num_layers must be >= 1, got ", c.num_layers);
  check(c.dropout >= 0.0 && c.dropout <= 1.0, op,
        "dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got ",
        c.dropout);
  check(c.proj_size >= 0, op, "proj_size should be a positive integer or zero to disable projections, got ",
        c.proj_size);
  check(c.proj_size < c.hidden_size, op, "proj_size has to be smaller than hidden_size, got proj_size=", c.proj_size,
        " hidden_size=", c.hidden_size);
  check(c.cell != CellType::Jordan || c.output_size >= 1, op, "output_size must be >= 1, got ", c.output_size);
  check(c.cell != CellType::RNN || c.activation == Activation::Tanh || c.activation == Activation::Relu, op,
        "nonlinearity must be Tanh or Relu, got ", activation_name(c.activation));
  check(is_floating(c.dtype), op, "dtype must be floating, got ", dtype_name(c.dtype));
}

}  // namespace

RecurrentModule::RecurrentModule(const std::string& name, const Config& cfg, Generator* gen)
    : Module(name), cfg_(cfg), step_op_(name + ".step") {
  validate(name, cfg_);
  const int64_t D = num_directions(), G = gates(), H = cfg_.hidden_size, R = state_size();
  const DType dt = cfg_.dtype;
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const int64_t in = l == 0 ? cfg_.input_size : D * R;
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      RecurrentWeights w;
      w.w_ih = register_parameter("weight_ih" + sfx, empty({G * H, in}, dt));
      w.w_hh = register_parameter("weight_hh" + sfx, empty({G * H, R}, dt));
      if (cfg_.bias) {
        w.b_ih = register_parameter("bias_ih" + sfx, empty({G * H}, dt));
        w.b_hh = register_parameter("bias_hh" + sfx, empty({G * H}, dt));
      }
      if (cfg_.proj_size > 0) w.w_hr = register_parameter("weight_hr" + sfx, empty({cfg_.proj_size, H}, dt));
      if (cfg_.peephole) w.w_peep = register_parameter("weight_peep" + sfx, empty({3, H}, dt));
      if (cfg_.cell == CellType::Jordan) {
        w.w_ho = register_parameter("weight_ho" + sfx, empty({cfg_.output_size, H}, dt));
        if (cfg_.bias) w.b_ho = register_parameter("bias_ho" + sfx, empty({cfg_.output_size}, dt));
      }
      weights_.push_back(w);
    }
  }
  reset_parameters(gen);
}

void RecurrentModule::reset_parameters(Generator* gen) {
  // PyTorch: stdv = 1/sqrt(hidden_size); every parameter ~ U(-stdv, stdv), in registration order.
  const double stdv = 1.0 / std::sqrt(static_cast<double>(cfg_.hidden_size));
  for (auto& p : parameters(false)) init::uniform_(p, -stdv, stdv, gen);
}

int64_t RecurrentModule::gates() const {
  switch (cfg_.cell) {
    case CellType::LSTM: return 4;
    case CellType::GRU: return 3;
    default: return 1;
  }
}

int64_t RecurrentModule::state_size() const {
  if (cfg_.cell == CellType::Jordan) return cfg_.output_size;
  return cfg_.proj_size > 0 ? cfg_.proj_size : cfg_.hidden_size;
}

std::vector<RecurrentWeights> RecurrentModule::layer_weights(int64_t layer) const {
  check(layer >= 0 && layer < cfg_.num_layers, name() + ".layer_weights", "layer ", layer, " out of range [0,",
        cfg_.num_layers, ")");
  const int64_t D = num_directions();
  return {weights_.begin() + layer * D, weights_.begin() + (layer + 1) * D};
}

RecurrentSpec RecurrentModule::spec() const {
  RecurrentSpec s;
  s.cell = cfg_.cell;
  s.activation = cfg_.activation;
  s.output_activation = cfg_.output_activation;
  return s;
}

std::string RecurrentModule::input_form() const {
  std::ostringstream os;
  os << (cfg_.batch_first ? "(B,T," : "(T,B,") << "input_size=" << cfg_.input_size << ")";
  return os.str();
}

// ==================================================================== forward
namespace {

// "(num_layers*num_directions=2,B=3,hidden_size=5)" or the unbatched "(num_layers*...=2,hidden_size=5)".
std::string state_form(int64_t LD, int64_t B, bool batched, const char* width_name, int64_t width) {
  std::ostringstream os;
  os << "(num_layers*num_directions=" << LD;
  if (batched) os << ",B=" << B;
  os << "," << width_name << "=" << width << ")";
  return os.str();
}

}  // namespace

RNNOutput RecurrentModule::forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& lengths) {
  const std::string op = name() + ".forward";
  const int64_t D = num_directions(), L = cfg_.num_layers, H = cfg_.hidden_size, R = state_size();
  const bool lstm = cfg_.cell == CellType::LSTM;
  const DType dt = weights_[0].w_ih.dtype();

  // ------------------------------------------------------------ input
  check(x.defined(), op, "input is undefined");
  const bool batched = x.dim() == 3;
  check((x.dim() == 2 || x.dim() == 3) && x.size(-1) == cfg_.input_size, op, "input ", x.shape(), " must be ",
        batched || x.dim() != 2 ? input_form() : "(T,input_size=" + std::to_string(cfg_.input_size) + ")",
        x.dim() == 2 || x.dim() == 3 ? "" : " or unbatched (T,input_size)");
  check(x.dtype() == dt, op, "input dtype ", dtype_name(x.dtype()), " must match the parameters' ", dtype_name(dt));
  Tensor xt = !batched ? x.unsqueeze(1) : (cfg_.batch_first ? x.transpose(0, 1) : x);  // (T,B,I)
  const int64_t T = xt.size(0), B = xt.size(1);
  check(T >= 1, op, "input ", x.shape(), " has no time steps (T=0)");

  // ------------------------------------------------------------ initial state
  const char* r_name = cfg_.cell == CellType::Jordan ? "output_size" : (cfg_.proj_size > 0 ? "proj_size" : "hidden_size");
  const Shape h_shape = batched ? Shape{L * D, B, R} : Shape{L * D, R};
  const Shape c_shape = batched ? Shape{L * D, B, H} : Shape{L * D, H};
  check(!h0.defined() || h0.shape() == h_shape, op, "h0 ", shape_or_none(h0), " must be ",
        state_form(L * D, B, batched, r_name, R));
  check(!c0.defined() || lstm, op, "c0 is only for LSTM, got c0 ", shape_or_none(c0));
  check(!c0.defined() || c0.shape() == c_shape, op, "c0 ", shape_or_none(c0), " must be ",
        state_form(L * D, B, batched, "hidden_size", H));
  check(!h0.defined() || h0.dtype() == dt, op, "h0 dtype ", dtype_name(h0.defined() ? h0.dtype() : dt),
        " must match the parameters' ", dtype_name(dt));
  check(!c0.defined() || c0.dtype() == dt, op, "c0 dtype ", dtype_name(c0.defined() ? c0.dtype() : dt),
        " must match the parameters' ", dtype_name(dt));
  const Tensor h0b = h0.defined() && !batched ? h0.unsqueeze(1) : h0;  // (L*D,B,R)
  const Tensor c0b = c0.defined() && !batched ? c0.unsqueeze(1) : c0;  // (L*D,B,H)

  // ------------------------------------------------------------ lengths
  if (lengths.defined()) {
    check(lengths.dtype() == DType::I64 && lengths.dim() == 1 && lengths.size(0) == B, op, "lengths ",
          lengths.shape(), " (", dtype_name(lengths.dtype()), ") must be int64 (B=", B, ")");
    const std::vector<int64_t> lv = lengths.to_vector<int64_t>();
    for (size_t b = 0; b < lv.size(); ++b)
      check(lv[b] >= 1 && lv[b] <= T, op, "lengths[", b, "]=", lv[b], " must be in [1, T=", T, "]");
  }

  // ------------------------------------------------------------ layers
  Tensor in = xt;
  TensorList hs, cs;
  for (int64_t l = 0; l < L; ++l) {
    const Tensor h0l = h0b.defined() ? slice(h0b, 0, l * D, (l + 1) * D) : Tensor();
    const Tensor c0l = c0b.defined() ? slice(c0b, 0, l * D, (l + 1) * D) : Tensor();
    RecurrentOutput r = recurrent_layer(spec(), in, h0l, c0l, layer_weights(l), lengths);
    hs.push_back(r.h_n);
    if (lstm) cs.push_back(r.c_n);
    in = r.output;  // (T,B,D*R)
    if (l + 1 < L && cfg_.dropout > 0.0 && is_training()) in = dropout(in, cfg_.dropout, true);
  }

  RNNOutput out;
  out.h_n = L == 1 ? hs[0] : cat(hs, 0);
  if (lstm) out.c_n = L == 1 ? cs[0] : cat(cs, 0);
  if (!batched) {
    out.output = in.squeeze(1);
    out.h_n = out.h_n.squeeze(1);
    if (lstm) out.c_n = out.c_n.squeeze(1);
  } else {
    out.output = cfg_.batch_first ? in.transpose(0, 1) : in;
  }
  return out;
}

// ==================================================================== step() fast path
// RecurrentState copies are deep, see rnn.h.
RecurrentState::RecurrentState(const RecurrentState& other) { *this = other; }

RecurrentState& RecurrentState::operator=(const RecurrentState& other) {
  if (this == &other) return *this;
  std::vector<Tensor> nh, nc;
  nh.reserve(other.h.size());
  nc.reserve(other.c.size());
  for (const Tensor& t : other.h) nh.push_back(t.defined() ? t.clone() : t);
  for (const Tensor& t : other.c) nc.push_back(t.defined() ? t.clone() : t);
  h = std::move(nh);
  c = std::move(nc);
  return *this;
}

namespace detail {

// debug.h's finite checks for the fast path, which bypasses the recorded ops: x_t before the
// step, the new state and y_t after it.
void check_step_finite(const std::string& op, const Tensor& x_t, const RecurrentState& s, const Tensor& y) {
  check_finite(x_t, op, "x_t");
  for (size_t l = 0; l < s.h.size(); ++l) check_finite(s.h[l], op, "state.h[" + std::to_string(l) + "]");
  for (size_t l = 0; l < s.c.size(); ++l) check_finite(s.c[l], op, "state.c[" + std::to_string(l) + "]");
  check_finite(y, op, "output");
}


// One layer's packed weights, and what they were packed from: the seven data pointers (w_ih,
// w_hh, b_ih, b_hh, w_hr, w_ho, b_ho) plus a checksum (FNV-1a of the bits of 64 evenly spaced
// elements of each tensor). P: the rows of the layer's second, Linear step (LSTM's projection
// W_hr (P,H) or Jordan's output layer W_ho (O,H); 0: none), which is also the recurrent input's
// width R when there is one (else R = H).
struct StepLayerPack {
  static constexpr int kSources = 7;
  const void* src[kSources] = {};
  uint64_t checksum = 0;
  int64_t I = 0, H = 0, P = 0;
  std::vector<float> wih, whh, bias;
  std::vector<float> whr, whr_bias;  // the second step (P,H) packed as Linear, and its bias (0 for W_hr)
  // Alternate every step, so that each step starts on the panels the last one read (still in L2).
  kernels::StepSweep sweep = kernels::StepSweep::Up, sweep_hr = kernels::StepSweep::Up;
};

struct StepCache {
  kernels::StepCell cell = kernels::StepCell::Lstm;
  std::vector<StepLayerPack> layers;
  std::vector<float> scratch;  // (B,H) new h of the layer being stepped (before its projection)
};

namespace {

// Runs on every step (4 tensors): the sample positions i (n-1)/(k-1) are stepped without a
// division, and four interleaved FNV chains hide the multiply's latency (one chain of 256
// dependent multiplies plus 256 divisions was about 0.4 us of a 15 us step).
uint64_t sample_checksum(const Tensor& t, uint64_t hsh) {
  constexpr uint64_t kPrime = 1099511628211ull;
  if (!t.defined()) return hsh * kPrime;
  const float* p = t.data_ptr<float>();
  const int64_t n = t.numel();
  const int64_t k = std::min<int64_t>(n, 64);
  if (k <= 1) {
    uint32_t bits = 0;
    if (k == 1) std::memcpy(&bits, p, 4);
    return (hsh ^ bits) * kPrime;
  }
  const int64_t q = (n - 1) / (k - 1), r = (n - 1) % (k - 1);
  uint64_t lane[4] = {hsh, hsh + 1, hsh + 2, hsh + 3};
  int64_t idx = 0, frac = 0;  // idx = i (n-1) / (k-1), frac = i (n-1) mod (k-1)
  for (int64_t i = 0; i < k; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + idx, 4);
    lane[i & 3] = (lane[i & 3] ^ bits) * kPrime;
    idx += q;
    frac += r;
    if (frac >= k - 1) frac -= k - 1, ++idx;
  }
  return (((lane[0] * kPrime ^ lane[1]) * kPrime ^ lane[2]) * kPrime ^ lane[3]) * kPrime;
}

bool usable_f32(const Tensor& t) { return t.defined() && t.dtype() == DType::F32 && t.is_contiguous(); }

// A state tensor step() may write into: contiguous float32, no autograd; else a private copy.
void own_buffer(Tensor& t) {
  if (t.is_contiguous() && !t.requires_grad()) return;
  t = t.detach().contiguous().clone();
}

}  // namespace

bool fast_step(std::shared_ptr<StepCache>& cache, CellType cell, Activation act, const RecurrentWeights* w, int64_t L,
               const Tensor& x_t, RecurrentState& state, Tensor& y, Activation out_act) {
  using kernels::StepCell;
  // Jordan: a = act(W_ih x + W_hh y_prev + b) is a recurrent Linear step (R = O) followed by the
  // activation pass forward() uses; y = out_act(W_ho a + b_ho) is a second Linear step (R = 0).
  const bool jordan = cell == CellType::Jordan;
  StepCell sc;
  if (cell == CellType::LSTM) sc = StepCell::Lstm;  // any activation of g and c
  else if (cell == CellType::GRU) sc = StepCell::Gru;
  else if (cell == CellType::RNN && act == Activation::Tanh) sc = StepCell::RnnTanh;
  else if (cell == CellType::RNN && act == Activation::Relu) sc = StepCell::RnnRelu;
  else if (jordan) sc = StepCell::Linear;
  else return false;
  const bool lstm = sc == StepCell::Lstm;
  const int64_t G = kernels::step_gates(sc);
  if (L == 0 || !x_t.defined() || x_t.dtype() != DType::F32 || x_t.dim() != 2) return false;
  const int64_t B = x_t.shape()[0];
  if (B < 1 || B > kFastStepMaxBatch) return false;
  if (static_cast<int64_t>(state.h.size()) != L || static_cast<int64_t>(state.c.size()) != (lstm ? L : 0)) return false;
  int64_t in = x_t.shape()[1], maxH = 0;
  for (int64_t l = 0; l < L; ++l) {
    const RecurrentWeights& lw = w[l];
    if (!usable_f32(lw.w_ih) || !usable_f32(lw.w_hh)) return false;
    if (lw.b_ih.defined() != lw.b_hh.defined()) return false;
    if (lw.b_ih.defined() && (!usable_f32(lw.b_ih) || !usable_f32(lw.b_hh))) return false;
    if (lw.w_ih.dim() != 2 || lw.w_ih.shape()[0] % G != 0) return false;
    const int64_t H = lw.w_ih.shape()[0] / G;
    // The second step, P rows: a projection h = W_hr h~ (P,H), or Jordan's output layer W_ho
    // (O,H) (+ b_ho). Then the state h and W_hh's width are P.
    const Tensor& w2 = jordan ? lw.w_ho : lw.w_hr;
    if (jordan != lw.w_ho.defined() || (!jordan && lw.b_ho.defined())) return false;
    if (w2.defined() && ((!lstm && !jordan) || !usable_f32(w2) || w2.dim() != 2 || w2.shape()[0] < 1 ||
                         !is_matrix(w2, -1, H)))
      return false;
    if (jordan && lw.w_hr.defined()) return false;
    const int64_t R = w2.defined() ? w2.shape()[0] : H;
    if (lw.b_ho.defined() && (!usable_f32(lw.b_ho) || lw.b_ho.dim() != 1 || lw.b_ho.numel() != R)) return false;
    // peepholes (3,H) are read in place by the kernel's epilogue, so they need no packing
    if (lw.w_peep.defined() && (!lstm || !usable_f32(lw.w_peep) || !is_matrix(lw.w_peep, 3, H))) return false;
    if (!is_matrix(lw.w_ih, G * H, in) || !is_matrix(lw.w_hh, G * H, R)) return false;
    const Tensor& h = state.h[l];
    if (!is_matrix(h, B, R) || h.dtype() != DType::F32) return false;
    if (lstm && (!is_matrix(state.c[l], B, H) || state.c[l].dtype() != DType::F32)) return false;
    in = R;
    maxH = std::max(maxH, H);
  }

  // ------------------------------------------------------------ (re)pack what changed
  if (!cache || cache->cell != sc || static_cast<int64_t>(cache->layers.size()) != L) {
    cache = std::make_shared<StepCache>();
    cache->cell = sc;
    cache->layers.resize(L);
  }
  constexpr int kSrc = StepLayerPack::kSources;
  for (int64_t l = 0; l < L; ++l) {
    const RecurrentWeights& lw = w[l];
    StepLayerPack& pk = cache->layers[l];
    const Tensor* ts[kSrc] = {&lw.w_ih, &lw.w_hh, &lw.b_ih, &lw.b_hh, &lw.w_hr, &lw.w_ho, &lw.b_ho};
    const void* src[kSrc];
    uint64_t sum = 1469598103934665603ull;
    for (int k = 0; k < kSrc; ++k) {
      src[k] = ts[k]->defined() ? ts[k]->data_ptr<float>() : nullptr;
      sum = sample_checksum(*ts[k], sum);
    }
    const Tensor& w2 = jordan ? lw.w_ho : lw.w_hr;
    const int64_t I = lw.w_ih.shape()[1], H = lw.w_ih.shape()[0] / G;
    const int64_t P = w2.defined() ? w2.shape()[0] : 0, R = P > 0 ? P : H;
    if (std::equal(src, src + kSrc, pk.src) && pk.checksum == sum && pk.I == I && pk.H == H && pk.P == P &&
        !pk.wih.empty())
      continue;
    pk.wih.assign(kernels::step_packed_size(sc, H, I), 0.0f);
    pk.whh.assign(kernels::step_packed_size(sc, H, R), 0.0f);
    pk.bias.assign(kernels::step_bias_size(sc, H), 0.0f);
    kernels::pack_step_weights(sc, lw.w_ih.data_ptr<float>(), H, I, pk.wih.data());
    kernels::pack_step_weights(sc, lw.w_hh.data_ptr<float>(), H, R, pk.whh.data());
    kernels::pack_step_bias(sc, static_cast<const float*>(src[2]), static_cast<const float*>(src[3]), H,
                            pk.bias.data());
    pk.whr.clear();
    pk.whr_bias.clear();
    if (P > 0) {
      pk.whr.assign(kernels::step_packed_size(StepCell::Linear, P, H), 0.0f);
      pk.whr_bias.assign(kernels::step_bias_size(StepCell::Linear, P), 0.0f);  // W_hr has no bias
      kernels::pack_step_weights(StepCell::Linear, w2.data_ptr<float>(), P, H, pk.whr.data());
      kernels::pack_step_bias(StepCell::Linear, static_cast<const float*>(src[6]), nullptr, P, pk.whr_bias.data());
    }
    std::copy(src, src + kSrc, pk.src);
    pk.checksum = sum;
    pk.I = I;
    pk.H = H;
    pk.P = P;
  }
  if (static_cast<int64_t>(cache->scratch.size()) < B * maxH) cache->scratch.resize(B * maxH);

  // ------------------------------------------------------------ the layers
  const Tensor xc = x_t.contiguous();
  const float* xin = xc.data_ptr<float>();
  float* a = cache->scratch.data();  // (B,H): the cell's new h (before the second step)
  for (int64_t l = 0; l < L; ++l) {
    StepLayerPack& pk = cache->layers[l];
    own_buffer(state.h[l]);
    if (lstm) own_buffer(state.c[l]);
    float* h = state.h[l].data_ptr<float>();
    float* c = lstm ? state.c[l].data_ptr<float>() : nullptr;
    const float* peep = w[l].w_peep.defined() ? w[l].w_peep.data_ptr<float>() : nullptr;
    const int64_t R = pk.P > 0 ? pk.P : pk.H;
    kernels::recurrent_step(sc, B, pk.I, pk.H, R, xin, h, c, pk.wih.data(), pk.whh.data(), pk.bias.data(), a, c,
                            peep, pk.sweep, act);
    pk.sweep = kernels::flip(pk.sweep);
    if (jordan && act != Activation::Identity) kernels::rnn_cell_forward<float>(a, a, B * pk.H, act);
    if (pk.P > 0) {  // h = W_hr h~ or W_ho a + b_ho, written straight into the state (the cell has read h)
      kernels::recurrent_step(StepCell::Linear, B, pk.H, pk.P, 0, a, nullptr, nullptr, pk.whr.data(), nullptr,
                              pk.whr_bias.data(), h, nullptr, nullptr, pk.sweep_hr);
      pk.sweep_hr = kernels::flip(pk.sweep_hr);
      if (jordan && out_act != Activation::Identity) kernels::rnn_cell_forward<float>(h, h, B * pk.P, out_act);
    } else {
      std::memcpy(h, a, sizeof(float) * B * pk.H);
    }
    xin = h;
  }
  y = state.h[L - 1];
  return true;
}

}  // namespace detail

// ==================================================================== streaming
RecurrentState RecurrentModule::initial_state(int64_t batch) const {
  check(batch >= 0, name() + ".initial_state", "batch must be >= 0, got ", batch);
  const DType dt = weights_[0].w_ih.dtype();
  const int64_t n = cfg_.num_layers * num_directions();
  RecurrentState s;
  for (int64_t i = 0; i < n; ++i) {
    s.h.push_back(zeros({batch, state_size()}, dt));
    if (cfg_.cell == CellType::LSTM) s.c.push_back(zeros({batch, cfg_.hidden_size}, dt));
  }
  return s;
}

Tensor RecurrentModule::step(const Tensor& x_t, RecurrentState& state) {
  // Every check below runs on every step, so none builds anything unless it fails: the op name
  // and the shapes in the messages are references (a Shape copy or a std::string per check was
  // a few hundred ns of a 15 us step).
  const std::string& op = step_op_;
  const int64_t L = cfg_.num_layers, H = cfg_.hidden_size, R = state_size();
  const bool lstm = cfg_.cell == CellType::LSTM;
  const DType dt = weights_[0].w_ih.dtype();
  check(!cfg_.bidirectional, op,
        "step() needs a unidirectional module (the reverse direction reads the sequence from its end); use forward()");
  check(is_matrix(x_t, -1, cfg_.input_size), op, "x_t ", shape_or_none(x_t), " must be (B,input_size=", cfg_.input_size,
        ")");
  check(x_t.dtype() == dt, op, "x_t dtype ", dtype_name(x_t.dtype()), " must match the parameters' ", dtype_name(dt));
  const int64_t B = x_t.shape()[0];
  check(static_cast<int64_t>(state.h.size()) == L, op, "state has ", state.h.size(), " h entries, expected num_layers=",
        L, " (use initial_state(B))");
  check(static_cast<int64_t>(state.c.size()) == (lstm ? L : 0), op, "state has ", state.c.size(),
        " c entries, expected ", lstm ? L : 0);
  for (int64_t l = 0; l < L; ++l) {
    const Tensor& h = state.h[l];
    if (!is_matrix(h, B, R) || h.dtype() != dt)
      fail(op, "state.h[", l, "] ", shape_or_none(h), " must be (B=", B, ",", R, ") ", dtype_name(dt));
    if (lstm) {
      const Tensor& c = state.c[l];
      if (!is_matrix(c, B, H) || c.dtype() != dt)
        fail(op, "state.c[", l, "] ", shape_or_none(c), " must be (B=", B, ",hidden_size=", H, ") ", dtype_name(dt));
    }
  }

  NoGradGuard no_grad;
  if (dt == DType::F32 && B <= detail::kFastStepMaxBatch && !(L > 1 && cfg_.dropout > 0.0 && is_training())) {
    Tensor y;
    if (check_finite_enabled()) detail::check_step_finite(op, x_t, state, Tensor());
    if (detail::fast_step(step_cache_, cfg_.cell, cfg_.activation, weights_.data(),
                          static_cast<int64_t>(weights_.size()), x_t, state, y, cfg_.output_activation)) {
      if (check_finite_enabled()) detail::check_step_finite(op, Tensor(), state, y);
      return y;
    }
  }
  Tensor in = x_t.unsqueeze(0);  // (1,B,I)
  for (int64_t l = 0; l < L; ++l) {
    RecurrentOutput r = recurrent_layer(spec(), in, state.h[l].unsqueeze(0),
                                        lstm ? state.c[l].unsqueeze(0) : Tensor(), layer_weights(l));
    state.h[l] = r.h_n.squeeze(0);
    if (lstm) state.c[l] = r.c_n.squeeze(0);
    in = r.output;
    if (l + 1 < L && cfg_.dropout > 0.0 && is_training()) in = dropout(in, cfg_.dropout, true);
  }
  return in.squeeze(0);
}

// ==================================================================== the four modules
namespace {
RecurrentModule::Config rnn_config(const RNNOptions& o) {
  auto c = base_config(CellType::RNN, o);
  c.activation = o.nonlinearity();
  return c;
}
RecurrentModule::Config lstm_config(const LSTMOptions& o) {
  auto c = base_config(CellType::LSTM, o);
  c.proj_size = o.proj_size();
  c.peephole = o.peephole();
  c.activation = o.activation();
  return c;
}
RecurrentModule::Config jordan_config(const JordanOptions& o) {
  auto c = base_config(CellType::Jordan, o);
  c.output_size = o.output_size();
  c.activation = o.nonlinearity();
  c.output_activation = o.output_activation();
  return c;
}
}  // namespace

RNN::RNN(const RNNOptions& options, Generator* gen) : RecurrentModule("RNN", rnn_config(options), gen), options_(options) {}
LSTM::LSTM(const LSTMOptions& options, Generator* gen)
    : RecurrentModule("LSTM", lstm_config(options), gen), options_(options) {}
GRU::GRU(const GRUOptions& options, Generator* gen)
    : RecurrentModule("GRU", base_config(CellType::GRU, options), gen), options_(options) {}
JordanRNN::JordanRNN(const JordanOptions& options, Generator* gen)
    : RecurrentModule("JordanRNN", jordan_config(options), gen), options_(options) {}

}  // namespace seqnn::nn
