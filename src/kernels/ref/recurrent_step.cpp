// Naive reference of kernels/recurrent_step.h: gates as plain dot products, then the cell.
#include <cmath>
#include <vector>

#include "kernels/recurrent_step.h"

namespace seqnn::kernels::ref {

void recurrent_step(StepCell cell, int64_t B, int64_t I, int64_t H, int64_t R, const float* x, const float* h_prev,
                    const float* c_prev, const float* w_ih, const float* w_hh, const float* b_ih, const float* b_hh,
                    float* h_out, float* c_out, const float* peep) {
  const int64_t G = step_gates(cell);
  std::vector<double> ax(G * H), ah(G * H);
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
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
          const double cp = c_prev[o];
          const double wci = peep ? peep[j] : 0.0, wcf = peep ? peep[H + j] : 0.0, wco = peep ? peep[2 * H + j] : 0.0;
          const double i = sig(ax[j] + ah[j] + wci * cp), f = sig(ax[H + j] + ah[H + j] + wcf * cp);
          const double g = std::tanh(ax[2 * H + j] + ah[2 * H + j]);
          const double c = f * cp + i * g;
          const double og = sig(ax[3 * H + j] + ah[3 * H + j] + wco * c);
          c_out[o] = static_cast<float>(c);
          h_out[o] = static_cast<float>(og * std::tanh(c));
          break;
        }
        case StepCell::Gru: {
          const double r = sig(ax[j] + ah[j]), z = sig(ax[H + j] + ah[H + j]);
          const double n = std::tanh(ax[2 * H + j] + r * ah[2 * H + j]);
          h_out[o] = static_cast<float>((1.0 - z) * n + z * h_prev[o]);
          break;
        }
      }
    }
  }
}

}  // namespace seqnn::kernels::ref
