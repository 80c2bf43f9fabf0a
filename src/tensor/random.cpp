// Generator and random factories.
#include "seqnn/random.h"

#include <cmath>
#include <sstream>

#include "ops/dispatch.h"

namespace seqnn {

Generator::Generator(uint64_t s) { seed(s); }

void Generator::seed(uint64_t s) {
  engine_.seed(s);
  has_spare_ = false;
  spare_ = 0.0;
}

double Generator::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
double Generator::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // Box-Muller on (0,1] x [0,1): u1 > 0 keeps log finite.
  const double u1 = 1.0 - uniform(), u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
  spare_ = r * std::sin(th);
  has_spare_ = true;
  return r * std::cos(th);
}

double Generator::normal(double mean, double std) { return mean + std * normal(); }
bool Generator::bernoulli(double p) { return uniform() < p; }

int64_t Generator::randint(int64_t lo, int64_t hi) {
  check(hi > lo, "Generator.randint", "need lo < hi, got [", lo, ", ", hi, ")");
  const uint64_t range = static_cast<uint64_t>(hi - lo);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;  // rejection keeps it unbiased
  uint64_t v;
  do v = engine_();
  while (v >= limit);
  return lo + static_cast<int64_t>(v % range);
}

std::string Generator::state() const {
  std::ostringstream os;
  os << engine_ << ' ' << has_spare_ << ' ';
  os.precision(17);
  os << std::hexfloat << spare_;
  return os.str();
}

void Generator::set_state(const std::string& s) {
  std::istringstream is(s);
  std::mt19937_64 e;
  bool hs = false;
  std::string spare_text;
  is >> e >> hs >> spare_text;
  check(!is.fail(), "Generator.set_state", "malformed generator state (", s.size(), " bytes)");
  char* end = nullptr;
  double sp = std::strtod(spare_text.c_str(), &end);
  check(end && *end == '\0', "Generator.set_state", "malformed cached normal '", spare_text, "'");
  engine_ = e;
  has_spare_ = hs;
  spare_ = sp;
}

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) { default_generator().seed(seed); }

// ==================================================================== factories

namespace {
template <class Draw>
Tensor fill_random(const Shape& shape, DType dt, const char* op, Draw draw) {
  Tensor t = empty(shape, dt);
  const int64_t n = t.numel();
  dispatch_float(dt, op, [&]<class T>() {
    T* p = t.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}
Generator& pick(Generator* g) { return g ? *g : default_generator(); }
}  // namespace

Tensor rand(const Shape& shape, DType dt, Generator* gen) {
  Generator& g = pick(gen);
  return fill_random(shape, dt, "rand", [&] { return g.uniform(); });
}

Tensor randn(const Shape& shape, DType dt, Generator* gen) {
  Generator& g = pick(gen);
  return fill_random(shape, dt, "randn", [&] { return g.normal(); });
}

Tensor uniform(const Shape& shape, double lo, double hi, DType dt, Generator* gen) {
  check(lo <= hi, "uniform", "need lo <= hi, got [", lo, ", ", hi, ")");
  Generator& g = pick(gen);
  return fill_random(shape, dt, "uniform", [&] { return g.uniform(lo, hi); });
}

Tensor normal(const Shape& shape, double mean, double std, DType dt, Generator* gen) {
  check(std >= 0, "normal", "std must be >= 0, got ", std);
  Generator& g = pick(gen);
  return fill_random(shape, dt, "normal", [&] { return g.normal(mean, std); });
}

Tensor bernoulli(const Shape& shape, double p, Generator* gen) {
  check(p >= 0 && p <= 1, "bernoulli", "p must be in [0, 1], got ", p);
  Generator& g = pick(gen);
  Tensor t = empty(shape, DType::Bool);
  bool* d = t.data_ptr<bool>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = g.bernoulli(p);
  return t;
}

Tensor randint(int64_t lo, int64_t hi, const Shape& shape, Generator* gen) {
  Generator& g = pick(gen);
  Tensor t = empty(shape, DType::I64);
  int64_t* d = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) d[i] = g.randint(lo, hi);
  return t;
}

Tensor randperm(int64_t n, Generator* gen) {
  Generator& g = pick(gen);
  Tensor t = arange(n, DType::I64);
  int64_t* d = t.data_ptr<int64_t>();
  for (int64_t i = n - 1; i > 0; --i) std::swap(d[i], d[g.randint(0, i + 1)]);  // Fisher-Yates
  return t;
}

}  // namespace seqnn
