#!/usr/bin/env bash
# Builds mrelay (Release, ninja) and runs every test: ctest (unit tests, netns end-to-end
# tests) and pytest for python/. Installs missing Debian packages first (ci/setup.sh).
#
#   ci/test.sh              # everything
#   ci/test.sh -L netns     # extra arguments go to ctest
source "$(dirname "$0")/common.sh"
mrelay_build

echo "== ctest"
ctest --test-dir "$MRELAY_BUILD_DIR" --output-on-failure --timeout 600 "$@"

if compgen -G "$MRELAY_ROOT/python/tests/test_*.py" >/dev/null; then
  echo "== pytest"
  cd "$MRELAY_ROOT/python"
  MRELAY_BUILD_DIR="$MRELAY_BUILD_DIR" "$MRELAY_PYTHON" -m pytest -q tests
fi
