// tests/common/subprocess.h: run a command line and capture its output, for the tests that drive
// the `seqnn` binary (exit codes, --help, resume after SIGKILL).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace seqnn::testutil {

struct Proc {
  int rc = -1;  // exit status, -1 when the command could not run or was killed
  std::string out;  // stdout and stderr together
};

// Runs `cmd` through the shell with stderr folded into stdout.
inline Proc run_command(const std::string& cmd) {
  Proc p;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return p;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) p.out.append(buf, n);
  const int st = pclose(f);
  p.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return p;
}

// A path in single quotes for the shell (test paths hold no quote).
inline std::string shell_quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace seqnn::testutil
