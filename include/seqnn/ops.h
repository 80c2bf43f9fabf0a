// seqnn/ops.h: tensor operations with autograd, PyTorch's names and semantics.
//
// Every function here checks its arguments (throwing seqnn::Error naming the op and the
// shapes), computes the forward on contiguous data through kernels/, and records a backward
// node when an input requires grad. Floating ops accept F32 and F64 (all inputs the same
// dtype); index arguments are I64; masks are Bool. Broadcasting follows NumPy/PyTorch.
//
// One source file per family: src/ops/{shape,index,elementwise,reduce,softmax,linalg,nn,loss}.cpp
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "seqnn/autograd.h"
#include "seqnn/random.h"
#include "seqnn/tensor.h"

namespace seqnn {

// ==================================================================== shape and views
// (src/ops/shape.cpp) All return views when the layout allows, copies otherwise.
Tensor reshape(const Tensor& x, const Shape& shape);  // one -1 allowed
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
// torch.unflatten: dim `dim` split into `sizes` (their product = its size; one -1 allowed).
// Always a view, whatever x's strides (unlike reshape, which copies a non-contiguous x).
Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
// Broadcasts size-1 dims (and prepends dims) to `shape`; backward sums back.
Tensor expand(const Tensor& x, const Shape& shape);
// The broadcast of two shapes, or Error(op, ...) when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Sums a gradient of broadcast shape back down to `shape` (used by every broadcasting op).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ==================================================================== indexing
// (src/ops/index.cpp)
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);  // removes dim
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index: I64 1-d
Tensor cat(const TensorList& xs, int64_t dim);
Tensor stack(const TensorList& xs, int64_t dim);
TensorList split(const Tensor& x, int64_t split_size, int64_t dim = 0);
TensorList split(const Tensor& x, const std::vector<int64_t>& split_sizes, int64_t dim = 0);
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

// ==================================================================== elementwise
// (src/ops/elementwise.cpp) Binary ops broadcast.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor pow(const Tensor& x, const Tensor& exponent);  // broadcasting
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
// approximate: "none" (exact, erf) or "tanh", as torch.nn.functional.gelu.
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor elu(const Tensor& x, double alpha = 1.0);
// Where mask (Bool, broadcast to x) is true, the value; elsewhere x. No grad through filled slots.
// As PyTorch's out-of-place masked_fill, x and mask broadcast together (output: x's shape when
// the mask broadcasts to x). x may be any dtype.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// cond (Bool) ? a : b, all three broadcast; a and b share any dtype (grads for floating).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Gradient 1 where min <= x <= max (as PyTorch), else 0. At least one bound must be given.
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
// Comparisons: Bool results, broadcasting, no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// With a scalar (x > 0, mask == 1): the scalar takes the tensor's dtype; an integer/bool
// tensor compared with a value it cannot hold is compared in float64, as PyTorch promotes.
Tensor eq(const Tensor& a, double b);
Tensor ne(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor le(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor ge(const Tensor& a, double b);
// !x for a Bool mask; for other dtypes x == 0 (as torch.logical_not).
Tensor logical_not(const Tensor& mask);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& x);

// ==================================================================== reductions
// (src/ops/reduce.cpp) dims may be negative; an empty dims list means all dims.
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
struct MaxResult {
  Tensor values;   // differentiable (gradient goes to the first maximal element)
  Tensor indices;  // I64
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);

// ==================================================================== softmax
// (src/ops/softmax.cpp) Numerically stable (max-subtracted).
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ==================================================================== linear algebra
// (src/ops/linalg.cpp) Through the one gemm() wrapper.
// torch.matmul: 1-d/2-d/batched with broadcasting of batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
// (B,n,k) x (B,k,m) -> (B,n,m)
Tensor bmm(const Tensor& a, const Tensor& b);
// x: (*, I)  weight: (O, I)  bias: (O) or undefined  ->  (*, O) = x W^T + b
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ==================================================================== nn functional
// (src/ops/nn.cpp)
// Normalises over the trailing dims given by normalized_shape; weight/bias may be undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// Inverted dropout: zeroes with probability p, scales survivors by 1/(1-p); identity when
// !training or p == 0. Draws from gen (default: the global generator).
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);
// indices: I64 any shape; weight: (V,E) -> (*, E). Rows at padding_idx get no gradient.
Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt);

// ==================================================================== losses
// (src/ops/loss.cpp)
enum class Reduction { None, Mean, Sum };

// libtorch-style options: setters chain, getters read.
class CrossEntropyOptions {
 public:
  CrossEntropyOptions& ignore_index(int64_t v) { ignore_index_ = v; return *this; }
  CrossEntropyOptions& label_smoothing(double v) { label_smoothing_ = v; return *this; }
  CrossEntropyOptions& reduction(Reduction v) { reduction_ = v; return *this; }
  CrossEntropyOptions& weight(const Tensor& v) { weight_ = v; return *this; }  // (C) class weights
  int64_t ignore_index() const { return ignore_index_; }
  double label_smoothing() const { return label_smoothing_; }
  Reduction reduction() const { return reduction_; }
  const Tensor& weight() const { return weight_; }

 private:
  int64_t ignore_index_ = -100;
  double label_smoothing_ = 0.0;
  Reduction reduction_ = Reduction::Mean;
  Tensor weight_;
};
using NLLLossOptions = CrossEntropyOptions;  // label_smoothing must stay 0 for nll_loss

// input: (N,C) or (N,C,d1,...) logits; target: (N) or (N,d1,...) I64 class indices.
Tensor cross_entropy(const Tensor& input, const Tensor& target,
                     const CrossEntropyOptions& options = CrossEntropyOptions());
// input: log-probabilities, same layouts as cross_entropy.
Tensor nll_loss(const Tensor& input, const Tensor& target, const NLLLossOptions& options = NLLLossOptions());
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// pos_weight: (C) broadcast over the last dim, or undefined.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        Reduction reduction = Reduction::Mean,
                                        const Tensor& pos_weight = Tensor());

}  // namespace seqnn
