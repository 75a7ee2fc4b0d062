"""A small, safe expression language shared by law formulas and row filters.

Python's own parser reads the text, then only a whitelist of node types is accepted and
compiled into a tree of closures over numpy functions: no ``eval``, no attribute access, no
names other than the variables the caller supplies. Sizes may be written the human way
(``params > 1B``, ``tokens <= 1.4T``).

Example:
    >>> import numpy as np
    >>> e = Expression("E + A*params**-alpha")
    >>> sorted(e.names)
    ['A', 'E', 'alpha', 'params']
    >>> float(e({"E": 1.0, "A": 4.0, "params": np.float64(4.0), "alpha": 1.0}))
    2.0
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .errors import InputError

#: Suffixes accepted on numbers written the human way: 70B, 1.4T, 125M, 32K.
SIZE_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_HUMAN_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)([KMBGTP])(?![\w])")

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "log": np.log,
    "ln": np.log,
    "log10": np.log10,
    "log2": np.log2,
    "log1p": np.log1p,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "tanh": np.tanh,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "min": np.minimum,
    "max": np.maximum,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: np.power,
    ast.Mod: np.mod,
}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


def expand_human_numbers(text: str) -> str:
    """Rewrite ``70B`` as ``70000000000.0`` so Python's parser can read it.

    Example:
        >>> expand_human_numbers("params >= 1.5B and tokens < 2T")
        'params >= 1500000000.0 and tokens < 2000000000000.0'
    """
    return _HUMAN_NUMBER.sub(lambda m: repr(float(m.group(1)) * SIZE_SUFFIXES[m.group(2)]), text)


def parse(text: str, *, what: str = "expression") -> ast.expr:
    """Parse ``text`` and check that it only uses the whitelisted syntax."""
    if not text or not text.strip():
        raise InputError(f"empty {what}")
    try:
        tree = ast.parse(expand_human_numbers(text.strip()).replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise InputError(f"cannot parse {what} {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        _check_node(node, text, what)
    return tree.body


def _check_node(node: ast.AST, text: str, what: str) -> None:
    allowed = (
        ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name,
        ast.Constant, ast.Load, ast.List, ast.Tuple, ast.operator, ast.unaryop, ast.boolop,
        ast.cmpop,
    )  # fmt: skip
    if not isinstance(node, allowed):
        raise InputError(f"{what} {text!r} uses unsupported syntax: {type(node).__name__}")
    if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
        raise InputError(f"{what} {text!r} uses unsupported operator {type(node.op).__name__}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else "?"
            known = ", ".join(sorted(FUNCTIONS))
            raise InputError(f"{what} {text!r} calls unknown function {name!r} (known: {known})")
        if node.keywords:
            raise InputError(f"{what} {text!r}: keyword arguments are not supported")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool):
        raise InputError(f"{what} {text!r} has an unsupported constant {node.value!r}")


def names_in(node: ast.AST) -> set[str]:
    """Identifiers a parsed expression reads (names of called functions excluded)."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in called}


def compile_node(node: ast.AST) -> Compiled:
    """Compile a checked AST node into a closure ``env -> value``."""
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda env: value
    if isinstance(node, ast.Name):
        name = node.id
        return lambda env: env[name]
    if isinstance(node, ast.BinOp):
        op, left, right = _BINARY[type(node.op)], compile_node(node.left), compile_node(node.right)
        return lambda env: op(left(env), right(env))
    if isinstance(node, ast.UnaryOp):
        operand = compile_node(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda env: -operand(env)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return lambda env: np.logical_not(operand(env))
        raise InputError(f"unsupported unary operator {type(node.op).__name__}")
    if isinstance(node, ast.BoolOp):
        parts = [compile_node(v) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def boolop(env: Env) -> Any:
            result = parts[0](env)
            for part in parts[1:]:
                result = combine(result, part(env))
            return result

        return boolop
    if isinstance(node, ast.Compare):
        return _compile_compare(node)
    if isinstance(node, ast.Call):
        func = FUNCTIONS[node.func.id]  # type: ignore[union-attr]
        args = [compile_node(a) for a in node.args]
        return lambda env: func(*(a(env) for a in args))
    if isinstance(node, ast.List | ast.Tuple):
        items = [compile_node(e) for e in node.elts]
        return lambda env: [i(env) for i in items]
    raise InputError(f"unsupported syntax {type(node).__name__}")


def _compile_compare(node: ast.Compare) -> Compiled:
    first = compile_node(node.left)
    ops = []
    for op, comparator in zip(node.ops, node.comparators, strict=True):
        if isinstance(op, ast.In | ast.NotIn):
            negate = isinstance(op, ast.NotIn)
            ops.append((lambda a, b, n=negate: np.isin(a, b) ^ n, compile_node(comparator)))
        elif type(op) in _COMPARE:
            ops.append((_COMPARE[type(op)], compile_node(comparator)))
        else:
            raise InputError(f"unsupported comparison {type(op).__name__}")

    def compare(env: Env) -> Any:
        left = first(env)
        result = True
        for fn, right_fn in ops:
            right = right_fn(env)
            result = np.logical_and(result, fn(left, right))
            left = right
        return result

    return compare


class Expression:
    """A parsed, compiled expression; call it with a mapping of names to values."""

    def __init__(self, text: str, *, what: str = "expression") -> None:
        self.text = text
        self.tree = parse(text, what=what)
        self.names = frozenset(names_in(self.tree))
        self._fn = compile_node(self.tree)

    def __call__(self, env: Env) -> Any:
        missing = self.names - set(env)
        if missing:
            raise InputError(
                f"{self.text!r} refers to unknown name(s): {', '.join(sorted(missing))}"
            )
        with np.errstate(all="ignore"):
            return self._fn(env)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"
