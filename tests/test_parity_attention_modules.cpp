// Live parity of the attention building blocks against naive PyTorch 1.13 references written in
// torch ops inside the Python code (torch has none of these modules): every scoring rule, the
// Attention module (softmax and ReLU, every mask kind: causal top-left/bottom-right, window,
// key lengths incl. 0, CSR graph with edge-less rows and duplicate edges, dense bool, dense float
// with -inf rows, combined), Attn (seed 002), SelfAttention (seed 004, incl. rotary), sinusoidal,
// learned and rotary positions, and linear attention (non-causal, causal, masked). The same
// weights are passed to both sides (parameters are inputs named p_<name>); forward within 1e-5,
// gradients of the inputs and of every parameter within 1e-4; random shapes incl. B=1 and L=1;
// float32 and float64. The masks are rebuilt in Python from the spec, independently of
// AttentionMask::allowed().
#include <gtest/gtest.h>

#include <random>

#include "common/parity_batch.h"
#include "seqnn/attention.h"
#include "seqnn/nn/attention.h"
#include "seqnn/nn/linear_attention.h"
#include "seqnn/nn/positional.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::nn;
using namespace seqnn::testutil;
using json = nlohmann::json;

namespace {

const char* kPrelude = R"(
P = {k[2:]: v for k, v in globals().items() if k.startswith('p_')}
a = args

def allowed(B, Lq, Lk):
    ok = torch.ones(B, Lq, Lk, dtype=torch.bool)
    off = Lk - Lq if a.get('br', False) else 0
    i = torch.arange(Lq).view(1, -1, 1)
    j = torch.arange(Lk).view(1, 1, -1)
    if a.get('causal', False):
        ok = ok & (j <= i + off)
    if a.get('wl', -1) >= 0:
        ok = ok & (j >= i + off - a['wl']) & (j <= i + off + a['wr'])
    if 'lens' in a:
        ok = ok & (j < torch.tensor(a['lens']).view(-1, 1, 1))
    if 'indptr' in a:
        g = torch.zeros(Lq, Lk, dtype=torch.bool)
        for r in range(Lq):
            for e in range(a['indptr'][r], a['indptr'][r + 1]):
                g[r, a['indices'][e]] = True
        ok = ok & g
    if 'dm' in globals():
        d = dm.reshape(B, Lq, Lk)
        ok = ok & (~d if d.dtype == torch.bool else ~torch.isneginf(d))
    return ok

def normalize(S, norm):
    B, Lq, Lk = S.shape
    ok = allowed(B, Lq, Lk)
    if 'dm' in globals() and dm.dtype != torch.bool:
        S = S + torch.where(ok, dm.reshape(B, Lq, Lk).to(S.dtype), torch.zeros_like(S))
    if norm == 'relu':
        return torch.relu(S) * ok
    return torch.softmax(S.masked_fill(~ok, torch.finfo(S.dtype).min), -1) * ok

def score(kind, q, k):
    if kind == 'dot':
        return q @ k.transpose(1, 2)
    if kind == 'scaled_dot':
        return q @ k.transpose(1, 2) / math.sqrt(k.shape[-1])
    if kind == 'general':
        return q @ P['weight'] @ k.transpose(1, 2)
    if kind == 'additive':
        h = (q @ P['W_q'].T + P['bias'])[:, :, None, :] + (k @ P['W_k'].T)[:, None, :, :]
        return torch.tanh(h) @ P['v']
    B, Lq, Lk = q.shape[0], q.shape[1], k.shape[1]
    qk = torch.cat([q[:, :, None, :].expand(B, Lq, Lk, q.shape[2]), k[:, None, :, :].expand(B, Lq, Lk, k.shape[2])], -1)
    return (qk @ P['weight'].T).squeeze(-1) + P['bias']

def rotary(x, off, base=10000.0):
    L, D = x.shape[-2], x.shape[-1]
    theta = base ** (-2.0 * torch.arange(D // 2, dtype=torch.float64) / D)
    ang = (off + torch.arange(L, dtype=torch.float64))[:, None] * theta[None, :]
    c, s = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], -1).flatten(-2)

def phi(x):
    return F.elu(x) + 1
)";

using Params = std::vector<std::pair<std::string, Tensor*>>;

// A case whose module parameters are inputs too: p_<name> on the Python side, swapped into the
// module's members for seqnn's run, so gradients of the parameters are compared like inputs'.
void add_case(ParityBatch& pb, const std::string& name, const std::string& code, ParityBatch::Inputs data,
              const Params& params, const std::function<TensorList(const TensorList&)>& f, json args,
              std::vector<std::string> no_grad = {}) {
  const size_t nd = data.size();
  for (const auto& [n, p] : params) data.emplace_back("p_" + n, p->detach());
  pb.add(name, std::string(kPrelude) + code, std::move(data),
         [&](const TensorList& in) {
           for (size_t i = 0; i < params.size(); ++i) *params[i].second = in[nd + i];
           return f(TensorList(in.begin(), in.begin() + nd));
         },
         std::move(args), std::move(no_grad));
}

// Mask spec -> AttentionMask (seqnn) + JSON args (Python) + an optional dense input "dm".
struct Spec {
  AttentionMask mask;
  json args = json::object();
  Tensor dm;
};

// 0 none, 1 causal TL, 2 causal BR, 3 window, 4 lengths (batch 0 gets 0), 5 graph, 6 dense bool,
// 7 dense float with a -inf row, 8 causal BR + window + lengths.
Spec make_spec(int kind, int64_t B, int64_t Lq, int64_t Lk, DType dt, std::mt19937_64& rng) {
  Spec s;
  auto lengths = [&] {
    std::vector<int64_t> l;
    for (int64_t b = 0; b < B; ++b) l.push_back(b == 0 && B > 1 ? 0 : static_cast<int64_t>(rng() % (Lk + 1)));
    s.mask.key_lengths(from_vector(l, {B}));
    s.args["lens"] = l;
  };
  switch (kind) {
    case 1: s.mask.causal(); s.args["causal"] = true; break;
    case 2:
      s.mask.causal().align(MaskAlign::BottomRight);
      s.args["causal"] = true, s.args["br"] = true;
      break;
    case 3: s.mask.window(1, 2); s.args["wl"] = 1, s.args["wr"] = 2; break;
    case 4: lengths(); break;
    case 5: {
      std::vector<int64_t> ptr{0}, idx;
      for (int64_t i = 0; i < Lq; ++i) {
        const int64_t deg = (i == Lq - 1 && Lq > 1) ? 0 : static_cast<int64_t>(rng() % 3) + 1;
        for (int64_t e = 0; e < deg; ++e) idx.push_back(static_cast<int64_t>(rng() % Lk));
        if (deg > 1) idx.push_back(idx.back());
        ptr.push_back(static_cast<int64_t>(idx.size()));
      }
      s.mask.graph(from_vector(ptr, {Lq + 1}), from_vector(idx, {static_cast<int64_t>(idx.size())}));
      s.args["indptr"] = ptr, s.args["indices"] = idx;
      break;
    }
    case 6: {
      std::vector<bool> m;
      for (int64_t e = 0; e < B * Lq * Lk; ++e) m.push_back(rng() % 3 == 0);
      s.dm = from_vector(m, {B, 1, Lq, Lk});
      s.mask.dense(s.dm);
      break;
    }
    case 7: {
      std::vector<double> m;
      for (int64_t e = 0; e < B * Lq * Lk; ++e)
        m.push_back(e < Lk ? -INFINITY : (rng() % 4 == 0 ? -INFINITY : static_cast<double>(rng() % 100) / 40.0 - 1.0));
      s.dm = from_vector(m, {B, 1, Lq, Lk}).to(dt);
      s.mask.dense(s.dm);
      break;
    }
    case 8:
      s.mask.causal().align(MaskAlign::BottomRight).window(2, 1);
      s.args["causal"] = true, s.args["br"] = true, s.args["wl"] = 2, s.args["wr"] = 1;
      lengths();
      break;
    default: break;
  }
  return s;
}

ParityBatch::Inputs with_mask(ParityBatch::Inputs in, const Spec& s) {
  if (s.dm.defined()) in.emplace_back("dm", s.dm);
  return in;
}

const ScoreKind kKinds[] = {ScoreKind::Dot, ScoreKind::ScaledDot, ScoreKind::General, ScoreKind::Additive,
                            ScoreKind::ConcatLinear};

Params score_params(Score& s) {
  if (auto* g = dynamic_cast<GeneralScore*>(&s)) return {{"weight", &g->weight}};
  if (auto* a = dynamic_cast<AdditiveScore*>(&s)) return {{"W_q", &a->W_q}, {"W_k", &a->W_k}, {"bias", &a->bias}, {"v", &a->v}};
  if (auto* c = dynamic_cast<ConcatScore*>(&s)) return {{"weight", &c->weight}, {"bias", &c->bias}};
  return {};
}

// Concat + softmax: w_q.q_i + c is the same for every key of a row and cancels in the softmax,
// so the gradients of q and of c are exactly 0 in exact arithmetic (the F64 runs and the unit
// gradchecks compare them); in float32 both sides return rounding noise (~1e-8) around that 0,
// which no relative tolerance can compare, so those two are left out of the float32 comparison.
std::vector<std::string> concat_zero_grads(ScoreKind kind, DType dt, std::vector<std::string> if_concat_f32,
                                           std::vector<std::string> otherwise) {
  return kind == ScoreKind::ConcatLinear && dt == DType::F32 ? if_concat_f32 : otherwise;
}

int64_t pick(std::mt19937_64& rng, int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(rng() % (hi - lo + 1)); }

}  // namespace

TEST(ParityAttentionModules, ScoresAttentionAttn) {
  ParityBatch pb(21);
  std::mt19937_64 rng(5);
  int n = 0;
  std::vector<std::shared_ptr<Module>> keep;
  for (DType dt : {DType::F32, DType::F64})
    for (ScoreKind kind : kKinds) {
      const bool dotlike = kind == ScoreKind::Dot || kind == ScoreKind::ScaledDot;
      for (int rep = 0; rep < 2; ++rep) {
        const int64_t B = rep == 0 ? 1 : pick(rng, 2, 3), Lq = rep == 0 ? 1 : pick(rng, 2, 6),
                      Lk = pick(rng, 1, 7), Dq = pick(rng, 2, 5), Dk = dotlike ? Dq : pick(rng, 1, 5);
        json args{{"kind", score_kind_name(kind)}};
        // the bare score
        auto sc = make_score(ScoreOptions(kind, Dq, Dk).hidden_size(pick(rng, 1, 6)).dtype(dt), &pb.gen);
        keep.push_back(sc);
        add_case(pb, std::string("score ") + score_kind_name(kind) + " #" + std::to_string(n++),
                 "out = score(a['kind'], q, k)",
                 {{"q", randn({B, Lq, Dq}, dt, &pb.gen)}, {"k", randn({B, Lk, Dk}, dt, &pb.gen)}}, score_params(*sc),
                 [sc](const TensorList& in) { return TensorList{sc->score(in[0], in[1])}; }, args);
        // Attention with each normalisation and each mask kind
        for (Normalization norm : {Normalization::Softmax, Normalization::ReLU})
          for (int mk = 0; mk < 9; ++mk) {
            if (rep == 0 && mk != 0 && mk != 4 && mk != 7) continue;
            auto att = std::make_shared<Attention>(
                AttentionOptions(ScoreOptions(kind, Dq, Dk).hidden_size(3).dtype(dt)).normalization(norm), &pb.gen);
            keep.push_back(att);
            const Spec s = make_spec(mk, B, Lq, Lk, dt, rng);
            json aa = args;
            aa.update(s.args);
            aa["norm"] = normalization_name(norm);
            add_case(pb,
                     std::string("Attention ") + score_kind_name(kind) + "/" + normalization_name(norm) + " mask " +
                         std::to_string(mk) + " #" + std::to_string(n++),
                     "w = normalize(score(a['kind'], q, k), a['norm'])\nout = (w @ v, w)",
                     with_mask({{"q", randn({B, Lq, Dq}, dt, &pb.gen)}, {"k", randn({B, Lk, Dk}, dt, &pb.gen)},
                                {"v", randn({B, Lk, 3}, dt, &pb.gen)}},
                               s),
                     score_params(*att->score),
                     [att, m = s.mask](const TensorList& in) {
                       auto r = att->forward(in[0], in[1], in[2], m);
                       return TensorList{r.output, r.weights};
                     },
                     aa, concat_zero_grads(kind, dt, {"dm", "q", "p_bias"}, {"dm"}));
          }
        // Attn (seed 002)
        for (bool th : {false, true}) {
          const int64_t Dv = pick(rng, 1, 4), O = pick(rng, 1, 5);
          auto m = std::make_shared<Attn>(AttnOptions(Dq, Dk, Dv, O).score(kind).tanh(th).dtype(dt), &pb.gen);
          keep.push_back(m);
          const Spec s = make_spec(th ? 4 : 0, B, Lq, Lk, dt, rng);
          Params ps = score_params(*m->score);
          ps.push_back({"Wc", &m->attn_combine->weight});
          ps.push_back({"bc", &m->attn_combine->bias});
          json aa = args;
          aa.update(s.args);
          aa["tanh"] = th;
          add_case(pb, std::string("Attn ") + score_kind_name(kind) + (th ? " tanh" : "") + " #" + std::to_string(n++),
                   "w = normalize(score(a['kind'], Q, K), 'softmax')\n"
                   "o = F.linear(torch.cat([Q, torch.bmm(w, V)], 2), P['Wc'], P['bc'])\n"
                   "out = (torch.tanh(o) if a['tanh'] else o, w)",
                   {{"Q", randn({B, Lq, Dq}, dt, &pb.gen)}, {"K", randn({B, Lk, Dk}, dt, &pb.gen)},
                    {"V", randn({B, Lk, Dv}, dt, &pb.gen)}},
                   ps,
                   [m, mask = s.mask](const TensorList& in) {
                     auto r = m->forward(in[0], in[1], in[2], mask);
                     return TensorList{r.output, r.weights};
                   },
                   aa, concat_zero_grads(kind, dt, {"p_bias"}, {}));
        }
      }
    }
  // rotary option on Attention
  for (DType dt : {DType::F32, DType::F64}) {
    auto att = std::make_shared<Attention>(
        AttentionOptions(ScoreOptions(ScoreKind::ScaledDot, 6, 6).dtype(dt)).rotary(true), &pb.gen);
    keep.push_back(att);
    add_case(pb, "Attention rotary", "w = normalize(score('scaled_dot', rotary(q, 3), rotary(k, 1)), 'softmax')\nout = (w @ v, w)",
             {{"q", randn({2, 4, 6}, dt, &pb.gen)}, {"k", randn({2, 5, 6}, dt, &pb.gen)}, {"v", randn({2, 5, 2}, dt, &pb.gen)}},
             {}, [att](const TensorList& in) {
               auto r = att->forward(in[0], in[1], in[2], AttentionMask(), 3, 1);
               return TensorList{r.output, r.weights};
             },
             json::object());
  }
  pb.check();
}

TEST(ParityAttentionModules, SelfAttention) {
  ParityBatch pb(22);
  std::mt19937_64 rng(6);
  std::vector<std::shared_ptr<Module>> keep;
  int n = 0;
  for (DType dt : {DType::F32, DType::F64})
    for (int mk : {0, 1, 3, 4, 5, 6, 7, 8})
      for (int variant = 0; variant < 3; ++variant) {
        const int64_t B = variant == 0 ? 1 : pick(rng, 2, 3), L = variant == 0 ? 1 : pick(rng, 2, 6), E = pick(rng, 2, 6),
                      Dk = 2 * pick(rng, 1, 3), Dv = pick(rng, 1, 5);
        const bool scaled = variant != 1, bias = variant == 2, rot = variant == 1;
        const Normalization norm = variant == 2 ? Normalization::ReLU : Normalization::Softmax;
        auto sa = std::make_shared<SelfAttention>(SelfAttentionOptions(E).key_dim(Dk).value_dim(Dv).scaled(scaled)
                                                      .bias(bias).rotary(rot).normalization(norm).dtype(dt),
                                                  &pb.gen);
        keep.push_back(sa);
        const Spec s = make_spec(mk, B, L, L, dt, rng);
        Params ps{{"W_q", &sa->W_q}, {"W_k", &sa->W_k}, {"W_v", &sa->W_v}};
        if (bias) ps.insert(ps.end(), {{"b_q", &sa->b_q}, {"b_k", &sa->b_k}, {"b_v", &sa->b_v}});
        json aa = s.args;
        aa.update({{"scaled", scaled}, {"rot", rot}, {"norm", normalization_name(norm)}, {"bias", bias}});
        add_case(pb, "SelfAttention mask " + std::to_string(mk) + " variant " + std::to_string(variant) + " #" + std::to_string(n++),
                 "bq, bk, bv = (P['b_q'], P['b_k'], P['b_v']) if a['bias'] else (None, None, None)\n"
                 "Q, K, V = F.linear(x, P['W_q'], bq), F.linear(x, P['W_k'], bk), F.linear(x, P['W_v'], bv)\n"
                 "if a['rot']:\n    Q, K = rotary(Q, 2), rotary(K, 2)\n"
                 "S = Q @ K.transpose(1, 2)\n"
                 "if a['scaled']:\n    S = S / math.sqrt(Q.shape[-1])\n"
                 "w = normalize(S, a['norm'])\nout = (w @ V, w)",
                 with_mask({{"x", randn({B, L, E}, dt, &pb.gen)}}, s), ps,
                 [sa, m = s.mask](const TensorList& in) {
                   auto r = sa->forward(in[0], m, 2);
                   return TensorList{r.output, r.weights};
                 },
                 aa, {"dm"});
      }
  pb.check();
}

TEST(ParityAttentionModules, PositionalEncodings) {
  ParityBatch pb(23);
  std::mt19937_64 rng(7);
  std::vector<std::shared_ptr<Module>> keep;
  for (DType dt : {DType::F32, DType::F64})
    for (int rep = 0; rep < 3; ++rep) {
      const int64_t L = rep == 0 ? 1 : pick(rng, 2, 7), B = rep == 0 ? 1 : pick(rng, 2, 3), d = pick(rng, 1, 9);
      const int64_t off = rep == 2 ? 100000 + pick(rng, 0, 50) : pick(rng, 0, 20);
      const bool bf = rep == 1;
      auto pe = std::make_shared<SinusoidalPositionalEncoding>(SinusoidalPositionalEncodingOptions(d).batch_first(bf));
      keep.push_back(pe);
      add_case(pb, "sinusoidal d=" + std::to_string(d) + " off=" + std::to_string(off),
               "d, L, off = a['d'], x.shape[1] if a['bf'] else x.shape[0], a['off']\n"
               "pos = torch.arange(off, off + L, dtype=torch.float64)[:, None]\n"
               "div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))\n"
               "pe = torch.zeros(L, d, dtype=torch.float64)\n"
               "pe[:, 0::2] = torch.sin(pos * div)\n"
               "pe[:, 1::2] = torch.cos(pos * div[: d // 2])\n"
               "pe = pe.to(x.dtype)\n"
               "out = x + (pe[None] if a['bf'] else pe[:, None])",
               {{"x", randn(bf ? Shape{B, L, d} : Shape{L, B, d}, dt, &pb.gen)}}, {},
               [pe, off](const TensorList& in) { return TensorList{pe->forward(in[0], off)}; },
               json{{"d", d}, {"bf", bf}, {"off", off}});
      const int64_t max_len = L + pick(rng, 0, 4), loff = max_len - L;
      auto lp = std::make_shared<LearnedPositionalEncoding>(
          LearnedPositionalEncodingOptions(max_len, d).batch_first(bf).dtype(dt), &pb.gen);
      keep.push_back(lp);
      add_case(pb, "learned", "L = x.shape[1] if a['bf'] else x.shape[0]\nw = P['weight'][a['off']:a['off'] + L]\n"
                              "out = x + (w[None] if a['bf'] else w[:, None])",
               {{"x", randn(bf ? Shape{B, L, d} : Shape{L, B, d}, dt, &pb.gen)}}, {{"weight", &lp->weight}},
               [lp, loff](const TensorList& in) { return TensorList{lp->forward(in[0], loff)}; },
               json{{"bf", bf}, {"off", loff}});
      const int64_t D = 2 * pick(rng, 1, 4), roff = rep == 2 ? 54321 : pick(rng, 0, 9);
      const Shape xs = rep == 1 ? Shape{B, 2, L, D} : Shape{B, L, D};
      add_case(pb, "rotary", "out = rotary(x, a['off'], a['base'])", {{"x", randn(xs, dt, &pb.gen)}}, {},
               [roff, rep](const TensorList& in) { return TensorList{apply_rotary(in[0], roff, rep == 0 ? 500.0 : 10000.0)}; },
               json{{"off", roff}, {"base", rep == 0 ? 500.0 : 10000.0}});
    }
  pb.check();
}

TEST(ParityAttentionModules, LinearAttention) {
  ParityBatch pb(24);
  std::mt19937_64 rng(8);
  std::vector<std::shared_ptr<Module>> keep;
  const char* code = R"(
N = a['N']
def heads(t):
    B, L, E = t.shape
    return t.reshape(B, L, N, E // N).permute(0, 2, 1, 3)
Q = phi(heads(F.linear(q, P['qw'], P['qb'])))
K = phi(heads(F.linear(k, P['kw'], P['kb'])))
V = heads(F.linear(v, P['vw'], P['vb']))
eps = 1e-6
if a['mode'] == 'plain':
    S = torch.einsum('bnjd,bnje->bnde', K, V)
    Z = K.sum(2)
    O = torch.einsum('bnid,bnde->bnie', Q, S) / (torch.einsum('bnid,bnd->bni', Q, Z)[..., None] + eps)
elif a['mode'] == 'causal':
    S = torch.cumsum(K[..., :, None] * V[..., None, :], 2)
    Z = torch.cumsum(K, 2)
    O = torch.einsum('bnid,bnide->bnie', Q, S) / (torch.einsum('bnid,bnid->bni', Q, Z)[..., None] + eps)
else:
    ok = allowed(q.shape[0], q.shape[1], k.shape[1])[:, None]
    A = (Q @ K.transpose(2, 3)) * ok
    O = (A @ V) / (A.sum(-1, keepdim=True) + eps)
B, n, L, d = O.shape
out = F.linear(O.permute(0, 2, 1, 3).reshape(B, L, n * d), P['ow'], P['ob'])
)";
  int n = 0;
  for (DType dt : {DType::F32, DType::F64})
    for (int mode = 0; mode < 3; ++mode)
      for (int rep = 0; rep < 3; ++rep) {
        // A row that sees a single key outputs v * a / (a + eps): its gradients in q and k are
        // O(eps) ~ 1e-7, float32 rounding noise. So every row here sees >= 2 keys (Lk >= 2, a
        // window mask for the L=1 masked case; the combined mask, which can leave every row of a
        // small batch with one key, in float64 only) except the causal L=1 case, float64 only.
        // Head dim >= 2: with d = 1, phi(q_i) factors out of numerator and denominator alike.
        const int64_t N = pick(rng, 1, 3), E = N * pick(rng, 2, 3), B = rep == 0 ? 1 : pick(rng, 2, 3);
        const int64_t Lq = rep == 0 ? (mode == 1 && dt == DType::F32 ? 2 : 1) : pick(rng, 2, 6);
        const int64_t Lk = mode == 1 ? Lq : pick(rng, 2, 6);
        auto la = std::make_shared<LinearAttention>(LinearAttentionOptions(E, N).dtype(dt), &pb.gen);
        keep.push_back(la);
        const Spec s = make_spec(mode != 2 ? 0 : rep == 0 ? 3 : rep == 1 ? 2 : dt == DType::F64 ? 8 : 6, B, Lq, Lk, dt, rng);
        json aa = s.args;
        aa.update({{"N", N}, {"mode", mode == 0 ? "plain" : mode == 1 ? "causal" : "masked"}});
        Params ps{{"qw", &la->q_proj->weight}, {"qb", &la->q_proj->bias}, {"kw", &la->k_proj->weight},
                  {"kb", &la->k_proj->bias},   {"vw", &la->v_proj->weight}, {"vb", &la->v_proj->bias},
                  {"ow", &la->out_proj->weight}, {"ob", &la->out_proj->bias}};
        add_case(pb, "LinearAttention mode " + std::to_string(mode) + " #" + std::to_string(n++), code,
                 with_mask({{"q", randn({B, Lq, E}, dt, &pb.gen)}, {"k", randn({B, Lk, E}, dt, &pb.gen)},
                            {"v", randn({B, Lk, E}, dt, &pb.gen)}},
                           s),
                 ps,
                 [la, mode, m = s.mask](const TensorList& in) {
                   if (mode == 0) return TensorList{la->forward(in[0], in[1], in[2])};
                   if (mode == 1) return TensorList{la->forward(in[0], in[1], in[2], true)};
                   return TensorList{la->forward(in[0], in[1], in[2], m)};
                 },
                 aa, {"dm"});
      }
  pb.check();
}
