// Whole-sequence fast path of recurrent_layer (kernels/recurrent_seq.h): each packed kernel
// against its naive reference (odd widths for partial panels, odd row ranges for every row
// block), the vectorised cell backward passes against kernels/recurrent.h's, and the float32
// op (fast path) against the float64 op (the generic path) on sizes that split rows over
// threads, ragged and bidirectional.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/recurrent.h"
#include "kernels/recurrent_seq.h"
#include "seqnn/autograd.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"

using namespace seqnn;
using kernels::StepCell;

namespace {

std::vector<float> rand_vec(int64_t n, Generator& gen, float scale = 1.0f) {
  auto v = randn({n}, DType::F32, &gen).to_vector<float>();
  for (auto& e : v) e *= scale;
  return v;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::fabs(a[i] - b[i]) / (1.0 + std::fabs(b[i])));
  return e;
}

// ==================================================================== forward step kernel
TEST(RecurrentSeqKernel, ForwardMatchesReference) {
  Generator gen(5);
  constexpr Activation kActs[] = {Activation::Tanh, Activation::Relu, Activation::Sigmoid, Activation::Identity};
  for (StepCell cell : {StepCell::RnnTanh, StepCell::RnnRelu, StepCell::Lstm, StepCell::Gru})
    for (Activation act : kActs)  // LSTM's activation of g and c (the other cells ignore it)
    for (bool extra : {false, true})  // LSTM: peephole; GRU: b_hn
      for (int64_t B : {1, 2, 3, 5, 7, 13})
        for (int64_t H : {1, 7, 16, 33, 70}) {
          if (act != Activation::Tanh && cell != StepCell::Lstm) continue;
          if (extra && cell != StepCell::Lstm && cell != StepCell::Gru) continue;
          const int64_t G = kernels::step_gates(cell), GH = G * H;
          const float sc = 1.0f / std::sqrt(static_cast<float>(H));
          auto whh = rand_vec(GH * H, gen, sc), g = rand_vec(B * GH, gen), h = rand_vec(B * H, gen);
          auto c = rand_vec(B * H, gen), peep = rand_vec(3 * H, gen, 0.5f), bhn = rand_vec(H, gen, sc);
          std::vector<float> packed(kernels::step_packed_size(cell, H, H));
          kernels::pack_step_weights(cell, whh.data(), H, H, packed.data());
          const bool lstm = cell == StepCell::Lstm, gru = cell == StepCell::Gru;
          const float* pp = lstm && extra ? peep.data() : nullptr;
          const float* bp = gru && extra ? bhn.data() : nullptr;
          const int64_t r0 = B > 2 ? 1 : 0, r1 = B > 3 ? B - 1 : B;  // rows outside stay untouched
          std::vector<float> g1 = g, g2 = g, h1(B * H, 7.0f), h2 = h1, c1(B * H, 7.0f), c2 = c1, n1(B * H, 7.0f),
                             n2 = n1;
          kernels::seq_forward_rows(cell, r0, r1, H, h.data(), g1.data(), c.data(), c1.data(), h1.data(), n1.data(),
                                    packed.data(), pp, bp, act);
          kernels::ref::seq_forward_rows(cell, r0, r1, H, h.data(), g2.data(), c.data(), c2.data(), h2.data(),
                                         n2.data(), whh.data(), pp, bp, act);
          const std::string what = "cell " + std::to_string(static_cast<int>(cell)) + " act " +
                                   std::to_string(static_cast<int>(act)) + " extra=" +
                                   std::to_string(extra) + " B=" + std::to_string(B) + " H=" + std::to_string(H);
          EXPECT_LT(rel_err(h1, h2), 2e-6) << what << " h";
          if (lstm || gru) EXPECT_LT(rel_err(g1, g2), 2e-6) << what << " gates";
          if (lstm) EXPECT_LT(rel_err(c1, c2), 2e-6) << what << " c";
          if (gru) EXPECT_LT(rel_err(n1, n2), 2e-6) << what << " hn";
        }
}

// ==================================================================== backward product
TEST(RecurrentSeqKernel, BackwardProductMatchesReference) {
  Generator gen(6);
  for (int64_t B : {1, 2, 5, 7, 13})
    for (int64_t R : {1, 7, 16, 33, 64, 70, 130})
      for (int64_t GH : {3, 28, 96})
        for (int init : {0, 1, 2}) {  // from 0, accumulate, from a bias row
          const bool acc = init == 1;
          auto w = rand_vec(GH * R, gen, 0.2f), dg = rand_vec(B * GH, gen), dh = rand_vec(B * R, gen);
          const auto bias = rand_vec(R, gen, 3.0f);
          std::vector<float> packed(kernels::seq_packed_t_size(GH, R));
          kernels::pack_seq_hidden_t(w.data(), GH, R, packed.data());
          const int64_t r0 = B > 2 ? 1 : 0, r1 = B > 3 ? B - 1 : B;
          std::vector<float> d1 = dh, d2 = dh;
          const float* b = init == 2 ? bias.data() : nullptr;
          kernels::seq_backward_gemm_rows(r0, r1, GH, R, dg.data(), packed.data(), d1.data(), acc, b);
          kernels::ref::seq_backward_gemm_rows(r0, r1, GH, R, dg.data(), w.data(), d2.data(), acc, b);
          EXPECT_LT(rel_err(d1, d2), 2e-6) << "B=" << B << " R=" << R << " GH=" << GH << " init=" << init;
          // rows outside [r0, r1) are untouched
          for (int64_t k = 0; k < r0 * R; ++k) EXPECT_EQ(d1[k], dh[k]);
          for (int64_t k = r1 * R; k < B * R; ++k) EXPECT_EQ(d1[k], dh[k]);
          if (init == 2 && R == 70 && GH == 3 && B == 5) {  // the bias really is the start: the ref off by it
            std::vector<float> d3 = dh;
            kernels::ref::seq_backward_gemm_rows(r0, r1, GH, R, dg.data(), w.data(), d3.data(), false);
            EXPECT_GT(rel_err(d1, d3), 0.1);
          }
        }
}

TEST(RecurrentSeqKernel, PackFromUntransposedEqualsPackOfTranspose) {
  Generator gen(7);
  for (int64_t R : {1, 7, 16, 33, 64, 70, 130})
    for (int64_t GH : {1, 3, 28, 96}) {
      const auto w = rand_vec(R * GH, gen);  // (R, GH)
      std::vector<float> wt(GH * R);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t m = 0; m < GH; ++m) wt[m * R + r] = w[r * GH + m];
      std::vector<float> a(kernels::seq_packed_t_size(GH, R), -1.0f), b(a.size(), -2.0f);
      kernels::pack_seq_hidden(w.data(), GH, R, a.data());
      kernels::pack_seq_hidden_t(wt.data(), GH, R, b.data());
      EXPECT_EQ(a, b) << "R=" << R << " GH=" << GH;
    }
}

// ==================================================================== cell backward passes
TEST(RecurrentSeqKernel, CellBackwardMatchesGeneric) {
  Generator gen(7);
  for (int64_t n : {1, 3})
    for (int64_t H : {1, 17, 64}) {
      auto sgm = [](std::vector<float> v) {
        for (auto& e : v) e = 1.0f / (1.0f + std::exp(-e));
        return v;
      };
      for (Activation act : {Activation::Tanh, Activation::Relu, Activation::Sigmoid, Activation::Identity})
        for (bool peep : {false, true}) {
          auto g = sgm(rand_vec(n * 4 * H, gen)), c = rand_vec(n * H, gen), cp = rand_vec(n * H, gen);
          for (int64_t b = 0; b < n; ++b)  // the g gate: act of a pre-activation in [-1.5, 1.5]
            for (int64_t j = 0; j < H; ++j) {
              float& u = g[b * 4 * H + 2 * H + j];
              const float a = u * 3 - 1.5f;
              switch (act) {
                case Activation::Tanh: u = std::tanh(a); break;
                case Activation::Relu: u = a > 0 ? a : 0; break;
                case Activation::Sigmoid: u = 1.0f / (1.0f + std::exp(-a)); break;
                case Activation::Identity: u = a; break;
              }
            }
          auto dh = rand_vec(n * H, gen), dc = rand_vec(n * H, gen), w = rand_vec(3 * H, gen);
          std::vector<float> dc1 = dc, dc2 = dc, dg1(n * 4 * H), dg2(n * 4 * H);
          kernels::lstm_cell_backward_fast(dh.data(), dc1.data(), g.data(), c.data(), cp.data(),
                                           peep ? w.data() : nullptr, dg1.data(), n, H, act);
          kernels::lstm_cell_backward<float>(dh.data(), dc2.data(), g.data(), c.data(), cp.data(),
                                             peep ? w.data() : nullptr, dg2.data(), n, H, act);
          const std::string what = "lstm act " + std::to_string(static_cast<int>(act)) + " n=" + std::to_string(n) +
                                   " H=" + std::to_string(H);
          EXPECT_LT(rel_err(dg1, dg2), 1e-6) << what;
          EXPECT_LT(rel_err(dc1, dc2), 1e-6) << what;
        }
      for (Activation act : {Activation::Tanh, Activation::Relu, Activation::Sigmoid, Activation::Identity})
        for (bool add : {false, true}) {  // the RNN / Jordan pass dg = (dh [+ add]) act'(h), float vs double
          const int64_t m = n * H;
          auto h = rand_vec(m, gen), dh = rand_vec(m, gen), ad = rand_vec(m, gen);
          if (act == Activation::Sigmoid) h = sgm(h);
          for (auto& e : h) {  // an output of act (the kernel takes act' from it)
            if (act == Activation::Tanh) e = std::tanh(e);
            if (act == Activation::Relu) e = e > 0 ? e : 0;
          }
          std::vector<float> dg(m), dg_alias = dh;
          std::vector<double> hd(h.begin(), h.end()), dhd(dh.begin(), dh.end()), add_d(ad.begin(), ad.end()), dgd(m);
          kernels::rnn_cell_backward<float>(dh.data(), h.data(), dg.data(), m, act, add ? ad.data() : nullptr);
          kernels::rnn_cell_backward<float>(dg_alias.data(), h.data(), dg_alias.data(), m, act,
                                            add ? ad.data() : nullptr);  // in place
          kernels::rnn_cell_backward<double>(dhd.data(), hd.data(), dgd.data(), m, act, add ? add_d.data() : nullptr);
          const std::vector<float> want(dgd.begin(), dgd.end());
          const std::string what = "rnn act " + std::to_string(static_cast<int>(act)) + " add=" +
                                   std::to_string(add) + " m=" + std::to_string(m);
          EXPECT_LT(rel_err(dg, want), 1e-6) << what;
          EXPECT_LT(rel_err(dg_alias, want), 1e-6) << what;
          if (add) {
            for (int64_t k = 0; k < m; ++k) {  // independent of the kernel: (dh + add) * act'(h)
              const double d = act == Activation::Tanh ? 1 - hd[k] * hd[k]
                               : act == Activation::Sigmoid ? hd[k] * (1 - hd[k])
                               : act == Activation::Relu ? (hd[k] > 0 ? 1.0 : 0.0) : 1.0;
              EXPECT_NEAR(dg[k], (dhd[k] + add_d[k]) * d, 1e-5 * (1 + std::fabs((dhd[k] + add_d[k]) * d))) << what;
            }
          }
        }
      auto g = sgm(rand_vec(n * 3 * H, gen)), hn = rand_vec(n * H, gen), hp = rand_vec(n * H, gen);
      auto dh = rand_vec(n * H, gen);
      std::vector<float> i1(n * 3 * H), i2 = i1, h1 = i1, h2 = i1, dp1 = dh, dp2 = dh;
      kernels::gru_cell_backward_fast(dp1.data(), g.data(), hn.data(), hp.data(), i1.data(), h1.data(), dp1.data(), n,
                                      H);  // in place, as the op calls it
      kernels::gru_cell_backward<float>(dh.data(), g.data(), hn.data(), hp.data(), i2.data(), h2.data(), dp2.data(),
                                        n, H);
      EXPECT_LT(rel_err(i1, i2), 1e-6) << "gru n=" << n << " H=" << H;
      EXPECT_LT(rel_err(h1, h2), 1e-6) << "gru n=" << n << " H=" << H;
      EXPECT_LT(rel_err(dp1, dp2), 1e-6) << "gru n=" << n << " H=" << H;
    }
}

// ==================================================================== the op: f32 fast vs f64
struct Case {
  const char* name;
  CellType cell;
  Activation act;
  bool peep, bias;
};

TEST(RecurrentSeqOp, Float32FastPathMatchesFloat64) {
  const Case cases[] = {{"LSTM", CellType::LSTM, Activation::Tanh, false, true},
                        {"LSTM peephole", CellType::LSTM, Activation::Tanh, true, true},
                        {"LSTM identity (linear memory)", CellType::LSTM, Activation::Identity, true, true},
                        {"LSTM relu", CellType::LSTM, Activation::Relu, false, true},
                        {"LSTM sigmoid", CellType::LSTM, Activation::Sigmoid, false, false},
                        {"GRU", CellType::GRU, Activation::Tanh, false, true},
                        {"GRU no bias", CellType::GRU, Activation::Tanh, false, false},
                        {"RNN tanh", CellType::RNN, Activation::Tanh, false, true},
                        {"RNN relu", CellType::RNN, Activation::Relu, false, true}};
  Generator gen(8);
  // T*B*GH*H >= 2^20 multiply-adds for LSTM and GRU: the rows are split over the threads
  const int64_t T = 14, B = 13, I = 9, H = 50;
  for (const Case& c : cases)
    for (int64_t D : {1, 2})
      for (bool ragged : {false, true}) {
        const std::string what = std::string(c.name) + " D=" + std::to_string(D) + (ragged ? " ragged" : "");
        RecurrentSpec spec;
        spec.cell = c.cell;
        spec.activation = c.act;
        const int64_t G = c.cell == CellType::LSTM ? 4 : c.cell == CellType::GRU ? 3 : 1;
        const double k = 1.0 / std::sqrt(static_cast<double>(H));
        std::vector<RecurrentWeights> w64(D);
        for (auto& w : w64) {
          w.w_ih = uniform({G * H, I}, -k, k, DType::F64, &gen);
          w.w_hh = uniform({G * H, H}, -k, k, DType::F64, &gen);
          if (c.bias) w.b_ih = uniform({G * H}, -k, k, DType::F64, &gen), w.b_hh = uniform({G * H}, -k, k, DType::F64, &gen);
          if (c.peep) w.w_peep = uniform({3, H}, -k, k, DType::F64, &gen);
        }
        const bool lstm = c.cell == CellType::LSTM;
        Tensor x64 = randn({T, B, I}, DType::F64, &gen), h064 = randn({D, B, H}, DType::F64, &gen);
        Tensor c064 = lstm ? randn({D, B, H}, DType::F64, &gen) : Tensor();
        Tensor gy64 = randn({T, B, D * H}, DType::F64, &gen), ghn64 = randn({D, B, H}, DType::F64, &gen);
        std::vector<int64_t> len(B, T);
        if (ragged)
          for (int64_t b = 0; b < B; ++b) len[b] = 1 + (b * 7) % T;
        const Tensor lengths = ragged ? from_vector(len, {B}) : Tensor();
        struct Res {
          std::vector<std::vector<double>> v;
        };
        auto run = [&](DType dt) {
          auto cv = [&](const Tensor& t) { return t.defined() ? t.to(dt).detach().requires_grad_() : Tensor(); };
          std::vector<RecurrentWeights> ws;
          for (const auto& w : w64)
            ws.push_back({cv(w.w_ih), cv(w.w_hh), cv(w.b_ih), cv(w.b_hh), Tensor(), cv(w.w_peep), Tensor(), Tensor()});
          Tensor x = cv(x64), h0 = cv(h064), c0 = cv(c064);
          RecurrentOutput o = recurrent_layer(spec, x, h0, c0, ws, lengths);
          autograd::backward({o.output, o.h_n}, {gy64.to(dt), ghn64.to(dt)});
          Res r;
          for (const Tensor& t : {o.output, o.h_n, x.grad(), h0.grad()}) r.v.push_back(t.to_vector<double>());
          if (lstm) r.v.push_back(c0.grad().to_vector<double>());
          for (const auto& w : ws)
            for (const Tensor* p : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh, &w.w_peep})
              if (p->defined()) r.v.push_back(p->grad().to_vector<double>());
          return r;
        };
        const Res a = run(DType::F32), b = run(DType::F64);
        ASSERT_EQ(a.v.size(), b.v.size());
        for (size_t i = 0; i < a.v.size(); ++i) {
          double e = 0, s = 0;
          for (size_t j = 0; j < a.v[i].size(); ++j) {
            e = std::max(e, std::fabs(a.v[i][j] - b.v[i][j]));
            s = std::max(s, std::fabs(b.v[i][j]));
          }
          // outputs (i < 2) 1e-5, gradients 1e-4, relative to the largest magnitude
          EXPECT_LT(e / std::max(s, 1e-30), i < 2 ? 1e-5 : 1e-4) << what << " result " << i;
        }
      }
}

}  // namespace
