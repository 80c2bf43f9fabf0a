// nn::init: in-place initialisers with PyTorch's fan and gain formulas (see the header).
#include "seqnn/nn/init.h"

#include <cmath>

#include "seqnn/autograd.h"

namespace seqnn::nn::init {

namespace {

// Fills every element of a contiguous floating tensor with draw().
template <class Draw>
Tensor fill_with(Tensor t, const char* op, Draw draw) {
  check(t.defined(), op, "tensor is undefined");
  check(t.is_floating_point(), op, "needs a floating tensor, got ", dtype_name(t.dtype()));
  check(t.is_contiguous(), op, "needs a contiguous tensor, got shape ", t.shape(), " strides ", t.strides());
  NoGradGuard no_grad;
  const int64_t n = t.numel();
  if (t.dtype() == DType::F32) {
    float* p = t.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(draw());
  } else {
    double* p = t.data_ptr<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = draw();
  }
  return t;
}

Generator& gen_or_default(Generator* gen) { return gen ? *gen : default_generator(); }

int64_t fan_for_mode(const Tensor& t, const std::string& mode, const char* op) {
  check(mode == "fan_in" || mode == "fan_out", op, "mode \"", mode, "\" not supported, please use one of fan_in, fan_out");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return mode == "fan_in" ? fan_in : fan_out;
}

}  // namespace

// ==================================================================== fans and gains

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  check(t.defined() && t.dim() >= 2, "nn.init.calculate_fan_in_and_fan_out",
        "fan in and fan out can not be computed for tensor with fewer than 2 dimensions, got shape ",
        shape_or_none(t));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nl, std::optional<double> param) {
  if (nl == "linear" || nl == "conv1d" || nl == "conv2d" || nl == "conv3d" || nl == "conv_transpose1d" ||
      nl == "conv_transpose2d" || nl == "conv_transpose3d" || nl == "sigmoid")
    return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") {
    const double slope = param.value_or(0.01);
    return std::sqrt(2.0 / (1.0 + slope * slope));
  }
  if (nl == "selu") return 3.0 / 4.0;
  fail("nn.init.calculate_gain", "unsupported nonlinearity \"", nl, "\"");
}

// ==================================================================== plain fills

Tensor uniform_(Tensor t, double a, double b, Generator* gen) {
  check(a <= b, "nn.init.uniform_", "needs a <= b, got a=", a, " b=", b);
  Generator& g = gen_or_default(gen);
  return fill_with(std::move(t), "nn.init.uniform_", [&] { return g.uniform(a, b); });
}

Tensor normal_(Tensor t, double mean, double std, Generator* gen) {
  check(std >= 0, "nn.init.normal_", "std must be >= 0, got ", std);
  Generator& g = gen_or_default(gen);
  return fill_with(std::move(t), "nn.init.normal_", [&] { return g.normal(mean, std); });
}

Tensor constant_(Tensor t, double value) {
  return fill_with(std::move(t), "nn.init.constant_", [value] { return value; });
}
Tensor zeros_(Tensor t) { return constant_(std::move(t), 0.0); }
Tensor ones_(Tensor t) { return constant_(std::move(t), 1.0); }

// ==================================================================== scaled fills

Tensor kaiming_uniform_(Tensor t, double a, const std::string& mode, const std::string& nonlinearity,
                        Generator* gen) {
  if (t.defined() && t.numel() == 0) return t;  // PyTorch: warns and does nothing
  const int64_t fan = fan_for_mode(t, mode, "nn.init.kaiming_uniform_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(t), -bound, bound, gen);
}

Tensor kaiming_normal_(Tensor t, double a, const std::string& mode, const std::string& nonlinearity,
                       Generator* gen) {
  if (t.defined() && t.numel() == 0) return t;
  const int64_t fan = fan_for_mode(t, mode, "nn.init.kaiming_normal_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  return normal_(std::move(t), 0.0, std, gen);
}

Tensor xavier_uniform_(Tensor t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (t.numel() == 0) return t;
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(t), -bound, bound, gen);
}

Tensor xavier_normal_(Tensor t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  if (t.numel() == 0) return t;
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(std::move(t), 0.0, std, gen);
}

}  // namespace seqnn::nn::init
