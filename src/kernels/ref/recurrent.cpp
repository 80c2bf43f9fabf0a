// Naive reference of one step of each recurrent cell (math in seqnn/recurrent.h): matmuls as
// loops, row by row, activation derivatives taken from the pre-activation (the fast kernels take
// them from the output), backward by recomputing the forward. Used only by tests.
#include <cmath>
#include <vector>

#include "kernels/recurrent.h"

namespace seqnn::kernels::ref {

namespace {

double act(Activation a, double x) {
  switch (a) {
    case Activation::Tanh: return std::tanh(x);
    case Activation::Relu: return x > 0 ? x : 0;
    case Activation::Sigmoid: return 1 / (1 + std::exp(-x));
    case Activation::Identity: return x;
  }
  return x;
}
// d act(x) / dx
double dact(Activation a, double x) {
  switch (a) {
    case Activation::Tanh: return 1 - std::tanh(x) * std::tanh(x);
    case Activation::Relu: return x > 0 ? 1 : 0;
    case Activation::Sigmoid: return act(a, x) * (1 - act(a, x));
    case Activation::Identity: return 1;
  }
  return 1;
}
double sig(double x) { return act(Activation::Sigmoid, x); }
double dsig(double x) { return dact(Activation::Sigmoid, x); }

int64_t gates_of(CellType c) { return c == CellType::LSTM ? 4 : c == CellType::GRU ? 3 : 1; }

// y(M) = W(M,K) v(K) + b(M) (b may be null)
template <class T>
std::vector<double> matvec(const T* W, const T* b, const T* v, int64_t M, int64_t K) {
  std::vector<double> y(M);
  for (int64_t m = 0; m < M; ++m) {
    double s = b ? b[m] : 0;
    for (int64_t k = 0; k < K; ++k) s += static_cast<double>(W[m * K + k]) * v[k];
    y[m] = s;
  }
  return y;
}

// The forward quantities of one row, kept for the backward.
struct RowState {
  std::vector<double> gx, gh;   // input and hidden pre-activations (with their biases)
  std::vector<double> pre;      // final pre-activations of the gates
  std::vector<double> gate;     // activated gates (LSTM i,f,u,o; GRU r,z,n; RNN/Jordan a)
  std::vector<double> c, m, h;  // LSTM c_t, o*act(c_t); output h (or y)
  std::vector<double> q;        // Jordan output pre-activation
};

template <class T>
RowState row_forward(const RecurrentSpec& spec, const CellDims& d, const CellParams<T>& p, const T* x, const T* hp,
                     const T* cp) {
  const int64_t H = d.H, G = gates_of(spec.cell);
  RowState s;
  s.gx = matvec(p.w_ih, p.b_ih, x, G * H, d.I);
  s.gh = matvec(p.w_hh, p.b_hh, hp, G * H, d.R);
  s.pre.assign(G * H, 0);
  s.gate.assign(G * H, 0);
  switch (spec.cell) {
    case CellType::RNN:
    case CellType::Jordan:
      for (int64_t j = 0; j < H; ++j) {
        s.pre[j] = s.gx[j] + s.gh[j];
        s.gate[j] = act(spec.activation, s.pre[j]);
      }
      if (spec.cell == CellType::RNN) {
        s.h = s.gate;
      } else {
        std::vector<T> a(s.gate.begin(), s.gate.end());
        s.q = matvec(p.w_ho, p.b_ho, a.data(), d.R, H);
        s.h.resize(d.R);
        for (int64_t o = 0; o < d.R; ++o) s.h[o] = act(spec.output_activation, s.q[o]);
      }
      break;
    case CellType::LSTM: {
      s.c.resize(H);
      s.m.resize(H);
      for (int64_t k = 0; k < 4 * H; ++k) s.pre[k] = s.gx[k] + s.gh[k];
      for (int64_t j = 0; j < H; ++j) {
        if (p.w_peep) {
          s.pre[j] += p.w_peep[j] * cp[j];
          s.pre[H + j] += p.w_peep[H + j] * cp[j];
        }
        const double i = sig(s.pre[j]), f = sig(s.pre[H + j]), u = act(spec.activation, s.pre[2 * H + j]);
        s.c[j] = f * cp[j] + i * u;
        if (p.w_peep) s.pre[3 * H + j] += p.w_peep[2 * H + j] * s.c[j];
        const double o = sig(s.pre[3 * H + j]);
        s.gate[j] = i, s.gate[H + j] = f, s.gate[2 * H + j] = u, s.gate[3 * H + j] = o;
        s.m[j] = o * act(spec.activation, s.c[j]);
      }
      if (p.w_hr) {
        std::vector<T> m(s.m.begin(), s.m.end());
        s.h = matvec<T>(p.w_hr, nullptr, m.data(), d.R, H);
      } else {
        s.h = s.m;
      }
      break;
    }
    case CellType::GRU:
      s.h.resize(H);
      for (int64_t j = 0; j < H; ++j) {
        s.pre[j] = s.gx[j] + s.gh[j];
        s.pre[H + j] = s.gx[H + j] + s.gh[H + j];
        const double r = sig(s.pre[j]), z = sig(s.pre[H + j]);
        s.pre[2 * H + j] = s.gx[2 * H + j] + r * s.gh[2 * H + j];
        const double n = std::tanh(s.pre[2 * H + j]);
        s.gate[j] = r, s.gate[H + j] = z, s.gate[2 * H + j] = n;
        s.h[j] = (1 - z) * n + z * hp[j];
      }
      break;
  }
  return s;
}

}  // namespace

// ==================================================================== forward

template <class T>
void cell_forward(const RecurrentSpec& spec, const CellDims& d, const CellParams<T>& p, const T* x, const T* h_prev,
                  const T* c_prev, T* h, T* c) {
  for (int64_t b = 0; b < d.B; ++b) {
    const RowState s = row_forward(spec, d, p, x + b * d.I, h_prev + b * d.R, c_prev ? c_prev + b * d.H : nullptr);
    for (int64_t k = 0; k < d.R; ++k) h[b * d.R + k] = static_cast<T>(s.h[k]);
    if (spec.cell == CellType::LSTM)
      for (int64_t j = 0; j < d.H; ++j) c[b * d.H + j] = static_cast<T>(s.c[j]);
  }
}

// ==================================================================== backward

template <class T>
void cell_backward(const RecurrentSpec& spec, const CellDims& d, const CellParams<T>& p, const T* x, const T* h_prev,
                   const T* c_prev, const T* dh, const T* dc, T* dx, T* dh_prev, T* dc_prev,
                   const CellGrads<T>& grads) {
  const int64_t H = d.H, R = d.R, I = d.I, G = gates_of(spec.cell), GH = G * H;
  for (int64_t b = 0; b < d.B; ++b) {
    const T *xb = x + b * I, *hp = h_prev + b * R, *cp = c_prev ? c_prev + b * H : nullptr, *dhb = dh + b * R;
    const RowState s = row_forward(spec, d, p, xb, hp, cp);
    std::vector<double> dgx(GH, 0), dgh(GH, 0), dhp(R, 0), dcp(H, 0);
    switch (spec.cell) {
      case CellType::RNN:
        for (int64_t j = 0; j < H; ++j) dgx[j] = dgh[j] = dhb[j] * dact(spec.activation, s.pre[j]);
        break;
      case CellType::Jordan: {
        std::vector<double> da(H, 0);
        for (int64_t o = 0; o < R; ++o) {
          const double dq = dhb[o] * dact(spec.output_activation, s.q[o]);
          grads.b_ho[o] += static_cast<T>(dq);
          for (int64_t j = 0; j < H; ++j) {
            grads.w_ho[o * H + j] += static_cast<T>(dq * s.gate[j]);
            da[j] += dq * p.w_ho[o * H + j];
          }
        }
        for (int64_t j = 0; j < H; ++j) dgx[j] = dgh[j] = da[j] * dact(spec.activation, s.pre[j]);
        break;
      }
      case CellType::LSTM: {
        std::vector<double> dm(H, 0);
        if (p.w_hr) {
          for (int64_t q = 0; q < R; ++q)
            for (int64_t j = 0; j < H; ++j) {
              dm[j] += dhb[q] * p.w_hr[q * H + j];
              grads.w_hr[q * H + j] += static_cast<T>(dhb[q] * s.m[j]);
            }
        } else {
          for (int64_t j = 0; j < H; ++j) dm[j] = dhb[j];
        }
        for (int64_t j = 0; j < H; ++j) {
          const double i = s.gate[j], f = s.gate[H + j], u = s.gate[2 * H + j], o = s.gate[3 * H + j];
          const double dpo = dm[j] * act(spec.activation, s.c[j]) * dsig(s.pre[3 * H + j]);
          double dct = dc[b * H + j] + dm[j] * o * dact(spec.activation, s.c[j]);
          if (p.w_peep) {
            dct += dpo * p.w_peep[2 * H + j];
            grads.w_peep[2 * H + j] += static_cast<T>(dpo * s.c[j]);
          }
          const double dpi = dct * u * dsig(s.pre[j]), dpf = dct * cp[j] * dsig(s.pre[H + j]);
          const double dpu = dct * i * dact(spec.activation, s.pre[2 * H + j]);
          dcp[j] = dct * f;
          if (p.w_peep) {
            dcp[j] += dpi * p.w_peep[j] + dpf * p.w_peep[H + j];
            grads.w_peep[j] += static_cast<T>(dpi * cp[j]);
            grads.w_peep[H + j] += static_cast<T>(dpf * cp[j]);
          }
          dgx[j] = dpi, dgx[H + j] = dpf, dgx[2 * H + j] = dpu, dgx[3 * H + j] = dpo;
        }
        dgh = dgx;
        break;
      }
      case CellType::GRU:
        for (int64_t j = 0; j < H; ++j) {
          const double r = s.gate[j], z = s.gate[H + j], n = s.gate[2 * H + j];
          const double dn = dhb[j] * (1 - z), dz = dhb[j] * (hp[j] - n);
          dhp[j] = dhb[j] * z;
          const double dpn = dn * (1 - n * n);
          const double dr = dpn * s.gh[2 * H + j];
          dgx[j] = dgh[j] = dr * dsig(s.pre[j]);
          dgx[H + j] = dgh[H + j] = dz * dsig(s.pre[H + j]);
          dgx[2 * H + j] = dpn;
          dgh[2 * H + j] = dpn * r;
        }
        break;
    }
    // Shared: the two affine maps into the gates.
    for (int64_t i = 0; i < I; ++i) {
      double sx = 0;
      for (int64_t k = 0; k < GH; ++k) sx += dgx[k] * p.w_ih[k * I + i];
      dx[b * I + i] = static_cast<T>(sx);
    }
    for (int64_t r = 0; r < R; ++r) {
      double sh = dhp[r];
      for (int64_t k = 0; k < GH; ++k) sh += dgh[k] * p.w_hh[k * R + r];
      dh_prev[b * R + r] = static_cast<T>(sh);
    }
    if (spec.cell == CellType::LSTM)
      for (int64_t j = 0; j < H; ++j) dc_prev[b * H + j] = static_cast<T>(dcp[j]);
    for (int64_t k = 0; k < GH; ++k) {
      for (int64_t i = 0; i < I; ++i) grads.w_ih[k * I + i] += static_cast<T>(dgx[k] * xb[i]);
      for (int64_t r = 0; r < R; ++r) grads.w_hh[k * R + r] += static_cast<T>(dgh[k] * hp[r]);
      if (grads.b_ih) grads.b_ih[k] += static_cast<T>(dgx[k]);
      if (grads.b_hh) grads.b_hh[k] += static_cast<T>(dgh[k]);
    }
  }
}

template void cell_forward<float>(const RecurrentSpec&, const CellDims&, const CellParams<float>&, const float*,
                                  const float*, const float*, float*, float*);
template void cell_forward<double>(const RecurrentSpec&, const CellDims&, const CellParams<double>&, const double*,
                                   const double*, const double*, double*, double*);
template void cell_backward<float>(const RecurrentSpec&, const CellDims&, const CellParams<float>&, const float*,
                                   const float*, const float*, const float*, const float*, float*, float*, float*,
                                   const CellGrads<float>&);
template void cell_backward<double>(const RecurrentSpec&, const CellDims&, const CellParams<double>&, const double*,
                                    const double*, const double*, const double*, const double*, double*, double*,
                                    double*, const CellGrads<double>&);

}  // namespace seqnn::kernels::ref
