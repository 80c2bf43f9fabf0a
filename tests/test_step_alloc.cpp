// Issue 3: "step(): no allocation per step after the first". This binary replaces the global
// operator new with a counting one (so it is a test program of its own), and steps every module
// and cell on the fast path: after the first step (which packs the weights) no step may call
// operator new, on any thread. A Tensor, a Shape, a std::vector, a std::string past the small-
// string buffer and a shared_ptr all come from operator new, so any of them made per step fails.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "seqnn/nn/nn.h"
#include "seqnn/ops.h"
#include "seqnn/threads.h"

namespace {
std::atomic<long> g_news{0};

void* counted(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* counted_aligned(std::size_t n, std::align_val_t al) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = static_cast<std::size_t>(al);
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted(n); }
void* operator new[](std::size_t n) { return counted(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return counted(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(std::size_t n, std::align_val_t al) { return counted_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_aligned(n, al); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace seqnn;

namespace {

// operator new calls made by `steps` calls of m.step(x, state) after two warm-up steps.
template <class M>
long news_per_steps(M& m, int64_t B, int64_t I, int steps) {
  Generator gen(7);
  nn::RecurrentState state = m.initial_state(B);
  const Tensor x = randn({B, I}, DType::F32, &gen);
  m.step(x, state);  // packs the weights, sizes the scratch
  m.step(x, state);  // the team's helpers exist now
  const long before = g_news.load();
  for (int t = 0; t < steps; ++t) {
    Tensor y = m.step(x, state);
    if (!y.defined()) return -1;
  }
  return g_news.load() - before;
}

TEST(StepAllocation, CountingOperatorNewSeesTensorsMade) {
  // the counter works: making one tensor calls operator new
  const long before = g_news.load();
  Tensor t = zeros({3, 4});
  EXPECT_GT(g_news.load() - before, 0);
}

TEST(StepAllocation, NoOperatorNewPerStepOnTheFastPath) {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int64_t B : {1, 3, 8}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " B " + std::to_string(B));
      nn::LSTM lstm(nn::LSTMOptions(24, 40).num_layers(2));
      nn::LSTM peephole(nn::LSTMOptions(24, 300).num_layers(2).peephole(true));  // both threads
      nn::LSTM proj(nn::LSTMOptions(24, 300).num_layers(2).proj_size(290));
      nn::LSTM linear(nn::LSTMOptions(24, 40).activation(Activation::Identity));  // the notes' linear memory
      nn::JordanRNN jordan(nn::JordanOptions(24, 300, 200).num_layers(2).output_activation(Activation::Tanh));
      nn::GRU gru(nn::GRUOptions(24, 40));
      nn::RNN rnn_tanh(nn::RNNOptions(24, 300));  // wide enough for both threads
      nn::RNN rnn_relu(nn::RNNOptions(24, 40).nonlinearity(Activation::Relu));
      nn::LSTMCell lstm_cell(nn::LSTMCellOptions(24, 40));
      nn::GRUCell gru_cell(nn::GRUCellOptions(24, 40));
      nn::RNNCell rnn_cell(nn::RNNCellOptions(24, 40));
      EXPECT_EQ(news_per_steps(lstm, B, 24, 10), 0) << "LSTM";
      EXPECT_EQ(news_per_steps(peephole, B, 24, 10), 0) << "LSTM with peepholes";
      EXPECT_EQ(news_per_steps(proj, B, 24, 10), 0) << "LSTM with a projection";
      EXPECT_EQ(news_per_steps(linear, B, 24, 10), 0) << "LSTM with activation Identity";
      EXPECT_EQ(news_per_steps(jordan, B, 24, 10), 0) << "Jordan";
      EXPECT_EQ(news_per_steps(gru, B, 24, 10), 0) << "GRU";
      EXPECT_EQ(news_per_steps(rnn_tanh, B, 24, 10), 0) << "RNN tanh";
      EXPECT_EQ(news_per_steps(rnn_relu, B, 24, 10), 0) << "RNN relu";
      EXPECT_EQ(news_per_steps(lstm_cell, B, 24, 10), 0) << "LSTMCell";
      EXPECT_EQ(news_per_steps(gru_cell, B, 24, 10), 0) << "GRUCell";
      EXPECT_EQ(news_per_steps(rnn_cell, B, 24, 10), 0) << "RNNCell";
    }
  }
}

}  // namespace
