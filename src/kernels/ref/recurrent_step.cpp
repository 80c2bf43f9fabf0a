// Naive reference of kernels/recurrent_step.h: gates as plain dot products, then the cell.
#include <cmath>
#include <vector>

#include "kernels/recurrent_step.h"

#include "kernels/ref/cell_math.h"

namespace seqnn::kernels::ref {

void recurrent_step(StepCell cell, int64_t B, int64_t I, int64_t H, int64_t R, const float* x, const float* h_prev,
                    const float* c_prev, const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                    float* h_out, float* c_out, const float* peep, Activation act) {
  const int64_t G = step_gates(cell);
  std::vector<double> ax(G * H), ah(G * H);
  for (int64_t b = 0; b < B; ++b) {
    // ax = W_ih x + b_ih, ah = W_hh h + b_hh
    for (int64_t r = 0; r < G * H; ++r) {
      double sx = b_ih ? b_ih[r] : 0.0, sh = b_hh ? b_hh[r] : 0.0;
      for (int64_t k = 0; k < I; ++k) sx += static_cast<double>(w_ih[r * I + k]) * x[b * I + k];
      for (int64_t k = 0; k < R; ++k) sh += static_cast<double>(w_hh[r * R + k]) * h_prev[b * R + k];
      ax[r] = sx;
      ah[r] = sh;
    }
    for (int64_t j = 0; j < H; ++j) {
      const int64_t o = b * H + j;
      switch (cell) {
        case StepCell::RnnTanh: h_out[o] = static_cast<float>(std::tanh(ax[j] + ah[j])); break;
        case StepCell::RnnRelu: h_out[o] = static_cast<float>(std::max(0.0, ax[j] + ah[j])); break;
        case StepCell::Linear: h_out[o] = static_cast<float>(ax[j] + ah[j]); break;
        case StepCell::Lstm: {
          const LstmUnit u = lstm_unit(ax[j] + ah[j], ax[H + j] + ah[H + j], ax[2 * H + j] + ah[2 * H + j],
                                       ax[3 * H + j] + ah[3 * H + j], c_prev[o], peep, H, j, act);
          c_out[o] = static_cast<float>(u.c);
          h_out[o] = static_cast<float>(u.h);
          break;
        }
        case StepCell::Gru: {
          const GruUnit u = gru_unit(ax[j] + ah[j], ax[H + j] + ah[H + j], ax[2 * H + j], ah[2 * H + j], h_prev[o]);
          h_out[o] = static_cast<float>(u.h);
          break;
        }
      }
    }
  }
}

}  // namespace seqnn::kernels::ref
