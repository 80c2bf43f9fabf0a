// kernels/nn.h (internal): layer norm, dropout and embedding kernels.
//
// layer_norm over the last N elements of each of M rows:
//   mean = sum_j x_j / N,  var = sum_j (x_j - mean)^2 / N (biased),  rstd = 1 / sqrt(var + eps)
//   xhat_j = (x_j - mean) * rstd,   y_j = xhat_j * w_j + b_j
// backward (dxhat = dy * w):
//   dx_j = rstd * (dxhat_j - mean_k dxhat_k - xhat_j * mean_k (dxhat_k xhat_k))
//   dw_j = sum_rows dy_j xhat_j,   db_j = sum_rows dy_j
// dropout:   y = x * keep * scale (scale = 1/(1-p)); backward dx = g * keep * scale
// embedding: y[k,:] = w[idx[k],:]; backward dw[v,:] = sum_{k: idx[k]=v, v != pad} g[k,:]
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// x: (M,N)  w, b: (N) or null  y: (M,N)  mean, rstd: (M)
template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M, int64_t N,
                        double eps);

// dy, x: (M,N)  mean, rstd: (M)  w: (N) or null  dx: (M,N) or null  dw, db: (N) or null
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db,
                         int64_t M, int64_t N);

// x, y: (n)  keep: (n)
template <class T>
void dropout_apply(const T* x, const bool* keep, T scale, T* y, int64_t n);

// idx: (K) values in [0,V)  w: (V,E)  y: (K,E)
template <class T>
void embedding_forward(const int64_t* idx, const T* w, T* y, int64_t K, int64_t E);

// idx: (K)  g: (K,E)  dw: (V,E) (overwritten); rows equal to pad (pad < 0: none) get nothing
template <class T>
void embedding_backward(const int64_t* idx, const T* g, T* dw, int64_t K, int64_t V, int64_t E, int64_t pad);

namespace ref {
template <class T>
void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t M, int64_t N,
                        double eps);
template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db,
                         int64_t M, int64_t N);
}  // namespace ref

}  // namespace seqnn::kernels
