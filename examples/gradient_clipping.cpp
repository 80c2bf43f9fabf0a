// Vanishing and exploding gradients, and what LSTM and clip_grad_norm_ do about them (seed 002).
//
// 1. Backpropagate from the last output of a sequence of length T to the FIRST input, and print
//    |dL/dx_1| as T grows:
//      vanilla tanh RNN (PyTorch's init)          -> shrinks geometrically (vanishing)
//      vanilla ReLU RNN with W_hh scaled by 3     -> grows geometrically (exploding)
//      LSTM (forget-gate bias +3)                 -> decays far more slowly (additive memory)
// 2. Train the exploding ReLU RNN on a long-sequence regression with SGD, without and with
//    clip_grad_norm_(max_norm=1): without clipping the loss overflows to inf/NaN within a few
//    steps; with clipping it stays finite and falls.
//
//   ./build/examples/gradient_clipping
#include <seqnn/seqnn.h>

#include <cmath>
#include <cstdio>

using namespace seqnn;

namespace {

constexpr int64_t kB = 4, kI = 8, kH = 32;
constexpr double kScale = 3.0;   // W_hh of the ReLU RNN scaled by this: spectral radius > 1
constexpr int kTrainT = 20;
constexpr double kForgetBias = 3.0;  // added to the LSTM forget gate's bias

// |dL/dx_1| for L = sum(output at the last step), x: (T,B,I).
double first_input_grad_norm(nn::RecurrentModule& rnn, int64_t T, Generator& gen) {
  Tensor x = randn({T, kB, kI}, DType::F32, &gen).requires_grad_();
  Tensor out = rnn.forward(x).output;
  select(out, 0, T - 1).sum().backward();
  Tensor g0 = select(x.grad(), 0, 0);
  return std::sqrt(sum(g0 * g0).item());
}

void scale_(Tensor t, double s) {  // t is a handle: this writes the module's tensor
  NoGradGuard ng;
  t.copy_(t * s);
}

}  // namespace

int main() {
  try {
    manual_seed(0);
    nn::RNN tanh_rnn(nn::RNNOptions(kI, kH));
    nn::RNN relu_rnn(nn::RNNOptions(kI, kH).nonlinearity(Activation::Relu));
    scale_(relu_rnn.named_parameters()["weight_hh_l0"], kScale);
    nn::LSTM lstm(nn::LSTMOptions(kI, kH));
    {  // forget gate bias (rows H..2H of bias_ih: gates i,f,g,o): the cell remembers by default
      NoGradGuard ng;
      Tensor b = lstm.named_parameters()["bias_ih_l0"];
      float* p = b.data_ptr<float>();
      for (int64_t k = kH; k < 2 * kH; ++k) p[k] += static_cast<float>(kForgetBias);
    }

    std::printf("|dL/dx_1| for L = sum of the last step's output (B=%lld, I=%lld, H=%lld)\n",
                static_cast<long long>(kB), static_cast<long long>(kI), static_cast<long long>(kH));
    std::printf("%6s %16s %16s %16s\n", "T", "tanh RNN", "ReLU RNN", "LSTM");
    for (int64_t T : {1, 5, 10, 20, 40, 80}) {
      Generator g1(T), g2(T), g3(T);
      std::printf("%6lld %16.3e %16.3e %16.3e\n", static_cast<long long>(T), first_input_grad_norm(tanh_rnn, T, g1),
                  first_input_grad_norm(relu_rnn, T, g2), first_input_grad_norm(lstm, T, g3));
    }

    // Training the exploding RNN: predict the mean of the first input feature over the sequence.
    std::printf("\nSGD(lr=0.05) on the ReLU RNN (W_hh x%.1f), T=%d: loss per step, without and with clip_grad_norm_(1.0)\n", kScale, kTrainT);
    for (bool clip : {false, true}) {
      manual_seed(1);
      nn::RNN rnn(nn::RNNOptions(kI, kH).nonlinearity(Activation::Relu));
      scale_(rnn.named_parameters()["weight_hh_l0"], kScale);
      nn::Linear head(nn::LinearOptions(kH, 1));
      std::vector<Tensor> params = rnn.parameters();
      for (const Tensor& p : head.parameters()) params.push_back(p);
      optim::SGD opt(params, optim::SGDOptions(0.05));
      Generator data(7);
      std::printf("%-14s", clip ? "with clip:" : "without clip:");
      for (int step = 0; step < 12; ++step) {
        Tensor x = randn({kTrainT, 16, kI}, DType::F32, &data);
        Tensor y = mean(select(x, 2, 0), {0}).reshape({16, 1});
        opt.zero_grad();
        Tensor h_last = select(rnn.forward(x).output, 0, kTrainT - 1);
        Tensor loss = mse_loss(head.forward(h_last), y);
        loss.backward();
        const double norm = clip ? optim::clip_grad_norm_(params, 1.0) : 0.0;
        (void)norm;
        opt.step();
        std::printf(" %9.3g", loss.item());
      }
      std::printf("\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
