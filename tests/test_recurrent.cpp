// recurrent_layer: the fused op against the naive whole-cell reference unrolled over time
// (forward and backward through time, F32 and F64, ragged, both directions), float64 gradient
// checks of every cell and variant, the notes' hand-set LSTM, and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "common/check.h"
#include "common/gradcheck.h"
#include "kernels/recurrent.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// ==================================================================== variants and weights

struct Variant {
  std::string name;
  RecurrentSpec spec;
  bool proj = false, peep = false, bias = true;
};

std::vector<Variant> all_variants() {
  auto sp = [](CellType c, Activation a = Activation::Tanh, Activation o = Activation::Identity) {
    RecurrentSpec s;
    s.cell = c;
    s.activation = a;
    s.output_activation = o;
    return s;
  };
  return {
      {"LSTM", sp(CellType::LSTM)},
      {"LSTM proj", sp(CellType::LSTM), true},
      {"LSTM peephole", sp(CellType::LSTM), false, true},
      {"LSTM peephole proj", sp(CellType::LSTM), true, true},  // float32: the projection's row-split path
      {"LSTM identity peephole proj", sp(CellType::LSTM, Activation::Identity), true, true},
      {"LSTM no bias", sp(CellType::LSTM), false, false, false},
      {"GRU", sp(CellType::GRU)},
      {"GRU no bias", sp(CellType::GRU), false, false, false},
      {"RNN tanh", sp(CellType::RNN)},
      {"RNN relu", sp(CellType::RNN, Activation::Relu)},
      {"Jordan tanh/identity", sp(CellType::Jordan)},
      {"Jordan sigmoid/tanh", sp(CellType::Jordan, Activation::Sigmoid, Activation::Tanh)},
  };
}

int64_t gates(CellType c) { return c == CellType::LSTM ? 4 : c == CellType::GRU ? 3 : 1; }

// R: the fed-back width (P with projection, O for Jordan, else H)
int64_t width_r(const Variant& v, int64_t H, int64_t PO) {
  return (v.proj || v.spec.cell == CellType::Jordan) ? PO : H;
}

std::vector<RecurrentWeights> make_weights(const Variant& v, int64_t I, int64_t H, int64_t PO, int64_t D, DType dt,
                                           Generator& gen) {
  const int64_t G = gates(v.spec.cell), R = width_r(v, H, PO);
  // +-0.6 for the small sizes; wide layers get PyTorch-like 1/sqrt(fan-in) scaling, or 24 steps of
  // a 70-unit tanh RNN are chaotic and an identity-output Jordan net explodes (float64 and the
  // reference then disagree through conditioning alone)
  const double a = std::min(0.6, 1.6 / std::sqrt(static_cast<double>(std::max(H, R))));
  std::vector<RecurrentWeights> ws(D);
  for (auto& w : ws) {
    w.w_ih = uniform({G * H, I}, -a, a, dt, &gen);
    w.w_hh = uniform({G * H, R}, -a, a, dt, &gen);
    if (v.bias) {
      w.b_ih = uniform({G * H}, -std::min(0.5, a), std::min(0.5, a), dt, &gen);
      w.b_hh = uniform({G * H}, -std::min(0.5, a), std::min(0.5, a), dt, &gen);
    }
    if (v.proj) w.w_hr = uniform({PO, H}, -a, a, dt, &gen);
    if (v.peep) w.w_peep = uniform({3, H}, -a, a, dt, &gen);
    if (v.spec.cell == CellType::Jordan) {
      w.w_ho = uniform({PO, H}, -a, a, dt, &gen);
      w.b_ho = uniform({PO}, -std::min(0.5, a), std::min(0.5, a), dt, &gen);
    }
  }
  return ws;
}

TensorList flat(const std::vector<RecurrentWeights>& ws) {
  TensorList out;
  for (const auto& w : ws)
    for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh, &w.w_hr, &w.w_peep, &w.w_ho, &w.b_ho})
      out.push_back(*t);
  return out;
}

std::vector<RecurrentWeights> unflat(const TensorList& in, size_t off, int64_t D) {
  std::vector<RecurrentWeights> ws(D);
  for (int64_t d = 0; d < D; ++d) {
    const Tensor* p = in.data() + off + 8 * d;
    ws[d] = {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]};
  }
  return ws;
}

// ==================================================================== unrolled reference

template <class T>
kernels::ref::CellParams<T> params_of(const RecurrentWeights& w) {
  auto p = [](const Tensor& t) -> const T* { return t.defined() ? t.data_ptr<T>() : nullptr; };
  return {p(w.w_ih), p(w.w_hh), p(w.b_ih), p(w.b_hh), p(w.w_hr), p(w.w_peep), p(w.w_ho), p(w.b_ho)};
}

struct RefResult {
  std::vector<double> out, hn, cn, dx, dh0, dc0;
  std::vector<std::vector<double>> dw;  // per flat weight (empty where undefined)
};

// The reference: every row b on its own (B=1 cells), the steps t < len[b] in the direction's
// order, then backward through time by chaining ref::cell_backward.
template <class T>
RefResult reference(const Variant& v, const Tensor& x, const Tensor& h0, const Tensor& c0,
                    const std::vector<RecurrentWeights>& ws, const std::vector<int64_t>& len, const Tensor& gout,
                    const Tensor& ghn, const Tensor& gcn) {
  const int64_t T_ = x.size(0), B = x.size(1), I = x.size(2), D = static_cast<int64_t>(ws.size());
  const int64_t H = ws[0].w_ih.size(0) / gates(v.spec.cell), R = ws[0].w_hh.size(1);
  const bool lstm = v.spec.cell == CellType::LSTM;
  const kernels::ref::CellDims dims{1, I, H, R};
  RefResult res;
  res.out.assign(T_ * B * D * R, 0);
  res.hn.assign(D * B * R, 0);
  res.cn.assign(D * B * H, 0);
  res.dx.assign(T_ * B * I, 0);
  res.dh0.assign(D * B * R, 0);
  res.dc0.assign(D * B * H, 0);
  const auto X = x.to_vector<T>(), GO = gout.to_vector<T>(), GH = ghn.to_vector<T>();
  const auto GC = lstm ? gcn.to_vector<T>() : std::vector<T>(D * B * H, T(0));
  const auto H0 = h0.defined() ? h0.to_vector<T>() : std::vector<T>(D * B * R, T(0));
  const auto C0 = c0.defined() ? c0.to_vector<T>() : std::vector<T>(D * B * H, T(0));
  const TensorList fw = flat(ws);
  std::vector<std::vector<T>> dw(fw.size());
  for (size_t k = 0; k < fw.size(); ++k)
    if (fw[k].defined()) dw[k].assign(fw[k].numel(), T(0));
  for (int64_t d = 0; d < D; ++d) {
    const auto p = params_of<T>(ws[d]);
    kernels::ref::CellGrads<T> g;
    T** gp[8] = {&g.w_ih, &g.w_hh, &g.b_ih, &g.b_hh, &g.w_hr, &g.w_peep, &g.w_ho, &g.b_ho};
    for (int k = 0; k < 8; ++k) *gp[k] = dw[8 * d + k].empty() ? nullptr : dw[8 * d + k].data();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t L = len[b];
      std::vector<int64_t> ts;
      for (int64_t s = 0; s < L; ++s) ts.push_back(d == 0 ? s : L - 1 - s);
      std::vector<std::vector<T>> hs(1, std::vector<T>(H0.begin() + (d * B + b) * R, H0.begin() + (d * B + b + 1) * R));
      std::vector<std::vector<T>> cs(1, std::vector<T>(C0.begin() + (d * B + b) * H, C0.begin() + (d * B + b + 1) * H));
      for (int64_t t : ts) {
        std::vector<T> h(R), c(H);
        kernels::ref::cell_forward<T>(v.spec, dims, p, X.data() + (t * B + b) * I, hs.back().data(), cs.back().data(),
                                      h.data(), c.data());
        for (int64_t k = 0; k < R; ++k) res.out[(t * B + b) * D * R + d * R + k] = h[k];
        hs.push_back(h);
        cs.push_back(c);
      }
      for (int64_t k = 0; k < R; ++k) res.hn[(d * B + b) * R + k] = hs.back()[k];
      for (int64_t k = 0; k < H; ++k) res.cn[(d * B + b) * H + k] = lstm ? cs.back()[k] : 0;
      std::vector<T> dh(GH.begin() + (d * B + b) * R, GH.begin() + (d * B + b + 1) * R);
      std::vector<T> dc(GC.begin() + (d * B + b) * H, GC.begin() + (d * B + b + 1) * H);
      for (int64_t s = L - 1; s >= 0; --s) {
        const int64_t t = ts[s];
        for (int64_t k = 0; k < R; ++k) dh[k] += GO[(t * B + b) * D * R + d * R + k];
        std::vector<T> dx(I), dhp(R), dcp(H);
        kernels::ref::cell_backward<T>(v.spec, dims, p, X.data() + (t * B + b) * I, hs[s].data(), cs[s].data(),
                                       dh.data(), dc.data(), dx.data(), dhp.data(), dcp.data(), g);
        for (int64_t i = 0; i < I; ++i) res.dx[(t * B + b) * I + i] += dx[i];
        dh = dhp;
        if (lstm) dc = dcp;
      }
      for (int64_t k = 0; k < R; ++k) res.dh0[(d * B + b) * R + k] = dh[k];
      for (int64_t k = 0; k < H; ++k) res.dc0[(d * B + b) * H + k] = lstm ? dc[k] : 0;
    }
  }
  for (auto& w : dw) res.dw.emplace_back(w.begin(), w.end());
  return res;
}

std::vector<double> vec(const Tensor& t) { return t.defined() ? t.to_vector<double>() : std::vector<double>(); }

}  // namespace

// ==================================================================== op vs unrolled reference

template <class F>
void op_vs_reference() {
  const DType dt = dtype_of<F>::value;
  const double tol = std::is_same_v<F, float> ? 2e-5 : 1e-11;
  Generator gen(17);
  struct Size {
    int64_t T, B, I, H, PO;
    std::vector<int64_t> len;  // empty: all T
  };
  const std::vector<Size> sizes = {
      {1, 1, 3, 4, 2, {}}, {5, 3, 4, 5, 3, {}}, {6, 4, 3, 7, 4, {2, 6, 1, 6}}, {4, 3, 2, 3, 2, {1, 3, 2}},
      // enough work for the fast paths to split the rows over two threads (T*B*G*H*R >= 2^20),
      // widths that are not multiples of the kernels' 16-lane panels, O != H for Jordan
      {24, 10, 6, 70, 72, {24, 3, 1, 17, 24, 9, 24, 2, 11, 20}}};
  for (const Variant& v : all_variants()) {
    for (const Size& z : sizes) {
      for (int64_t D : {1, 2}) {
        for (bool init : {false, true}) {
          const std::string what = v.name + " " + std::string(dtype_name(dt)) + " T" + std::to_string(z.T) + " B" +
                                   std::to_string(z.B) + " D" + std::to_string(D) + (init ? " h0" : "") +
                                   (z.len.empty() ? "" : " ragged");
          const int64_t R = width_r(v, z.H, z.PO);
          const bool lstm = v.spec.cell == CellType::LSTM;
          auto ws = make_weights(v, z.I, z.H, z.PO, D, dt, gen);
          Tensor x = randn({z.T, z.B, z.I}, dt, &gen).requires_grad_();
          Tensor h0 = init ? randn({D, z.B, R}, dt, &gen).requires_grad_() : Tensor();
          Tensor c0 = init && lstm ? randn({D, z.B, z.H}, dt, &gen).requires_grad_() : Tensor();
          for (Tensor& t : flat(ws))
            if (t.defined()) t.requires_grad_();
          const std::vector<int64_t> len = z.len.empty() ? std::vector<int64_t>(z.B, z.T) : z.len;
          const Tensor lengths = z.len.empty() ? Tensor() : from_vector(len, {z.B});
          RecurrentOutput o = recurrent_layer(v.spec, x, h0, c0, ws, lengths);
          Tensor gout = randn({z.T, z.B, D * R}, dt, &gen), ghn = randn({D, z.B, R}, dt, &gen);
          Tensor gcn = lstm ? randn({D, z.B, z.H}, dt, &gen) : Tensor();
          // padded outputs take no gradient in the reference; give them some anyway
          TensorList roots{o.output, o.h_n}, groots{gout, ghn};
          if (lstm) roots.push_back(o.c_n), groots.push_back(gcn);
          autograd::backward(roots, groots);
          const RefResult r = reference<F>(v, x, h0, c0, ws, len, gout, ghn, gcn);
          EXPECT_LT(max_rel_err(vec(o.output), r.out), tol) << what << " output";
          EXPECT_LT(max_rel_err(vec(o.h_n), r.hn), tol) << what << " h_n";
          if (lstm) EXPECT_LT(max_rel_err(vec(o.c_n), r.cn), tol) << what << " c_n";
          EXPECT_LT(max_rel_err(vec(x.grad()), r.dx), 10 * tol) << what << " dx";
          if (init) EXPECT_LT(max_rel_err(vec(h0.grad()), r.dh0), 10 * tol) << what << " dh0";
          if (init && lstm) EXPECT_LT(max_rel_err(vec(c0.grad()), r.dc0), 10 * tol) << what << " dc0";
          const TensorList fw = flat(ws);
          for (size_t k = 0; k < fw.size(); ++k) {
            if (!fw[k].defined()) continue;
            EXPECT_LT(max_rel_err(vec(fw[k].grad()), r.dw[k]), 10 * tol) << what << " dweight " << k;
          }
        }
      }
    }
  }
}

TEST(RecurrentLayer, MatchesUnrolledReferenceF64) { op_vs_reference<double>(); }
TEST(RecurrentLayer, MatchesUnrolledReferenceF32) { op_vs_reference<float>(); }

// ==================================================================== gradient checks

// All outputs flattened into one tensor, so one cotangent covers output, h_n and c_n.
Tensor all_outputs(const RecurrentOutput& o) {
  TensorList parts{reshape(o.output, {-1}), reshape(o.h_n, {-1})};
  if (o.c_n.defined()) parts.push_back(reshape(o.c_n, {-1}));
  return cat(parts, 0);
}

TEST(RecurrentLayer, Gradcheck) {
  Generator gen(23);
  for (const Variant& v : all_variants()) {
    for (int64_t D : {1, 2}) {
      for (bool init : {false, true}) {
        for (bool ragged : {false, true}) {
          const int64_t T_ = ragged ? 5 : 3, B = ragged ? 3 : 2, I = 3, H = 4, PO = 3;
          const int64_t R = width_r(v, H, PO);
          const bool lstm = v.spec.cell == CellType::LSTM;
          const std::vector<int64_t> len = {3, 5, 1};  // a full-length row, a length-1 row
          const Tensor lengths = ragged ? from_vector(len, {B}) : Tensor();
          TensorList in{randn({T_, B, I}, DType::F64, &gen), init ? randn({D, B, R}, DType::F64, &gen) : Tensor(),
                        init && lstm ? randn({D, B, H}, DType::F64, &gen) : Tensor()};
          for (const Tensor& t : flat(make_weights(v, I, H, PO, D, DType::F64, gen))) in.push_back(t);
          const std::string what = v.name + " D" + std::to_string(D) + (init ? " h0" : "") + (ragged ? " ragged" : "");
          gradcheck(
              what,
              [&](const TensorList& a) {
                return all_outputs(recurrent_layer(v.spec, a[0], a[1], a[2], unflat(a, 3, D), lengths));
              },
              in);
        }
      }
    }
  }
}

// Gradients through a subset of the outputs (h_n only, c_n only): the others count as zero.
TEST(RecurrentLayer, GradcheckSubsetOfOutputs) {
  Generator gen(29);
  RecurrentSpec spec;  // LSTM
  Variant v{"LSTM", spec};
  TensorList in{randn({4, 2, 3}, DType::F64, &gen), randn({2, 2, 4}, DType::F64, &gen),
                randn({2, 2, 4}, DType::F64, &gen)};
  for (const Tensor& t : flat(make_weights(v, 3, 4, 0, 2, DType::F64, gen))) in.push_back(t);
  const Tensor lengths = from_vector(std::vector<int64_t>{2, 4}, {2});
  gradcheck(
      "h_n only",
      [&](const TensorList& a) { return recurrent_layer(spec, a[0], a[1], a[2], unflat(a, 3, 2), lengths).h_n; }, in);
  gradcheck(
      "c_n only",
      [&](const TensorList& a) { return recurrent_layer(spec, a[0], a[1], a[2], unflat(a, 3, 2), lengths).c_n; }, in);
  gradcheck(
      "output only",
      [&](const TensorList& a) { return recurrent_layer(spec, a[0], a[1], a[2], unflat(a, 3, 2), lengths).output; },
      in);
}

// ==================================================================== the notes' hand-set LSTM

// One memory cell with a linear squash: input z = x1; input gate sigmoid(100 x2 - 10) and forget
// gate sigmoid(100 x2 + 10) write on x2 = 1, hold on 0 and reset on -1; the output gate
// sigmoid(100 x3 - 10) reads on x3 = 1.
TEST(RecurrentLayer, HandSetLSTM) {
  for (DType dt : {DType::F32, DType::F64}) {
    RecurrentSpec spec;
    spec.activation = Activation::Identity;
    RecurrentWeights w;
    // rows i, f, g, o; columns x1, x2, x3
    w.w_ih = from_vector(std::vector<double>{0, 100, 0, 0, 100, 0, 1, 0, 0, 0, 0, 100}, {4, 3}).to(dt);
    w.w_hh = zeros({4, 1}, dt);
    w.b_ih = from_vector(std::vector<double>{-10, 10, 0, -10}, {4}).to(dt);
    const std::vector<double> x1 = {1, 3, 2, 4, 2, 1, 3, 6, 1}, x2 = {0, 1, 0, 1, 0, 0, -1, 1, 0},
                              x3 = {0, 0, 0, 0, 0, 1, 0, 0, 1}, want = {0, 0, 0, 0, 0, 7, 0, 0, 6};
    std::vector<double> xv;
    for (size_t t = 0; t < x1.size(); ++t) xv.insert(xv.end(), {x1[t], x2[t], x3[t]});
    const Tensor x = from_vector(xv, {9, 1, 3}).to(dt);
    const auto y = recurrent_layer(spec, x, Tensor(), Tensor(), {w}).output.to_vector<double>();
    ASSERT_EQ(y.size(), want.size());
    for (size_t t = 0; t < want.size(); ++t) EXPECT_NEAR(y[t], want[t], 1e-2) << "t=" << t << " " << dtype_name(dt);
  }
}

// ==================================================================== ragged semantics

// Rows past their length output zero; h_n is the state after the last valid step; the reverse
// direction of a row of length L equals the reverse direction run on that row's first L steps.
TEST(RecurrentLayer, RaggedMatchesTruncatedRuns) {
  Generator gen(31);
  RecurrentSpec spec;
  Variant v{"LSTM", spec};
  auto ws = make_weights(v, 3, 4, 0, 2, DType::F64, gen);
  const Tensor x = randn({5, 2, 3}, DType::F64, &gen);
  const RecurrentOutput o =
      recurrent_layer(spec, x, Tensor(), Tensor(), ws, from_vector(std::vector<int64_t>{2, 5}, {2}));
  // row 0 alone, 2 steps
  const auto xv = x.to_vector<double>();
  std::vector<double> x0;
  for (int t = 0; t < 2; ++t) x0.insert(x0.end(), xv.begin() + (t * 2) * 3, xv.begin() + (t * 2) * 3 + 3);
  const RecurrentOutput o0 = recurrent_layer(spec, from_vector(x0, {2, 1, 3}), Tensor(), Tensor(), ws);
  const auto y = o.output.to_vector<double>(), y0 = o0.output.to_vector<double>();
  for (int t = 0; t < 5; ++t)
    for (int k = 0; k < 8; ++k) {
      const double got = y[(t * 2 + 0) * 8 + k];
      EXPECT_NEAR(got, t < 2 ? y0[t * 8 + k] : 0.0, 1e-12) << "t=" << t << " k=" << k;
    }
  const auto hn = o.h_n.to_vector<double>(), hn0 = o0.h_n.to_vector<double>();
  for (int d = 0; d < 2; ++d)
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(hn[(d * 2 + 0) * 4 + k], hn0[d * 4 + k], 1e-12);
}

// ==================================================================== bad input

TEST(RecurrentLayer, BadInput) {
  Generator gen(37);
  RecurrentSpec lstm;
  Variant v{"LSTM", lstm};
  auto ws = make_weights(v, 3, 4, 0, 1, DType::F32, gen);
  const Tensor x = randn({5, 2, 3}, DType::F32, &gen);
  auto run = [&](const RecurrentSpec& s, const Tensor& xx, const Tensor& h0, const Tensor& c0,
                 const std::vector<RecurrentWeights>& w,
                 const Tensor& len = Tensor()) { return [=]() { recurrent_layer(s, xx, h0, c0, w, len); }; };
  const std::string op = "recurrent_layer";
  expect_error(run(lstm, randn({5, 3}, DType::F32, &gen), {}, {}, ws), op, "must be 3-d (T,B,I)");
  expect_error(run(lstm, randn({5, 2, 4}, DType::F32, &gen), {}, {}, ws), op, "w_ih (16,3) must be (16,4)");
  expect_error(run(lstm, x, zeros({1, 3, 4}), {}, ws), op, "h0 (1,3,4) must be (D,B,R) = (1,2,4)");
  expect_error(run(lstm, x, {}, zeros({1, 2, 5}), ws), op, "c0 (1,2,5) must be (D,B,H) = (1,2,4)");
  expect_error(run(lstm, x, {}, {}, {}), op, "1 or 2 directions, got 0");
  expect_error(run(lstm, x, {}, {}, {ws[0], ws[0], ws[0]}), op, "1 or 2 directions, got 3");
  expect_error(run(lstm, x.to(DType::F64), {}, {}, ws), op, "dtype mismatch");
  expect_error(run(lstm, x, zeros({1, 2, 4}, DType::F64), {}, ws), op, "dtype mismatch");
  expect_error(run(lstm, x, {}, {}, ws, from_vector(std::vector<int64_t>{0, 5}, {2})), op, "in [1, T=5], got 0");
  expect_error(run(lstm, x, {}, {}, ws, from_vector(std::vector<int64_t>{6, 5}, {2})), op, "in [1, T=5], got 6");
  expect_error(run(lstm, x, {}, {}, ws, from_vector(std::vector<int64_t>{5, 5, 5}, {3})), op,
               "lengths (3) must be (B=2)");
  expect_error(run(lstm, x, {}, {}, ws, from_vector(std::vector<double>{5, 5}, {2})), op, "lengths must be int64");
  auto wbad = ws;
  wbad[0].w_hh = zeros({16, 5});
  expect_error(run(lstm, x, {}, {}, wbad), op, "w_hh (16,5) must be (16,4)");
  wbad = ws;
  wbad[0].b_ih = zeros({15});
  expect_error(run(lstm, x, {}, {}, wbad), op, "b_ih (15) must be (16)");
  wbad = ws;
  wbad[0].w_peep = zeros({2, 4});
  expect_error(run(lstm, x, {}, {}, wbad), op, "w_peep (2,4) must be (3,H=4)");
  // variants for the wrong cell
  RecurrentSpec gru;
  gru.cell = CellType::GRU;
  auto wg = make_weights(Variant{"GRU", gru}, 3, 4, 0, 1, DType::F32, gen);
  expect_error(run(gru, x, {}, zeros({1, 2, 4}), wg), op, "c0 is for LSTM only");
  auto wgp = wg;
  wgp[0].w_peep = zeros({3, 4});
  expect_error(run(gru, x, {}, {}, wgp), op, "peephole w_peep is for LSTM only");
  wgp = wg;
  wgp[0].w_hr = zeros({2, 4});
  expect_error(run(gru, x, {}, {}, wgp), op, "projection w_hr is for LSTM only");
  RecurrentSpec jordan;
  jordan.cell = CellType::Jordan;
  RecurrentWeights wj{zeros({4, 3}), zeros({4, 2}), {}, {}, {}, {}, {}, {}};
  expect_error(run(jordan, x, {}, {}, {wj}), op, "Jordan needs w_ho");
  wj.w_ho = zeros({3, 4});
  expect_error(run(jordan, x, {}, {}, {wj}), op, "w_hh (4,2) must be (4,3)");
  // directions disagree
  auto w2 = make_weights(v, 3, 5, 0, 1, DType::F32, gen);
  expect_error(run(lstm, x, {}, {}, {ws[0], w2[0]}), op, "direction 1");
}
