// nn/linear_attention.cpp: linear attention, "Transformers are RNNs" (seqnn/nn/linear_attention.h).
//   phi(x) = elu(x) + 1
//   non-causal:  O = phi(Q) S / (phi(Q) Z + eps),  S = phi(K)^T V,  Z = sum_j phi(k_j)
//   masked:      O = (M .* phi(Q) phi(K)^T) V / (rowsum(M .* phi(Q) phi(K)^T) + eps)   M = allowed
//   step:        S += phi(k_t) v_t^T,  Z += phi(k_t),  o_t = phi(q_t)^T S / (phi(q_t)^T Z + eps)
#include "seqnn/nn/linear_attention.h"

#include "seqnn/ops.h"

namespace seqnn::nn {

namespace {

Tensor phi(const Tensor& x) { return elu(x) + 1.0; }

// (B,L,E) -> (B,N,L,d)
Tensor split_heads(const Tensor& x, int64_t N) {
  const int64_t B = x.size(0), L = x.size(1), E = x.size(2);
  return permute(reshape(x, {B, L, N, E / N}), {0, 2, 1, 3});
}

// (B,N,L,d) -> (B,L,E)
Tensor merge_heads(const Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), L = x.size(2), d = x.size(3);
  return reshape(permute(x, {0, 2, 1, 3}), {B, L, N * d});
}

}  // namespace

LinearAttention::LinearAttention(const LinearAttentionOptions& o, Generator* gen)
    : Module("LinearAttention"), options_(o) {
  check(o.embed_dim() > 0 && o.num_heads() > 0, "LinearAttention", "embed_dim and num_heads must be > 0, got ",
        o.embed_dim(), " and ", o.num_heads());
  check(o.embed_dim() % o.num_heads() == 0, "LinearAttention", "embed_dim (", o.embed_dim(),
        ") must be divisible by num_heads (", o.num_heads(), ")");
  check(o.eps() >= 0, "LinearAttention", "eps must be >= 0, got ", o.eps());
  const LinearOptions lo = LinearOptions(o.embed_dim(), o.embed_dim()).bias(o.bias()).dtype(o.dtype());
  q_proj = register_module("q_proj", std::make_shared<Linear>(lo, gen));
  k_proj = register_module("k_proj", std::make_shared<Linear>(lo, gen));
  v_proj = register_module("v_proj", std::make_shared<Linear>(lo, gen));
  out_proj = register_module("out_proj", std::make_shared<Linear>(lo, gen));
}

void LinearAttention::check_qkv(const Tensor& q, const Tensor& k, const Tensor& v, const char* op) const {
  const int64_t E = options_.embed_dim();
  check(q.defined() && k.defined() && v.defined() && q.dim() == 3 && k.dim() == 3 && v.dim() == 3 &&
            q.size(2) == E && k.size(2) == E && v.size(2) == E && q.size(0) == k.size(0) && k.size(0) == v.size(0) &&
            k.size(1) == v.size(1),
        op, "expected query (B,Lq,E=", E, "), key and value (B,Lk,E=", E, "), got query ", shape_or_none(q), ", key ",
        shape_or_none(k), ", value ", shape_or_none(v));
  check(q.dtype() == k.dtype() && k.dtype() == v.dtype() && q.dtype() == q_proj->weight.dtype(), op,
        "query, key, value and the weights must share a dtype");
}

// ==================================================================== parallel forms
Tensor LinearAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value, bool causal) {
  const char* op = "LinearAttention.forward";
  check_qkv(query, key, value, op);
  if (causal) {
    check(query.size(1) == key.size(1), op, "causal needs Lq == Lk, got ", query.size(1), " and ", key.size(1));
    return forward(query, key, value, AttentionMask().causal());
  }
  const int64_t N = options_.num_heads();
  const Tensor Q = phi(split_heads(q_proj->forward(query), N));  // (B,N,Lq,d)
  const Tensor K = phi(split_heads(k_proj->forward(key), N));    // (B,N,Lk,d)
  const Tensor V = split_heads(v_proj->forward(value), N);       // (B,N,Lk,d)
  const Tensor S = matmul(transpose(K, 2, 3), V);                // sum_j phi(k_j) v_j^T (B,N,d,d)
  const Tensor Z = sum(K, {2}, true);                            // sum_j phi(k_j)       (B,N,1,d)
  const Tensor num = matmul(Q, S);                               // (B,N,Lq,d)
  const Tensor den = sum(Q * Z, {3}, true) + options_.eps();     // (B,N,Lq,1)
  return out_proj->forward(merge_heads(num / den));
}

Tensor LinearAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                const AttentionMask& mask) {
  const char* op = "LinearAttention.forward";
  check_qkv(query, key, value, op);
  if (mask.empty()) return forward(query, key, value, false);
  if (mask.dense().defined() && mask.dense().dtype() != DType::Bool)
    fail(op, "only structural and bool dense masks apply to linear attention (there is no softmax to add a float ",
         "mask to), got a ", dtype_name(mask.dense().dtype()), " dense mask");
  const int64_t N = options_.num_heads(), B = query.size(0), Lq = query.size(1), Lk = key.size(1);
  mask.validate(B, N, Lq, Lk, op);
  const Tensor Q = phi(split_heads(q_proj->forward(query), N));
  const Tensor K = phi(split_heads(k_proj->forward(key), N));
  const Tensor V = split_heads(v_proj->forward(value), N);
  const Tensor blocked = logical_not(mask.allowed(B, N, Lq, Lk));
  const Tensor A = masked_fill(matmul(Q, transpose(K, 2, 3)), blocked, 0.0);  // phi(q_i).phi(k_j), allowed only
  const Tensor O = matmul(A, V) / (sum(A, {3}, true) + options_.eps());
  return out_proj->forward(merge_heads(O));
}

// ==================================================================== recurrent form
Tensor LinearAttention::step(const Tensor& x_t, LinearAttentionState& state) { return step(x_t, x_t, x_t, state); }

Tensor LinearAttention::step(const Tensor& q_t, const Tensor& k_t, const Tensor& v_t, LinearAttentionState& state) {
  const char* op = "LinearAttention.step";
  const int64_t E = options_.embed_dim(), N = options_.num_heads(), d = E / N;
  check(q_t.defined() && k_t.defined() && v_t.defined() && q_t.dim() == 2 && q_t.size(1) == E &&
            k_t.shape() == q_t.shape() && v_t.shape() == q_t.shape(),
        op, "q_t, k_t and v_t must be (B,E=", E, "), got ", shape_or_none(q_t), ", ", shape_or_none(k_t), ", ",
        shape_or_none(v_t));
  const int64_t B = q_t.size(0);
  if (!state.S.defined()) {
    state.S = zeros({B, N, d, d}, q_t.dtype());
    state.Z = zeros({B, N, d}, q_t.dtype());
    state.steps = 0;
  }
  check(state.S.shape() == Shape({B, N, d, d}) && state.Z.defined() && state.Z.shape() == Shape({B, N, d}), op,
        "state S must be (B,N,d,d)=", Shape({B, N, d, d}), " and Z (B,N,d)=", Shape({B, N, d}), ", got S ",
        state.S.shape(), " and Z ", shape_or_none(state.Z));
  const Tensor q = phi(reshape(q_proj->forward(q_t), {B, N, d}));
  const Tensor k = phi(reshape(k_proj->forward(k_t), {B, N, d}));
  const Tensor v = reshape(v_proj->forward(v_t), {B, N, d});
  state.S = state.S + k.unsqueeze(3) * v.unsqueeze(2);  // S += phi(k_t) v_t^T
  state.Z = state.Z + k;                                 // Z += phi(k_t)
  state.steps += 1;
  const Tensor num = squeeze(matmul(q.unsqueeze(2), state.S), 2);   // phi(q)^T S   (B,N,d)
  const Tensor den = sum(q * state.Z, {2}, true) + options_.eps();  // phi(q)^T Z   (B,N,1)
  return out_proj->forward(reshape(num / den, {B, E}));
}

}  // namespace seqnn::nn
