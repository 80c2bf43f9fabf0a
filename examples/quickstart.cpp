// The README's quickstart, compiled so it cannot rot: a small classifier with autograd and Adam.
#include <seqnn/seqnn.h>

#include <iostream>
using namespace seqnn;

int main() {
  manual_seed(0);
  nn::Sequential model;
  model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(2, 16)));
  model.push_back(std::make_shared<nn::Tanh>());
  model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(16, 2)));
  optim::Adam opt(model.parameters(), optim::AdamOptions(1e-2));

  Tensor x = randn({256, 2});                                         // points in the plane
  Tensor y = gt(select(x, 1, 0) * select(x, 1, 1), 0.0).to(DType::I64);  // same sign: class 1
  for (int step = 0; step <= 200; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), y);                 // (N,C) logits, (N) ids
    loss.backward();
    opt.step();
    if (step % 50 == 0) std::cout << "step " << step << " loss " << loss.item() << "\n";
  }
  io::save_safetensors("quickstart.safetensors", model.state_dict());  // loads in PyTorch as is
}
