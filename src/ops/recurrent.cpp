// recurrent_layer: one fused recurrent layer (RNN, LSTM, GRU, Jordan), one or two directions,
// whole sequence, with backward through time written by hand (math in seqnn/recurrent.h and
// kernels/recurrent.h).
//
// Forward, per direction:
//   G(T*B, G*H) = X W_ih^T + b_ih + b_hh                  one GEMM for all steps (GRU: b_hn apart)
//   per step t: G_t += h_{t-1} W_hh^T (GRU: S = h W_hh^T), fused gate pass -> h_t (, c_t)
//   LSTM projection: h_t = m_t W_hr^T;  Jordan: y_t = out_act(a_t W_ho^T + b_ho)
// Ragged batches: the batch is sorted by length (descending, stable), so the rows active at a
// step (t < len) are a prefix [0, n_t) in both directions; inactive rows keep their state (the
// forward direction after its end, the reverse one before its start) and output zero.
//
// Buffers per direction (sorted batch order): Hst (T+1,B,R) holds the states; time t reads slot
// in(t) and writes slot out(t): forward in = t, out = t+1; reverse in = t+1, out = t. So
// H_prev(T*B,R) = Hst + in(0) slot offset is one contiguous block for dW_hh = dG^T H_prev.
#include "kernels/recurrent.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>


#include <type_traits>

#include "kernels/gemm.h"
#include "kernels/parallel.h"
#include "kernels/recurrent_seq.h"
#include "ops/dispatch.h"
#include "seqnn/ops.h"
#include "seqnn/recurrent.h"
#include "seqnn/threads.h"

namespace seqnn {

namespace {

constexpr const char* kOp = "recurrent_layer";
constexpr int kWeightsPerDir = 8;  // w_ih, w_hh, b_ih, b_hh, w_hr, w_peep, w_ho, b_ho

const char* cell_name(CellType c) {
  switch (c) {
    case CellType::RNN: return "RNN";
    case CellType::LSTM: return "LSTM";
    case CellType::GRU: return "GRU";
    case CellType::Jordan: return "Jordan";
  }
  return "?";
}

struct Layout {
  CellType cell;
  int64_t T, B, I, H, R, G, D;
  bool proj, peep;
  int64_t GH() const { return G * H; }
};

// Everything the backward needs; the Tensors own the buffers.
struct Saved {
  RecurrentSpec spec;
  Layout L{};
  std::vector<int64_t> perm;        // sorted position -> batch index; empty = identity
  std::vector<int64_t> nact;        // (T) rows active at step t (a prefix of the sorted batch)
  Tensor xs;                        // (T,B,I) x in sorted order
  std::vector<RecurrentWeights> w;  // contiguous
  struct Dir {
    Tensor G;    // (T,B,GH) activated gates (Jordan: a_t)
    Tensor Hst;  // (T+1,B,R) states
    Tensor Cst;  // (T+1,B,H) LSTM cell states
    Tensor M;    // (T,B,H) LSTM projection: o*act(c)
    Tensor HN;   // (T,B,H) GRU: W_hn h + b_hn
  };
  std::vector<Dir> dir;
  int64_t in_slot(int d, int64_t t) const { return d == 0 ? t : t + 1; }
  int64_t out_slot(int d, int64_t t) const { return d == 0 ? t + 1 : t; }
};

// A scratch buffer of n T's that, unlike std::vector, is not zero-filled on resize (every use
// below writes before it reads, or fills explicitly) and comes from the tensor allocator's
// cache: the step-by-step decoders call this backward once per step, and a fresh
// multi-hundred-KB vector per call was mostly page faults and memset. The packed weights of the
// fast path too (1 MiB per call and direction for an LSTM at H 256, 4 MiB at H 512): as
// std::vectors, glibc handed them back to the kernel (brk trim) and every call page-faulted them
// in again behind a memset, 14% of a Jordan forward at 100x32x256 (a page fault costs 1-7 us in
// this machine's VM, depending on the hour).
template <class T>
struct Scratch {
  Tensor t;
  size_t n = 0;
  void resize(size_t m) {
    t = seqnn::empty({static_cast<int64_t>(m)}, dtype_of<T>::value);
    n = m;
  }
  void assign(size_t m, T v) {
    resize(m);
    std::fill(data(), data() + m, v);
  }
  T* data() const { return n ? t.data_ptr<T>() : nullptr; }
  bool empty() const { return n == 0; }
};

template <class T>
const T* ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Copies `outer` blocks of B rows of W elements between batch order and sorted order:
//   to_sorted: dst[o][k] = src[o][perm[k]], else dst[o][perm[k]] = src[o][k]  (perm empty: identity)
// src/dst rows have leading dimensions src_ld/dst_ld.
template <class T>
void permute_rows(const T* src, int64_t src_ld, T* dst, int64_t dst_ld, int64_t outer, int64_t B, int64_t W,
                  const std::vector<int64_t>& perm, bool to_sorted) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < B; ++k) {
      const int64_t p = perm.empty() ? k : perm[k];
      const int64_t s = to_sorted ? p : k, d = to_sorted ? k : p;
      std::memcpy(dst + (o * B + d) * dst_ld, src + (o * B + s) * src_ld, sizeof(T) * W);
    }
}

// Runs f(d) for each direction, the two concurrently when threads allow (gemm is single-threaded
// inside the region).
template <class F>
void for_each_direction(int64_t D, const F& f) {
  if (D == 2 && num_threads() > 1) {
    kernels::parallel_parts(2, [&](int d, int) { f(d); });
  } else {
    for (int d = 0; d < D; ++d) f(d);
  }
}

// ==================================================================== checks

Layout check_args(const RecurrentSpec& spec, const Tensor& x, const Tensor& h0, const Tensor& c0,
                  const std::vector<RecurrentWeights>& weights, const Tensor& lengths) {
  const std::string op = kOp;
  const std::string cell = cell_name(spec.cell);
  Layout L{};
  L.cell = spec.cell;
  L.G = spec.cell == CellType::LSTM ? 4 : spec.cell == CellType::GRU ? 3 : 1;
  L.D = static_cast<int64_t>(weights.size());
  check(L.D == 1 || L.D == 2, op, "weights must hold 1 or 2 directions, got ", L.D);
  check(x.defined() && x.dim() == 3, op, "input ", shape_or_none(x), " must be 3-d (T,B,I)");
  check(is_floating(x.dtype()), op, "input must be float32/float64, got ", dtype_name(x.dtype()));
  L.T = x.size(0), L.B = x.size(1), L.I = x.size(2);
  check(L.T >= 1 && L.B >= 0 && L.I >= 1, op, "input ", x.shape(), " must have T, I >= 1");
  check(spec.cell != CellType::GRU || spec.activation == Activation::Tanh, op,
        "GRU's candidate activation is tanh; activation must be Tanh");
  const RecurrentWeights& w0 = weights[0];
  check(w0.w_ih.defined() && w0.w_ih.dim() == 2 && w0.w_ih.size(0) % L.G == 0 && w0.w_ih.size(0) >= L.G, op, "w_ih ",
        shape_or_none(w0.w_ih), " must be (G*H,I) with G=", L.G, " for cell ", cell);
  L.H = w0.w_ih.size(0) / L.G;
  L.proj = w0.w_hr.defined();
  L.peep = w0.w_peep.defined();
  L.R = L.H;
  if (L.proj) {
    check(w0.w_hr.dim() == 2 && w0.w_hr.size(0) >= 1, op, "w_hr ", w0.w_hr.shape(), " must be (P,H=", L.H, ")");
    L.R = w0.w_hr.size(0);
  }
  if (spec.cell == CellType::Jordan) {
    check(w0.w_ho.defined() && w0.w_ho.dim() == 2, op, "Jordan needs w_ho (O,H), got ",
          shape_or_none(w0.w_ho));
    check(w0.w_ho.size(0) >= 1, op, "w_ho ", w0.w_ho.shape(), " must be (O,H) with O >= 1");
    L.R = w0.w_ho.size(0);
  }
  const Shape gh{L.GH()}, ghi{L.GH(), L.I}, ghr{L.GH(), L.R};
  for (int64_t d = 0; d < L.D; ++d) {
    const RecurrentWeights& w = weights[d];
    const std::string dn = "direction " + std::to_string(d) + ": ";
    auto shp = [](const Tensor& t) -> const Shape& { return shape_or_none(t); };
    check(!w.w_hr.defined() || spec.cell == CellType::LSTM, op, dn, "projection w_hr is for LSTM only, got cell ",
          cell);
    check(!w.w_peep.defined() || spec.cell == CellType::LSTM, op, dn, "peephole w_peep is for LSTM only, got cell ",
          cell);
    check(spec.cell == CellType::Jordan || (!w.w_ho.defined() && !w.b_ho.defined()), op, dn,
          "w_ho/b_ho are for Jordan only, got cell ", cell);
    check(w.w_ih.defined() && w.w_ih.shape() == ghi, op, dn, "w_ih ", shp(w.w_ih), " must be ", ghi,
          " (G*H,I) for input ", x.shape());
    check(w.w_hh.defined() && w.w_hh.shape() == ghr, op, dn, "w_hh ", shp(w.w_hh), " must be ", ghr, " (G*H,R)");
    check(!w.b_ih.defined() || w.b_ih.shape() == gh, op, dn, "b_ih ", shp(w.b_ih), " must be ", gh);
    check(!w.b_hh.defined() || w.b_hh.shape() == gh, op, dn, "b_hh ", shp(w.b_hh), " must be ", gh);
    check(w.w_hr.defined() == L.proj && w.w_peep.defined() == L.peep, op, dn,
          "both directions must have the same variant (projection, peephole)");
    if (L.proj)
      check(w.w_hr.dim() == 2 && w.w_hr.size(0) >= 1 && w.w_hr.size(1) == L.H && w.w_hr.size(0) == L.R, op, dn, "w_hr ",
            shp(w.w_hr), " must be (P,H=", L.H, ")");
    if (L.peep) check(w.w_peep.shape() == Shape{3, L.H}, op, dn, "w_peep ", shp(w.w_peep), " must be (3,H=", L.H, ")");
    if (spec.cell == CellType::Jordan) {
      check(w.w_ho.defined() && w.w_ho.shape() == Shape{L.R, L.H}, op, dn, "w_ho ", shp(w.w_ho), " must be (O=", L.R,
            ",H=", L.H, ")");
      check(!w.b_ho.defined() || w.b_ho.shape() == Shape{L.R}, op, dn, "b_ho ", shp(w.b_ho), " must be (O=", L.R, ")");
    }
    check_same_dtype(op.c_str(), {&x, &w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh, &w.w_hr, &w.w_peep, &w.w_ho, &w.b_ho});
  }
  check_same_dtype(op.c_str(), {&x, &h0, &c0});
  const Shape hs{L.D, L.B, L.R}, cs{L.D, L.B, L.H};
  check(!h0.defined() || h0.shape() == hs, op, "h0 ", shape_or_none(h0), " must be (D,B,R) = ", hs);
  check(!c0.defined() || spec.cell == CellType::LSTM, op, "c0 is for LSTM only, got cell ", cell);
  check(!c0.defined() || c0.shape() == cs, op, "c0 ", shape_or_none(c0), " must be (D,B,H) = ", cs);
  if (lengths.defined()) {
    check(lengths.dtype() == DType::I64, op, "lengths must be int64, got ", dtype_name(lengths.dtype()));
    check(lengths.shape() == Shape{L.B}, op, "lengths ", lengths.shape(), " must be (B=", L.B, ")");
    for (int64_t v : lengths.to_vector<int64_t>())
      check(v >= 1 && v <= L.T, op, "lengths must be in [1, T=", L.T, "], got ", v);
  }
  return L;
}

// ==================================================================== forward

template <class T>
void forward_direction(Saved& S, int d, T* scratch) {
  const Layout& L = S.L;
  const RecurrentWeights& w = S.w[d];
  const int64_t B = L.B, H = L.H, R = L.R, GH = L.GH();
  Saved::Dir& D = S.dir[d];
  T *G = D.G.data_ptr<T>(), *Hst = D.Hst.data_ptr<T>();
  T* Cst = L.cell == CellType::LSTM ? D.Cst.data_ptr<T>() : nullptr;
  const T *w_hh = w.w_hh.data_ptr<T>(), *peep = ptr<T>(w.w_peep);
  for (int64_t s = 0; s < L.T; ++s) {
    const int64_t t = d == 0 ? s : L.T - 1 - s, n = S.nact[t];
    const int64_t in = S.in_slot(d, t), out = S.out_slot(d, t);
    T *gt = G + t * B * GH, *hin = Hst + in * B * R, *hout = Hst + out * B * R;
    // inactive rows keep their state
    std::memcpy(hout + n * R, hin + n * R, sizeof(T) * (B - n) * R);
    if (Cst) std::memcpy(Cst + out * B * H + n * H, Cst + in * B * H + n * H, sizeof(T) * (B - n) * H);
    if (L.proj) std::memset(D.M.data_ptr<T>() + (t * B + n) * H, 0, sizeof(T) * (B - n) * H);
    if (n == 0) continue;
    switch (L.cell) {
      case CellType::RNN:
        kernels::gemm<T>(false, true, n, GH, R, T(1), hin, R, w_hh, R, T(1), gt, GH);
        kernels::rnn_cell_forward<T>(gt, hout, n * H, S.spec.activation);
        break;
      case CellType::LSTM: {
        kernels::gemm<T>(false, true, n, GH, R, T(1), hin, R, w_hh, R, T(1), gt, GH);
        T* m = L.proj ? D.M.data_ptr<T>() + t * B * H : hout;
        kernels::lstm_cell_forward<T>(gt, Cst + in * B * H, Cst + out * B * H, m, peep, n, H, S.spec.activation);
        if (L.proj) kernels::gemm<T>(false, true, n, R, H, T(1), m, H, w.w_hr.data_ptr<T>(), H, T(0), hout, R);
        break;
      }
      case CellType::GRU: {
        kernels::gemm<T>(false, true, n, GH, R, T(1), hin, R, w_hh, R, T(0), scratch, GH);
        const T* b_hn = w.b_hh.defined() ? w.b_hh.data_ptr<T>() + 2 * H : nullptr;
        kernels::gru_cell_forward<T>(gt, scratch, b_hn, hin, hout, D.HN.data_ptr<T>() + t * B * H, n, H);
        break;
      }
      case CellType::Jordan: {
        kernels::gemm<T>(false, true, n, GH, R, T(1), hin, R, w_hh, R, T(1), gt, GH);
        kernels::rnn_cell_forward<T>(gt, gt, n * H, S.spec.activation);  // a_t, kept in G
        const T* b_ho = ptr<T>(w.b_ho);
        for (int64_t k = 0; k < n; ++k)
          for (int64_t o = 0; o < R; ++o) hout[k * R + o] = b_ho ? b_ho[o] : T(0);
        kernels::gemm<T>(false, true, n, R, H, T(1), gt, H, w.w_ho.data_ptr<T>(), H, T(1), hout, R);
        kernels::rnn_cell_forward<T>(hout, hout, n * R, S.spec.output_activation);
        break;
      }
    }
  }
}


// ==================================================================== whole-sequence fast path
// float32 LSTM (any activation of g and c, no projection; peephole allowed), GRU, RNN (tanh /
// relu): the recurrent product and the cell update of a step are one pass on W_hh packed once
// per call (kernels/recurrent_seq.h). float32 Jordan (every activation): its two products per
// step on packed weights, the activations in place (forward_direction_jordan_fast). float32 LSTM
// with a projection: the same two row products around the cell (forward_direction_lstm_proj_fast).
// Batch rows are independent through the whole recurrence, so each thread owns a fixed range of
// rows for all T steps: one parallel region per direction and no barrier per step (with 2
// threads on a busy box, every per-step barrier or BLAS call waits on a descheduled thread).
template <class T>
bool fast_path(const Layout& L, const RecurrentSpec& spec) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    if (L.cell == CellType::Jordan) return true;  // any activations, any O (its products are plain GEMMs)
    // LSTM with a projection: two row GEMMs per step around the cell (forward_direction_lstm_proj_fast)
    if (L.proj) return L.cell == CellType::LSTM;
    if (L.R != L.H) return false;
    switch (L.cell) {
      case CellType::LSTM: return true;  // any activation of g and c (the kernels take it as a parameter)
      case CellType::GRU: return true;
      case CellType::RNN: return spec.activation == Activation::Tanh || spec.activation == Activation::Relu;
      case CellType::Jordan: return true;  // (returned above)
    }
    return false;
  }
}

kernels::StepCell step_cell_of(const Layout& L, const RecurrentSpec& spec) {
  switch (L.cell) {
    case CellType::LSTM: return kernels::StepCell::Lstm;
    case CellType::GRU: return kernels::StepCell::Gru;
    default: return spec.activation == Activation::Relu ? kernels::StepCell::RnnRelu : kernels::StepCell::RnnTanh;
  }
}

// Runs f(r0, r1) on a split of the B rows over the threads (inline when nested or when the
// whole sequence is too little work to pay for waking a thread).
template <class F>
void for_row_ranges(const Layout& L, const F& f) {
  constexpr double kMinMacs = 1 << 20;  // multiply-adds of the recurrent products, all steps
  const double macs = static_cast<double>(L.T) * L.B * L.GH() * L.R;
  const int nt = kernels::detail::in_parallel_region() || macs < kMinMacs
                     ? 1
                     : static_cast<int>(std::min<int64_t>(num_threads(), L.B));
  if (nt <= 1) {
    f(int64_t{0}, L.B);
    return;
  }
  kernels::parallel_parts(nt, [&](int64_t k, int64_t c) { f(L.B * k / c, L.B * (k + 1) / c); });
}

// (rows, K) x W^T with W (N, K) as the fast kernels' operand: W^T (K, N) packed by pack_seq_hidden.
Scratch<float> pack_transposed(const float* w, int64_t N, int64_t K) {
  Scratch<float> packed;
  packed.resize(kernels::seq_packed_t_size(K, N));
  kernels::pack_seq_hidden(w, K, N, packed.data());
  return packed;
}

// Step s of direction d on a thread's rows [r0, r1) of the row-split paths: its time t, the
// state slots it reads (in) and writes (out), the active row count n and the end e of the
// thread's active rows, and i0, the first of its inactive rows (which keep their state).
struct StepRows {
  int64_t t, in, out, n, e, i0;
  StepRows(const Saved& S, int d, int64_t s, int64_t r0, int64_t r1)
      : t(d == 0 ? s : S.L.T - 1 - s), in(S.in_slot(d, t)), out(S.out_slot(d, t)), n(S.nact[t]),
        e(std::min(r1, n)), i0(std::max(r0, n)) {}
};

// Jordan on the row-split path: per step, for the thread's rows,
//   a_t = act(G_t + y_{t-1} W_hh^T)      (in place in G_t, kept for backward)
//   y_t = out_act(b_ho + a_t W_ho^T)
// both products through seq_backward_gemm_rows (dh = [dh or b_ho +] dg W on packed W), which takes any
// widths, so every activation pair and every O is covered.
void forward_direction_jordan_fast(Saved& S, int d) {
  const Layout& L = S.L;
  const RecurrentWeights& w = S.w[d];
  const int64_t B = L.B, H = L.H, R = L.R;
  Saved::Dir& D = S.dir[d];
  float *G = D.G.data_ptr<float>(), *Hst = D.Hst.data_ptr<float>();
  const float* b_ho = ptr<float>(w.b_ho);
  const Scratch<float> whh_t = pack_transposed(w.w_hh.data_ptr<float>(), H, R);  // (R, H)
  const Scratch<float> who_t = pack_transposed(w.w_ho.data_ptr<float>(), R, H);  // (H, R)
  for_row_ranges(L, [&](int64_t r0, int64_t r1) {
    for (int64_t s = 0; s < L.T; ++s) {
      const StepRows st(S, d, s, r0, r1);
      const int64_t t = st.t, e = st.e, i0 = st.i0;
      const float* hin = Hst + st.in * B * R;
      float* hout = Hst + st.out * B * R;
      if (i0 < r1) std::memcpy(hout + i0 * R, hin + i0 * R, sizeof(float) * (r1 - i0) * R);  // they keep their state
      if (e <= r0) continue;
      float* gt = G + t * B * H;
      kernels::seq_backward_gemm_rows(r0, e, R, H, hin, whh_t.data(), gt, true);
      kernels::rnn_cell_forward<float>(gt + r0 * H, gt + r0 * H, (e - r0) * H, S.spec.activation);
      kernels::seq_backward_gemm_rows(r0, e, H, R, gt, who_t.data(), hout, false, b_ho);
      kernels::rnn_cell_forward<float>(hout + r0 * R, hout + r0 * R, (e - r0) * R, S.spec.output_activation);
    }
  });
}

// LSTM with a projection (P = R) on the row-split path: per step, for the thread's rows,
//   G_t += h_{t-1} W_hh^T          (width P: a row GEMM on packed W_hh^T)
//   c_t, m_t = the cell on G_t     (lstm_cell_forward_fast, gates kept in G_t; m_t into M)
//   h_t = m_t W_hr^T               (a second row GEMM)
void forward_direction_lstm_proj_fast(Saved& S, int d) {
  const Layout& L = S.L;
  const RecurrentWeights& w = S.w[d];
  const int64_t B = L.B, H = L.H, R = L.R, GH = L.GH();
  Saved::Dir& D = S.dir[d];
  float *G = D.G.data_ptr<float>(), *Hst = D.Hst.data_ptr<float>(), *Cst = D.Cst.data_ptr<float>();
  float* M = D.M.data_ptr<float>();
  const float* peep = ptr<float>(w.w_peep);
  const Scratch<float> whh_t = pack_transposed(w.w_hh.data_ptr<float>(), GH, R);  // (P, 4H)
  const Scratch<float> whr_t = pack_transposed(w.w_hr.data_ptr<float>(), R, H);   // (H, P)
  for_row_ranges(L, [&](int64_t r0, int64_t r1) {
    for (int64_t s = 0; s < L.T; ++s) {
      const StepRows st(S, d, s, r0, r1);
      const int64_t e = st.e, i0 = st.i0;
      const float* hin = Hst + st.in * B * R;
      float* hout = Hst + st.out * B * R;
      const float* cin = Cst + st.in * B * H;
      float* cout = Cst + st.out * B * H;
      float* mt = M + st.t * B * H;
      if (i0 < r1) {  // inactive rows keep their state; their m is 0 (dW_hr)
        std::memcpy(hout + i0 * R, hin + i0 * R, sizeof(float) * (r1 - i0) * R);
        std::memcpy(cout + i0 * H, cin + i0 * H, sizeof(float) * (r1 - i0) * H);
        std::memset(mt + i0 * H, 0, sizeof(float) * (r1 - i0) * H);
      }
      if (e <= r0) continue;
      float* gt = G + st.t * B * GH;
      kernels::seq_backward_gemm_rows(r0, e, R, GH, hin, whh_t.data(), gt, true);
      kernels::lstm_cell_forward_fast(gt + r0 * GH, cin + r0 * H, cout + r0 * H, mt + r0 * H, peep, e - r0, H,
                                      S.spec.activation);
      kernels::seq_backward_gemm_rows(r0, e, H, R, mt, whr_t.data(), hout, false);
    }
  });
}

void forward_direction_fast(Saved& S, int d) {
  const Layout& L = S.L;
  if (L.cell == CellType::Jordan) return forward_direction_jordan_fast(S, d);
  if (L.proj) return forward_direction_lstm_proj_fast(S, d);
  const RecurrentWeights& w = S.w[d];
  const int64_t B = L.B, H = L.H, GH = L.GH();
  const kernels::StepCell cell = step_cell_of(L, S.spec);
  Saved::Dir& D = S.dir[d];
  float *G = D.G.data_ptr<float>(), *Hst = D.Hst.data_ptr<float>();
  float* Cst = L.cell == CellType::LSTM ? D.Cst.data_ptr<float>() : nullptr;
  float* HN = L.cell == CellType::GRU ? D.HN.data_ptr<float>() : nullptr;
  const float* peep = ptr<float>(w.w_peep);
  const float* b_hn = L.cell == CellType::GRU && w.b_hh.defined() ? w.b_hh.data_ptr<float>() + 2 * H : nullptr;
  Scratch<float> packed;
  packed.resize(kernels::step_packed_size(cell, H, H));
  kernels::pack_step_weights(cell, w.w_hh.data_ptr<float>(), H, H, packed.data());
  for_row_ranges(L, [&](int64_t r0, int64_t r1) {
    for (int64_t s = 0; s < L.T; ++s) {
      const int64_t t = d == 0 ? s : L.T - 1 - s, n = S.nact[t];
      const int64_t in = S.in_slot(d, t), out = S.out_slot(d, t), e = std::min(r1, n);
      float *hin = Hst + in * B * H, *hout = Hst + out * B * H;
      float* cin = Cst ? Cst + in * B * H : nullptr;
      float* cout = Cst ? Cst + out * B * H : nullptr;
      // inactive rows keep their state
      const int64_t i0 = std::max(r0, n);
      if (i0 < r1) {
        std::memcpy(hout + i0 * H, hin + i0 * H, sizeof(float) * (r1 - i0) * H);
        if (Cst) std::memcpy(cout + i0 * H, cin + i0 * H, sizeof(float) * (r1 - i0) * H);
      }
      kernels::seq_forward_rows(cell, r0, e, H, hin, G + t * B * GH, cin, cout, hout, HN ? HN + t * B * H : nullptr,
                                packed.data(), peep, b_hn, S.spec.activation);
    }
  });
}

template <class T>
void forward_impl(Saved& S, const Tensor& h0, const Tensor& c0, RecurrentOutput& res) {
  const Layout& L = S.L;
  const int64_t T_ = L.T, B = L.B, I = L.I, H = L.H, R = L.R, GH = L.GH();
  const bool lstm = L.cell == CellType::LSTM;
  const DType dt = S.xs.dtype();
  S.dir.resize(L.D);
  for (int64_t d = 0; d < L.D; ++d) {
    Saved::Dir& D = S.dir[d];
    const RecurrentWeights& w = S.w[d];
    D.G = empty({T_, B, GH}, dt);
    D.Hst = empty({T_ + 1, B, R}, dt);
    if (lstm) D.Cst = empty({T_ + 1, B, H}, dt);
    if (L.proj) D.M = empty({T_, B, H}, dt);
    if (L.cell == CellType::GRU) D.HN = empty({T_, B, H}, dt);
    // initial state into the slot the first step reads
    const int64_t first = S.in_slot(static_cast<int>(d), d == 0 ? 0 : T_ - 1);
    T* h_init = D.Hst.data_ptr<T>() + first * B * R;
    if (h0.defined()) {
      permute_rows<T>(h0.data_ptr<T>() + d * B * R, R, h_init, R, 1, B, R, S.perm, true);
    } else {
      std::fill(h_init, h_init + B * R, T(0));
    }
    if (lstm) {
      T* c_init = D.Cst.data_ptr<T>() + first * B * H;
      if (c0.defined()) {
        permute_rows<T>(c0.data_ptr<T>() + d * B * H, H, c_init, H, 1, B, H, S.perm, true);
      } else {
        std::fill(c_init, c_init + B * H, T(0));
      }
    }
    // G = X W_ih^T + b_ih + b_hh (GRU: b_hn stays out, it sits inside r * (W_hn h + b_hn))
    T* G = D.G.data_ptr<T>();
    const T *b_ih = ptr<T>(w.b_ih), *b_hh = ptr<T>(w.b_hh);
    const int64_t nb_hh = L.cell == CellType::GRU ? 2 * H : GH;
    std::vector<T> brow(GH, T(0));
    for (int64_t k = 0; k < GH; ++k) brow[k] = (b_ih ? b_ih[k] : T(0)) + (b_hh && k < nb_hh ? b_hh[k] : T(0));
    kernels::gemm_bias<T>(false, true, T_ * B, GH, I, S.xs.data_ptr<T>(), I, w.w_ih.data_ptr<T>(), I, brow.data(), G,
                          GH);
  }
  if (fast_path<T>(L, S.spec)) {
    for_each_direction(L.D, [&](int d) { forward_direction_fast(S, d); });
  } else {
    std::vector<Scratch<T>> scratch(L.D);
    if (L.cell == CellType::GRU)
      for (auto& sc : scratch) sc.resize(B * GH);
    for_each_direction(L.D, [&](int d) { forward_direction<T>(S, d, scratch[d].data()); });
  }

  // output (T,B,D*R): the out slot of each active row, zero elsewhere; h_n, c_n: the last slots
  // (steps split over threads: 13 MB at 100x64x512, which one thread copied while the other idled)
  res.output = empty({T_, B, L.D * R}, dt);
  res.h_n = empty({L.D, B, R}, dt);
  if (lstm) res.c_n = empty({L.D, B, H}, dt);
  T* out = res.output.data_ptr<T>();
  kernels::parallel_for(T_, std::max<int64_t>(1, (int64_t{1} << 15) / (B * L.D * R)), [&](int64_t t0, int64_t t1) {
    for (int64_t d = 0; d < L.D; ++d) {
      const T* Hst = S.dir[d].Hst.data_ptr<T>();
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = S.nact[t];
        const T* src = Hst + S.out_slot(static_cast<int>(d), t) * B * R;
        for (int64_t k = 0; k < B; ++k) {
          T* dst = out + (t * B + (S.perm.empty() ? k : S.perm[k])) * L.D * R + d * R;
          if (k < n) {
            std::memcpy(dst, src + k * R, sizeof(T) * R);
          } else {
            std::fill(dst, dst + R, T(0));
          }
        }
      }
    }
  });
  for (int64_t d = 0; d < L.D; ++d) {
    const T* Hst = S.dir[d].Hst.data_ptr<T>();
    const int64_t last = d == 0 ? T_ : 0;
    permute_rows<T>(Hst + last * B * R, R, res.h_n.data_ptr<T>() + d * B * R, R, 1, B, R, S.perm, false);
    if (lstm)
      permute_rows<T>(S.dir[d].Cst.data_ptr<T>() + last * B * H, H, res.c_n.data_ptr<T>() + d * B * H, H, 1, B, H,
                      S.perm, false);
  }
}

// ==================================================================== backward

// Per-direction gradient buffers (sorted batch order).
template <class T>
struct DirGrads {
  Scratch<T> dG, dGh, dHs, dYp;  // (T,B,GH), GRU (T,B,GH), projection (T,B,P), Jordan (T,B,O)
  Scratch<T> dh, dc, tmp;        // (B,R), (B,H), (B,H)
  Scratch<T> dout;               // (T,B,R) incoming output gradient when it had to be reordered
  const T* dout_ptr = nullptr;   // (T,B,R) incoming output gradient (dout, or the caller's), or null
  // fast path: the bias gradients, summed during the loop ((GH) = column sums of dG; then GRU:
  // those of dGh, peephole LSTM: dw_ci, dw_cf, dw_co (3H)); empty: summed after the loop
  Scratch<T> db;
};

// Walks the steps of direction d in reverse processing order:
//   dh_t = dh_rec + dout_t; fused pointwise backward -> dG_t (, dc_{t-1}); dh_{t-1} = dG_t W_hh.
template <class T>
void backward_direction(const Saved& S, int d, DirGrads<T>& g) {
  const Layout& L = S.L;
  const RecurrentWeights& w = S.w[d];
  const Saved::Dir& D = S.dir[d];
  const int64_t B = L.B, H = L.H, R = L.R, GH = L.GH();
  const T *G = D.G.data_ptr<T>(), *Hst = D.Hst.data_ptr<T>(), *w_hh = w.w_hh.data_ptr<T>();
  const T* Cst = L.cell == CellType::LSTM ? D.Cst.data_ptr<T>() : nullptr;
  T *dh = g.dh.data(), *dc = g.dc.data();
  for (int64_t s = L.T - 1; s >= 0; --s) {
    const int64_t t = d == 0 ? s : L.T - 1 - s, n = S.nact[t];
    const int64_t in = S.in_slot(d, t), out = S.out_slot(d, t);
    // inactive rows contribute nothing to the weight gradients
    T* dGt = g.dG.data() + t * B * GH;
    std::fill(dGt + n * GH, dGt + B * GH, T(0));
    if (!g.dGh.empty()) std::fill(g.dGh.data() + (t * B + n) * GH, g.dGh.data() + (t + 1) * B * GH, T(0));
    if (!g.dHs.empty()) std::fill(g.dHs.data() + (t * B + n) * R, g.dHs.data() + (t + 1) * B * R, T(0));
    if (!g.dYp.empty()) std::fill(g.dYp.data() + (t * B + n) * R, g.dYp.data() + (t + 1) * B * R, T(0));
    if (n == 0) continue;
    if (g.dout_ptr) {
      const T* go = g.dout_ptr + t * B * R;
      for (int64_t k = 0; k < n * R; ++k) dh[k] += go[k];
    }
    const T* hout = Hst + out * B * R;
    const T* Gt = G + t * B * GH;
    switch (L.cell) {
      case CellType::RNN:
        // dg = dh act'(h);  dh_{t-1} = dg W_hh
        kernels::rnn_cell_backward<T>(dh, hout, dGt, n * H, S.spec.activation);
        kernels::gemm<T>(false, false, n, R, GH, T(1), dGt, GH, w_hh, R, T(0), dh, R);
        break;
      case CellType::LSTM: {
        const T* dm = dh;
        if (L.proj) {  // h = m W_hr^T: dm = dh W_hr, and dh is kept for dW_hr = dH^T M
          std::memcpy(g.dHs.data() + t * B * R, dh, sizeof(T) * n * R);
          kernels::gemm<T>(false, false, n, H, R, T(1), dh, R, w.w_hr.data_ptr<T>(), H, T(0), g.tmp.data(), H);
          dm = g.tmp.data();
        }
        kernels::lstm_cell_backward<T>(dm, dc, Gt, Cst + out * B * H, Cst + in * B * H, ptr<T>(w.w_peep), dGt, n, H,
                                       S.spec.activation);
        kernels::gemm<T>(false, false, n, R, GH, T(1), dGt, GH, w_hh, R, T(0), dh, R);
        break;
      }
      case CellType::GRU: {
        // dh_{t-1} = dh z + dgh W_hh
        T* dGht = g.dGh.data() + t * B * GH;
        kernels::gru_cell_backward<T>(dh, Gt, D.HN.data_ptr<T>() + t * B * H, Hst + in * B * R, dGt, dGht, dh, n, H);
        kernels::gemm<T>(false, false, n, R, GH, T(1), dGht, GH, w_hh, R, T(1), dh, R);
        break;
      }
      case CellType::Jordan: {
        // dq = dy out_act'(y); da = dq W_ho; dg = da act'(a); dy_{t-1} = dg W_hh
        T* dq = g.dYp.data() + t * B * R;
        kernels::rnn_cell_backward<T>(dh, hout, dq, n * R, S.spec.output_activation);
        kernels::gemm<T>(false, false, n, H, R, T(1), dq, R, w.w_ho.data_ptr<T>(), H, T(0), g.tmp.data(), H);
        kernels::rnn_cell_backward<T>(g.tmp.data(), Gt, dGt, n * H, S.spec.activation);
        kernels::gemm<T>(false, false, n, R, GH, T(1), dGt, GH, w_hh, R, T(0), dh, R);
        break;
      }
    }
  }
}


// One backward step's bookkeeping on a thread's rows [r0, r1) of the row-split paths with two
// per-step gradient buffers a (width wa) and b (width wb) at step t: rows from n on are inactive
// (zero gradients there: they contribute nothing to the weight gradients). Returns the end e of
// the active rows (e <= r0: none). The active rows' output gradient (dout_rows) is the caller's
// to add to dh, in its first pass over dh rather than a pass of its own.
int64_t backward_rows_begin(int64_t r0, int64_t r1, int64_t n, float* a, int64_t wa, float* b, int64_t wb) {
  const int64_t i0 = std::max(r0, n), e = std::min(r1, n);
  if (i0 < r1) {
    std::fill(a + i0 * wa, a + r1 * wa, 0.0f);
    std::fill(b + i0 * wb, b + r1 * wb, 0.0f);
  }
  return e;
}

// The output gradient at step t (null when no output needs one), rows [r0, e) of width R.
const float* dout_rows(const DirGrads<float>& g, int64_t t, int64_t B, int64_t R, int64_t r0) {
  return g.dout_ptr ? g.dout_ptr + t * B * R + r0 * R : nullptr;
}

// The backward of forward_direction_jordan_fast, same row split:
//   dq = (dy + dout) out_act'(y);  da = dq W_ho;  dg = da act'(a);  dy_{t-1} = dg W_hh
void backward_direction_jordan_fast(const Saved& S, int d, DirGrads<float>& g) {
  const Layout& L = S.L;
  const RecurrentWeights& w = S.w[d];
  const Saved::Dir& D = S.dir[d];
  const int64_t B = L.B, H = L.H, R = L.R;
  const float *G = D.G.data_ptr<float>(), *Hst = D.Hst.data_ptr<float>();
  Scratch<float> who, whh;
  who.resize(kernels::seq_packed_t_size(R, H));
  whh.resize(kernels::seq_packed_t_size(H, R));
  kernels::pack_seq_hidden_t(w.w_ho.data_ptr<float>(), R, H, who.data());  // W_ho (O, H)
  kernels::pack_seq_hidden_t(w.w_hh.data_ptr<float>(), H, R, whh.data());  // W_hh (H, O)
  float *dh = g.dh.data(), *da = g.tmp.data();
  for_row_ranges(L, [&](int64_t r0, int64_t r1) {
    for (int64_t s = L.T - 1; s >= 0; --s) {
      const int64_t t = d == 0 ? s : L.T - 1 - s, out = S.out_slot(d, t);
      float* dGt = g.dG.data() + t * B * H;
      float* dq = g.dYp.data() + t * B * R;
      const int64_t e = backward_rows_begin(r0, r1, S.nact[t], dGt, H, dq, R);
      if (e <= r0) continue;
      const int64_t m = e - r0;  // dq = (dh + dout) out_act'(y)
      kernels::rnn_cell_backward<float>(dh + r0 * R, Hst + out * B * R + r0 * R, dq + r0 * R, m * R,
                                        S.spec.output_activation, dout_rows(g, t, B, R, r0));
      kernels::seq_backward_gemm_rows(r0, e, R, H, dq, who.data(), da, false);
      kernels::rnn_cell_backward<float>(da + r0 * H, G + t * B * H + r0 * H, dGt + r0 * H, m * H, S.spec.activation);
      kernels::seq_backward_gemm_rows(r0, e, H, R, dGt, whh.data(), dh, false);
    }
  });
}

// The backward of forward_direction_lstm_proj_fast, same row split:
//   dH_t = dh (kept for dW_hr = dH^T M);  dm = dh W_hr;  the cell backward -> dG_t, dc;
//   dh_{t-1} = dG_t W_hh
void backward_direction_lstm_proj_fast(const Saved& S, int d, DirGrads<float>& g) {
  const Layout& L = S.L;
  const RecurrentWeights& w = S.w[d];
  const Saved::Dir& D = S.dir[d];
  const int64_t B = L.B, H = L.H, R = L.R, GH = L.GH();
  const float *G = D.G.data_ptr<float>(), *Cst = D.Cst.data_ptr<float>();
  const float* peep = ptr<float>(w.w_peep);
  Scratch<float> whr, whh;
  whr.resize(kernels::seq_packed_t_size(R, H));
  whh.resize(kernels::seq_packed_t_size(GH, R));
  kernels::pack_seq_hidden_t(w.w_hr.data_ptr<float>(), R, H, whr.data());   // W_hr (P, H)
  kernels::pack_seq_hidden_t(w.w_hh.data_ptr<float>(), GH, R, whh.data());  // W_hh (4H, P)
  float *dh = g.dh.data(), *dc = g.dc.data(), *dm = g.tmp.data();
  for_row_ranges(L, [&](int64_t r0, int64_t r1) {
    for (int64_t s = L.T - 1; s >= 0; --s) {
      const int64_t t = d == 0 ? s : L.T - 1 - s, in = S.in_slot(d, t), out = S.out_slot(d, t);
      float* dGt = g.dG.data() + t * B * GH;
      float* dHt = g.dHs.data() + t * B * R;
      const int64_t e = backward_rows_begin(r0, r1, S.nact[t], dGt, GH, dHt, R);
      if (e <= r0) continue;
      if (const float* go = dout_rows(g, t, B, R, r0)) {  // dH_t = dh + dout
        for (int64_t k = 0; k < (e - r0) * R; ++k) dHt[r0 * R + k] = dh[r0 * R + k] + go[k];
      } else {
        std::memcpy(dHt + r0 * R, dh + r0 * R, sizeof(float) * (e - r0) * R);
      }
      kernels::seq_backward_gemm_rows(r0, e, R, H, dHt, whr.data(), dm, false);
      kernels::lstm_cell_backward_fast(dm + r0 * H, dc + r0 * H, G + t * B * GH + r0 * GH, Cst + out * B * H + r0 * H,
                                       Cst + in * B * H + r0 * H, peep, dGt + r0 * GH, e - r0, H, S.spec.activation);
      kernels::seq_backward_gemm_rows(r0, e, GH, R, dGt, whh.data(), dh, false);
    }
  });
}

// The backward of the fast path (same row split as the forward: no barrier per step).
template <class T>
void backward_direction_fast(const Saved& S, int d, DirGrads<T>& g) {
  if constexpr (std::is_same_v<T, float>) {
    const Layout& L = S.L;
    if (L.cell == CellType::Jordan) return backward_direction_jordan_fast(S, d, g);
    if (L.proj) return backward_direction_lstm_proj_fast(S, d, g);
    const RecurrentWeights& w = S.w[d];
    const Saved::Dir& D = S.dir[d];
    const int64_t B = L.B, H = L.H, GH = L.GH();
    const float *G = D.G.data_ptr<float>(), *Hst = D.Hst.data_ptr<float>();
    const float* Cst = L.cell == CellType::LSTM ? D.Cst.data_ptr<float>() : nullptr;
    const float* peep = ptr<float>(w.w_peep);
    Scratch<float> packed;
    packed.resize(kernels::seq_packed_t_size(GH, H));
    kernels::pack_seq_hidden_t(w.w_hh.data_ptr<float>(), GH, H, packed.data());
    float *dh = g.dh.data(), *dc = g.dc.data();
    // The bias gradients are column sums of dG (and dGh): each row range adds its rows into its
    // own partial right after the cell backward writes them (still in L2), and the partials are
    // added in row order after the loop. A separate pass after the loop read all of dG (52 MB at
    // LSTM 100x64x512) back from memory on one thread.
    const int64_t nsum = (g.dGh.empty() ? 1 : 2) * GH + (peep ? 3 * H : 0);
    std::mutex parts_mu;
    std::vector<std::pair<int64_t, Scratch<float>>> parts;
    for_row_ranges(L, [&](int64_t r0, int64_t r1) {
      Scratch<float> part;
      part.assign(nsum, 0.0f);
      for (int64_t s = L.T - 1; s >= 0; --s) {
        const int64_t t = d == 0 ? s : L.T - 1 - s, n = S.nact[t];
        const int64_t in = S.in_slot(d, t), out = S.out_slot(d, t), e = std::min(r1, n);
        float* dGt = g.dG.data() + t * B * GH;
        float* dGht = g.dGh.empty() ? nullptr : g.dGh.data() + t * B * GH;
        // inactive rows contribute nothing to the weight gradients
        const int64_t i0 = std::max(r0, n);
        if (i0 < r1) {
          std::fill(dGt + i0 * GH, dGt + r1 * GH, 0.0f);
          if (dGht) std::fill(dGht + i0 * GH, dGht + r1 * GH, 0.0f);
        }
        if (e <= r0) continue;
        const float* go = dout_rows(g, t, B, H, r0);
        if (go && L.cell != CellType::RNN) {  // (RNN's cell backward adds it in its own pass)
          for (int64_t k = 0; k < (e - r0) * H; ++k) dh[r0 * H + k] += go[k];
        }
        const float* Gt = G + t * B * GH;
        const int64_t m = e - r0;
        switch (L.cell) {
          case CellType::RNN:
            kernels::rnn_cell_backward<float>(dh + r0 * H, Hst + out * B * H + r0 * H, dGt + r0 * GH, m * H,
                                              S.spec.activation, go);
            kernels::seq_backward_gemm_rows(r0, e, GH, H, dGt, packed.data(), dh, false);
            break;
          case CellType::LSTM:
            kernels::lstm_cell_backward_fast(dh + r0 * H, dc + r0 * H, Gt + r0 * GH, Cst + out * B * H + r0 * H,
                                             Cst + in * B * H + r0 * H, peep, dGt + r0 * GH, m, H, S.spec.activation);
            kernels::seq_backward_gemm_rows(r0, e, GH, H, dGt, packed.data(), dh, false);
            break;
          case CellType::GRU:
            kernels::gru_cell_backward_fast(dh + r0 * H, Gt + r0 * GH, D.HN.data_ptr<float>() + t * B * H + r0 * H,
                                            Hst + in * B * H + r0 * H, dGt + r0 * GH, dGht + r0 * GH, dh + r0 * H, m,
                                            H);
            kernels::seq_backward_gemm_rows(r0, e, GH, H, dGht, packed.data(), dh, true);
            break;
          case CellType::Jordan: break;  // not on the fast path
        }
        kernels::column_sum_add<float>(dGt + r0 * GH, m, GH, part.data());
        if (dGht) kernels::column_sum_add<float>(dGht + r0 * GH, m, GH, part.data() + GH);
        if (peep)
          kernels::lstm_peephole_grad_add<float>(dGt + r0 * GH, Cst + in * B * H + r0 * H, Cst + out * B * H + r0 * H,
                                                 m, H, part.data() + GH);
      }
      std::lock_guard<std::mutex> lock(parts_mu);
      parts.emplace_back(r0, std::move(part));
    });
    std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    g.db.assign(nsum, 0.0f);
    for (const auto& pr : parts) kernels::column_sum_add<float>(pr.second.data(), 1, nsum, g.db.data());
  }
}

// grads: {dx, dh0, dc0, then kWeightsPerDir per direction}
template <class T>
TensorList backward_impl(const Saved& S, const TensorList& grads, bool need_x, bool need_h0, bool need_c0) {
  const Layout& L = S.L;
  const int64_t T_ = L.T, B = L.B, I = L.I, H = L.H, R = L.R, GH = L.GH(), TB = L.T * L.B;
  const bool lstm = L.cell == CellType::LSTM;
  const DType dt = S.xs.dtype();
  const Tensor gout = grads[0].defined() ? grads[0].contiguous() : Tensor();
  const Tensor ghn = grads.size() > 1 && grads[1].defined() ? grads[1].contiguous() : Tensor();
  const Tensor gcn = grads.size() > 2 && grads[2].defined() ? grads[2].contiguous() : Tensor();
  std::vector<DirGrads<T>> g(L.D);
  for (int64_t d = 0; d < L.D; ++d) {
    DirGrads<T>& gd = g[d];
    gd.dG.resize(TB * GH);
    if (L.cell == CellType::GRU) gd.dGh.resize(TB * GH);
    if (L.proj) gd.dHs.resize(TB * R);
    if (L.cell == CellType::Jordan) gd.dYp.resize(TB * R);
    gd.tmp.resize(B * H);
    gd.dh.assign(B * R, T(0));
    gd.dc.assign(B * H, T(0));
    if (gout.defined()) {
      if (L.D == 1 && S.perm.empty()) {  // already (T,B,R) in sorted order: read in place
        gd.dout_ptr = gout.data_ptr<T>();
      } else {
        gd.dout.resize(TB * R);
        permute_rows<T>(gout.data_ptr<T>() + d * R, L.D * R, gd.dout.data(), R, T_, B, R, S.perm, true);
        gd.dout_ptr = gd.dout.data();
      }
    }
    if (ghn.defined()) permute_rows<T>(ghn.data_ptr<T>() + d * B * R, R, gd.dh.data(), R, 1, B, R, S.perm, true);
    if (gcn.defined() && lstm)
      permute_rows<T>(gcn.data_ptr<T>() + d * B * H, H, gd.dc.data(), H, 1, B, H, S.perm, true);
  }
  if (fast_path<T>(L, S.spec)) {
    for_each_direction(L.D, [&](int d) { backward_direction_fast<T>(S, d, g[d]); });
  } else {
    for_each_direction(L.D, [&](int d) { backward_direction<T>(S, d, g[d]); });
  }

  TensorList res(3 + kWeightsPerDir * L.D);
  Tensor dxs = need_x ? empty({T_, B, I}, dt) : Tensor();
  if (need_h0) res[1] = empty({L.D, B, R}, dt);
  if (need_c0) res[2] = empty({L.D, B, H}, dt);
  for (int64_t d = 0; d < L.D; ++d) {
    const RecurrentWeights& w = S.w[d];
    const Saved::Dir& D = S.dir[d];
    const DirGrads<T>& gd = g[d];
    const T* dG = gd.dG.data();
    const T* dGh = L.cell == CellType::GRU ? gd.dGh.data() : dG;
    Tensor* out = res.data() + 3 + kWeightsPerDir * d;
    auto grad_of = [&](const Tensor& p) { return p.defined() ? empty(p.shape(), dt) : Tensor(); };
    Tensor dw_ih = grad_of(w.w_ih), dw_hh = grad_of(w.w_hh), db_ih = grad_of(w.b_ih), db_hh = grad_of(w.b_hh);
    Tensor dw_hr = grad_of(w.w_hr), dpeep = grad_of(w.w_peep), dw_ho = grad_of(w.w_ho), db_ho = grad_of(w.b_ho);
    // dW_ih = dG^T X;  dW_hh = dGh^T H_prev;  db = column sums
    kernels::gemm<T>(true, false, GH, I, TB, T(1), dG, GH, S.xs.data_ptr<T>(), I, T(0), dw_ih.data_ptr<T>(), I);
    const T* Hprev = D.Hst.data_ptr<T>() + S.in_slot(static_cast<int>(d), 0) * B * R;
    kernels::gemm<T>(true, false, GH, R, TB, T(1), dGh, GH, Hprev, R, T(0), dw_hh.data_ptr<T>(), R);
    // (b_ih and b_hh enter the gates alike: with dGh = dG one sum serves both)
    const T* db_sum = gd.db.empty() ? nullptr : gd.db.data();
    if (db_ih.defined()) {
      if (db_sum) {
        std::copy_n(db_sum, GH, db_ih.data_ptr<T>());
      } else {
        kernels::column_sum<T>(dG, db_ih.data_ptr<T>(), TB, GH);
      }
    }
    if (db_hh.defined()) {
      if (db_sum) {
        std::copy_n(dGh == dG ? db_sum : db_sum + GH, GH, db_hh.data_ptr<T>());
      } else if (dGh == dG && db_ih.defined()) {
        std::copy_n(db_ih.data_ptr<T>(), GH, db_hh.data_ptr<T>());
      } else {
        kernels::column_sum<T>(dGh, db_hh.data_ptr<T>(), TB, GH);
      }
    }
    // dW_hr = dH^T M
    if (L.proj)
      kernels::gemm<T>(true, false, R, H, TB, T(1), gd.dHs.data(), R, D.M.data_ptr<T>(), H, T(0), dw_hr.data_ptr<T>(),
                       H);
    // dw_ci = sum di~ c_{t-1}, dw_cf = sum df~ c_{t-1}, dw_co = sum do~ c_t
    if (L.peep && db_sum) {
      std::copy_n(db_sum + GH, 3 * H, dpeep.data_ptr<T>());
    } else if (L.peep) {
      const T* Cst = D.Cst.data_ptr<T>();
      kernels::lstm_peephole_grad<T>(dG, Cst + S.in_slot(static_cast<int>(d), 0) * B * H,
                                     Cst + S.out_slot(static_cast<int>(d), 0) * B * H, dpeep.data_ptr<T>(), TB, H);
    }
    // dW_ho = dQ^T A;  db_ho = column sums of dQ
    if (L.cell == CellType::Jordan) {
      kernels::gemm<T>(true, false, R, H, TB, T(1), gd.dYp.data(), R, D.G.data_ptr<T>(), H, T(0), dw_ho.data_ptr<T>(),
                       H);
      if (db_ho.defined()) kernels::column_sum<T>(gd.dYp.data(), db_ho.data_ptr<T>(), TB, R);
    }
    // dX = sum over directions dG W_ih
    if (need_x)
      kernels::gemm<T>(false, false, TB, I, GH, T(1), dG, GH, w.w_ih.data_ptr<T>(), I, T(d == 0 ? 0 : 1),
                       dxs.data_ptr<T>(), I);
    // dh0, dc0: what is left in the recurrent gradient after the first step
    if (need_h0) permute_rows<T>(gd.dh.data(), R, res[1].data_ptr<T>() + d * B * R, R, 1, B, R, S.perm, false);
    if (need_c0) permute_rows<T>(gd.dc.data(), H, res[2].data_ptr<T>() + d * B * H, H, 1, B, H, S.perm, false);
    const Tensor ws[kWeightsPerDir] = {dw_ih, dw_hh, db_ih, db_hh, dw_hr, dpeep, dw_ho, db_ho};
    for (int k = 0; k < kWeightsPerDir; ++k) out[k] = ws[k];
  }
  if (need_x) {
    if (S.perm.empty()) {
      res[0] = dxs;
    } else {
      res[0] = empty({T_, B, I}, dt);
      permute_rows<T>(dxs.data_ptr<T>(), I, res[0].data_ptr<T>(), I, T_, B, I, S.perm, false);
    }
  }
  return res;
}

// Backward through time: gradients of {x, h0, c0, weights...} from those of {output, h_n, c_n}
// (any of them undefined = zero).
TensorList recurrent_layer_backward(const std::shared_ptr<const Saved>& S, const TensorList& grads, bool need_x,
                                    bool need_h0, bool need_c0) {
  return dispatch_float(S->xs.dtype(), kOp,
                        [&]<class T>() { return backward_impl<T>(*S, grads, need_x, need_h0, need_c0); });
}

// B = 0, as PyTorch allows: outputs (T,0,D*R), (D,0,R), (D,0,H), every gradient zero (the
// weights') or empty (x, h0, c0). Kept apart so that no kernel ever sees an empty batch.
RecurrentOutput empty_batch(const RecurrentSpec& spec, const Layout& L, const Tensor& x, const Tensor& h0,
                            const Tensor& c0, const std::vector<RecurrentWeights>& weights) {
  const DType dt = x.dtype();
  RecurrentOutput res;
  res.output = zeros({L.T, 0, L.D * L.R}, dt);
  res.h_n = zeros({L.D, 0, L.R}, dt);
  if (spec.cell == CellType::LSTM) res.c_n = zeros({L.D, 0, L.H}, dt);
  TensorList inputs{x, h0, c0};
  for (const RecurrentWeights& w : weights)
    for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh, &w.w_hr, &w.w_peep, &w.w_ho, &w.b_ho})
      inputs.push_back(*t);
  TensorList outputs{res.output, res.h_n};
  if (res.c_n.defined()) outputs.push_back(res.c_n);
  std::vector<std::pair<Shape, bool>> shapes;  // what each gradient looks like (undefined: false)
  for (const Tensor& t : inputs) shapes.emplace_back(t.defined() ? t.shape() : Shape{}, t.defined());
  autograd::record(kOp, inputs, outputs, [shapes, dt](const TensorList&) {
    TensorList g;
    for (const auto& [shape, defined] : shapes) g.push_back(defined ? zeros(shape, dt) : Tensor());
    return g;
  });
  return res;
}

}  // namespace

// ==================================================================== the op

RecurrentOutput recurrent_layer(const RecurrentSpec& spec, const Tensor& x, const Tensor& h0, const Tensor& c0,
                                const std::vector<RecurrentWeights>& weights, const Tensor& lengths) {
  const Layout L = check_args(spec, x, h0, c0, weights, lengths);
  if (L.B == 0) return empty_batch(spec, L, x, h0, c0, weights);
  auto S = std::make_shared<Saved>();
  S->spec = spec;
  S->L = L;
  // lengths -> sorted order (descending, stable) and the active prefix of each step
  std::vector<int64_t> len = lengths.defined() ? lengths.to_vector<int64_t>() : std::vector<int64_t>(L.B, L.T);
  std::vector<int64_t> perm(L.B);
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return len[a] > len[b]; });
  bool identity = true;
  for (int64_t k = 0; k < L.B; ++k) identity = identity && perm[k] == k;
  if (!identity) S->perm = perm;
  S->nact.assign(L.T, 0);
  for (int64_t t = 0; t < L.T; ++t)
    for (int64_t b = 0; b < L.B; ++b) S->nact[t] += len[b] > t;

  const Tensor xc = x.contiguous();
  const Tensor h0c = h0.defined() ? h0.contiguous() : Tensor();
  const Tensor c0c = c0.defined() ? c0.contiguous() : Tensor();
  TensorList inputs{xc, h0c, c0c};
  for (const RecurrentWeights& w : weights) {
    auto cc = [](const Tensor& t) { return t.defined() ? t.contiguous() : Tensor(); };
    S->w.push_back({cc(w.w_ih), cc(w.w_hh), cc(w.b_ih), cc(w.b_hh), cc(w.w_hr), cc(w.w_peep), cc(w.w_ho), cc(w.b_ho)});
    const RecurrentWeights& s = S->w.back();
    for (const Tensor* t : {&s.w_ih, &s.w_hh, &s.b_ih, &s.b_hh, &s.w_hr, &s.w_peep, &s.w_ho, &s.b_ho})
      inputs.push_back(*t);
  }
  RecurrentOutput res;
  dispatch_float(x.dtype(), kOp, [&]<class T>() {
    if (S->perm.empty()) {
      S->xs = xc.detach();
    } else {
      S->xs = empty(xc.shape(), xc.dtype());
      permute_rows<T>(xc.data_ptr<T>(), L.I, S->xs.data_ptr<T>(), L.I, L.T, L.B, L.I, S->perm, true);
    }
    forward_impl<T>(*S, h0c, c0c, res);
  });
  TensorList outputs{res.output, res.h_n};
  if (res.c_n.defined()) outputs.push_back(res.c_n);
  const bool need_x = xc.requires_grad(), need_h0 = h0c.defined() && h0c.requires_grad(),
             need_c0 = c0c.defined() && c0c.requires_grad();
  std::shared_ptr<const Saved> saved = S;
  autograd::record(kOp, inputs, outputs, [saved, need_x, need_h0, need_c0](const TensorList& g) {
    return recurrent_layer_backward(saved, g, need_x, need_h0, need_c0);
  });
  return res;
}

}  // namespace seqnn
