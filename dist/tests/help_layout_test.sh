#!/usr/bin/env bash
# Every C++ program (and each of its sub-commands) answers in the one layout of mrelay/cli.h:
#   --help     exit 0, stdout: "Usage: PROGRAM ..." first, an "Options:" section
#   --version  exit 0, one line "PROGRAM VERSION"
#   an unknown flag: exit 2, stderr "PROGRAM: --x: unknown flag (see PROGRAM --help)"
# help2man and dist/gen_completion.py read exactly this.
#
# Then the completions dist/gen_completion.py writes from these texts: sub-commands and their
# own flags, and no word of a wrapped help line taken for a flag.
#
#   bash dist/tests/help_layout_test.sh BUILD_DIR/bin 0.1.0 dist   # ctest dist.help_layout
set -euo pipefail
BIN=$(cd "${1:?usage: help_layout_test.sh BIN_DIR VERSION DIST_DIR}" && pwd)
VERSION=${2:?usage: help_layout_test.sh BIN_DIR VERSION DIST_DIR}
DIST=$(cd "${3:?usage: help_layout_test.sh BIN_DIR VERSION DIST_DIR}" && pwd)
PYTHON=/usr/bin/python3
PROGRAMS=(mrelay mrelayctl mrelay-gen mrelay-sink mrelay-bench mrelay-kfwd mrelay-perfstat
          mrelay-inject mrelay-microbench)

failures=0 checked=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# check_help "PROGRAM [SUB]": the help of a program or of one of its sub-commands.
check_help() {
  local words=$1 out rc=0
  # shellcheck disable=SC2086  # "PROGRAM SUB" splits into words on purpose
  out=$("$BIN"/$words --help 2>/dev/null) || rc=$?
  [[ $rc -eq 0 ]] || { fail "$words --help: exit $rc"; return; }
  [[ $(head -1 <<<"$out") == "Usage: $words "* ]] ||
    fail "$words --help: first line is '$(head -1 <<<"$out")', not 'Usage: $words ...'"
  grep -qx 'Options:' <<<"$out" || fail "$words --help: no 'Options:' section"
  grep -q -- '^  -h, --help ' <<<"$out" || [[ $words == *" "* ]] ||
    fail "$words --help: does not list -h, --help"
  local long
  long=$(awk 'length > 79' <<<"$out" | head -1)
  [[ -z $long ]] || fail "$words --help: a line longer than 79 columns: '$long'"
  checked=$((checked + 1))
}

check_program() {
  local program=$1 out rc=0
  check_help "$program"
  out=$("$BIN/$program" --version 2>/dev/null) || rc=$?
  [[ $rc -eq 0 && $out == "$program $VERSION" ]] ||
    fail "$program --version: exit $rc, printed '$out' (want '$program $VERSION')"
  rc=0
  out=$("$BIN/$program" --no-such-flag 2>&1 >/dev/null) || rc=$?
  [[ $rc -eq 2 && $out == "$program: --no-such-flag: unknown flag (see $program --help)" ]] ||
    fail "$program --no-such-flag: exit $rc, stderr '$out'"
  # Sub-commands: the words under "Commands:", each with its own help.
  local sub
  while read -r sub; do
    check_help "$program $sub"
  done < <("$BIN/$program" --help | sed -n '/^Commands:$/,/^$/{s/^  \([a-z][a-z0-9-]*\).*/\1/p}')
}

found=0
for program in "${PROGRAMS[@]}"; do
  if [[ -x $BIN/$program ]]; then
    found=$((found + 1))
    check_program "$program"
  else
    echo "not built: $program"
  fi
done
if ((found == 0)); then
  echo "SKIP [dist.help_layout]: no program built in $BIN"
  exit 77
fi
# complete PROGRAM STYLE WORD...: the words the generated completion offers for the last WORD.
SCRATCH=$(mktemp -d /tmp/mrelay-help-layout.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
complete() {
  local program=$1 style=$2 function
  shift 2
  function=_${program//-/_}
  [[ -f $SCRATCH/$program ]] ||
    "$PYTHON" "$DIST/gen_completion.py" --name "$program" --subcommands "$style" \
      -o "$SCRATCH/$program" -- "$BIN/$program" >/dev/null
  bash -c "source '$SCRATCH/$program'; COMP_WORDS=(\"\$@\"); COMP_CWORD=\$((\$# - 1)); $function; echo \"\${COMPREPLY[*]}\"" _ "$program" "$@"
}
expect_completion() {  # expect_completion WANT PROGRAM STYLE WORD...
  local want=$1 got
  shift
  got=$(complete "$@")
  [[ " $got " == *" $want "* ]] || fail "completion ${*:3}: '$got' lacks '$want'"
}
if [[ -x $BIN/mrelay-bench && -x $BIN/mrelayctl && -x $BIN/mrelay-gen ]]; then
  expect_completion cell mrelay-bench section:Commands c
  expect_completion --egress mrelay-bench section:Commands cell --eg
  expect_completion --need mrelay-bench section:Commands probe --ne
  expect_completion --bin-dir mrelay-bench section:Commands gc --bin
  expect_completion --prometheus mrelayctl section:Commands stats --pro
  expect_completion list-rules mrelayctl section:Commands li
  # "--source-tx-udp-segmentation" is prose in --gso's help (mrelay-netns's flag).
  got=$(complete mrelay-gen section:Commands --so)
  [[ -z $got ]] || fail "completion mrelay-gen --so: offers '$got' (a word of the help text)"
  [[ $(complete mrelay-gen section:Commands --gs) == --gso ]] || fail "completion mrelay-gen --gs"
fi

if ((failures > 0)); then
  echo "help_layout: $failures failures"
  exit 1
fi
echo "help_layout: $found programs, $checked help texts in the common layout"
