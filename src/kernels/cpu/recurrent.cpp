// Fast fused gate passes of the recurrent cells (math in kernels/recurrent.h).
//
// One pass over the n rows of a step; the inner loops run over the H units of a row with the
// activation a template parameter (no branch per element), so they vectorise. Steps are small
// (n*H ~ thousands of elements) and run inside the op's per-direction parallel region, so the
// kernels are serial.
#include "kernels/recurrent.h"

#include <cstring>
#include <type_traits>

#pragma GCC diagnostic ignored "-Wpsabi"  // v16 helpers are always inlined into one ISA's code

#include "kernels/cpu/gate_math.h"
#include "kernels/cpu/isa_dispatch.h"
#include "kernels/vecmath.h"

namespace seqnn::kernels {

namespace {

// dg = (dh [+ add]) * act'(h) in float on the widest ISA (isa::dispatch): compiled for the library's
// baseline, this loop was 4% of a Jordan training step (two passes over T*B*H per step).
// (A switch, not with_activation: see kernels/recurrent.h.)
struct RnnBackwardF32 {
  template <Activation A, bool Add>
  [[gnu::always_inline]] static inline void loop(const float* dh, const float* h, float* dg, int64_t m,
                                                 const float* add) {
#pragma omp simd  // dg may alias dh or add: element k is read before it is written
    for (int64_t k = 0; k < m; ++k) dg[k] = (Add ? dh[k] + add[k] : dh[k]) * act_grad_from_output<A>(h[k]);
  }
  template <Activation A>
  [[gnu::always_inline]] static inline void loop(const float* dh, const float* h, float* dg, int64_t m,
                                                 const float* add) {
    if (add) return loop<A, true>(dh, h, dg, m, add);
    loop<A, false>(dh, h, dg, m, add);
  }
  [[gnu::always_inline]] static inline void run(const float* dh, const float* h, float* dg, int64_t m,
                                                Activation act, const float* add) {
    switch (act) {
      case Activation::Tanh: return loop<Activation::Tanh>(dh, h, dg, m, add);
      case Activation::Relu: return loop<Activation::Relu>(dh, h, dg, m, add);
      case Activation::Sigmoid: return loop<Activation::Sigmoid>(dh, h, dg, m, add);
      case Activation::Identity: return loop<Activation::Identity>(dh, h, dg, m, add);
    }
  }
};

// float tanh / sigmoid of the RNN / Jordan layers (the fused cells' gate math, kernels/cpu/
// gate_math.h: ~2 ulps, a quarter fewer operations than vecmath's vtanh / vsigmoid, which keep
// every input exact down to denormal results; these were 6% of a Jordan forward at 100x32x256).
struct GateActF32 {
  [[gnu::always_inline]] static inline gate::v16 act(gate::v16 v, bool tanh) {
    return tanh ? gate::tanh(v) : gate::sigmoid(v);
  }
  [[gnu::always_inline]] static inline void run(const float* g, float* h, int64_t m, bool tanh) {
    int64_t k = 0;
    for (; k + 16 <= m; k += 16) {  // h may alias g: each block is read before it is written
      gate::v16 v;
      std::memcpy(&v, g + k, sizeof v);
      v = act(v, tanh);
      std::memcpy(h + k, &v, sizeof v);
    }
    if (k < m) {
      alignas(64) float buf[16] = {};
      std::memcpy(buf, g + k, sizeof(float) * (m - k));
      gate::v16 v;
      std::memcpy(&v, buf, sizeof v);
      v = act(v, tanh);
      std::memcpy(buf, &v, sizeof v);
      std::memcpy(h + k, buf, sizeof(float) * (m - k));
    }
  }
};

}  // namespace

// ==================================================================== RNN (and Jordan's two layers)

template <class T>
void rnn_cell_forward(const T* g, T* h, int64_t m, Activation act) {
  if (act == Activation::Identity && g == h) return;  // in place: nothing to do (Jordan's default output)
  if constexpr (std::is_same_v<T, float>) {  // vector kernels (expf per element was 6% of a Jordan
    if (act == Activation::Tanh || act == Activation::Sigmoid)  // training step)
      return isa::dispatch<GateActF32>(g, h, m, act == Activation::Tanh);
  }
  with_activation(act, [&]<Activation A>() {
    for (int64_t k = 0; k < m; ++k) h[k] = act_forward<A>(g[k]);
  });
}

template <class T>
void rnn_cell_backward(const T* dh, const T* h, T* dg, int64_t m, Activation act, const T* add) {
  if constexpr (std::is_same_v<T, float>) return isa::dispatch<RnnBackwardF32>(dh, h, dg, m, act, add);
  with_activation(act, [&]<Activation A>() {
    for (int64_t k = 0; k < m; ++k) dg[k] = (add ? dh[k] + add[k] : dh[k]) * act_grad_from_output<A>(h[k]);
  });
}

// ==================================================================== LSTM

template <class T>
void lstm_cell_forward(T* g, const T* c_prev, T* c, T* h, const T* peep, int64_t n, int64_t H, Activation act) {
  with_activation(act, [&]<Activation A>() {
    for (int64_t b = 0; b < n; ++b) {
      T* __restrict gi = g + b * 4 * H;
      T* __restrict gf = gi + H;
      T* __restrict gu = gi + 2 * H;
      T* __restrict go = gi + 3 * H;
      const T* __restrict cp = c_prev + b * H;
      T* __restrict cr = c + b * H;
      T* __restrict hr = h + b * H;
      if (peep) {
        const T *wci = peep, *wcf = peep + H, *wco = peep + 2 * H;
        for (int64_t j = 0; j < H; ++j) {
          const T i = rnn_sigmoid(gi[j] + wci[j] * cp[j]), f = rnn_sigmoid(gf[j] + wcf[j] * cp[j]);
          const T u = act_forward<A>(gu[j]);
          const T ct = f * cp[j] + i * u;
          const T o = rnn_sigmoid(go[j] + wco[j] * ct);
          gi[j] = i, gf[j] = f, gu[j] = u, go[j] = o;
          cr[j] = ct;
          hr[j] = o * act_forward<A>(ct);
        }
      } else {
        for (int64_t j = 0; j < H; ++j) {
          const T i = rnn_sigmoid(gi[j]), f = rnn_sigmoid(gf[j]), u = act_forward<A>(gu[j]), o = rnn_sigmoid(go[j]);
          const T ct = f * cp[j] + i * u;
          gi[j] = i, gf[j] = f, gu[j] = u, go[j] = o;
          cr[j] = ct;
          hr[j] = o * act_forward<A>(ct);
        }
      }
    }
  });
}

template <class T>
void lstm_cell_backward(const T* dh, T* dc, const T* g, const T* c, const T* c_prev, const T* peep, T* dg, int64_t n,
                        int64_t H, Activation act) {
  with_activation(act, [&]<Activation A>() {
    for (int64_t b = 0; b < n; ++b) {
      const T* __restrict gi = g + b * 4 * H;
      const T* __restrict gf = gi + H, * __restrict gu = gi + 2 * H, * __restrict go = gi + 3 * H;
      T* __restrict di = dg + b * 4 * H;
      T* __restrict df = di + H, * __restrict du = di + 2 * H, * __restrict dout = di + 3 * H;
      const T* __restrict dhr = dh + b * H, * __restrict cr = c + b * H, * __restrict cp = c_prev + b * H;
      T* __restrict dcr = dc + b * H;
      const T zero(0);
      for (int64_t j = 0; j < H; ++j) {
        const T wci = peep ? peep[j] : zero, wcf = peep ? peep[H + j] : zero, wco = peep ? peep[2 * H + j] : zero;
        const T i = gi[j], f = gf[j], u = gu[j], o = go[j];
        const T ac = act_forward<A>(cr[j]);
        const T dot = dhr[j] * ac * o * (T(1) - o);
        const T dct = dcr[j] + dhr[j] * o * act_grad_from_output<A>(ac) + dot * wco;
        const T dit = dct * u * i * (T(1) - i);
        const T dft = dct * cp[j] * f * (T(1) - f);
        di[j] = dit;
        df[j] = dft;
        du[j] = dct * i * act_grad_from_output<A>(u);
        dout[j] = dot;
        dcr[j] = dct * f + dit * wci + dft * wcf;
      }
    }
  });
}

// ==================================================================== GRU

template <class T>
void gru_cell_forward(T* g, const T* s, const T* b_hn, const T* h_prev, T* h, T* hn, int64_t n, int64_t H) {
  for (int64_t b = 0; b < n; ++b) {
    T* __restrict gr = g + b * 3 * H;
    T* __restrict gz = gr + H, * __restrict gn = gr + 2 * H;
    const T* __restrict sr = s + b * 3 * H;
    const T* __restrict sz = sr + H, * __restrict sn = sr + 2 * H;
    const T* __restrict hp = h_prev + b * H;
    T* __restrict hr = h + b * H, * __restrict hnr = hn + b * H;
    if constexpr (std::is_same_v<T, float>) {
      // float: the three activations as array passes of the vectorised vsigmoid / vtanh
      // (kernels/vecmath.h; the scalar expf of rnn_sigmoid/rnn_tanh does not vectorise, and
      // was most of this pass). r and z are contiguous: one sigmoid pass over 2H.
      for (int64_t j = 0; j < 2 * H; ++j) gr[j] += sr[j];
      vsigmoid(gr, gr, 2 * H);
      for (int64_t j = 0; j < H; ++j) {
        const T a = sn[j] + (b_hn ? b_hn[j] : T(0));
        hnr[j] = a;
        gn[j] += gr[j] * a;
      }
      vtanh(gn, gn, H);
      for (int64_t j = 0; j < H; ++j) hr[j] = (T(1) - gz[j]) * gn[j] + gz[j] * hp[j];
    } else {
      for (int64_t j = 0; j < H; ++j) {
        const T r = rnn_sigmoid(gr[j] + sr[j]), z = rnn_sigmoid(gz[j] + sz[j]);
        const T a = sn[j] + (b_hn ? b_hn[j] : T(0));
        const T nn = rnn_tanh(gn[j] + r * a);
        gr[j] = r, gz[j] = z, gn[j] = nn;
        hnr[j] = a;
        hr[j] = (T(1) - z) * nn + z * hp[j];
      }
    }
  }
}

template <class T>
void gru_cell_backward(const T* dh, const T* g, const T* hn, const T* h_prev, T* dgi, T* dgh, T* dh_prev, int64_t n,
                       int64_t H) {
  for (int64_t b = 0; b < n; ++b) {
    const T* __restrict gr = g + b * 3 * H;
    const T* __restrict gz = gr + H, * __restrict gn = gr + 2 * H;
    const T* __restrict hnr = hn + b * H, * __restrict hp = h_prev + b * H;
    const T* dhr = dh + b * H;  // may alias dh_prev
    T* dhp = dh_prev + b * H;
    T* __restrict ir = dgi + b * 3 * H;
    T* __restrict hr = dgh + b * 3 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T r = gr[j], z = gz[j], nn = gn[j], d = dhr[j];
      const T dnt = d * (T(1) - z) * (T(1) - nn * nn);
      const T dzt = d * (hp[j] - nn) * z * (T(1) - z);
      const T drt = dnt * hnr[j] * r * (T(1) - r);
      ir[j] = drt, ir[H + j] = dzt, ir[2 * H + j] = dnt;
      hr[j] = drt, hr[H + j] = dzt, hr[2 * H + j] = dnt * r;
      dhp[j] = d * z;
    }
  }
}

// ==================================================================== reductions
// One loop each, accumulating: the whole-sequence fast path adds each row range's rows during
// backward through time; column_sum / lstm_peephole_grad zero first and add all rows at once.

namespace {
template <class T>
struct ColumnSumAdd {
  [[gnu::always_inline]] static inline void run(const T* a, int64_t rows, int64_t cols, T* out) {
    T* __restrict o = out;
    for (int64_t r = 0; r < rows; ++r) {
      const T* __restrict ar = a + r * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) o[j] += ar[j];
    }
  }
};
template <class T>
struct PeepholeGradAdd {
  [[gnu::always_inline]] static inline void run(const T* dg, const T* c_prev, const T* c, int64_t rows, int64_t H,
                                                T* dpeep) {
    T* __restrict wi = dpeep;
    T* __restrict wf = dpeep + H;
    T* __restrict wo = dpeep + 2 * H;
    for (int64_t r = 0; r < rows; ++r) {
      const T* __restrict d = dg + r * 4 * H;
      const T* __restrict cp = c_prev + r * H;
      const T* __restrict cr = c + r * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        wi[j] += d[j] * cp[j];
        wf[j] += d[H + j] * cp[j];
        wo[j] += d[3 * H + j] * cr[j];
      }
    }
  }
};
}  // namespace

template <class T>
void column_sum_add(const T* a, int64_t rows, int64_t cols, T* out) {
  isa::dispatch<ColumnSumAdd<T>>(a, rows, cols, out);
}

template <class T>
void lstm_peephole_grad_add(const T* dg, const T* c_prev, const T* c, int64_t rows, int64_t H, T* dpeep) {
  isa::dispatch<PeepholeGradAdd<T>>(dg, c_prev, c, rows, H, dpeep);
}

template <class T>
void column_sum(const T* a, T* out, int64_t rows, int64_t cols) {
  std::memset(out, 0, sizeof(T) * cols);
  column_sum_add<T>(a, rows, cols, out);
}

template <class T>
void lstm_peephole_grad(const T* dg, const T* c_prev, const T* c, T* dpeep, int64_t rows, int64_t H) {
  std::memset(dpeep, 0, sizeof(T) * 3 * H);
  lstm_peephole_grad_add<T>(dg, c_prev, c, rows, H, dpeep);
}

// ==================================================================== instantiations

template void rnn_cell_forward<float>(const float*, float*, int64_t, Activation);
template void rnn_cell_backward<float>(const float*, const float*, float*, int64_t, Activation, const float*);
template void lstm_cell_forward<float>(float*, const float*, float*, float*, const float*, int64_t, int64_t,
                                       Activation);
template void lstm_cell_backward<float>(const float*, float*, const float*, const float*, const float*, const float*,
                                        float*, int64_t, int64_t, Activation);
template void gru_cell_forward<float>(float*, const float*, const float*, const float*, float*, float*, int64_t,
                                      int64_t);
template void gru_cell_backward<float>(const float*, const float*, const float*, const float*, float*, float*, float*,
                                       int64_t, int64_t);
template void column_sum<float>(const float*, float*, int64_t, int64_t);
template void column_sum_add<float>(const float*, int64_t, int64_t, float*);
template void lstm_peephole_grad_add<float>(const float*, const float*, const float*, int64_t, int64_t, float*);
template void lstm_peephole_grad<float>(const float*, const float*, const float*, float*, int64_t, int64_t);
template void rnn_cell_forward<double>(const double*, double*, int64_t, Activation);
template void rnn_cell_backward<double>(const double*, const double*, double*, int64_t, Activation, const double*);
template void lstm_cell_forward<double>(double*, const double*, double*, double*, const double*, int64_t, int64_t,
                                        Activation);
template void lstm_cell_backward<double>(const double*, double*, const double*, const double*, const double*,
                                         const double*, double*, int64_t, int64_t, Activation);
template void gru_cell_forward<double>(double*, const double*, const double*, const double*, double*, double*, int64_t,
                                       int64_t);
template void gru_cell_backward<double>(const double*, const double*, const double*, const double*, double*, double*,
                                        double*, int64_t, int64_t);
template void column_sum<double>(const double*, double*, int64_t, int64_t);
template void column_sum_add<double>(const double*, int64_t, int64_t, double*);
template void lstm_peephole_grad_add<double>(const double*, const double*, const double*, int64_t, int64_t, double*);
template void lstm_peephole_grad<double>(const double*, const double*, const double*, double*, int64_t, int64_t);

}  // namespace seqnn::kernels
