// nn::Transformer and its layers over nn::MultiheadAttention, Linear, LayerNorm, Dropout.
//
//   encoder layer, post-norm: x = norm1(x + drop1(SA(x)));  x = norm2(x + drop2(FF(x)))
//   encoder layer, pre-norm:  x = x + drop1(SA(norm1(x)));  x = x + drop2(FF(norm2(x)))
//   decoder layers add x = norm2(x + drop2(MHA(x, memory))) (pre-norm: x + drop2(MHA(norm2(x), memory)))
//   FF(x) = linear2(dropout(act(linear1(x))))
// Gradients flow through the modules' ops; step() runs under NoGradGuard.
#include "seqnn/nn/transformer.h"

#include <cmath>
#include <limits>

#include "seqnn/autograd.h"
#include "seqnn/nn/init.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

namespace {

void validate_layer(const TransformerLayerOptions& o, const char* op) {
  check(o.d_model() >= 1 && o.nhead() >= 1, op, "d_model and nhead must be >= 1, got d_model=", o.d_model(),
        " nhead=", o.nhead());
  check(o.d_model() % o.nhead() == 0, op, "d_model must be divisible by nhead, got d_model=", o.d_model(),
        " nhead=", o.nhead());
  check(o.dim_feedforward() >= 1, op, "dim_feedforward must be >= 1, got ", o.dim_feedforward());
  check(o.activation() == "relu" || o.activation() == "gelu", op, "activation should be relu/gelu, not ",
        o.activation());
  check(o.dropout() >= 0.0 && o.dropout() < 1.0, op, "dropout must be in [0, 1), got ", o.dropout());
}

MultiheadAttentionOptions mha_options(const TransformerLayerOptions& o) {
  return MultiheadAttentionOptions(o.d_model(), o.nhead()).dropout(o.dropout()).batch_first(o.batch_first()).dtype(
      o.dtype());
}

std::shared_ptr<LayerNorm> make_norm(const TransformerLayerOptions& o) {
  return std::make_shared<LayerNorm>(LayerNormOptions({o.d_model()}).eps(o.layer_norm_eps()).dtype(o.dtype()));
}

Tensor activate(const std::string& a, const Tensor& x) { return a == "gelu" ? gelu(x) : relu(x); }

// self/cross attention with a tensor or AttentionMask mask; per-head weights into *weights.
Tensor attend(MultiheadAttention& mha, const Tensor& q, const Tensor& kv, detail::MaskRef m, const Tensor& kpm,
              Tensor* weights) {
  const bool need = weights != nullptr;
  MultiheadAttentionOutput r = m.mask ? mha.forward(q, kv, kv, *m.mask, kpm, need, false)
                                      : mha.forward(q, kv, kv, kpm, need, m.tensor ? *m.tensor : Tensor(), false);
  if (weights) *weights = r.weights;
  return r.output;
}

}  // namespace

Tensor generate_square_subsequent_mask(int64_t L, DType dt) {
  check(L >= 0, "generate_square_subsequent_mask", "size must be >= 0, got ", L);
  check(is_floating(dt), "generate_square_subsequent_mask", "dtype must be floating, got ", dtype_name(dt));
  std::vector<double> v(static_cast<size_t>(L * L), 0.0);
  for (int64_t i = 0; i < L; ++i)
    for (int64_t j = i + 1; j < L; ++j) v[i * L + j] = -std::numeric_limits<double>::infinity();
  return from_vector(v, {L, L}).to(dt);
}

// ==================================================================== encoder layer
TransformerEncoderLayer::TransformerEncoderLayer(const TransformerLayerOptions& o, Generator* gen)
    : Module("TransformerEncoderLayer"), options_(o) {
  validate_layer(o, "TransformerEncoderLayer");
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(mha_options(o).rotary(o.rotary()), gen));
  linear1 = register_module("linear1", std::make_shared<Linear>(LinearOptions(o.d_model(), o.dim_feedforward()).dtype(o.dtype()), gen));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout()));
  linear2 = register_module("linear2", std::make_shared<Linear>(LinearOptions(o.dim_feedforward(), o.d_model()).dtype(o.dtype()), gen));
  norm1 = register_module("norm1", make_norm(o));
  norm2 = register_module("norm2", make_norm(o));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout()));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src) { return forward_impl(src, {}, Tensor(), nullptr); }

Tensor TransformerEncoderLayer::forward(const Tensor& src, const Tensor& src_mask, const Tensor& kpm, Tensor* weights) {
  return forward_impl(src, {&src_mask, nullptr}, kpm, weights);
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const AttentionMask& src_mask, const Tensor& kpm,
                                        Tensor* weights) {
  return forward_impl(src, {nullptr, &src_mask}, kpm, weights);
}

Tensor TransformerEncoderLayer::sa_block(const Tensor& x, detail::MaskRef mask, const Tensor& kpm, Tensor* weights) {
  return dropout1->forward(attend(*self_attn, x, x, mask, kpm, weights));
}

Tensor TransformerEncoderLayer::ff_block(const Tensor& x) {
  return dropout2->forward(linear2->forward(dropout->forward(activate(options_.activation(), linear1->forward(x)))));
}

Tensor TransformerEncoderLayer::forward_impl(const Tensor& src, detail::MaskRef mask, const Tensor& kpm,
                                             Tensor* weights) {
  check(src.defined() && (src.dim() == 2 || src.dim() == 3) && src.size(-1) == options_.d_model(),
        "TransformerEncoderLayer.forward", "src ", shape_or_none(src),
        " must be (L,B,d_model=", options_.d_model(), "), (B,L,d_model) with batch_first, or (L,d_model)");
  Tensor x = src;
  if (options_.norm_first()) {
    x = x + sa_block(norm1->forward(x), mask, kpm, weights);
    x = x + ff_block(norm2->forward(x));
  } else {
    x = norm1->forward(x + sa_block(x, mask, kpm, weights));
    x = norm2->forward(x + ff_block(x));
  }
  return x;
}

// ==================================================================== decoder layer
TransformerDecoderLayer::TransformerDecoderLayer(const TransformerLayerOptions& o, Generator* gen)
    : Module("TransformerDecoderLayer"), options_(o) {
  validate_layer(o, "TransformerDecoderLayer");
  self_attn = register_module("self_attn", std::make_shared<MultiheadAttention>(mha_options(o).rotary(o.rotary()), gen));
  multihead_attn = register_module("multihead_attn", std::make_shared<MultiheadAttention>(mha_options(o), gen));
  linear1 = register_module("linear1", std::make_shared<Linear>(LinearOptions(o.d_model(), o.dim_feedforward()).dtype(o.dtype()), gen));
  dropout = register_module("dropout", std::make_shared<Dropout>(o.dropout()));
  linear2 = register_module("linear2", std::make_shared<Linear>(LinearOptions(o.dim_feedforward(), o.d_model()).dtype(o.dtype()), gen));
  norm1 = register_module("norm1", make_norm(o));
  norm2 = register_module("norm2", make_norm(o));
  norm3 = register_module("norm3", make_norm(o));
  dropout1 = register_module("dropout1", std::make_shared<Dropout>(o.dropout()));
  dropout2 = register_module("dropout2", std::make_shared<Dropout>(o.dropout()));
  dropout3 = register_module("dropout3", std::make_shared<Dropout>(o.dropout()));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                        const Tensor& memory_mask, const Tensor& tgt_kpm, const Tensor& memory_kpm,
                                        Tensor* self_weights, Tensor* cross_weights) {
  return forward_impl(tgt, memory, {&tgt_mask, nullptr}, {&memory_mask, nullptr}, tgt_kpm, memory_kpm, self_weights,
                      cross_weights);
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask,
                                        const AttentionMask& memory_mask, const Tensor& tgt_kpm,
                                        const Tensor& memory_kpm, Tensor* self_weights, Tensor* cross_weights) {
  return forward_impl(tgt, memory, {nullptr, &tgt_mask}, {nullptr, &memory_mask}, tgt_kpm, memory_kpm, self_weights,
                      cross_weights);
}

Tensor TransformerDecoderLayer::ff_block(const Tensor& x) {
  return dropout3->forward(linear2->forward(dropout->forward(activate(options_.activation(), linear1->forward(x)))));
}

Tensor TransformerDecoderLayer::forward_impl(const Tensor& tgt, const Tensor& memory, detail::MaskRef tgt_mask,
                                             detail::MaskRef memory_mask, const Tensor& tgt_kpm,
                                             const Tensor& memory_kpm, Tensor* self_weights, Tensor* cross_weights) {
  const char* op = "TransformerDecoderLayer.forward";
  check(tgt.defined() && (tgt.dim() == 2 || tgt.dim() == 3) && tgt.size(-1) == options_.d_model(), op, "tgt ",
        shape_or_none(tgt), " must be (T,B,d_model=", options_.d_model(),
        "), (B,T,d_model) with batch_first, or (T,d_model)");
  check(memory.defined() && memory.dim() == tgt.dim() && memory.size(-1) == options_.d_model(), op, "memory ",
        shape_or_none(memory), " must be ", tgt.dim(), "-d with d_model=", options_.d_model(),
        " features like tgt ", tgt.shape());
  Tensor x = tgt;
  auto sa = [&](const Tensor& y) { return dropout1->forward(attend(*self_attn, y, y, tgt_mask, tgt_kpm, self_weights)); };
  auto ca = [&](const Tensor& y) {
    return dropout2->forward(attend(*multihead_attn, y, memory, memory_mask, memory_kpm, cross_weights));
  };
  if (options_.norm_first()) {
    x = x + sa(norm1->forward(x));
    x = x + ca(norm2->forward(x));
    x = x + ff_block(norm3->forward(x));
  } else {
    x = norm1->forward(x + sa(x));
    x = norm2->forward(x + ca(x));
    x = norm3->forward(x + ff_block(x));
  }
  return x;
}

Tensor TransformerDecoderLayer::step(const Tensor& x_t, KVCache& cache, const StaticKV& memory_kv) {
  NoGradGuard ng;
  const std::string& act = options_.activation();
  auto ff = [&](const Tensor& y) { return linear2->forward(activate(act, linear1->forward(y))); };
  Tensor x = x_t;
  if (options_.norm_first()) {
    x = x + self_attn->step(norm1->forward(x), cache);
    x = x + multihead_attn->step_static(norm2->forward(x), memory_kv);
    x = x + ff(norm3->forward(x));
  } else {
    x = norm1->forward(x + self_attn->step(x, cache));
    x = norm2->forward(x + multihead_attn->step_static(x, memory_kv));
    x = norm3->forward(x + ff(x));
  }
  return x;
}

// ==================================================================== stacks
TransformerEncoder::TransformerEncoder(const TransformerStackOptions& o, Generator* gen)
    : Module("TransformerEncoder"), options_(o) {
  check(o.num_layers() >= 1, "TransformerEncoder", "num_layers must be >= 1, got ", o.num_layers());
  layers = register_module("layers", std::make_shared<Sequential>());
  for (int64_t l = 0; l < o.num_layers(); ++l)
    layer_list.push_back(layers->push_back(std::make_shared<TransformerEncoderLayer>(o.layer(), gen)));
  if (o.norm()) norm = register_module("norm", make_norm(o.layer()));
}

Tensor TransformerEncoder::forward(const Tensor& src) { return forward_impl(src, {}, Tensor(), nullptr); }

Tensor TransformerEncoder::forward(const Tensor& src, const Tensor& mask, const Tensor& kpm,
                                   std::vector<Tensor>* weights) {
  return forward_impl(src, {&mask, nullptr}, kpm, weights);
}

Tensor TransformerEncoder::forward(const Tensor& src, const AttentionMask& mask, const Tensor& kpm,
                                   std::vector<Tensor>* weights) {
  return forward_impl(src, {nullptr, &mask}, kpm, weights);
}

Tensor TransformerEncoder::forward_impl(const Tensor& src, detail::MaskRef mask, const Tensor& kpm,
                                        std::vector<Tensor>* weights) {
  Tensor x = src;
  for (auto& layer : layer_list) {
    Tensor w;
    x = layer->forward_impl(x, mask, kpm, weights ? &w : nullptr);
    if (weights) weights->push_back(w);
  }
  return norm ? norm->forward(x) : x;
}

TransformerDecoder::TransformerDecoder(const TransformerStackOptions& o, Generator* gen)
    : Module("TransformerDecoder"), options_(o) {
  check(o.num_layers() >= 1, "TransformerDecoder", "num_layers must be >= 1, got ", o.num_layers());
  layers = register_module("layers", std::make_shared<Sequential>());
  for (int64_t l = 0; l < o.num_layers(); ++l)
    layer_list.push_back(layers->push_back(std::make_shared<TransformerDecoderLayer>(o.layer(), gen)));
  if (o.norm()) norm = register_module("norm", make_norm(o.layer()));
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask,
                                   const Tensor& memory_mask, const Tensor& tgt_kpm, const Tensor& memory_kpm,
                                   std::vector<Tensor>* self_weights, std::vector<Tensor>* cross_weights) {
  return forward_impl(tgt, memory, {&tgt_mask, nullptr}, {&memory_mask, nullptr}, tgt_kpm, memory_kpm, self_weights,
                      cross_weights);
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask,
                                   const AttentionMask& memory_mask, const Tensor& tgt_kpm, const Tensor& memory_kpm,
                                   std::vector<Tensor>* self_weights, std::vector<Tensor>* cross_weights) {
  return forward_impl(tgt, memory, {nullptr, &tgt_mask}, {nullptr, &memory_mask}, tgt_kpm, memory_kpm, self_weights,
                      cross_weights);
}

Tensor TransformerDecoder::forward_impl(const Tensor& tgt, const Tensor& memory, detail::MaskRef tgt_mask,
                                        detail::MaskRef memory_mask, const Tensor& tgt_kpm, const Tensor& memory_kpm,
                                        std::vector<Tensor>* self_weights, std::vector<Tensor>* cross_weights) {
  Tensor x = tgt;
  for (auto& layer : layer_list) {
    Tensor ws, wc;
    x = layer->forward_impl(x, memory, tgt_mask, memory_mask, tgt_kpm, memory_kpm, self_weights ? &ws : nullptr,
                            cross_weights ? &wc : nullptr);
    if (self_weights) self_weights->push_back(ws);
    if (cross_weights) cross_weights->push_back(wc);
  }
  return norm ? norm->forward(x) : x;
}

TransformerDecoderState TransformerDecoder::new_state(int64_t B, int64_t capacity, int64_t window,
                                                      const Tensor& memory_key_padding_mask) const {
  TransformerDecoderState st;
  for (const auto& layer : layer_list) st.self.push_back(layer->self_attn->new_cache(B, capacity, window));
  st.memory_key_padding_mask = memory_key_padding_mask;
  return st;
}

Tensor TransformerDecoder::step(const Tensor& tgt_t, const Tensor& memory, TransformerDecoderState& state) {
  check(state.self.size() == layer_list.size(), "TransformerDecoder.step", "state has ", state.self.size(),
        " layer caches for ", layer_list.size(), " layers: make it with new_state(B)");
  NoGradGuard ng;
  if (state.cross.empty())
    for (const auto& layer : layer_list)
      state.cross.push_back(layer->multihead_attn->project_static(memory, state.memory_key_padding_mask));
  Tensor x = tgt_t;
  for (size_t l = 0; l < layer_list.size(); ++l) x = layer_list[l]->step(x, state.self[l], state.cross[l]);
  return norm ? norm->forward(x) : x;
}

// ==================================================================== Transformer
Transformer::Transformer(const TransformerOptions& o, Generator* gen) : Module("Transformer"), options_(o) {
  encoder = register_module("encoder", std::make_shared<TransformerEncoder>(
                                           TransformerStackOptions(o.layer(), o.num_encoder_layers()).norm(true), gen));
  decoder = register_module("decoder", std::make_shared<TransformerDecoder>(
                                           TransformerStackOptions(o.layer(), o.num_decoder_layers()).norm(true), gen));
  // PyTorch's _reset_parameters: xavier_uniform_ for every parameter with more than one dim.
  for (Tensor& p : parameters())
    if (p.dim() > 1) init::xavier_uniform_(p, 1.0, gen);
}

void Transformer::check_inputs(const Tensor& src, const Tensor& tgt) const {
  const char* op = "Transformer.forward";
  check(src.defined() && tgt.defined() && src.dim() == tgt.dim() && (src.dim() == 2 || src.dim() == 3), op, "src ",
        shape_or_none(src), " and tgt ", shape_or_none(tgt),
        " must both be 3-d (batched) or 2-d (unbatched)");
  const int64_t bd = options_.layer().batch_first() ? 0 : 1;
  check(src.dim() == 2 || src.size(bd) == tgt.size(bd), op, "the batch number of src ", src.shape(), " and tgt ",
        tgt.shape(), " must be equal");
  check(src.size(-1) == options_.layer().d_model() && tgt.size(-1) == options_.layer().d_model(), op,
        "the feature number of src ", src.shape(), " and tgt ", tgt.shape(), " must be equal to d_model=",
        options_.layer().d_model());
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask, const Tensor& tgt_mask,
                            const Tensor& memory_mask, const Tensor& src_kpm, const Tensor& tgt_kpm,
                            const Tensor& memory_kpm, TransformerAttentionMaps* maps) {
  check_inputs(src, tgt);
  const Tensor memory = encoder->forward(src, src_mask, src_kpm, maps ? &maps->encoder : nullptr);
  return decoder->forward(tgt, memory, tgt_mask, memory_mask, tgt_kpm, memory_kpm,
                          maps ? &maps->decoder_self : nullptr, maps ? &maps->decoder_cross : nullptr);
}

Tensor Transformer::forward(const Tensor& src, const Tensor& tgt, const TransformerMasks& m,
                            TransformerAttentionMaps* maps) {
  check_inputs(src, tgt);
  const Tensor memory = encoder->forward(src, m.src, m.src_key_padding_mask, maps ? &maps->encoder : nullptr);
  return decoder->forward(tgt, memory, m.tgt, m.memory, m.tgt_key_padding_mask, m.memory_key_padding_mask,
                          maps ? &maps->decoder_self : nullptr, maps ? &maps->decoder_cross : nullptr);
}

}  // namespace seqnn::nn
