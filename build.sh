#!/usr/bin/env bash
# seqnn's two entry points on a fresh Debian 12 machine (root, or a user with sudo):
#   ./build.sh run    install what is missing, build, run the main job on its embedded default
#   ./build.sh test   install what is missing (incl. PyTorch for parity), build, run every test
# Options through the environment: BUILD_DIR (default build), JOBS (default: core count).
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-}
case "$mode" in
  run|test) ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

# ------------------------------------------------------------------ Debian packages
base_pkgs=(g++ cmake make pkg-config libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev zlib1g-dev dataset-fashion-mnist libgtest-dev libbenchmark-dev)
test_pkgs=(python3 python3-torch python3-numpy clang libclang-rt-14-dev libomp-dev)
want=("${base_pkgs[@]}")
[ "$mode" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ------------------------------------------------------------------ build
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

# ------------------------------------------------------------------ run
if [ "$mode" = run ]; then
  exec "$BUILD_DIR/examples/train_demo"
fi
# Tests: python3-torch must be importable by Debian's interpreter for the parity tests.
/usr/bin/python3 -c "import torch" || { echo "PyTorch (python3-torch) is not importable by /usr/bin/python3" >&2; exit 1; }
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS"
