// nn::TransformerEncoderLayer / DecoderLayer / Encoder / Decoder / Transformer against torch.nn
// (PyTorch 1.13) over random configurations: post-norm and pre-norm, relu and gelu, batch_first,
// layer_norm_eps, 1-2 layers with and without the final norm, masks (float square-subsequent,
// random bool, random float attn masks; suffix and scattered bool key padding), L=1 and B=1,
// training and eval mode (dropout 0), F32 and F64. Some cases pass the masks to seqnn as
// AttentionMask (causal / dense) while torch gets the tensors. Our state_dict loads into torch
// strictly; forward within 1e-5 and the gradients of the inputs and every parameter within 1e-4.
// Eval cases under no_grad take torch's fused fast paths (_transformer_encoder_layer_fwd,
// _native_multi_head_attention) and must give the same numbers.
#include <gtest/gtest.h>

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
kw = dict(dim_feedforward=a['ff'], dropout=0.0, activation=a['act'], layer_norm_eps=a['eps'],
          batch_first=a['bf'], norm_first=a['nf'])
E, N, kind = a['E'], a['N'], a['kind']
def fin_norm():
    return nn.LayerNorm(E, eps=a['eps']) if a['norm'] else None
if kind == 'enc_layer':
    m = nn.TransformerEncoderLayer(E, N, **kw)
elif kind == 'dec_layer':
    m = nn.TransformerDecoderLayer(E, N, **kw)
elif kind == 'encoder':
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, N, **kw), a['layers'], norm=fin_norm())
elif kind == 'decoder':
    m = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, N, **kw), a['layers'], norm=fin_norm())
else:
    m = nn.Transformer(E, N, a['layers'], a['dlayers'], **kw)
m = load(m.to(a_dtype))
m.train(a['train'])
M = lambda n: globals().get(n)
def run():
    if kind == 'enc_layer':
        return m(src, src_mask=M('sm'), src_key_padding_mask=M('skpm'))
    if kind == 'encoder':
        return m(src, mask=M('sm'), src_key_padding_mask=M('skpm'))
    if kind in ('dec_layer', 'decoder'):
        return m(tgt, mem, tgt_mask=M('tm'), memory_mask=M('mm'), tgt_key_padding_mask=M('tkpm'),
                 memory_key_padding_mask=M('mkpm'))
    return m(src, tgt, src_mask=M('sm'), tgt_mask=M('tm'), memory_mask=M('mm'), src_key_padding_mask=M('skpm'),
             tgt_key_padding_mask=M('tkpm'), memory_key_padding_mask=M('mkpm'))
if a['nograd']:
    with torch.no_grad():
        out = [run()]
else:
    out = finish(m, [run()], [n for n in ('src', 'tgt', 'mem') if n in globals()])
)";

const char* kKinds[] = {"enc_layer", "dec_layer", "encoder", "decoder", "transformer"};

}  // namespace

TEST(ParityTransformer, RandomConfigurationsForwardAndGradients) {
  ParityRng rng(777);
  Generator gen(23);
  std::vector<ModuleCase> cases;
  std::vector<OracleCase> oracle;
  for (int n = 0; n < 50; ++n) {
    const int kind = n % 5;
    const DType dt = n % 3 == 2 ? DType::F64 : DType::F32;
    // Every 5th round of kinds: eval under no_grad (torch's fast paths where they apply:
    // batch_first, post-norm, even heads, at most one of src_mask / key padding).
    const bool fast = (n / 5) % 5 == 4;
    // LayerNorm over d_model = 2 maps every input to about (+-1) * weight + bias: its true input
    // gradient is O(eps), so float32 gradients through it are rounding noise. d_model >= 3 in F32.
    const int64_t N = fast ? 2 : rng.uni(1, 3);
    int64_t D = rng.uni(1, 4);
    if (dt == DType::F32 && N * D < 3) D = (3 + N - 1) / N;
    const int64_t E = N * D, ff = rng.uni(1, 12);
    const bool bf = fast || rng.coin(), nf = !fast && rng.coin(), gelu = rng.coin(), train = !fast && rng.coin();
    const double eps = rng.coin(0.7) ? 1e-5 : 1e-3;
    const int64_t layers = rng.uni(1, 2), dlayers = rng.uni(1, 2);
    const bool norm = rng.coin();
    const int64_t B = rng.coin(0.25) ? 1 : rng.uni(2, 3);
    const int64_t L = rng.coin(0.2) ? 1 : rng.uni(2, 6), T = rng.coin(0.2) ? 1 : rng.uni(2, 6);
    const bool structural = !fast && rng.coin(0.35);  // seqnn gets AttentionMask objects

    nn::TransformerLayerOptions lo = nn::TransformerLayerOptions(E, N).dim_feedforward(ff).dropout(0.0)
                                         .activation(gelu ? "gelu" : "relu").layer_norm_eps(eps).batch_first(bf)
                                         .norm_first(nf).dtype(dt);
    const bool has_src = kind == 0 || kind == 2 || kind == 4, has_tgt = kind == 1 || kind == 3 || kind == 4;
    auto seq = [&](int64_t len) { return bf ? Shape{B, len, E} : Shape{len, B, E}; };
    Tensor src, tgt, mem, sm, skpm, tm, tkpm, mm, mkpm;
    AttentionMask smask, tmask, mmask;
    if (has_src) src = randn(seq(L), dt, &gen).requires_grad_(!fast);
    if (has_tgt) tgt = randn(seq(T), dt, &gen).requires_grad_(!fast);
    if (kind == 1 || kind == 3) mem = randn(seq(L), dt, &gen).requires_grad_(!fast);
    // Masks keep key 0 allowed for every query (no fully masked rows: torch gives NaN there).
    auto bool_mask = [&](int64_t r, int64_t c) {
      Tensor m = bernoulli({r, c}, 0.3, &gen);
      for (int64_t i = 0; i < r; ++i) m.data_ptr<bool>()[i * c] = false;
      return m;
    };
    auto padding = [&](int64_t len, bool suffix) {
      std::vector<bool> pad(B * len, false);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t keep = rng.uni(1, len);
        for (int64_t j = 1; j < len; ++j) pad[b * len + j] = suffix ? j >= keep : rng.coin(0.3);
      }
      return from_vector(pad, {B, len});
    };
    const int sk = static_cast<int>(rng.uni(0, 2));  // src: 0 none, 1 mask, 2 key padding, (3 both when not fast)
    const bool src_both = !fast && rng.coin(0.3);
    if (has_src) {
      if (sk == 1 || src_both) {
        if (rng.coin()) {
          sm = randn({L, L}, dt, &gen);
          smask.dense(sm);
        } else {
          sm = bool_mask(L, L);
          smask.dense(sm);
        }
      }
      if (sk == 2 || src_both) skpm = padding(L, rng.coin());
    }
    if (has_tgt) {
      if (!fast || rng.coin()) {
        tm = nn::generate_square_subsequent_mask(T, dt);
        tmask.causal();
      }
      if (!fast && rng.coin(0.4)) tkpm = padding(T, rng.coin());
      if (!fast && rng.coin(0.4)) {
        mm = rng.coin() ? bool_mask(T, L) : randn({T, L}, dt, &gen);
        mmask.dense(mm);
      }
      if (rng.coin(0.4)) mkpm = padding(L, rng.coin());
    }
    // In torch's encoder fast path a key-padded batch becomes a nested tensor whose padded
    // positions come back as 0 (then the final norm): a documented difference, kept out of here.
    if (fast && kind == 2) skpm = Tensor();
    if (fast && kind == 4) skpm = Tensor();

    std::shared_ptr<nn::Module> mod;
    Tensor y;
    auto run = [&]() -> Tensor {
      switch (kind) {
        case 0: {
          auto m = std::make_shared<nn::TransformerEncoderLayer>(lo, &gen);
          mod = m;
          m->train(train);
          return structural ? m->forward(src, smask, skpm) : m->forward(src, sm, skpm);
        }
        case 1: {
          auto m = std::make_shared<nn::TransformerDecoderLayer>(lo, &gen);
          mod = m;
          m->train(train);
          return structural ? m->forward(tgt, mem, tmask, mmask, tkpm, mkpm) : m->forward(tgt, mem, tm, mm, tkpm, mkpm);
        }
        case 2: {
          auto m = std::make_shared<nn::TransformerEncoder>(nn::TransformerStackOptions(lo, layers).norm(norm), &gen);
          mod = m;
          m->train(train);
          return structural ? m->forward(src, smask, skpm) : m->forward(src, sm, skpm);
        }
        case 3: {
          auto m = std::make_shared<nn::TransformerDecoder>(nn::TransformerStackOptions(lo, layers).norm(norm), &gen);
          mod = m;
          m->train(train);
          return structural ? m->forward(tgt, mem, tmask, mmask, tkpm, mkpm) : m->forward(tgt, mem, tm, mm, tkpm, mkpm);
        }
        default: {
          nn::TransformerOptions to = nn::TransformerOptions(E, N).num_encoder_layers(layers).num_decoder_layers(dlayers)
                                          .dim_feedforward(ff).dropout(0.0).activation(gelu ? "gelu" : "relu")
                                          .layer_norm_eps(eps).batch_first(bf).norm_first(nf).dtype(dt);
          auto m = std::make_shared<nn::Transformer>(to, &gen);
          mod = m;
          m->train(train);
          if (structural) {
            nn::TransformerMasks masks{smask, tmask, mmask, skpm, tkpm, mkpm};
            return m->forward(src, tgt, masks);
          }
          return m->forward(src, tgt, sm, tm, mm, skpm, tkpm, mkpm);
        }
      }
    };
    if (fast) {
      NoGradGuard ng;
      y = run();
    } else {
      y = run();
    }
    ModuleCase c;
    c.module = mod;
    c.backward = !fast;
    if (src.defined()) c.inputs.push_back({"src", src});
    if (tgt.defined()) c.inputs.push_back({"tgt", tgt});
    if (mem.defined()) c.inputs.push_back({"mem", mem});
    c.outs = {y};
    std::ostringstream what;
    what << "#" << n << " " << kKinds[kind] << " E=" << E << " N=" << N << " ff=" << ff << " B=" << B << " L=" << L
         << " T=" << T << " layers=" << layers << "/" << dlayers << (norm ? " norm" : "") << (nf ? " pre-norm" : " post-norm")
         << (gelu ? " gelu" : " relu") << " eps=" << eps << (bf ? " batch_first" : "") << (train ? " train" : " eval")
         << (fast ? " no_grad(fast path)" : "") << (structural ? " AttentionMask" : "") << (sm.defined() ? " sm" : "")
         << (skpm.defined() ? " skpm" : "") << (tm.defined() ? " tm" : "") << (tkpm.defined() ? " tkpm" : "")
         << (mm.defined() ? " mm" : "") << (mkpm.defined() ? " mkpm" : "") << " " << dtype_name(dt);
    c.what = what.str();
    TensorList gys;
    if (!fast) gys = backward_with_random_cotangents(c.outs, gen);
    nlohmann::json args = {{"E", E}, {"N", N}, {"ff", ff}, {"act", gelu ? "gelu" : "relu"}, {"eps", eps},
                           {"bf", bf}, {"nf", nf}, {"kind", kKinds[kind]}, {"layers", layers}, {"dlayers", dlayers},
                           {"norm", norm}, {"train", train}, {"nograd", fast}};
    std::vector<std::pair<std::string, Tensor>> more;
    for (auto& [k, t] : std::vector<std::pair<std::string, Tensor>>{
             {"sm", sm}, {"skpm", skpm}, {"tm", tm}, {"tkpm", tkpm}, {"mm", mm}, {"mkpm", mkpm}})
      if (t.defined()) more.push_back({k, t});
    OracleCase oc = module_oracle_case(c, gys, kCode, args, more);
    oc.code = std::string("a_dtype = torch.float64 if '") + dtype_name(dt) + "' == 'float64' else torch.float32\n" + oc.code;
    oracle.push_back(oc);
    cases.push_back(std::move(c));
  }
  auto ref = run_torch(oracle);
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) compare_module_case(cases[i], ref[i]);
}

// A Transformer state_dict drawn by PyTorch loads into ours unchanged and gives torch's output.
TEST(ParityTransformer, TorchStateDictLoadsIntoOurs) {
  Generator gen(4);
  OracleCase oc;
  oc.code = R"(
torch.manual_seed(0)
m = nn.Transformer(8, 2, 2, 1, dim_feedforward=12, dropout=0.0, activation='gelu', norm_first=True)
for k_, v_ in m.state_dict().items():
    extra[k_] = v_
out = [m(src, tgt, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4)).detach()]
)";
  const Tensor src = randn({5, 2, 8}, DType::F32, &gen), tgt = randn({4, 2, 8}, DType::F32, &gen);
  oc.inputs = {{"src", src}, {"tgt", tgt}};
  auto r = run_torch({oc})[0];
  nn::Transformer t(nn::TransformerOptions(8, 2).num_encoder_layers(2).num_decoder_layers(1).dim_feedforward(12)
                        .dropout(0.0).activation("gelu").norm_first(true));
  nn::TensorDict sd;
  for (const auto& [k, v] : r.extra) sd.insert(k, v);
  EXPECT_EQ(sd.size(), t.state_dict().size());
  t.load_state_dict(sd, true);
  expect_close(t.forward(src, tgt, Tensor(), nn::generate_square_subsequent_mask(4)), r.outs[0], 1e-5, "Transformer");
}

// torch 1.13's TransformerEncoder fast path (eval, no_grad, batch_first, post-norm, even heads,
// bool src_key_padding_mask padding suffixes only) packs the batch into a nested tensor and
// unpacks it with zeros: padded positions come out as 0 before the final norm. seqnn computes
// padded positions like torch's regular path (every query row attends to the unpadded keys).
// The unpadded positions agree; the padded ones are torch's zeros (here: no final norm).
TEST(ParityTransformer, EncoderFastPathNestedTensorZeroesPaddedPositions) {
  Generator gen(6);
  nn::TransformerEncoder enc(nn::TransformerStackOptions(nn::TransformerLayerOptions(8, 2).dim_feedforward(16)
                                                             .dropout(0.0).batch_first(true), 2), &gen);
  enc.eval();
  const int64_t B = 3, L = 5;
  const Tensor src = randn({B, L, 8}, DType::F32, &gen);
  const std::vector<int64_t> lens = {5, 2, 3};
  std::vector<bool> pad(B * L, false);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = lens[b]; j < L; ++j) pad[b * L + j] = true;
  const Tensor kpm = from_vector(pad, {B, L});
  Tensor y;
  {
    NoGradGuard ng;
    y = enc.forward(src, Tensor(), kpm);
  }
  OracleCase oc;
  oc.code = std::string(kModuleParityPrelude) + R"(
m = load(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=True), 2)).eval()
with torch.no_grad():
    out = [m(src, src_key_padding_mask=kpm)]
)";
  oc.inputs = {{"src", src}, {"kpm", kpm}};
  for (const auto& [k, t] : enc.state_dict()) oc.state.push_back({k, t});
  const Tensor t = run_torch({oc})[0].outs[0];
  const auto a = y.to_vector<double>(), e = t.to_vector<double>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t k = 0; k < 8; ++k) {
        const size_t i = (b * L + l) * 8 + k;
        if (l < lens[b]) EXPECT_NEAR(a[i], e[i], 1e-5) << "b=" << b << " l=" << l;
        else EXPECT_EQ(e[i], 0.0) << "torch's nested-tensor padding, b=" << b << " l=" << l;
      }
}
