// kernels/cpu/attention.cpp: the fused attention kernel (first version: the reference).
#include "kernels/attention.h"

namespace seqnn::kernels {

template <class T>
void attention_forward(const AttentionProblem<T>& pr, T* o, T* lse, T* w) {
  ref::attention_forward(pr, o, lse, w);
}

template <class T>
void attention_backward(const AttentionProblem<T>& pr, const T* do_, const T* o, const T* lse, const T* dw, T* dq,
                        T* dk, T* dv, T* dmask) {
  ref::attention_backward(pr, do_, o, lse, dw, dq, dk, dv, dmask);
}

template void attention_forward<float>(const AttentionProblem<float>&, float*, float*, float*);
template void attention_forward<double>(const AttentionProblem<double>&, double*, double*, double*);
template void attention_backward<float>(const AttentionProblem<float>&, const float*, const float*, const float*,
                                        const float*, float*, float*, float*, float*);
template void attention_backward<double>(const AttentionProblem<double>&, const double*, const double*,
                                         const double*, const double*, double*, double*, double*, double*);

}  // namespace seqnn::kernels
