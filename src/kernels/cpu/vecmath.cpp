// Array kernels over the vm:: element functions (math in kernels/vecmath.h), with runtime ISA
// dispatch for float.
//
// Each kernel is a struct whose always-inlined run() is the plain loop. It is instantiated in
// three functions compiled for different ISAs (gnu::target): AVX-512 (512-bit vectors),
// AVX2+FMA, and the library's baseline (x86-64-v2 = SSE4.2). The element functions inline into
// each, so one source loop becomes three vectorised loops; dispatch() switches on the ISA
// detected once (cpuid) per call, i.e. once per parallel chunk, not per element.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

// The clamps and selects of the element functions must become vector blends. With the default
// -ftrapping-math GCC keeps floating-point operations that may raise exceptions on the path
// where their result is used, which turns the selects back into branches and stops
// vectorisation ("control flow in loop") on the non-AVX-512 paths. seqnn never reads the FP
// exception flags, and this option changes no result.
#pragma GCC optimize("no-trapping-math")

#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {

// ==================================================================== ISA dispatch

enum class Isa : int { Unknown, Base, Avx2, Avx512 };

Isa detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
  return Isa::Base;
}

std::atomic<Isa> g_isa{Isa::Unknown};

Isa current_isa() {
  Isa i = g_isa.load(std::memory_order_relaxed);
  if (i == Isa::Unknown) {
    i = detect_isa();
    g_isa.store(i, std::memory_order_relaxed);
  }
  return i;
}

template <class K, class... A>
[[gnu::target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,prefer-vector-width=512")]] auto run_avx512(
    A... a) {
  return K::run(a...);
}

template <class K, class... A>
[[gnu::target("avx2,fma,bmi,bmi2")]] auto run_avx2(A... a) {
  return K::run(a...);
}

template <class K, class... A>
auto run_base(A... a) {
  return K::run(a...);
}

template <class K, class... A>
auto dispatch(A... a) {
  switch (current_isa()) {
    case Isa::Avx512: return run_avx512<K>(a...);
    case Isa::Avx2: return run_avx2<K>(a...);
    default: return run_base<K>(a...);
  }
}

// ==================================================================== loop bodies (float)

#define AI [[gnu::always_inline]] static inline
// (AI only shortens the attribute on the run() members below; it defines no entry points.)

// y = F(x) for one of the vm:: element functions
struct Exp {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::exp(x[i]);
  }
};
struct Expm1 {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::expm1(x[i]);
  }
};
struct Log {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::log(x[i]);
  }
};
struct Tanh {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::tanh(x[i]);
  }
};
struct TanhFast {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::tanh_fast(x[i]);
  }
};
struct Sigmoid {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::sigmoid(x[i]);
  }
};
struct Softplus {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::softplus(x[i]);
  }
};
struct Erf {
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::erf(x[i]);
  }
};

struct ExpSub {
  AI void run(const float* x, const float* shift, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = vm::exp(x[i] - shift[i]);
  }
};

// 32 partial sums: lanes of 2-4 independent vector accumulators on every ISA
constexpr int kLanes = 32;

template <class T>
struct Sum {
  AI double run(const T* x, int64_t n) {
    double acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += static_cast<double>(x[i + j]);
    const int64_t r = n - i;  // tail: lanes j < r (masked loads; no scalar loop on acc)
#pragma omp simd
    for (int j = 0; j < kLanes; ++j)
      if (j < r) acc[j] += static_cast<double>(x[i + j]);
    for (int w = kLanes / 2; w >= 1; w /= 2)
      for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0];
  }
};
template <class T>
struct SumSqDev {
  AI double run(const T* x, double mu, int64_t n) {
    double acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        const double c = static_cast<double>(x[i + j]) - mu;
        acc[j] += c * c;
      }
    const int64_t r = n - i;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j)
      if (j < r) {
        const double c = static_cast<double>(x[i + j]) - mu;
        acc[j] += c * c;
      }
    for (int w = kLanes / 2; w >= 1; w /= 2)
      for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0];
  }
};

// max over 32 interleaved lanes (a plain max reduction is not vectorised without fast-math)
struct Max {
  AI float run(const float* x, int64_t n) {
    float acc[kLanes];
    for (int j = 0; j < kLanes; ++j) acc[j] = x[0];
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    const int64_t r = n - i;
#pragma omp simd
    for (int j = 0; j < kLanes; ++j)
      if (j < r) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
    for (int w = kLanes / 2; w >= 1; w /= 2)
      for (int j = 0; j < w; ++j) acc[j] = acc[j + w] > acc[j] ? acc[j + w] : acc[j];
    return acc[0];
  }
};

// y = exp(x - shift) (into a stack block when y is null), summed in double by Sum, block by block
struct ExpShiftSum {
  AI double run(const float* x, float shift, float* y, int64_t n) {
    constexpr int64_t kBlock = 512;
    float buf[kBlock];
    double s = 0;
    for (int64_t b = 0; b < n; b += kBlock) {
      const int64_t len = n - b < kBlock ? n - b : kBlock;
      float* out = y ? y + b : buf;
      const float* in = x + b;
#pragma omp simd
      for (int64_t i = 0; i < len; ++i) out[i] = vm::exp(in[i] - shift);
      s += Sum<float>::run(out, len);
    }
    return s;
  }
};

// softmax rows: m = max, e = exp(x - m), s = sum e (double); y = e / s or (x - m) - log s
struct SoftmaxRows {
  AI void run(const float* x, float* y, int64_t rows, int64_t D, bool log) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * D;
      float* yr = y + r * D;
      const float m = Max::run(xr, D);
      const double s = ExpShiftSum::run(xr, m, log ? nullptr : yr, D);
      if (log) {
        const float ls = static_cast<float>(std::log(s));
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) yr[d] = (xr[d] - m) - ls;
      } else {
        const float inv = static_cast<float>(1.0 / s);
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
      }
    }
  }
};

// gelu constants: 1/sqrt(2), 1/sqrt(2 pi), sqrt(2/pi), and the cubic coefficient.
constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kKappa = 0.044715f;

struct Gelu {  // x/2 (1 + erf(x / sqrt2))
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      y[i] = 0.5f * v * (1.0f + vm::erf(v * kSqrt1_2));
    }
  }
};
struct GeluBackward {  // dy (Phi(x) + x phi(x))
  AI void run(const float* dy, const float* x, float* dx, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      const float cdf = 0.5f * (1.0f + vm::erf(v * kSqrt1_2));
      const float pdf = kInvSqrt2Pi * vm::exp(-0.5f * v * v);
      dx[i] = dy[i] * (cdf + v * pdf);
    }
  }
};
struct GeluTanh {  // x/2 (1 + tanh(sqrt(2/pi) (x + kappa x^3)))
  AI void run(const float* x, float* y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      const float inner = kSqrt2OverPi * (v + kKappa * v * v * v);
      y[i] = 0.5f * v * (1.0f + vm::tanh(inner));
    }
  }
};
struct GeluTanhBackward {  // (1 + t)/2 + x/2 (1 - t^2) u',  u' = sqrt(2/pi) (1 + 3 kappa x^2)
  AI void run(const float* dy, const float* x, float* dx, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i], v2 = v * v;
      const float t = vm::tanh(kSqrt2OverPi * (v + kKappa * v2 * v));
      const float du = kSqrt2OverPi * (1.0f + (3.0f * kKappa) * v2);
      dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
  }
};
struct Elu {  // x > 0 ? x : alpha expm1(x)
  AI void run(const float* x, float* y, int64_t n, float alpha) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i];
      const float neg = alpha * vm::expm1(v);
      y[i] = v > 0.0f ? v : neg;
    }
  }
};
struct EluBackward {  // x > 0 ? dy : dy alpha e^x
  AI void run(const float* dy, const float* x, float* dx, int64_t n, float alpha) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[i], g = dy[i];
      const float neg = g * alpha * vm::exp(v);
      dx[i] = v > 0.0f ? g : neg;
    }
  }
};

#undef AI

}  // namespace

// ==================================================================== float entry points

void vexp(const float* x, float* y, int64_t n) { dispatch<Exp>(x, y, n); }
void vexpm1(const float* x, float* y, int64_t n) { dispatch<Expm1>(x, y, n); }
void vlog(const float* x, float* y, int64_t n) { dispatch<Log>(x, y, n); }
void vtanh(const float* x, float* y, int64_t n) { dispatch<Tanh>(x, y, n); }
void vtanh_fast(const float* x, float* y, int64_t n) { dispatch<TanhFast>(x, y, n); }
void vsigmoid(const float* x, float* y, int64_t n) { dispatch<Sigmoid>(x, y, n); }
void vsoftplus(const float* x, float* y, int64_t n) { dispatch<Softplus>(x, y, n); }
void verf(const float* x, float* y, int64_t n) { dispatch<Erf>(x, y, n); }
double vexp_shift_sum(const float* x, float shift, float* y, int64_t n) {
  return dispatch<ExpShiftSum>(x, shift, y, n);
}
void vexp_sub(const float* x, const float* shift, float* y, int64_t n) { dispatch<ExpSub>(x, shift, y, n); }
float vmax(const float* x, int64_t n) { return dispatch<Max>(x, n); }
double vsum(const float* x, int64_t n) { return dispatch<Sum<float>>(x, n); }
double vsum(const double* x, int64_t n) { return dispatch<Sum<double>>(x, n); }
double vsum_sq_dev(const float* x, double mu, int64_t n) { return dispatch<SumSqDev<float>>(x, mu, n); }
double vsum_sq_dev(const double* x, double mu, int64_t n) { return dispatch<SumSqDev<double>>(x, mu, n); }
void vsoftmax_rows(const float* x, float* y, int64_t rows, int64_t D, bool log) {
  dispatch<SoftmaxRows>(x, y, rows, D, log);
}
void vgelu(const float* x, float* y, int64_t n) { dispatch<Gelu>(x, y, n); }
void vgelu_backward(const float* dy, const float* x, float* dx, int64_t n) { dispatch<GeluBackward>(dy, x, dx, n); }
void vgelu_tanh(const float* x, float* y, int64_t n) { dispatch<GeluTanh>(x, y, n); }
void vgelu_tanh_backward(const float* dy, const float* x, float* dx, int64_t n) {
  dispatch<GeluTanhBackward>(dy, x, dx, n);
}
void velu(const float* x, float* y, int64_t n, float alpha) { dispatch<Elu>(x, y, n, alpha); }
void velu_backward(const float* dy, const float* x, float* dx, int64_t n, float alpha) {
  dispatch<EluBackward>(dy, x, dx, n, alpha);
}

const char* vecmath_isa() {
  switch (current_isa()) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "sse4.2";
  }
}

bool vecmath_set_isa(const char* name) {
  const Isa best = detect_isa();
  Isa want = Isa::Unknown;
  if (std::strcmp(name, "avx512") == 0) want = Isa::Avx512;
  if (std::strcmp(name, "avx2") == 0) want = Isa::Avx2;
  if (std::strcmp(name, "sse4.2") == 0) want = Isa::Base;
  if (want == Isa::Unknown || static_cast<int>(want) > static_cast<int>(best)) return false;
  g_isa.store(want, std::memory_order_relaxed);
  return true;
}

// ==================================================================== double: the std:: functions

void vexp(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void vexpm1(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::expm1(x[i]);
}
void vlog(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]);
}
void vtanh(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
void vsigmoid(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0 / (1.0 + std::exp(-x[i]));
}
void vsoftplus(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(std::exp(-std::abs(x[i]))) + std::max(x[i], 0.0);
}
void verf(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
}
double vexp_shift_sum(const double* x, double shift, double* y, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = std::exp(x[i] - shift);
    if (y) y[i] = e;
    s += e;
  }
  return s;
}
double vmax(const double* x, int64_t n) {
  double m = x[0];
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}
void vexp_sub(const double* x, const double* shift, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - shift[i]);
}
// gelu constants in double (the float ones above are rounded)
namespace {
constexpr double kSqrt1_2d = 0.70710678118654752440;
constexpr double kInvSqrt2Pid = 0.39894228040143267794;
constexpr double kSqrt2OverPid = 0.79788456080286535588;
constexpr double kKappad = 0.044715;
}  // namespace

void vgelu(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5 * x[i] * (1.0 + std::erf(x[i] * kSqrt1_2d));
}
void vgelu_backward(const double* dy, const double* x, double* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double cdf = 0.5 * (1.0 + std::erf(v * kSqrt1_2d));
    const double pdf = kInvSqrt2Pid * std::exp(-0.5 * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}
void vgelu_tanh(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double inner = kSqrt2OverPid * (v + kKappad * v * v * v);
    y[i] = 0.5 * v * (1.0 + std::tanh(inner));
  }
}
void vgelu_tanh_backward(const double* dy, const double* x, double* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i], v2 = v * v;
    const double t = std::tanh(kSqrt2OverPid * (v + kKappad * v2 * v));
    const double du = kSqrt2OverPid * (1.0 + 3 * kKappad * v2);
    dx[i] = dy[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
  }
}
void velu(const double* x, double* y, int64_t n, double alpha) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0 ? x[i] : alpha * std::expm1(x[i]);
}
void velu_backward(const double* dy, const double* x, double* dx, int64_t n, double alpha) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0 ? dy[i] : dy[i] * alpha * std::exp(x[i]);
}

}  // namespace seqnn::kernels
