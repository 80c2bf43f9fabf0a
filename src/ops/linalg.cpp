// Linear algebra: matmul (torch.matmul semantics), bmm, linear. Every product goes through
// kernels::gemm / kernels::gemm_batched.
//
//   C = A B            dA = dC B^T            dB = A^T dC
//   y = x W^T + b      dx = dy W              dW = dy^T x (one gemm, K = rows)   db = colsum(dy)
//
// Operands are read in place when each matrix is row-major or a plain transpose (strides
// swapped): the transpose becomes gemm's trans flag instead of a copy. Batch dims may have any
// strides (0 where broadcast). Gradients of broadcast operands are summed over the broadcast
// batch dims by accumulating the per-batch products (beta = 1) into one buffer.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/index.h"
#include "kernels/parallel.h"
#include "ops/dispatch.h"
#include "ops/view.h"
#include "seqnn/ops.h"

namespace seqnn {

namespace {

// ==================================================================== layouts

// How an (r,c) matrix with strides (sr,sc) sits for gemm: element (i,j) at
//   normal: p[i*ld + j]        trans: p[j*ld + i]
struct MatLayout {
  bool ok = false;
  bool trans = false;
  int64_t ld = 1;
};

MatLayout mat_layout(int64_t r, int64_t c, int64_t sr, int64_t sc) {
  if ((c <= 1 || sc == 1) && (r <= 1 || sr >= std::max<int64_t>(1, c)))
    return {true, false, r <= 1 ? std::max<int64_t>(1, c) : sr};
  if ((r <= 1 || sr == 1) && (c <= 1 || sc >= std::max<int64_t>(1, r)))
    return {true, true, c <= 1 ? std::max<int64_t>(1, r) : sc};
  return {};
}

// Strides of x's batch dims (all but the last two) aligned to the broadcast batch shape,
// 0 where x has no such dim or broadcasts it.
Shape batch_strides(const Shape& shape, const Shape& strides, const Shape& batch) {
  const int64_t nb = static_cast<int64_t>(batch.size()), xb = static_cast<int64_t>(shape.size()) - 2;
  Shape out(nb, 0);
  for (int64_t i = 0; i < nb; ++i) {
    const int64_t j = i - (nb - xb);
    if (j >= 0 && shape[j] != 1) out[i] = strides[j];
  }
  return out;
}

// A matrix operand over the broadcast batch: data, gemm layout and per-batch strides.
struct Operand {
  Tensor t;  // the data (x itself, or a contiguous copy when its layout does not fit gemm)
  MatLayout lay;
  Shape bstr;
};

Operand make_operand(const Tensor& x, const Shape& batch) {
  const int64_t n = x.dim();
  auto layout = [&](const Tensor& t) {
    return mat_layout(t.shape()[n - 2], t.shape()[n - 1], t.strides()[n - 2], t.strides()[n - 1]);
  };
  Operand op{x.detach(), layout(x), {}};
  if (!op.lay.ok) {
    op.t = x.detach().contiguous();
    op.lay = layout(op.t);
  }
  op.bstr = batch_strides(op.t.shape(), op.t.strides(), batch);
  return op;
}

// The transpose of an operand's matrices: same data, flipped flag.
Operand flipped(Operand op) {
  op.lay.trans = !op.lay.trans;
  return op;
}

// True when every batch dim of size > 1 has stride 0 (one matrix shared by all batches).
bool shared(const Shape& batch, const Shape& bstr) {
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i] > 1 && bstr[i] != 0) return false;
  return true;
}

// True when the stored rows (`rows` of them, ld apart) of all batches form one matrix of
// rows * numel(batch) rows, ld apart.
bool rows_collapse(const Shape& batch, const Shape& bstr, int64_t rows, int64_t ld) {
  int64_t expect = rows * ld;
  for (size_t i = batch.size(); i-- > 0;) {
    if (batch[i] == 1) continue;
    if (bstr[i] != expect) return false;
    expect *= batch[i];
  }
  return true;
}

// ==================================================================== the batched product

// C[b] (+)= op(A[b]) op(B[b]) for every b of `batch`; C: (M,N) per batch, ld ldc, batch strides
// cstr. Where cstr is 0 over a batch dim of size > 1 the products add up (C must be zeroed).
template <class T>
void product(const Shape& batch, int64_t M, int64_t N, int64_t K, const Operand& A, const Operand& B, T* C,
             const Shape& cstr, int64_t ldc) {
  const int64_t nb = numel_of(batch);
  if (nb == 0 || M == 0 || N == 0) return;
  const T* pa = A.t.data_ptr<T>();
  const T* pb = B.t.data_ptr<T>();
  bool reduce = false;  // some batch dim of size > 1 maps onto one C block
  for (size_t i = 0; i < batch.size(); ++i) reduce = reduce || (batch[i] > 1 && cstr[i] == 0);
  // B shared by all batches, A's and C's rows stack: one gemm with M * nb rows.
  if (!reduce && shared(batch, B.bstr) && !A.lay.trans && rows_collapse(batch, A.bstr, M, A.lay.ld) &&
      rows_collapse(batch, cstr, M, ldc)) {
    kernels::gemm(false, B.lay.trans, M * nb, N, K, T(1), pa, A.lay.ld, pb, B.lay.ld, T(0), C, ldc);
    return;
  }
  // C shared (a full reduction), and A^T's and B's stored rows stack along K: one gemm, K * nb deep.
  if (shared(batch, cstr) && A.lay.trans && !B.lay.trans && rows_collapse(batch, A.bstr, K, A.lay.ld) &&
      rows_collapse(batch, B.bstr, K, B.lay.ld)) {
    kernels::gemm(true, false, M, N, K * nb, T(1), pa, A.lay.ld, pb, B.lay.ld, T(0), C, ldc);
    return;
  }
  // Per-batch element offsets (odometer over the batch dims).
  std::vector<int64_t> oa(nb), ob(nb), oc(nb), idx(batch.size(), 0);
  int64_t a = 0, b = 0, c = 0;
  for (int64_t k = 0; k < nb; ++k) {
    oa[k] = a, ob[k] = b, oc[k] = c;
    for (size_t d = batch.size(); d-- > 0;) {
      if (++idx[d] < batch[d]) {
        a += A.bstr[d], b += B.bstr[d], c += cstr[d];
        break;
      }
      a -= A.bstr[d] * (batch[d] - 1), b -= B.bstr[d] * (batch[d] - 1), c -= cstr[d] * (batch[d] - 1);
      idx[d] = 0;
    }
  }
  auto one = [&](int64_t k, T beta) {
    kernels::gemm(A.lay.trans, B.lay.trans, M, N, K, T(1), pa + oa[k], A.lay.ld, pb + ob[k], B.lay.ld, beta,
                  C + oc[k], ldc);
  };
  if (reduce) {  // several products land on one C block: in order, accumulating
    for (int64_t k = 0; k < nb; ++k) one(k, T(1));
    return;
  }
  bool uniform = true;
  for (int64_t k = 1; k < nb && uniform; ++k)
    uniform = oa[k] == k * oa[1] && ob[k] == k * ob[1] && oc[k] == k * oc[1];
  if (uniform) {
    const int64_t sa = nb > 1 ? oa[1] : 0, sb = nb > 1 ? ob[1] : 0, sc = nb > 1 ? oc[1] : 0;
    kernels::gemm_batched(nb, A.lay.trans, B.lay.trans, M, N, K, T(1), pa, A.lay.ld, sa, pb, B.lay.ld, sb, T(0), C,
                          ldc, sc);
    return;
  }
  // Irregular batch strides: small products one per thread, large ones threaded by BLAS.
  const bool small = M * N * K < 64 * 64 * 64;
  kernels::parallel_for(nb, small ? 1 : nb, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) one(k, T(0));
  });
}

// ==================================================================== matmul on >= 2-d operands

Tensor matmul_nd(const Tensor& a, const Tensor& b, const char* op) {
  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const size_t nb = std::max(ab.size(), bb.size());
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i < nb - ab.size() ? 1 : ab[i - (nb - ab.size())];
    const int64_t db = i < nb - bb.size() ? 1 : bb[i - (nb - bb.size())];
    check(da == db || da == 1 || db == 1, op, a.shape(), " @ ", b.shape(), ": batch dims ", ab, " and ", bb,
          " do not broadcast");
    batch[i] = da == 1 ? db : da;
  }
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, a.dtype());
  {
    const Operand A = make_operand(a, batch), B = make_operand(b, batch);
    const Shape cstr = batch_strides(out_shape, out.strides(), batch);
    dispatch_float(a.dtype(), op, [&]<class T>() { product<T>(batch, M, N, K, A, B, out.data_ptr<T>(), cstr, N); });
  }
  autograd::record(op, {a, b}, {out}, [a, b, batch, M, N, K, op](const TensorList& g) {
    const Operand G = make_operand(g[0].contiguous(), batch);
    TensorList grads(2);
    dispatch_float(G.t.dtype(), op, [&]<class T>() {
      if (a.requires_grad()) {  // dA = dC B^T, summed over a's broadcast batch dims
        Tensor da = zeros(a.shape(), a.dtype());
        product<T>(batch, M, K, N, G, flipped(make_operand(b, batch)), da.data_ptr<T>(),
                   batch_strides(da.shape(), da.strides(), batch), K);
        grads[0] = da;
      }
      if (b.requires_grad()) {  // dB = A^T dC, summed over b's broadcast batch dims
        Tensor db = zeros(b.shape(), b.dtype());
        product<T>(batch, K, N, M, flipped(make_operand(a, batch)), G, db.data_ptr<T>(),
                   batch_strides(db.shape(), db.strides(), batch), N);
        grads[1] = db;
      }
    });
    return grads;
  });
  return out;
}

void check_float_pair(const char* op, const Tensor& a, const Tensor& b) {
  check(a.defined() && b.defined(), op, "inputs must be defined");
  check_same_dtype(op, {&a, &b});
  check(a.is_floating_point(), op, "expected floating tensors (float32/float64), got ", dtype_name(a.dtype()));
}

}  // namespace

// ==================================================================== matmul / bmm

Tensor matmul(const Tensor& a, const Tensor& b) {
  check(a.defined() && b.defined(), "matmul", "inputs must be defined");
  check(a.dim() >= 1 && b.dim() >= 1, "matmul", "both arguments must be at least 1-d, got ", a.shape(), " and ",
        b.shape());
  check_float_pair("matmul", a, b);
  const int64_t ka = a.size(-1), kb = b.dim() == 1 ? b.size(0) : b.size(-2);
  check(ka == kb, "matmul", a.shape(), " @ ", b.shape(), ": inner dims ", ka, " and ", kb, " differ");
  if (a.dim() >= 2 && b.dim() >= 2) return matmul_nd(a, b, "matmul");
  // A 1-d operand becomes a row (1,k) on the left or a column (k,1) on the right; the
  // added dim is dropped from the result (1-d @ 1-d gives a 0-d dot product).
  const Tensor a2 = a.dim() == 1 ? reshape(a, {1, ka}) : a;
  const Tensor b2 = b.dim() == 1 ? reshape(b, {kb, 1}) : b;
  const Tensor out = matmul_nd(a2, b2, "matmul");
  Shape s = out.shape();
  if (b.dim() == 1) s.pop_back();
  if (a.dim() == 1) s.erase(s.end() - (b.dim() == 1 ? 1 : 2));
  return reshape(out, s);
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_float_pair("bmm", a, b);
  check(a.dim() == 3 && b.dim() == 3, "bmm", "expected 3-d tensors (B,n,k) and (B,k,m), got ", a.shape(), " and ",
        b.shape());
  check(a.size(0) == b.size(0), "bmm", a.shape(), " @ ", b.shape(), ": batch sizes ", a.size(0), " and ",
        b.size(0), " differ");
  check(a.size(2) == b.size(1), "bmm", a.shape(), " @ ", b.shape(), ": inner dims ", a.size(2), " and ",
        b.size(1), " differ");
  return matmul_nd(a, b, "bmm");
}

// ==================================================================== linear

namespace {

// x: (*, I) as one (R, I) matrix, in place when its rows stack evenly, else a contiguous copy.
struct Rows {
  Tensor t;
  MatLayout lay;
};

Rows rows_of(const Tensor& x) {
  auto try_layout = [](const Tensor& t) -> MatLayout {
    const int64_t n = t.dim();
    if (n == 1) return mat_layout(1, t.shape()[0], t.shape()[0], t.strides()[0]);
    const MatLayout lay = mat_layout(t.shape()[n - 2], t.shape()[n - 1], t.strides()[n - 2], t.strides()[n - 1]);
    if (n == 2 || !lay.ok) return lay;
    const Shape batch(t.shape().begin(), t.shape().end() - 2), bstr(t.strides().begin(), t.strides().end() - 2);
    if (!lay.trans && rows_collapse(batch, bstr, t.shape()[n - 2], lay.ld)) return lay;
    return {};
  };
  Rows r{x.detach(), try_layout(x)};
  if (!r.lay.ok) {
    r.t = x.detach().contiguous();
    r.lay = try_layout(r.t);
  }
  return r;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_float_pair("linear", x, weight);
  check_same_dtype("linear", {&x, &weight, &bias});
  check(weight.dim() == 2, "linear", "weight must be 2-d (out_features, in_features), got ", weight.shape());
  check(x.dim() >= 1, "linear", "input must be at least 1-d, got ", x.shape());
  const int64_t O = weight.size(0), I = weight.size(1);
  check(x.size(-1) == I, "linear", "input ", x.shape(), " has last dim ", x.size(-1), " but weight ",
        weight.shape(), " has in_features ", I);
  if (bias.defined())
    check(bias.dim() == 1 && bias.size(0) == O, "linear", "bias ", bias.shape(), " must be (out_features=", O,
          ") for weight ", weight.shape());
  const int64_t R = numel_of(Shape(x.shape().begin(), x.shape().end() - 1));
  Shape out_shape = x.shape();
  out_shape.back() = O;
  Tensor out = empty(out_shape, x.dtype());
  const Rows X = rows_of(x), W = rows_of(weight);
  dispatch_float(x.dtype(), "linear", [&]<class T>() {
    T* po = out.data_ptr<T>();
    // y (R,O) = x (R,I) W^T (I,O) [+ b in every row, added in the GEMM's epilogue]
    const Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
    kernels::gemm_bias(X.lay.trans, !W.lay.trans, R, O, I, X.t.data_ptr<T>(), X.lay.ld, W.t.data_ptr<T>(), W.lay.ld,
                       bc.defined() ? bc.data_ptr<T>() : static_cast<const T*>(nullptr), po, O);
  });
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(),
             need_b = bias.defined() && bias.requires_grad();
  autograd::record("linear", {x, weight, bias}, {out}, [X, W, R, O, I, xs = x.shape(), need_x, need_w,
                                                         need_b](const TensorList& g) {
    const Tensor gc = g[0].contiguous();  // (R,O)
    TensorList grads(3);
    dispatch_float(gc.dtype(), "linear", [&]<class T>() {
      const T* pg = gc.data_ptr<T>();
      if (need_x) {  // dx (R,I) = dy (R,O) W (O,I)
        grads[0] = empty(xs, gc.dtype());
        kernels::gemm(false, W.lay.trans, R, I, O, T(1), pg, O, W.t.data_ptr<T>(), W.lay.ld, T(0),
                      grads[0].data_ptr<T>(), I);
      }
      if (need_w) {  // dW (O,I) = dy^T (O,R) x (R,I): one gemm, K = R
        grads[1] = empty({O, I}, gc.dtype());
        kernels::gemm(true, X.lay.trans, O, I, R, T(1), pg, O, X.t.data_ptr<T>(), X.lay.ld, T(0),
                      grads[1].data_ptr<T>(), I);
      }
      if (need_b) {  // db (O) = 1^T (1,R) dy (R,O): the column sums
        grads[2] = empty({O}, gc.dtype());
        const std::vector<T> ones_r(static_cast<size_t>(std::max<int64_t>(R, 1)), T(1));
        kernels::gemm(false, false, 1, O, R, T(1), ones_r.data(), std::max<int64_t>(R, 1), pg, O, T(0),
                      grads[2].data_ptr<T>(), O);
      }
    });
    return grads;
  });
  return out;
}

}  // namespace seqnn
