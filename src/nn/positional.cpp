// nn/positional.cpp: sinusoidal, learned and rotary position information (seqnn/nn/positional.h).
//   PE(pos, 2i) = sin(pos * w_i),  PE(pos, 2i+1) = cos(pos * w_i),  w_i = base^(-2i/d)
//   learned:  x + weight[offset + t]
//   rotary:   (y_2m, y_2m+1) = R(pos * theta_m) (x_2m, x_2m+1),  theta_m = base^(-2m/D)
#include "seqnn/nn/positional.h"

#include <cmath>

#include "kernels/attention_score.h"
#include "ops/dispatch.h"
#include "seqnn/autograd.h"
#include "seqnn/nn/init.h"
#include "seqnn/ops.h"

namespace seqnn::nn {

namespace {

// x (L,B,E) or batch_first (B,L,E) + pe (L,E): broadcast over the batch axis.
Tensor add_positions(const Tensor& x, const Tensor& pe, bool batch_first) {
  return x + (batch_first ? pe.unsqueeze(0) : pe.unsqueeze(1));
}

void check_sequence_input(const Tensor& x, int64_t d, bool batch_first, int64_t offset, const char* op) {
  check(x.defined() && x.dim() == 3 && x.size(2) == d && x.is_floating_point(), op, "x must be floating ",
        batch_first ? "(B,L,d_model=" : "(L,B,d_model=", d, "), got ", shape_or_none(x));
  check(offset >= 0, op, "offset must be >= 0, got ", offset);
}

}  // namespace

// ==================================================================== rotary (functional)
Tensor apply_rotary(const Tensor& x_in, int64_t offset, double base) {
  const char* op = "apply_rotary";
  check(x_in.defined() && x_in.dim() >= 2 && x_in.is_floating_point(), op,
        "x must be floating (..., L, D), got ", shape_or_none(x_in));
  const int64_t L = x_in.size(-2), D = x_in.size(-1);
  check(D % 2 == 0, op, "the last dim D must be even to rotate pairs, got D=", D, " in ", x_in.shape());
  check(offset >= 0, op, "offset must be >= 0, got ", offset);
  check(base > 0, op, "base must be > 0, got ", base);
  const Tensor x = x_in.contiguous();
  const int64_t R = L * D > 0 ? x.numel() / (L * D) : 0, H = D / 2;
  // cos/sin of pos * theta_m, formed in float64: (L, D/2).
  auto cs = std::make_shared<std::vector<double>>(static_cast<size_t>(L * H));
  auto sn = std::make_shared<std::vector<double>>(static_cast<size_t>(L * H));
  for (int64_t m = 0; m < H; ++m) {
    const double theta = std::pow(base, -2.0 * static_cast<double>(m) / static_cast<double>(D));
    for (int64_t l = 0; l < L; ++l) {
      const double ang = static_cast<double>(offset + l) * theta;
      (*cs)[l * H + m] = std::cos(ang);
      (*sn)[l * H + m] = std::sin(ang);
    }
  }
  Tensor y = empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), op, [&]<class T>() {
    kernels::rotary_apply<T>(x.data_ptr<T>(), y.data_ptr<T>(), cs->data(), sn->data(), R, L, D, +1);
  });
  autograd::record(op, {x_in}, {y}, [cs, sn, R, L, D](const TensorList& g) {
    // y = R(a) x  =>  dx = R(a)^T dy = R(-a) dy
    const Tensor gy = g[0].contiguous();
    Tensor gx = empty(gy.shape(), gy.dtype());
    dispatch_float(gy.dtype(), "apply_rotary", [&]<class T>() {
      kernels::rotary_apply<T>(gy.data_ptr<T>(), gx.data_ptr<T>(), cs->data(), sn->data(), R, L, D, -1);
    });
    return TensorList{gx};
  });
  return y;
}

// ==================================================================== sinusoidal
SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(const SinusoidalPositionalEncodingOptions& o)
    : Module("SinusoidalPositionalEncoding"), options_(o) {
  check(o.d_model() > 0, "SinusoidalPositionalEncoding", "d_model must be > 0, got ", o.d_model());
  check(o.base() > 0, "SinusoidalPositionalEncoding", "base must be > 0, got ", o.base());
}

int64_t SinusoidalPositionalEncoding::cached_positions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rows_;
}

Tensor SinusoidalPositionalEncoding::encoding(int64_t offset, int64_t length, DType dt) {
  const char* op = "SinusoidalPositionalEncoding";
  check(offset >= 0 && length >= 0, op, "offset and length must be >= 0, got ", offset, " and ", length);
  check(is_floating(dt), op, "dtype must be floating, got ", dtype_name(dt));
  const int64_t d = options_.d_model();
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t need = offset + length;
  if (need > rows_) {  // grow (at least doubling) and fill the new rows
    const int64_t rows = std::max<int64_t>(need, 2 * rows_);
    table_.resize(static_cast<size_t>(rows * d));
    for (int64_t c = 0; c < d; ++c) {
      const int64_t i2 = c - (c % 2);  // 2i
      const double w = std::pow(options_.base(), -static_cast<double>(i2) / static_cast<double>(d));
      for (int64_t p = rows_; p < rows; ++p) {
        const double ang = static_cast<double>(p) * w;
        table_[p * d + c] = (c % 2 == 0) ? std::sin(ang) : std::cos(ang);
      }
    }
    rows_ = rows;
  }
  std::vector<double> rows(table_.begin() + offset * d, table_.begin() + need * d);
  return from_vector(rows, {length, d}).to(dt);
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, int64_t offset) {
  const char* op = "SinusoidalPositionalEncoding.forward";
  check_sequence_input(x, options_.d_model(), options_.batch_first(), offset, op);
  const int64_t L = options_.batch_first() ? x.size(1) : x.size(0);
  return add_positions(x, encoding(offset, L, x.dtype()), options_.batch_first());
}

// ==================================================================== learned
LearnedPositionalEncoding::LearnedPositionalEncoding(const LearnedPositionalEncodingOptions& o, Generator* gen)
    : Module("LearnedPositionalEncoding"), options_(o) {
  check(o.max_len() > 0 && o.d_model() > 0, "LearnedPositionalEncoding", "max_len and d_model must be > 0, got ",
        o.max_len(), " and ", o.d_model());
  check(is_floating(o.dtype()), "LearnedPositionalEncoding", "dtype must be floating, got ", dtype_name(o.dtype()));
  weight = register_parameter("weight", empty({o.max_len(), o.d_model()}, o.dtype()));
  reset_parameters(gen);
}

void LearnedPositionalEncoding::reset_parameters(Generator* gen) { init::normal_(weight, 0.0, 1.0, gen); }

Tensor LearnedPositionalEncoding::forward(const Tensor& x, int64_t offset) {
  const char* op = "LearnedPositionalEncoding.forward";
  check_sequence_input(x, options_.d_model(), options_.batch_first(), offset, op);
  check(x.dtype() == weight.dtype(), op, "x is ", dtype_name(x.dtype()), " but weight is ",
        dtype_name(weight.dtype()));
  const int64_t L = options_.batch_first() ? x.size(1) : x.size(0);
  if (offset + L > options_.max_len())
    fail(op, "position ", std::max(offset, options_.max_len()), " is past the table (max_len=", options_.max_len(),
         "): positions ", offset, "..", offset + L - 1, " were asked for");
  return add_positions(x, slice(weight, 0, offset, offset + L), options_.batch_first());
}

// ==================================================================== rotary module
RotaryEmbedding::RotaryEmbedding(const RotaryEmbeddingOptions& o) : Module("RotaryEmbedding"), options_(o) {
  check(o.dim() > 0 && o.dim() % 2 == 0, "RotaryEmbedding", "dim must be even and > 0, got ", o.dim());
  check(o.base() > 0, "RotaryEmbedding", "base must be > 0, got ", o.base());
}

Tensor RotaryEmbedding::apply(const Tensor& x, int64_t offset) const {
  check(x.defined() && x.dim() >= 2 && x.size(-1) == options_.dim(), "RotaryEmbedding.apply",
        "x must be (..., L, dim=", options_.dim(), "), got ", shape_or_none(x));
  return apply_rotary(x, offset, options_.base());
}

}  // namespace seqnn::nn
