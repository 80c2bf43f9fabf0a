// scaled_dot_product_attention against a naive PyTorch 1.13 reference written in torch ops
// (scores, additive mask, softmax, matmul): outputs, weights and gradients, F32 and F64, random
// shapes incl. L=1 and B=1, every mask kind (built in C++ and passed to torch as an additive
// -inf/0 tensor), plus the fully masked row where PyTorch gives NaN and seqnn gives 0.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/torch_oracle.h"
#include "seqnn/attention.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// The naive reference: s = scale q k^T + structural (-inf/0) + float mask; softmax; @ v.
const char* kTorchSdpa = R"(
s = torch.matmul(q, k.transpose(-1, -2)) * args['scale'] + st
if 'm' in globals():
    s = s + m
p = torch.softmax(s, dim=-1)
out = (torch.matmul(p, v), p)
)";

struct ParityCase {
  DType dt;
  int64_t B, N, Lq, Lk, D, Dv;
  int kind;  // 0 none, 1 causal TL, 2 causal BR, 3 window, 4 lengths, 5 graph, 6 bool, 7 float (grad), 8 mixed
};

AttentionMask structural(const ParityCase& c, Generator& g) {
  AttentionMask m;
  switch (c.kind) {
    case 1: m.causal(); break;
    case 2: m.causal().align(MaskAlign::BottomRight); break;
    case 3: m.window(2, 1); break;
    case 4: {
      std::vector<int64_t> len;
      for (int64_t b = 0; b < c.B; ++b) len.push_back(1 + g.randint(0, c.Lk));
      m.key_lengths(from_vector(len, {c.B}));
      break;
    }
    case 5: {  // every row has an edge (incl. a duplicate)
      std::vector<int64_t> ptr{0}, idx;
      for (int64_t i = 0; i < c.Lq; ++i) {
        const int64_t deg = 1 + g.randint(0, 3);
        for (int64_t e = 0; e < deg; ++e) idx.push_back(g.randint(0, c.Lk));
        idx.push_back(idx.back());
        ptr.push_back(static_cast<int64_t>(idx.size()));
      }
      m.graph(from_vector(ptr, {c.Lq + 1}), from_vector(idx, {static_cast<int64_t>(idx.size())}));
      break;
    }
    case 6: {  // bool (B,1,Lq,Lk), key 0 always allowed
      std::vector<bool> v;
      for (int64_t e = 0; e < c.B * c.Lq * c.Lk; ++e) v.push_back(e % c.Lk != 0 && g.uniform() < 0.3);
      m.dense(from_vector(v, {c.B, 1, c.Lq, c.Lk}));
      break;
    }
    case 8: m.causal().window(3, 0).key_lengths(from_vector(std::vector<int64_t>(c.B, c.Lk), {c.B})); break;
    default: break;
  }
  return m;
}

}  // namespace

TEST(ParityAttentionOp, RandomShapesAndMasks) {
  Generator g(2024);
  std::vector<ParityCase> cases;
  for (int kind = 0; kind <= 8; ++kind)
    for (DType dt : {DType::F32, DType::F64}) {
      ParityCase c{dt, 1 + g.randint(0, 3), 1 + g.randint(0, 3), 1 + g.randint(0, 12), 1 + g.randint(0, 12),
                   1 + g.randint(0, 9), 1 + g.randint(0, 9), kind};
      if (kind == 2 && c.Lq > c.Lk) std::swap(c.Lq, c.Lk);  // bottom-right causal: no empty row
      if (kind == 3) c.Lk = c.Lq + g.randint(0, 4);        // a window around i: no empty row
      cases.push_back(c);
    }
  cases.push_back({DType::F32, 1, 1, 1, 1, 1, 1, 0});  // L=1, B=1
  cases.push_back({DType::F64, 1, 2, 1, 7, 4, 3, 1});
  cases.push_back({DType::F32, 2, 3, 40, 70, 16, 8, 8});

  std::vector<OracleCase> oc;
  struct Ours {
    Tensor q, k, v, m, out, w;
  };
  std::vector<Ours> ours;
  for (const auto& c : cases) {
    Ours o;
    o.q = randn({c.B, c.N, c.Lq, c.D}, c.dt, &g).requires_grad_();
    o.k = randn({c.B, c.N, c.Lk, c.D}, c.dt, &g).requires_grad_();
    o.v = randn({c.B, c.N, c.Lk, c.Dv}, c.dt, &g).requires_grad_();
    AttentionMask mask = structural(c, g);
    Tensor st = mask.additive(c.B, c.N, c.Lq, c.Lk, c.dt);
    if (c.kind == 7) {
      o.m = randn({c.N, c.Lq, c.Lk}, c.dt, &g).requires_grad_();
      mask.dense(o.m);
    }
    SDPAOptions opt;
    opt.need_weights = true;
    opt.scale = 1.0 / std::sqrt(static_cast<double>(c.D)) * (c.kind == 4 ? 1.7 : 1.0);
    auto r = scaled_dot_product_attention(o.q, o.k, o.v, mask, opt);
    o.out = r.output, o.w = r.weights;
    Tensor go = randn(o.out.shape(), c.dt, &g), gw = randn(o.w.shape(), c.dt, &g);
    autograd::backward({o.out, o.w}, {go, gw});
    OracleCase t;
    t.code = kTorchSdpa;
    t.inputs = {{"q", o.q}, {"k", o.k}, {"v", o.v}, {"st", st}};
    if (o.m.defined()) t.inputs.push_back({"m", o.m});
    t.grad_outs = {go, gw};
    t.args["scale"] = *opt.scale;
    oc.push_back(t);
    ours.push_back(o);
  }
  auto res = run_torch(oc);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string what = std::string(dtype_name(c.dt)) + " kind " + std::to_string(c.kind) + " (" +
                             std::to_string(c.B) + "," + std::to_string(c.N) + "," + std::to_string(c.Lq) + "," +
                             std::to_string(c.Lk) + "," + std::to_string(c.D) + "," + std::to_string(c.Dv) + ")";
    expect_close(ours[i].out, res[i].outs[0], 1e-5, what + " output");
    expect_close(ours[i].w, res[i].outs[1], 1e-5, what + " weights");
    expect_close(ours[i].q.grad(), res[i].grads["q"], 1e-4, what + " dq");
    expect_close(ours[i].k.grad(), res[i].grads["k"], 1e-4, what + " dk");
    expect_close(ours[i].v.grad(), res[i].grads["v"], 1e-4, what + " dv");
    if (ours[i].m.defined()) expect_close(ours[i].m.grad(), res[i].grads["m"], 1e-4, what + " dmask");
  }
}

TEST(ParityAttentionOp, FullyMaskedRowIsZeroWherePyTorchIsNaN) {
  Generator g(7);
  for (DType dt : {DType::F32, DType::F64}) {
    // batch 0 has key length 0: every row of it is fully masked
    const int64_t B = 2, N = 2, L = 5, D = 4;
    Tensor q = randn({B, N, L, D}, dt, &g).requires_grad_(), k = randn({B, N, L, D}, dt, &g).requires_grad_();
    Tensor v = randn({B, N, L, D}, dt, &g).requires_grad_();
    AttentionMask mask;
    mask.key_lengths(from_vector(std::vector<int64_t>{0, 3}, {2}));
    auto r = scaled_dot_product_attention(q, k, v, mask);
    r.output.sum().backward();
    OracleCase t;
    t.code = R"(
s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1]) + st
out = torch.matmul(torch.softmax(s, dim=-1), v)
extra['nan0'] = torch.isnan(out[0]).all().double().reshape(1)
)";
    t.inputs = {{"q", q.detach()}, {"k", k.detach()}, {"v", v.detach()}, {"st", mask.additive(B, N, L, L, dt)}};
    auto res = run_torch({t})[0];
    EXPECT_EQ(res.extra["nan0"].item(), 1.0) << "PyTorch should give NaN for fully masked rows";
    const auto ours = r.output.to_vector<double>(), theirs = res.outs[0].to_vector<double>();
    const int64_t half = N * L * D;
    for (int64_t e = 0; e < half; ++e) EXPECT_EQ(ours[e], 0.0) << "seqnn gives 0 on a fully masked row";
    double err = 0, scale = 1e-6;
    for (int64_t e = half; e < 2 * half; ++e)
      err = std::max(err, std::fabs(ours[e] - theirs[e])), scale = std::max(scale, std::fabs(theirs[e]));
    EXPECT_LE(err / scale, 1e-5) << "the unmasked batch matches PyTorch";
    for (double e : q.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(e));
    const auto dq = q.grad().to_vector<double>();
    for (int64_t e = 0; e < half; ++e) EXPECT_EQ(dq[e], 0.0);
  }
}
