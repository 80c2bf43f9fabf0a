// Encoder-decoder models against their PyTorch 1.13 twins (tests/parity/seq2seq_twin.py, written
// from the equations of models/seq2seq.h): our state_dict loads into the twin strictly (same
// names, same order); logits within 1e-5 and every parameter's gradient of the label-smoothed
// loss within 1e-4, over random ragged batches (pads filled with random ids), F32 and F64:
//   rnn: gru encoder, gru/rnn decoder (1-2 layers), bahdanau with every score, luong, none
//   transformer: 1-2 layers, tied and untied output
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/module_parity.h"
#include "common/torch_oracle.h"
#include "seqnn/models/seq2seq.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::models;
using namespace seqnn::testutil;

namespace {

const char* kCode = R"(
exec(open(args['twin']).read(), globals())
a = args
dt = torch.float64 if a['f64'] else torch.float32
if a['arch'] == 'rnn':
    m = RnnSeq2SeqTwin(a['Vs'], a['Vt'], a['E'], a['H'], a['He'], a['L'], a['att'], a['score'], a['cell'])
else:
    m = TransformerSeq2SeqTwin(a['Vs'], a['Vt'], a['d'], a['nhead'], a['layers'], a['layers'], a['ff'], a['tie'])
m = load_state(m.to(dt))
m.train()
logits = m(src, lengths, tgt_in)
loss = seq2seq_loss(logits, tgt_out, a['eps'])
loss.backward()
for k, p in m.named_parameters():
    extra['d_' + k] = p.grad if p.grad is not None else torch.zeros_like(p)
out = [logits.detach(), loss.detach()]
)";

struct Case {
  std::string what;
  std::shared_ptr<Seq2SeqModel> model;
  Tensor logits, loss;
  bool concat = false;
};

struct Inputs {
  Tensor src, len, tgt_in, tgt_out;
};

Inputs random_inputs(std::mt19937& eng, int64_t Vs, int64_t Vt) {
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(eng); };
  const int64_t B = uni(1, 5), S = uni(1, 8), T = uni(2, 8);
  std::vector<int64_t> len(B), src(B * S), ti(B * T, 0), to(B * T, 0);
  for (int64_t b = 0; b < B; ++b) {
    len[b] = b == 0 ? S : uni(1, S);
    for (int64_t s = 0; s < S; ++s) src[b * S + s] = s < len[b] ? uni(4, Vs - 1) : uni(0, Vs - 1);  // noisy pads
    const int64_t n = b == 0 ? T - 1 : uni(1, T - 1);
    ti[b * T] = 2;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t y = uni(4, Vt - 1);
      ti[b * T + t + 1] = y;
      to[b * T + t] = y;
    }
    to[b * T + n] = 3;
  }
  return {from_vector(src, {B, S}), from_vector(len, {B}), from_vector(ti, {B, T}), from_vector(to, {B, T})};
}

TEST(ParitySeq2Seq, LogitsAndLossGradientsMatchTorch) {
  std::mt19937 eng(2024);
  std::vector<Case> cases;
  std::vector<OracleCase> oracle;
  const double eps = 0.1;
  for (DType dt : {DType::F32, DType::F64}) {
    struct Spec {
      std::string arch, att, score, cell;
      int64_t layers;
      bool tie;
    };
    std::vector<Spec> specs = {{"rnn", "bahdanau", "additive", "gru", 1, false},
                               {"rnn", "bahdanau", "additive", "gru", 2, false},
                               {"rnn", "bahdanau", "general", "rnn", 1, false},
                               {"rnn", "bahdanau", "dot", "gru", 1, false},
                               {"rnn", "bahdanau", "scaled_dot", "gru", 1, false},
                               {"rnn", "bahdanau", "concat", "gru", 1, false},
                               {"rnn", "luong", "additive", "gru", 2, false},
                               {"rnn", "luong", "general", "gru", 1, false},
                               {"rnn", "none", "additive", "gru", 2, false},
                               {"transformer", "", "", "", 1, false},
                               {"transformer", "", "", "", 2, true}};
    for (const auto& s : specs) {
      Seq2SeqConfig c;
      c.architecture = s.arch;
      c.source_vocab = 13;
      c.target_vocab = 11;
      nlohmann::json args = {{"twin", std::string(SEQNN_SOURCE_DIR) + "/tests/parity/seq2seq_twin.py"},
                             {"f64", dt == DType::F64}, {"arch", s.arch}, {"Vs", 13}, {"Vt", 11}, {"eps", eps}};
      if (s.arch == "rnn") {
        c.embedding_dim = 6;
        c.hidden_size = 10;
        c.num_layers = s.layers;
        c.cell = s.cell;
        c.attention = s.att;
        c.attention_score = s.score;
        c.encoder = {{"type", "gru"}, {"hidden_size", 10}, {"bidirectional", false}, {"attention_heads", 0}};
        args.update({{"E", 6}, {"H", 10}, {"He", 10}, {"L", s.layers}, {"att", s.att}, {"score", s.score}, {"cell", s.cell}});
      } else {
        c.d_model = 12;
        c.nhead = 3;
        c.num_encoder_layers = c.num_decoder_layers = s.layers;
        c.dim_feedforward = 20;
        c.tie_embeddings = s.tie;
        args.update({{"d", 12}, {"nhead", 3}, {"layers", s.layers}, {"ff", 20}, {"tie", s.tie}});
      }
      for (int rep = 0; rep < 2; ++rep) {
        Generator gen(eng());
        auto m = make_seq2seq(c, &gen);
        m->to(dt);
        m->train();
        const Inputs in = random_inputs(eng, 13, 11);
        const Tensor logits = m->forward(in.src, in.len, in.tgt_in);
        const Tensor loss = m->loss(logits, in.tgt_out, eps);
        m->zero_grad(true);
        loss.backward();
        std::string what = s.arch + " " + s.att + "/" + s.score + " " + s.cell + " L" + std::to_string(s.layers) +
                           (s.tie ? " tied" : "") + " " + dtype_name(dt) + " B=" + std::to_string(in.src.size(0)) +
                           " S=" + std::to_string(in.src.size(1)) + " T=" + std::to_string(in.tgt_in.size(1));
        cases.push_back({what, m, logits.detach(), loss.detach(), s.score == "concat"});
        OracleCase oc;
        oc.code = kCode;
        oc.inputs = {{"src", in.src}, {"lengths", in.len}, {"tgt_in", in.tgt_in}, {"tgt_out", in.tgt_out}};
        for (const auto& [k, t] : m->state_dict()) oc.state.push_back({k, t});
        oc.args = args;
        oracle.push_back(oc);
      }
    }
  }
  const auto ref = run_torch(oracle);
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    ASSERT_EQ(ref[i].outs.size(), 2u) << c.what;
    expect_close(c.logits, ref[i].outs[0], 1e-5, c.what + " logits");
    expect_close(c.loss, ref[i].outs[1], 1e-5, c.what + " loss");
    for (const auto& [name, p] : c.model->named_parameters()) {
      auto it = ref[i].extra.find("d_" + name);
      ASSERT_TRUE(it != ref[i].extra.end()) << c.what << ": torch has no gradient for " << name;
      ASSERT_TRUE(p.grad().defined()) << c.what << ": no gradient for " << name;
      if (c.concat && name == "attn.score.bias") {
        // w_q . q_i + c is the same for every key of a row and cancels in the softmax: the exact
        // gradient is 0 and both sides hold rounding noise, so check that it is noise-sized.
        for (const Tensor& g : {p.grad(), it->second})
          for (double x : g.to(DType::F64).to_vector<double>()) EXPECT_LE(std::fabs(x), 1e-7) << c.what;
        continue;
      }
      expect_close(p.grad(), it->second, 1e-4, c.what + " d" + name);
    }
  }
}

}  // namespace
