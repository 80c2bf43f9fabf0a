// Encoder-decoder models (models/seq2seq.h): StepDecoder == forward() for every architecture,
// attention, score, cell and source kind (also after reorder with permutations and duplicates);
// padded source positions change nothing; teacher_forcing_ratio 0 == the model's own greedy
// loop; gradchecks through loss(); copy / reverse / 1-vs-N tasks learned to 100% exact match;
// config and input errors with their messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "common/check.h"
#include "common/gradcheck.h"
#include "common/module_gradcheck.h"
#include "kernels/attention_score.h"
#include "kernels/seq2seq_attention.h"
#include "models/seq2seq_impl.h"
#include "seqnn/models/seq2seq.h"
#include "seqnn/optim/adam.h"
#include "seqnn/optim/clip_grad.h"
#include "seqnn/ops.h"
#include "seqnn/threads.h"

using namespace seqnn;
using namespace seqnn::models;
using namespace seqnn::testutil;

namespace {

constexpr int64_t BOS = 2, EOS = 3;

struct Batch {
  Tensor src, len, tgt_in, tgt_out;
};

// B sources of lengths in [1,S] (one of length S), ids in [4,Vs) or N(0,1) features (pads: 0, or
// random ids / values with noisy_pads); targets y of lengths in [1,T-1] (one of T-1):
// tgt_in = [BOS y], tgt_out = [y EOS], padded with 0.
Batch make_batch(const Seq2SeqConfig& c, int64_t B, int64_t S, int64_t T, uint32_t seed, DType dt = DType::F32,
                 bool noisy_pads = false) {
  std::mt19937 eng(seed);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(eng); };
  std::normal_distribution<double> nd, nd_pad;
  std::mt19937 pad_eng(seed * 7 + 1);
  Batch b;
  std::vector<int64_t> len(B);
  for (int64_t i = 0; i < B; ++i) len[i] = i == 0 ? S : uni(1, S);
  if (c.source != "vector") b.len = from_vector(len, {B});  // "vector" takes no lengths
  if (c.source == "tokens") {
    std::vector<int64_t> ids(B * S, 0);
    for (int64_t i = 0; i < B; ++i)
      for (int64_t s = 0; s < S; ++s)
        ids[i * S + s] = s < len[i] ? uni(4, c.source_vocab - 1)
                                    : (noisy_pads ? std::uniform_int_distribution<int64_t>(0, c.source_vocab - 1)(pad_eng) : 0);
    b.src = from_vector(ids, {B, S});
  } else if (c.source == "features") {
    const int64_t F = c.feature_dim;
    std::vector<double> f(B * S * F, 0.0);
    for (int64_t i = 0; i < B; ++i)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t k = 0; k < F; ++k) f[(i * S + s) * F + k] = s < len[i] ? nd(eng) : (noisy_pads ? 5.0 * nd_pad(pad_eng) : 0.0);
    b.src = from_vector(f, {B, S, F}).to(dt);
  } else {
    std::vector<double> f(B * c.feature_dim);
    for (auto& v : f) v = nd(eng);
    b.src = from_vector(f, {B, c.feature_dim}).to(dt);
  }
  std::vector<int64_t> ti(B * T, 0), to(B * T, 0);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t n = i == 0 ? T - 1 : uni(1, T - 1);
    ti[i * T] = BOS;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t y = uni(4, c.target_vocab - 1);
      ti[i * T + t + 1] = y;
      to[i * T + t] = y;
    }
    to[i * T + n] = EOS;
  }
  b.tgt_in = from_vector(ti, {B, T});
  b.tgt_out = from_vector(to, {B, T});
  return b;
}

Seq2SeqConfig rnn_cfg(const std::string& att, const std::string& score = "additive", const std::string& cell = "gru",
                      const std::string& source = "tokens", int64_t layers = 1) {
  Seq2SeqConfig c;
  c.architecture = "rnn";
  c.source = source;
  c.source_vocab = 11;
  c.feature_dim = 5;
  c.target_vocab = 9;
  c.embedding_dim = 6;
  c.hidden_size = 8;
  c.num_layers = layers;
  c.cell = cell;
  c.attention = att;
  c.attention_score = score;
  c.encoder = {{"type", "gru"}, {"hidden_size", 8}, {"bidirectional", false}, {"attention_heads", 0}};
  return c;
}

Seq2SeqConfig transformer_cfg(const std::string& source = "tokens", bool tie = false, int64_t layers = 1) {
  Seq2SeqConfig c;
  c.architecture = "transformer";
  c.source = source;
  c.source_vocab = 11;
  c.feature_dim = 5;
  c.target_vocab = 9;
  c.d_model = 8;
  c.nhead = 2;
  c.num_encoder_layers = layers;
  c.num_decoder_layers = layers;
  c.dim_feedforward = 16;
  c.tie_embeddings = tie;
  return c;
}

Tensor full_like_ids(const Tensor& ids, int64_t v) {
  return from_vector(std::vector<int64_t>(static_cast<size_t>(ids.numel()), v), ids.shape());
}

std::vector<double> vec(const Tensor& t) { return t.to(DType::F64).contiguous().to_vector<double>(); }

// ==================================================================== the additive score kernel
// The one-pass, vectorised-tanh kernel against the naive reference of the general additive score.
template <class T>
void check_additive_kernel(int64_t B, int64_t Lq, int64_t Lk, int64_t A, double tol) {
  std::mt19937 eng(static_cast<uint32_t>(B * 1000 + Lq * 100 + Lk * 10 + A));
  std::normal_distribution<double> nd;
  auto rnd = [&](int64_t n, bool zeros = false) {
    std::vector<T> x(static_cast<size_t>(n));
    for (auto& e : x) e = zeros && nd(eng) > 0.5 ? T(0) : static_cast<T>(nd(eng));
    return x;
  };
  const auto qp = rnd(B * Lq * A), kp = rnd(B * Lk * A), v = rnd(A), ds = rnd(B * Lq * Lk, true);
  std::vector<T> s(B * Lq * Lk), s_ref(B * Lq * Lk), dq(B * Lq * A), dq_ref(B * Lq * A), dk(B * Lk * A),
      dk_ref(B * Lk * A), dv(A), dv_ref(A);
  kernels::seq2seq_additive_forward<T>(qp.data(), kp.data(), v.data(), s.data(), B, Lq, Lk, A);
  kernels::ref::additive_score_forward<T>(qp.data(), kp.data(), v.data(), s_ref.data(), B, Lq, Lk, A);
  kernels::seq2seq_additive_backward<T>(qp.data(), kp.data(), v.data(), ds.data(), dq.data(), dk.data(), dv.data(), B,
                                        Lq, Lk, A);
  kernels::ref::additive_score_backward<T>(qp.data(), kp.data(), v.data(), ds.data(), dq_ref.data(), dk_ref.data(),
                                           dv_ref.data(), B, Lq, Lk, A);
  const std::string what = "B=" + std::to_string(B) + " Lq=" + std::to_string(Lq) + " Lk=" + std::to_string(Lk) +
                           " A=" + std::to_string(A);
  if (B * Lq * Lk > 0) EXPECT_LE(max_rel_err(s, s_ref), tol) << what;
  if (B * Lq * A > 0) EXPECT_LE(max_rel_err(dq, dq_ref), tol) << what;
  if (B * Lk * A > 0) EXPECT_LE(max_rel_err(dk, dk_ref), tol) << what;
  if (A > 0 && B * Lq * Lk > 0) EXPECT_LE(max_rel_err(dv, dv_ref), tol) << what;
  // With key lengths (ragged keys, as the models pass them): the padded keys are not scored
  // (S = 0) and their ds is ignored; where the caller's ds is 0 there (the softmax's weights),
  // every gradient equals the reference's on the full keys.
  std::vector<int64_t> len(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) len[b] = std::uniform_int_distribution<int64_t>(0, Lk)(eng);
  auto ds_pad = rnd(B * Lq * Lk);  // garbage at the pads: must not matter
  auto ds0 = ds_pad;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = len[b]; j < Lk; ++j) ds0[(b * Lq + i) * Lk + j] = T(0);
  std::vector<T> sl(B * Lq * Lk, T(7)), dql(B * Lq * A), dkl(B * Lk * A), dvl(A);
  kernels::seq2seq_additive_forward<T>(qp.data(), kp.data(), v.data(), sl.data(), B, Lq, Lk, A, len.data());
  kernels::ref::additive_score_backward<T>(qp.data(), kp.data(), v.data(), ds0.data(), dq_ref.data(), dk_ref.data(),
                                           dv_ref.data(), B, Lq, Lk, A);
  kernels::seq2seq_additive_backward<T>(qp.data(), kp.data(), v.data(), ds_pad.data(), dql.data(), dkl.data(),
                                        dvl.data(), B, Lq, Lk, A, len.data());
  double serr = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Lq; ++i)
      for (int64_t j = 0; j < Lk; ++j) {
        const int64_t k = (b * Lq + i) * Lk + j;
        if (j < len[b])
          serr = std::max(serr, std::fabs(double(sl[k]) - double(s_ref[k])) / std::max(1.0, std::fabs(double(s_ref[k]))));
        else
          EXPECT_EQ(sl[k], T(0)) << what << " padded score";
      }
  EXPECT_LE(serr, tol) << what << " with key lengths";
  if (B * Lq * A > 0) EXPECT_LE(max_rel_err(dql, dq_ref), tol) << what << " with key lengths";
  if (B * Lk * A > 0) EXPECT_LE(max_rel_err(dkl, dk_ref), tol) << what << " with key lengths";
  if (A > 0 && B * Lq * Lk > 0) EXPECT_LE(max_rel_err(dvl, dv_ref), tol) << what << " with key lengths";
  // With key_row (decoding: rows score the keys of their source, no per-row copy): the
  // reference's result on the gathered keys. Sources of Bk = B/2 + 1, as runs of equal rows
  // (the beams of one source, grouped by the kernel) and then in a random order; per-row
  // lengths, equal within a source's run.
  const int64_t Bk = B / 2 + 1;
  const auto kps = rnd(Bk * Lk * A);
  std::vector<int64_t> len_k(static_cast<size_t>(Bk));
  for (auto& l : len_k) l = std::uniform_int_distribution<int64_t>(0, Lk)(eng);
  for (bool shuffled : {false, true}) {
    std::vector<int64_t> row(static_cast<size_t>(B)), lrow(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) row[b] = shuffled ? std::uniform_int_distribution<int64_t>(0, Bk - 1)(eng) : b * Bk / B;
    std::vector<T> kg(static_cast<size_t>(B * Lk * A));
    for (int64_t b = 0; b < B; ++b) {
      lrow[b] = len_k[row[b]];
      std::copy(kps.begin() + row[b] * Lk * A, kps.begin() + (row[b] + 1) * Lk * A, kg.begin() + b * Lk * A);
    }
    std::vector<T> sr(B * Lq * Lk, T(7)), sg(B * Lq * Lk, T(7));
    kernels::seq2seq_additive_forward<T>(qp.data(), kps.data(), v.data(), sr.data(), B, Lq, Lk, A, lrow.data(),
                                         row.data());
    kernels::ref::additive_score_forward<T>(qp.data(), kg.data(), v.data(), sg.data(), B, Lq, Lk, A);
    double err = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Lq; ++i)
        for (int64_t j = 0; j < Lk; ++j) {
          const int64_t k = (b * Lq + i) * Lk + j;
          if (j >= lrow[b]) {
            EXPECT_EQ(sr[k], T(0)) << what << " key_row padded score";
            continue;
          }
          err = std::max(err, std::fabs(double(sr[k]) - double(sg[k])) / std::max(1.0, std::fabs(double(sg[k]))));
        }
    EXPECT_LE(err, tol) << what << " key_row, shuffled " << shuffled;
  }
}

TEST(Seq2Seq, AdditiveKernelMatchesReference) {
  for (auto [B, Lq, Lk, A] : std::vector<std::array<int64_t, 4>>{
           {1, 1, 1, 1}, {3, 1, 7, 5}, {2, 4, 3, 17}, {64, 1, 40, 128}, {5, 9, 1, 33}, {2, 0, 3, 4}, {2, 3, 0, 4},
           {13, 1, 11, 37}, {9, 3, 6, 20}}) {
    check_additive_kernel<float>(B, Lq, Lk, A, 1e-5);
    check_additive_kernel<double>(B, Lq, Lk, A, 1e-12);
  }
}

TEST(Seq2Seq, AdditiveScoreOpGradcheck) {
  Generator g(3);
  EXPECT_TRUE(gradcheck("additive_score_fast",
                        [](const TensorList& in) { return models::detail::additive_score_fast(in[0], in[1], in[2]); },
                        {randn({2, 3, 4}, DType::F64, &g), randn({2, 5, 4}, DType::F64, &g), randn({4}, DType::F64, &g)}));
  expect_error([] { models::detail::additive_score_fast(zeros({2, 3, 4}), zeros({2, 5, 3}), zeros({4})); }, "additive_score",
               "expected qp (B,Lq,A), kp (B,Lk,A), v (A)");
}

// The decoding ops over a source map: bmm_rows equals bmm on the gathered batch (runs of one
// source, repeats, any order); both refuse autograd and out-of-range sources.
TEST(Seq2Seq, RowOpsOverASourceMap) {
  Generator g(5);
  const Tensor a = randn({6, 7}, DType::F32, &g), b = randn({3, 7, 9}, DType::F32, &g);
  const std::vector<int64_t> src = {2, 2, 0, 1, 1, 2};
  const Tensor idx = from_vector(src, {6});
  const Tensor want = reshape(bmm(reshape(a, {6, 1, 7}), index_select(b, 0, idx)), {6, 9});
  const auto got = vec(models::detail::bmm_rows(a, b, src)), ref = vec(want);
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-5 * (1 + std::fabs(ref[i]))) << i;
  expect_error([&] { models::detail::bmm_rows(a, b, {0, 1, 2, 3, 0, 0}); }, "bmm_rows", "out of range [0,3)");
  expect_error([&] { models::detail::bmm_rows(a, b, {0, 1}); }, "bmm_rows", "src has 2 entries for 6 rows");
  Tensor ag = a.clone();
  ag.requires_grad_(true);
  expect_error([&] { models::detail::bmm_rows(ag, b, src); }, "bmm_rows", "is for decoding (no autograd)");
  const Tensor qp = randn({6, 5}, DType::F32, &g), kp = randn({3, 7, 5}, DType::F32, &g), v = randn({5}, DType::F32, &g);
  expect_error([&] { models::detail::additive_score_rows(qp, kp, v, {0, 0, 0, 0, 0, -1}, {}); }, "additive_score_rows",
               "out of range [0,3)");
  expect_error([&] { models::detail::additive_score_rows(qp, kp, zeros({4}), src, {}); }, "additive_score_rows",
               "expected qp (R,A), kp (Bs,S,A), v (A)");
  expect_error([&] { models::detail::additive_score_rows(qp, kp, v, src, {1, 2}); }, "additive_score_rows",
               "lengths has 2 entries for 6 rows");
  expect_error([&] { models::detail::bmm_rows(a, b.to(DType::F64), src); }, "bmm_rows", "dtype");
  expect_error([&] { models::detail::bmm_rows(a, randn({3, 8, 9}, DType::F32, &g), src); }, "bmm_rows",
               "expected a (R,K), b (Bs,K,N)");
  // no rows (every source finished): empty results of the right shape
  EXPECT_EQ(models::detail::bmm_rows(zeros({0, 7}), b, {}).shape(), (Shape{0, 9}));
  EXPECT_EQ(models::detail::additive_score_rows(zeros({0, 5}), kp, v, {}, {}).shape(), (Shape{0, 7}));
  // a NaN in one row stays in that row (the other rows' results are untouched)
  Tensor an = a.clone();
  an.data_ptr<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  const auto gn = vec(models::detail::bmm_rows(an, b, src));
  for (int64_t j = 0; j < 9; ++j) EXPECT_TRUE(std::isnan(gn[j])) << j;
  for (size_t i = 9; i < gn.size(); ++i) EXPECT_NEAR(gn[i], ref[i], 1e-5 * (1 + std::fabs(ref[i]))) << i;
}

// ==================================================================== StepDecoder consistency
// Feeding the gold tgt_in through step() gives log_softmax(forward()) row by row; at T/2 the rows
// are reordered (permutation, duplicate, drop) and keep following their sources; at 3T/4 twice
// more (within the same sources, then across them).
void check_steps(Seq2SeqModel& m, const Batch& b, const std::string& what, double tol = 1e-5) {
  m.eval();
  const Tensor lp = log_softmax(m.forward(b.src, b.len, b.tgt_in), -1);  // (B,T,V)
  const Tensor att = m.attention();
  const int64_t B = lp.size(0), T = lp.size(1), V = lp.size(2);
  const auto ref = vec(lp);
  const auto tgt = b.tgt_in.to_vector<int64_t>();
  std::vector<double> aref;
  int64_t S = 0;
  if (att.defined()) {
    aref = vec(att);
    S = att.size(2);
    ASSERT_EQ(att.shape(), (Shape{B, T, S})) << what;
  }
  auto dec = m.decoder(b.src, b.len);
  ASSERT_EQ(dec->rows(), B) << what;
  ASSERT_EQ(dec->vocab_size(), V) << what;
  std::vector<int64_t> rows(B);
  std::iota(rows.begin(), rows.end(), 0);
  const auto lens = b.len.defined() ? b.len.to_vector<int64_t>() : std::vector<int64_t>{};
  for (int64_t t = 0; t < T; ++t) {
    if (t == T / 2) {
      std::vector<int64_t> idx = {B - 1, 0, 0};
      if (B > 2) idx.push_back(1);
      dec->reorder(from_vector(idx, {static_cast<int64_t>(idx.size())}));
      std::vector<int64_t> nr;
      for (int64_t i : idx) nr.push_back(rows[i]);
      rows = nr;
      ASSERT_EQ(dec->rows(), static_cast<int64_t>(rows.size())) << what;
    }
    if (t == (3 * T) / 4 && t > T / 2) {
      // The decoder keeps the sources' memory per source and re-gathers it only when the rows'
      // sources change: first a reorder among rows of the same sources (the duplicated rows
      // swap places), then one that reverses the rows (their sources change).
      std::vector<int64_t> same(rows.size());
      std::iota(same.begin(), same.end(), 0);
      std::swap(same[1], same[2]);
      std::vector<int64_t> rev(same.rbegin(), same.rend());
      for (const auto& idx : {same, rev}) {
        dec->reorder(from_vector(idx, {static_cast<int64_t>(idx.size())}));
        std::vector<int64_t> nr;
        for (int64_t i : idx) nr.push_back(rows[i]);
        rows = nr;
      }
      ASSERT_EQ(dec->rows(), static_cast<int64_t>(rows.size())) << what;
    }
    const int64_t R = static_cast<int64_t>(rows.size());
    std::vector<int64_t> tok(R);
    for (int64_t r = 0; r < R; ++r) tok[r] = tgt[rows[r] * T + t];
    const Tensor out = dec->step(from_vector(tok, {R}));
    ASSERT_EQ(out.shape(), (Shape{R, V})) << what;
    const auto o = vec(out);
    double err = 0;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t v = 0; v < V; ++v)
        err = std::max(err, std::fabs(o[r * V + v] - ref[(rows[r] * T + t) * V + v]) /
                                std::max(1.0, std::fabs(ref[(rows[r] * T + t) * V + v])));
    EXPECT_LE(err, tol) << what << " step " << t;
    if (att.defined()) {
      const Tensor la = dec->last_attention();
      ASSERT_TRUE(la.defined()) << what;
      ASSERT_EQ(la.shape(), (Shape{R, S})) << what;
      const auto a = vec(la);
      double aerr = 0;
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s) {
          aerr = std::max(aerr, std::fabs(a[r * S + s] - aref[(rows[r] * T + t) * S + s]));
          if (!lens.empty() && s >= lens[rows[r]]) EXPECT_EQ(a[r * S + s], 0.0) << what << " pad weight";
        }
      EXPECT_LE(aerr, tol) << what << " attention at step " << t;
    } else {
      EXPECT_FALSE(dec->last_attention().defined()) << what;
    }
    if (!lens.empty()) {
      const auto sl = dec->source_lengths();
      ASSERT_EQ(static_cast<int64_t>(sl.size()), R) << what;
      for (int64_t r = 0; r < R; ++r) EXPECT_EQ(sl[r], lens[rows[r]]) << what;
    }
  }
  // Dropping every row is allowed; a step then gives (0,V).
  dec->reorder(from_vector(std::vector<int64_t>{}, {0}));
  EXPECT_EQ(dec->rows(), 0);
  EXPECT_EQ(dec->step(from_vector(std::vector<int64_t>{}, {0})).shape(), (Shape{0, V})) << what;
}

struct Variant {
  std::string what;
  Seq2SeqConfig cfg;
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (const char* s : {"additive", "dot", "scaled_dot", "general", "concat"}) {
    v.push_back({std::string("bahdanau/") + s, rnn_cfg("bahdanau", s)});
    v.push_back({std::string("luong/") + s + " lstm x2", rnn_cfg("luong", s, "lstm", "tokens", 2)});
  }
  v.push_back({"none gru", rnn_cfg("none")});
  v.push_back({"none lstm x2", rnn_cfg("none", "additive", "lstm", "tokens", 2)});
  v.push_back({"none rnn", rnn_cfg("none", "additive", "rnn")});
  v.push_back({"bahdanau/additive lstm x2", rnn_cfg("bahdanau", "additive", "lstm", "tokens", 2)});
  v.push_back({"bahdanau/general rnn", rnn_cfg("bahdanau", "general", "rnn")});
  v.push_back({"luong/dot rnn", rnn_cfg("luong", "dot", "rnn")});
  v.push_back({"features bahdanau/general", rnn_cfg("bahdanau", "general", "gru", "features")});
  v.push_back({"features luong/additive", rnn_cfg("luong", "additive", "gru", "features")});
  v.push_back({"features none lstm", rnn_cfg("none", "additive", "lstm", "features")});
  v.push_back({"vector gru", rnn_cfg("none", "additive", "gru", "vector")});
  v.push_back({"vector lstm x2", rnn_cfg("none", "additive", "lstm", "vector", 2)});
  {
    auto c = rnn_cfg("bahdanau", "dot");
    c.encoder = {{"type", "lstm"}, {"hidden_size", 4}, {"bidirectional", true}, {"attention_heads", 2}};
    v.push_back({"bilstm+self-attention encoder, bahdanau/dot", c});
  }
  {
    auto c = rnn_cfg("luong", "general");
    c.encoder = {{"type", "transformer"}, {"d_model", 8}, {"nhead", 2}, {"num_layers", 1}};
    v.push_back({"transformer encoder, luong/general", c});
  }
  {
    auto c = rnn_cfg("bahdanau", "additive");
    c.embedding_dim = 8;
    c.tie_embeddings = true;
    v.push_back({"rnn tied", c});
  }
  v.push_back({"transformer", transformer_cfg()});
  v.push_back({"transformer features", transformer_cfg("features")});
  v.push_back({"transformer tied x2", transformer_cfg("tokens", true, 2)});
  return v;
}

TEST(Seq2Seq, StepDecoderEqualsForwardAfterReorder) {
  uint32_t seed = 1;
  for (const auto& v : variants()) {
    Generator gen(seed);
    auto m = make_seq2seq(v.cfg, &gen);
    check_steps(*m, make_batch(v.cfg, 4, 7, 6, seed++), v.what);
    check_steps(*m, make_batch(v.cfg, 1, 1, 3, seed++), v.what + " (B=1, S=1)");
  }
}

// 20 rows on 2 threads: the RNN decoder splits its rows into shares stepped at once (until
// the reorder at T/2 leaves 4 rows, which step whole).
TEST(Seq2Seq, StepDecoderEqualsForwardWithRowShares) {
  const int saved = num_threads();
  set_num_threads(2);
  uint32_t seed = 300;
  for (const auto& v : variants()) {
    Generator gen(seed);
    auto m = make_seq2seq(v.cfg, &gen);
    check_steps(*m, make_batch(v.cfg, 20, 7, 8, seed++), v.what + " (20 rows, 2 threads)");
  }
  set_num_threads(saved);
}

TEST(Seq2Seq, StepDecoderFloat64) {
  uint32_t seed = 100;
  for (const auto& v : variants()) {
    Generator gen(seed);
    auto m = make_seq2seq(v.cfg, &gen);
    m->to(DType::F64);
    check_steps(*m, make_batch(v.cfg, 3, 5, 5, seed++, DType::F64), v.what + " f64", 1e-10);
  }
}

// Pads never matter: other pad contents give the same logits, and each row equals the model run
// on that source alone, cut to its length.
TEST(Seq2Seq, PaddedSourcePositionsChangeNothing) {
  uint32_t seed = 7;
  for (const auto& v : variants()) {
    if (v.cfg.source == "vector") continue;
    Generator gen(seed);
    auto m = make_seq2seq(v.cfg, &gen);
    m->eval();
    const Batch a = make_batch(v.cfg, 4, 7, 5, seed), b = make_batch(v.cfg, 4, 7, 5, seed, DType::F32, true);
    const auto la = vec(m->forward(a.src, a.len, a.tgt_in)), lb = vec(m->forward(b.src, b.len, b.tgt_in));
    ASSERT_NE(vec(a.src), vec(b.src)) << v.what;
    for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], lb[i], 1e-6) << v.what;
    const auto lens = a.len.to_vector<int64_t>();
    const int64_t T = a.tgt_in.size(1), V = v.cfg.target_vocab;
    for (int64_t r = 0; r < 4; ++r) {
      const Tensor src1 = slice(slice(b.src, 0, r, r + 1), 1, 0, lens[r]).contiguous();
      const Tensor one = m->forward(src1, from_vector(std::vector<int64_t>{lens[r]}, {1}),
                                    slice(a.tgt_in, 0, r, r + 1).contiguous());
      const auto lo = vec(one);
      for (int64_t i = 0; i < T * V; ++i) ASSERT_NEAR(lo[i], la[r * T * V + i], 2e-5) << v.what << " row " << r;
    }
    ++seed;
  }
}

// ==================================================================== teacher forcing
TEST(Seq2Seq, TeacherForcingZeroIsTheGreedyLoop) {
  uint32_t seed = 21;
  std::vector<Variant> vs = {{"bahdanau/additive gru", rnn_cfg("bahdanau")},
                             {"luong/general lstm x2", rnn_cfg("luong", "general", "lstm", "tokens", 2)},
                             {"none rnn", rnn_cfg("none", "additive", "rnn")},
                             {"vector gru", rnn_cfg("none", "additive", "gru", "vector")}};
  for (const auto& v : vs) {
    Generator gen(seed);
    auto m = make_seq2seq(v.cfg, &gen);
    m->eval();
    const Batch b = make_batch(v.cfg, 5, 6, 7, seed++);
    const Tensor lp = log_softmax(m->forward(b.src, b.len, b.tgt_in, 0.0), -1);
    // another gold target past BOS changes nothing at ratio 0
    Batch b2 = make_batch(v.cfg, 5, 6, 7, seed + 1000);
    const Tensor lp2 = log_softmax(m->forward(b.src, b.len, b2.tgt_in, 0.0), -1);
    EXPECT_EQ(vec(lp), vec(lp2)) << v.what;
    const auto ref = vec(lp);
    const int64_t B = 5, T = 7, V = v.cfg.target_vocab;
    auto dec = m->decoder(b.src, b.len);
    std::vector<int64_t> tok(B, BOS);
    for (int64_t t = 0; t < T; ++t) {
      const auto o = vec(dec->step(from_vector(tok, {B})));
      for (int64_t r = 0; r < B; ++r) {
        int64_t best = 0;
        for (int64_t k = 0; k < V; ++k) {
          EXPECT_NEAR(o[r * V + k], ref[(r * T + t) * V + k], 1e-5) << v.what << " t=" << t;
          if (o[r * V + k] > o[r * V + best]) best = k;
        }
        tok[r] = best;
      }
    }
  }
}

TEST(Seq2Seq, TeacherForcingRatioIsReproducible) {
  auto c = rnn_cfg("luong", "additive");
  Generator g0(3);
  auto m = make_seq2seq(c, &g0);
  const Batch b = make_batch(c, 6, 5, 8, 9);
  Generator a(11), a2(11);
  const auto x = vec(m->forward(b.src, b.len, b.tgt_in, 0.5, &a));
  const auto y = vec(m->forward(b.src, b.len, b.tgt_in, 0.5, &a2));
  EXPECT_EQ(x, y);
  EXPECT_EQ(a.next_u64(), a2.next_u64());
  // ratio 1 through the per-step path equals the fused whole-sequence path: compare luong
  // ratio 1 (fused) with the StepDecoder above (check_steps); here: ratio 1 draws nothing
  Generator c1(5), c2(5);
  m->forward(b.src, b.len, b.tgt_in, 1.0, &c1);
  EXPECT_EQ(c1.next_u64(), c2.next_u64());
}

// ==================================================================== gradients
TEST(Seq2Seq, GradcheckThroughLoss) {
  std::vector<Variant> vs = {{"bahdanau/additive gru", rnn_cfg("bahdanau")},
                             {"luong/general lstm x2", rnn_cfg("luong", "general", "lstm", "tokens", 2)},
                             {"luong/dot rnn", rnn_cfg("luong", "dot", "rnn")},
                             {"bahdanau/concat features", rnn_cfg("bahdanau", "concat", "gru", "features")},
                             {"bahdanau/scaled_dot lstm", rnn_cfg("bahdanau", "scaled_dot", "lstm")},
                             {"none gru x2", rnn_cfg("none", "additive", "gru", "tokens", 2)},
                             {"vector lstm", rnn_cfg("none", "additive", "lstm", "vector")},
                             {"transformer", transformer_cfg()},
                             {"transformer features tied", transformer_cfg("features", true)}};
  uint32_t seed = 50;
  for (auto& v : vs) {
    Generator gen(seed);
    auto m = make_seq2seq(v.cfg, &gen);
    m->to(DType::F64);
    const Batch b = make_batch(v.cfg, 3, 4, 4, seed++, DType::F64);
    EXPECT_TRUE(module_gradcheck(v.what, *m, [&] { return m->loss(m->forward(b.src, b.len, b.tgt_in), b.tgt_out, 0.1); }))
        << v.what;
  }
  // teacher_forcing_ratio < 1: the drawn choices repeat (fresh generator per call)
  auto c = rnn_cfg("bahdanau", "general");
  Generator gen(77);
  auto m = make_seq2seq(c, &gen);
  m->to(DType::F64);
  // The pad id's embedding row gets no gradient (padding_idx, as PyTorch) but would be read if
  // the model fed back a predicted 0: keep the pad logit far below the others.
  m->named_parameters()["out.bias"].data_ptr<double>()[0] = -10.0;
  const Batch b = make_batch(c, 3, 4, 5, 78, DType::F64);
  EXPECT_TRUE(module_gradcheck("ratio 0.5", *m, [&] {
    Generator g(5);
    return m->loss(m->forward(b.src, b.len, b.tgt_in, 0.5, &g), b.tgt_out, 0.0);
  }));
}

// ==================================================================== learning
// Random sequences of 3-8 symbols (ids 4..13) -> the same sequence (copy) or reversed.
Batch task_batch(bool reverse, int64_t B, std::mt19937& eng) {
  std::vector<std::vector<int64_t>> xs(B);
  int64_t S = 0;
  for (auto& x : xs) {
    const int64_t n = std::uniform_int_distribution<int64_t>(3, 8)(eng);
    for (int64_t i = 0; i < n; ++i) x.push_back(std::uniform_int_distribution<int64_t>(4, 13)(eng));
    S = std::max(S, n);
  }
  const int64_t T = S + 1;
  std::vector<int64_t> src(B * S, 0), len(B), ti(B * T, 0), to(B * T, 0);
  for (int64_t b = 0; b < B; ++b) {
    const auto& x = xs[b];
    const int64_t n = static_cast<int64_t>(x.size());
    len[b] = n;
    ti[b * T] = BOS;
    for (int64_t i = 0; i < n; ++i) {
      src[b * S + i] = x[i];
      const int64_t y = reverse ? x[n - 1 - i] : x[i];
      to[b * T + i] = y;
      ti[b * T + i + 1] = y;
    }
    to[b * T + n] = EOS;
  }
  return {from_vector(src, {B, S}), from_vector(len, {B}), from_vector(ti, {B, T}), from_vector(to, {B, T})};
}

// Greedy argmax loop over the StepDecoder: tokens until EOS (or max_len).
std::vector<std::vector<int64_t>> greedy(Seq2SeqModel& m, const Tensor& src, const Tensor& len, int64_t max_len) {
  NoGradGuard ng;
  auto dec = m.decoder(src, len);
  const int64_t B = dec->rows(), V = dec->vocab_size();
  std::vector<std::vector<int64_t>> out(B);
  std::vector<bool> done(B, false);
  std::vector<int64_t> tok(B, BOS);
  for (int64_t t = 0; t < max_len; ++t) {
    const auto lp = vec(dec->step(from_vector(tok, {B})));
    for (int64_t b = 0; b < B; ++b) {
      tok[b] = std::max_element(lp.begin() + b * V, lp.begin() + (b + 1) * V) - (lp.begin() + b * V);
      if (!done[b]) {
        if (tok[b] == EOS) done[b] = true;
        else out[b].push_back(tok[b]);
      }
    }
  }
  return out;
}

// Trains on fresh random batches; returns the exact-match rate of greedy decoding on 200 new
// examples.
double learn(Seq2SeqModel& m, const std::function<Batch(std::mt19937&, int64_t)>& make, int64_t steps, double lr,
             int64_t B, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  optim::Adam opt(m.parameters(), optim::AdamOptions(lr));
  std::mt19937 eng(123);
  m.train();
  for (int64_t s = 0; s < steps; ++s) {
    opt.set_lr(lr * (1.0 - static_cast<double>(s) / steps));  // linear decay to 0
    const Batch b = make(eng, B);
    const Tensor loss = m.loss(m.forward(b.src, b.len, b.tgt_in), b.tgt_out);
    opt.zero_grad();
    loss.backward();
    optim::clip_grad_norm_(m.parameters(), 1.0);
    opt.step();
  }
  m.eval();
  std::mt19937 test_eng(999);
  const Batch b = make(test_eng, 200);
  const auto hyp = greedy(m, b.src, b.len, b.tgt_in.size(1) + 3);
  const auto to = b.tgt_out.to_vector<int64_t>();
  const int64_t T = b.tgt_out.size(1);
  int64_t ok = 0;
  for (int64_t i = 0; i < 200; ++i) {
    std::vector<int64_t> ref;
    for (int64_t t = 0; t < T && to[i * T + t] != EOS; ++t) ref.push_back(to[i * T + t]);
    ok += hyp[i] == ref;
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return ok / 200.0;
}

Seq2SeqConfig task_rnn_cfg() {
  Seq2SeqConfig c;
  c.source_vocab = 14;
  c.target_vocab = 14;
  c.embedding_dim = 24;
  c.hidden_size = 48;
  // A bidirectional encoder, as in Bahdanau et al. (2015): each source state then knows its
  // distance from the end as well as from the start, which is what reversing needs. With a
  // one-way GRU the reverse task sat at the edge of 100% (199/200 for 2 of 3 generator seeds at
  // 1500 steps, and for seed 42 in the sanitizer build, whose different rounding moves the
  // trajectory). Bidirectional, seeds 42-45 reach 200/200 by 1000 steps (Release), and seeds 42
  // and 43 at this test's 1200 / 1500 steps under ASan.
  c.encoder = {{"type", "gru"}, {"hidden_size", 48}, {"bidirectional", true}, {"attention_heads", 0}};
  c.attention = "bahdanau";
  c.attention_score = "additive";
  return c;
}

Seq2SeqConfig task_transformer_cfg() {
  Seq2SeqConfig c = transformer_cfg();
  c.source_vocab = 14;
  c.target_vocab = 14;
  c.d_model = 32;
  c.nhead = 4;
  c.dim_feedforward = 64;
  c.num_encoder_layers = 1;
  c.num_decoder_layers = 1;
  return c;
}

struct Task {
  std::string what;
  Seq2SeqConfig cfg;
  bool reverse;
  int64_t steps;
  double lr;
};

TEST(Seq2Seq, LearnsCopyAndReverse) {
  for (const Task& task : {Task{"rnn bahdanau copy", task_rnn_cfg(), false, 1200, 1e-2},
                           Task{"rnn bahdanau reverse", task_rnn_cfg(), true, 1500, 1e-2},
                           Task{"transformer copy", task_transformer_cfg(), false, 1500, 2e-3},
                           // (reverse at 1500 steps: 199/200 for generator seed 44, 2000: 199/200 for
                           // seed 43; at 2500 seeds 42-48 all reach 200/200)
                           Task{"transformer reverse", task_transformer_cfg(), true, 2500, 2e-3}}) {
    Generator gen(42);
    auto m = make_seq2seq(task.cfg, &gen);
    double sec = 0;
    const double acc = learn(
        *m, [&](std::mt19937& e, int64_t B) { return task_batch(task.reverse, B, e); }, task.steps, task.lr, 32, &sec);
    EXPECT_EQ(acc, 1.0) << task.what;
    std::printf("[ %s: exact match %.3f after %lld steps, %.1f s ]\n", task.what.c_str(), acc,
                static_cast<long long>(task.steps), sec);
  }
}

// 1 vs N (seed 002): a one-hot of k in 0..9 -> the tokens of k, k+1, ..., (3 + k % 4 of them, mod 10).
TEST(Seq2Seq, LearnsVectorToSequence) {
  Seq2SeqConfig c;
  c.source = "vector";
  c.feature_dim = 10;
  c.target_vocab = 14;
  c.embedding_dim = 16;
  c.hidden_size = 32;
  c.attention = "none";
  auto make = [](std::mt19937& eng, int64_t B) {
    const int64_t T = 7;
    std::vector<double> v(B * 10, 0.0);
    std::vector<int64_t> ti(B * T, 0), to(B * T, 0);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t k = std::uniform_int_distribution<int64_t>(0, 9)(eng), n = 3 + k % 4;
      v[b * 10 + k] = 1.0;
      ti[b * T] = BOS;
      for (int64_t i = 0; i < n; ++i) {
        to[b * T + i] = 4 + (k + i) % 10;
        ti[b * T + i + 1] = 4 + (k + i) % 10;
      }
      to[b * T + n] = EOS;
    }
    return Batch{from_vector(v, {B, 10}).to(DType::F32), Tensor(), from_vector(ti, {B, T}), from_vector(to, {B, T})};
  };
  Generator gen(8);
  auto m = make_seq2seq(c, &gen);
  double sec = 0;
  const double acc = learn(*m, make, 300, 1e-2, 32, &sec);
  EXPECT_EQ(acc, 1.0);
  std::printf("[ vector -> sequence: exact match %.3f, %.1f s ]\n", acc, sec);
}

// ==================================================================== model surface
TEST(Seq2Seq, NamesDescribeAndGenerator) {
  Generator g1(5), g2(5);
  auto a = make_seq2seq(rnn_cfg("bahdanau"), &g1), b = make_seq2seq(rnn_cfg("bahdanau"), &g2);
  const auto sa = a->state_dict(), sb = b->state_dict();
  ASSERT_EQ(sa.keys(), sb.keys());
  for (const auto& [k, t] : sa) EXPECT_EQ(vec(t), vec(sb[k])) << k;
  EXPECT_EQ(g1.next_u64(), g2.next_u64());
  for (const char* k : {"src_embed.weight", "encoder.rnn.weight_ih_l0", "bridge.weight", "bridge.bias",
                        "tgt_embed.weight", "decoder.weight_ih_l0", "decoder.bias_hh_l0", "attn.score.W_q",
                        "attn.score.W_k", "attn.score.bias", "attn.score.v", "out.weight", "out.bias"})
    EXPECT_TRUE(sa.contains(k)) << k;
  const auto luong = make_seq2seq(rnn_cfg("luong", "general"))->state_dict();
  EXPECT_TRUE(luong.contains("attn.score.weight"));
  EXPECT_TRUE(luong.contains("attn.attn_combine.weight"));
  const auto tr = make_seq2seq(transformer_cfg("tokens", true))->state_dict();
  for (const char* k : {"out_bias", "src_embed.weight", "tgt_embed.weight", "transformer.encoder.layers.0.self_attn.in_proj_weight",
                        "transformer.decoder.layers.0.multihead_attn.in_proj_weight", "transformer.decoder.norm.weight"})
    EXPECT_TRUE(tr.contains(k)) << k;
  EXPECT_FALSE(tr.contains("out.weight"));
  EXPECT_EQ(a->describe().rfind("rnn seq2seq: gru(hidden 8, layers 1) encoder, gru decoder 8, bahdanau/additive", 0), 0u)
      << a->describe();
  int64_t n = 0;
  for (const auto& p : a->parameters()) n += p.numel();
  EXPECT_EQ(a->num_parameters(), n);
  EXPECT_NE(make_seq2seq(transformer_cfg())->describe().find("transformer seq2seq: d_model 8, 2 heads"), std::string::npos);
}

TEST(Seq2Seq, LossIsPyTorchCrossEntropy) {
  // Hand computation: mean over non-pad targets of the smoothed cross-entropy.
  auto c = rnn_cfg("none");
  auto m = make_seq2seq(c);
  const Tensor logits = from_vector(std::vector<double>{1, 2, 0.5, -1, 0, 0, 0, 0, 0, 3, 1, 1, 1, 1, 1, 1, 1, 1,
                                                        0, 0, 0, 0, 0, 0, 0, 0, 0},
                                    {1, 3, 9});
  const Tensor tgt = from_vector(std::vector<int64_t>{1, 3, 0}, {1, 3});
  const double eps = 0.1;
  const auto L = vec(logits);
  double expect = 0;
  for (int t = 0; t < 2; ++t) {
    double mx = -1e9, se = 0;
    for (int v = 0; v < 9; ++v) mx = std::max(mx, L[t * 9 + v]);
    for (int v = 0; v < 9; ++v) se += std::exp(L[t * 9 + v] - mx);
    const double lse = mx + std::log(se);
    const int y = t == 0 ? 1 : 3;
    double mean_nll = 0;
    for (int v = 0; v < 9; ++v) mean_nll += (lse - L[t * 9 + v]) / 9;
    expect += (1 - eps) * (lse - L[t * 9 + y]) + eps * mean_nll;
  }
  expect /= 2;
  EXPECT_NEAR(m->loss(logits, tgt, eps).item(), expect, 1e-12);
}

// ==================================================================== errors
TEST(Seq2Seq, ConfigErrorsNameTheField) {
  auto bad = [](auto edit, const std::string& part) {
    Seq2SeqConfig c = rnn_cfg("bahdanau");
    edit(c);
    expect_error([&] { c.validate(); }, "seq2seq", part);
    expect_error([&] { make_seq2seq(c); }, "seq2seq", part);
  };
  bad([](Seq2SeqConfig& c) { c.attention_score = "dotx"; },
      "attention_score \"dotx\" (expected one of additive, dot, scaled_dot, general, concat)");
  bad([](Seq2SeqConfig& c) { c.architecture = "cnn"; }, "architecture \"cnn\" (expected one of rnn, transformer)");
  bad([](Seq2SeqConfig& c) { c.source = "audio"; }, "source \"audio\"");
  bad([](Seq2SeqConfig& c) { c.cell = "gruu"; }, "cell \"gruu\" (expected one of gru, lstm, rnn)");
  bad([](Seq2SeqConfig& c) { c.attention = "global"; }, "attention \"global\" (expected one of none, bahdanau, luong)");
  bad([](Seq2SeqConfig& c) { c.target_vocab = 4; }, "target_vocab must be > 4");
  bad([](Seq2SeqConfig& c) { c.source_vocab = 0; }, "source_vocab must be > 0");
  bad([](Seq2SeqConfig& c) { c.source = "features"; c.feature_dim = 0; }, "feature_dim must be > 0");
  bad([](Seq2SeqConfig& c) { c.hidden_size = 0; }, "hidden_size must be >= 1");
  bad([](Seq2SeqConfig& c) { c.num_layers = 0; }, "num_layers must be >= 1");
  bad([](Seq2SeqConfig& c) { c.dropout = 1.0; }, "dropout must be in [0,1)");
  bad([](Seq2SeqConfig& c) { c.teacher_forcing_ratio = 1.5; }, "teacher_forcing_ratio must be in [0,1]");
  bad([](Seq2SeqConfig& c) { c.source = "vector"; c.feature_dim = 3; }, "source \"vector\"");
  bad([](Seq2SeqConfig& c) { c.tie_embeddings = true; }, "tie_embeddings needs");
  bad([](Seq2SeqConfig& c) {
        c.attention_score = "dot";
        c.encoder["bidirectional"] = true;
      },
      "attention_score \"dot\" needs query size == key size: the decoder hidden_size (8) must equal the encoder output size (16)");
  auto tbad = [](auto edit, const std::string& part) {
    Seq2SeqConfig c = transformer_cfg();
    edit(c);
    expect_error([&] { c.validate(); }, "seq2seq", part);
  };
  tbad([](Seq2SeqConfig& c) { c.teacher_forcing_ratio = 0.5; }, "transformer needs teacher_forcing_ratio 1 (got 0.5)");
  tbad([](Seq2SeqConfig& c) { c.d_model = 10; c.nhead = 4; }, "d_model (10) must be divisible by nhead (4)");
  tbad([](Seq2SeqConfig& c) { c.num_decoder_layers = 0; }, "num_decoder_layers must be >= 1");
  tbad([](Seq2SeqConfig& c) { c.source = "vector"; c.feature_dim = 3; }, "source \"vector\" needs architecture \"rnn\"");
  // an unknown encoder type is the registry's error
  Seq2SeqConfig c = rnn_cfg("bahdanau");
  c.encoder = {{"type", "cnn"}};
  expect_error([&] { make_seq2seq(c); }, "model.encoder.type", "unknown encoder \"cnn\"");
}

TEST(Seq2Seq, BadInputsNameForward) {
  const char* op = "Seq2SeqModel.forward";
  for (const auto& cfg : {rnn_cfg("bahdanau"), transformer_cfg()}) {
    auto m = make_seq2seq(cfg);
    const Batch b = make_batch(cfg, 3, 4, 5, 1);
    expect_error([&] { m->forward(b.src.to(DType::F32), b.len, b.tgt_in); }, op, "src must be (B,S) int64 token ids, got (3,4) float32");
    expect_error([&] { m->forward(from_vector(std::vector<int64_t>{4, 5, 11, 6}, {2, 2}), from_vector(std::vector<int64_t>{2, 2}, {2}),
                                  slice(b.tgt_in, 0, 0, 2).contiguous()); },
                 op, "src[1,0] = 11 is outside the source vocabulary [0,11)");
    expect_error([&] { m->forward(zeros({3, 0}, DType::I64), from_vector(std::vector<int64_t>{1, 1, 1}, {3}), b.tgt_in); }, op,
                 "empty source");
    expect_error([&] { m->forward(b.src, from_vector(std::vector<int64_t>{4, 0, 2}, {3}), b.tgt_in); }, op,
                 "empty source: src_lengths[1] is 0");
    expect_error([&] { m->forward(b.src, from_vector(std::vector<int64_t>{4, 5, 2}, {3}), b.tgt_in); }, op,
                 "src_lengths[1] = 5 out of [1,4]");
    expect_error([&] { m->forward(b.src, from_vector(std::vector<int64_t>{4, 2}, {2}), b.tgt_in); }, op,
                 "src_lengths must be (B=3) int64, got (2)");
    expect_error([&] { m->forward(b.src, b.len, slice(b.tgt_in, 0, 0, 2).contiguous()); }, op,
                 "tgt_in must be (B=3,T) int64 token ids, got (2,5)");
    expect_error([&] { m->forward(b.src, b.len, zeros({3, 0}, DType::I64)); }, op, "tgt_in (3,0) has no positions");
    expect_error([&] { m->forward(b.src, b.len, full_like_ids(b.tgt_in, 9)); }, op,
                 "tgt_in[0,0] = 9 is outside the target vocabulary [0,9)");
    expect_error([&] { m->forward(b.src, b.len, b.tgt_in, 1.5); }, op, "teacher_forcing_ratio");
    expect_error([&] { m->decoder(b.src, from_vector(std::vector<int64_t>{0, 1, 1}, {3})); }, "Seq2SeqModel.decoder",
                 "empty source");
    auto dec = m->decoder(b.src, b.len);
    expect_error([&] { dec->step(from_vector(std::vector<int64_t>{2, 2}, {2})); }, "Seq2SeqModel.decoder.step",
                 "tokens must be (rows=3) int64, got (2)");
    expect_error([&] { dec->step(from_vector(std::vector<int64_t>{2, 2, 9}, {3})); }, "Seq2SeqModel.decoder.step",
                 "tokens[2] = 9 is outside the target vocabulary [0,9)");
    expect_error([&] { dec->reorder(from_vector(std::vector<int64_t>{0, 3}, {2})); }, "Seq2SeqModel.decoder.reorder",
                 "index[1] = 3 out of [0,3)");
    const Tensor logits = m->forward(b.src, b.len, b.tgt_in);
    expect_error([&] { m->loss(logits, slice(b.tgt_out, 1, 0, 4).contiguous()); }, "Seq2SeqModel.loss",
                 "tgt_out must be (B,T)=(3,5) int64, got (3,4)");
  }
  auto t = make_seq2seq(transformer_cfg());
  const Batch b = make_batch(transformer_cfg(), 2, 3, 3, 2);
  expect_error([&] { t->forward(b.src, b.len, b.tgt_in, 0.5); }, op, "the transformer needs teacher_forcing_ratio 1 (got 0.5)");
  auto f = make_seq2seq(rnn_cfg("luong", "general", "gru", "features"));
  expect_error([&] { f->forward(zeros({2, 3, 4}), from_vector(std::vector<int64_t>{3, 3}, {2}), b.tgt_in); }, op,
               "src (2,3,4) must be (B,S,F=5)");
  expect_error([&] { f->forward(zeros({2, 3, 5}, DType::F64), from_vector(std::vector<int64_t>{3, 3}, {2}), b.tgt_in); }, op,
               "src is float64 but the model is float32");
  auto v = make_seq2seq(rnn_cfg("none", "additive", "gru", "vector"));
  expect_error([&] { v->forward(zeros({2, 3, 5}), Tensor(), b.tgt_in); }, op, "src (2,3,5) must be (B,F=5)");
}

}  // namespace
