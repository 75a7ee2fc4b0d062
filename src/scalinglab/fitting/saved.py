"""FIT files: read through the guarded open, checked against a versioned JSON Schema.

A saved fit is input like any other: ``predict``, ``plan``, ``density``, ``schedule`` and
``fit --fix p=FIT.json`` read files that may be damaged, foreign or edited by hand. Before a
:class:`~scalinglab.fitting.result.FitResult` is built from one, the document passes

1. the guarded open (:mod:`scalinglab.runs.files`): a regular file of bounded size,
   UTF-8, JSON nested at most 64 deep, no integer beyond the float range;
2. the schema (``fit_schema.json``, checked with the ``jsonschema`` package): every key's type,
   finite numbers, value ranges, list lengths;
3. :func:`check_consistency`, what a schema cannot state: the parameters are the law's, the
   free ones (and each of their bootstrap replicates) inside its bounds, the bootstrap has one
   column per parameter and its replicates surround the point estimate, each data range runs
   from low to high, fixed values are the parameters' values.

The law's formula goes through :class:`~scalinglab.laws.base.Law`'s own limits (the same as a
formula typed on the command line), in :meth:`FitResult.from_json`. Every failure is one
:class:`~scalinglab.errors.InputError` naming the file and the key, e.g.
``fit.json: not a scalinglab fit: params.E: expected a finite number, got Infinity``.

Versions: :meth:`FitResult.to_json` writes ``"schema_version": 1``; a file without one was
written by scalinglab 0.1 and is read when it satisfies the same schema. A later version
raises the number and keeps reading the files of this one.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from ..errors import InputError
from ..jsonable import to_jsonable
from ..laws.base import Law, Parameter
from ..runs.files import decode_utf8, parse_json, read_bytes

#: The version :meth:`FitResult.to_json` writes, and the newest this version reads.
SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("fit_schema.json")
#: Largest FIT file read: 100,000 bootstrap replicates of 64 parameters are ~130 MB of text.
MAX_FIT_BYTES = 256 << 20
#: Replicates needed before the point estimate must lie among them: with fewer, a correct fit
#: can fall outside their range by chance (with 2, one time in five even when widened below).
MIN_REPLICATES_FOR_RANGE = 10
#: Relative slack of the bound and range checks (a value printed and read back may move by
#: an ulp; a fixed parameter's column equals its value up to this).
TOLERANCE = 1e-9


def read_fit_document(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The document of a saved fit (a path, a JSON string or a mapping), schema-checked.

    Returns the document and the file's name for messages (None for a string or a mapping).

    Raises:
        InputError: the file cannot be read as JSON (see :mod:`scalinglab.runs.files`), or the
            document breaks the schema.
    """
    if isinstance(source, Mapping):
        # As it would be written: numpy numbers to Python, NaN and infinities to null.
        doc, origin = to_jsonable(source), None
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        doc, origin = parse_json(source, name="fit"), None
    else:
        origin = str(source)
        data = read_bytes(source, name=origin, max_bytes=MAX_FIT_BYTES)
        try:
            doc = parse_json(decode_utf8(data, name=origin), name=origin)
        except InputError as exc:  # a file of another kind (a run table, a Parquet file)
            line = "" if exc.row is None else f" (line {exc.row})"
            raise InputError(f"not a scalinglab fit: {exc.message}{line}", file=origin) from None
    error = _first_error(doc)
    if error is not None:
        raise InputError(f"not a scalinglab fit: {_describe(error)}", file=origin)
    # NaN and Infinity passed where the schema allows null: from here on they are null (the
    # bootstrap's cells become NaN in an array, where a failed replicate is NaN anyway).
    rest = to_jsonable({k: v for k, v in doc.items() if k != "bootstrap"})
    return (rest if "bootstrap" not in doc else {**rest, "bootstrap": doc["bootstrap"]}), origin


def check_consistency(doc: Mapping[str, Any], law: Law, origin: str | None = None) -> None:
    """What the schema cannot state, for a schema-valid ``doc`` whose law is ``law``.

    Raises:
        InputError: parameters that are not the law's, a free parameter outside its bounds,
            a fixed value that is not the parameter's, a bootstrap of the wrong width or whose
            replicates do not surround the estimate, a data range from high to low.
    """

    def refuse(message: str) -> InputError:
        return InputError(f"not a scalinglab fit: {message}", file=origin)

    names, params, fixed = law.parameter_names, doc["params"], doc.get("fixed", {})
    of_law = f"of law {law.name!r}" if len(law.name) <= 40 else "of its law"
    if missing := [n for n in names if n not in params]:
        raise refuse(f"params: missing {_listed(missing)}, a parameter {of_law}")
    if unknown := [n for n in params if n not in names] + [n for n in fixed if n not in names]:
        raise refuse(f"params: {_listed(unknown)} is not a parameter {of_law}")
    free = [p for p in law.parameters if p.name not in fixed]
    for name, value in fixed.items():  # held where the user put it, inside the bounds or not
        if not _close(value, params[name]):
            raise refuse(f"fixed.{name}: {value!r} but params.{name} is {params[name]!r}")
    for p in free:
        if not _inside(params[p.name], p):
            raise refuse(
                f"params.{p.name}: {params[p.name]!r} is outside its bounds "
                f"[{p.lower:g}, {p.upper:g}]"
            )
    for variable, (lo, hi) in doc.get("data_range", {}).items():
        if lo > hi:
            raise refuse(f"data_range.{variable}: from {lo!r} down to {hi!r}")
    if doc.get("bootstrap") is not None:
        _check_bootstrap(doc["bootstrap"], law, params, free, refuse)


def _check_bootstrap(
    rows: list[list[Any]],
    law: Law,
    params: Mapping[str, float],
    free: list[Parameter],
    refuse: Callable[[str], InputError],
) -> None:
    widths = {len(row) for row in rows}
    if widths - {len(law.parameters)}:
        raise refuse(
            f"bootstrap: replicates of {_listed(sorted(widths))} values; the law has "
            f"{len(law.parameters)} parameters (one column each)"
        )
    samples = np.array(rows, dtype=float)  # null (a replicate that failed) -> NaN
    samples = samples[np.isfinite(samples).all(axis=1)]
    names = law.parameter_names
    for p in free:  # each replicate was fitted inside the same bounds
        column = samples[:, names.index(p.name)]
        if outside := [float(x) for x in column if not _inside(x, p)]:
            raise refuse(
                f"bootstrap: a replicate of {p.name} is {outside[0]!r}, outside its bounds "
                f"[{p.lower:g}, {p.upper:g}]"
            )
    if len(samples) < MIN_REPLICATES_FOR_RANGE:
        return
    # The replicates are refits of resampled runs: the estimate lies among them. Their range
    # is widened by its own width on each side, for a bounded or biased parameter whose
    # replicates all fall on one side of it.
    low, high = samples.min(axis=0), samples.max(axis=0)
    value = np.array([params[n] for n in names])
    with np.errstate(over="ignore"):  # replicates near the float range: an infinite margin
        margin = (high - low) + TOLERANCE * np.abs(value)
        outside = (value < low - margin) | (value > high + margin)
    if outside.any():
        i = int(np.argmax(outside))
        raise refuse(
            f"params.{names[i]}: {float(value[i])!r} lies outside its own {len(samples)} bootstrap "
            f"replicates [{low[i]:.6g}, {high[i]:.6g}]"
        )


def _inside(value: float, p: Parameter) -> bool:
    return p.lower - _slack(p.lower) <= value <= p.upper + _slack(p.upper)


def _slack(x: float) -> float:
    return TOLERANCE * abs(x) if math.isfinite(x) else 0.0


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b), 1e-300)


def _listed(items: Iterable[Any]) -> str:
    return ", ".join(repr(x) for x in items)


# -- the schema -----------------------------------------------------------------------------
def _finite_number(_checker: Any, x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _whole_number(_checker: Any, x: Any) -> bool:
    return _finite_number(_checker, x) and float(x).is_integer()


def _missing(_checker: Any, x: Any) -> bool:
    # NaN and Infinity tokens (written by scalinglab 0.1's json.dumps) mean "no value"
    return x is None or (isinstance(x, float) and not math.isfinite(x))


@cache
def _validator() -> jsonschema.protocols.Validator:
    """The schema's validator, with JSON's number types finite (NaN and Infinity are null)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    base = jsonschema.validators.validator_for(schema)
    base.check_schema(schema)
    types = base.TYPE_CHECKER.redefine_many(
        {"number": _finite_number, "integer": _whole_number, "null": _missing}
    )
    return jsonschema.validators.extend(base, type_checker=types)(schema)


def _first_error(doc: Any) -> jsonschema.ValidationError | None:
    validator = _validator()
    rows = doc.get("bootstrap") if isinstance(doc, dict) else None
    if isinstance(rows, list):
        # The validator takes ~7 us a cell: 100,000 replicates of 64 parameters would take
        # 45 s. A replicate of plain finite numbers and nulls (what the schema asks of its
        # cells, seen here at ~50 ns a cell) is shown to it as one number, so that it still
        # checks the first replicate, every other one and their count at their own index.
        most = validator.schema["properties"]["bootstrap"]["maxItems"]
        shown = [
            row if i == 0 or not _plain(row) else _PLAIN for i, row in enumerate(rows[: most + 1])
        ]
        doc = {**doc, "bootstrap": shown}
    return jsonschema.exceptions.best_match(validator.iter_errors(doc))


_PLAIN = [0.0]


def _plain(row: Any) -> bool:
    return isinstance(row, list) and all(
        x is None or type(x) is int or (type(x) is float and math.isfinite(x)) for x in row
    )


_KINDS = {
    "number": "a finite number",
    "integer": "a whole number",
    "string": "text",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _describe(error: jsonschema.ValidationError) -> str:
    """One short line for a schema error (jsonschema's own messages quote whole values)."""
    where = _path(error.absolute_path)
    value, rule, limit = error.instance, error.validator, error.validator_value
    if rule == "type":
        kinds = [limit] if isinstance(limit, str) else list(limit)
        what = " or ".join(_KINDS.get(k, k) for k in kinds)
        text = f"expected {what}, got {_shown(value)}"
    elif rule == "required":
        missing = [k for k in limit if k not in value]
        text = f"missing {_listed(missing[:1])}"
    elif rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        text = f"must be {sign[rule]} {limit:g}, got {_shown(value)}"
    elif rule in ("minItems", "maxItems", "minProperties", "maxProperties"):
        unit = rule[3:].lower()  # items, properties
        other = error.schema.get(("max" if rule.startswith("min") else "min") + rule[3:])
        bound = "" if other == limit else "at least " if rule.startswith("min") else "at most "
        text = f"expected {bound}{limit} {unit.replace('properties', 'keys')}, got {len(value)}"
    elif rule == "enum" and where == "schema_version":
        text = (
            f"{_shown(value)} is not a version this scalinglab reads (it reads "
            f"{SCHEMA_VERSION}; a newer scalinglab wrote this file?)"
        )
    elif rule in ("enum", "const"):
        text = f"expected {_listed(limit if rule == 'enum' else [limit])}, got {_shown(value)}"
    elif rule == "additionalProperties":
        extra = [k for k in value if k not in error.schema.get("properties", {})]
        text = f"unexpected key {_listed(extra[:1])}"
    elif rule == "pattern" or (rule == "maxLength" and isinstance(value, str)):
        text = f"{_shown(value)} is not a name (letters, digits and _, at most 100)"
    elif rule == "uniqueItems":
        text = "holds the same item twice"
    else:  # anyOf, oneOf...: the rule's name says which
        text = f"does not match the schema ({rule})"
    return f"{where}: {text}" if where else text


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: Any) -> str:
    """A value as JSON spells it, cut short."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:30]}...{text[-6:]}"
