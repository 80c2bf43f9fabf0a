// Built against the *installed* tree (find_package(seqnn)): the worked example that opens
// seqnn/seqnn.h, checked. Proves the exported package, the headers and both library flavours.
#include <seqnn/seqnn.h>

#include <cmath>
#include <iostream>
using namespace seqnn;

int main() {
  manual_seed(0);
  auto model = std::make_shared<nn::Linear>(nn::LinearOptions(1, 1));  // weight (1,1), bias (1)
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.1));
  Tensor x = randn({64, 1});
  Tensor y = x * 2.0 - 1.0;
  for (int step = 0; step < 100; ++step) {
    opt.zero_grad();
    Tensor loss = mse_loss(model->forward(x), y);
    loss.backward();  // reverse-mode autograd
    opt.step();
  }
  std::cout << model->weight << " " << model->bias << "\n";  // ~2 and ~-1
  const double w = model->weight.item(), b = model->bias.item();
  std::cout << "downstream: " << runtime_info() << "\n";
  return (std::fabs(w - 2) < 1e-3 && std::fabs(b + 1) < 1e-3) ? 0 : 1;
}
