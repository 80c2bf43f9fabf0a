// A killed run resumed from its last checkpoint ends with the same weights, bit for bit, as a
// run that never stopped: model, optimizer state, LR schedule and the dropout RNG all restore.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/check.h"
#include "seqnn/seqnn.h"
#include "seqnn/train/checkpoint.h"

using namespace seqnn;
namespace fs = std::filesystem;

namespace {

struct Net : nn::Module {
  Net() : Module("Net") {
    body = register_module("body", std::make_shared<nn::Sequential>());
    body->push_back(std::make_shared<nn::Linear>(nn::LinearOptions(6, 16)));
    body->push_back(std::make_shared<nn::GELU>());
    body->push_back(std::make_shared<nn::Dropout>(0.3));  // draws from the default generator
    body->push_back(std::make_shared<nn::Linear>(nn::LinearOptions(16, 3)));
  }
  Tensor forward(const Tensor& x) override { return body->forward(x); }
  std::shared_ptr<nn::Sequential> body;
};

// The batch of step s is a function of s only, so a resumed run sees the same data.
void train_step(Net& net, optim::Optimizer& opt, optim::LRScheduler& sched, int64_t s) {
  Generator data(1000 + s);
  Tensor x = randn({8, 6}, DType::F32, &data);
  Tensor y = randint(0, 3, {8}, &data);
  opt.zero_grad();
  Tensor loss = cross_entropy(net.forward(x), y, CrossEntropyOptions().label_smoothing(0.1));
  loss.backward();
  optim::clip_grad_norm_(net.parameters(), 0.5);
  opt.step();
  sched.step();
}

struct TrainRun {
  explicit TrainRun(uint64_t init_seed, bool adamw) {
    manual_seed(init_seed);
    net = std::make_shared<Net>();
    if (adamw) {
      opt = std::make_unique<optim::AdamW>(net->parameters(), optim::AdamWOptions(1e-2).amsgrad(true));
      sched = std::make_unique<optim::LinearLR>(*opt, 0.2, 1.0, 5);
    } else {
      opt = std::make_unique<optim::SGD>(net->parameters(),
                                         optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-3));
      sched = std::make_unique<optim::CosineAnnealingLR>(*opt, 10, 1e-3);
    }
  }
  train::TrainingState state() { return {net.get(), opt.get(), sched.get(), &default_generator(), 0, {}}; }
  std::shared_ptr<Net> net;
  std::unique_ptr<optim::Optimizer> opt;
  std::unique_ptr<optim::LRScheduler> sched;
};

fs::path scratch(const std::string& tag) { return testutil::scratch_dir("train_ckpt", tag); }

}  // namespace

TEST(TrainCheckpoint, ResumedRunMatchesUninterruptedBitForBit) {
  for (bool adamw : {true, false}) {
    const fs::path dir = scratch(adamw ? "adamw" : "sgd");
    const int64_t total = 12, every = 5;
    // Uninterrupted run, checkpointing every 5 steps (the run that gets "killed" after 7 steps
    // would have left ckpt 5 behind).
    TrainRun a(7, adamw);
    train::TrainingState sa = a.state();
    sa.user = {{"config", "test"}};
    for (int64_t s = 0; s < total; ++s) {
      train_step(*a.net, *a.opt, *a.sched, s);
      sa.step = s + 1;
      if (sa.step % every == 0) train::save_checkpoint(io::checkpoint_path(dir, "ckpt", sa.step), sa);
    }
    fs::remove(io::checkpoint_path(dir, "ckpt", 10));  // killed between step 5 and step 10
    std::ofstream(dir / "ckpt00000010.safetensors.tmp.123") << "torn write";  // a crash mid-save

    // A new process: different init and RNG, resumes from the latest complete checkpoint.
    TrainRun b(99, adamw);
    train::TrainingState sb = b.state();
    auto last = io::latest_checkpoint(dir, "ckpt");
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->step, 5);
    train::load_checkpoint(last->path, sb);
    EXPECT_EQ(sb.step, 5);
    EXPECT_EQ(sb.user.at("config"), "test");
    for (int64_t s = sb.step; s < total; ++s) train_step(*b.net, *b.opt, *b.sched, s);

    for (const auto& [name, t] : a.net->state_dict())
      EXPECT_EQ(t.to_vector<float>(), b.net->state_dict().at(name).to_vector<float>()) << name;
    EXPECT_EQ(a.opt->lr(), b.opt->lr());
    fs::remove_all(dir);
  }
}

TEST(TrainCheckpoint, ClearErrors) {
  const fs::path dir = scratch("errors");
  TrainRun a(1, true);
  train::TrainingState sa = a.state();
  sa.scheduler = nullptr;
  const fs::path p = dir / "no_sched.safetensors";
  train::save_checkpoint(p, sa);

  TrainRun b(2, true);
  train::TrainingState sb = b.state();
  try {
    train::load_checkpoint(p, sb);
    ADD_FAILURE() << "expected an Error for a missing scheduler part";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scheduler"), std::string::npos) << e.what();
  }

  // A model of another shape: the strict state_dict error, nothing half-loaded.
  struct Other : nn::Module {
    Other() : Module("Other") { register_module("body", std::make_shared<nn::Linear>(nn::LinearOptions(2, 2))); }
  } other;
  train::TrainingState so{&other, nullptr, nullptr, nullptr, 0, {}};
  EXPECT_THROW(train::load_checkpoint(p, so), Error);

  // Truncated file.
  std::string bytes;
  {
    std::ifstream f(p, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  std::ofstream(dir / "torn.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  sb.scheduler = nullptr;
  EXPECT_THROW(train::load_checkpoint(dir / "torn.safetensors", sb), Error);
  train::TrainingState none;
  EXPECT_THROW(train::save_checkpoint(dir / "x.safetensors", none), Error);
  fs::remove_all(dir);
}
