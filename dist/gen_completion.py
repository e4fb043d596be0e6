#!/usr/bin/env python3
"""Writes a bash completion file for one program from what its --help prints.

The flags and sub-commands come from the program itself at build time (dist/CMakeLists.txt),
so a completion never lists a flag the program lacks, nor misses a new one.

    gen_completion.py --name mrelay-bench --subcommands section:Commands -o OUT -- build/bin/mrelay-bench
    gen_completion.py --name mrelayctl --subcommands section:Commands -o OUT -- build/bin/mrelayctl
    gen_completion.py --name python3-mrelay --python-module mrelay --subcommands argparse \
        -o OUT -- /usr/bin/python3 -m mrelay

--subcommands: how the help lists them. ``section:T``: the indented first words under the
heading "T:" (every C++ program's layout, mrelay/cli.h: "Commands:"); ``usage``: lines
"  PROGRAM SUB ..."; ``argparse``: the entries under
"positional arguments"; ``none``. Each sub-command's own flags come from ``PROGRAM SUB --help``
when that succeeds and prints something other than the top-level help.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from typing import Sequence

# A flag the help defines: at the start of an option line, indented by two spaces
# ("  --egress B", "  -h, --help"), or in brackets of a usage line ("[--json]"). A flag merely
# mentioned in prose (mrelayctl's help names mrelay's --control-socket), even at the start of
# a wrapped help line (indented deeper), is not one of the program's own.
FLAG_LINE = re.compile(r"^ {2}(?:-\w,\s*)?(--[a-z][a-z0-9-]*)", re.M)
FLAG_BRACKET = re.compile(r"\[(--[a-z][a-z0-9-]*)")
WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def help_text(command: Sequence[str]) -> str | None:
    """``COMMAND --help`` output (stdout), or None when it fails."""
    try:
        done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout.strip() else None


def flags_in(text: str) -> list[str]:
    return sorted(set(FLAG_LINE.findall(text)) | set(FLAG_BRACKET.findall(text)))


def subcommands_from_usage(text: str, program: str) -> list[str]:
    found = []
    for line in text.splitlines():
        match = re.match(r"^\s+" + re.escape(program) + r"\s+([a-z][a-z0-9-]*)\b", line)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def subcommands_from_section(text: str, heading: str) -> list[str]:
    found, inside = [], False
    for line in text.splitlines():
        if line.strip() == heading + ":":
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            match = re.match(r"^  ([a-z][a-z0-9-]*)(\s|$)", line)
            if match:
                found.append(match.group(1))
    return found


def subcommands_from_argparse(text: str) -> list[str]:
    found, inside = [], False
    for line in text.splitlines():
        if line.startswith("positional arguments"):
            inside = True
            continue
        if inside:
            if line and not line.startswith(" "):
                break
            match = re.match(r"^    ([a-z][a-z0-9-]*)(\s|$)", line)
            if match:
                found.append(match.group(1))
    return found


def find_subcommands(style: str, text: str, program: str) -> list[str]:
    if style == "usage":
        return subcommands_from_usage(text, program)
    if style.startswith("section:"):
        return subcommands_from_section(text, style.split(":", 1)[1])
    if style == "argparse":
        return subcommands_from_argparse(text)
    return []


def shell_name(name: str) -> str:
    return "_" + re.sub(r"[^A-Za-z0-9]", "_", name)


def render(name: str, command_word: str, skip: int, top_flags: list[str],
           per_sub: dict[str, list[str]], python_module: str | None) -> str:
    """The completion file: one function; `skip` words precede the sub-command."""
    function = shell_name(name)
    lines = [
        f"# bash completion for {name}: generated from its --help by dist/gen_completion.py",
        f"{function}() {{",
        '  local cur="${COMP_WORDS[COMP_CWORD]}" sub="" i',
        f"  for ((i = {skip}; i < COMP_CWORD; i++)); do",
        '    case "${COMP_WORDS[i]}" in',
    ]
    if per_sub:
        lines.append(f"      {'|'.join(per_sub)}) sub=\"${{COMP_WORDS[i]}}\"; break ;;")
    lines += [
        "    esac",
        "  done",
        '  local words=""',
        '  case "$sub" in',
    ]
    for sub, flags in per_sub.items():
        lines.append(f"    {sub}) words=\"{' '.join(flags)}\" ;;")
    lines.append(f"    *) words=\"{' '.join([*per_sub, *top_flags])}\" ;;")
    lines += [
        "  esac",
        '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
        "}",
    ]
    if python_module is None:
        lines.append(f"complete -o default -F {function} {command_word}")
        return "\n".join(lines) + "\n"
    # `python3 -m MODULE`: complete our words after "-m MODULE", hand anything else to the
    # completion python3 had (bash-completion's), loaded first so it can be called.
    lines += [
        "# Sourced (e.g. from ~/.bashrc): it wraps python3's own completion, which it loads first.",
        "declare -F __load_completion >/dev/null && __load_completion python3",
        f"{function}_previous=$(complete -p python3 2>/dev/null | sed -nE 's/.* -F ([^ ]+) .*/\\1/p')",
        f"{function}_dispatch() {{",
        f'  if [[ "${{COMP_WORDS[1]}}" == -m && "${{COMP_WORDS[2]}}" == {python_module} ]]; then',
        f"    {function}",
        f"  elif [[ -n ${function}_previous ]]; then",
        f'    "${function}_previous" "$@"',
        "  fi",
        "}",
        f"complete -o default -F {function}_dispatch python3",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="completion file name / program name")
    parser.add_argument("--subcommands", default="none",
                        help="usage | section:HEADING | argparse | none")
    parser.add_argument("--python-module", help="complete `python3 -m MODULE` instead")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("command", nargs="+", help="the program (and its leading arguments)")
    args = parser.parse_args(argv)
    top = help_text(args.command)
    if top is None:
        print(f"gen_completion: `{' '.join(args.command)} --help` failed", file=sys.stderr)
        return 1
    per_sub = {}
    for sub in find_subcommands(args.subcommands, top, args.name):
        text = help_text([*args.command, sub])
        per_sub[sub] = flags_in(text) if text is not None and text != top else flags_in(top)
    command_word = args.name if args.python_module is None else "python3"
    skip = 1 if args.python_module is None else 3
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(render(args.name, command_word, skip, flags_in(top), per_sub,
                         args.python_module))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
