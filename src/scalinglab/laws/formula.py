"""Split a law's formula into the pieces variable projection needs.

A formula such as ``E + A*params**-alpha + B*tokens**-beta`` is a sum of terms. A parameter
*enters linearly* when it is a plain multiplicative factor of exactly one term and appears
nowhere else: then the model is ``offset(x; theta) + sum_j c_j * basis_j(x; theta)`` and, for
fixed nonlinear parameters ``theta``, the linear ones ``c`` solve a (non-negative) least-squares
problem exactly (Golub & Pereyra's variable projection; Xu et al. 2026 for scaling laws).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..expr import Compiled, compile_node, names_in


@dataclass(frozen=True)
class Decomposition:
    """``formula = offset + sum(basis[name] * name for name in linear)``."""

    linear: tuple[str, ...]
    basis: dict[str, Compiled]
    offset: Compiled | None


def signed_terms(node: ast.expr, sign: int = 1) -> list[tuple[int, ast.expr]]:
    """Flatten a top-level sum into signed terms."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
        right_sign = sign if isinstance(node.op, ast.Add) else -sign
        return signed_terms(node.left, sign) + signed_terms(node.right, right_sign)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return signed_terms(node.operand, -sign)
    return [(sign, node)]


def _numerator_factors(node: ast.expr) -> list[ast.expr]:
    """Factors that multiply a term (the left side of divisions included, not the right)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _numerator_factors(node.left) + _numerator_factors(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _numerator_factors(node.left)
    return [node]


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(self.names.get(node.id, node.id), ast.Load()), node)


def rename(formula: str | ast.expr, names: dict[str, str]) -> str:
    """The formula with some names replaced.

    Example:
        >>> rename("E + A*params**-alpha", {"E": "E_0", "A": "A_0"})
        'E_0 + A_0 * params ** (-alpha)'
    """
    tree = ast.parse(formula if isinstance(formula, str) else ast.unparse(formula), mode="eval")
    return ast.unparse(_Rename(names).visit(tree.body))


class _ReplaceName(ast.NodeTransformer):
    def __init__(self, name: str) -> None:
        self.name = name

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == self.name:
            return ast.copy_location(ast.Constant(1.0), node)
        return node


def _signed(fn: Compiled, sign: int) -> Compiled:
    return fn if sign > 0 else (lambda env: -fn(env))


def decompose(
    tree: ast.expr, parameters: set[str], candidates: set[str] | None = None
) -> Decomposition:
    """Find the parameters of ``tree`` that enter linearly and their basis functions.

    ``candidates`` restricts which parameters may be treated as linear (a law can declare a
    parameter nonlinear on purpose, e.g. to give it log-scale bounds).

    Example:
        >>> from scalinglab.expr import parse
        >>> d = decompose(parse("E + A*N**-a - B/D**b"), {"E", "A", "B", "a", "b"})
        >>> d.linear
        ('E', 'A', 'B')
    """
    allowed = parameters if candidates is None else parameters & candidates
    terms = signed_terms(tree)
    names_per_term = [names_in(term) for _, term in terms]
    linear: list[str] = []
    basis: dict[str, Compiled] = {}
    offset_terms: list[tuple[int, ast.expr]] = []
    for (sign, term), names in zip(terms, names_per_term, strict=True):
        chosen = None
        for factor in _numerator_factors(term):
            if not (isinstance(factor, ast.Name) and factor.id in allowed):
                continue
            name = factor.id
            in_other_terms = any(name in other for other in names_per_term if other is not names)
            occurrences = sum(
                isinstance(n, ast.Name) and n.id == name for n in ast.walk(term)
            )  # fmt: skip
            if not in_other_terms and occurrences == 1 and name not in linear:
                chosen = name
                break
        if chosen is None:
            offset_terms.append((sign, term))
            continue
        stripped = _ReplaceName(chosen).visit(ast.parse(ast.unparse(term), mode="eval").body)
        linear.append(chosen)
        basis[chosen] = _signed(compile_node(stripped), sign)
    offset = None
    if offset_terms:
        parts = [_signed(compile_node(t), s) for s, t in offset_terms]
        offset = parts[0] if len(parts) == 1 else (lambda env: sum(p(env) for p in parts))
    return Decomposition(tuple(linear), basis, offset)
