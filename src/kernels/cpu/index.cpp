// Strided copy, gather and scatter-add (see kernels/index.h for the contracts).
#include "kernels/index.h"

#include <algorithm>
#include <cstring>

#include "kernels/parallel.h"

namespace seqnn::kernels {

namespace {
constexpr int64_t kMaxDims = 64;      // beyond this copy_strided falls back to the reference
constexpr int64_t kGrainElems = 32768;  // elements per parallel chunk
}  // namespace

// ==================================================================== copy_strided

template <class T>
void copy_strided(int64_t nd, const int64_t* shape, const T* src, const int64_t* src_strides, T* dst,
                  const int64_t* dst_strides) {
  if (nd > kMaxDims) return ref::copy_strided(nd, shape, src, src_strides, dst, dst_strides);
  // Drop size-1 dims and merge a dim into its outer neighbour when both sides nest
  // (outer stride == size * inner stride): fewer, longer inner loops.
  int64_t sh[kMaxDims], ss[kMaxDims], ds[kMaxDims], k = 0;
  for (int64_t d = 0; d < nd; ++d) {
    if (shape[d] == 0) return;
    if (shape[d] == 1) continue;
    if (k > 0 && ss[k - 1] == shape[d] * src_strides[d] && ds[k - 1] == shape[d] * dst_strides[d]) {
      sh[k - 1] *= shape[d];
      ss[k - 1] = src_strides[d];
      ds[k - 1] = dst_strides[d];
    } else {
      sh[k] = shape[d];
      ss[k] = src_strides[d];
      ds[k] = dst_strides[d];
      ++k;
    }
  }
  if (k == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner = sh[k - 1], is = ss[k - 1], id = ds[k - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < k; ++d) rows *= sh[d];
  parallel_for(rows, std::max<int64_t>(1, kGrainElems / inner), [&](int64_t r0, int64_t r1) {
    // r0 -> multi-index over the outer dims, then an odometer
    int64_t idx[kMaxDims], so = 0, d_o = 0, rem = r0;
    for (int64_t d = k - 2; d >= 0; --d) {
      idx[d] = rem % sh[d];
      rem /= sh[d];
      so += idx[d] * ss[d];
      d_o += idx[d] * ds[d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      const T* s = src + so;
      T* t = dst + d_o;
      if (is == 1 && id == 1) {
        std::memcpy(t, s, static_cast<size_t>(inner) * sizeof(T));
      } else {
        for (int64_t j = 0; j < inner; ++j) t[j * id] = s[j * is];
      }
      for (int64_t d = k - 2; d >= 0; --d) {
        if (++idx[d] < sh[d]) {
          so += ss[d];
          d_o += ds[d];
          break;
        }
        so -= ss[d] * (sh[d] - 1);
        d_o -= ds[d] * (sh[d] - 1);
        idx[d] = 0;
      }
    }
  });
}

// ==================================================================== index_gather / index_add

template <class T>
void index_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* x, const int64_t* idx, T* out) {
  if (inner == 0) return;
  // one output row (o, j) = one input row (o, idx[j])
  parallel_for(outer * m, std::max<int64_t>(1, kGrainElems / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / m, j = r % m;
      const T* s = x + (o * n + idx[j]) * inner;
      std::memcpy(out + r * inner, s, static_cast<size_t>(inner) * sizeof(T));
    }
  });
}

template <class T>
void index_add(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* g, const int64_t* idx, T* dx) {
  if (inner == 0 || m == 0) return;
  // Tasks own disjoint (o, column block) pieces of dx, so repeated indices never race.
  constexpr int64_t kBlock = 1024;
  const int64_t nblk = (inner + kBlock - 1) / kBlock, width = std::min(inner, kBlock);
  parallel_for(outer * nblk, std::max<int64_t>(1, kGrainElems / (m * width)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / nblk, c0 = (t % nblk) * kBlock, c1 = std::min(inner, c0 + kBlock);
      for (int64_t j = 0; j < m; ++j) {
        const T* s = g + (o * m + j) * inner;
        T* d = dx + (o * n + idx[j]) * inner;
        for (int64_t i = c0; i < c1; ++i) d[i] += s[i];
      }
    }
  });
}

template void copy_strided<float>(int64_t, const int64_t*, const float*, const int64_t*, float*, const int64_t*);
template void copy_strided<double>(int64_t, const int64_t*, const double*, const int64_t*, double*, const int64_t*);
template void copy_strided<int64_t>(int64_t, const int64_t*, const int64_t*, const int64_t*, int64_t*,
                                    const int64_t*);
template void copy_strided<bool>(int64_t, const int64_t*, const bool*, const int64_t*, bool*, const int64_t*);
template void index_gather<float>(int64_t, int64_t, int64_t, int64_t, const float*, const int64_t*, float*);
template void index_gather<double>(int64_t, int64_t, int64_t, int64_t, const double*, const int64_t*, double*);
template void index_gather<int64_t>(int64_t, int64_t, int64_t, int64_t, const int64_t*, const int64_t*, int64_t*);
template void index_gather<bool>(int64_t, int64_t, int64_t, int64_t, const bool*, const int64_t*, bool*);
template void index_add<float>(int64_t, int64_t, int64_t, int64_t, const float*, const int64_t*, float*);
template void index_add<double>(int64_t, int64_t, int64_t, int64_t, const double*, const int64_t*, double*);

}  // namespace seqnn::kernels
