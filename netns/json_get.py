#!/usr/bin/python3
"""Answers a query over a JSON file for the netns tests (lib.sh's json_get): the query is
written like a Python expression but is read as data -- it is parsed, and only subscripts,
literals, arithmetic, comparisons, comprehensions and a few functions are evaluated; nothing
else (no attribute, no import, no other call) is ever run.

    json_get.py sink.out 'j["received"] + j["warmup_received"]'            # -> 6000
    json_get.py sink.out 'sum(s["lost"] for s in j["streams"])'            # -> 0
    json_get.py topology.json '" ".join(j["relays"][0]["egress"])'          # -> rout0 rout1
    json_get.py relay.stats '[l for l in lines if l.get("event") == "final"][-1]["total"]'

`j` is the file's JSON; a file of several JSON lines (relay stats) gives `j` = the last and
`lines` = all of them. Booleans print as 1/0, lists and objects as JSON, other values as
they are. Exit 1 with the reason on a query it does not allow or cannot answer.
"""

from __future__ import annotations

import ast
import json
import operator
import sys
from typing import Any, Callable

#: The functions a query may call, by name.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "sum": sum, "min": min, "max": max, "sorted": sorted, "all": all, "any": any,
    "set": set, "list": list, "int": int, "float": float, "str": str, "abs": abs,
    "round": round,
}
#: Methods a query may call on a value of the type named (dict.get, str.join).
METHODS: dict[tuple[type, str], Callable[..., Any]] = {
    (dict, "get"): dict.get, (str, "join"): str.join,
}
BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
           ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
           ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
UNARY = {ast.USub: operator.neg, ast.Not: operator.not_}


class QueryError(ValueError):
    """A query that is not allowed or cannot be answered; the message says which part."""


def evaluate(node: ast.AST, names: dict[str, Any]) -> Any:
    """The value of one node of the query's syntax tree; QueryError for anything else."""
    kind = type(node)
    if kind in HANDLERS:
        return HANDLERS[kind](node, names)
    raise QueryError(f"{kind.__name__} is not allowed in a query")


def _name(node: ast.Name, names: dict[str, Any]) -> Any:
    if node.id not in names:
        raise QueryError(f"unknown name '{node.id}' (j, lines, or a comprehension's own)")
    return names[node.id]


def _call(node: ast.Call, names: dict[str, Any]) -> Any:
    if node.keywords:
        raise QueryError("keyword arguments are not allowed in a query")
    args = [evaluate(arg, names) for arg in node.args]
    if isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        return FUNCTIONS[node.func.id](*args)
    if isinstance(node.func, ast.Attribute):
        owner = evaluate(node.func.value, names)
        method = METHODS.get((type(owner), node.func.attr))
        if method is not None:
            return method(owner, *args)
    raise QueryError(f"call of {ast.unparse(node.func)} is not allowed in a query")


def _comprehension(node: ast.ListComp | ast.SetComp | ast.GeneratorExp,
                   names: dict[str, Any]) -> list[Any]:
    results: list[Any] = []

    def walk(index: int, scope: dict[str, Any]) -> None:
        if index == len(node.generators):
            results.append(evaluate(node.elt, scope))
            return
        generator = node.generators[index]
        if not isinstance(generator.target, ast.Name) or generator.is_async:
            raise QueryError("a comprehension binds one plain name per `for`")
        for item in evaluate(generator.iter, scope):
            inner = {**scope, generator.target.id: item}
            if all(evaluate(condition, inner) for condition in generator.ifs):
                walk(index + 1, inner)

    walk(0, names)
    return results


def _compare(node: ast.Compare, names: dict[str, Any]) -> bool:
    left = evaluate(node.left, names)
    for op, right_node in zip(node.ops, node.comparators):
        right = evaluate(right_node, names)
        if type(op) not in COMPARE:
            raise QueryError(f"{type(op).__name__} is not allowed in a query")
        if not COMPARE[type(op)](left, right):
            return False
        left = right
    return True


def _binary(node: ast.BinOp, names: dict[str, Any]) -> Any:
    if type(node.op) not in BINARY:
        raise QueryError(f"{type(node.op).__name__} is not allowed in a query")
    return BINARY[type(node.op)](evaluate(node.left, names), evaluate(node.right, names))


def _unary(node: ast.UnaryOp, names: dict[str, Any]) -> Any:
    if type(node.op) not in UNARY:
        raise QueryError(f"{type(node.op).__name__} is not allowed in a query")
    return UNARY[type(node.op)](evaluate(node.operand, names))


def _boolean(node: ast.BoolOp, names: dict[str, Any]) -> Any:
    values = (evaluate(value, names) for value in node.values)
    return all(values) if isinstance(node.op, ast.And) else any(values)


def _slice(node: ast.Slice, names: dict[str, Any]) -> slice:
    part = lambda value: None if value is None else evaluate(value, names)  # noqa: E731
    return slice(part(node.lower), part(node.upper), part(node.step))


HANDLERS: dict[type, Callable[[Any, dict[str, Any]], Any]] = {
    ast.Expression: lambda node, names: evaluate(node.body, names),
    ast.Constant: lambda node, names: node.value,
    ast.Name: _name,
    ast.Subscript: lambda node, names: evaluate(node.value, names)[evaluate(node.slice, names)],
    ast.Slice: _slice,
    ast.Call: _call,
    ast.BinOp: _binary,
    ast.UnaryOp: _unary,
    ast.BoolOp: _boolean,
    ast.Compare: _compare,
    ast.IfExp: lambda node, names: evaluate(node.body if evaluate(node.test, names)
                                            else node.orelse, names),
    ast.List: lambda node, names: [evaluate(item, names) for item in node.elts],
    ast.Tuple: lambda node, names: tuple(evaluate(item, names) for item in node.elts),
    ast.ListComp: _comprehension,
    ast.GeneratorExp: _comprehension,
    ast.SetComp: lambda node, names: set(_comprehension(node, names)),
}


def read_lines(text: str, where: str) -> list[Any]:
    """The file's JSON: one document, or one per line (lines not starting with '{' skipped)."""
    text = text.strip()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        lines = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise QueryError(f"no JSON in {where}")
    return lines


def answer(text: str, query: str, where: str = "<text>") -> str:
    """The query's value over the JSON text, as json_get prints it."""
    lines = read_lines(text, where)
    try:
        tree = ast.parse(query, mode="eval")
    except SyntaxError as error:
        raise QueryError(f"not a query: {error.msg}") from error
    try:
        value = evaluate(tree, {"j": lines[-1], "lines": lines})
    except QueryError:
        raise
    except (LookupError, TypeError, ValueError, ArithmeticError) as error:
        raise QueryError(f"{type(error).__name__}: {error}") from error
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: json_get.py FILE QUERY", file=sys.stderr)
        return 2
    path, query = argv[1], argv[2]
    try:
        with open(path, encoding="utf-8") as handle:
            print(answer(handle.read(), query, path))
    except (OSError, QueryError, json.JSONDecodeError) as error:
        print(f"json_get: {path}: {query}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
