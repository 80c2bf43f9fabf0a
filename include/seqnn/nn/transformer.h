// seqnn/nn/transformer.h: torch.nn.TransformerEncoderLayer / DecoderLayer / Encoder / Decoder /
// Transformer (PyTorch 1.13's options, parameter names and masks), per-layer attention maps on
// request, and a streaming decoder step() with KV caches.
//
// Encoder layer (post-norm, PyTorch's default; norm_first(true) is pre-norm):
//   post: x = norm1(x + drop1(SA(x)));          x = norm2(x + drop2(FF(x)))
//   pre:  x = x + drop1(SA(norm1(x)));          x = x + drop2(FF(norm2(x)))
//   FF(x) = linear2(dropout(act(linear1(x))))   act = relu | gelu
// Decoder layer (MHA = cross-attention over memory):
//   post: x = norm1(x + drop1(SA(x)));  x = norm2(x + drop2(MHA(x, mem)));  x = norm3(x + drop3(FF(x)))
//   pre:  x = x + drop1(SA(norm1(x)));  x = x + drop2(MHA(norm2(x), mem));  x = x + drop3(FF(norm3(x)))
// Encoder / Decoder: the layers in order, then the optional final norm. Transformer: encoder
// (with norm) -> memory -> decoder (with norm); every parameter with dim > 1 re-drawn
// xavier_uniform, as PyTorch's Transformer._reset_parameters.
//
// Parameter names as PyTorch: self_attn.in_proj_weight, self_attn.out_proj.weight,
// multihead_attn.*, linear1.*, linear2.*, norm1..3.*, layers.0...., norm.* (Encoder/Decoder),
// encoder.layers.0...., encoder.norm.*, decoder.norm.* (Transformer). A PyTorch state_dict loads
// unchanged. (PyTorch deep-copies one layer N times, so its layers start equal; seqnn draws each
// layer independently from the same distributions.)
//
// Masks, PyTorch's meaning (see multihead_attention.h): src_mask/tgt_mask/memory_mask (L,S) or
// (B*nhead,L,S), Bool (true = not allowed) or float (added); *_key_padding_mask (B,S). The
// AttentionMask overloads take structural masks (causal, window, lengths, graph, dense) instead;
// TransformerMasks bundles them. Rows with nothing to attend to give zeros, not NaN.
//
// Attention maps: pass a vector and every layer's per-head weights (B,nhead,L,S) are appended
// ((nhead,L,S) unbatched).
//
// Streaming (inference, dropout off, no gradients):
//   auto st = decoder.new_state(B);
//   for t: y_t = decoder.step(tgt_t, memory, st);     // tgt_t (B,E) -> (B,E)
// equals forward(tgt, memory, generate_square_subsequent_mask(T)) row by row. Each layer keeps a
// self-attention KVCache; the cross-attention K,V of memory are projected once, at the first step.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "seqnn/attention.h"
#include "seqnn/nn/container.h"
#include "seqnn/nn/dropout.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/module.h"
#include "seqnn/nn/multihead_attention.h"
#include "seqnn/nn/normalization.h"
#include "seqnn/random.h"

namespace seqnn::nn {

// ==================================================================== options
class TransformerLayerOptions {
 public:
  TransformerLayerOptions(int64_t d_model, int64_t nhead) : d_model_(d_model), nhead_(nhead) {}
  TransformerLayerOptions& d_model(int64_t v) { d_model_ = v; return *this; }
  TransformerLayerOptions& nhead(int64_t v) { nhead_ = v; return *this; }
  TransformerLayerOptions& dim_feedforward(int64_t v) { dim_feedforward_ = v; return *this; }
  TransformerLayerOptions& dropout(double v) { dropout_ = v; return *this; }
  TransformerLayerOptions& activation(std::string v) { activation_ = std::move(v); return *this; }  // relu | gelu
  TransformerLayerOptions& layer_norm_eps(double v) { layer_norm_eps_ = v; return *this; }
  TransformerLayerOptions& batch_first(bool v) { batch_first_ = v; return *this; }
  TransformerLayerOptions& norm_first(bool v) { norm_first_ = v; return *this; }
  TransformerLayerOptions& dtype(DType v) { dtype_ = v; return *this; }
  // seqnn only: rotary positions in the SELF-attention (MultiheadAttentionOptions::rotary; cross-
  // attention never rotates): scores depend on the relative offset of query and key
  TransformerLayerOptions& rotary(bool v) { rotary_ = v; return *this; }
  int64_t d_model() const { return d_model_; }
  int64_t nhead() const { return nhead_; }
  int64_t dim_feedforward() const { return dim_feedforward_; }
  double dropout() const { return dropout_; }
  const std::string& activation() const { return activation_; }
  double layer_norm_eps() const { return layer_norm_eps_; }
  bool batch_first() const { return batch_first_; }
  bool norm_first() const { return norm_first_; }
  DType dtype() const { return dtype_; }
  bool rotary() const { return rotary_; }

 private:
  int64_t d_model_;
  int64_t nhead_;
  int64_t dim_feedforward_ = 2048;
  double dropout_ = 0.1;
  std::string activation_ = "relu";
  double layer_norm_eps_ = 1e-5;
  bool batch_first_ = false;
  bool norm_first_ = false;
  DType dtype_ = DType::F32;
  bool rotary_ = false;
};
using TransformerEncoderLayerOptions = TransformerLayerOptions;
using TransformerDecoderLayerOptions = TransformerLayerOptions;

// Encoder / decoder stacks: the layer's options, the layer count, and whether a final LayerNorm
// (PyTorch's `norm` argument, eps = layer_norm_eps) follows.
class TransformerStackOptions {
 public:
  TransformerStackOptions(TransformerLayerOptions layer, int64_t num_layers) : layer_(std::move(layer)), num_layers_(num_layers) {}
  TransformerStackOptions& num_layers(int64_t v) { num_layers_ = v; return *this; }
  TransformerStackOptions& norm(bool v) { norm_ = v; return *this; }
  const TransformerLayerOptions& layer() const { return layer_; }
  int64_t num_layers() const { return num_layers_; }
  bool norm() const { return norm_; }

 private:
  TransformerLayerOptions layer_;
  int64_t num_layers_;
  bool norm_ = false;
};
using TransformerEncoderOptions = TransformerStackOptions;
using TransformerDecoderOptions = TransformerStackOptions;

class TransformerOptions {
 public:
  TransformerOptions(int64_t d_model = 512, int64_t nhead = 8) : layer_(d_model, nhead) {}
  TransformerOptions& d_model(int64_t v) { layer_.d_model(v); return *this; }
  TransformerOptions& nhead(int64_t v) { layer_.nhead(v); return *this; }
  TransformerOptions& num_encoder_layers(int64_t v) { num_encoder_layers_ = v; return *this; }
  TransformerOptions& num_decoder_layers(int64_t v) { num_decoder_layers_ = v; return *this; }
  TransformerOptions& dim_feedforward(int64_t v) { layer_.dim_feedforward(v); return *this; }
  TransformerOptions& dropout(double v) { layer_.dropout(v); return *this; }
  TransformerOptions& activation(std::string v) { layer_.activation(std::move(v)); return *this; }
  TransformerOptions& layer_norm_eps(double v) { layer_.layer_norm_eps(v); return *this; }
  TransformerOptions& batch_first(bool v) { layer_.batch_first(v); return *this; }
  TransformerOptions& norm_first(bool v) { layer_.norm_first(v); return *this; }
  TransformerOptions& dtype(DType v) { layer_.dtype(v); return *this; }
  const TransformerLayerOptions& layer() const { return layer_; }
  int64_t num_encoder_layers() const { return num_encoder_layers_; }
  int64_t num_decoder_layers() const { return num_decoder_layers_; }

 private:
  TransformerLayerOptions layer_;
  int64_t num_encoder_layers_ = 6;
  int64_t num_decoder_layers_ = 6;
};

// The AttentionMask form of every mask of a Transformer.
struct TransformerMasks {
  AttentionMask src, tgt, memory;
  Tensor src_key_padding_mask, tgt_key_padding_mask, memory_key_padding_mask;
};

// Per-layer attention maps (B,nhead,L,S), filled when passed to forward.
struct TransformerAttentionMaps {
  std::vector<Tensor> encoder, decoder_self, decoder_cross;
};

// (L,L) float: 0 on and below the diagonal, -inf above (PyTorch's generate_square_subsequent_mask).
Tensor generate_square_subsequent_mask(int64_t L, DType dt = DType::F32);

namespace detail {
// One attention-mask argument: a PyTorch tensor mask or an AttentionMask (exactly one set).
struct MaskRef {
  const Tensor* tensor = nullptr;
  const AttentionMask* mask = nullptr;
};
}  // namespace detail

// ==================================================================== layers
class TransformerEncoderLayer : public Module {
 public:
  explicit TransformerEncoderLayer(const TransformerLayerOptions& options, Generator* gen = nullptr);
  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const Tensor& src_mask, const Tensor& src_key_padding_mask = Tensor(),
                 Tensor* weights = nullptr);
  Tensor forward(const Tensor& src, const AttentionMask& src_mask, const Tensor& src_key_padding_mask = Tensor(),
                 Tensor* weights = nullptr);
  const TransformerLayerOptions& options() const { return options_; }

  std::shared_ptr<MultiheadAttention> self_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2;
  std::shared_ptr<LayerNorm> norm1, norm2;

 private:
  friend class TransformerEncoder;
  Tensor forward_impl(const Tensor& src, detail::MaskRef mask, const Tensor& kpm, Tensor* weights);
  Tensor sa_block(const Tensor& x, detail::MaskRef mask, const Tensor& kpm, Tensor* weights);
  Tensor ff_block(const Tensor& x);
  TransformerLayerOptions options_;
};

class TransformerDecoderLayer : public Module {
 public:
  explicit TransformerDecoderLayer(const TransformerLayerOptions& options, Generator* gen = nullptr);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), Tensor* self_weights = nullptr,
                 Tensor* cross_weights = nullptr);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask,
                 const AttentionMask& memory_mask, const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), Tensor* self_weights = nullptr,
                 Tensor* cross_weights = nullptr);
  // One decoding step (inference): x_t (B,E) through the layer with a self-attention cache and
  // the memory's projected K,V.
  Tensor step(const Tensor& x_t, KVCache& cache, const StaticKV& memory_kv);
  const TransformerLayerOptions& options() const { return options_; }

  std::shared_ptr<MultiheadAttention> self_attn, multihead_attn;
  std::shared_ptr<Linear> linear1, linear2;
  std::shared_ptr<Dropout> dropout, dropout1, dropout2, dropout3;
  std::shared_ptr<LayerNorm> norm1, norm2, norm3;

 private:
  friend class TransformerDecoder;
  Tensor forward_impl(const Tensor& tgt, const Tensor& memory, detail::MaskRef tgt_mask, detail::MaskRef memory_mask,
                      const Tensor& tgt_kpm, const Tensor& memory_kpm, Tensor* self_weights, Tensor* cross_weights);
  Tensor ff_block(const Tensor& x);
  TransformerLayerOptions options_;
};

// ==================================================================== stacks
class TransformerEncoder : public Module {
 public:
  explicit TransformerEncoder(const TransformerStackOptions& options, Generator* gen = nullptr);
  Tensor forward(const Tensor& src) override;
  Tensor forward(const Tensor& src, const Tensor& mask, const Tensor& src_key_padding_mask = Tensor(),
                 std::vector<Tensor>* weights = nullptr);
  Tensor forward(const Tensor& src, const AttentionMask& mask, const Tensor& src_key_padding_mask = Tensor(),
                 std::vector<Tensor>* weights = nullptr);
  const TransformerStackOptions& options() const { return options_; }

  std::shared_ptr<Sequential> layers;  // "layers.0", "layers.1", ...
  std::vector<std::shared_ptr<TransformerEncoderLayer>> layer_list;
  std::shared_ptr<LayerNorm> norm;     // null without options.norm(true)

 private:
  Tensor forward_impl(const Tensor& src, detail::MaskRef mask, const Tensor& kpm, std::vector<Tensor>* weights);
  TransformerStackOptions options_;
};

// Streaming decoder state: one self-attention cache per layer; memory K,V once projected.
struct TransformerDecoderState {
  std::vector<KVCache> self;
  std::vector<StaticKV> cross;  // empty until the first step
  Tensor memory_key_padding_mask;
  int64_t steps() const { return self.empty() ? 0 : self[0].steps; }
};

class TransformerDecoder : public Module {
 public:
  explicit TransformerDecoder(const TransformerStackOptions& options, Generator* gen = nullptr);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const Tensor& tgt_mask = Tensor(),
                 const Tensor& memory_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), std::vector<Tensor>* self_weights = nullptr,
                 std::vector<Tensor>* cross_weights = nullptr);
  Tensor forward(const Tensor& tgt, const Tensor& memory, const AttentionMask& tgt_mask,
                 const AttentionMask& memory_mask, const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), std::vector<Tensor>* self_weights = nullptr,
                 std::vector<Tensor>* cross_weights = nullptr);

  // Streaming: caches preallocated for `capacity` steps (doubling beyond), or ring buffers of
  // the last `window` self-attention steps when window > 0.
  TransformerDecoderState new_state(int64_t B, int64_t capacity = 16, int64_t window = 0,
                                    const Tensor& memory_key_padding_mask = Tensor()) const;
  // tgt_t (B,E), memory (S,B,E) [(B,S,E) batch_first] -> (B,E).
  Tensor step(const Tensor& tgt_t, const Tensor& memory, TransformerDecoderState& state);
  const TransformerStackOptions& options() const { return options_; }

  std::shared_ptr<Sequential> layers;
  std::vector<std::shared_ptr<TransformerDecoderLayer>> layer_list;
  std::shared_ptr<LayerNorm> norm;

 private:
  Tensor forward_impl(const Tensor& tgt, const Tensor& memory, detail::MaskRef tgt_mask, detail::MaskRef memory_mask,
                      const Tensor& tgt_kpm, const Tensor& memory_kpm, std::vector<Tensor>* self_weights,
                      std::vector<Tensor>* cross_weights);
  TransformerStackOptions options_;
};

// ==================================================================== Transformer
class Transformer : public Module {
 public:
  explicit Transformer(const TransformerOptions& options = TransformerOptions(), Generator* gen = nullptr);
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_mask = Tensor(),
                 const Tensor& tgt_mask = Tensor(), const Tensor& memory_mask = Tensor(),
                 const Tensor& src_key_padding_mask = Tensor(), const Tensor& tgt_key_padding_mask = Tensor(),
                 const Tensor& memory_key_padding_mask = Tensor(), TransformerAttentionMaps* maps = nullptr);
  Tensor forward(const Tensor& src, const Tensor& tgt, const TransformerMasks& masks,
                 TransformerAttentionMaps* maps = nullptr);
  static Tensor generate_square_subsequent_mask(int64_t L, DType dt = DType::F32) {
    return nn::generate_square_subsequent_mask(L, dt);
  }
  const TransformerOptions& options() const { return options_; }

  std::shared_ptr<TransformerEncoder> encoder;
  std::shared_ptr<TransformerDecoder> decoder;

 private:
  void check_inputs(const Tensor& src, const Tensor& tgt) const;
  TransformerOptions options_;
};

}  // namespace seqnn::nn
