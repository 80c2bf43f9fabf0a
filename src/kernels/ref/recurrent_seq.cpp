// Naive reference of kernels/recurrent_seq.h: the recurrent product as plain dot products in
// double, then the cell math of kernels/recurrent.h with std:: functions.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/recurrent_seq.h"

#include "kernels/ref/cell_math.h"

namespace seqnn::kernels::ref {

void seq_forward_rows(StepCell cell, int64_t r0, int64_t r1, int64_t H, const float* h_prev, float* g,
                      const float* c_prev, float* c, float* h, float* hn, const float* w_hh, const float* peep,
                      const float* b_hn, Activation act) {
  const int64_t G = step_gates(cell), GH = G * H;
  std::vector<double> s(GH);
  for (int64_t b = r0; b < r1; ++b) {
    for (int64_t r = 0; r < GH; ++r) {  // s = W_hh h_prev
      double acc = 0.0;
      for (int64_t k = 0; k < H; ++k) acc += static_cast<double>(w_hh[r * H + k]) * h_prev[b * H + k];
      s[r] = acc;
    }
    float* gr = g + b * GH;
    for (int64_t j = 0; j < H; ++j) {
      const int64_t o = b * H + j;
      switch (cell) {
        case StepCell::RnnTanh: h[o] = static_cast<float>(std::tanh(gr[j] + s[j])); break;
        case StepCell::RnnRelu: h[o] = static_cast<float>(std::max(0.0, gr[j] + s[j])); break;
        case StepCell::Lstm: {
          const LstmUnit u = lstm_unit(gr[j] + s[j], gr[H + j] + s[H + j], gr[2 * H + j] + s[2 * H + j],
                                       gr[3 * H + j] + s[3 * H + j], c_prev[o], peep, H, j, act);
          gr[j] = static_cast<float>(u.i), gr[H + j] = static_cast<float>(u.f);
          gr[2 * H + j] = static_cast<float>(u.g), gr[3 * H + j] = static_cast<float>(u.o);
          c[o] = static_cast<float>(u.c);
          h[o] = static_cast<float>(u.h);
          break;
        }
        case StepCell::Gru: {
          const double a = s[2 * H + j] + (b_hn ? b_hn[j] : 0.0);
          const GruUnit u = gru_unit(gr[j] + s[j], gr[H + j] + s[H + j], gr[2 * H + j], a, h_prev[o]);
          gr[j] = static_cast<float>(u.r), gr[H + j] = static_cast<float>(u.z), gr[2 * H + j] = static_cast<float>(u.n);
          hn[o] = static_cast<float>(a);
          h[o] = static_cast<float>(u.h);
          break;
        }
        case StepCell::Linear: break;  // the step's Linear pieces (projection, Jordan): never passed here
      }
    }
  }
}

void seq_backward_gemm_rows(int64_t r0, int64_t r1, int64_t GH, int64_t R, const float* dg, const float* w_hh,
                            float* dh, bool accumulate, const float* bias) {
  for (int64_t b = r0; b < r1; ++b)
    for (int64_t k = 0; k < R; ++k) {
      double acc = accumulate ? dh[b * R + k] : bias ? bias[k] : 0.0;
      for (int64_t m = 0; m < GH; ++m) acc += static_cast<double>(dg[b * GH + m]) * w_hh[m * R + k];
      dh[b * R + k] = static_cast<float>(acc);
    }
}

}  // namespace seqnn::kernels::ref
