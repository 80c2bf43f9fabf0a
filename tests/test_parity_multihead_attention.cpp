// nn::MultiheadAttention against torch.nn.MultiheadAttention (PyTorch 1.13) over random
// configurations: self and cross attention, kdim/vdim, add_bias_kv, add_zero_attn, bias(false),
// attn_mask 2-d/3-d bool/float, key_padding_mask bool (suffix and not) and float, batch_first,
// unbatched, need_weights averaged and per head, L=1 and B=1, training and eval mode (dropout 0),
// F32 and F64. Our state_dict loads into torch strictly (names, order, shapes). Forward and weights
// within 1e-5, gradients of q, k, v and every parameter within 1e-4. Eval mode under no_grad goes
// through torch's fused fast path (_native_multi_head_attention) and must give the same numbers.
// A fully masked row: torch returns NaN (pytorch/pytorch#41508), seqnn 0; checked explicitly.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "common/module_parity.h"
#include "common/torch_oracle.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

const char* kCode = R"(
a = args
m = nn.MultiheadAttention(a['E'], a['N'], dropout=0.0, bias=a['bias'], add_bias_kv=a['bkv'],
                          add_zero_attn=a['zattn'], kdim=a['kdim'], vdim=a['vdim'], batch_first=a['bf'])
m = load(m.to(q.dtype))
m.train(a['train'])
key, value = (q, q) if a['self'] else (k, v)
kw = dict(key_padding_mask=kpm if a['kpm'] else None, attn_mask=am if a['am'] else None,
          need_weights=a['nw'], average_attn_weights=a['avg'])
if a['nograd']:
    with torch.no_grad():
        y, w = m(q, key, value, **kw)
    out = [y, w] if w is not None else [y]
else:
    y, w = m(q, key, value, **kw)
    out = finish(m, [y, w], ['q'] if a['self'] else ['q', 'k', 'v'])
)";

}  // namespace

TEST(ParityMultiheadAttention, RandomConfigurationsForwardWeightsAndGradients) {
  ParityRng rng(4242);
  Generator gen(17);
  std::vector<ModuleCase> cases;
  std::vector<OracleCase> oracle;
  for (int n = 0; n < 64; ++n) {
    const DType dt = n % 4 == 3 ? DType::F64 : DType::F32;
    // Every 8th case: torch's eval fast path (batch_first, self, even heads, no attn_mask, no grad;
    // with bias, since torch 1.13's fast path crashes on bias=False).
    const bool fast = n % 8 == 6;
    const int64_t N = fast ? 2 * rng.uni(1, 2) : rng.uni(1, 4), D = rng.uni(1, 5), E = N * D;
    const bool unbatched = !fast && rng.coin(0.15);
    const int64_t B = unbatched ? 1 : rng.uni(1, 4), L = rng.coin(0.2) ? 1 : rng.uni(2, 7);
    const bool self = fast || rng.coin(0.4);
    const int64_t S = self ? L : (rng.coin(0.15) ? 1 : rng.uni(2, 7));
    const bool other_dims = !self && rng.coin(0.4);
    const int64_t kdim = other_dims ? rng.uni(1, 9) : E, vdim = other_dims ? rng.uni(1, 9) : E;
    const bool bias = fast || rng.coin(0.85), bkv = !fast && rng.coin(0.3), zattn = !fast && rng.coin(0.3);
    const bool bf = fast || rng.coin(), train = !fast && rng.coin();
    const bool nw = rng.coin(0.6), avg = rng.coin();
    // masks: attn_mask 0 none, 1 bool 2-d, 2 float 2-d, 3 bool 3-d, 4 float 3-d;
    //        key padding 0 none, 1 bool suffix, 2 bool scattered, 3 float (only without attn_mask)
    int am_kind = fast ? 0 : static_cast<int>(rng.uni(0, 4));
    int kpm_kind = static_cast<int>(rng.uni(0, fast ? 2 : 3));
    if (kpm_kind == 3 && am_kind != 0) am_kind = 0;  // torch 1.13 cannot merge a float kpm with attn_mask

    auto m = std::make_shared<nn::MultiheadAttention>(nn::MultiheadAttentionOptions(E, N)
                                                          .bias(bias).add_bias_kv(bkv).add_zero_attn(zattn)
                                                          .kdim(kdim).vdim(vdim).batch_first(bf).dtype(dt), &gen);
    m->train(train);
    auto shp = [&](int64_t T, int64_t F) { return unbatched ? Shape{T, F} : bf ? Shape{B, T, F} : Shape{T, B, F}; };
    Tensor q = randn(shp(L, E), dt, &gen), k, v;
    if (!self) {
      k = randn(shp(S, kdim), dt, &gen);
      v = randn(shp(S, vdim), dt, &gen);
    }
    // Key 0 stays allowed in every mask, so no row is fully masked (torch would give NaN).
    Tensor am, kpm;
    const int64_t H = unbatched ? N : B * N;
    if (am_kind == 1 || am_kind == 3) {
      am = bernoulli(am_kind == 1 ? Shape{L, S} : Shape{H, L, S}, 0.35, &gen);
      bool* p = am.data_ptr<bool>();
      for (int64_t r = 0; r < am.numel() / S; ++r) p[r * S] = false;
    } else if (am_kind == 2 || am_kind == 4) {
      am = randn(am_kind == 2 ? Shape{L, S} : Shape{H, L, S}, dt, &gen);
    }
    if (kpm_kind == 1 || kpm_kind == 2) {
      std::vector<bool> pad(B * S, false);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t len = rng.uni(1, S);
        for (int64_t j = 1; j < S; ++j) pad[b * S + j] = kpm_kind == 1 ? j >= len : rng.coin(0.35);
      }
      kpm = from_vector(pad, {B, S});
    } else if (kpm_kind == 3) {
      kpm = randn({B, S}, dt, &gen);
    }
    if (unbatched && kpm.defined()) kpm = kpm.reshape({S});

    ModuleCase c;
    c.module = m;
    c.backward = !fast;
    if (!fast) q.requires_grad_();
    c.inputs = {{"q", q}};
    if (!self) {
      k.requires_grad_();
      v.requires_grad_();
      c.inputs.push_back({"k", k});
      c.inputs.push_back({"v", v});
    }
    nn::MultiheadAttentionOutput r;
    if (fast) {
      NoGradGuard ng;
      m->eval();
      r = m->forward(q, q, q, kpm, nw, am, avg);
    } else {
      r = self ? m->forward(q, q, q, kpm, nw, am, avg) : m->forward(q, k, v, kpm, nw, am, avg);
    }
    c.outs = {r.output};
    if (nw) c.outs.push_back(r.weights);
    std::ostringstream what;
    what << "#" << n << (self ? " self" : " cross") << " E=" << E << " N=" << N << " L=" << L << " S=" << S
         << " B=" << B << " kdim=" << kdim << " vdim=" << vdim << (bias ? "" : " nobias") << (bkv ? " bias_kv" : "")
         << (zattn ? " zero_attn" : "") << (bf ? " batch_first" : "") << (unbatched ? " unbatched" : "")
         << (train ? " train" : " eval") << (fast ? " fastpath(no_grad)" : "") << " am=" << am_kind
         << " kpm=" << kpm_kind << (nw ? (avg ? " weights(avg)" : " weights(per-head)") : "") << " "
         << dtype_name(dt);
    c.what = what.str();
    TensorList gys;
    if (!fast) gys = backward_with_random_cotangents(c.outs, gen);
    nlohmann::json args = {{"E", E}, {"N", N}, {"bias", bias}, {"bkv", bkv}, {"zattn", zattn}, {"kdim", kdim},
                           {"vdim", vdim}, {"bf", bf}, {"train", train}, {"self", self}, {"kpm", kpm.defined()},
                           {"am", am.defined()}, {"nw", nw}, {"avg", avg}, {"nograd", fast}};
    std::vector<std::pair<std::string, Tensor>> more;
    if (am.defined()) more.push_back({"am", am});
    if (kpm.defined()) more.push_back({"kpm", kpm});
    oracle.push_back(module_oracle_case(c, gys, kCode, args, more));
    cases.push_back(std::move(c));
  }
  auto ref = run_torch(oracle);
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) compare_module_case(cases[i], ref[i]);
}

// A state_dict drawn by PyTorch loads into ours unchanged and gives torch's outputs.
TEST(ParityMultiheadAttention, TorchStateDictLoadsIntoOurs) {
  Generator gen(3);
  OracleCase oc;
  oc.code = R"(
torch.manual_seed(0)
m0 = nn.MultiheadAttention(8, 2)
m1 = nn.MultiheadAttention(8, 4, kdim=3, vdim=5, add_bias_kv=True, batch_first=True)
for i, m in enumerate([m0, m1]):
    for k_, v_ in m.state_dict().items():
        extra['m%d.%s' % (i, k_)] = v_
y0, w0 = m0(x, x, x)
y1, w1 = m1(xb, kb, vb, average_attn_weights=False)
out = [t.detach() for t in (y0, w0, y1, w1)]
)";
  const Tensor x = randn({5, 3, 8}, DType::F32, &gen), xb = randn({3, 5, 8}, DType::F32, &gen);
  const Tensor kb = randn({3, 4, 3}, DType::F32, &gen), vb = randn({3, 4, 5}, DType::F32, &gen);
  oc.inputs = {{"x", x}, {"xb", xb}, {"kb", kb}, {"vb", vb}};
  auto r = run_torch({oc})[0];
  nn::MultiheadAttention m0(nn::MultiheadAttentionOptions(8, 2));
  nn::MultiheadAttention m1(nn::MultiheadAttentionOptions(8, 4).kdim(3).vdim(5).add_bias_kv(true).batch_first(true));
  nn::Module* mods[2] = {&m0, &m1};
  for (int i = 0; i < 2; ++i) {
    nn::TensorDict sd;
    const std::string prefix = "m" + std::to_string(i) + ".";
    for (const auto& [k, v] : r.extra)
      if (k.rfind(prefix, 0) == 0) sd.insert(k.substr(prefix.size()), v);
    EXPECT_EQ(sd.size(), mods[i]->state_dict().size());
    mods[i]->load_state_dict(sd, true);
  }
  auto a = m0.forward(x, x, x);
  auto b = m1.forward(xb, kb, vb, Tensor(), true, Tensor(), false);
  expect_close(a.output, r.outs[0], 1e-5, "m0 output");
  expect_close(a.weights, r.outs[1], 1e-5, "m0 weights");
  expect_close(b.output, r.outs[2], 1e-5, "m1 output");
  expect_close(b.weights, r.outs[3], 1e-5, "m1 weights");
}

// Torch gives NaN for a query row with nothing to attend to; seqnn gives 0 (weights 0 too), and
// the other rows agree.
TEST(ParityMultiheadAttention, FullyMaskedRowTorchNaNSeqnnZero) {
  Generator gen(5);
  nn::MultiheadAttention m(nn::MultiheadAttentionOptions(6, 2), &gen);
  {
    NoGradGuard ng;
    for (Tensor p : {m.in_proj_bias, m.out_proj->bias}) p.copy_(randn(p.shape(), DType::F32, &gen));
  }
  const int64_t L = 3, S = 4, B = 2;
  const Tensor q = randn({L, B, 6}, DType::F32, &gen), kv = randn({S, B, 6}, DType::F32, &gen);
  // batch 1: every key padded; query 2: attn_mask masks every key.
  const Tensor kpm = from_vector(std::vector<bool>{false, false, true, false, true, true, true, true}, {B, S});
  const Tensor am = from_vector(std::vector<bool>{false, true, false, false, false, false, true, false,  //
                                                  true, true, true, true},
                                {L, S});
  auto r = m.forward(q, kv, kv, kpm, true, am, false);
  OracleCase oc;
  oc.code = std::string(kModuleParityPrelude) + R"(
m = load(nn.MultiheadAttention(6, 2))
y, w = m(q, kv, kv, key_padding_mask=kpm, attn_mask=am, average_attn_weights=False)
out = [y.detach(), w.detach()]
)";
  oc.inputs = {{"q", q}, {"kv", kv}, {"kpm", kpm}, {"am", am}};
  for (const auto& [k, t] : m.state_dict()) oc.state.push_back({k, t});
  auto t = run_torch({oc})[0];
  const auto ours = r.output.to_vector<double>(), theirs = t.outs[0].to_vector<double>();
  const auto bias = m.out_proj->bias.to_vector<double>();
  int nan_rows = 0;
  for (int64_t l = 0; l < L; ++l)
    for (int64_t b = 0; b < B; ++b) {
      const bool masked = b == 1 || l == 2;
      for (int64_t e = 0; e < 6; ++e) {
        const size_t i = (l * B + b) * 6 + e;
        if (masked) {
          EXPECT_TRUE(std::isnan(theirs[i])) << "torch l=" << l << " b=" << b;
          EXPECT_FLOAT_EQ(ours[i], bias[e]) << "seqnn: attention output 0, so out_proj gives its bias";
        } else {
          EXPECT_NEAR(ours[i], theirs[i], 1e-5) << "l=" << l << " b=" << b;
        }
      }
      nan_rows += masked;
    }
  EXPECT_EQ(nan_rows, 4);
  const auto w = r.weights.to_vector<double>(), tw = t.outs[1].to_vector<double>();
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t b = static_cast<int64_t>(i) / (2 * L * S), l = (static_cast<int64_t>(i) / S) % L;
    if (b == 1 || l == 2) {
      EXPECT_EQ(w[i], 0.0);
      EXPECT_TRUE(std::isnan(tw[i]));
    } else {
      EXPECT_NEAR(w[i], tw[i], 1e-6);
    }
  }
}
