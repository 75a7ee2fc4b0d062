"""A small, safe expression language shared by law formulas and row filters.

Python's own parser reads the text, then only a whitelist of node types is accepted and
compiled into a tree of closures over numpy functions: no ``eval``, no attribute access, no
names other than the variables the caller supplies. Sizes may be written the human way
(``params > 1B``, ``tokens <= 1.4T``).

What an expression can do is bounded, so that a mistaken or hostile one is refused with one
line instead of crashing, running for minutes or changing the data:

- functions take a fixed number of arguments and nothing else (numpy's functions take an
  output array as an extra positional argument: ``log(params, params)`` would overwrite the
  data), and the arrays an expression reads are read-only;
- the text, its number of parts and its nesting are limited (Python's parser recurses once per
  level: a sum of 3,000 terms exhausts its stack);
- numbers are floats: a literal must fit a float, and constant parts (``2**100000``) are
  computed once, when the expression is compiled, and refused unless finite (in numpy's int64
  ``2**100000`` silently wraps to 0);
- text appears only where it is compared (``family == 'x'``, ``run_id in ['a', 'b']``), never
  in arithmetic (``'a'*10**10`` allocates 10 GB); lists only after ``in``.

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
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError

#: Suffixes accepted on numbers written the human way: 70B, 1.4T, 125M, 32K.
SIZE_SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}
_HUMAN_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)([KMBGTP])(?![\w])")
#: A quoted string, so that the rewrites above leave text literals alone (run_id == '70B').
_STRING_LITERAL = re.compile(r"""('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")

#: Limits on one expression. The largest built-in law (data_constrained) has 286 characters,
#: 71 parts and 17 levels; a filter naming a couple of hundred run ids fits too. Python's
#: parser recurses once per level (a few thousand terms exhaust its stack) and so do the
#: compiled closures, hence the depth limit; a sum of n terms is n levels deep.
MAX_CHARACTERS = 4_000
MAX_NODES = 1_000
MAX_DEPTH = 100


@dataclass(frozen=True)
class Function:
    """A function expressions may call: exactly ``arity`` positional arguments, nothing else."""

    arity: int
    apply: Callable[..., Any]


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


#: Newton steps of :func:`_m4root` (from its starting point it needs fewer than 10 to reach
#: machine precision; the rest cover the worst starts, at no measurable cost).
_M4_ITERATIONS = 60


def _m4root(k: Any, a: Any) -> Any:
    """The ``u`` with ``u = k*(1 - u)**a``: the normalised excess loss of the M4 learning curve.

    Alabdulmohsin et al. 2022 (*Revisiting Neural Scaling Laws in Language and Vision*) write M4
    implicitly, ``(L - L_inf)/(L0 - L)**alpha = beta*x**c``; with ``L = L_inf + (L0 - L_inf)*u``
    it is ``u/(1 - u)**alpha = k``, which has no closed form. For ``a > 0`` the root is in
    ``[0, 1)``: Newton's method on ``z = logit(u)``, where ``log u - a*log(1 - u)`` increases
    with slope between ``min(1, a)`` and ``max(1, a)`` and is concave (``a < 1``) or convex
    (``a > 1``), so after at most one overshoot the steps close in on the root monotonically.
    ``a = 0`` is the plain power law, ``u = k`` (the paper's code special-cases it the same
    way). ``k < 0`` or ``a < 0`` give NaN.

    Example:
        >>> float(_m4root(1.0, 1.0))  # u/(1 - u) = 1
        0.5
    """
    k, a = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(a, dtype=float))
    positive = a > 0
    slope_a = np.where(positive, a, 1.0)
    with np.errstate(all="ignore"):
        target = np.log(k)  # -inf at k = 0; NaN for k < 0 (left NaN below)
        z = np.clip(np.where(target <= 0, target, target / slope_a), -700.0, 700.0)
        for _ in range(_M4_ITERATIONS):
            # -log sigma(-z) and -log sigma(z), without overflow
            plus, minus = np.logaddexp(0.0, z), np.logaddexp(0.0, -z)
            gap = -minus + slope_a * plus - target
            slope = np.exp(-plus) + slope_a * np.exp(-minus)
            z = np.clip(z - np.where(np.isfinite(gap), gap / slope, np.sign(gap)), -700.0, 700.0)
        u = np.exp(-np.logaddexp(0.0, -z))
    u = np.where(positive, u, k)
    u = np.where(k == 0, 0.0, u)
    return np.where((a < 0) | (k < 0) | np.isnan(k) | np.isnan(a), np.nan, u)


_ONE_ARGUMENT = {
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
    "sigmoid": _sigmoid,
}
_TWO_ARGUMENTS = {
    "minimum": np.minimum,
    "maximum": np.maximum,
    "min": np.minimum,
    "max": np.maximum,
    "m4root": _m4root,
}
FUNCTIONS: dict[str, Function] = {
    **{name: Function(1, fn) for name, fn in _ONE_ARGUMENT.items()},
    **{name: Function(2, fn) for name, fn in _TWO_ARGUMENTS.items()},
}

# numpy's functions rather than Python's operators, so that plain floats behave like arrays:
# 1/0 is inf and (-8)**0.5 is nan, not an exception or a complex number.
_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
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
_MEMBERSHIP = (ast.In, ast.NotIn)
_NODES = (
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name, ast.Constant, ast.List,
    ast.Tuple,
)  # fmt: skip

Env = Mapping[str, Any]
Compiled = Callable[[Env], Any]


def expand_human_numbers(text: str) -> str:
    """Rewrite ``70B`` as ``70000000000.0`` so Python's parser can read it.

    Example:
        >>> expand_human_numbers("params >= 1.5B and tokens < 2T")
        'params >= 1500000000.0 and tokens < 2000000000000.0'
    """

    def expand(m: re.Match[str]) -> str:
        value = float(m.group(1)) * SIZE_SUFFIXES[m.group(2)]
        # repr(inf) is a name; 1e999 stays a number, which the literal check then refuses.
        return repr(value) if math.isfinite(value) else "1e999"

    return _HUMAN_NUMBER.sub(expand, text)


def _rewrite_code(text: str) -> str:
    """Human sizes and ``^`` for power, outside quoted strings only."""
    pieces = _STRING_LITERAL.split(text)  # code, literal, code, literal, ..., code
    return "".join(
        piece if i % 2 else expand_human_numbers(piece).replace("^", "**")
        for i, piece in enumerate(pieces)
    )


def shorten(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut in the middle when long, for one-line messages."""
    if len(text) <= limit:
        return repr(text)
    half = limit // 2
    return repr(f"{text[:half]}...{text[-half:]}") + f" ({len(text):,} characters)"


def parse(text: str, *, what: str = "expression") -> ast.expr:
    """Parse ``text`` and check that it only uses the whitelisted syntax, within the limits."""
    if not text or not text.strip():
        raise InputError(f"empty {what}")
    text = text.strip()
    quoted = shorten(text)
    if len(text) > MAX_CHARACTERS:
        raise InputError(f"{what} {quoted} is too long: at most {MAX_CHARACTERS:,} characters")
    source = _rewrite_code(text)
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL character
        raise InputError(f"cannot parse {what} {quoted}: {getattr(exc, 'msg', exc)}") from None
    except (RecursionError, MemoryError):
        raise InputError(_too_deep(what, quoted)) from None
    _check_tree(tree.body, source, what, quoted)
    return tree.body


def _too_deep(what: str, quoted: str) -> str:
    return (
        f"{what} {quoted} is nested more than {MAX_DEPTH} levels deep "
        "(each term of a sum or product adds a level)"
    )


def _check_tree(root: ast.expr, source: str, what: str, quoted: str) -> None:
    """Size, depth and node checks, iteratively: the tree may be too deep to recurse into."""
    stack = [(root, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise InputError(
                f"{what} {quoted} has more than {MAX_NODES:,} parts (numbers, names, operations)"
            )
        if depth > MAX_DEPTH:
            raise InputError(_too_deep(what, quoted))
        _check_node(node, source, what, quoted)
        stack.extend(
            (child, depth + 1)
            for child in ast.iter_child_nodes(node)
            if isinstance(child, ast.expr)
        )


def _check_node(node: ast.expr, source: str, what: str, quoted: str) -> None:
    if not isinstance(node, _NODES):
        raise InputError(f"{what} {quoted} uses unsupported syntax: {type(node).__name__}")
    if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
        raise InputError(f"{what} {quoted} uses unsupported operator {type(node.op).__name__}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        raise InputError(f"{what} {quoted} uses unsupported operator Invert")
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE and not isinstance(op, _MEMBERSHIP):
                raise InputError(f"{what} {quoted} uses unsupported comparison {type(op).__name__}")
    if isinstance(node, ast.Call):
        _check_call(node, what, quoted)
    if isinstance(node, ast.Name):
        # Python's parser NFKC-normalises identifiers: a fullwidth 'ｐａｒａｍｓ' would silently
        # become 'params'. Only what is typed is accepted as a name.
        typed = ast.get_source_segment(source, node) or node.id
        if not typed.isascii():
            raise InputError(
                f"{what} {quoted}: name {typed!r} is not plain ASCII (letters, digits and _)"
            )
    if isinstance(node, ast.Constant):
        _check_constant(node, source, what, quoted)


def _check_call(node: ast.Call, what: str, quoted: str) -> None:
    name = node.func.id if isinstance(node.func, ast.Name) else "?"
    if name not in FUNCTIONS:
        known = ", ".join(sorted(FUNCTIONS))
        raise InputError(f"{what} {quoted} calls unknown function {name!r} (known: {known})")
    if node.keywords:
        raise InputError(f"{what} {quoted}: keyword arguments are not supported")
    arity = FUNCTIONS[name].arity
    if len(node.args) != arity:
        raise InputError(
            f"{what} {quoted}: {name}() takes {arity} argument{'s' * (arity > 1)}, "
            f"got {len(node.args)}"
        )


def _check_constant(node: ast.Constant, source: str, what: str, quoted: str) -> None:
    value = node.value
    if isinstance(value, str):
        return
    if not isinstance(value, int | float):  # bool is an int
        raise InputError(f"{what} {quoted} has an unsupported constant {value!r}")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        typed = ast.get_source_segment(source, node) or repr(value)
        raise InputError(
            f"{what} {quoted}: the number {shorten(typed, 24)} does not fit a float "
            f"(at most {np.finfo(float).max:.4g})"
        )


def names_in(node: ast.AST) -> set[str]:
    """Identifiers a parsed expression reads (names of called functions excluded)."""
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and id(n) not in called}


# -- compiling: closures, with constant parts folded --------------------------------------

#: What a compiled part gives: the compiler refuses text in arithmetic and lists outside ``in``.
NUMBER, CONDITION, TEXT, LIST, VARIABLE = "number", "condition", "text", "list", "variable"


@dataclass(frozen=True)
class _Part:
    kind: str
    evaluate: Compiled
    constant: bool = False


class _Compiler:
    def __init__(self, what: str, text: str | None) -> None:
        self.what = what
        self.text = text

    def error(self, node: ast.AST, message: str) -> InputError:
        text = self.text if self.text is not None else ast.unparse(node)
        return InputError(f"{self.what} {shorten(text)}: {message}")

    def compile(self, node: ast.AST) -> _Part:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str):
                return _Part(TEXT, lambda env: value, constant=True)
            if isinstance(value, bool):
                return _Part(CONDITION, lambda env: value, constant=True)
            number = float(value)  # integers too: int64 arithmetic would wrap silently
            return _Part(NUMBER, lambda env: number, constant=True)
        if isinstance(node, ast.Name):
            name = node.id
            return _Part(VARIABLE, lambda env: env[name])
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BoolOp):
            return self._boolean(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.List | ast.Tuple):
            raise self.error(node, "a list may only follow 'in' (e.g. run_id in ['a', 'b'])")
        raise self.error(node, f"unsupported syntax {type(node).__name__}")

    def numeric(self, node: ast.AST) -> _Part:
        """A part used as a number: text and lists are refused."""
        part = self.compile(node)
        if part.kind == TEXT:
            raise self.error(
                node,
                f"text {shorten(str(part.evaluate({})), 24)} can only be compared "
                "(family == 'x'), not used as a number",
            )
        return part

    def number(self, node: ast.AST, fn: Compiled, parts: list[_Part]) -> _Part:
        """A numeric result, computed now when every input is a constant."""
        if not all(p.constant for p in parts):
            return _Part(NUMBER, fn)
        with np.errstate(all="ignore"):
            value = float(fn({}))
        if not math.isfinite(value):
            raise self.error(
                node, f"{shorten(ast.unparse(node), 40)} is {value} (constants must be finite)"
            )
        return _Part(NUMBER, lambda env: value, constant=True)

    def _binary(self, node: ast.BinOp) -> _Part:
        op = _BINARY[type(node.op)]
        left, right = self.numeric(node.left), self.numeric(node.right)
        fl, fr = left.evaluate, right.evaluate
        return self.number(node, lambda env: op(fl(env), fr(env)), [left, right])

    def _unary(self, node: ast.UnaryOp) -> _Part:
        operand = self.numeric(node.operand)
        f = operand.evaluate
        if isinstance(node.op, ast.Not):
            return _Part(CONDITION, lambda env: np.logical_not(f(env)))
        if isinstance(node.op, ast.UAdd):
            return operand
        return self.number(node, lambda env: -f(env), [operand])

    def _boolean(self, node: ast.BoolOp) -> _Part:
        parts = [self.numeric(v).evaluate for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def boolop(env: Env) -> Any:
            result = parts[0](env)
            for part in parts[1:]:
                result = combine(result, part(env))
            return result

        return _Part(CONDITION, boolop)

    def _call(self, node: ast.Call) -> _Part:
        apply = FUNCTIONS[node.func.id].apply  # type: ignore[union-attr]
        args = [self.numeric(a) for a in node.args]
        fns = [a.evaluate for a in args]
        if len(fns) == 1:
            (f,) = fns
            return self.number(node, lambda env: apply(f(env)), args)
        f, g = fns
        return self.number(node, lambda env: apply(f(env), g(env)), args)

    def _compare(self, node: ast.Compare) -> _Part:
        if any(isinstance(op, _MEMBERSHIP) for op in node.ops[:-1]):
            raise self.error(node, "a list may only be the last thing compared")
        head = self.compile(node.left).evaluate
        ops = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, _MEMBERSHIP):
                if not isinstance(comparator, ast.List | ast.Tuple):
                    raise self.error(node, "'in' needs a list (e.g. run_id in ['a', 'b'])")
                negate = isinstance(op, ast.NotIn)
                ops.append((lambda a, b, n=negate: np.isin(a, b) ^ n, self._list(comparator)))
            else:
                ops.append((_COMPARE[type(op)], self.compile(comparator).evaluate))

        def compare(env: Env) -> Any:
            left = head(env)
            result = True
            for fn, right_fn in ops:
                right = right_fn(env)
                result = np.logical_and(result, fn(left, right))
                left = right
            return result

        return _Part(CONDITION, compare)

    def _list(self, node: ast.List | ast.Tuple) -> Compiled:
        items = [self.compile(e).evaluate for e in node.elts]
        return lambda env: [item(env) for item in items]


def compile_node(node: ast.AST, *, what: str = "expression", text: str | None = None) -> Compiled:
    """Compile a checked AST node into a closure ``env -> value``."""
    return _Compiler(what, text).compile(node).evaluate


def _as_input(value: Any) -> Any:
    """A value as expressions see it: integers as floats, arrays read-only views."""
    if isinstance(value, bool | np.bool_):
        return value
    if isinstance(value, int | np.integer):
        return float(value)
    if isinstance(value, np.ndarray):
        value = value.astype(float) if value.dtype.kind in "iu" else value.view()
        value.flags.writeable = False
    return value


class Expression:
    """A parsed, compiled expression; call it with a mapping of names to values.

    ``is_condition`` says whether it gives true/false (a comparison, ``and``/``or``/``not``)
    rather than a number.
    """

    def __init__(self, text: str, *, what: str = "expression") -> None:
        self.text = text
        self.what = what
        self.tree = parse(text, what=what)
        self.names = frozenset(names_in(self.tree))
        compiled = _Compiler(what, text).compile(self.tree)
        if compiled.kind == TEXT:
            raise InputError(f"{what} {shorten(text)} is text, not a number or a condition")
        self.is_condition = compiled.kind == CONDITION
        self._fn = compiled.evaluate

    def __call__(self, env: Env) -> Any:
        missing = self.names - set(env)
        if missing:
            raise InputError(
                f"{shorten(self.text)} refers to unknown name(s): {', '.join(sorted(missing))}"
            )
        inputs = {name: _as_input(env[name]) for name in self.names}
        try:
            with np.errstate(all="ignore"):
                return self._fn(inputs)
        except TypeError as exc:
            # Arithmetic on a text column (a name's type is only known now): numpy's message, on
            # one line. Other errors would be bugs of the caller (shapes) and keep their trace.
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(
                f"cannot evaluate {self.what} {shorten(self.text)}: {reason}"
            ) from None

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"
