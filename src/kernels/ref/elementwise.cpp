// Naive pointwise kernels: the oracle for kernels/cpu/elementwise.cpp. One output element at a
// time, its operands found by unravelling the flat index over the (uncoalesced) layout; the
// op switch sits inside the loop. Slow and obvious on purpose.
#include <cmath>

#include "kernels/elementwise.h"

namespace seqnn::kernels::ref {

namespace {

// Offset of operand k for flat output index i.
int64_t operand_offset(const Broadcast& L, int k, int64_t i) {
  int64_t off = 0;
  for (int d = L.ndim - 1; d >= 0; --d) {
    off += (i % L.shape[d]) * L.stride[k][d];
    i /= L.shape[d];
  }
  return off;
}

}  // namespace

// ==================================================================== broadcasting

template <class T>
void binary(BinaryOp op, const Broadcast& L, const T* a, const T* b, T* out) {
  for (int64_t i = 0, n = L.numel(); i < n; ++i) {
    const T x = a[operand_offset(L, 0, i)], y = b[operand_offset(L, 1, i)];
    switch (op) {
      case BinaryOp::Add: out[i] = x + y; break;
      case BinaryOp::Sub: out[i] = x - y; break;
      case BinaryOp::Mul: out[i] = x * y; break;
      case BinaryOp::Div: out[i] = x / y; break;
      case BinaryOp::Pow: out[i] = std::pow(x, y); break;
    }
  }
}

template <class T>
void compare(CompareOp op, const Broadcast& L, const T* a, const T* b, bool* out) {
  for (int64_t i = 0, n = L.numel(); i < n; ++i) {
    const T x = a[operand_offset(L, 0, i)], y = b[operand_offset(L, 1, i)];
    switch (op) {
      case CompareOp::Eq: out[i] = x == y; break;
      case CompareOp::Ne: out[i] = x != y; break;
      case CompareOp::Lt: out[i] = x < y; break;
      case CompareOp::Le: out[i] = x <= y; break;
      case CompareOp::Gt: out[i] = x > y; break;
      case CompareOp::Ge: out[i] = x >= y; break;
    }
  }
}

template <class T>
void where(const Broadcast& L, const bool* cond, const T* a, const T* b, T* out) {
  for (int64_t i = 0, n = L.numel(); i < n; ++i)
    out[i] = cond[operand_offset(L, 0, i)] ? a[operand_offset(L, 1, i)] : b[operand_offset(L, 2, i)];
}

template <class T>
void pow_backward(int64_t n, const T* dy, const T* x, const T* e, const T* y, T* dx, T* de) {
  for (int64_t i = 0; i < n; ++i) {
    if (dx) dx[i] = e[i] == 0 ? T(0) : dy[i] * e[i] * std::pow(x[i], e[i] - 1);
    if (de) de[i] = (x[i] == 0 && e[i] >= 0) ? T(0) : dy[i] * std::pow(x[i], e[i]) * std::log(x[i]);
  }
}

// ==================================================================== unary

template <class T>
void unary_forward(UnaryOp op, const UnaryParams& p, int64_t n, const T* x, T* y) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];  // evaluated in double, rounded once
    double r = 0;
    switch (op) {
      case UnaryOp::Neg: r = -v; break;
      case UnaryOp::Exp: r = std::exp(v); break;
      case UnaryOp::Log: r = std::log(v); break;
      case UnaryOp::Sqrt: r = std::sqrt(v); break;
      case UnaryOp::Abs: r = std::fabs(v); break;
      case UnaryOp::Tanh: r = std::tanh(v); break;
      case UnaryOp::Sigmoid: r = 1.0 / (1.0 + std::exp(-v)); break;
      case UnaryOp::Relu: r = std::isnan(v) ? v : (v > 0 ? v : 0.0); break;
      case UnaryOp::Gelu: r = v * 0.5 * std::erfc(-v / std::sqrt(2.0)); break;
      case UnaryOp::GeluTanh:
        r = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * std::pow(v, 3)))); break;
      case UnaryOp::Elu: r = v > 0 ? v : p.alpha * (std::exp(v) - 1.0); break;
      case UnaryOp::Pow: r = std::pow(v, static_cast<double>(static_cast<T>(p.exponent))); break;
      case UnaryOp::Clamp:
        r = std::isnan(v) ? v : std::fmin(std::fmax(v, static_cast<double>(static_cast<T>(p.lo))),
                                          static_cast<double>(static_cast<T>(p.hi)));
        break;
    }
    y[i] = static_cast<T>(r);
  }
}

template <class T>
void unary_backward(UnaryOp op, const UnaryParams& p, int64_t n, const T* dy, const T* x, const T* y, T* dx) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = dy[i];
    const double v = x ? double(x[i]) : 0.0, out = y ? double(y[i]) : 0.0;
    double r = 0;
    switch (op) {
      case UnaryOp::Neg: r = -g; break;
      case UnaryOp::Exp: r = g * out; break;
      case UnaryOp::Log: r = g / v; break;
      case UnaryOp::Sqrt: r = g * 0.5 / out; break;
      case UnaryOp::Abs: r = v > 0 ? g : (v < 0 ? -g : 0.0); break;
      case UnaryOp::Tanh: r = g * (1 - out * out); break;
      case UnaryOp::Sigmoid: r = g * (out - out * out); break;
      case UnaryOp::Relu: r = v > 0 ? g : 0.0; break;
      case UnaryOp::Gelu:
        r = g * (0.5 * std::erfc(-v / std::sqrt(2.0)) + v * std::exp(-v * v / 2) / std::sqrt(2 * M_PI));
        break;
      case UnaryOp::GeluTanh: {
        // chain rule on 0.5 x (1 + tanh(u(x))), with sech^2 = 1 / cosh^2
        const double c = std::sqrt(2.0 / M_PI), u = c * (v + 0.044715 * v * v * v);
        const double sech2 = 1.0 / (std::cosh(u) * std::cosh(u));
        r = g * (0.5 * (1 + std::tanh(u)) + 0.5 * v * sech2 * c * (1 + 3 * 0.044715 * v * v));
        break;
      }
      case UnaryOp::Elu: r = v > 0 ? g : g * p.alpha * std::exp(v); break;
      case UnaryOp::Pow: {
        const double e = static_cast<T>(p.exponent);
        r = e == 0 ? 0.0 : g * e * std::pow(v, e - 1);
        break;
      }
      case UnaryOp::Clamp: {
        const double lo = static_cast<T>(p.lo), hi = static_cast<T>(p.hi);
        r = (lo <= v && v <= hi) ? g : 0.0;
        break;
      }
    }
    dx[i] = static_cast<T>(r);
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

}  // namespace seqnn::kernels::ref
