// nn functional: layer_norm, dropout, embedding.
//
//   layer_norm: y = (x - mean) / sqrt(var + eps) * w + b over the trailing normalized_shape
//               dims (biased variance); a fused kernel saves mean and rstd for the backward.
//   dropout:    y = x * keep / (1 - p), keep ~ Bernoulli(1 - p) drawn from the Generator.
//   embedding:  y[..., :] = weight[indices[...], :]; backward index-adds g into a zero (V,E).
#include "kernels/nn.h"

#include "ops/dispatch.h"
#include "seqnn/ops.h"

namespace seqnn {

// ==================================================================== layer_norm

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const char* op = "layer_norm";
  check_same_dtype(op, {&x, &weight, &bias});
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  check(k >= 1, op, "normalized_shape must have at least one dim, got ", normalized_shape);
  check(x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape, op, "input ", x.shape(),
        " must end with normalized_shape ", normalized_shape);
  check(!weight.defined() || weight.shape() == normalized_shape, op, "weight ",
        shape_or_none(weight), " must be normalized_shape ", normalized_shape);
  check(!bias.defined() || bias.shape() == normalized_shape, op, "bias ", shape_or_none(bias),
        " must be normalized_shape ", normalized_shape);
  check(eps >= 0, op, "eps must be >= 0, got ", eps);
  const int64_t N = numel_of(normalized_shape), M = N ? x.numel() / N : 0;
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = empty(xc.shape(), x.dtype()), mean = empty({M}, x.dtype()), rstd = empty({M}, x.dtype());
  dispatch_float(x.dtype(), op, [&]<class T>() {
    kernels::layer_norm_forward<T>(xc.data_ptr<T>(), wc.defined() ? wc.data_ptr<T>() : nullptr,
                                   bc.defined() ? bc.data_ptr<T>() : nullptr, y.data_ptr<T>(), mean.data_ptr<T>(),
                                   rstd.data_ptr<T>(), M, N, eps);
  });
  const bool need_x = xc.requires_grad(), need_w = wc.defined() && wc.requires_grad(),
             need_b = bc.defined() && bc.requires_grad();
  // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w;
  // dw = sum_rows g * xhat;  db = sum_rows g.
  autograd::record(op, {xc, wc, bc}, {y}, [=](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    Tensor dx = need_x ? empty(xc.shape(), xc.dtype()) : Tensor();
    Tensor dw = need_w ? empty(wc.shape(), wc.dtype()) : Tensor();
    Tensor db = need_b ? empty(bc.shape(), bc.dtype()) : Tensor();
    dispatch_float(gc.dtype(), op, [&]<class T>() {
      kernels::layer_norm_backward<T>(gc.data_ptr<T>(), xc.data_ptr<T>(), mean.data_ptr<T>(), rstd.data_ptr<T>(),
                                      wc.defined() ? wc.data_ptr<T>() : nullptr, need_x ? dx.data_ptr<T>() : nullptr,
                                      need_w ? dw.data_ptr<T>() : nullptr, need_b ? db.data_ptr<T>() : nullptr, M, N);
    });
    return TensorList{dx, dw, db};
  });
  return y;
}

// ==================================================================== dropout

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  const char* op = "dropout";
  check(p >= 0 && p <= 1, op, "probability p must be in [0, 1], got ", p);
  check(is_floating(x.dtype()), op, "expected a floating tensor (float32/float64), got ", dtype_name(x.dtype()));
  if (!training || p == 0) return x;
  const Tensor xc = x.contiguous();
  if (p == 1) {  // everything dropped: zeros, and zero gradient
    Tensor y = zeros(xc.shape(), xc.dtype());
    autograd::record(op, {xc}, {y},
                     [shape = xc.shape(), dt = xc.dtype()](const TensorList&) { return TensorList{zeros(shape, dt)}; });
    return y;
  }
  const Tensor keep = bernoulli(xc.shape(), 1.0 - p, gen);
  const double scale = 1.0 / (1.0 - p);
  Tensor y = empty(xc.shape(), xc.dtype());
  dispatch_float(x.dtype(), op, [&]<class T>() {
    kernels::dropout_apply<T>(xc.data_ptr<T>(), keep.data_ptr<bool>(), static_cast<T>(scale), y.data_ptr<T>(),
                              xc.numel());
  });
  // dx = g * keep / (1 - p)
  autograd::record(op, {xc}, {y}, [keep, scale, op](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    Tensor dx = empty(gc.shape(), gc.dtype());
    dispatch_float(gc.dtype(), op, [&]<class T>() {
      kernels::dropout_apply<T>(gc.data_ptr<T>(), keep.data_ptr<bool>(), static_cast<T>(scale), dx.data_ptr<T>(),
                                gc.numel());
    });
    return TensorList{dx};
  });
  return y;
}

// ==================================================================== embedding

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
  const char* op = "embedding";
  check(indices.dtype() == DType::I64, op, "indices must be int64, got ", dtype_name(indices.dtype()));
  check(weight.dim() == 2, op, "weight ", weight.shape(), " must be 2-d (V,E)");
  check(is_floating(weight.dtype()), op, "weight must be floating (float32/float64), got ", dtype_name(weight.dtype()));
  const int64_t V = weight.size(0), E = weight.size(1);
  int64_t pad = -1;
  if (padding_idx) {
    check(*padding_idx >= -V && *padding_idx < V, op, "padding_idx ", *padding_idx, " must be within [-", V, ", ", V,
          ") for weight ", weight.shape());
    pad = *padding_idx < 0 ? *padding_idx + V : *padding_idx;
  }
  const Tensor ic = indices.contiguous(), wc = weight.contiguous();
  const int64_t K = ic.numel();
  const int64_t* idx = ic.data_ptr<int64_t>();
  for (int64_t k = 0; k < K; ++k)
    check(idx[k] >= 0 && idx[k] < V, op, "index ", idx[k], " out of range for weight with V=", V, " rows");
  Shape out_shape = ic.shape();
  out_shape.push_back(E);
  Tensor y = empty(out_shape, wc.dtype());
  dispatch_float(wc.dtype(), op,
                 [&]<class T>() { kernels::embedding_forward<T>(idx, wc.data_ptr<T>(), y.data_ptr<T>(), K, E); });
  // dW[v,:] = sum over positions k with indices[k] = v (v != padding_idx) of g[k,:]
  autograd::record(op, {wc}, {y}, [ic, V, E, K, pad, op](const TensorList& g) {
    const Tensor gc = g[0].contiguous();
    Tensor dw = empty({V, E}, gc.dtype());
    dispatch_float(gc.dtype(), op, [&]<class T>() {
      kernels::embedding_backward<T>(ic.data_ptr<int64_t>(), gc.data_ptr<T>(), dw.data_ptr<T>(), K, V, E, pad);
    });
    return TensorList{dw};
  });
  return y;
}

}  // namespace seqnn
