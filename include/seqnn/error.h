// seqnn/error.h: the one exception type and the helpers that build its messages.
//
// Every check in seqnn throws seqnn::Error with the operation's name first, then what was
// expected and what was given:
//   "LSTM.forward: input (5,3,10) must be (T,B,input_size=12)"
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace seqnn {

using Shape = std::vector<int64_t>;

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "(2,3,4)"; "()" for a scalar.
std::string shape_str(const Shape& shape);

namespace detail {
inline void append(std::ostringstream&) {}
template <class A, class... Rest>
void append(std::ostringstream& os, const A& a, const Rest&... rest) {
  if constexpr (std::is_same_v<A, Shape>) {
    os << shape_str(a);
  } else {
    os << a;
  }
  append(os, rest...);
}
}  // namespace detail

// Throws Error("op: " + parts...). Shapes (std::vector<int64_t>) print as (a,b,c).
// `op` is a string_view: a literal op name costs nothing until the check fails (as a
// const std::string&, every check built a std::string, a few ns each, on every call).
template <class... Parts>
[[noreturn]] void fail(std::string_view op, const Parts&... parts) {
  std::ostringstream os;
  os << op << ": ";
  detail::append(os, parts...);
  throw Error(os.str());
}

// check(cond, "op", parts...): fail(...) when cond is false.
template <class... Parts>
void check(bool cond, std::string_view op, const Parts&... parts) {
  if (!cond) fail(op, parts...);
}

}  // namespace seqnn
