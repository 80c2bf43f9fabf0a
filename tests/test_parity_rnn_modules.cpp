// nn::RNN / LSTM / GRU and the cells against torch.nn (PyTorch 1.13) over random configurations:
// time-major and batch_first, unbatched, stacked, bidirectional, proj_size, with and without
// h0/c0, ragged batches (torch: pack_padded_sequence(enforce_sorted=False) + pad_packed_sequence(
// total_length=T)), F32 and F64. Our state_dict loads into the torch module with strict=True (so
// names, order and shapes match PyTorch's), and a torch state_dict loads into ours. Forward
// (output, h_n, c_n) within 1e-5 and the gradients of x, h0, c0 and every parameter within 1e-4,
// relative to each tensor's scale. Dropout: eval-mode identity on both sides (train-mode
// statistics are in test_rnn_modules; torch's RNG stream is not ours).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <sstream>

#include "common/module_parity.h"
#include "common/torch_oracle.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

// load(m) and finish(m, outs, names) come from common/module_parity.h's prelude.
const char* kPrelude = R"(
import torch.nn.utils.rnn as R
)";

const char* kModuleCode = R"(
a = args
kw = dict(num_layers=a['L'], bias=a['bias'], batch_first=a['bf'], bidirectional=a['bidir'], dropout=a['p'])
if a['mode'] == 'LSTM':
    m = nn.LSTM(a['I'], a['H'], proj_size=a['P'], **kw)
elif a['mode'] == 'GRU':
    m = nn.GRU(a['I'], a['H'], **kw)
else:
    m = nn.RNN(a['I'], a['H'], nonlinearity=a['nl'], **kw)
m = load(m.to(x.dtype))
m.train(a['train'])
hx = None
if a['h0']:
    hx = (h0, c0) if a['mode'] == 'LSTM' else h0
inp = R.pack_padded_sequence(x, lens, batch_first=a['bf'], enforce_sorted=False) if a['ragged'] else x
y, hn = m(inp, hx)
if a['ragged']:
    y, _ = R.pad_packed_sequence(y, batch_first=a['bf'], total_length=a['T'])
out = finish(m, [y, hn[0], hn[1]] if a['mode'] == 'LSTM' else [y, hn], ('x', 'h0', 'c0'))
)";

const char* kCellCode = R"(
a = args
cls = {'RNNCell': nn.RNNCell, 'LSTMCell': nn.LSTMCell, 'GRUCell': nn.GRUCell}[a['mode']]
kw = dict(nonlinearity=a['nl']) if a['mode'] == 'RNNCell' else {}
m = load(cls(a['I'], a['H'], bias=a['bias'], **kw).to(x.dtype))
if a['mode'] == 'LSTMCell':
    h1, c1 = m(x, (h0, c0) if a['h0'] else None)
    out = finish(m, [h1, c1], ('x', 'h0', 'c0'))
else:
    out = finish(m, [m(x, h0 if a['h0'] else None)], ('x', 'h0', 'c0'))
)";

// Queues the torch side: inputs, cotangents GY0.., our state_dict, and the lengths if ragged.
OracleCase oracle_case(const ModuleCase& c, const TensorList& gys, const std::string& code, nlohmann::json args,
                       const Tensor& lens) {
  std::vector<std::pair<std::string, Tensor>> more;
  if (lens.defined()) more.push_back({"lens", lens});
  return module_oracle_case(c, gys, std::string(kPrelude) + code, args, more);
}

}  // namespace

// ==================================================================== modules
TEST(ParityRNNModules, RandomConfigurationsForwardAndGradients) {
  ParityRng rng(2024);
  Generator gen(7);
  std::vector<ModuleCase> cases;
  std::vector<OracleCase> oracle;
  const int kCases = 48;
  for (int n = 0; n < kCases; ++n) {
    const DType dt = n % 6 == 5 ? DType::F64 : DType::F32;
    const int kind = n % 4;  // 0 RNN tanh, 1 RNN relu, 2 LSTM, 3 GRU
    const std::string mode = kind < 2 ? "RNN" : kind == 2 ? "LSTM" : "GRU";
    const int64_t T = rng.coin(0.8) ? rng.uni(1, 12) : rng.uni(13, 40), B = rng.uni(1, 9);
    const int64_t I = rng.size(70), H = rng.size(70), L = rng.uni(1, 3);
    const bool bidir = rng.coin(), bf = rng.coin(), bias = rng.coin(0.8), with_h0 = rng.coin();
    const bool unbatched = rng.coin(0.1), ragged = !unbatched && rng.coin(0.5);
    const int64_t P = kind == 2 && H > 1 && rng.coin(0.4) ? rng.uni(1, H - 1) : 0;
    const double p = L > 1 && rng.coin(0.2) ? 0.4 : 0.0;  // dropout: compared in eval mode
    const int64_t D = bidir ? 2 : 1, R = P > 0 ? P : H;

    std::shared_ptr<nn::RecurrentModule> m;
    if (kind < 2) {
      m = std::make_shared<nn::RNN>(nn::RNNOptions(I, H).num_layers(L).bias(bias).batch_first(bf).bidirectional(bidir)
                                        .dropout(p).nonlinearity(kind == 0 ? Activation::Tanh : Activation::Relu)
                                        .dtype(dt), &gen);
    } else if (kind == 2) {
      m = std::make_shared<nn::LSTM>(nn::LSTMOptions(I, H).num_layers(L).bias(bias).batch_first(bf).bidirectional(bidir)
                                         .dropout(p).proj_size(P).dtype(dt), &gen);
    } else {
      m = std::make_shared<nn::GRU>(nn::GRUOptions(I, H).num_layers(L).bias(bias).batch_first(bf).bidirectional(bidir)
                                        .dropout(p).dtype(dt), &gen);
    }
    if (p > 0) m->eval();

    ModuleCase c;
    c.module = m;
    const Shape xs = unbatched ? Shape{T, I} : bf ? Shape{B, T, I} : Shape{T, B, I};
    Tensor x = randn(xs, dt, &gen).requires_grad_(), h0, c0, lens;
    c.inputs.push_back({"x", x});
    if (with_h0) {
      h0 = randn(unbatched ? Shape{L * D, R} : Shape{L * D, B, R}, dt, &gen).requires_grad_();
      c.inputs.push_back({"h0", h0});
      if (kind == 2) {
        c0 = randn(unbatched ? Shape{L * D, H} : Shape{L * D, B, H}, dt, &gen).requires_grad_();
        c.inputs.push_back({"c0", c0});
      }
    }
    std::vector<int64_t> lv;
    if (ragged) {
      for (int64_t b = 0; b < B; ++b) lv.push_back(rng.uni(1, T));
      if (B >= 2) lv[rng.uni(0, B - 1)] = 1;  // a length-1 row and a full-length row
      if (B >= 2) lv[rng.uni(0, B - 1)] = T;
      lens = from_vector(lv, {B});
    }
    auto r = m->forward(x, h0, c0, lens);
    c.outs = {r.output, r.h_n};
    if (kind == 2) c.outs.push_back(r.c_n);
    std::ostringstream what;
    what << "#" << n << " " << mode << (kind == 1 ? "(relu)" : "") << " T=" << T << " B=" << B << " I=" << I
         << " H=" << H << " L=" << L << " P=" << P << (bidir ? " bidir" : "") << (bf ? " batch_first" : "")
         << (bias ? "" : " nobias") << (with_h0 ? " h0" : "") << (unbatched ? " unbatched" : "")
         << (p > 0 ? " dropout(eval)" : "") << " " << dtype_name(dt);
    if (ragged) {
      what << " lengths=";
      for (auto l : lv) what << l << ",";
    }
    c.what = what.str();
    const TensorList gys = backward_with_random_cotangents(c.outs, gen);
    nlohmann::json args = {{"mode", mode}, {"nl", kind == 1 ? "relu" : "tanh"}, {"I", I}, {"H", H}, {"L", L},
                           {"P", P}, {"bias", bias}, {"bf", bf}, {"bidir", bidir}, {"p", p}, {"train", p == 0.0},
                           {"h0", with_h0}, {"ragged", ragged}, {"T", T}};
    oracle.push_back(oracle_case(c, gys, kModuleCode, args, lens));
    cases.push_back(std::move(c));
  }
  auto ref = run_torch(oracle);
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) compare_module_case(cases[i], ref[i]);
}

// ==================================================================== cells
TEST(ParityRNNModules, CellsForwardAndGradients) {
  ParityRng rng(77);
  Generator gen(8);
  std::vector<ModuleCase> cases;
  std::vector<OracleCase> oracle;
  for (int n = 0; n < 24; ++n) {
    const DType dt = n % 4 == 3 ? DType::F64 : DType::F32;
    const int kind = n % 3;  // RNNCell (tanh/relu alternating), LSTMCell, GRUCell
    const std::string mode = kind == 0 ? "RNNCell" : kind == 1 ? "LSTMCell" : "GRUCell";
    const bool relu = kind == 0 && (n / 3) % 2 == 1;
    const int64_t B = rng.uni(1, 9), I = rng.size(70), H = rng.size(70);
    const bool bias = rng.coin(0.8), with_h0 = rng.coin(), unbatched = rng.coin(0.25);
    ModuleCase c;
    Tensor x = randn(unbatched ? Shape{I} : Shape{B, I}, dt, &gen).requires_grad_(), h0, c0;
    c.inputs.push_back({"x", x});
    const Shape ss = unbatched ? Shape{H} : Shape{B, H};
    if (with_h0) {
      h0 = randn(ss, dt, &gen).requires_grad_();
      c.inputs.push_back({"h0", h0});
      if (kind == 1) {
        c0 = randn(ss, dt, &gen).requires_grad_();
        c.inputs.push_back({"c0", c0});
      }
    }
    if (kind == 0) {
      auto m = std::make_shared<nn::RNNCell>(
          nn::RNNCellOptions(I, H).bias(bias).nonlinearity(relu ? Activation::Relu : Activation::Tanh).dtype(dt), &gen);
      c.module = m;
      c.outs = {m->forward(x, h0)};
    } else if (kind == 1) {
      auto m = std::make_shared<nn::LSTMCell>(nn::LSTMCellOptions(I, H).bias(bias).dtype(dt), &gen);
      c.module = m;
      auto r = m->forward(x, h0, c0);
      c.outs = {r.h, r.c};
    } else {
      auto m = std::make_shared<nn::GRUCell>(nn::GRUCellOptions(I, H).bias(bias).dtype(dt), &gen);
      c.module = m;
      c.outs = {m->forward(x, h0)};
    }
    std::ostringstream what;
    what << "#" << n << " " << mode << (relu ? "(relu)" : "") << " B=" << B << " I=" << I << " H=" << H
         << (bias ? "" : " nobias") << (with_h0 ? " h0" : "") << (unbatched ? " unbatched" : "") << " "
         << dtype_name(dt);
    c.what = what.str();
    const TensorList gys = backward_with_random_cotangents(c.outs, gen);
    nlohmann::json args = {{"mode", mode}, {"nl", relu ? "relu" : "tanh"}, {"I", I}, {"H", H}, {"bias", bias},
                           {"h0", with_h0}};
    oracle.push_back(oracle_case(c, gys, kCellCode, args, Tensor()));
    cases.push_back(std::move(c));
  }
  auto ref = run_torch(oracle);
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) compare_module_case(cases[i], ref[i]);
}

// ==================================================================== torch -> seqnn
// A state_dict drawn by PyTorch loads into ours unchanged (strict) and gives torch's outputs.
TEST(ParityRNNModules, TorchStateDictLoadsIntoOurs) {
  Generator gen(9);
  OracleCase oc;
  oc.code = R"(
torch.manual_seed(0)
mods = [nn.LSTM(5, 6, num_layers=2, bidirectional=True, proj_size=3), nn.GRU(5, 6, num_layers=2, batch_first=True),
        nn.RNN(5, 6, nonlinearity='relu', bidirectional=True, bias=False), nn.LSTMCell(5, 6), nn.GRUCell(5, 6, bias=False),
        nn.RNNCell(5, 6)]
outs = []
for i, m in enumerate(mods):
    for k, v in m.state_dict().items():
        extra['m%d.%s' % (i, k)] = v
    if i < 3:
        o = m(xb if i == 1 else x)
        outs += [o[0], o[1][0] if i == 0 else o[1]]
    else:
        o = m(x[0])
        outs.append(o[0] if i == 3 else o)
out = [t.detach() for t in outs]
)";
  Tensor x = randn({4, 3, 5}, DType::F32, &gen);
  oc.inputs = {{"x", x}, {"xb", x.transpose(0, 1).contiguous()}};
  auto r = run_torch({oc})[0];

  std::vector<std::shared_ptr<nn::Module>> mods = {
      std::make_shared<nn::LSTM>(nn::LSTMOptions(5, 6).num_layers(2).bidirectional(true).proj_size(3)),
      std::make_shared<nn::GRU>(nn::GRUOptions(5, 6).num_layers(2).batch_first(true)),
      std::make_shared<nn::RNN>(nn::RNNOptions(5, 6).nonlinearity(Activation::Relu).bidirectional(true).bias(false)),
      std::make_shared<nn::LSTMCell>(nn::LSTMCellOptions(5, 6)),
      std::make_shared<nn::GRUCell>(nn::GRUCellOptions(5, 6).bias(false)),
      std::make_shared<nn::RNNCell>(nn::RNNCellOptions(5, 6))};
  for (size_t i = 0; i < mods.size(); ++i) {
    nn::TensorDict sd;
    const std::string prefix = "m" + std::to_string(i) + ".";
    for (const auto& [k, v] : r.extra)
      if (k.rfind(prefix, 0) == 0) sd.insert(k.substr(prefix.size()), v);
    EXPECT_EQ(sd.size(), mods[i]->state_dict().size()) << i;
    mods[i]->load_state_dict(sd, true);
  }
  size_t o = 0;
  for (size_t i = 0; i < 3; ++i) {
    auto* m = dynamic_cast<nn::RecurrentModule*>(mods[i].get());
    auto res = m->forward(i == 1 ? x.transpose(0, 1).contiguous() : x);
    expect_close(res.output, r.outs[o++], 1e-5, "module " + std::to_string(i) + " output");
    expect_close(res.h_n, r.outs[o++], 1e-5, "module " + std::to_string(i) + " h_n");
  }
  const Tensor x0 = select(x, 0, 0);
  expect_close(dynamic_cast<nn::LSTMCell*>(mods[3].get())->forward(x0).h, r.outs[o++], 1e-5, "LSTMCell");
  expect_close(dynamic_cast<nn::GRUCell*>(mods[4].get())->forward(x0), r.outs[o++], 1e-5, "GRUCell");
  expect_close(dynamic_cast<nn::RNNCell*>(mods[5].get())->forward(x0), r.outs[o++], 1e-5, "RNNCell");
}

// PyTorch's init: every parameter U(-1/sqrt(H), 1/sqrt(H)); compare the spread of a large draw.
TEST(ParityRNNModules, InitMatchesTorchDistribution) {
  nn::LSTM ours(nn::LSTMOptions(64, 100).num_layers(2));
  OracleCase oc;
  oc.code = R"(
torch.manual_seed(0)
m = nn.LSTM(64, 100, num_layers=2)
w = torch.cat([p.reshape(-1) for p in m.parameters()]).double()
out = [w.abs().max(), w.std(), w.mean()]
)";
  auto r = run_torch({oc})[0];
  std::vector<double> all;
  for (const auto& p : ours.parameters()) {
    auto v = p.to_vector<double>();
    all.insert(all.end(), v.begin(), v.end());
  }
  double mx = 0, s = 0, sq = 0;
  for (double v : all) mx = std::max(mx, std::fabs(v)), s += v, sq += v * v;
  const double n = static_cast<double>(all.size()), mean = s / n, sd = std::sqrt(sq / n - mean * mean);
  EXPECT_NEAR(mx, r.outs[0].item(), 1e-3);
  EXPECT_NEAR(sd, r.outs[1].item(), 6e-4);  // ~1% of the std 0.0577; its sampling error is ~1e-4
  EXPECT_NEAR(mean, r.outs[2].item(), 1e-3);
}
