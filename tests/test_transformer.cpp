// nn::Transformer* unit tests: PyTorch's parameter names, the square-subsequent mask, finite
// differences (float64) through an encoder and a decoder layer (post- and pre-norm, relu and
// gelu, with masks), per-layer attention maps, decoder step() == forward with the causal mask
// (and the windowed ring buffer == the window mask), and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/check.h"
#include "common/module_gradcheck.h"
#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"

using namespace seqnn;
using namespace seqnn::testutil;
using namespace seqnn::nn;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(x[i] - y[i]));
  return d;
}

TransformerLayerOptions small(bool norm_first, const std::string& act, bool bf = false) {
  return TransformerLayerOptions(4, 2).dim_feedforward(6).dropout(0.0).activation(act).norm_first(norm_first)
      .batch_first(bf).dtype(DType::F64);
}

}  // namespace

// ==================================================================== names and helpers
TEST(Transformer, ParameterNamesFollowPyTorch) {
  TransformerEncoderLayer el(TransformerLayerOptions(8, 2).dim_feedforward(16));
  EXPECT_EQ(el.named_parameters().keys(),
            (std::vector<std::string>{"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                                      "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                                      "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}));
  TransformerDecoderLayer dl(TransformerLayerOptions(8, 2).dim_feedforward(16));
  const auto dk = dl.named_parameters().keys();
  ASSERT_EQ(dk.size(), 18u);
  EXPECT_EQ(dk[4], "multihead_attn.in_proj_weight");
  EXPECT_EQ(dk[17], "norm3.bias");
  Transformer t(TransformerOptions(8, 2).num_encoder_layers(2).num_decoder_layers(1).dim_feedforward(16));
  const auto tk = t.state_dict().keys();
  EXPECT_EQ(tk.front(), "encoder.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(tk[12], "encoder.layers.1.self_attn.in_proj_weight");
  EXPECT_EQ(tk[24], "encoder.norm.weight");
  EXPECT_EQ(tk[26], "decoder.layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(tk.back(), "decoder.norm.bias");
  EXPECT_EQ(tk.size(), 2 * 12 + 2 + 18 + 2u);
  // Transformer re-draws every matrix xavier_uniform: out_proj.weight (8,8) within sqrt(6/16).
  for (double x : t.encoder->layer_list[0]->self_attn->out_proj->weight.to_vector<double>())
    EXPECT_LE(std::fabs(x), std::sqrt(6.0 / 16) + 1e-7);
}

TEST(Transformer, SquareSubsequentMask) {
  const auto v = generate_square_subsequent_mask(3).to_vector<double>();
  const double ninf = -std::numeric_limits<double>::infinity();
  EXPECT_EQ(v, (std::vector<double>{0, ninf, ninf, 0, 0, ninf, 0, 0, 0}));
  EXPECT_EQ(Transformer::generate_square_subsequent_mask(0).numel(), 0);
}

// ==================================================================== gradients
TEST(Transformer, GradcheckEncoderAndDecoderLayers) {
  Generator g(31);
  const int64_t L = 3, S = 4, B = 2;
  for (bool nf : {false, true})
    for (const char* act : {"relu", "gelu"}) {
      const std::string what = std::string(nf ? "pre-norm " : "post-norm ") + act;
      TransformerEncoderLayer enc(small(nf, act), &g);
      Tensor src = randn({L, B, 4}, DType::F64, &g).requires_grad_();
      const Tensor sm = randn({L, L}, DType::F64, &g);
      const Tensor kpm = from_vector(std::vector<bool>{false, false, true, false, false, false}, {B, L});
      module_gradcheck("encoder layer " + what, enc, [&] { return enc.forward(src, sm, kpm); }, {src});

      TransformerDecoderLayer dec(small(nf, act), &g);
      Tensor tgt = randn({L, B, 4}, DType::F64, &g).requires_grad_();
      Tensor mem = randn({S, B, 4}, DType::F64, &g).requires_grad_();
      const Tensor tm = generate_square_subsequent_mask(L, DType::F64);
      const Tensor mkpm = from_vector(std::vector<bool>{false, true, false, true, false, false, false, true}, {B, S});
      module_gradcheck("decoder layer " + what, dec, [&] { return dec.forward(tgt, mem, tm, Tensor(), Tensor(), mkpm); },
                       {tgt, mem});
    }
}

// ==================================================================== attention maps
TEST(Transformer, ReturnsEveryLayersAttentionMaps) {
  Generator g(32);
  Transformer t(TransformerOptions(8, 2).num_encoder_layers(2).num_decoder_layers(3).dim_feedforward(8).dropout(0.0)
                    .batch_first(true), &g);
  const Tensor src = randn({2, 5, 8}, DType::F32, &g), tgt = randn({2, 4, 8}, DType::F32, &g);
  TransformerAttentionMaps maps;
  TransformerMasks masks;
  masks.tgt.causal();
  const Tensor y = t.forward(src, tgt, masks, &maps);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 8}));
  ASSERT_EQ(maps.encoder.size(), 2u);
  ASSERT_EQ(maps.decoder_self.size(), 3u);
  ASSERT_EQ(maps.decoder_cross.size(), 3u);
  EXPECT_EQ(maps.encoder[0].shape(), (Shape{2, 2, 5, 5}));
  EXPECT_EQ(maps.decoder_self[2].shape(), (Shape{2, 2, 4, 4}));
  EXPECT_EQ(maps.decoder_cross[1].shape(), (Shape{2, 2, 4, 5}));
  const auto w = maps.decoder_self[0].to_vector<double>();
  for (int64_t r = 0; r < 2 * 2 * 4; ++r) {
    double s = 0;
    for (int64_t j = 0; j < 4; ++j) {
      s += w[r * 4 + j];
      if (j > r % 4) EXPECT_EQ(w[r * 4 + j], 0.0);  // causal
    }
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
  // Same output as the tensor-mask overload.
  const Tensor y2 = t.forward(src, tgt, Tensor(), Transformer::generate_square_subsequent_mask(4));
  EXPECT_LT(max_abs_diff(y, y2), 1e-5);
}

// ==================================================================== streaming
TEST(Transformer, DecoderStepEqualsMaskedForward) {
  Generator g(33);
  for (bool nf : {false, true})
    for (bool bf : {false, true})
      for (DType dt : {DType::F32, DType::F64}) {
        TransformerDecoder dec(TransformerStackOptions(TransformerLayerOptions(8, 2).dim_feedforward(12).dropout(0.1)
                                                           .norm_first(nf).batch_first(bf).activation("gelu").dtype(dt),
                                                       2).norm(true), &g);
        dec.eval();
        const int64_t T = 9, S = 5, B = 3;
        const Tensor tgt = randn(bf ? Shape{B, T, 8} : Shape{T, B, 8}, dt, &g);
        const Tensor mem = randn(bf ? Shape{B, S, 8} : Shape{S, B, 8}, dt, &g);
        const Tensor mkpm = from_vector(std::vector<bool>{false, false, false, false, false, false, false, false, true,
                                                          true, false, true, false, false, false},
                                        {B, S});
        Tensor full;
        {
          NoGradGuard ng;
          full = dec.forward(tgt, mem, generate_square_subsequent_mask(T, dt), Tensor(), Tensor(), mkpm);
        }
        auto st = dec.new_state(B, /*capacity=*/4, 0, mkpm);
        for (int64_t t = 0; t < T; ++t) {
          const Tensor y = dec.step(select(tgt, bf ? 1 : 0, t), mem, st);
          EXPECT_LT(max_abs_diff(y, select(full, bf ? 1 : 0, t)), 1e-5)
              << "t=" << t << (nf ? " pre-norm" : " post-norm") << (bf ? " batch_first " : " ") << dtype_name(dt);
        }
        EXPECT_EQ(st.steps(), T);
        EXPECT_EQ(st.self[0].capacity(), 16);
      }
}

TEST(Transformer, WindowedDecoderStepEqualsWindowMaskForward) {
  Generator g(34);
  TransformerDecoder dec(TransformerStackOptions(small(false, "relu"), 2), &g);
  const int64_t T = 10, S = 3, B = 2, w = 3;
  const Tensor tgt = randn({T, B, 4}, DType::F64, &g), mem = randn({S, B, 4}, DType::F64, &g);
  Tensor full;
  {
    NoGradGuard ng;
    full = dec.forward(tgt, mem, AttentionMask().window(w - 1, 0), AttentionMask());
  }
  auto st = dec.new_state(B, 4, w);
  for (int64_t t = 0; t < T; ++t)
    EXPECT_LT(max_abs_diff(dec.step(select(tgt, 0, t), mem, st), select(full, 0, t)), 1e-12) << "t=" << t;
}

// ==================================================================== rotary positions
// Without positions a layer is permutation-equivariant; rotary(true) makes self-attention see
// order (and nothing else: a one-step sequence is unchanged), cross-attention never rotates, and
// the decoder's KV-cache step() still equals the causal forward.
TEST(Transformer, RotarySelfAttentionSeesOrder) {
  const int64_t B = 2, T = 6;
  Generator gx(35);
  const Tensor x = randn({B, T, 4}, DType::F64, &gx);
  const Tensor rev = from_vector(std::vector<int64_t>{5, 4, 3, 2, 1, 0}, {T});
  Tensor plain_out, plain_rev, rot_out, rot_rev, plain_one, rot_one;
  {
    NoGradGuard ng;
    Generator g1(36), g2(36);
    TransformerEncoderLayer plain(small(false, "relu", true), &g1), rot(small(false, "relu", true).rotary(true), &g2);
    EXPECT_FALSE(plain.self_attn->options().rotary());
    EXPECT_TRUE(rot.self_attn->options().rotary());
    plain_out = plain.forward(x);
    plain_rev = index_select(plain.forward(index_select(x, 1, rev)), 1, rev);
    rot_out = rot.forward(x);
    rot_rev = index_select(rot.forward(index_select(x, 1, rev)), 1, rev);
    const Tensor x1 = slice(x, 1, 0, 1);
    plain_one = plain.forward(x1);
    rot_one = rot.forward(x1);
  }
  EXPECT_LT(max_abs_diff(plain_out, plain_rev), 1e-12);  // equivariant
  EXPECT_GT(max_abs_diff(rot_out, rot_rev), 1e-3);       // order matters
  EXPECT_GT(max_abs_diff(plain_out, rot_out), 1e-3);
  EXPECT_LT(max_abs_diff(plain_one, rot_one), 1e-12);    // position 0 is not rotated

  Generator g(37);
  TransformerDecoder dec(TransformerStackOptions(small(true, "gelu").rotary(true), 2).norm(true), &g);
  TransformerDecoderLayer dl(small(true, "gelu").rotary(true), &g);
  EXPECT_TRUE(dl.self_attn->options().rotary());
  EXPECT_FALSE(dl.multihead_attn->options().rotary());
  const int64_t L = 7, S = 4;
  const Tensor tgt = randn({L, B, 4}, DType::F64, &g), mem = randn({S, B, 4}, DType::F64, &g);
  Tensor full;
  {
    NoGradGuard ng;
    full = dec.forward(tgt, mem, generate_square_subsequent_mask(L, DType::F64));
  }
  auto st = dec.new_state(B);
  for (int64_t t = 0; t < L; ++t)
    EXPECT_LT(max_abs_diff(dec.step(select(tgt, 0, t), mem, st), select(full, 0, t)), 1e-12) << "t=" << t;
}

// ==================================================================== bad input
TEST(Transformer, BadInputThrows) {
  expect_error([] { TransformerEncoderLayer(TransformerLayerOptions(10, 3)); }, "TransformerEncoderLayer", "divisible");
  expect_error([] { TransformerDecoderLayer(TransformerLayerOptions(8, 2).activation("tanh")); },
               "TransformerDecoderLayer", "relu/gelu");
  Transformer t(TransformerOptions(8, 2).num_encoder_layers(1).num_decoder_layers(1).dim_feedforward(8));
  expect_error([&] { t.forward(zeros({3, 2, 8}), zeros({4, 3, 8})); }, "Transformer.forward", "batch");
  expect_error([&] { t.forward(zeros({3, 2, 8}), zeros({4, 2, 6})); }, "Transformer.forward", "d_model");
  expect_error([&] { t.forward(zeros({3, 2, 8}), zeros({4, 2, 8}), zeros({3, 4})); }, "MultiheadAttention.forward",
               "(3,4)");
  TransformerEncoderLayer el(TransformerLayerOptions(8, 2).dim_feedforward(8));
  expect_error([&] { el.forward(zeros({3, 2, 5})); }, "TransformerEncoderLayer.forward", "(3,2,5)");
}
