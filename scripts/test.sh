#!/usr/bin/env bash
# Builds everything, benchmarks included, with warnings as errors and runs the whole test suite.
#   scripts/test.sh [BUILD_DIR]        (SANITIZE=1 for an ASan + UBSan build)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${1:-build}
flags="-Wall -Wextra -Wpedantic -Werror"
type=RelWithDebInfo
if [[ ${SANITIZE:-0} == 1 ]]; then
  flags="$flags -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
  type=Debug
fi
# The benchmarks are off by default; here they are built and each run once (bench/CMakeLists.txt).
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DCMAKE_CXX_FLAGS="$flags" -DPOP3_BUILD_BENCH=ON
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 900
