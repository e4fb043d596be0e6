"""The package's shape: no import cycle (function-local imports included, so none can hide),
the layers import downwards only, and each fact the rig computes has one owner -- the
reference ratios and the kernel's VIF limit in C++ (harness/src), one median per language.

    cd python && /usr/bin/python3 -m pytest -q tests/test_layout.py
"""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mrelay"
HARNESS = Path(__file__).resolve().parents[2] / "harness" / "src"

#: Who may import whom, by layer: a module imports only modules of its own or a lower layer.
#: data: documents and what is read from them; work: analyses and runs built on the data;
#: pages: what turns work into sections, tables and plots; cli: the command line.
LAYERS = {
    "__init__": 0, "results": 1, "page": 1, "plots": 1, "bench": 1, "changepoint": 1, "gate": 2,
    "baseline": 2, "ab": 2, "export": 2, "figures": 2, "sizing": 2, "burst_model": 2,
    "reproduce": 3, "report": 3, "cli_report": 4, "cli_results": 4, "cli": 5, "__main__": 6,
}


def imports_of(path: Path) -> set[str]:
    """Every package module `path` imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mrelay"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mrelay."):
                    found.add(alias.name.split(".")[1])
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    # `from . import native` names a function of __init__, not a module.
    return {name if name in modules else "__init__" for name in found} - {path.stem}


def graph() -> dict[str, set[str]]:
    return {path.stem: imports_of(path) for path in PACKAGE.glob("*.py")}


def test_no_import_cycle():
    edges = graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"


def test_every_module_has_a_layer_and_imports_downwards():
    edges = graph()
    assert set(edges) <= set(LAYERS), f"modules without a layer: {set(edges) - set(LAYERS)}"
    upward = [f"{module} -> {target}" for module, targets in edges.items() for target in targets
              if LAYERS[target] > LAYERS[module]]
    assert not upward, f"imports of a higher layer: {upward}"


def functions_named(name: str) -> list[str]:
    found = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") == name:
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_one_median_per_language():
    assert functions_named("median") == [f"results.py:{_line_of('results.py', 'def median')}"]
    calls = [f"{p.name}:{i}" for p in PACKAGE.glob("*.py")
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if "statistics.median(" in line]
    assert calls == [f"results.py:{_line_of('results.py', 'statistics.median(')}"], calls
    cpp = [f"{p.relative_to(HARNESS)}:{i}" for p in HARNESS.rglob("*.cc")
           for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"n % 2 == 1 \?|^double median\(", line)]
    assert len(cpp) == 2 and all(c.startswith("results/aggregate.cc") for c in cpp), cpp


def test_the_reference_ratios_and_the_vif_limit_have_one_owner():
    # The ratio rule lives in results/aggregate.cc; Python asks it through the native module.
    assert functions_named("comparable_rate") == []
    python = "\n".join(p.read_text() for p in PACKAGE.glob("*.py"))
    assert "mirrors" not in python
    assert not re.search(r"VIF_LIMIT\s*=\s*\d", python)
    cpp = [f"{p.relative_to(HARNESS)}:{i}" for p in HARNESS.rglob("*.[ch]*")
           for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"constexpr .*Vifs?\s*=\s*\d", line)]
    assert cpp == ["reference/kernel_forwarder.h:" + str(
        _line_of("../../harness/src/reference/kernel_forwarder.h", "kMaxVifs ="))], cpp


def _line_of(relative: str, text: str) -> int:
    lines = (PACKAGE / relative).resolve().read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)
