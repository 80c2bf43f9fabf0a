// seqnn/nn/init.h: parameter initialisation, torch.nn.init's functions and formulas.
//
// Every function fills the tensor in place (no autograd: it runs under NoGradGuard), draws from
// `gen` (default: the global generator), and returns the tensor. Fans follow PyTorch:
//   fan_in  = size(1) * receptive_field,  fan_out = size(0) * receptive_field,
//   receptive_field = product of size(2..)           (tensors need at least 2 dims)
// Gains (calculate_gain): linear/conv*/sigmoid 1, tanh 5/3, relu sqrt(2),
//   leaky_relu sqrt(2 / (1 + slope^2)) (slope default 0.01), selu 3/4.
//   kaiming_uniform_: bound = gain * sqrt(3 / fan)        kaiming_normal_: std = gain / sqrt(fan)
//   xavier_uniform_:  bound = gain * sqrt(6 / (fan_in + fan_out))
//   xavier_normal_:   std   = gain * sqrt(2 / (fan_in + fan_out))
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "seqnn/random.h"
#include "seqnn/tensor.h"

namespace seqnn::nn::init {

// {fan_in, fan_out}; Error for tensors with fewer than 2 dims.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);
// The recommended gain for a nonlinearity; `param` is leaky_relu's negative slope.
double calculate_gain(const std::string& nonlinearity, std::optional<double> param = std::nullopt);

Tensor uniform_(Tensor t, double a = 0.0, double b = 1.0, Generator* gen = nullptr);
Tensor normal_(Tensor t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor constant_(Tensor t, double value);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);
// mode: "fan_in" or "fan_out"; nonlinearity as calculate_gain, with `a` its parameter.
Tensor kaiming_uniform_(Tensor t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor kaiming_normal_(Tensor t, double a = 0.0, const std::string& mode = "fan_in",
                       const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
Tensor xavier_uniform_(Tensor t, double gain = 1.0, Generator* gen = nullptr);
Tensor xavier_normal_(Tensor t, double gain = 1.0, Generator* gen = nullptr);

}  // namespace seqnn::nn::init
