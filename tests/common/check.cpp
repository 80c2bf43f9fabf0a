#include "common/check.h"

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

}  // namespace seqnn::testutil
