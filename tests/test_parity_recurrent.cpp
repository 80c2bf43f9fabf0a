// recurrent_layer against live PyTorch 1.13 (F32 and F64): one layer of torch.nn.RNN / LSTM /
// GRU with seqnn's weights loaded into the module (ragged batches through
// pack_padded_sequence(enforce_sorted=False) / pad_packed_sequence(total_length=T)), and, for the
// cells PyTorch has no module for (peephole LSTM, Jordan), a reference written in torch ops with
// a loop over t. Outputs, h_n, c_n and the gradients of x, h0, c0 and every weight.
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "common/parity_batch.h"
#include "seqnn/ops.h"
#include "seqnn/random.h"
#include "seqnn/recurrent.h"

using namespace seqnn;
using namespace seqnn::testutil;

namespace {

const char* act_name(Activation a) {
  switch (a) {
    case Activation::Tanh: return "Tanh";
    case Activation::Relu: return "Relu";
    case Activation::Sigmoid: return "Sigmoid";
    case Activation::Identity: return "Identity";
  }
  return "?";
}

// ---------------------------------------------------------------- torch.nn modules
const char* kModuleCode = R"PY(
a = args
D, T = a['D'], x.shape[0]
kw = dict(input_size=x.shape[2], hidden_size=a['H'], bidirectional=(D == 2), bias=a['bias'])
if a['cell'] == 'LSTM':
    m = nn.LSTM(proj_size=a['P'], **kw)
elif a['cell'] == 'GRU':
    m = nn.GRU(**kw)
else:
    m = nn.RNN(nonlinearity=a['nl'], **kw)
m = m.to(x.dtype)
given = dict(globals())
for k in list(m._parameters.keys()):
    del m._parameters[k]
    setattr(m, k, given[k])
hx = None
if a['init']:
    hx = (h0, c0) if a['cell'] == 'LSTM' else h0
if a['len']:
    lens = torch.tensor(a['len'])
    packed = nn.utils.rnn.pack_padded_sequence(x, lens, enforce_sorted=False)
    po, hn = m(packed, hx)
    o, _ = nn.utils.rnn.pad_packed_sequence(po, total_length=T)
else:
    o, hn = m(x, hx)
out = (o, hn[0], hn[1]) if a['cell'] == 'LSTM' else (o, hn)
)PY";

// ---------------------------------------------------------------- torch ops, loop over t
const char* kLoopCode = R"PY(
a = args
D, T, B = a['D'], x.shape[0], x.shape[1]
ACT = {'Tanh': torch.tanh, 'Relu': torch.relu, 'Sigmoid': torch.sigmoid, 'Identity': lambda v: v}
act, oact = ACT[a['act']], ACT[a['oact']]
given = dict(globals())
lens = torch.tensor(a['len'] if a['len'] else [T] * B)
outs, hns, cns = [], [], []
for d in range(D):
    sfx = '_reverse' if d else ''
    W = lambda n: given.get(n + '_l0' + sfx)
    Wih, Whh, bih, bhh = W('weight_ih'), W('weight_hh'), W('bias_ih'), W('bias_hh')
    R, H = Whh.shape[1], Wih.shape[0] // (4 if a['cell'] == 'LSTM' else 1)
    h = h0[d] if a['init'] else torch.zeros(B, R, dtype=x.dtype)
    c = c0[d] if a['init'] and a['cell'] == 'LSTM' else torch.zeros(B, H, dtype=x.dtype)
    ys = [None] * T
    for s in range(T):
        t = T - 1 - s if d else s
        g = x[t] @ Wih.t() + h @ Whh.t()
        if bih is not None:
            g = g + bih + bhh
        if a['cell'] == 'LSTM':
            wp, whr = W('w_peep'), W('weight_hr')
            i, f, u, o = g.chunk(4, 1)
            i = torch.sigmoid(i + wp[0] * c)
            f = torch.sigmoid(f + wp[1] * c)
            cn = f * c + i * act(u)
            o = torch.sigmoid(o + wp[2] * cn)
            hn = o * act(cn)
            if whr is not None:
                hn = hn @ whr.t()
        else:
            hn = oact(act(g) @ W('w_ho').t() + W('b_ho'))
            cn = c
        on = (t < lens).unsqueeze(1)
        h = torch.where(on, hn, h)
        c = torch.where(on, cn, c)
        ys[t] = torch.where(on, hn, torch.zeros_like(hn))
    outs.append(torch.stack(ys))
    hns.append(h)
    cns.append(c)
out = [torch.cat(outs, 2), torch.stack(hns)]
if a['cell'] == 'LSTM':
    out.append(torch.stack(cns))
)PY";

struct Config {
  RecurrentSpec spec;
  int64_t T, B, I, H, P, D;  // P: projection (LSTM, 0 = none) or O (Jordan)
  bool bias, init, peep;
  std::vector<int64_t> len;  // empty: all T
};

// Adds one case: seqnn's recurrent_layer vs `code` over the same named inputs.
void add_case(ParityBatch& p, const Config& c, DType dt, const std::string& code) {
  const CellType cell = c.spec.cell;
  const bool lstm = cell == CellType::LSTM, jordan = cell == CellType::Jordan;
  const int64_t G = lstm ? 4 : cell == CellType::GRU ? 3 : 1;
  const int64_t R = (jordan || c.P > 0) ? c.P : c.H;
  const double k = 1.0 / std::sqrt(static_cast<double>(c.H));  // PyTorch's init range
  ParityBatch::Inputs in{{"x", randn({c.T, c.B, c.I}, dt, &p.gen)}};
  if (c.init) {
    in.emplace_back("h0", randn({c.D, c.B, R}, dt, &p.gen));
    if (lstm) in.emplace_back("c0", randn({c.D, c.B, c.H}, dt, &p.gen));
  }
  // slot of each weight field in `in` (-1: absent), per direction
  std::vector<std::array<int, 8>> slot(c.D);
  for (int64_t d = 0; d < c.D; ++d) {
    const std::string sfx = d ? "_l0_reverse" : "_l0";
    slot[d].fill(-1);
    auto add = [&](int field, const std::string& name, const Shape& s) {
      slot[d][field] = static_cast<int>(in.size());
      in.emplace_back(name + sfx, uniform(s, -k, k, dt, &p.gen));
    };
    add(0, "weight_ih", {G * c.H, c.I});
    add(1, "weight_hh", {G * c.H, R});
    if (c.bias) {
      add(2, "bias_ih", {G * c.H});
      add(3, "bias_hh", {G * c.H});
    }
    if (lstm && c.P > 0) add(4, "weight_hr", {c.P, c.H});
    if (c.peep) add(5, "w_peep", {3, c.H});
    if (jordan) {
      add(6, "w_ho", {c.P, c.H});
      add(7, "b_ho", {c.P});
    }
  }
  const bool has_h0 = c.init, has_c0 = c.init && lstm;
  const RecurrentSpec spec = c.spec;
  const Tensor lengths = c.len.empty() ? Tensor() : from_vector(c.len, {c.B});
  auto f = [=](const TensorList& t) {
    std::vector<RecurrentWeights> ws(slot.size());
    for (size_t d = 0; d < slot.size(); ++d) {
      Tensor* fields[8] = {&ws[d].w_ih, &ws[d].w_hh, &ws[d].b_ih, &ws[d].b_hh,
                           &ws[d].w_hr, &ws[d].w_peep, &ws[d].w_ho, &ws[d].b_ho};
      for (int i = 0; i < 8; ++i)
        if (slot[d][i] >= 0) *fields[i] = t[slot[d][i]];
    }
    const RecurrentOutput o =
        recurrent_layer(spec, t[0], has_h0 ? t[1] : Tensor(), has_c0 ? t[2] : Tensor(), ws, lengths);
    TensorList r{o.output, o.h_n};
    if (o.c_n.defined()) r.push_back(o.c_n);
    return r;
  };
  const char* names[] = {"RNN", "LSTM", "GRU", "Jordan"};
  const std::string cname = names[static_cast<int>(cell)];
  nlohmann::json args = {{"cell", cname},
                         {"D", c.D},
                         {"H", c.H},
                         {"P", lstm ? c.P : 0},
                         {"bias", c.bias},
                         {"init", c.init},
                         {"len", c.len},
                         {"nl", c.spec.activation == Activation::Relu ? "relu" : "tanh"},
                         {"act", act_name(c.spec.activation)},
                         {"oact", act_name(c.spec.output_activation)}};
  std::string name = cname + (c.peep ? " peephole" : "") + " " + dtype_name(dt) + " T" + std::to_string(c.T) +
                     " B" + std::to_string(c.B) + " I" + std::to_string(c.I) + " H" + std::to_string(c.H) + " P" +
                     std::to_string(c.P) + " D" + std::to_string(c.D) + (c.bias ? "" : " nobias") +
                     (c.init ? " h0" : "") + (c.len.empty() ? "" : " ragged") + " act " +
                     act_name(c.spec.activation);
  p.add(name, code, in, f, args);
}

// A random configuration of the given cell.
Config random_config(Generator& g, CellType cell, int i) {
  Config c;
  c.spec.cell = cell;
  c.T = g.randint(1, 13);
  c.B = g.randint(1, 6);
  c.I = g.randint(1, 21);
  c.H = g.randint(1, 21);
  c.P = 0;
  c.D = 1 + (i % 2);
  c.bias = i % 5 != 4;
  c.init = (i / 2) % 2 == 1;
  c.peep = false;
  if (i % 3 != 0) {  // ragged: any order, include a length-1 and a full-length row when B allows
    for (int64_t b = 0; b < c.B; ++b) c.len.push_back(g.randint(1, c.T + 1));
    c.len[0] = c.T;
    if (c.B > 1) c.len[c.B - 1] = 1;
  }
  return c;
}

}  // namespace

TEST(ParityRecurrent, TorchModules) {
  ParityBatch p(71);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int i = 0; i < 8; ++i) {
      Config c = random_config(p.gen, CellType::LSTM, i);
      add_case(p, c, dt, kModuleCode);
      c = random_config(p.gen, CellType::LSTM, i);  // projection: torch needs 0 < P < H
      c.H = std::max<int64_t>(c.H, 2);
      c.P = p.gen.randint(1, c.H);
      add_case(p, c, dt, kModuleCode);
      add_case(p, random_config(p.gen, CellType::GRU, i), dt, kModuleCode);
      add_case(p, random_config(p.gen, CellType::RNN, i), dt, kModuleCode);
      c = random_config(p.gen, CellType::RNN, i);
      c.spec.activation = Activation::Relu;
      add_case(p, c, dt, kModuleCode);
    }
  }
  p.check();
}

TEST(ParityRecurrent, PeepholeAndJordanLoops) {
  ParityBatch p(72);
  for (DType dt : {DType::F32, DType::F64}) {
    for (int i = 0; i < 6; ++i) {
      Config c = random_config(p.gen, CellType::LSTM, i);
      c.peep = true;
      c.bias = true;
      if (i >= 3) c.spec.activation = Activation::Identity;
      if (i % 2) c.P = p.gen.randint(1, 21);  // seqnn allows any P with peepholes
      add_case(p, c, dt, kLoopCode);
      c = random_config(p.gen, CellType::Jordan, i);
      c.bias = true;
      c.P = p.gen.randint(1, 21);
      const Activation acts[] = {Activation::Tanh, Activation::Relu, Activation::Sigmoid, Activation::Identity};
      c.spec.activation = acts[i % 4];
      c.spec.output_activation = acts[(i + 1) % 4];
      add_case(p, c, dt, kLoopCode);
    }
  }
  p.check();
}
