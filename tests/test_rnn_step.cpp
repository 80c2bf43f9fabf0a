// Streaming step() fast path: the packed small-batch kernel against its naive reference, step()
// against forward() for every covered cell, batch and width, multi-layer stacks, the state's
// deep-copy contract, no allocation per step, weight-change invalidation, and the fallbacks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/check.h"
#include "kernels/recurrent_step.h"
#include "seqnn/autograd.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"
#include "seqnn/threads.h"

using namespace seqnn;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return 1e30;
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

// max |a - b| over max(1, max |b|): absolute for outputs within [-1, 1] (tanh), relative to the
// output's scale beyond (ReLU, an identity activation, Jordan's identity output are unbounded)
double scaled_diff(const Tensor& a, const Tensor& b) {
  double s = 1.0;
  for (double v : b.to_vector<double>()) s = std::max(s, std::fabs(v));
  return max_abs_diff(a, b) / s;
}

std::vector<float> rand_vec(int64_t n, Generator& gen, float scale = 1.0f) {
  auto v = (randn({n}, DType::F32, &gen)).to_vector<float>();
  for (auto& e : v) e *= scale;
  return v;
}

using kernels::StepCell;

// ==================================================================== kernel vs reference
// R (the recurrent input's width) is H, except for an LSTM with a projection (R = P, here
// 3 + H % 5) and for Linear: R = 0 (y = W x + b, LSTM's projection and Jordan's output layer on
// the step path) or R = 3 + H % 5 (Jordan's pre-activation W_ih x + W_hh y_prev + b).
TEST(RnnStepKernel, MatchesReference) {
  Generator gen(3);
  for (StepCell cell : {StepCell::RnnTanh, StepCell::RnnRelu, StepCell::Lstm, StepCell::Gru, StepCell::Linear})
    for (int64_t B : {1, 2, 3, 5, 8})
      for (int64_t H : {1, 7, 16, 33, 300})
        for (bool bias : {true, false})
          for (int variant : {0, 1, 2})
          for (Activation act : {Activation::Tanh, Activation::Relu, Activation::Sigmoid, Activation::Identity}) {
            // LSTM: 1 peepholes, 2 peepholes and R = P != H. Linear: 1 R > 0, 2 b_ih alone (b_ho).
            // act: the LSTM's activation of g and c (other cells: tanh only, they ignore it)
            const bool lstm = cell == StepCell::Lstm, linear = cell == StepCell::Linear;
            if (!lstm && act != Activation::Tanh) continue;
            const bool peephole = lstm && variant >= 1, one_bias = linear && variant == 2;
            if (variant > 0 && !lstm && !linear) continue;
            const int64_t I = 5 + H % 4, G = kernels::step_gates(cell);
            const int64_t R = linear ? (variant == 1 ? 3 + H % 5 : 0) : variant == 2 ? 3 + H % 5 : H;
            const float sc = 1.0f / std::sqrt(static_cast<float>(H));
            auto wih = rand_vec(G * H * I, gen, sc), whh = rand_vec(G * H * R, gen, sc);
            auto bih = rand_vec(G * H, gen, sc), bhh = rand_vec(G * H, gen, sc);
            auto x = rand_vec(B * I, gen), h = rand_vec(B * R, gen), c = rand_vec(B * H, gen);
            const auto peep = rand_vec(3 * H, gen);  // w_ci, w_cf, w_co
            const float* pp = peephole ? peep.data() : nullptr;
            std::vector<float> pih(kernels::step_packed_size(cell, H, I)), phh(kernels::step_packed_size(cell, H, R)),
                pb(kernels::step_bias_size(cell, H));
            kernels::pack_step_weights(cell, wih.data(), H, I, pih.data());
            kernels::pack_step_weights(cell, whh.data(), H, R, phh.data());
            const float* b2 = bias && !one_bias ? bhh.data() : nullptr;
            kernels::pack_step_bias(cell, bias ? bih.data() : nullptr, b2, H, pb.data());
            std::vector<float> h1(B * H), c1 = c, h2(B * H), c2(B * H);
            // fast kernel with c updated in place; the reference writes a separate c
            kernels::recurrent_step(cell, B, I, H, R, x.data(), h.data(), lstm ? c1.data() : nullptr, pih.data(),
                                    phh.data(), pb.data(), h1.data(), lstm ? c1.data() : nullptr, pp,
                                    kernels::StepSweep::Up, act);
            kernels::ref::recurrent_step(cell, B, I, H, R, x.data(), h.data(), lstm ? c.data() : nullptr, wih.data(),
                                         whh.data(), bias ? bih.data() : nullptr, b2, h2.data(),
                                         lstm ? c2.data() : nullptr, pp, act);
            double e = 0;
            for (int64_t i = 0; i < B * H; ++i) {
              // float32 sums of I+R products vs double: relative to the value (ReLU, Linear are unbounded)
              e = std::max(e, std::fabs(h1[i] - h2[i]) / (1.0 + std::fabs(h2[i])));
              if (lstm) e = std::max(e, std::fabs(c1[i] - c2[i]) / (1.0 + std::fabs(c2[i])));
            }
            EXPECT_LT(e, 2e-6) << "cell " << static_cast<int>(cell) << " B=" << B << " H=" << H << " R=" << R
                               << " bias=" << bias << " variant=" << variant << " act " << static_cast<int>(act);
          }
}

// The panels are split over threads (kernels/parallel.h, on seqnn's team) when the work pays; each panel is
// computed the same way on any thread and in either sweep order, so neither the thread count nor the
// order may change a single bit.
// The packed layout itself, element by element: out[p][k][g][u] = W[g H + p 16 + u][k], 0 for
// units past H. Widths on and off the 16 x 16 blocks the packer transposes in registers.
TEST(RnnStepKernel, PackedLayout) {
  Generator gen(31);
  using kernels::StepCell;
  for (StepCell cell : {StepCell::Lstm, StepCell::Gru, StepCell::RnnTanh})
    for (int64_t H : {1, 16, 17, 48, 70})
      for (int64_t K : {1, 15, 16, 32, 45}) {
        const int64_t G = kernels::step_gates(cell), P = kernels::step_panels(H);
        const auto w = rand_vec(G * H * K, gen);
        std::vector<float> out(kernels::step_packed_size(cell, H, K), -7.0f);
        kernels::pack_step_weights(cell, w.data(), H, K, out.data());
        ASSERT_EQ(static_cast<int64_t>(out.size()), P * K * G * 16);
        int64_t bad = 0;
        for (int64_t p = 0; p < P; ++p)
          for (int64_t k = 0; k < K; ++k)
            for (int64_t g = 0; g < G; ++g)
              for (int64_t u = 0; u < 16; ++u) {
                const int64_t j = p * 16 + u;
                const float want = j < H ? w[(g * H + j) * K + k] : 0.0f;
                bad += out[((p * K + k) * G + g) * 16 + u] != want;
              }
        EXPECT_EQ(bad, 0) << "cell " << static_cast<int>(cell) << " H=" << H << " K=" << K;
      }
}

TEST(RnnStepKernel, ThreadCountDoesNotChangeResults) {
  Generator gen(4);
  const int saved = num_threads();
  // (RnnTanh and Linear at B 1 and 3 deal their k's to several accumulator sets, summed in a fixed order)
  for (StepCell cell : {StepCell::Lstm, StepCell::Gru, StepCell::RnnTanh, StepCell::Linear})
    for (int64_t B : {1, 3}) {
      const int64_t H = 300, I = 290, G = kernels::step_gates(cell);  // big enough to split
      auto wih = rand_vec(G * H * I, gen, 0.05f), whh = rand_vec(G * H * H, gen, 0.05f);
      auto bih = rand_vec(G * H, gen), bhh = rand_vec(G * H, gen);
      auto x = rand_vec(B * I, gen), h = rand_vec(B * H, gen), c0 = rand_vec(B * H, gen);
      std::vector<float> pih(kernels::step_packed_size(cell, H, I)), phh(kernels::step_packed_size(cell, H, H)),
          pb(kernels::step_bias_size(cell, H));
      kernels::pack_step_weights(cell, wih.data(), H, I, pih.data());
      kernels::pack_step_weights(cell, whh.data(), H, H, phh.data());
      kernels::pack_step_bias(cell, bih.data(), bhh.data(), H, pb.data());
      const bool lstm = cell == StepCell::Lstm;
      std::vector<std::vector<float>> hs, cs;
      for (int nt : {1, 2, 3})
        for (kernels::StepSweep sweep : {kernels::StepSweep::Up, kernels::StepSweep::Down}) {
          set_num_threads(nt);
          std::vector<float> h1(B * H), c1 = c0;
          for (int r = 0; r < 3; ++r) {  // repeated: the second call finds the helpers polling
            c1 = c0;
            kernels::recurrent_step(cell, B, I, H, H, x.data(), h.data(), lstm ? c1.data() : nullptr, pih.data(),
                                    phh.data(), pb.data(), h1.data(), lstm ? c1.data() : nullptr,
                                    nullptr, sweep);
          }
          hs.push_back(h1);
          cs.push_back(c1);
        }
      set_num_threads(saved);
      for (size_t k = 1; k < hs.size(); ++k) {
        EXPECT_EQ(hs[k], hs[0]) << "cell " << static_cast<int>(cell) << " B=" << B << " run " << k;
        EXPECT_EQ(cs[k], cs[0]) << "cell " << static_cast<int>(cell) << " B=" << B << " run " << k;
      }
    }
}

// ==================================================================== step() == forward()
void expect_step_equals_forward(nn::RecurrentModule& m, int64_t T, int64_t B, Generator& gen, const std::string& what) {
  const int64_t I = m.config().input_size;
  Tensor x = randn({T, B, I}, DType::F32, &gen);
  auto state = m.initial_state(B);
  for (auto& h : state.h) h = mul(randn(h.shape(), DType::F32, &gen), 0.5);
  for (auto& c : state.c) c = randn(c.shape(), DType::F32, &gen);
  Tensor h0 = stack(state.h, 0), c0 = state.c.empty() ? Tensor() : stack(state.c, 0);
  auto r = m.forward(x, h0, c0);
  for (int64_t t = 0; t < T; ++t) {
    Tensor y = m.step(select(x, 0, t), state);
    EXPECT_LT(scaled_diff(y, select(r.output, 0, t)), 1e-6) << what << " t=" << t;
  }
  EXPECT_LT(scaled_diff(stack(state.h, 0), r.h_n), 1e-6) << what;
  if (r.c_n.defined()) EXPECT_LT(scaled_diff(stack(state.c, 0), r.c_n), 1e-6) << what;
}

TEST(RnnStep, EqualsForwardEveryCellBatchWidth) {
  Generator gen(21);
  for (int64_t H : {1, 7, 64, 300})
    for (int64_t B : {1, 3, 8}) {
      const std::string tag = " H=" + std::to_string(H) + " B=" + std::to_string(B);
      nn::LSTM lstm(nn::LSTMOptions(6, H), &gen);
      nn::LSTM peep(nn::LSTMOptions(6, H).peephole(true), &gen);
      nn::GRU gru(nn::GRUOptions(6, H), &gen);
      nn::RNN rt(nn::RNNOptions(6, H), &gen);
      nn::RNN rr(nn::RNNOptions(6, H).nonlinearity(Activation::Relu).bias(false), &gen);
      expect_step_equals_forward(lstm, 4, B, gen, "lstm" + tag);
      expect_step_equals_forward(peep, 4, B, gen, "lstm peephole" + tag);
      if (H > 1) {  // proj_size < hidden_size, as in PyTorch
        nn::LSTM proj(nn::LSTMOptions(6, H).proj_size(std::max<int64_t>(1, H / 3)), &gen);
        expect_step_equals_forward(proj, 4, B, gen, "lstm proj" + tag);
      }
      // the LSTM's activation of g and c (the notes' linear memory: Identity) on the fast path too
      nn::LSTM lin(nn::LSTMOptions(6, H).peephole(true).activation(Activation::Identity), &gen);
      nn::LSTM sig(nn::LSTMOptions(6, H).activation(Activation::Sigmoid).num_layers(2), &gen);
      expect_step_equals_forward(lin, 4, B, gen, "lstm identity peephole" + tag);
      expect_step_equals_forward(sig, 4, B, gen, "lstm sigmoid 2 layers" + tag);
      if (H > 1) {
        nn::LSTM relu_proj(nn::LSTMOptions(6, H).activation(Activation::Relu).proj_size(H / 2), &gen);
        expect_step_equals_forward(relu_proj, 4, B, gen, "lstm relu proj" + tag);
      }
      expect_step_equals_forward(gru, 4, B, gen, "gru" + tag);
      expect_step_equals_forward(rt, 4, B, gen, "rnn tanh" + tag);
      expect_step_equals_forward(rr, 4, B, gen, "rnn relu" + tag);
      // Jordan: y (O wide) recurs; every hidden / output activation pair runs on the fast path
      const int64_t O = std::max<int64_t>(1, H / 2);
      nn::JordanRNN j1(nn::JordanOptions(6, H, O), &gen);
      nn::JordanRNN j2(nn::JordanOptions(6, H, H + 3).nonlinearity(Activation::Relu)
                           .output_activation(Activation::Sigmoid).bias(false), &gen);
      nn::JordanRNN j3(nn::JordanOptions(6, H, O).nonlinearity(Activation::Sigmoid)
                           .output_activation(Activation::Tanh), &gen);
      nn::JordanRNN j4(nn::JordanOptions(6, H, O).nonlinearity(Activation::Identity)
                           .output_activation(Activation::Relu), &gen);
      expect_step_equals_forward(j1, 4, B, gen, "jordan tanh/identity" + tag);
      expect_step_equals_forward(j2, 4, B, gen, "jordan relu/sigmoid no bias O>H" + tag);
      expect_step_equals_forward(j3, 4, B, gen, "jordan sigmoid/tanh" + tag);
      expect_step_equals_forward(j4, 4, B, gen, "jordan identity/relu" + tag);
    }
}

TEST(RnnStep, MultiLayer) {
  Generator gen(22);
  nn::LSTM lstm(nn::LSTMOptions(5, 24).num_layers(3), &gen);
  nn::GRU gru(nn::GRUOptions(5, 17).num_layers(2), &gen);
  nn::RNN rnn(nn::RNNOptions(5, 40).num_layers(2).dropout(0.5), &gen);
  nn::LSTM peep(nn::LSTMOptions(5, 24).num_layers(2).peephole(true), &gen);
  nn::LSTM proj(nn::LSTMOptions(5, 24).num_layers(3).proj_size(7).peephole(true), &gen);
  nn::JordanRNN jordan(nn::JordanOptions(5, 24, 9).num_layers(3).output_activation(Activation::Tanh), &gen);
  rnn.eval();
  expect_step_equals_forward(lstm, 5, 3, gen, "lstm x3");
  expect_step_equals_forward(peep, 5, 3, gen, "lstm peephole x2");
  expect_step_equals_forward(proj, 5, 3, gen, "lstm proj peephole x3");
  expect_step_equals_forward(jordan, 5, 3, gen, "jordan x3");
  expect_step_equals_forward(gru, 5, 8, gen, "gru x2");
  expect_step_equals_forward(rnn, 5, 1, gen, "rnn x2 eval");
}

TEST(RnnStep, CellsEqualForward) {
  Generator gen(23);
  nn::LSTMCell lc(nn::LSTMCellOptions(5, 33), &gen);
  nn::GRUCell gc(nn::GRUCellOptions(5, 33), &gen);
  nn::RNNCell rc(nn::RNNCellOptions(5, 33), &gen);
  for (int64_t B : {1, 3, 8}) {
    auto ls = lc.initial_state(B), gs = gc.initial_state(B), rs = rc.initial_state(B);
    Tensor h, c, hg, hr;
    for (int t = 0; t < 4; ++t) {
      Tensor x = randn({B, 5}, DType::F32, &gen);
      NoGradGuard ng;
      auto o = lc.forward(x, h, c);
      h = o.h;
      c = o.c;
      hg = gc.forward(x, hg);
      hr = rc.forward(x, hr);
      EXPECT_LT(max_abs_diff(lc.step(x, ls), h), 1e-6);
      EXPECT_LT(max_abs_diff(ls.c[0], c), 1e-6);
      EXPECT_LT(max_abs_diff(gc.step(x, gs), hg), 1e-6);
      EXPECT_LT(max_abs_diff(rc.step(x, rs), hr), 1e-6);
    }
  }
}

// ==================================================================== state contract
TEST(RnnStep, StateCopiesAreSnapshotsAndNoAllocationPerStep) {
  Generator gen(24);
  nn::LSTM m(nn::LSTMOptions(4, 32).num_layers(2), &gen);
  auto state = m.initial_state(3);
  Tensor x = randn({3, 4}, DType::F32, &gen);
  Tensor y = m.step(x, state);  // first step: packs
  const void* ph0 = state.h[0].data_ptr<float>();
  const void* ph1 = state.h[1].data_ptr<float>();
  const void* pc0 = state.c[0].data_ptr<float>();
  EXPECT_EQ(y.data_ptr<float>(), ph1);  // y_t is the top layer's h
  nn::RecurrentState snap = state;  // deep copy
  EXPECT_NE(snap.h[0].data_ptr<float>(), ph0);
  const Tensor h_before = snap.h[1].clone(), c_before = snap.c[0].clone();
  for (int t = 0; t < 5; ++t) {
    Tensor yt = m.step(x, state);
    EXPECT_EQ(yt.data_ptr<float>(), ph1);
    EXPECT_EQ(state.h[0].data_ptr<float>(), ph0);
    EXPECT_EQ(state.c[0].data_ptr<float>(), pc0);
  }
  EXPECT_EQ(max_abs_diff(snap.h[1], h_before), 0.0);
  EXPECT_EQ(max_abs_diff(snap.c[0], c_before), 0.0);
  EXPECT_GT(max_abs_diff(state.h[1], h_before), 0.0);
  // Copy assignment is deep too, and the snapshot resumes like the original did.
  nn::RecurrentState a = m.initial_state(3), b = m.initial_state(3);
  m.step(x, a);
  b = a;
  Tensor ya = m.step(x, a).clone(), yb = m.step(x, b);
  EXPECT_EQ(max_abs_diff(ya, yb), 0.0);
}

TEST(RnnStep, RepacksWhenWeightsChangeInPlace) {
  Generator gen(25);
  nn::GRU a(nn::GRUOptions(3, 20), &gen), b(nn::GRUOptions(3, 20), &gen);
  Tensor x = randn({2, 3}, DType::F32, &gen);
  auto s = a.initial_state(2);
  a.step(x, s);  // packs a's weights
  a.load_state_dict(b.state_dict());  // copies in place: same pointers, new values
  auto s1 = a.initial_state(2), s2 = b.initial_state(2);
  EXPECT_LT(max_abs_diff(a.step(x, s1), b.step(x, s2)), 1e-7);
  // Jordan: its output layer (W_ho, b_ho) is packed too, and repacked when it changes
  nn::JordanRNN ja(nn::JordanOptions(3, 20, 6), &gen), jb(nn::JordanOptions(3, 20, 6), &gen);
  auto t = ja.initial_state(2);
  ja.step(x, t);
  ja.load_state_dict(jb.state_dict());
  auto t1 = ja.initial_state(2), t2 = jb.initial_state(2);
  EXPECT_LT(max_abs_diff(ja.step(x, t1), jb.step(x, t2)), 1e-7);
}

// ==================================================================== fallbacks
TEST(RnnStep, FallbackPaths) {
  Generator gen(26);
  nn::LSTM f64(nn::LSTMOptions(3, 12).num_layers(2).dtype(DType::F64), &gen);
  auto s = f64.initial_state(2);
  Tensor x = randn({4, 2, 3}, DType::F64, &gen);
  auto r = f64.forward(x);
  for (int t = 0; t < 4; ++t) EXPECT_LT(max_abs_diff(f64.step(select(x, 0, t), s), select(r.output, 0, t)), 1e-12);
  // B > 8: general path
  nn::LSTM wide_proj(nn::LSTMOptions(3, 12).proj_size(5), &gen);
  nn::LSTM wide_peep(nn::LSTMOptions(3, 12).peephole(true), &gen);
  nn::GRU wide(nn::GRUOptions(3, 12), &gen);
  expect_step_equals_forward(wide_proj, 3, 9, gen, "proj B=9");
  expect_step_equals_forward(wide, 3, 11, gen, "B=11");
  expect_step_equals_forward(wide_peep, 3, 11, gen, "peephole B=11");
  nn::JordanRNN wide_jordan(nn::JordanOptions(3, 12, 4).output_activation(Activation::Sigmoid), &gen);
  expect_step_equals_forward(wide_jordan, 3, 9, gen, "jordan B=9");
  // bidirectional is an error
  nn::GRU bi(nn::GRUOptions(3, 12).bidirectional(true), &gen);
  auto bs = bi.initial_state(2);
  testutil::expect_error([&] { bi.step(zeros({2, 3}), bs); }, "GRU.step", "unidirectional");
  // a state tensor that requires grad is copied, never written into
  nn::RNN rnn(nn::RNNOptions(3, 12), &gen);
  auto rs = rnn.initial_state(1);
  Tensor mine = zeros({1, 12});
  mine.requires_grad_(true);
  rs.h[0] = mine;
  rnn.step(randn({1, 3}, DType::F32, &gen), rs);
  EXPECT_EQ(mine.to_vector<float>(), std::vector<float>(12, 0.0f));
  EXPECT_NE(rs.h[0].data_ptr<float>(), mine.data_ptr<float>());
}

}  // namespace
