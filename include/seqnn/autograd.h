// seqnn/autograd.h: the define-by-run tape.
//
// Each differentiable op that sees an input with requires_grad records one Node: a backward
// function from the gradients of its outputs to the gradients of its inputs, and edges to the
// nodes that produced those inputs. Tensor::backward() walks the nodes in reverse topological
// order, sums the gradients that meet at a node, and accumulates (+=) into the .grad of leaves.
//
// Writing an op (see src/ops/*.cpp):
//   Tensor out = ...forward...;
//   autograd::record("tanh", {x}, {out}, [y = out.detach()](const TensorList& g) {
//     return TensorList{ g[0] * (1 - y * y) };     // dL/dx = dL/dy * (1 - y^2)
//   });
// Save outputs with .detach() (a saved output that keeps its own grad_fn is a reference cycle).
// The backward function runs with grad mode off; it returns one gradient per input (an
// undefined Tensor where the input needs none), shaped like that input.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "seqnn/tensor.h"

namespace seqnn {

using TensorList = std::vector<Tensor>;

struct Edge {
  std::shared_ptr<Node> fn;          // producer of the input, or null
  int output_nr = 0;                 // which output of fn
  std::shared_ptr<TensorImpl> leaf;  // set when the input is a leaf that requires grad
};

struct Node {
  using BackwardFn = std::function<TensorList(const TensorList& grad_outputs)>;
  std::string name;
  std::vector<Edge> next;       // one per input
  std::vector<Shape> out_shapes;  // to materialise zero grads for outputs nobody used
  std::vector<DType> out_dtypes;
  BackwardFn fn;                // released after use unless retain_graph
};

// Gradient recording is on by default; NoGradGuard turns it off for a scope (per thread).
bool grad_mode_enabled();
void set_grad_mode(bool enabled);
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_mode_enabled()) { set_grad_mode(false); }
  ~NoGradGuard() { set_grad_mode(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

namespace autograd {

// True when grad mode is on and any input requires grad: the op must then call record().
bool needs_grad(const TensorList& inputs);

// Records a node for `outputs` computed from `inputs` (when needs_grad(inputs)); sets the
// outputs' grad_fn / requires_grad. Undefined inputs are allowed (e.g. an absent bias).
void record(const std::string& name, const TensorList& inputs, const TensorList& outputs,
            Node::BackwardFn fn);

// Runs the backward pass from roots with the given gradients (same shapes as roots).
void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph = false);

// Reverse-mode gradients of outputs w.r.t. inputs, returned instead of accumulated into .grad
// (like torch.autograd.grad, without create_graph). Inputs must require grad.
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool retain_graph = false);

}  // namespace autograd
}  // namespace seqnn
