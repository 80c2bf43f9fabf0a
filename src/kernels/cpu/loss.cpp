// Fast loss kernels (math in kernels/loss.h). Rows r = (n,k) run in parallel; a row's C
// logits sit at stride K (contiguous for the (N,C) layout). Row sums accumulate in double.
// Contiguous rows (K == 1) and the BCE terms run the array kernels of kernels/vecmath.h
// (vectorised exp / sigmoid / softplus for float).
#include "kernels/loss.h"

#include <algorithm>
#include <cmath>

#include "kernels/parallel.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {
constexpr int64_t kGrain = 16384;

// log sum_c exp(x[c*K]) with the max subtracted.  x: (C) at stride K, C >= 1
template <class T>
double row_lse(const T* x, int64_t C, int64_t K) {
  if (K == 1) {
    const T m = vmax(x, C);
    return static_cast<double>(m) + std::log(vexp_shift_sum(x, m, static_cast<T*>(nullptr), C));
  }
  T m = x[0];
  for (int64_t c = 1; c < C; ++c) m = x[c * K] > m ? x[c * K] : m;
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(x[c * K] - m);
  return static_cast<double>(m) + std::log(s);
}

template <class F>
void for_rows(int64_t N, int64_t C, int64_t K, const F& f) {  // f(n, k, r)
  parallel_for(N * K, std::max<int64_t>(1, kGrain / std::max<int64_t>(C, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) f(r / K, r % K, r);
  });
}
}  // namespace

// ==================================================================== cross entropy, index targets

template <class T>
void ce_index_forward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                      int64_t ignore_index, double ls, T* lse, T* loss, T* row_w) {
  for_rows(N, C, K, [&](int64_t n, int64_t k, int64_t r) {
    const T* xr = x + n * C * K + k;
    const double l = row_lse(xr, C, K);
    lse[r] = static_cast<T>(l);
    const int64_t t = target[r];
    if (t == ignore_index) {
      loss[r] = 0;
      row_w[r] = 0;
      return;
    }
    const double wt = weight ? weight[t] : 1.0;
    double v = (1 - ls) * wt * (l - xr[t * K]);
    if (ls > 0) {  // smoothing term: (ls/C) sum_c w_c (lse - x_c)
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += (weight ? weight[c] : 1.0) * (l - xr[c * K]);
      v += ls / C * s;
    }
    loss[r] = static_cast<T>(v);
    row_w[r] = static_cast<T>(wt);
  });
}

template <class T>
void ce_index_backward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                       int64_t ignore_index, double ls, const T* lse, const T* grow, int64_t grow_stride, T* dx) {
  double wsum = C;  // sum_c w_c, for Q
  if (weight) {
    wsum = 0;
    for (int64_t c = 0; c < C; ++c) wsum += weight[c];
  }
  for_rows(N, C, K, [&](int64_t n, int64_t k, int64_t r) {
    const T* xr = x + n * C * K + k;
    T* dr = dx + n * C * K + k;
    const int64_t t = target[r];
    if (t == ignore_index) {
      for (int64_t c = 0; c < C; ++c) dr[c * K] = 0;
      return;
    }
    const T g = grow[r * grow_stride];
    const T wt = weight ? weight[t] : T(1);
    const T l = lse[r];
    const T Q = static_cast<T>((1 - ls) * wt + ls / C * wsum);
    const T sm = static_cast<T>(ls / C);
    // dx_c = g (p_c Q - q_c),  q_c = (1-ls) w_t [c==t] + (ls/C) w_c
    if (K == 1) {  // p_c = exp(x_c - lse) into dr first
      vexp_shift_sum(xr, l, dr, C);
      if (weight) {
        for (int64_t c = 0; c < C; ++c) dr[c] = g * (dr[c] * Q - sm * weight[c]);
      } else {
        for (int64_t c = 0; c < C; ++c) dr[c] = g * (dr[c] * Q - sm);
      }
    } else if (weight) {
      for (int64_t c = 0; c < C; ++c) dr[c * K] = g * (std::exp(xr[c * K] - l) * Q - sm * weight[c]);
    } else {
      for (int64_t c = 0; c < C; ++c) dr[c * K] = g * (std::exp(xr[c * K] - l) * Q - sm);
    }
    dr[t * K] -= g * static_cast<T>((1 - ls) * wt);
  });
}

// ==================================================================== cross entropy, probability targets

template <class T>
void ce_prob_forward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls, T* lse,
                     T* loss) {
  for_rows(N, C, K, [&](int64_t n, int64_t k, int64_t r) {
    const T *xr = x + n * C * K + k, *tr = target + n * C * K + k;
    const double l = row_lse(xr, C, K);
    lse[r] = static_cast<T>(l);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += (weight ? weight[c] : 1.0) * (tr[c * K] * (1 - ls) + ls / C) * (l - xr[c * K]);
    loss[r] = static_cast<T>(s);
  });
}

template <class T>
void ce_prob_backward(const T* x, const T* target, const T* weight, int64_t N, int64_t C, int64_t K, double ls,
                      const T* lse, const T* grow, int64_t grow_stride, T* dx, T* dtarget) {
  const T keep = static_cast<T>(1 - ls), sm = static_cast<T>(ls / C);
  for_rows(N, C, K, [&](int64_t n, int64_t k, int64_t r) {
    const int64_t base = n * C * K + k;
    const T *xr = x + base, *tr = target + base;
    const T g = grow[r * grow_stride], l = lse[r];
    if (dx) {
      double Q = 0;
      for (int64_t c = 0; c < C; ++c) Q += (weight ? weight[c] : T(1)) * (tr[c * K] * keep + sm);
      if (K == 1) {
        T* dr = dx + base;
        vexp_shift_sum(xr, l, dr, C);
        for (int64_t c = 0; c < C; ++c)
          dr[c] = g * (dr[c] * static_cast<T>(Q) - (weight ? weight[c] : T(1)) * (tr[c] * keep + sm));
      } else {
        for (int64_t c = 0; c < C; ++c) {
          const T q = (weight ? weight[c] : T(1)) * (tr[c * K] * keep + sm);
          dx[base + c * K] = g * (std::exp(xr[c * K] - l) * static_cast<T>(Q) - q);
        }
      }
    }
    if (dtarget)
      for (int64_t c = 0; c < C; ++c) dtarget[base + c * K] = g * (weight ? weight[c] : T(1)) * keep * (l - xr[c * K]);
  });
}

// ==================================================================== nll

template <class T>
void nll_forward(const T* x, const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K,
                 int64_t ignore_index, T* loss, T* row_w) {
  for_rows(N, 1, K, [&](int64_t n, int64_t k, int64_t r) {
    const int64_t t = target[r];
    if (t == ignore_index) {
      loss[r] = 0;
      row_w[r] = 0;
      return;
    }
    const T wt = weight ? weight[t] : T(1);
    loss[r] = -wt * x[(n * C + t) * K + k];
    row_w[r] = wt;
  });
}

template <class T>
void nll_backward(const int64_t* target, const T* weight, int64_t N, int64_t C, int64_t K, int64_t ignore_index,
                  const T* grow, int64_t grow_stride, T* dx) {
  std::fill(dx, dx + N * C * K, T(0));
  for_rows(N, 1, K, [&](int64_t n, int64_t k, int64_t r) {
    const int64_t t = target[r];
    if (t == ignore_index) return;
    dx[(n * C + t) * K + k] = -(weight ? weight[t] : T(1)) * grow[r * grow_stride];
  });
}

// ==================================================================== mse

template <class T>
void mse_forward(const T* x, const T* t, T* loss, int64_t n) {
  parallel_for(n, 4 * kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) loss[i] = (x[i] - t[i]) * (x[i] - t[i]);
  });
}

template <class T>
void mse_backward(const T* x, const T* t, const T* grow, int64_t grow_stride, T* dx, T* dt, int64_t n) {
  parallel_for(n, 4 * kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T d = 2 * (x[i] - t[i]) * grow[i * grow_stride];
      if (dx) dx[i] = d;
      if (dt) dt[i] = -d;
    }
  });
}

// ==================================================================== BCE with logits

template <class T>
void bce_logits_forward(const T* x, const T* t, const T* pw, int64_t n, int64_t L, T* loss) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) loss[i] = -x[i];
    vsoftplus(loss + b, loss + b, e - b);  // softplus(-x) = log1p(e^-|x|) + max(-x, 0)
    for (int64_t i = b; i < e; ++i) {
      const T lw = pw ? 1 + (pw[i % L] - 1) * t[i] : T(1);
      loss[i] = (1 - t[i]) * x[i] + lw * loss[i];
    }
  });
}

template <class T>
void bce_logits_backward(const T* x, const T* t, const T* pw, int64_t n, int64_t L, const T* grow, int64_t grow_stride,
                         T* dx, T* dt) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    if (dx) {
      vsigmoid(x + b, dx + b, e - b);  // sigmoid(x) = 1 / (1 + e^-x)
      for (int64_t i = b; i < e; ++i) {
        const T p = pw ? pw[i % L] : T(1), g = grow[i * grow_stride];
        dx[i] = g * ((1 + (p - 1) * t[i]) * dx[i] - p * t[i]);
      }
    }
    if (dt) {
      for (int64_t i = b; i < e; ++i) dt[i] = -x[i];
      vsoftplus(dt + b, dt + b, e - b);  // softplus(-x)
      for (int64_t i = b; i < e; ++i) {
        const T p = pw ? pw[i % L] : T(1), g = grow[i * grow_stride];
        dt[i] = g * (-x[i] + (p - 1) * dt[i]);
      }
    }
  });
}

// ==================================================================== instantiations

template void ce_index_forward<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t,
                                      double, float*, float*, float*);
template void ce_index_backward<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t,
                                       double, const float*, const float*, int64_t, float*);
template void ce_prob_forward<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, double,
                                     float*, float*);
template void ce_prob_backward<float>(const float*, const float*, const float*, int64_t, int64_t, int64_t, double,
                                      const float*, const float*, int64_t, float*, float*);
template void nll_forward<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t, float*,
                                 float*);
template void nll_backward<float>(const int64_t*, const float*, int64_t, int64_t, int64_t, int64_t, const float*,
                                  int64_t, float*);
template void mse_forward<float>(const float*, const float*, float*, int64_t);
template void mse_backward<float>(const float*, const float*, const float*, int64_t, float*, float*, int64_t);
template void bce_logits_forward<float>(const float*, const float*, const float*, int64_t, int64_t, float*);
template void bce_logits_backward<float>(const float*, const float*, const float*, int64_t, int64_t, const float*,
                                         int64_t, float*, float*);

template void ce_index_forward<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t, int64_t,
                                       double, double*, double*, double*);
template void ce_index_backward<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t,
                                        int64_t, double, const double*, const double*, int64_t, double*);
template void ce_prob_forward<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t, double,
                                      double*, double*);
template void ce_prob_backward<double>(const double*, const double*, const double*, int64_t, int64_t, int64_t, double,
                                       const double*, const double*, int64_t, double*, double*);
template void nll_forward<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t, int64_t,
                                  double*, double*);
template void nll_backward<double>(const int64_t*, const double*, int64_t, int64_t, int64_t, int64_t, const double*,
                                   int64_t, double*);
template void mse_forward<double>(const double*, const double*, double*, int64_t);
template void mse_backward<double>(const double*, const double*, const double*, int64_t, double*, double*, int64_t);
template void bce_logits_forward<double>(const double*, const double*, const double*, int64_t, int64_t, double*);
template void bce_logits_backward<double>(const double*, const double*, const double*, int64_t, int64_t, const double*,
                                          int64_t, double*, double*);

}  // namespace seqnn::kernels
