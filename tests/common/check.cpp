#include "common/check.h"

#include <unistd.h>

#include <set>

#include <gtest/gtest.h>

#include "seqnn/error.h"

namespace seqnn::testutil {

void expect_error(const std::function<void()>& f, const std::string& op, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected an Error from " << op;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(op + ":", 0), 0u) << msg << " (should start with '" << op << ":')";
    EXPECT_NE(msg.find(part), std::string::npos) << msg << " (missing '" << part << "')";
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

namespace {
// Removes the scratch roots at exit.
struct ScratchRoots {
  std::set<std::filesystem::path> roots;
  ~ScratchRoots() {
    for (const auto& r : roots) {
      std::error_code ec;
      std::filesystem::remove_all(r, ec);
    }
  }
};
ScratchRoots& scratch_roots() {
  static ScratchRoots r;
  return r;
}
}  // namespace

std::filesystem::path scratch_dir(const std::string& suite, const std::string& name) {
  const auto root = std::filesystem::temp_directory_path() / ("seqnn_" + suite + "_" + std::to_string(::getpid()));
  scratch_roots().roots.insert(root);
  const auto d = root / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace seqnn::testutil
