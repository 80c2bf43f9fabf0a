// The main job until the training CLI lands: train a small network on an embedded task and
// print its loss falling.
//
// Task: two interleaved spirals in the plane (a classic that a linear model cannot separate).
// Model: Linear(2,64) - Tanh - Linear(64,64) - Tanh - Linear(64,2), cross-entropy loss,
// AdamW with a cosine learning-rate schedule and gradient clipping. At the end the weights
// are written as safetensors (PyTorch's names) and read back to check the round trip.
//
//   ./build/examples/train_demo [steps=600] [out=train_demo.safetensors]
#include <seqnn/seqnn.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

using namespace seqnn;

namespace {

// N points per class on two spirals, with a little noise. x: (2N,2) float32, y: (2N) int64.
std::pair<Tensor, Tensor> spirals(int64_t n, Generator& gen) {
  std::vector<float> xs;
  std::vector<int64_t> ys;
  for (int64_t cls = 0; cls < 2; ++cls)
    for (int64_t i = 0; i < n; ++i) {
      const double r = 0.2 + 0.8 * static_cast<double>(i) / n;  // radius grows along the arm
      const double th = 3.0 * M_PI * r + cls * M_PI;
      xs.push_back(static_cast<float>(r * std::cos(th) + 0.03 * gen.normal()));
      xs.push_back(static_cast<float>(r * std::sin(th) + 0.03 * gen.normal()));
      ys.push_back(cls);
    }
  return {from_vector(xs, {2 * n, 2}), from_vector(ys, {2 * n})};
}

double accuracy(const Tensor& logits, const Tensor& y) {
  return mean(eq(argmax(logits, 1), y).to(DType::F32)).item();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int steps = argc > 1 ? std::stoi(argv[1]) : 600;
    const std::string out = argc > 2 ? argv[2] : "train_demo.safetensors";
    if (steps < 1) throw Error("train_demo: steps must be >= 1, got " + std::to_string(steps));

    manual_seed(0);
    Generator data_gen(1);
    auto [x_train, y_train] = spirals(256, data_gen);
    auto [x_test, y_test] = spirals(128, data_gen);

    nn::Sequential model;
    model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(2, 64)));
    model.push_back(std::make_shared<nn::Tanh>());
    model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(64, 64)));
    model.push_back(std::make_shared<nn::Tanh>());
    model.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(64, 2)));

    optim::AdamW opt(model.parameters(), optim::AdamWOptions(3e-2).weight_decay(1e-4));
    optim::CosineAnnealingLR sched(opt, steps, 1e-3);

    std::printf("seqnn train_demo: two spirals, MLP 2-64-64-2, AdamW + cosine LR, %d steps\n", steps);
    std::printf("runtime: %s\n", runtime_info().c_str());
    const auto t0 = std::chrono::steady_clock::now();
    for (int step = 1; step <= steps; ++step) {
      opt.zero_grad();
      Tensor logits = model.forward(x_train);
      Tensor loss = cross_entropy(logits, y_train);
      loss.backward();
      const double gnorm = optim::clip_grad_norm_(model.parameters(), 5.0);
      opt.step();
      sched.step();
      if (step == 1 || step % (steps / 10 > 0 ? steps / 10 : 1) == 0) {
        NoGradGuard ng;
        std::printf("step %4d  loss %.4f  grad-norm %7.3f  lr %.4f  train-acc %5.1f%%  test-acc %5.1f%%\n", step,
                    loss.item(), gnorm, opt.lr(), 100 * accuracy(logits, y_train),
                    100 * accuracy(model.forward(x_test), y_test));
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("trained in %.2f s (%.2f ms/step)\n", secs, 1000 * secs / steps);

    // Weights out as safetensors with PyTorch's names ("0.weight", ...), and back in.
    io::save_safetensors(out, model.state_dict());
    nn::Sequential again;
    again.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(2, 64)));
    again.push_back(std::make_shared<nn::Tanh>());
    again.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(64, 64)));
    again.push_back(std::make_shared<nn::Tanh>());
    again.push_back(std::make_shared<nn::Linear>(nn::LinearOptions(64, 2)));
    again.load_state_dict(io::load_safetensors(out).tensors);
    NoGradGuard ng;
    std::printf("wrote %s; reloaded model test-acc %.1f%%\n", out.c_str(), 100 * accuracy(again.forward(x_test), y_test));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
