// nn::RNN / LSTM / GRU / JordanRNN and the cells: names, shapes, initialisation, state_dict
// round trips, option and input errors, step() == forward(), batch_first, ragged rows, dropout
// between layers, gradients (float64 finite differences) and the notes' hand-set LSTM.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "common/check.h"
#include "common/gradcheck.h"
#include "seqnn/autograd.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

std::vector<std::string> names_of(const nn::Module& m) { return m.state_dict().keys(); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return 1e30;
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

// Row b of a (T,B,F) time-major tensor, first `len` steps: (len,1,F).
Tensor row(const Tensor& x, int64_t b, int64_t len) { return slice(slice(x, 1, b, b + 1), 0, 0, len).contiguous(); }

// Overwrites a parameter's values in place (through a state_dict handle sharing its data).
void set_param(Tensor p, const std::vector<double>& v) {
  NoGradGuard ng;
  p.copy_(from_vector(v, p.shape()).to(p.dtype()));
}

}  // namespace

// ==================================================================== names, shapes, init
TEST(RNNModules, LSTMParameterNamesShapesAndOrderFollowPyTorch) {
  nn::LSTM m(nn::LSTMOptions(10, 20).num_layers(2).bidirectional(true).proj_size(5));
  const std::vector<std::string> expected = {
      "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
      "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
      "weight_hr_l0_reverse",
      "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_hr_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
      "weight_hr_l1_reverse"};
  EXPECT_EQ(names_of(m), expected);
  const auto sd = m.state_dict();
  EXPECT_EQ(sd["weight_ih_l0"].shape(), (Shape{80, 10}));
  EXPECT_EQ(sd["weight_hh_l0"].shape(), (Shape{80, 5}));
  EXPECT_EQ(sd["bias_ih_l0"].shape(), (Shape{80}));
  EXPECT_EQ(sd["weight_hr_l0_reverse"].shape(), (Shape{5, 20}));
  EXPECT_EQ(sd["weight_ih_l1"].shape(), (Shape{80, 10}));  // D*P = 2*5
  EXPECT_EQ(m.state_size(), 5);
  for (const auto& [k, p] : m.named_parameters()) EXPECT_TRUE(p.requires_grad()) << k;
}

TEST(RNNModules, GRURNNAndNoBiasNames) {
  nn::GRU g(nn::GRUOptions(3, 4).num_layers(2));
  EXPECT_EQ(names_of(g), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                   "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"}));
  EXPECT_EQ(g.state_dict()["weight_ih_l1"].shape(), (Shape{12, 4}));
  nn::RNN r(nn::RNNOptions(3, 4).bias(false).bidirectional(true));
  EXPECT_EQ(names_of(r),
            (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse"}));
  EXPECT_EQ(r.state_dict()["weight_hh_l0_reverse"].shape(), (Shape{4, 4}));
  nn::LSTM nb(nn::LSTMOptions(3, 4).bias(false).proj_size(2));
  EXPECT_EQ(names_of(nb), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "weight_hr_l0"}));
}

TEST(RNNModules, PeepholeAndJordanNames) {
  nn::LSTM p(nn::LSTMOptions(3, 4).peephole(true).bidirectional(true));
  EXPECT_EQ(names_of(p), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                   "weight_peep_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
                                                   "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                                                   "weight_peep_l0_reverse"}));
  EXPECT_EQ(p.state_dict()["weight_peep_l0"].shape(), (Shape{3, 4}));
  nn::JordanRNN j(nn::JordanOptions(3, 5, 2).num_layers(2));
  EXPECT_EQ(names_of(j), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                   "weight_ho_l0", "bias_ho_l0", "weight_ih_l1", "weight_hh_l1",
                                                   "bias_ih_l1", "bias_hh_l1", "weight_ho_l1", "bias_ho_l1"}));
  const auto sd = j.state_dict();
  EXPECT_EQ(sd["weight_ih_l0"].shape(), (Shape{5, 3}));
  EXPECT_EQ(sd["weight_hh_l0"].shape(), (Shape{5, 2}));
  EXPECT_EQ(sd["weight_ho_l0"].shape(), (Shape{2, 5}));
  EXPECT_EQ(sd["bias_ho_l0"].shape(), (Shape{2}));
  EXPECT_EQ(sd["weight_ih_l1"].shape(), (Shape{5, 2}));
  nn::JordanRNN jb(nn::JordanOptions(3, 5, 2).bias(false));
  EXPECT_EQ(names_of(jb), (std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "weight_ho_l0"}));
}

TEST(RNNModules, CellNamesAndShapes) {
  nn::LSTMCell l(nn::LSTMCellOptions(3, 4));
  EXPECT_EQ(names_of(l), (std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}));
  EXPECT_EQ(l.weight_ih.shape(), (Shape{16, 3}));
  EXPECT_EQ(l.weight_hh.shape(), (Shape{16, 4}));
  nn::GRUCell g(nn::GRUCellOptions(3, 4).bias(false));
  EXPECT_EQ(names_of(g), (std::vector<std::string>{"weight_ih", "weight_hh"}));
  EXPECT_EQ(g.weight_hh.shape(), (Shape{12, 4}));
  nn::RNNCell r(nn::RNNCellOptions(3, 4).nonlinearity(Activation::Relu));
  EXPECT_EQ(r.bias_hh.shape(), (Shape{4}));
}

TEST(RNNModules, InitIsUniformWithinOneOverSqrtH) {
  Generator gen(7);
  nn::LSTM m(nn::LSTMOptions(30, 25).num_layers(2).proj_size(7).peephole(true), &gen);
  nn::GRUCell c(nn::GRUCellOptions(30, 25), &gen);
  const double bound = 1.0 / 5.0;
  for (const nn::Module* mod : {static_cast<const nn::Module*>(&m), static_cast<const nn::Module*>(&c)}) {
    double lo = 1, hi = -1;
    for (const auto& [k, p] : mod->named_parameters()) {
      for (double v : p.to_vector<double>()) {
        EXPECT_LE(std::fabs(v), bound) << k;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
    EXPECT_LT(lo, -0.9 * bound);
    EXPECT_GT(hi, 0.9 * bound);
  }
  // The generator decides the values.
  Generator g1(3), g2(3);
  nn::GRU a(nn::GRUOptions(4, 6), &g1), b(nn::GRUOptions(4, 6), &g2);
  for (const auto& [k, p] : a.named_parameters()) EXPECT_EQ(max_abs_diff(p, b.state_dict()[k]), 0.0) << k;
}

TEST(RNNModules, StateDictRoundTripAndDtype) {
  Generator g1(1), g2(2);
  nn::LSTM a(nn::LSTMOptions(4, 6).num_layers(2).bidirectional(true).proj_size(3), &g1);
  nn::LSTM b(nn::LSTMOptions(4, 6).num_layers(2).bidirectional(true).proj_size(3), &g2);
  b.load_state_dict(a.state_dict());
  for (const auto& [k, p] : a.state_dict()) EXPECT_EQ(max_abs_diff(p, b.state_dict()[k]), 0.0) << k;
  Tensor x = randn({5, 2, 4}, DType::F32, &g1);
  auto ra = a.forward(x), rb = b.forward(x);
  EXPECT_EQ(max_abs_diff(ra.output, rb.output), 0.0);
  EXPECT_EQ(max_abs_diff(ra.c_n, rb.c_n), 0.0);
  // A mismatching module refuses it (names the module).
  nn::LSTM c(nn::LSTMOptions(4, 6).num_layers(2).bidirectional(true));
  EXPECT_THROW(c.load_state_dict(a.state_dict()), Error);
  // to(F64): the layer runs on the converted parameters.
  a.to(DType::F64);
  auto r64 = a.forward(x.to(DType::F64));
  EXPECT_EQ(r64.output.dtype(), DType::F64);
  EXPECT_LT(max_abs_diff(r64.output, ra.output), 1e-5);
}

// ==================================================================== errors
TEST(RNNModules, BadOptions) {
  expect_error([] { nn::LSTM(nn::LSTMOptions(4, 6).dropout(1.5)); }, "LSTM", "dropout should be a number in range [0, 1]");
  expect_error([] { nn::GRU(nn::GRUOptions(4, 6).dropout(-0.1)); }, "GRU", "got -0.1");
  expect_error([] { nn::LSTM(nn::LSTMOptions(4, 6).proj_size(6)); }, "LSTM",
               "proj_size has to be smaller than hidden_size, got proj_size=6 hidden_size=6");
  expect_error([] { nn::LSTM(nn::LSTMOptions(4, 6).proj_size(-1)); }, "LSTM", "proj_size");
  expect_error([] { nn::RNN(nn::RNNOptions(4, 6).num_layers(0)); }, "RNN", "num_layers must be >= 1, got 0");
  expect_error([] { nn::RNN(nn::RNNOptions(0, 6)); }, "RNN", "input_size must be >= 1");
  expect_error([] { nn::GRU(nn::GRUOptions(4, 0)); }, "GRU", "hidden_size must be >= 1");
  expect_error([] { nn::RNN(nn::RNNOptions(4, 6).nonlinearity(Activation::Sigmoid)); }, "RNN",
               "nonlinearity must be Tanh or Relu, got Sigmoid");
  expect_error([] { nn::JordanRNN(nn::JordanOptions(4, 6, 0)); }, "JordanRNN", "output_size must be >= 1");
  expect_error([] { nn::LSTM(nn::LSTMOptions(4, 6).dtype(DType::I64)); }, "LSTM", "dtype must be floating");
  expect_error([] { nn::LSTMCell(nn::LSTMCellOptions(4, 0)); }, "LSTMCell", "hidden_size");
  expect_error([] { nn::RNNCell(nn::RNNCellOptions(4, 3).nonlinearity(Activation::Identity)); }, "RNNCell",
               "nonlinearity");
}

TEST(RNNModules, BadForwardInputs) {
  nn::LSTM m(nn::LSTMOptions(12, 4).num_layers(2));
  expect_error([&] { m.forward(zeros({5, 3, 10})); }, "LSTM.forward", "input (5,3,10) must be (T,B,input_size=12)");
  expect_error([&] { m.forward(zeros({5, 3, 12, 1})); }, "LSTM.forward", "or unbatched (T,input_size)");
  expect_error([&] { m.forward(zeros({5, 10})); }, "LSTM.forward", "input (5,10) must be (T,input_size=12)");
  expect_error([&] { m.forward(zeros({0, 3, 12})); }, "LSTM.forward", "no time steps");
  expect_error([&] { m.forward(zeros({5, 3, 12}, DType::F64)); }, "LSTM.forward", "float64");
  expect_error([&] { m.forward(zeros({5, 3, 12}), zeros({2, 4, 4})); }, "LSTM.forward",
               "h0 (2,4,4) must be (num_layers*num_directions=2,B=3,hidden_size=4)");
  expect_error([&] { m.forward(zeros({5, 3, 12}), Tensor(), zeros({1, 3, 4})); }, "LSTM.forward",
               "c0 (1,3,4) must be (num_layers*num_directions=2,B=3,hidden_size=4)");
  expect_error([&] { m.forward(zeros({5, 12}), zeros({2, 1, 4})); }, "LSTM.forward",
               "must be (num_layers*num_directions=2,hidden_size=4)");
  const Tensor x = zeros({5, 3, 12});
  expect_error([&] { m.forward(x, {}, {}, from_vector(std::vector<int64_t>{5, 6, 1}, {3})); }, "LSTM.forward",
               "lengths[1]=6 must be in [1, T=5]");
  expect_error([&] { m.forward(x, {}, {}, from_vector(std::vector<int64_t>{5, 0, 1}, {3})); }, "LSTM.forward",
               "lengths[1]=0");
  expect_error([&] { m.forward(x, {}, {}, from_vector(std::vector<int64_t>{5, 1}, {2})); }, "LSTM.forward",
               "lengths (2) (int64) must be int64 (B=3)");
  expect_error([&] { m.forward(x, {}, {}, from_vector(std::vector<float>{5, 1, 1}, {3})); }, "LSTM.forward",
               "(float32) must be int64");
  nn::LSTM p(nn::LSTMOptions(12, 4).proj_size(2).bidirectional(true).batch_first(true));
  expect_error([&] { p.forward(zeros({3, 5, 10})); }, "LSTM.forward", "input (3,5,10) must be (B,T,input_size=12)");
  expect_error([&] { p.forward(zeros({3, 5, 12}), zeros({2, 3, 4})); }, "LSTM.forward",
               "(num_layers*num_directions=2,B=3,proj_size=2)");
  nn::GRU g(nn::GRUOptions(12, 4));
  expect_error([&] { g.forward(zeros({5, 3, 12}), Tensor(), zeros({1, 3, 4})); }, "GRU.forward",
               "c0 is only for LSTM");
  nn::JordanRNN j(nn::JordanOptions(12, 4, 3));
  expect_error([&] { j.forward(zeros({5, 3, 12}), zeros({1, 3, 4})); }, "JordanRNN.forward", "output_size=3");
}

TEST(RNNModules, BadCellAndStepInputs) {
  nn::LSTMCell c(nn::LSTMCellOptions(4, 3));
  expect_error([&] { c.forward(zeros({2, 5})); }, "LSTMCell.forward", "input (2,5) must be (B,input_size=4)");
  expect_error([&] { c.forward(zeros({2, 4}), zeros({3, 3})); }, "LSTMCell.forward", "h (3,3) must be (B=2,hidden_size=3)");
  expect_error([&] { c.forward(zeros({4}), zeros({3}), zeros({1, 3})); }, "LSTMCell.forward",
               "c (1,3) must be (hidden_size=3)");
  nn::GRUCell g(nn::GRUCellOptions(4, 3));
  expect_error([&] { g.forward(zeros({2, 2, 4})); }, "GRUCell.forward", "input (2,2,4)");
  nn::GRU bi(nn::GRUOptions(4, 3).bidirectional(true));
  auto s = bi.initial_state(2);
  expect_error([&] { bi.step(zeros({2, 4}), s); }, "GRU.step", "unidirectional");
  nn::LSTM l(nn::LSTMOptions(4, 3).num_layers(2));
  auto ls = l.initial_state(2);
  expect_error([&] { l.step(zeros({2, 5}), ls); }, "LSTM.step", "x_t (2,5) must be (B,input_size=4)");
  expect_error([&] { l.step(zeros({3, 4}), ls); }, "LSTM.step", "state.h[0] (2,3) must be (B=3,3)");
  nn::RecurrentState bad;
  expect_error([&] { l.step(zeros({2, 4}), bad); }, "LSTM.step", "initial_state");
}

// ==================================================================== forward semantics
TEST(RNNModules, OutputShapesBatchedUnbatchedProjection) {
  Generator gen(11);
  nn::LSTM m(nn::LSTMOptions(3, 5).num_layers(3).bidirectional(true).proj_size(2), &gen);
  auto r = m.forward(randn({7, 4, 3}, DType::F32, &gen));
  EXPECT_EQ(r.output.shape(), (Shape{7, 4, 4}));
  EXPECT_EQ(r.h_n.shape(), (Shape{6, 4, 2}));
  EXPECT_EQ(r.c_n.shape(), (Shape{6, 4, 5}));
  // Unbatched (T,I) equals the batch of one.
  Tensor x = randn({7, 3}, DType::F32, &gen), h0 = randn({6, 2}, DType::F32, &gen), c0 = randn({6, 5}, DType::F32, &gen);
  auto u = m.forward(x, h0, c0);
  auto b = m.forward(x.unsqueeze(1), h0.unsqueeze(1), c0.unsqueeze(1));
  EXPECT_EQ(u.output.shape(), (Shape{7, 4}));
  EXPECT_EQ(u.h_n.shape(), (Shape{6, 2}));
  EXPECT_EQ(u.c_n.shape(), (Shape{6, 5}));
  EXPECT_EQ(max_abs_diff(u.output, b.output.squeeze(1)), 0.0);
  EXPECT_EQ(max_abs_diff(u.c_n, b.c_n.squeeze(1)), 0.0);
  nn::GRU g(nn::GRUOptions(3, 5).num_layers(2), &gen);
  auto rg = g.forward(randn({7, 4, 3}, DType::F32, &gen));
  EXPECT_FALSE(rg.c_n.defined());
  EXPECT_EQ(rg.h_n.shape(), (Shape{2, 4, 5}));
  nn::JordanRNN j(nn::JordanOptions(3, 5, 2).bidirectional(true), &gen);
  auto rj = j.forward(randn({7, 4, 3}, DType::F32, &gen));
  EXPECT_EQ(rj.output.shape(), (Shape{7, 4, 4}));
  EXPECT_EQ(rj.h_n.shape(), (Shape{2, 4, 2}));
}

// B = 0 (an empty batch) is allowed, as in PyTorch 1.13 (nn.LSTM on (5,0,4) gives output
// (5,0,H) and h_n (L*D,0,H); LSTMCell on (0,4) gives (0,H)): empty outputs, empty input
// gradients, zero parameter gradients; no kernel runs.
TEST(RNNModules, EmptyBatchGivesEmptyOutputsAndZeroGradients) {
  Generator gen(16);
  nn::LSTM lstm(nn::LSTMOptions(4, 3).num_layers(2).bidirectional(true).proj_size(2).dropout(0.5), &gen);
  nn::GRU gru(nn::GRUOptions(4, 3).batch_first(true), &gen);
  nn::RNN rnn(nn::RNNOptions(4, 3).nonlinearity(Activation::Relu), &gen);
  nn::JordanRNN jordan(nn::JordanOptions(4, 3, 2).num_layers(2), &gen);
  nn::LSTM peep(nn::LSTMOptions(4, 3).peephole(true), &gen);
  const Tensor none = from_vector(std::vector<int64_t>{}, {0});
  for (DType dt : {DType::F32, DType::F64}) {
    for (nn::RecurrentModule* m : std::vector<nn::RecurrentModule*>{&lstm, &gru, &rnn, &jordan, &peep}) {
      SCOPED_TRACE(m->name() + (dt == DType::F64 ? " float64" : " float32"));
      m->to(dt);
      const bool bf = m == &gru, is_lstm = m == &lstm || m == &peep;
      const int64_t D = m == &lstm ? 2 : 1, L = m == &lstm || m == &jordan ? 2 : 1;
      const int64_t R = m == &lstm || m == &jordan ? 2 : 3;
      Tensor x = zeros(bf ? Shape{0, 5, 4} : Shape{5, 0, 4}, dt).requires_grad_();
      auto r = m->forward(x, Tensor(), Tensor(), none);
      EXPECT_EQ(r.output.shape(), (bf ? Shape{0, 5, D * R} : Shape{5, 0, D * R}));
      EXPECT_EQ(r.h_n.shape(), (Shape{L * D, 0, R}));
      EXPECT_EQ(r.c_n.defined(), is_lstm);
      if (is_lstm) EXPECT_EQ(r.c_n.shape(), (Shape{L * D, 0, 3}));
      m->zero_grad();
      add(sum(r.output), sum(r.h_n)).backward();
      ASSERT_TRUE(x.grad().defined());
      EXPECT_EQ(x.grad().shape(), x.shape());
      for (const auto& [name, p] : m->named_parameters()) {
        SCOPED_TRACE(name);
        ASSERT_TRUE(p.grad().defined());
        EXPECT_EQ(p.grad().shape(), p.shape());
        for (double v : p.grad().to_vector<double>()) EXPECT_EQ(v, 0.0);
      }
      if (D == 1) {  // streaming: an empty state steps to an empty output
        NoGradGuard ng;
        nn::RecurrentState s = m->initial_state(0);
        EXPECT_EQ(m->step(zeros({0, 4}, dt), s).shape(), (Shape{0, R}));
        EXPECT_EQ(s.h[0].shape(), (Shape{0, R}));
      }
    }
  }
  nn::LSTMCell cell(nn::LSTMCellOptions(4, 3), &gen);
  auto hc = cell.forward(zeros({0, 4}));
  EXPECT_EQ(hc.h.shape(), (Shape{0, 3}));
  EXPECT_EQ(hc.c.shape(), (Shape{0, 3}));
}

TEST(RNNModules, BatchFirstIsTimeMajorTransposed) {
  Generator gen(12);
  for (int bidir = 0; bidir < 2; ++bidir) {
    Generator g1(5), g2(5);
    nn::GRU tm(nn::GRUOptions(3, 4).num_layers(2).bidirectional(bidir), &g1);
    nn::GRU bf(nn::GRUOptions(3, 4).num_layers(2).bidirectional(bidir).batch_first(true), &g2);
    Tensor x = randn({6, 3, 3}, DType::F32, &gen);
    Tensor len = from_vector(std::vector<int64_t>{6, 2, 4}, {3});
    auto a = tm.forward(x, Tensor(), Tensor(), len);
    auto b = bf.forward(x.transpose(0, 1).contiguous(), Tensor(), Tensor(), len);
    EXPECT_EQ(b.output.shape(), (Shape{3, 6, 4 * (1 + bidir)}));
    EXPECT_EQ(max_abs_diff(a.output, b.output.transpose(0, 1)), 0.0);
    EXPECT_EQ(max_abs_diff(a.h_n, b.h_n), 0.0);  // h_n is never batch-first
  }
}

// A ragged batch: each row equals that row run alone over its own length; padding is zero.
TEST(RNNModules, RaggedRowsEqualTheirOwnSequences) {
  Generator gen(13);
  nn::LSTM m(nn::LSTMOptions(3, 4).num_layers(2).bidirectional(true).proj_size(2), &gen);
  const int64_t T = 6;
  const std::vector<int64_t> lens{6, 1, 3, 6};
  Tensor x = randn({T, 4, 3}, DType::F32, &gen), h0 = randn({4, 4, 2}, DType::F32, &gen),
         c0 = randn({4, 4, 4}, DType::F32, &gen);
  auto r = m.forward(x, h0, c0, from_vector(lens, {4}));
  for (int64_t b = 0; b < 4; ++b) {
    auto rb = m.forward(row(x, b, lens[b]), slice(h0, 1, b, b + 1).contiguous(), slice(c0, 1, b, b + 1).contiguous());
    EXPECT_LT(max_abs_diff(row(r.output, b, lens[b]), rb.output), 1e-6) << b;
    EXPECT_LT(max_abs_diff(slice(r.h_n, 1, b, b + 1).contiguous(), rb.h_n), 1e-6) << b;
    EXPECT_LT(max_abs_diff(slice(r.c_n, 1, b, b + 1).contiguous(), rb.c_n), 1e-6) << b;
    if (lens[b] < T) {
      Tensor pad = slice(slice(r.output, 1, b, b + 1), 0, lens[b], T).contiguous();
      EXPECT_EQ(max_abs_diff(pad, zeros(pad.shape())), 0.0) << b;
    }
  }
}

// ==================================================================== streaming
template <class M>
void expect_step_equals_forward(M& m, int64_t T, int64_t B, int64_t I, bool with_h0, Generator& gen,
                                const std::string& what) {
  Tensor x = randn({T, B, I}, DType::F32, &gen);
  auto state = m.initial_state(B);
  Tensor h0, c0;
  if (with_h0) {
    for (auto& h : state.h) h = randn(h.shape(), DType::F32, &gen);
    for (auto& c : state.c) c = randn(c.shape(), DType::F32, &gen);
    h0 = stack(state.h, 0);
    if (!state.c.empty()) c0 = stack(state.c, 0);
  }
  auto r = m.forward(x, h0, c0);
  const auto snapshot = state;  // copies are snapshots: step() replaces, never writes into, tensors
  const Tensor h_first = snapshot.h[0].clone();
  for (int64_t t = 0; t < T; ++t) {
    Tensor y = m.step(select(x, 0, t), state);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_LT(max_abs_diff(y, select(r.output, 0, t)), 1e-6) << what << " t=" << t;
  }
  EXPECT_LT(max_abs_diff(stack(state.h, 0), r.h_n), 1e-6) << what;
  if (r.c_n.defined()) EXPECT_LT(max_abs_diff(stack(state.c, 0), r.c_n), 1e-6) << what;
  EXPECT_EQ(max_abs_diff(snapshot.h[0], h_first), 0.0) << what;
}

TEST(RNNModules, StepEqualsForward) {
  Generator gen(14);
  nn::LSTM lstm(nn::LSTMOptions(3, 5).num_layers(2).proj_size(2), &gen);
  nn::LSTM peep(nn::LSTMOptions(3, 5).peephole(true).activation(Activation::Identity), &gen);
  nn::GRU gru(nn::GRUOptions(3, 5).num_layers(3), &gen);
  nn::RNN rnn(nn::RNNOptions(3, 5).num_layers(2).nonlinearity(Activation::Relu), &gen);
  nn::JordanRNN jordan(nn::JordanOptions(3, 5, 2).num_layers(2).output_activation(Activation::Sigmoid), &gen);
  for (bool h0 : {false, true}) {
    expect_step_equals_forward(lstm, 6, 3, 3, h0, gen, "lstm");
    expect_step_equals_forward(peep, 6, 3, 3, h0, gen, "peephole");
    expect_step_equals_forward(gru, 6, 1, 3, h0, gen, "gru");
    expect_step_equals_forward(rnn, 6, 2, 3, h0, gen, "rnn");
    expect_step_equals_forward(jordan, 6, 2, 3, h0, gen, "jordan");
  }
}

TEST(RNNModules, CellsEqualOneStepOfTheLayer) {
  Generator gen(15);
  nn::LSTMCell cell(nn::LSTMCellOptions(3, 4), &gen);
  nn::LSTM layer(nn::LSTMOptions(3, 4), &gen);
  layer.load_state_dict({{"weight_ih_l0", cell.weight_ih}, {"weight_hh_l0", cell.weight_hh},
                         {"bias_ih_l0", cell.bias_ih}, {"bias_hh_l0", cell.bias_hh}});
  Tensor x = randn({2, 3}, DType::F32, &gen), h = randn({2, 4}, DType::F32, &gen), c = randn({2, 4}, DType::F32, &gen);
  auto rc = cell.forward(x, h, c);
  auto rl = layer.forward(x.unsqueeze(0), h.unsqueeze(0), c.unsqueeze(0));
  EXPECT_LT(max_abs_diff(rc.h, rl.h_n.squeeze(0)), 1e-7);
  EXPECT_LT(max_abs_diff(rc.c, rl.c_n.squeeze(0)), 1e-7);
  // Unbatched (I) and zero default state.
  auto ru = cell.forward(select(x, 0, 1));
  auto rz = cell.forward(x, zeros({2, 4}), zeros({2, 4}));
  EXPECT_EQ(ru.h.shape(), (Shape{4}));
  EXPECT_EQ(max_abs_diff(ru.c, select(rz.c, 0, 1)), 0.0);
  // step() over a sequence equals chained forward().
  nn::GRUCell g(nn::GRUCellOptions(3, 4), &gen);
  auto s = g.initial_state(2);
  Tensor hg;
  for (int t = 0; t < 4; ++t) {
    Tensor xt = randn({2, 3}, DType::F32, &gen);
    hg = g.forward(xt, hg);
    Tensor y = g.step(xt, s);
    EXPECT_EQ(max_abs_diff(y, hg), 0.0);
  }
  EXPECT_TRUE(hg.requires_grad());
  // RNNCell works in a Sequential-style single-tensor call.
  nn::RNNCell rc1(nn::RNNCellOptions(3, 4), &gen);
  EXPECT_EQ(static_cast<nn::Module&>(rc1).forward(x).shape(), (Shape{2, 4}));
}

// ==================================================================== dropout between layers
// Two ReLU layers with identity input weights and no recurrence pass a positive x through, so the
// output shows the dropout mask between them exactly.
TEST(RNNModules, DropoutOnlyBetweenLayersAndOnlyInTraining) {
  const int64_t H = 64, T = 20, B = 16;
  const double p = 0.3;
  nn::RNN m(nn::RNNOptions(H, H).num_layers(2).nonlinearity(Activation::Relu).dropout(p).bias(false));
  std::vector<double> eye(H * H, 0.0);
  for (int64_t i = 0; i < H; ++i) eye[i * H + i] = 1.0;
  set_param(m.state_dict()["weight_ih_l0"], eye);
  set_param(m.state_dict()["weight_ih_l1"], eye);
  set_param(m.state_dict()["weight_hh_l0"], std::vector<double>(H * H, 0.0));
  set_param(m.state_dict()["weight_hh_l1"], std::vector<double>(H * H, 0.0));
  Generator gen(16);
  Tensor x = uniform({T, B, H}, 0.5, 1.5, DType::F32, &gen);
  m.eval();
  EXPECT_EQ(max_abs_diff(m.forward(x).output, x), 0.0);
  m.train();
  const auto y = m.forward(x).output.to_vector<double>(), xv = x.to_vector<double>();
  int64_t dropped = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (y[i] == 0.0) {
      ++dropped;
    } else {
      EXPECT_NEAR(y[i], xv[i] / (1 - p), 1e-5);
    }
  }
  const double frac = static_cast<double>(dropped) / y.size(), sd = std::sqrt(p * (1 - p) / y.size());
  EXPECT_NEAR(frac, p, 5 * sd);
  // One layer: no dropout after the last layer, even in training.
  nn::RNN one(nn::RNNOptions(H, H).nonlinearity(Activation::Relu).dropout(p).bias(false));
  set_param(one.state_dict()["weight_ih_l0"], eye);
  set_param(one.state_dict()["weight_hh_l0"], std::vector<double>(H * H, 0.0));
  EXPECT_EQ(max_abs_diff(one.forward(x).output, x), 0.0);
}

// ==================================================================== gradients
TEST(RNNModules, GradcheckThroughStackedModules) {
  Generator gen(17);
  nn::LSTM lstm(nn::LSTMOptions(2, 3).num_layers(2).bidirectional(true).proj_size(2).dtype(DType::F64), &gen);
  const Tensor len = from_vector(std::vector<int64_t>{4, 1, 3}, {3});
  gradcheck("LSTM x,h0,c0",
            [&](const TensorList& in) {
              auto r = lstm.forward(in[0], in[1], in[2], len);
              return cat({r.output.reshape({-1}), r.h_n.reshape({-1}), r.c_n.reshape({-1})}, 0);
            },
            {randn({4, 3, 2}, DType::F64, &gen), randn({4, 3, 2}, DType::F64, &gen), randn({4, 3, 3}, DType::F64, &gen)});
  nn::GRU gru(nn::GRUOptions(2, 3).num_layers(2).batch_first(true).dtype(DType::F64), &gen);
  gradcheck("GRU batch_first x,h0",
            [&](const TensorList& in) {
              auto r = gru.forward(in[0], in[1]);
              return cat({r.output.reshape({-1}), r.h_n.reshape({-1})}, 0);
            },
            {randn({2, 4, 2}, DType::F64, &gen), randn({2, 2, 3}, DType::F64, &gen)});
  nn::LSTMCell cell(nn::LSTMCellOptions(2, 3).dtype(DType::F64), &gen);
  gradcheck("LSTMCell x,h,c",
            [&](const TensorList& in) {
              auto r = cell.forward(in[0], in[1], in[2]);
              return cat({r.h.reshape({-1}), r.c.reshape({-1})}, 0);
            },
            {randn({2, 2}, DType::F64, &gen), randn({2, 3}, DType::F64, &gen), randn({2, 3}, DType::F64, &gen)});
}

// Every parameter of a stacked bidirectional module gets the finite-difference gradient of a
// scalar loss (the parameters are perturbed in place).
TEST(RNNModules, ParameterGradientsMatchFiniteDifferences) {
  Generator gen(18);
  nn::JordanRNN m(nn::JordanOptions(2, 3, 2).num_layers(2).bidirectional(true).output_activation(Activation::Tanh)
                      .dtype(DType::F64),
                  &gen);
  Tensor x = randn({3, 2, 2}, DType::F64, &gen);
  Tensor w = randn({3, 2, 4}, DType::F64, &gen);
  auto loss = [&] { return sum(m.forward(x).output * w); };
  m.zero_grad();
  loss().backward();
  const double eps = 1e-6;
  for (const auto& [k, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << k;
    const auto g = p.grad().to_vector<double>();
    for (int64_t i = 0; i < p.numel(); ++i) {
      double* v = p.data_ptr<double>() + i;
      const double orig = *v;
      NoGradGuard ng;
      *v = orig + eps;
      const double up = loss().item();
      *v = orig - eps;
      const double down = loss().item();
      *v = orig;
      EXPECT_NEAR(g[i], (up - down) / (2 * eps), 1e-6 + 1e-4 * std::fabs(g[i])) << k << "[" << i << "]";
    }
  }
}

// ==================================================================== the notes' hand-set LSTM
// One linear-memory cell (Identity activation) reading (x1, x2, x3): z = x1, input gate
// sigmoid(100 x2 - 10), forget gate sigmoid(100 x2 + 10), output gate sigmoid(100 x3 - 10). It
// adds x1 to memory when x2 = 1, clears it when x2 = -1, and shows it when x3 = 1.
TEST(RNNModules, HandSetLinearMemoryLSTM) {
  nn::LSTM m(nn::LSTMOptions(3, 1).activation(Activation::Identity));
  // Rows i, f, g, o of W_ih (4,3); W_hh = 0; b_ih = (-10, 10, 0, -10); b_hh = 0.
  set_param(m.state_dict()["weight_ih_l0"], {0, 100, 0, /**/ 0, 100, 0, /**/ 1, 0, 0, /**/ 0, 0, 100});
  set_param(m.state_dict()["weight_hh_l0"], {0, 0, 0, 0});
  set_param(m.state_dict()["bias_ih_l0"], {-10, 10, 0, -10});
  set_param(m.state_dict()["bias_hh_l0"], {0, 0, 0, 0});
  const std::vector<double> x1{1, 3, 2, 4, 2, 1, 3, 6, 1}, x2{0, 1, 0, 1, 0, 0, -1, 1, 0}, x3{0, 0, 0, 0, 0, 1, 0, 0, 1};
  std::vector<double> xs;
  for (size_t t = 0; t < x1.size(); ++t) xs.insert(xs.end(), {x1[t], x2[t], x3[t]});
  auto r = m.forward(from_vector(xs, {9, 3}).to(DType::F32));
  const std::vector<double> expected{0, 0, 0, 0, 0, 7, 0, 0, 6};
  const auto y = r.output.to_vector<double>();
  ASSERT_EQ(y.size(), 9u);
  for (size_t t = 0; t < 9; ++t) EXPECT_NEAR(y[t], expected[t], 1e-2) << "t=" << t;
}
