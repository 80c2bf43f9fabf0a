// The autograd engine: recording nodes and running the reverse pass.
//
// backward(roots): (1) walk the graph from the roots' grad_fns and count, for each node, how
// many edges point at it; (2) run nodes in dependency order (a node runs once every consumer
// has passed its gradient down), summing the gradients that meet at each output; (3) add the
// gradients that reach leaves into leaf.grad (or capture them for autograd::grad).
#include "seqnn/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "kernels/elementwise.h"
#include "ops/dispatch.h"
#include "seqnn/debug.h"

namespace seqnn {

namespace {
thread_local bool g_grad_mode = true;
}

bool grad_mode_enabled() { return g_grad_mode; }
void set_grad_mode(bool enabled) { g_grad_mode = enabled; }

namespace autograd {

bool needs_grad(const TensorList& inputs) {
  if (!g_grad_mode) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const std::string& name, const TensorList& inputs, const TensorList& outputs, Node::BackwardFn fn) {
  if (check_finite_enabled()) {
    // Inputs first, so a NaN that arrives from outside is blamed on its first consumer's
    // input, and an op that makes one from finite inputs is blamed for its output.
    for (size_t i = 0; i < inputs.size(); ++i) check_finite(inputs[i], name, "input " + std::to_string(i));
    for (size_t k = 0; k < outputs.size(); ++k) check_finite(outputs[k], name, "output " + std::to_string(k));
  }
  if (!needs_grad(inputs)) return;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->fn = std::move(fn);
  node->next.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    if (x.grad_fn()) {
      node->next[i].fn = x.grad_fn();
      node->next[i].output_nr = x.impl()->output_nr;
    } else {
      node->next[i].leaf = x.impl_ptr();
    }
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    TensorImpl* o = outputs[k].impl();
    node->out_shapes.push_back(o->shape);
    node->out_dtypes.push_back(o->dtype);
    if (!is_floating(o->dtype)) continue;  // index outputs (argmax) carry no gradient
    o->requires_grad = true;
    o->grad_fn = node;
    o->output_nr = static_cast<int>(k);
  }
}

namespace {

// dst += src elementwise (same shape and dtype; dst contiguous; no autograd).
// dst += src, same shape: kernels::binary's flat loop (threaded over large tensors; in place is
// fine, each element is read before it is written).
void add_into(const Tensor& dst, const Tensor& src) {
  const Tensor b = src.contiguous();
  const Shape flat{dst.numel()};
  const kernels::Broadcast L = kernels::make_broadcast(flat, {&flat, &flat});
  dispatch_float(dst.dtype(), "backward", [&]<class T>() {
    kernels::binary<T>(kernels::BinaryOp::Add, L, dst.data_ptr<T>(), b.data_ptr<T>(), dst.data_ptr<T>());
  });
}

// A gradient buffer nothing else can see: the engine's reference is the only one to its
// TensorImpl and to its storage (so no view, no other gradient, no saved tensor shares it).
bool exclusively_owned(const Tensor& t) {
  return t.impl_ptr().use_count() == 1 && t.impl()->storage.use_count() == 1 && t.is_contiguous() &&
         !t.requires_grad();
}

// acc + g for two gradients of the same shape (no autograd): into acc itself when the engine
// holds it exclusively (a sum it made earlier, or a gradient no one else references: the
// decoder loops deliver dozens of full-size gradients to one encoder output), else into a
// fresh buffer. The same additions in the same order either way.
Tensor accumulate(const Tensor& acc, const Tensor& g) {
  if (!acc.defined()) return g;
  if (!g.defined()) return acc;
  check(acc.shape() == g.shape() && acc.dtype() == g.dtype(), "backward", "gradients ", acc.shape(), " and ",
        g.shape(), " meet at one tensor");
  if (exclusively_owned(acc)) {
    add_into(acc, g);
    return acc;
  }
  Tensor out = empty(acc.shape(), acc.dtype());
  const Tensor a = acc.contiguous(), b = g.contiguous();
  const Shape flat{a.numel()};
  const kernels::Broadcast L = kernels::make_broadcast(flat, {&flat, &flat});
  dispatch_float(a.dtype(), "backward", [&]<class T>() {
    kernels::binary<T>(kernels::BinaryOp::Add, L, a.data_ptr<T>(), b.data_ptr<T>(), out.data_ptr<T>());
  });
  return out;
}

struct Run {
  // leaf impl -> captured gradient (autograd::grad), or null map to accumulate into .grad
  std::unordered_map<TensorImpl*, Tensor>* capture = nullptr;
  // non-leaf captures: (node, output_nr) -> slot in capture by impl
  std::unordered_map<Node*, std::vector<std::pair<int, TensorImpl*>>> node_captures;
};

void deliver_to_leaf(const std::shared_ptr<TensorImpl>& leaf, const Tensor& g, Run& run) {
  if (!g.defined()) return;
  check(g.shape() == leaf->shape, "backward", "gradient ", g.shape(), " does not match leaf ", leaf->shape);
  if (run.capture) {
    auto it = run.capture->find(leaf.get());
    if (it != run.capture->end()) it->second = accumulate(it->second, g);
    return;
  }
  if (!leaf->grad) {
    Tensor fresh = g.contiguous().clone().detach();  // own buffer: later += must not alias
    leaf->grad = fresh.impl_ptr();
  } else {
    Tensor acc(leaf->grad);  // in place, so optimizers holding .grad see the total
    if (acc.is_contiguous() && acc.shape() == g.shape() && acc.dtype() == g.dtype() && !acc.requires_grad())
      add_into(acc, g);
    else
      acc.copy_(accumulate(acc, g));
  }
}

void run_backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph, Run& run) {
  check(roots.size() == grad_roots.size(), "backward", roots.size(), " roots but ", grad_roots.size(),
        " gradients");
  NoGradGuard no_grad;
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, std::shared_ptr<Node>> keep;
  std::vector<Node*> stack;

  // Seed the roots.
  for (size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    check(root.defined(), "backward", "root ", r, " is undefined");
    check(root.requires_grad(), "backward", "tensor does not require grad and has no grad_fn");
    Tensor g = grad_roots[r];
    if (!g.defined()) {
      check(root.numel() == 1, "backward", "grad can be implicitly created only for one-element outputs, got ",
            root.shape(), "; pass a gradient");
      g = ones(root.shape(), root.dtype());
    }
    check(g.shape() == root.shape(), "backward", "gradient ", g.shape(), " does not match output ", root.shape());
    check(g.dtype() == root.dtype(), "backward", "gradient dtype ", dtype_name(g.dtype()), " does not match output ",
          dtype_name(root.dtype()));
    if (!root.grad_fn()) {
      deliver_to_leaf(root.impl_ptr(), g, run);
      continue;
    }
    Node* n = root.grad_fn().get();
    if (!keep.count(n)) {
      keep[n] = root.grad_fn();
      stack.push_back(n);
    }
    auto& buf = buffers[n];
    buf.resize(n->out_shapes.size());
    int k = root.impl()->output_nr;
    buf[k] = accumulate(buf[k], g);
  }

  // Count dependencies over the reachable graph.
  std::vector<Node*> order(stack);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next) {
      if (!e.fn) continue;
      Node* m = e.fn.get();
      if (deps[m]++ == 0 && !keep.count(m)) {
        keep[m] = e.fn;
        stack.push_back(m);
      }
    }
  }

  // Process nodes whose consumers are all done.
  std::vector<Node*> ready;
  for (Node* n : order)
    if (deps[n] == 0) ready.push_back(n);
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    auto& grads = buffers[n];
    grads.resize(n->out_shapes.size());
    if (auto it = run.node_captures.find(n); it != run.node_captures.end())
      for (auto [k, impl] : it->second) (*run.capture)[impl] = accumulate((*run.capture)[impl], grads[k]);
    bool any = false;
    for (size_t k = 0; k < grads.size(); ++k) {
      if (grads[k].defined()) {
        any = true;
      } else if (is_floating(n->out_dtypes[k])) {
        grads[k] = zeros(n->out_shapes[k], n->out_dtypes[k]);
      }
    }
    TensorList in_grads;
    if (any) {
      check(static_cast<bool>(n->fn), "backward",
            "trying to backward through the graph a second time (node '", n->name,
            "'); pass retain_graph=true the first time");
      in_grads = n->fn(grads);
      check(in_grads.size() == n->next.size(), "backward", "node '", n->name, "' returned ", in_grads.size(),
            " gradients for ", n->next.size(), " inputs");
      if (check_finite_enabled())
        for (size_t i = 0; i < in_grads.size(); ++i)
          check_finite(in_grads[i], "backward of " + n->name, "gradient for input " + std::to_string(i));
    }
    if (!retain_graph) n->fn = nullptr;
    buffers.erase(n);
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      const Tensor g = i < in_grads.size() ? in_grads[i] : Tensor();
      if (e.leaf) {
        deliver_to_leaf(e.leaf, g, run);
      } else if (e.fn) {
        Node* m = e.fn.get();
        if (g.defined()) {
          auto& buf = buffers[m];
          buf.resize(m->out_shapes.size());
          check(g.shape() == m->out_shapes[e.output_nr], "backward", "node '", n->name, "' gave gradient ",
                g.shape(), " for an input of shape ", m->out_shapes[e.output_nr]);
          buf[e.output_nr] = accumulate(buf[e.output_nr], g);
        }
        if (--deps[m] == 0) ready.push_back(m);
      }
    }
  }
}

}  // namespace

void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph) {
  Run run;
  run_backward(roots, grad_roots, retain_graph, run);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool retain_graph) {
  std::unordered_map<TensorImpl*, Tensor> captured;
  Run run;
  run.capture = &captured;
  for (const Tensor& x : inputs) {
    check(x.defined() && x.requires_grad(), "autograd.grad", "every input must require grad");
    captured[x.impl()];
    if (x.grad_fn()) run.node_captures[x.grad_fn().get()].push_back({x.impl()->output_nr, x.impl()});
  }
  TensorList gs = grad_outputs;
  gs.resize(outputs.size());
  run_backward(outputs, gs, retain_graph, run);
  TensorList out;
  for (const Tensor& x : inputs) {
    Tensor g = captured[x.impl()];
    out.push_back(g.defined() ? g : zeros(x.shape(), x.dtype()));
  }
  return out;
}

}  // namespace autograd
}  // namespace seqnn
