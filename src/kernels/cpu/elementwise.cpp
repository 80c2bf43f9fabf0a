// Fast pointwise kernels: one broadcasting engine for binary ops, comparisons and where; one
// contiguous map per unary function (forward and backward), split over threads when large.
//
// Each function's math lives in a small inline functor; the switch over the op enum runs once
// per call, so the inner loops see plain inlined arithmetic the compiler can vectorise.
#include <algorithm>
#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/parallel.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {

constexpr int64_t kGrainCheap = 32768;  // add, mul, compare, ...: memory bound
constexpr int64_t kGrainMath = 8192;    // exp, tanh, erf, pow: compute bound

}  // namespace

// ==================================================================== broadcast layouts

int64_t Broadcast::numel() const {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  return n;
}

Broadcast make_broadcast(const Shape& out, std::initializer_list<const Shape*> operands) {
  Broadcast L;
  L.ndim = static_cast<int>(out.size());
  for (int d = 0; d < L.ndim; ++d) L.shape[d] = out[d];
  int k = 0;
  for (const Shape* s : operands) {
    // Right-align s against out; a contiguous stride where the sizes agree, 0 where s has 1.
    const int lead = L.ndim - static_cast<int>(s->size());
    int64_t st = 1;
    for (int d = L.ndim - 1; d >= lead && d >= 0; --d) {
      const int64_t size = (*s)[d - lead];
      L.stride[k][d] = (size == 1 && out[d] != 1) ? 0 : st;
      st *= size;
    }
    ++k;
  }
  return L;
}

namespace {

// Drops size-1 dims and merges neighbouring dims that are contiguous for every operand, so
// (N,D) + (D) stays 2-d, (2,3,4) + (2,3,4) becomes 1-d, and (B,1,D) + (B,T,1) stays 3-d.
Broadcast coalesce(const Broadcast& in, int nops) {
  Broadcast L;
  for (int d = 0; d < in.ndim; ++d) {
    if (in.shape[d] == 1) continue;
    const int o = L.ndim;
    bool merge = o > 0;
    for (int k = 0; k < nops && merge; ++k) merge = L.stride[k][o - 1] == in.stride[k][d] * in.shape[d];
    if (merge) {
      L.shape[o - 1] *= in.shape[d];
      for (int k = 0; k < nops; ++k) L.stride[k][o - 1] = in.stride[k][d];
    } else {
      L.shape[o] = in.shape[d];
      for (int k = 0; k < nops; ++k) L.stride[k][o] = in.stride[k][d];
      ++L.ndim;
    }
  }
  return L;
}

// The engine. Calls body(out_begin, len, off, inner) for runs of `len` consecutive outputs,
// where operand k's first element is at off[k] and advances by inner[k] per output.
//   (a)/(b) 1-d after coalescing (same shape; one side a single element): the flat range is
//           split over threads.
//   (c)     2-d (row or column broadcast): rows are split over threads, offsets are r*stride.
//   general: rows of the last dim, an odometer over the outer dims.
template <int K, class Body>
void broadcast_runs(const Broadcast& layout, int64_t grain, const Body& body) {
  const int64_t n = layout.numel();
  if (n == 0) return;
  const Broadcast L = coalesce(layout, K);
  int64_t inner[K];
  if (L.ndim == 0) {
    int64_t off[K] = {};
    for (int k = 0; k < K; ++k) inner[k] = 0;
    body(int64_t{0}, int64_t{1}, off, inner);
    return;
  }
  const int nd = L.ndim;
  const int64_t len = L.shape[nd - 1];
  for (int k = 0; k < K; ++k) inner[k] = L.stride[k][nd - 1];
  if (nd == 1) {
    parallel_for(n, grain, [&](int64_t b, int64_t e) {
      int64_t off[K];
      for (int k = 0; k < K; ++k) off[k] = b * inner[k];
      body(b, e - b, off, inner);
    });
    return;
  }
  const int64_t rows = n / len;
  parallel_for(rows, std::max<int64_t>(1, grain / len), [&](int64_t r0, int64_t r1) {
    int64_t off[K];
    if (nd == 2) {
      for (int64_t r = r0; r < r1; ++r) {
        for (int k = 0; k < K; ++k) off[k] = r * L.stride[k][0];
        body(r * len, len, off, inner);
      }
      return;
    }
    // Odometer over dims 0..nd-2, started at row r0.
    int64_t idx[kMaxDims];
    for (int k = 0; k < K; ++k) off[k] = 0;
    {
      int64_t rem = r0;
      for (int d = nd - 2; d >= 0; --d) {
        idx[d] = rem % L.shape[d];
        rem /= L.shape[d];
        for (int k = 0; k < K; ++k) off[k] += idx[d] * L.stride[k][d];
      }
    }
    for (int64_t r = r0; r < r1; ++r) {
      body(r * len, len, off, inner);
      for (int d = nd - 2; d >= 0; --d) {
        if (++idx[d] < L.shape[d]) {
          for (int k = 0; k < K; ++k) off[k] += L.stride[k][d];
          break;
        }
        for (int k = 0; k < K; ++k) off[k] -= L.stride[k][d] * (L.shape[d] - 1);
        idx[d] = 0;
      }
    }
  });
}

// out[i] = f(a[i], b[i]) over one run, specialised on the inner strides (1 = contiguous,
// 0 = the same element repeated) so the common cases are plain vectorisable loops.
template <class A, class O, class F>
inline void binary_run(int64_t len, const A* a, int64_t sa, const A* b, int64_t sb, O* out, const F& f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < len; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const A vb = *b;
    for (int64_t i = 0; i < len; ++i) out[i] = f(a[i], vb);
  } else if (sa == 0 && sb == 1) {
    const A va = *a;
    for (int64_t i = 0; i < len; ++i) out[i] = f(va, b[i]);
  } else {
    for (int64_t i = 0; i < len; ++i) out[i] = f(a[i * sa], b[i * sb]);
  }
}

template <class A, class O, class F>
void run_binary(const Broadcast& L, int64_t grain, const A* a, const A* b, O* out, const F& f) {
  broadcast_runs<2>(L, grain, [&](int64_t o, int64_t len, const int64_t* off, const int64_t* in) {
    binary_run(len, a + off[0], in[0], b + off[1], in[1], out + o, f);
  });
}

}  // namespace

// ==================================================================== binary

template <class T>
void binary(BinaryOp op, const Broadcast& L, const T* a, const T* b, T* out) {
  switch (op) {
    case BinaryOp::Add: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x + y; });
    case BinaryOp::Sub: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x - y; });
    case BinaryOp::Mul: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x * y; });
    case BinaryOp::Div: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x / y; });
    case BinaryOp::Pow: return run_binary(L, kGrainMath, a, b, out, [](T x, T y) { return std::pow(x, y); });
  }
}

template <class T>
void compare(CompareOp op, const Broadcast& L, const T* a, const T* b, bool* out) {
  switch (op) {
    case CompareOp::Eq: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x == y; });
    case CompareOp::Ne: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x != y; });
    case CompareOp::Lt: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x < y; });
    case CompareOp::Le: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x <= y; });
    case CompareOp::Gt: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x > y; });
    case CompareOp::Ge: return run_binary(L, kGrainCheap, a, b, out, [](T x, T y) { return x >= y; });
  }
}

template <class T>
void where(const Broadcast& L, const bool* cond, const T* a, const T* b, T* out) {
  broadcast_runs<3>(L, kGrainCheap, [&](int64_t o, int64_t len, const int64_t* off, const int64_t* in) {
    const bool* c = cond + off[0];
    const T *pa = a + off[1], *pb = b + off[2];
    T* po = out + o;
    if (in[0] == 1 && in[1] == 1 && in[2] == 1) {
      for (int64_t i = 0; i < len; ++i) po[i] = c[i] ? pa[i] : pb[i];
    } else if (in[0] == 1 && in[1] == 0 && in[2] == 1) {  // masked_fill: a is the fill value
      const T va = *pa;
      for (int64_t i = 0; i < len; ++i) po[i] = c[i] ? va : pb[i];
    } else {
      for (int64_t i = 0; i < len; ++i) po[i] = c[i * in[0]] ? pa[i * in[1]] : pb[i * in[2]];
    }
  });
}

template <class T>
void pow_backward(int64_t n, const T* dy, const T* x, const T* e, const T* y, T* dx, T* de) {
  parallel_for(n, kGrainMath, [&](int64_t b, int64_t end) {
    if (dx) {
      // d(x^e)/dx = e * x^(e-1), taken as 0 where e == 0 (PyTorch's convention)
      for (int64_t i = b; i < end; ++i) dx[i] = e[i] == T(0) ? T(0) : dy[i] * e[i] * std::pow(x[i], e[i] - T(1));
    }
    if (de) {
      // d(x^e)/de = x^e * log(x), taken as 0 where x == 0 and e >= 0
      for (int64_t i = b; i < end; ++i)
        de[i] = (x[i] == T(0) && e[i] >= T(0)) ? T(0) : dy[i] * y[i] * std::log(x[i]);
    }
  });
}

// ==================================================================== unary functions

namespace {

template <class T, class F>
void map(int64_t n, int64_t grain, const T* x, T* y, const F& f) {
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}

// An array kernel of kernels/vecmath.h (vectorised for float, std:: for double) over the
// threads' chunks: k(x + b, y + b, e - b, extra...).
template <class T, class K, class... A>
void chunked(int64_t n, int64_t grain, const T* x, T* y, const K& k, A... extra) {
  parallel_for(n, grain, [&](int64_t b, int64_t e) { k(x + b, y + b, e - b, extra...); });
}

// The same for a backward kernel k(dy + b, x + b, dx + b, e - b, extra...).
template <class T, class K, class... A>
void chunked_grad(int64_t n, int64_t grain, const T* dy, const T* x, T* dx, const K& k, A... extra) {
  parallel_for(n, grain, [&](int64_t b, int64_t e) { k(dy + b, x + b, dx + b, e - b, extra...); });
}

// dx[i] = f(dy[i], s[i]) with s the saved input or output.
template <class T, class F>
void map_grad(int64_t n, int64_t grain, const T* dy, const T* s, T* dx, const F& f) {
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dx[i] = f(dy[i], s[i]);
  });
}

// exp, log, tanh, sigmoid, gelu and elu run the array kernels of kernels/vecmath.h (the
// formulas are written next to each case and in vecmath.cpp).

template <class T>
T pow_scalar(T x, T p) {
  if (p == T(2)) return x * x;
  if (p == T(1)) return x;
  if (p == T(0.5)) return std::sqrt(x);
  return std::pow(x, p);
}

}  // namespace

template <class T>
void unary_forward(UnaryOp op, const UnaryParams& p, int64_t n, const T* x, T* y) {
  const T alpha = static_cast<T>(p.alpha), ex = static_cast<T>(p.exponent);
  const T lo = static_cast<T>(p.lo), hi = static_cast<T>(p.hi);
  switch (op) {
    case UnaryOp::Neg: return map(n, kGrainCheap, x, y, [](T v) { return -v; });
    case UnaryOp::Exp: return chunked(n, kGrainMath, x, y, [](const T* a, T* b, int64_t m) { vexp(a, b, m); });
    case UnaryOp::Log: return chunked(n, kGrainMath, x, y, [](const T* a, T* b, int64_t m) { vlog(a, b, m); });
    case UnaryOp::Sqrt: return map(n, kGrainCheap, x, y, [](T v) { return std::sqrt(v); });
    case UnaryOp::Abs: return map(n, kGrainCheap, x, y, [](T v) { return std::abs(v); });
    case UnaryOp::Tanh: return chunked(n, kGrainMath, x, y, [](const T* a, T* b, int64_t m) { vtanh(a, b, m); });
    // 1 / (1 + e^-x)
    case UnaryOp::Sigmoid:
      return chunked(n, kGrainMath, x, y, [](const T* a, T* b, int64_t m) { vsigmoid(a, b, m); });
    // max(x, 0), NaN propagates
    case UnaryOp::Relu: return map(n, kGrainCheap, x, y, [](T v) { return v < T(0) ? T(0) : v; });
    // x * Phi(x) = x/2 * (1 + erf(x / sqrt 2))
    case UnaryOp::Gelu: return chunked(n, kGrainMath, x, y, [](const T* a, T* b, int64_t m) { vgelu(a, b, m); });
    // x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
    case UnaryOp::GeluTanh:
      return chunked(n, kGrainMath, x, y, [](const T* a, T* b, int64_t m) { vgelu_tanh(a, b, m); });
    // x > 0 ? x : alpha (e^x - 1)
    case UnaryOp::Elu:
      return chunked(n, kGrainMath, x, y, [](const T* a, T* b, int64_t m, T al) { velu(a, b, m, al); }, alpha);
    case UnaryOp::Pow: return map(n, kGrainMath, x, y, [ex](T v) { return pow_scalar(v, ex); });
    // min(max(x, lo), hi), NaN propagates
    case UnaryOp::Clamp: return map(n, kGrainCheap, x, y, [lo, hi](T v) { return std::min(std::max(v, lo), hi); });
  }
}

bool unary_backward_uses_output(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Tanh || op == UnaryOp::Sigmoid;
}

template <class T>
void unary_backward(UnaryOp op, const UnaryParams& p, int64_t n, const T* dy, const T* x, const T* y, T* dx) {
  const T alpha = static_cast<T>(p.alpha), ex = static_cast<T>(p.exponent);
  const T lo = static_cast<T>(p.lo), hi = static_cast<T>(p.hi);
  switch (op) {
    // d(-x) = -1
    case UnaryOp::Neg:
      return parallel_for(n, kGrainCheap, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dx[i] = -dy[i];
      });
    // d e^x = e^x = y
    case UnaryOp::Exp: return map_grad(n, kGrainCheap, dy, y, dx, [](T g, T v) { return g * v; });
    // d log x = 1/x
    case UnaryOp::Log: return map_grad(n, kGrainCheap, dy, x, dx, [](T g, T v) { return g / v; });
    // d sqrt x = 1 / (2 sqrt x) = 1 / (2y)
    case UnaryOp::Sqrt: return map_grad(n, kGrainCheap, dy, y, dx, [](T g, T v) { return g / (T(2) * v); });
    // d|x| = sign(x), 0 at 0
    case UnaryOp::Abs:
      return map_grad(n, kGrainCheap, dy, x, dx, [](T g, T v) { return g * T((v > T(0)) - (v < T(0))); });
    // d tanh = 1 - y^2
    case UnaryOp::Tanh: return map_grad(n, kGrainCheap, dy, y, dx, [](T g, T v) { return g * (T(1) - v * v); });
    // d sigmoid = y (1 - y)
    case UnaryOp::Sigmoid:
      return map_grad(n, kGrainCheap, dy, y, dx, [](T g, T v) { return g * v * (T(1) - v); });
    // d relu = [x > 0] (0 at 0)
    case UnaryOp::Relu: return map_grad(n, kGrainCheap, dy, x, dx, [](T g, T v) { return v > T(0) ? g : T(0); });
    // d (x Phi(x)) = Phi(x) + x phi(x)
    case UnaryOp::Gelu:
      return chunked_grad(n, kGrainMath, dy, x, dx,
                          [](const T* g, const T* v, T* d, int64_t m) { vgelu_backward(g, v, d, m); });
    // d (x/2 (1 + tanh u)) = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) u',  u' = sqrt(2/pi) (1 + 3 kappa x^2)
    case UnaryOp::GeluTanh:
      return chunked_grad(n, kGrainMath, dy, x, dx,
                          [](const T* g, const T* v, T* d, int64_t m) { vgelu_tanh_backward(g, v, d, m); });
    // d elu = 1 for x > 0, alpha e^x for x <= 0
    case UnaryOp::Elu:
      return chunked_grad(
          n, kGrainMath, dy, x, dx, [](const T* g, const T* v, T* d, int64_t m, T al) { velu_backward(g, v, d, m, al); },
          alpha);
    // d x^p = p x^(p-1); 0 when p == 0
    case UnaryOp::Pow:
      return map_grad(n, kGrainMath, dy, x, dx, [ex](T g, T v) {
        if (ex == T(0)) return T(0);
        if (ex == T(2)) return g * T(2) * v;
        return g * ex * pow_scalar(v, ex - T(1));
      });
    // d clamp = [lo <= x <= hi]
    case UnaryOp::Clamp:
      return map_grad(n, kGrainCheap, dy, x, dx, [lo, hi](T g, T v) { return (v >= lo && v <= hi) ? g : T(0); });
  }
}

// ==================================================================== instantiations

template void binary<float>(BinaryOp, const Broadcast&, const float*, const float*, float*);
template void binary<double>(BinaryOp, const Broadcast&, const double*, const double*, double*);
template void compare<float>(CompareOp, const Broadcast&, const float*, const float*, bool*);
template void compare<double>(CompareOp, const Broadcast&, const double*, const double*, bool*);
template void compare<int64_t>(CompareOp, const Broadcast&, const int64_t*, const int64_t*, bool*);
template void compare<bool>(CompareOp, const Broadcast&, const bool*, const bool*, bool*);
template void where<float>(const Broadcast&, const bool*, const float*, const float*, float*);
template void where<double>(const Broadcast&, const bool*, const double*, const double*, double*);
template void where<int64_t>(const Broadcast&, const bool*, const int64_t*, const int64_t*, int64_t*);
template void where<bool>(const Broadcast&, const bool*, const bool*, const bool*, bool*);
template void pow_backward<float>(int64_t, const float*, const float*, const float*, const float*, float*, float*);
template void pow_backward<double>(int64_t, const double*, const double*, const double*, const double*, double*,
                                   double*);
template void unary_forward<float>(UnaryOp, const UnaryParams&, int64_t, const float*, float*);
template void unary_forward<double>(UnaryOp, const UnaryParams&, int64_t, const double*, double*);
template void unary_backward<float>(UnaryOp, const UnaryParams&, int64_t, const float*, const float*, const float*,
                                    float*);
template void unary_backward<double>(UnaryOp, const UnaryParams&, int64_t, const double*, const double*,
                                     const double*, double*);

}  // namespace seqnn::kernels
