#!/usr/bin/python3
"""Lists the longest functions of the C++ and Python sources, and fails on any over the limit
that does not say why above it.

    ci/function_lengths.py                 # the 15 longest, and every one over 80 lines
    ci/function_lengths.py --check         # exit 1 when one over 80 lines has no reason
    ci/function_lengths.py --top 40 relay  # other folders, more rows

A function "says why" with a comment line starting "Long:" within the three lines above its
signature (for example "// Long: one table of every flag, read top to bottom."). Lengths
count every line from the signature to the closing brace (C++) or to the last line of the
body (Python), blank lines and comments included: what a reader has to scroll through.

C++ functions are found by their shape (a signature line ending in "{" at any indentation,
closed by a "}" at the same indentation), which covers the project's style (clang-format,
braces always); lambdas and class bodies are not counted as functions.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FOLDERS = ("relay", "harness", "python/mrelay", "bench", "fuzz")
#: The limit of the house style: about one screen.
LIMIT = 80
REASON_MARK = "Long:"

# A C++ function signature line: a name followed by "(", ending with "{", not a control
# statement, class/struct/namespace/enum or lambda.
CPP_SIGNATURE = re.compile(r"^(\s*)(?!(if|for|while|switch|else|do|return|case)\b)"
                           r"[\w:<>,~*&\s\[\]]*?\b([\w:~]+)\s*\(.*\)\s*"
                           r"(const\s*)?(noexcept\s*)?(override\s*)?(->\s*[\w:<>]+\s*)?\{\s*$")
KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "sizeof", "decltype"}
CPP_NOT_FUNCTION = re.compile(r"^\s*(class|struct|namespace|enum|union)\b|=\s*\[|\]\s*\(")


@dataclass
class Function:
    path: Path
    line: int
    name: str
    length: int
    reason: bool


def has_reason(lines: list[str], index: int) -> bool:
    return any(REASON_MARK in lines[i] for i in range(max(0, index - 3), index))


def cpp_functions(path: Path) -> list[Function]:
    lines = path.read_text(errors="replace").splitlines()
    found = []
    # A signature may span several lines: join a line that opens "(" without closing it
    # with the following ones until the "{" (at most 8 lines).
    i = 0
    while i < len(lines):
        text = lines[i]
        start = i
        joined = text
        j = i
        while (joined.count("(") > joined.count(")") and j + 1 < len(lines)
               and j - i < 8):
            j += 1
            joined += " " + lines[j].strip()
        match = CPP_SIGNATURE.match(joined)
        # The last member initialiser of a constructor ("  x_(y) {") looks like a signature,
        # but its "{" is indented as the initialiser list, not as the constructor.
        continues_list = start > 0 and lines[start - 1].rstrip().endswith(",")
        if (match and not continues_list and not CPP_NOT_FUNCTION.match(joined) and not joined.strip().startswith("}")
                and match.group(3) not in KEYWORDS and "=" not in joined.split("(")[0]
                and not any(op in joined for op in ("!=", "==", "||", ") &&", "return "))):
            indent = match.group(1)
            closing = re.compile("^" + re.escape(indent) + r"\}")
            end = j + 1
            while end < len(lines) and not closing.match(lines[end]):
                end += 1
            if end < len(lines):
                found.append(Function(path, start + 1, match.group(3), end - start + 1,
                                      has_reason(lines, start)))
                i = j + 1
                continue
        i += 1
    return found


def python_functions(path: Path) -> list[Function]:
    text = path.read_text(errors="replace")
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found.append(Function(path, first, node.name, node.end_lineno - first + 1,
                                  has_reason(lines, first - 1)))
    return found


def collect(folders: list[str]) -> list[Function]:
    functions = []
    for folder in folders:
        base = ROOT / folder
        for path in sorted(base.rglob("*")):
            if "build" in path.relative_to(ROOT).parts[:1]:
                continue
            if path.suffix in (".cc", ".h", ".cpp"):
                functions += cpp_functions(path)
            elif path.suffix == ".py":
                functions += python_functions(path)
    return functions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", default=list(DEFAULT_FOLDERS))
    parser.add_argument("--top", type=int, default=15, help="rows of the longest (default 15)")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 when a function over {LIMIT} lines has no '{REASON_MARK}' "
                             "reason above it")
    args = parser.parse_args()
    functions = sorted(collect(args.folders), key=lambda f: -f.length)
    over = [f for f in functions if f.length > LIMIT]
    shown = functions[:args.top] + [f for f in over[args.top:]]
    for f in shown:
        mark = "  (reason given)" if f.reason else ("  OVER, no reason" if f.length > LIMIT else "")
        print(f"{f.length:5d}  {f.path.relative_to(ROOT)}:{f.line}  {f.name}{mark}")
    unexplained = [f for f in over if not f.reason]
    print(f"{len(functions)} functions; {len(over)} over {LIMIT} lines, "
          f"{len(unexplained)} of them without a reason")
    return 1 if args.check and unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
