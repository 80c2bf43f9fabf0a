// kernels/index.h (internal): strided copies, gathers and scatter-adds for the indexing ops.
//
//   copy_strided   dst[i] = src[i] for every multi-index i of `shape` (both sides strided)
//   index_gather   out[o][j][i]      = x[o][idx[j]][i]     (index_select forward)
//   index_add      dx[o][idx[j]][i] += g[o][j][i]          (index_select backward)
// Shapes and strides are in elements. Indices must already be checked to lie in [0, n).
// The ref:: versions are naive per-element loops used as the oracle in tests/test_index.cpp.
#pragma once

#include <cstdint>

namespace seqnn::kernels {

// shape, src_strides, dst_strides: (nd)
template <class T>
void copy_strided(int64_t nd, const int64_t* shape, const T* src, const int64_t* src_strides, T* dst,
                  const int64_t* dst_strides);

// x: (outer,n,inner)  idx: (m)  out: (outer,m,inner)
template <class T>
void index_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* x, const int64_t* idx, T* out);

// g: (outer,m,inner)  idx: (m)  dx: (outer,n,inner), accumulated into (+=)
template <class T>
void index_add(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* g, const int64_t* idx, T* dx);

namespace ref {
template <class T>
void copy_strided(int64_t nd, const int64_t* shape, const T* src, const int64_t* src_strides, T* dst,
                  const int64_t* dst_strides);
template <class T>
void index_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* x, const int64_t* idx, T* out);
template <class T>
void index_add(int64_t outer, int64_t n, int64_t inner, int64_t m, const T* g, const int64_t* idx, T* dx);
}  // namespace ref

}  // namespace seqnn::kernels
