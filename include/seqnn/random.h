// seqnn/random.h: a seeded, portable random generator and the random factories.
//
// The stream is mt19937_64 with seqnn's own transforms (not std::*_distribution, whose output
// differs between standard libraries), so a seed gives the same numbers everywhere. The state
// serialises to a string for checkpoints.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "seqnn/tensor.h"

namespace seqnn {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed);
  void seed(uint64_t s);
  uint64_t next_u64() { return engine_(); }
  double uniform();                          // [0, 1) with 53 random bits
  double uniform(double lo, double hi);      // [lo, hi)
  double normal();                           // N(0, 1), Box-Muller (caches the pair)
  double normal(double mean, double std);
  bool bernoulli(double p);
  int64_t randint(int64_t lo, int64_t hi);   // [lo, hi), unbiased
  std::string state() const;                 // serialised engine + cached normal
  void set_state(const std::string& s);      // throws Error on malformed input

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// The process-wide default generator (used when none is passed).
Generator& default_generator();
void manual_seed(uint64_t seed);

Tensor rand(const Shape& shape, DType dt = DType::F32, Generator* gen = nullptr);   // U[0,1)
Tensor randn(const Shape& shape, DType dt = DType::F32, Generator* gen = nullptr);  // N(0,1)
Tensor uniform(const Shape& shape, double lo, double hi, DType dt = DType::F32, Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double std, DType dt = DType::F32, Generator* gen = nullptr);
// Bool tensor, true with probability p.
Tensor bernoulli(const Shape& shape, double p, Generator* gen = nullptr);
Tensor randint(int64_t lo, int64_t hi, const Shape& shape, Generator* gen = nullptr);  // I64
// A random permutation of 0..n-1 (I64).
Tensor randperm(int64_t n, Generator* gen = nullptr);

}  // namespace seqnn
