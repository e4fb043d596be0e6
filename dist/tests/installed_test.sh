#!/usr/bin/env bash
# The .deb as a user gets it: built with CPack from this build tree, unpacked into a scratch
# root (dpkg -x: nothing is installed on this machine), then its programs, man pages,
# completions, unit and Python package are used from there. Also: every shared library an
# installed program links belongs to a package the .deb Depends on (ldd + dpkg -S).
#
#   bash dist/tests/installed_test.sh BUILD_DIR        # ctest dist.installed_files
set -euo pipefail
BUILD=$(cd "${1:?usage: installed_test.sh BUILD_DIR}" && pwd)
PYTHON=/usr/bin/python3

for tool in cpack dpkg-deb dpkg ldd; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP [dist.installed_files]: $tool not found (Debian package dpkg / cmake)"
    exit 77
  fi
done

SCRATCH=$(mktemp -d /tmp/mrelay-installed.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
failures=0
check() {  # check WHAT COMMAND...: runs it, prints ok/FAIL with its output on failure
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    echo "ok: $what"
  else
    echo "FAIL: $what"
    printf '%s\n' "$out" | head -20 | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}

echo "== cpack -G DEB"
cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$SCRATCH/pkg" >"$SCRATCH/cpack.log" 2>&1 ||
  { cat "$SCRATCH/cpack.log"; exit 1; }
deb=$(ls "$SCRATCH"/pkg/*.deb)
echo "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
dpkg -x "$deb" "$SCRATCH/root"
ROOT=$SCRATCH/root/usr
PYDIR=$ROOT/lib/python3/dist-packages
export ROOT PYDIR  # run_installed runs in child shells too

# The programs and the package from the scratch root only: no build tree in sight.
run_installed() {
  env -u MRELAY_BUILD_DIR -u MRELAY_BIN_DIR PATH="$ROOT/bin:/usr/bin:/bin" PYTHONPATH="$PYDIR" \
    LD_LIBRARY_PATH="$ROOT/lib" "$@"
}
check "mrelay --version" run_installed mrelay --version
check "mrelayctl --help" run_installed mrelayctl --help
check "python3 -m mrelay --help (from $(basename "$SCRATCH"))" \
  bash -c "cd / && $(declare -f run_installed); run_installed $PYTHON -m mrelay --help"
check "the package is the installed one" bash -c "cd / && $(declare -f run_installed);
  run_installed $PYTHON -c 'import mrelay; assert mrelay.__file__.startswith(\"$PYDIR\"), mrelay.__file__'"
check "the native module loads from dist-packages" bash -c "cd / && $(declare -f run_installed);
  run_installed $PYTHON -c 'import mrelay; assert mrelay.native_available(); import _mrelay; assert _mrelay.__file__.startswith(\"$PYDIR\")'"
check "the package finds the installed programs" bash -c "cd / && $(declare -f run_installed);
  run_installed $PYTHON -c 'from mrelay import bench; p = bench.find_bench(); assert str(p) == \"$ROOT/bin/mrelay-bench\", p'"

for program in mrelay mrelayctl mrelay-gen mrelay-sink mrelay-bench mrelay-kfwd mrelay-perfstat \
               mrelay-inject python3-mrelay; do
  check "man page $program.1" grep -q '^\.TH' "$ROOT/share/man/man1/$program.1"
done
check "man page says the version" grep -q "$(run_installed mrelay --version | grep -o '[0-9][0-9.]*' | head -1)" \
  "$ROOT/share/man/man1/mrelay.1"

# A completion offers the sub-commands and flags the program's --help lists.
complete_words() {  # complete_words FILE FUNCTION WORD...: COMPREPLY for the last word
  local file=$1 function=$2
  shift 2
  bash -c "source '$file'; COMP_WORDS=(\"\$@\"); COMP_CWORD=\$((\$# - 1)); $function; echo \"\${COMPREPLY[*]}\"" _ "$@"
}
COMPLETIONS=$ROOT/share/bash-completion/completions
check "completion mrelay-bench: c -> cell" \
  bash -c "[[ ' $(complete_words "$COMPLETIONS/mrelay-bench" _mrelay_bench mrelay-bench c) ' == *' cell '* ]]"
check "completion mrelay-bench cell --eg -> --egress" \
  bash -c "[[ '$(complete_words "$COMPLETIONS/mrelay-bench" _mrelay_bench mrelay-bench cell --eg)' == *--egress* ]]"
check "completion mrelayctl: li -> list-rules" \
  bash -c "[[ '$(complete_words "$COMPLETIONS/mrelayctl" _mrelayctl mrelayctl li)' == list-rules ]]"
check "completion mrelay: --egr -> --egress" \
  bash -c "[[ '$(complete_words "$COMPLETIONS/mrelay" _mrelay mrelay --egr)' == --egress ]]"
check "completion python3 -m mrelay: ga -> gate" \
  bash -c "[[ '$(complete_words "$COMPLETIONS/python3-mrelay" _python3_mrelay python3 -m mrelay ga)' == gate ]]"

UNIT=$SCRATCH/root/usr/lib/systemd/system/mrelay.service
check "unit installed with the package's paths" grep -q '^ExecStart=/usr/bin/mrelay ' "$UNIT"
check "unit documentation path exists in the package" \
  test -f "$SCRATCH/root$(sed -n 's|^Documentation=file://\([^ ]*\).*|\1|p' "$UNIT")"
check "sample config and rt drop-in" test -f "$ROOT/share/doc/mrelay/examples/mrelay.json" -a \
  -f "$ROOT/share/doc/mrelay/examples/mrelay-rt.conf"

# ldd + dpkg -S: the package owning every library an installed ELF links is in Depends.
depends_names=" $(echo "$depends" | sed -E 's/\([^)]*\)//g; s/[ ,]+/ /g') "
while IFS= read -r elf; do
  while IFS= read -r lib; do
    owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null ||
            dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null || true)
    package=${owner%%:*}
    if [[ -z $package ]]; then
      echo "FAIL: $(basename "$elf") links $lib, which no Debian package owns"
      failures=$((failures + 1))
    elif [[ $depends_names != *" $package "* ]]; then
      echo "FAIL: $(basename "$elf") links $lib from $package, not in Depends"
      failures=$((failures + 1))
    fi
  done < <(ldd "$elf" | sed -nE 's/.*=> (\/[^ ]+) .*/\1/p')
  echo "ok: libraries of $(basename "$elf") are in Depends"
done < <(find "$ROOT/bin" "$PYDIR" -type f \( -perm -u+x -o -name '*.so' \) -exec sh -c \
           'head -c 4 "$1" | grep -q ELF' _ {} \; -print)

if ((failures > 0)); then
  echo "installed_test: $failures failures"
  exit 1
fi
echo "installed_test: all checks passed"
