#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite.
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
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DCMAKE_CXX_FLAGS="$flags"
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 900
