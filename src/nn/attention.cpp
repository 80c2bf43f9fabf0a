// nn/attention.cpp: scoring rules, masked normalisation, Attention, Attn (seed 002) and
// SelfAttention (seed 004). The equations are in seqnn/nn/attention.h:
//   Dot        S = Q K^T                    ScaledDot  S = Q K^T / sqrt(d)
//   General    S = Q W K^T                  Additive   S_ij = v^T tanh(W_q q_i + W_k k_j + b)
//   Concat     S_ij = w_q.q_i + w_k.k_j + c
//   Softmax    alpha'_ij = exp(S_ij + A_ij) / sum_{allowed} exp(...), 0 where not allowed
//   ReLU       alpha'_ij = max(0, S_ij + A_ij), 0 where not allowed
//   out = alpha' V
#include "seqnn/nn/attention.h"

#include <cmath>
#include <limits>

#include "kernels/attention_score.h"
#include "ops/dispatch.h"
#include "seqnn/autograd.h"
#include "seqnn/nn/init.h"
#include "seqnn/nn/positional.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

const char* score_kind_name(ScoreKind k) {
  switch (k) {
    case ScoreKind::Dot: return "dot";
    case ScoreKind::ScaledDot: return "scaled_dot";
    case ScoreKind::General: return "general";
    case ScoreKind::Additive: return "additive";
    case ScoreKind::ConcatLinear: return "concat";
  }
  return "?";
}

const char* normalization_name(Normalization n) { return n == Normalization::Softmax ? "softmax" : "relu"; }

namespace {

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), a Linear's bias bound (0 when fan_in = 0).
void uniform_fan_in(Tensor& t, int64_t fan_in, Generator* gen) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  init::uniform_(t, -bound, bound, gen);
}

void check_dims(const ScoreOptions& o, const char* mod) {
  check(o.query_dim() > 0 && o.key_dim() > 0, mod, "query_dim and key_dim must be > 0, got ", o.query_dim(), " and ",
        o.key_dim());
  check(is_floating(o.dtype()), mod, "dtype must be floating, got ", dtype_name(o.dtype()));
}

}  // namespace

// ==================================================================== the additive score op
Tensor additive_score(const Tensor& qp_in, const Tensor& kp_in, const Tensor& v_in) {
  const char* op = "additive_score";
  check(qp_in.defined() && kp_in.defined() && v_in.defined(), op, "qp, kp and v must be defined");
  check(qp_in.dim() == 3 && kp_in.dim() == 3 && v_in.dim() == 1 && qp_in.size(0) == kp_in.size(0) &&
            qp_in.size(2) == kp_in.size(2) && v_in.size(0) == qp_in.size(2),
        op, "expected qp (B,Lq,A), kp (B,Lk,A), v (A), got qp ", qp_in.shape(), ", kp ", kp_in.shape(), ", v ",
        v_in.shape());
  check_same_dtype(op, {&qp_in, &kp_in, &v_in});
  const Tensor qp = qp_in.contiguous(), kp = kp_in.contiguous(), v = v_in.contiguous();
  const int64_t B = qp.size(0), Lq = qp.size(1), Lk = kp.size(1), A = qp.size(2);
  Tensor s = empty({B, Lq, Lk}, qp.dtype());
  dispatch_float(qp.dtype(), op, [&]<class T>() {
    kernels::additive_score_forward<T>(qp.data_ptr<T>(), kp.data_ptr<T>(), v.data_ptr<T>(), s.data_ptr<T>(), B, Lq,
                                       Lk, A);
  });
  autograd::record(op, {qp_in, kp_in, v_in}, {s}, [qp, kp, v, B, Lq, Lk, A](const TensorList& g) {
    // dqp = sum_j dS v (1-t^2), dkp = sum_i dS v (1-t^2), dv = sum dS t   (t = tanh(qp_i + kp_j))
    const Tensor ds = g[0].contiguous();
    Tensor dq = empty(qp.shape(), qp.dtype()), dk = empty(kp.shape(), kp.dtype()), dv = empty(v.shape(), v.dtype());
    dispatch_float(qp.dtype(), "additive_score", [&]<class T>() {
      kernels::additive_score_backward<T>(qp.data_ptr<T>(), kp.data_ptr<T>(), v.data_ptr<T>(), ds.data_ptr<T>(),
                                          dq.data_ptr<T>(), dk.data_ptr<T>(), dv.data_ptr<T>(), B, Lq, Lk, A);
    });
    return TensorList{dq, dk, dv};
  });
  return s;
}

// ==================================================================== scoring rules
void Score::check_inputs(const Tensor& q, const Tensor& k) const {
  const std::string op = name() + ".score";
  check(q.defined() && k.defined() && q.dim() == 3 && k.dim() == 3 && q.size(0) == k.size(0) &&
            q.size(2) == options_.query_dim() && k.size(2) == options_.key_dim(),
        op, "expected q (B,Lq,query_dim=", options_.query_dim(), ") and k (B,Lk,key_dim=", options_.key_dim(),
        "), got q ", shape_or_none(q), " and k ", shape_or_none(k));
  check(q.is_floating_point() && q.dtype() == k.dtype(), op, "q and k must share a floating dtype, got ",
        dtype_name(q.dtype()), " and ", dtype_name(k.dtype()));
}

DotScore::DotScore(const ScoreOptions& o) : Score("DotScore", o) {
  check_dims(o, "DotScore");
  check(o.query_dim() == o.key_dim(), "DotScore", "query_dim (", o.query_dim(), ") must equal key_dim (", o.key_dim(),
        ")");
}

Tensor DotScore::score(const Tensor& q, const Tensor& k) {
  check_inputs(q, k);
  return bmm(q, transpose(k, 1, 2));  // S = Q K^T
}

ScaledDotScore::ScaledDotScore(const ScoreOptions& o) : Score("ScaledDotScore", o) {
  check_dims(o, "ScaledDotScore");
  check(o.query_dim() == o.key_dim(), "ScaledDotScore", "query_dim (", o.query_dim(), ") must equal key_dim (",
        o.key_dim(), ")");
}

double ScaledDotScore::scale() const {
  return options_.scale() ? *options_.scale() : 1.0 / std::sqrt(static_cast<double>(options_.key_dim()));
}

Tensor ScaledDotScore::score(const Tensor& q, const Tensor& k) {
  check_inputs(q, k);
  return bmm(q, transpose(k, 1, 2)) * scale();  // S = Q K^T / sqrt(d)
}

GeneralScore::GeneralScore(const ScoreOptions& o, Generator* gen) : Score("GeneralScore", o) {
  check_dims(o, "GeneralScore");
  weight = register_parameter("weight", empty({o.query_dim(), o.key_dim()}, o.dtype()));
  uniform_fan_in(weight, o.key_dim(), gen);
}

Tensor GeneralScore::score(const Tensor& q, const Tensor& k) {
  check_inputs(q, k);
  check(q.dtype() == weight.dtype(), "GeneralScore.score", "inputs are ", dtype_name(q.dtype()), " but weight is ",
        dtype_name(weight.dtype()));
  return bmm(matmul(q, weight), transpose(k, 1, 2));  // S = (Q W) K^T
}

AdditiveScore::AdditiveScore(const ScoreOptions& o, Generator* gen) : Score("AdditiveScore", o) {
  check_dims(o, "AdditiveScore");
  const int64_t A = o.hidden_size();
  check(A > 0, "AdditiveScore", "hidden_size must be > 0, got ", A);
  W_q = register_parameter("W_q", empty({A, o.query_dim()}, o.dtype()));
  W_k = register_parameter("W_k", empty({A, o.key_dim()}, o.dtype()));
  if (o.bias()) bias = register_parameter("bias", empty({A}, o.dtype()));
  v = register_parameter("v", empty({A}, o.dtype()));
  uniform_fan_in(W_q, o.query_dim(), gen);
  uniform_fan_in(W_k, o.key_dim(), gen);
  if (bias.defined()) uniform_fan_in(bias, o.key_dim(), gen);
  uniform_fan_in(v, A, gen);
}

Tensor AdditiveScore::score(const Tensor& q, const Tensor& k) {
  check_inputs(q, k);
  check(q.dtype() == v.dtype(), "AdditiveScore.score", "inputs are ", dtype_name(q.dtype()), " but parameters are ",
        dtype_name(v.dtype()));
  // S_ij = v . tanh(qp_i + kp_j), qp = W_q q + b, kp = W_k k: the pairwise op, no (B,Lq,Lk,A).
  return additive_score(linear(q, W_q, bias), linear(k, W_k), v);
}

ConcatScore::ConcatScore(const ScoreOptions& o, Generator* gen) : Score("ConcatScore", o) {
  check_dims(o, "ConcatScore");
  const int64_t F = o.query_dim() + o.key_dim();
  weight = register_parameter("weight", empty({1, F}, o.dtype()));
  if (o.bias()) bias = register_parameter("bias", empty({1}, o.dtype()));
  uniform_fan_in(weight, F, gen);  // kaiming_uniform(a=sqrt(5)) of a Linear: the same bound
  if (bias.defined()) uniform_fan_in(bias, F, gen);
}

Tensor ConcatScore::score(const Tensor& q, const Tensor& k) {
  check_inputs(q, k);
  check(q.dtype() == weight.dtype(), "ConcatScore.score", "inputs are ", dtype_name(q.dtype()), " but weight is ",
        dtype_name(weight.dtype()));
  const int64_t Dq = options_.query_dim(), Dk = options_.key_dim();
  // w^T [q_i; k_j] + c = (w_q . q_i + c) + w_k . k_j: (B,Lq,1) + (B,1,Lk), no concatenated copy.
  const Tensor sq = linear(q, slice(weight, 1, 0, Dq), bias);
  const Tensor sk = linear(k, slice(weight, 1, Dq, Dq + Dk));
  return sq + transpose(sk, 1, 2);
}

std::shared_ptr<Score> make_score(const ScoreOptions& o, Generator* gen) {
  switch (o.kind()) {
    case ScoreKind::Dot: return std::make_shared<DotScore>(o);
    case ScoreKind::ScaledDot: return std::make_shared<ScaledDotScore>(o);
    case ScoreKind::General: return std::make_shared<GeneralScore>(o, gen);
    case ScoreKind::Additive: return std::make_shared<AdditiveScore>(o, gen);
    case ScoreKind::ConcatLinear: return std::make_shared<ConcatScore>(o, gen);
  }
  fail("make_score", "unknown score kind");
}

// ==================================================================== normalisation
Tensor normalize_scores(const Tensor& s, const AttentionMask& mask, Normalization norm, const char* op) {
  check(s.defined() && s.dim() == 3 && s.is_floating_point(), op, "scores must be floating (B,Lq,Lk), got ",
        shape_or_none(s));
  const int64_t B = s.size(0), Lq = s.size(1), Lk = s.size(2);
  if (mask.empty()) return norm == Normalization::Softmax ? softmax(s, -1) : relu(s);
  mask.validate(B, 1, Lq, Lk, op);
  const Tensor blocked = logical_not(mask.allowed(B, 1, Lq, Lk).reshape({B, Lq, Lk}));
  Tensor z = s;
  if (mask.dense().defined() && mask.dense().is_floating_point())
    z = z + mask.additive(B, 1, Lq, Lk, s.dtype()).reshape({B, Lq, Lk});  // -inf where blocked
  if (norm == Normalization::ReLU) return masked_fill(relu(masked_fill(z, blocked, 0.0)), blocked, 0.0);
  // Blocked slots get the lowest finite value (not -inf): a row with nothing allowed stays finite
  // (uniform), then every blocked weight is set to 0, which also stops their gradient.
  const double lowest = s.dtype() == DType::F32 ? -static_cast<double>(std::numeric_limits<float>::max())
                                                : -std::numeric_limits<double>::max();
  return masked_fill(softmax(masked_fill(z, blocked, lowest), -1), blocked, 0.0);
}

// ==================================================================== Attention
Attention::Attention(const AttentionOptions& options, Generator* gen) : Module("Attention"), options_(options) {
  score = register_module("score", make_score(options.score(), gen));
  if (options.rotary()) {
    const ScoreKind k = options.score().kind();
    check(k == ScoreKind::Dot || k == ScoreKind::ScaledDot || k == ScoreKind::General, "Attention",
          "rotary needs a dot-type score (dot, scaled_dot, general), got ", score_kind_name(k));
    check(options.score().query_dim() % 2 == 0 && options.score().key_dim() % 2 == 0, "Attention",
          "rotary needs even query_dim and key_dim, got ", options.score().query_dim(), " and ",
          options.score().key_dim());
  }
}

AttentionOutput Attention::forward(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionMask& mask,
                                   int64_t q_offset, int64_t k_offset) {
  const char* op = "Attention.forward";
  check(v.defined() && v.dim() == 3 && k.defined() && k.dim() == 3 && v.size(0) == k.size(0) &&
            v.size(1) == k.size(1),
        op, "v must be (B,Lk,Dv) matching k (B,Lk,Dk)=", shape_or_none(k), ", got ", shape_or_none(v));
  check(v.dtype() == k.dtype(), op, "v must have k's dtype ", dtype_name(k.dtype()), ", got ", dtype_name(v.dtype()));
  Tensor qq = q, kk = k;
  if (options_.rotary()) {
    check(q_offset >= 0 && k_offset >= 0, op, "offsets must be >= 0, got ", q_offset, " and ", k_offset);
    qq = apply_rotary(q, q_offset, options_.rotary_base());
    kk = apply_rotary(k, k_offset, options_.rotary_base());
  }
  const Tensor s = score->score(qq, kk);
  const Tensor w = normalize_scores(s, mask, options_.normalization(), op);
  return {bmm(w, v), w};  // out_i = sum_j alpha'_ij v_j
}

// ==================================================================== Attn (seed 002)
Attn::Attn(const AttnOptions& o, Generator* gen) : Module("Attn"), options_(o) {
  check(o.query_size() > 0 && o.key_size() > 0 && o.value_size() > 0 && o.output_size() > 0, "Attn",
        "sizes must be > 0, got query_size=", o.query_size(), " key_size=", o.key_size(),
        " value_size=", o.value_size(), " output_size=", o.output_size());
  ScoreOptions so(o.score(), o.query_size(), o.key_size());
  so.dtype(o.dtype());
  if (o.hidden_size() > 0) so.hidden_size(o.hidden_size());
  score = register_module("score", make_score(so, gen));
  attn_combine = register_module(
      "attn_combine",
      std::make_shared<Linear>(LinearOptions(o.query_size() + o.value_size(), o.output_size()).dtype(o.dtype()), gen));
}

AttentionOutput Attn::forward(const Tensor& Q, const Tensor& K, const Tensor& V, const AttentionMask& mask) {
  const char* op = "Attn.forward";
  const auto& o = options_;
  check(Q.defined() && K.defined() && V.defined() && Q.dim() == 3 && K.dim() == 3 && V.dim() == 3 &&
            Q.size(0) == K.size(0) && V.size(0) == K.size(0) && V.size(1) == K.size(1) &&
            Q.size(2) == o.query_size() && K.size(2) == o.key_size() && V.size(2) == o.value_size(),
        op, "expected Q (B,Lq,query_size=", o.query_size(), "), K (B,Lk,key_size=", o.key_size(),
        "), V (B,Lk,value_size=", o.value_size(), "), got Q ", shape_or_none(Q), ", K ", shape_or_none(K),
        ", V ", shape_or_none(V));
  const Tensor w = normalize_scores(score->score(Q, K), mask, o.normalization(), op);  // softmax(score(Q, K))
  const Tensor applied = bmm(w, V);                                                   // bmm with V
  Tensor out = attn_combine->forward(cat({Q, applied}, 2));                           // Linear([Q; applied])
  if (o.tanh()) out = tanh(out);
  return {out, w};
}

// ==================================================================== SelfAttention (seed 004)
SelfAttention::SelfAttention(const SelfAttentionOptions& o, Generator* gen) : Module("SelfAttention"), options_(o) {
  const int64_t E = o.embed_dim(), Dk = o.key_dim(), Dv = o.value_dim();
  check(E > 0 && Dk > 0 && Dv > 0, "SelfAttention", "embed_dim, key_dim and value_dim must be > 0, got ", E, ", ", Dk,
        ", ", Dv);
  check(is_floating(o.dtype()), "SelfAttention", "dtype must be floating, got ", dtype_name(o.dtype()));
  check(!o.rotary() || Dk % 2 == 0, "SelfAttention", "rotary needs an even key_dim, got ", Dk);
  W_q = register_parameter("W_q", empty({Dk, E}, o.dtype()));
  W_k = register_parameter("W_k", empty({Dk, E}, o.dtype()));
  W_v = register_parameter("W_v", empty({Dv, E}, o.dtype()));
  for (Tensor* w : {&W_q, &W_k, &W_v}) uniform_fan_in(*w, E, gen);
  if (o.bias()) {
    b_q = register_parameter("b_q", empty({Dk}, o.dtype()));
    b_k = register_parameter("b_k", empty({Dk}, o.dtype()));
    b_v = register_parameter("b_v", empty({Dv}, o.dtype()));
    for (Tensor* b : {&b_q, &b_k, &b_v}) uniform_fan_in(*b, E, gen);
  }
}

AttentionOutput SelfAttention::forward(const Tensor& x, const AttentionMask& mask, int64_t offset) {
  const char* op = "SelfAttention.forward";
  const auto& o = options_;
  check(x.defined() && x.dim() == 3 && x.size(2) == o.embed_dim(), op, "x must be (B,L,embed_dim=", o.embed_dim(),
        "), got ", shape_or_none(x));
  check(x.dtype() == W_q.dtype(), op, "x is ", dtype_name(x.dtype()), " but the weights are ",
        dtype_name(W_q.dtype()));
  check(offset >= 0, op, "offset must be >= 0, got ", offset);
  // Column layout: I (B,E,L); Q = W^q I, K = W^k I, V = W^v I.
  const Tensor I = transpose(x, 1, 2);
  Tensor Q = matmul(W_q, I), K = matmul(W_k, I), V = matmul(W_v, I);
  if (b_q.defined()) {
    Q = Q + b_q.unsqueeze(1);
    K = K + b_k.unsqueeze(1);
    V = V + b_v.unsqueeze(1);
  }
  if (o.rotary()) {  // rotate each column q^i, k^i by its position
    Q = transpose(apply_rotary(transpose(Q, 1, 2), offset, o.rotary_base()), 1, 2);
    K = transpose(apply_rotary(transpose(K, 1, 2), offset, o.rotary_base()), 1, 2);
  }
  // A = K^T Q (B, keys, queries); A' normalises each column, i.e. each row of A^T.
  Tensor A = matmul(transpose(K, 1, 2), Q);
  if (o.scaled()) A = A * (1.0 / std::sqrt(static_cast<double>(o.key_dim())));
  const Tensor At_norm = normalize_scores(transpose(A, 1, 2), mask, o.normalization(), op);  // A'^T (B,Lq,Lk)
  const Tensor O = matmul(V, transpose(At_norm, 1, 2));                                       // O = V A' (B,Dv,L)
  return {transpose(O, 1, 2).contiguous(), At_norm};
}

}  // namespace seqnn::nn
