// The sequence-to-sequence speed benchmark of issue 6: a character GRU encoder-decoder with
// additive (Bahdanau) attention, float32, timed next to the same model in PyTorch 1.13 by
// bench/compare.py --only seq2seq (the twin: tests/parity/seq2seq_twin.py).
//
// Model (models::Seq2SeqModel, architecture "rnn", source "tokens"): vocabularies 100 and 100,
// embedding 64, encoder a 1-layer unidirectional GRU of hidden 128 (no self-attention), bridge
// h_0 = tanh(W_b c + b_b), decoder a 1-layer GRU of hidden 128 whose input is
// [e(y_{t-1}); a_t], attention "bahdanau" with the additive score v . tanh(W_q s_{t-1} + b + W_k h_j),
// output Linear(128, 100); dropout 0.
// Batch: B = 64 ragged sentences (bench/compare.py builds the same ones in Python):
//   source b: S_b = 20 + (7b + 3) mod 21 chars (20..40), char s = 4 + (31b + 17s + 5) mod 96
//   target b: m_b = 19 + (11b + 5) mod 21 chars (19..39), char t = 4 + (13b + 29t + 7) mod 96;
//             tgt_in = [BOS y], tgt_out = [y EOS] (m_b + 1 positions each), padded with 0 to T = 40
// Cases:
//   BM_s2s_train          forward (teacher forcing) + loss (token cross-entropy, pads ignored)
//                         + backward + Adam step (lr 1e-3) + zero_grad; counter tokens/s = the
//                         non-pad target tokens (sum of m_b + 1 = 1915) per second
//   BM_s2s_greedy/40      eval mode: encode + greedy decoding of the 64 sources for exactly 40
//                         steps; counter sentences/s
//   BM_s2s_beam4/40       eval mode: encode + beam search (beam 4, length penalty 1) for exactly
//                         40 steps; counter sentences/s
// Decoding runs exactly max_length steps on every row: the output bias of EOS is set to -1e4 in
// the decoding cases (on both sides), so no hypothesis ever finishes early.
#include <benchmark/benchmark.h>

#include <vector>

#include "seqnn/autograd.h"
#include "seqnn/models/decoding.h"
#include "seqnn/models/seq2seq.h"
#include "seqnn/ops.h"
#include "seqnn/optim/adam.h"
#include "seqnn/random.h"

using namespace seqnn;
using namespace seqnn::models;

namespace {

constexpr int64_t kB = 64, kV = 100, kE = 64, kH = 128;
constexpr int64_t kBos = 2, kEos = 3;

struct Batch {
  Tensor src, len, tgt_in, tgt_out;
  int64_t tokens = 0;  // non-pad target positions
};

Batch make_batch() {
  std::vector<int64_t> S(kB), M(kB);
  int64_t Smax = 0, T = 0;
  for (int64_t b = 0; b < kB; ++b) {
    S[b] = 20 + (7 * b + 3) % 21;
    M[b] = 19 + (11 * b + 5) % 21;
    Smax = std::max(Smax, S[b]);
    T = std::max(T, M[b] + 1);
  }
  std::vector<int64_t> src(kB * Smax, 0), ti(kB * T, 0), to(kB * T, 0);
  Batch r;
  for (int64_t b = 0; b < kB; ++b) {
    for (int64_t s = 0; s < S[b]; ++s) src[b * Smax + s] = 4 + (31 * b + 17 * s + 5) % 96;
    ti[b * T] = kBos;
    for (int64_t t = 0; t < M[b]; ++t) {
      const int64_t y = 4 + (13 * b + 29 * t + 7) % 96;
      ti[b * T + t + 1] = y;
      to[b * T + t] = y;
    }
    to[b * T + M[b]] = kEos;
    r.tokens += M[b] + 1;
  }
  r.src = from_vector(src, {kB, Smax});
  r.len = from_vector(S, {kB});
  r.tgt_in = from_vector(ti, {kB, T});
  r.tgt_out = from_vector(to, {kB, T});
  return r;
}

std::shared_ptr<Seq2SeqModel> make_model() {
  Seq2SeqConfig c;
  c.architecture = "rnn";
  c.source = "tokens";
  c.source_vocab = kV;
  c.target_vocab = kV;
  c.embedding_dim = kE;
  c.encoder = {{"type", "gru"}, {"hidden_size", kH}, {"bidirectional", false}, {"attention_heads", 0}};
  c.cell = "gru";
  c.hidden_size = kH;
  c.num_layers = 1;
  c.attention = "bahdanau";
  c.attention_score = "additive";
  Generator gen(1);
  return make_seq2seq(c, &gen);
}

// The decoding cases: eval mode, and EOS can never win (every row decodes max_length steps).
std::shared_ptr<Seq2SeqModel> make_decoding_model() {
  auto m = make_model();
  m->eval();
  NoGradGuard ng;
  Tensor bias = m->named_parameters().at("out.bias");
  bias.data_ptr<float>()[kEos] = -1e4f;
  return m;
}

void BM_s2s_train(benchmark::State& st) {
  const Batch in = make_batch();
  auto m = make_model();
  m->train();
  optim::Adam opt(m->parameters(), optim::AdamOptions(1e-3));
  for (auto _ : st) {
    const Tensor logits = m->forward(in.src, in.len, in.tgt_in);
    const Tensor loss = m->loss(logits, in.tgt_out);
    loss.backward();
    opt.step();
    opt.zero_grad(true);
    benchmark::DoNotOptimize(loss);
  }
  st.counters["tokens/s"] = benchmark::Counter(static_cast<double>(in.tokens), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_s2s_greedy(benchmark::State& st) {
  const Batch in = make_batch();
  auto m = make_decoding_model();
  const DecodeOptions o = DecodeOptions(kBos, kEos).max_length(st.range(0));
  for (auto _ : st) {
    auto dec = m->decoder(in.src, in.len);
    auto hyps = greedy_decode(*dec, o);
    if (static_cast<int64_t>(hyps.size()) != kB || static_cast<int64_t>(hyps[0].tokens.size()) != st.range(0))
      st.SkipWithError("greedy decoding did not run max_length steps");
    benchmark::DoNotOptimize(hyps);
  }
  st.counters["sentences/s"] = benchmark::Counter(static_cast<double>(kB), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_s2s_beam4(benchmark::State& st) {
  const Batch in = make_batch();
  auto m = make_decoding_model();
  const DecodeOptions o = DecodeOptions(kBos, kEos).max_length(st.range(0)).beam_size(4);
  for (auto _ : st) {
    auto dec = m->decoder(in.src, in.len);
    auto hyps = beam_search(*dec, o);
    if (static_cast<int64_t>(hyps.size()) != kB || static_cast<int64_t>(hyps[0][0].tokens.size()) != st.range(0))
      st.SkipWithError("beam search did not run max_length steps");
    benchmark::DoNotOptimize(hyps);
  }
  st.counters["sentences/s"] = benchmark::Counter(static_cast<double>(kB), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_s2s_train)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_s2s_greedy)->Arg(40)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_s2s_beam4)->Arg(40)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
