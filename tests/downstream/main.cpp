// Built against the installed tree: proves the exported package, the headers and both
// library flavours work outside the source tree.
#include <seqnn/seqnn.h>

#include <cstdio>

int main() {
  using namespace seqnn;
  Tensor w = from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor y = reshape(transpose(w, 0, 1), {4});
  y.backward(from_vector(std::vector<float>{1, 0, 0, 0}, {4}));
  std::printf("downstream ok: %s grad[0]=%g\n", runtime_info().c_str(), w.grad().to_vector<float>()[0]);
  return w.grad().to_vector<float>()[0] == 1.0f ? 0 : 1;
}
