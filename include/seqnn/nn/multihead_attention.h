// seqnn/nn/multihead_attention.h: torch.nn.MultiheadAttention (PyTorch 1.13's contract), plus
// structural masks (seqnn::AttentionMask) and a streaming step() with a KV cache.
//
//   Q = query W_q^T + b_q      K = key W_k^T + b_k      V = value W_v^T + b_v      (GEMMs)
//   K, V += [bias_k], [bias_v]           (add_bias_kv: one extra key/value, always allowed)
//   K, V += [0], [0]                     (add_zero_attn: one extra zero key/value, always allowed)
//   head n: O_n = softmax(Q_n K_n^T / sqrt(D) + mask) V_n      (scaled_dot_product_attention)
//   output = concat_n(O_n) W_o^T + b_o                           (out_proj)
// with N = num_heads, D = embed_dim / N. The per-head Q_n, K_n, V_n are strided views of the
// projections (no copies); the attention itself is the one fused op of seqnn/attention.h.
//
// Shapes (E = embed_dim, L target length, S source length, B batch):
//   query (L,B,E)      key (S,B,kdim)      value (S,B,vdim)        time-major (default)
//   query (B,L,E)      key (B,S,kdim)      value (B,S,vdim)        batch_first(true)
//   query (L,E)        key (S,kdim)        value (S,vdim)          unbatched
//   output like query; weights (B,L,S') averaged over heads or (B,N,L,S') per head
//   ((L,S') / (N,L,S') unbatched), S' = S + add_bias_kv + add_zero_attn.
// Masks (PyTorch's meaning):
//   key_padding_mask (B,S) [(S) unbatched]: Bool true = ignore that key; float = added
//   attn_mask (L,S) or (B*N,L,S): Bool true = not allowed; float = added to the scores
// A bool key_padding_mask that pads only a suffix of every row becomes key lengths (structural:
// the padded key blocks are skipped); any other becomes a dense mask. The AttentionMask overload
// takes causal / window / key lengths / graph / dense masks (over (B,N,L,S')) and combines them
// with key_padding_mask. A query row with no allowed key outputs zeros (PyTorch: NaN) and
// zero weights.
//
// Parameters, PyTorch's names, order and initialisation:
//   in_proj_weight (3E,E) xavier_uniform      [kdim == vdim == E]
//   q_proj_weight (E,E), k_proj_weight (E,kdim), v_proj_weight (E,vdim) xavier_uniform [else]
//   in_proj_bias (3E) zeros                    [bias]
//   bias_k (1,1,E), bias_v (1,1,E) xavier_normal     [add_bias_kv]
//   out_proj.weight (E,E) (Linear's init), out_proj.bias (E) zeros
// Dropout (training only) drops attention weights inside the op (the returned weights are the
// dropped ones, as PyTorch returns).
//
// Streaming self-attention: with cache = m.new_cache(B), per time step
//   y_t = m.step(x_t, cache);        // x_t (B,E) -> y_t (B,E)
// appends this step's k, v to the cache and attends over everything cached: the steps equal
// forward(x, x, x) with a causal mask. With new_cache(B, capacity, w) the cache is a ring buffer
// of the last w steps: step i attends to steps [i-w+1, i], i.e. forward with
// AttentionMask().window(w - 1, 0) (which is causal too). step() records no gradients.
// With rotary(true), query position t and key position s are rotated by t and s (step(): by the
// step index), so forward and step() agree there too.
#pragma once

#include <cstdint>
#include <memory>

#include "seqnn/attention.h"
#include "seqnn/nn/linear.h"
#include "seqnn/nn/module.h"
#include "seqnn/random.h"

namespace seqnn::nn {

// ==================================================================== options
class MultiheadAttentionOptions {
 public:
  MultiheadAttentionOptions(int64_t embed_dim, int64_t num_heads) : embed_dim_(embed_dim), num_heads_(num_heads) {}
  MultiheadAttentionOptions& embed_dim(int64_t v) { embed_dim_ = v; return *this; }
  MultiheadAttentionOptions& num_heads(int64_t v) { num_heads_ = v; return *this; }
  MultiheadAttentionOptions& dropout(double v) { dropout_ = v; return *this; }
  MultiheadAttentionOptions& bias(bool v) { bias_ = v; return *this; }
  MultiheadAttentionOptions& add_bias_kv(bool v) { add_bias_kv_ = v; return *this; }
  MultiheadAttentionOptions& add_zero_attn(bool v) { add_zero_attn_ = v; return *this; }
  MultiheadAttentionOptions& kdim(int64_t v) { kdim_ = v; return *this; }  // 0: embed_dim
  MultiheadAttentionOptions& vdim(int64_t v) { vdim_ = v; return *this; }  // 0: embed_dim
  MultiheadAttentionOptions& batch_first(bool v) { batch_first_ = v; return *this; }
  MultiheadAttentionOptions& dtype(DType v) { dtype_ = v; return *this; }
  // seqnn only (PyTorch has no rotary MHA): rotate each head's q and k by their positions
  // (nn/positional.h, apply_rotary with this base) before the scores, so they depend on the
  // relative position. Needs an even head_dim; not with add_bias_kv / add_zero_attn.
  MultiheadAttentionOptions& rotary(bool v) { rotary_ = v; return *this; }
  MultiheadAttentionOptions& rotary_base(double v) { rotary_base_ = v; return *this; }
  bool rotary() const { return rotary_; }
  double rotary_base() const { return rotary_base_; }
  int64_t embed_dim() const { return embed_dim_; }
  int64_t num_heads() const { return num_heads_; }
  double dropout() const { return dropout_; }
  bool bias() const { return bias_; }
  bool add_bias_kv() const { return add_bias_kv_; }
  bool add_zero_attn() const { return add_zero_attn_; }
  int64_t kdim() const { return kdim_ > 0 ? kdim_ : embed_dim_; }
  int64_t vdim() const { return vdim_ > 0 ? vdim_ : embed_dim_; }
  bool batch_first() const { return batch_first_; }
  DType dtype() const { return dtype_; }

 private:
  int64_t embed_dim_;
  int64_t num_heads_;
  double dropout_ = 0.0;
  bool bias_ = true;
  bool add_bias_kv_ = false;
  bool add_zero_attn_ = false;
  int64_t kdim_ = 0;
  int64_t vdim_ = 0;
  bool batch_first_ = false;
  DType dtype_ = DType::F32;
  bool rotary_ = false;
  double rotary_base_ = 10000.0;
};

struct MultiheadAttentionOutput {
  Tensor output;   // like query
  Tensor weights;  // (B,L,S') averaged or (B,N,L,S') per head; undefined unless need_weights
};

// The keys and values of one self-attention stream, for step(). Rows [0, size()) of k and v
// hold the cached steps (in ring order when windowed; attention does not depend on key order).
struct KVCache {
  Tensor k, v;          // (capacity, B, N, D) buffers
  int64_t steps = 0;    // steps appended so far
  int64_t window = 0;   // 0: unbounded (grows geometrically); w > 0: ring buffer of w steps
  int64_t size() const { return window > 0 && steps > window ? window : steps; }
  int64_t capacity() const { return k.defined() ? k.size(0) : 0; }
  void reset() { steps = 0; }
};

// Keys and values of a fixed memory projected once (cross-attention while decoding).
struct StaticKV {
  Tensor k, v;              // (B,N,S,D) contiguous
  AttentionMask mask;       // memory_key_padding_mask / memory_mask over (B,N,1,S), if any
};

// attn_mask (L,S) or (B*N,L,S), Bool or float, checked and reshaped to a dense AttentionMask
// over (B,N,L,S) (undefined attn_mask: empty mask). Errors name `op`.
AttentionMask attn_mask_to_attention_mask(const Tensor& attn_mask, int64_t B, int64_t N, int64_t L, int64_t S,
                                          const char* op);

// ==================================================================== module
class MultiheadAttention : public Module {
 public:
  explicit MultiheadAttention(const MultiheadAttentionOptions& options, Generator* gen = nullptr);
  void reset_parameters(Generator* gen = nullptr);

  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const Tensor& key_padding_mask = Tensor(), bool need_weights = true,
                                   const Tensor& attn_mask = Tensor(), bool average_attn_weights = true);
  // Structural masks over (B,N,L,S'), combined with key_padding_mask.
  MultiheadAttentionOutput forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const AttentionMask& mask, const Tensor& key_padding_mask = Tensor(),
                                   bool need_weights = true, bool average_attn_weights = true);

  // ------------------------------------------------------------ streaming
  // A KV cache for B streams with room for `capacity` steps (grows by doubling), or a ring
  // buffer of the last `window` steps when window > 0.
  KVCache new_cache(int64_t B, int64_t capacity = 16, int64_t window = 0) const;
  // Self-attention of x_t (B,E) over the cached steps and itself; appends to the cache.
  Tensor step(const Tensor& x_t, KVCache& cache);
  // memory (S,B,kdim) [(B,S,kdim) batch_first] projected once into per-head K,V; the masks are
  // memory_key_padding_mask (B,S) and/or a memory_mask (1,S) / (B*N,1,S) for one query.
  StaticKV project_static(const Tensor& memory, const Tensor& key_padding_mask = Tensor(),
                          const Tensor& attn_mask = Tensor());
  // Attention of x_t (B,E) over a StaticKV: the cross-attention of one decoding step.
  Tensor step_static(const Tensor& x_t, const StaticKV& kv);

  const MultiheadAttentionOptions& options() const { return options_; }
  int64_t head_dim() const { return options_.embed_dim() / options_.num_heads(); }
  bool qkv_same_embed_dim() const { return same_dim_; }

  Tensor in_proj_weight;  // (3E,E) or undefined
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;  // when kdim/vdim != E
  Tensor in_proj_bias;    // (3E) or undefined
  Tensor bias_k, bias_v;  // (1,1,E) or undefined
  std::shared_ptr<Linear> out_proj;

 private:
  MultiheadAttentionOutput forward_impl(const Tensor& query, const Tensor& key, const Tensor& value,
                                        const Tensor& attn_mask, const AttentionMask* mask,
                                        const Tensor& key_padding_mask, bool need_weights, bool average);
  Tensor w_slice(int i) const;  // W_q, W_k or W_v
  Tensor b_slice(int i) const;  // b_q, b_k, b_v or undefined
  Tensor attend_one(const Tensor& x_t, const Tensor& k, const Tensor& v, const AttentionMask& mask);

  MultiheadAttentionOptions options_;
  bool same_dim_;
};

}  // namespace seqnn::nn
