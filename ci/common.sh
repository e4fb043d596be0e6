# Shared by ci/*.sh: repository root, set-up and the Release build.
# Usage (from a ci script): source "$(dirname "$0")/common.sh"; mrelay_build
set -euo pipefail
MRELAY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MRELAY_BUILD_DIR="${MRELAY_BUILD_DIR:-$MRELAY_ROOT/build}"
MRELAY_BIN_DIR="$MRELAY_BUILD_DIR/bin"
# Debian's interpreter: the first python3 on PATH may be another one that cannot see
# python3-numpy/scipy/matplotlib or build against pybind11-dev.
MRELAY_PYTHON=/usr/bin/python3
export MRELAY_ROOT MRELAY_BUILD_DIR MRELAY_BIN_DIR MRELAY_PYTHON

mrelay_build() {
  "$MRELAY_ROOT/ci/setup.sh"
  cmake -S "$MRELAY_ROOT" -B "$MRELAY_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPython3_EXECUTABLE="$MRELAY_PYTHON" -DPYTHON_EXECUTABLE="$MRELAY_PYTHON" >/dev/null
  cmake --build "$MRELAY_BUILD_DIR" -j "$(nproc)"
}

# The Python package of this checkout, run against this build: mrelay_py gate --suite smoke ...
mrelay_py() {
  (cd "$MRELAY_ROOT/python" && MRELAY_BUILD_DIR="$MRELAY_BUILD_DIR" \
    MRELAY_BIN_DIR="$MRELAY_BIN_DIR" "$MRELAY_PYTHON" -m mrelay "$@")
}
