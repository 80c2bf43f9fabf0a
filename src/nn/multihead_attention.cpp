// nn::MultiheadAttention: projections as GEMMs (linear), per-head strided views, one fused
// scaled_dot_product_attention call, the output projection.
//
//   [Q|K|V] = x [W_q|W_k|W_v]^T + [b_q|b_k|b_v]       one GEMM when query, key, value are one tensor
//   (L,B,E) -> (L,B,N,D) -> permute (B,N,L,D)           a view: the op reads it through its strides
//   O (B,N,L,D) -> (L,B,E) -> out_proj
// Masks: attn_mask (L,S)/(B*N,L,S) becomes a dense AttentionMask over (B,N,L,S); a bool
// key_padding_mask that only pads suffixes becomes key_lengths, otherwise it is merged into the
// dense mask (bool|bool = or; float+bool = -inf fill; float+float = sum). Extra keys appended by
// add_bias_kv / add_zero_attn are always allowed: the mask is padded with "allowed" columns.
// Gradients flow through linear, the views, cat and the op.
#include "seqnn/nn/multihead_attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "seqnn/autograd.h"
#include "seqnn/nn/init.h"
#include "seqnn/nn/positional.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

namespace {

constexpr const char* kFwd = "MultiheadAttention.forward";

// (d0,d1,E) with the sequence at dim sd -> (B,N,S,D), always a view (q, k, v of the packed
// projection are strided slices of it; the attention op reads them through their strides).
Tensor split_heads(const Tensor& x, int64_t sd, int64_t N, int64_t D) {
  Tensor h = unflatten(x, 2, {N, D});
  return sd == 0 ? h.permute({1, 2, 0, 3}) : h.permute({0, 2, 1, 3});
}

// True where row b of a bool (B,S) mask is F..F T..T; lens[b] = number of leading F.
bool suffix_lengths(const Tensor& kpm, std::vector<int64_t>& lens) {
  const Tensor c = kpm.contiguous();
  const bool* p = c.data_ptr<bool>();
  const int64_t B = c.size(0), S = c.size(1);
  lens.assign(B, 0);
  for (int64_t b = 0; b < B; ++b) {
    const bool* row = p + b * S;
    int64_t j = 0;
    while (j < S && !row[j]) ++j;
    lens[b] = j;
    for (int64_t t = j; t < S; ++t)
      if (!row[t]) return false;
  }
  return true;
}

// Adds key_padding_mask (B,S) (Bool true = ignore; float = added) to m, over (B,N,L,S).
void merge_key_padding(AttentionMask& m, const Tensor& kpm, int64_t B, int64_t S, DType dt, const char* op) {
  if (!kpm.defined()) return;
  check(kpm.dtype() == DType::Bool || kpm.is_floating_point(), op,
        "only bool and floating types of key_padding_mask are supported, got ", dtype_name(kpm.dtype()));
  check(kpm.dim() == 2 && kpm.size(0) == B && kpm.size(1) == S, op, "key_padding_mask ", kpm.shape(),
        " must be (B=", B, ",S=", S, ")");
  if (kpm.dtype() == DType::Bool) {
    std::vector<int64_t> lens;
    if (suffix_lengths(kpm, lens)) {
      if (m.key_lengths().defined()) {  // both: the shorter length wins
        const std::vector<int64_t> prev = m.key_lengths().to_vector<int64_t>();
        check(static_cast<int64_t>(prev.size()) == B, op, "mask key_lengths (", prev.size(), ") must be (B=", B, ")");
        for (int64_t b = 0; b < B; ++b) lens[b] = std::min(lens[b], prev[b]);
      }
      m.key_lengths(from_vector(lens, {B}));
      return;
    }
  }
  Tensor k4 = kpm.reshape({B, 1, 1, S});
  if (k4.is_floating_point() && k4.dtype() != dt) k4 = k4.to(dt);
  const Tensor& d = m.dense();
  const double ninf = -std::numeric_limits<double>::infinity();
  if (!d.defined()) {
    m.dense(k4);
  } else if (d.dtype() == DType::Bool && k4.dtype() == DType::Bool) {
    m.dense(masked_fill(d, k4, 1.0));  // or
  } else if (d.dtype() == DType::Bool) {
    m.dense(masked_fill(k4, d, ninf));  // float key padding, bool attn_mask
  } else if (k4.dtype() == DType::Bool) {
    m.dense(masked_fill(d, k4, ninf));
  } else {
    m.dense(add(d, k4));
  }
}

// The mask over (B,N,L,S) extended by A always-allowed key columns.
AttentionMask append_allowed_keys(const AttentionMask& m, int64_t B, int64_t N, int64_t L, int64_t S, int64_t A,
                                  DType dt) {
  if (A == 0 || m.empty()) return m;
  const bool dense_only = !m.is_causal() && !m.window_left() && !m.key_lengths().defined() &&
                          !m.graph_indptr().defined();
  Tensor d;
  if (dense_only) {  // pad the dense mask itself (keeps its broadcast shape and its gradient)
    Tensor x = m.dense();
    while (x.dim() < 4) x = x.unsqueeze(0);
    Shape ps = x.shape();
    ps[3] = A;
    d = cat({x, zeros(ps, x.dtype())}, 3);
  } else {
    d = cat({m.additive(B, N, L, S, dt), zeros({B, N, L, A}, dt)}, 3);
  }
  return AttentionMask().dense(d);
}

}  // namespace

AttentionMask attn_mask_to_attention_mask(const Tensor& attn_mask, int64_t B, int64_t N, int64_t L, int64_t S,
                                          const char* op) {
  AttentionMask m;
  if (!attn_mask.defined()) return m;
  check(attn_mask.dtype() == DType::Bool || attn_mask.is_floating_point(), op,
        "only float and bool types are supported for attn_mask, got ", dtype_name(attn_mask.dtype()));
  if (attn_mask.dim() == 2) {
    check(attn_mask.size(0) == L && attn_mask.size(1) == S, op, "the shape of the 2D attn_mask is ",
          attn_mask.shape(), ", but should be (L=", L, ",S=", S, ")");
    return m.dense(attn_mask.reshape({1, 1, L, S}));
  }
  check(attn_mask.dim() == 3, op, "attn_mask must be 2-d (L,S) or 3-d (B*num_heads,L,S), got shape ",
        attn_mask.shape());
  check(attn_mask.size(0) == B * N && attn_mask.size(1) == L && attn_mask.size(2) == S, op,
        "the shape of the 3D attn_mask is ", attn_mask.shape(), ", but should be (B*num_heads=", B * N, ",L=", L,
        ",S=", S, ")");
  return m.dense(attn_mask.reshape({B, N, L, S}));
}

// ==================================================================== construction
MultiheadAttention::MultiheadAttention(const MultiheadAttentionOptions& o, Generator* gen)
    : Module("MultiheadAttention"), options_(o) {
  const int64_t E = o.embed_dim(), N = o.num_heads();
  check(E >= 1 && N >= 1, "MultiheadAttention", "embed_dim and num_heads must be >= 1, got embed_dim=", E,
        " num_heads=", N);
  check(E % N == 0, "MultiheadAttention", "embed_dim must be divisible by num_heads, got embed_dim=", E,
        " num_heads=", N);
  check(o.kdim() >= 1 && o.vdim() >= 1, "MultiheadAttention", "kdim and vdim must be >= 1, got kdim=", o.kdim(),
        " vdim=", o.vdim());
  check(o.dropout() >= 0.0 && o.dropout() < 1.0, "MultiheadAttention", "dropout must be in [0, 1), got ",
        o.dropout());
  check(is_floating(o.dtype()), "MultiheadAttention", "dtype must be floating, got ", dtype_name(o.dtype()));
  check(!o.rotary() || (E / N) % 2 == 0, "MultiheadAttention", "rotary needs an even head_dim, got embed_dim=", E,
        " / num_heads=", N, " = ", E / N);
  check(!o.rotary() || (!o.add_bias_kv() && !o.add_zero_attn()), "MultiheadAttention",
        "rotary cannot be combined with add_bias_kv or add_zero_attn (the appended keys have no position)");
  same_dim_ = o.kdim() == E && o.vdim() == E;
  const DType dt = o.dtype();
  // PyTorch's registration order: [q,k,v]_proj_weight or in_proj_weight, in_proj_bias, bias_k,
  // bias_v (own parameters first), then out_proj.
  if (same_dim_) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * E, E}, dt));
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({E, E}, dt));
    k_proj_weight = register_parameter("k_proj_weight", empty({E, o.kdim()}, dt));
    v_proj_weight = register_parameter("v_proj_weight", empty({E, o.vdim()}, dt));
  }
  if (o.bias()) in_proj_bias = register_parameter("in_proj_bias", empty({3 * E}, dt));
  if (o.add_bias_kv()) {
    bias_k = register_parameter("bias_k", empty({1, 1, E}, dt));
    bias_v = register_parameter("bias_v", empty({1, 1, E}, dt));
  }
  out_proj = register_module("out_proj", std::make_shared<Linear>(LinearOptions(E, E).bias(o.bias()).dtype(dt), gen));
  reset_parameters(gen);
}

void MultiheadAttention::reset_parameters(Generator* gen) {
  // PyTorch's _reset_parameters (out_proj.weight keeps Linear's kaiming init).
  if (same_dim_) {
    init::xavier_uniform_(in_proj_weight, 1.0, gen);
  } else {
    init::xavier_uniform_(q_proj_weight, 1.0, gen);
    init::xavier_uniform_(k_proj_weight, 1.0, gen);
    init::xavier_uniform_(v_proj_weight, 1.0, gen);
  }
  if (in_proj_bias.defined()) {
    init::zeros_(in_proj_bias);
    init::zeros_(out_proj->bias);
  }
  if (bias_k.defined()) init::xavier_normal_(bias_k, 1.0, gen);
  if (bias_v.defined()) init::xavier_normal_(bias_v, 1.0, gen);
}

Tensor MultiheadAttention::w_slice(int i) const {
  const int64_t E = options_.embed_dim();
  if (!same_dim_) return i == 0 ? q_proj_weight : i == 1 ? k_proj_weight : v_proj_weight;
  return slice(in_proj_weight, 0, i * E, (i + 1) * E);
}

Tensor MultiheadAttention::b_slice(int i) const {
  const int64_t E = options_.embed_dim();
  return in_proj_bias.defined() ? slice(in_proj_bias, 0, i * E, (i + 1) * E) : Tensor();
}

// ==================================================================== forward
MultiheadAttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                     const Tensor& key_padding_mask, bool need_weights,
                                                     const Tensor& attn_mask, bool average_attn_weights) {
  return forward_impl(query, key, value, attn_mask, nullptr, key_padding_mask, need_weights, average_attn_weights);
}

MultiheadAttentionOutput MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                                     const AttentionMask& mask, const Tensor& key_padding_mask,
                                                     bool need_weights, bool average_attn_weights) {
  return forward_impl(query, key, value, Tensor(), &mask, key_padding_mask, need_weights, average_attn_weights);
}

MultiheadAttentionOutput MultiheadAttention::forward_impl(const Tensor& query_in, const Tensor& key_in,
                                                          const Tensor& value_in, const Tensor& attn_mask,
                                                          const AttentionMask* mask, const Tensor& kpm_in,
                                                          bool need_weights, bool average) {
  const int64_t E = options_.embed_dim(), N = options_.num_heads(), D = E / N;
  check(query_in.defined() && key_in.defined() && value_in.defined(), kFwd, "query, key and value must be defined");
  const bool batched = query_in.dim() == 3;
  check(query_in.dim() == 3 || query_in.dim() == 2, kFwd, "query must be 3-d (batched) or 2-d (unbatched), got ",
        query_in.shape());
  check(key_in.dim() == query_in.dim() && value_in.dim() == query_in.dim(), kFwd, "query ", query_in.shape(),
        ", key ", key_in.shape(), " and value ", value_in.shape(), " must all be ", query_in.dim(), "-d");
  // Layout: sequence at dim sd, batch at 1 - sd (unbatched: a batch dim of 1 at dim 1).
  Tensor query = query_in, key = key_in, value = value_in, kpm = kpm_in;
  const bool self_qkv = query_in.impl() == key_in.impl() && key_in.impl() == value_in.impl();
  const bool same_kv = key_in.impl() == value_in.impl();
  if (!batched) {
    query = query.unsqueeze(1);
    key = key.unsqueeze(1);
    value = value.unsqueeze(1);
    if (kpm.defined()) {
      check(kpm.dim() == 1, kFwd, "key_padding_mask for unbatched input must be 1-d (S), got ", kpm.shape());
      kpm = kpm.unsqueeze(0);
    }
  }
  const int64_t sd = batched && options_.batch_first() ? 1 : 0, bd = 1 - sd;
  const int64_t L = query.size(sd), B = query.size(bd), S = key.size(sd);
  check(query.size(2) == E, kFwd, "query ", query_in.shape(), " must have embed_dim=", E, " features");
  check(key.size(2) == options_.kdim() && key.size(bd) == B, kFwd, "key ", key_in.shape(),
        " must have batch ", B, " and kdim=", options_.kdim(), " features (query ", query_in.shape(), ")");
  check(value.size(2) == options_.vdim() && value.size(bd) == B && value.size(sd) == S, kFwd, "value ",
        value_in.shape(), " must match key ", key_in.shape(), " in batch and length and have vdim=", options_.vdim(),
        " features");
  const DType dt = query.dtype();

  // ------------------------------------------------------------ projections
  Tensor q, k, v;  // (d0,d1,E)
  if (self_qkv && same_dim_) {
    // chunk, not three selects: one backward node lays dq, dk, dv side by side in one buffer
    // (three selects made three zero-filled full-size gradients and summed them: 6% of a ViT step)
    const TensorList qkv = chunk(linear(query, in_proj_weight, in_proj_bias), 3, 2);
    q = qkv[0];
    k = qkv[1];
    v = qkv[2];
  } else {
    q = linear(query, w_slice(0), b_slice(0));
    if (same_kv && same_dim_) {
      const Tensor w = slice(in_proj_weight, 0, E, 3 * E);
      const Tensor b = in_proj_bias.defined() ? slice(in_proj_bias, 0, E, 3 * E) : Tensor();
      const TensorList kv = chunk(linear(key, w, b), 2, 2);
      k = kv[0];
      v = kv[1];
    } else {
      k = linear(key, w_slice(1), b_slice(1));
      v = linear(value, w_slice(2), b_slice(2));
    }
  }
  // Appended keys: bias_k/bias_v, then a zero key/value.
  int64_t A = 0;
  const Shape one = sd == 0 ? Shape{1, B, E} : Shape{B, 1, E};
  if (bias_k.defined()) {
    k = cat({k, expand(bias_k, one)}, sd);
    v = cat({v, expand(bias_v, one)}, sd);
    ++A;
  }
  if (options_.add_zero_attn()) {
    k = cat({k, zeros(one, dt)}, sd);
    v = cat({v, zeros(one, dt)}, sd);
    ++A;
  }
  Tensor qh = split_heads(q, sd, N, D), kh = split_heads(k, sd, N, D);
  const Tensor vh = split_heads(v, sd, N, D);
  if (options_.rotary()) {  // positions 0..L-1 for queries, 0..S-1 for keys
    qh = apply_rotary(qh, 0, options_.rotary_base());
    kh = apply_rotary(kh, 0, options_.rotary_base());
  }

  // ------------------------------------------------------------ masks
  AttentionMask m = mask ? *mask : attn_mask_to_attention_mask(attn_mask, B, N, L, S, kFwd);
  if (mask) m.validate(B, N, L, S, kFwd);
  merge_key_padding(m, kpm, B, S, dt, kFwd);
  if (!m.empty()) m.validate(B, N, L, S, kFwd);
  m = append_allowed_keys(m, B, N, L, S, A, dt);

  // ------------------------------------------------------------ attention + output projection
  SDPAOptions so;
  so.dropout_p = options_.dropout();
  so.training = is_training();
  so.need_weights = need_weights;
  SDPAResult r = scaled_dot_product_attention(qh, kh, vh, m, so);
  Tensor o = sd == 0 ? r.output.permute({2, 0, 1, 3}).reshape({L, B, E}) : r.output.permute({0, 2, 1, 3}).reshape({B, L, E});
  o = out_proj->forward(o);
  MultiheadAttentionOutput out;
  out.output = batched ? o : o.squeeze(1);
  if (need_weights) {
    Tensor w = average ? mean(r.weights, {1}) : r.weights;
    out.weights = batched ? w : w.squeeze(0);
  }
  return out;
}

// ==================================================================== streaming
KVCache MultiheadAttention::new_cache(int64_t B, int64_t capacity, int64_t window) const {
  check(B >= 1 && capacity >= 1 && window >= 0, "MultiheadAttention.new_cache",
        "need B >= 1, capacity >= 1 and window >= 0, got B=", B, " capacity=", capacity, " window=", window);
  const int64_t cap = window > 0 ? window : capacity;
  KVCache c;
  c.k = zeros({cap, B, options_.num_heads(), head_dim()}, options_.dtype());
  c.v = zeros({cap, B, options_.num_heads(), head_dim()}, options_.dtype());
  c.window = window;
  return c;
}

Tensor MultiheadAttention::attend_one(const Tensor& x_t, const Tensor& k, const Tensor& v, const AttentionMask& mask) {
  const int64_t E = options_.embed_dim(), N = options_.num_heads(), B = x_t.size(0);
  const Tensor q = linear(x_t, w_slice(0), b_slice(0)).reshape({B, N, 1, head_dim()});
  const SDPAResult r = scaled_dot_product_attention(q, k, v, mask);
  return out_proj->forward(r.output.reshape({B, E}));
}

Tensor MultiheadAttention::step(const Tensor& x_t, KVCache& cache) {
  const char* op = "MultiheadAttention.step";
  const int64_t E = options_.embed_dim(), N = options_.num_heads(), D = head_dim();
  check(same_dim_ && !bias_k.defined() && !options_.add_zero_attn(), op,
        "needs plain self-attention (kdim == vdim == embed_dim, no add_bias_kv, no add_zero_attn)");
  check(cache.k.defined(), op, "the cache is empty: make it with new_cache(B)");
  const int64_t B = cache.k.size(1);
  check(x_t.defined() && x_t.dim() == 2 && x_t.size(0) == B && x_t.size(1) == E, op, "x_t ",
        shape_or_none(x_t), " must be (B=", B, ",E=", E, ")");
  check(x_t.dtype() == cache.k.dtype(), op, "x_t dtype ", dtype_name(x_t.dtype()), " must match the cache's ",
        dtype_name(cache.k.dtype()));
  NoGradGuard ng;
  const Tensor qkv = linear(x_t, in_proj_weight, in_proj_bias).reshape({B, 3, N, D});
  int64_t pos = cache.steps;
  if (cache.window > 0) {
    pos = cache.steps % cache.window;
  } else if (pos == cache.capacity()) {  // grow geometrically
    for (Tensor* buf : {&cache.k, &cache.v}) {
      Tensor bigger = empty({2 * pos, B, N, D}, buf->dtype());
      slice(bigger, 0, 0, pos).copy_(*buf);
      *buf = bigger;
    }
  }
  Tensor k_t = select(qkv, 1, 1);  // (B,N,D)
  if (options_.rotary())
    k_t = apply_rotary(k_t.unsqueeze(2), cache.steps, options_.rotary_base()).squeeze(2);
  select(cache.k, 0, pos).copy_(k_t);
  select(cache.v, 0, pos).copy_(select(qkv, 1, 2));
  ++cache.steps;
  const int64_t n = cache.size();
  const Tensor kh = slice(cache.k, 0, 0, n).permute({1, 2, 0, 3});  // (B,N,n,D) view
  const Tensor vh = slice(cache.v, 0, 0, n).permute({1, 2, 0, 3});
  Tensor q = select(qkv, 1, 0).unsqueeze(2);                        // (B,N,1,D)
  if (options_.rotary()) q = apply_rotary(q, cache.steps - 1, options_.rotary_base());
  const SDPAResult r = scaled_dot_product_attention(q, kh, vh);
  return out_proj->forward(r.output.reshape({B, E}));
}

StaticKV MultiheadAttention::project_static(const Tensor& memory, const Tensor& key_padding_mask,
                                            const Tensor& attn_mask) {
  const char* op = "MultiheadAttention.project_static";
  const int64_t E = options_.embed_dim(), N = options_.num_heads(), D = head_dim();
  check(memory.defined() && memory.dim() == 3 && memory.size(2) == options_.kdim(), op, "memory ",
        shape_or_none(memory), " must be ", options_.batch_first() ? "(B,S," : "(S,B,",
        "kdim=", options_.kdim(), ")");
  check(options_.kdim() == options_.vdim(), op, "needs kdim == vdim (memory is both key and value)");
  const int64_t sd = options_.batch_first() ? 1 : 0;
  const int64_t B = memory.size(1 - sd), S = memory.size(sd);
  NoGradGuard ng;
  Tensor k = linear(memory, w_slice(1), b_slice(1)), v = linear(memory, w_slice(2), b_slice(2));
  int64_t A = 0;
  const Shape one = sd == 0 ? Shape{1, B, E} : Shape{B, 1, E};
  if (bias_k.defined()) {
    k = cat({k, expand(bias_k, one)}, sd);
    v = cat({v, expand(bias_v, one)}, sd);
    ++A;
  }
  if (options_.add_zero_attn()) {
    k = cat({k, zeros(one, memory.dtype())}, sd);
    v = cat({v, zeros(one, memory.dtype())}, sd);
    ++A;
  }
  StaticKV kv;
  kv.k = split_heads(k, sd, N, D).contiguous();
  kv.v = split_heads(v, sd, N, D).contiguous();
  AttentionMask m = attn_mask_to_attention_mask(attn_mask, B, N, 1, S, op);
  merge_key_padding(m, key_padding_mask, B, S, memory.dtype(), op);
  if (!m.empty()) m.validate(B, N, 1, S, op);
  kv.mask = append_allowed_keys(m, B, N, 1, S, A, memory.dtype());
  return kv;
}

Tensor MultiheadAttention::step_static(const Tensor& x_t, const StaticKV& kv) {
  const char* op = "MultiheadAttention.step_static";
  const int64_t E = options_.embed_dim();
  check(kv.k.defined(), op, "the StaticKV is empty: make it with project_static(memory)");
  const int64_t B = kv.k.size(0);
  check(x_t.defined() && x_t.dim() == 2 && x_t.size(0) == B && x_t.size(1) == E, op, "x_t ",
        shape_or_none(x_t), " must be (B=", B, ",E=", E, ")");
  NoGradGuard ng;
  return attend_one(x_t, kv.k, kv.v, kv.mask);
}

}  // namespace seqnn::nn
