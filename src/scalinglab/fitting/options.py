"""How to fit: one typed options object, accepted by every entry point that fits.

``fit``, ``backtest``, calibration, comparisons, the report and the CLI all take the same
:class:`FitOptions` (scipy keeps its solver knobs in one ``options`` argument for the same
reason: signatures do not grow with each feature). A fit stores the options it was made with
(:attr:`FitResult.options`), so a refit, a backtest or a saved fit says exactly what was done.

Example:
    >>> opts = FitOptions(where="value < 3.42", bootstrap=100)
    >>> opts.replace(bootstrap=0).bootstrap, opts.where
    (0, 'value < 3.42')
    >>> FitOptions.of(opts, seed=3).seed
    3
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

#: Bootstrap replicates above this are refused: each costs a refit, and 10^5 already pins
#: a 95% percentile to a fraction of its Monte Carlo error.
MAX_BOOTSTRAP = 100_000
#: The objectives: Huber on log residuals, least squares on them, Huber with predictions above
#: the data costing ``ASYMMETRY`` times more.
OBJECTIVES = ("huber", "least_squares", "asymmetric")
ASYMMETRY = 10.0
#: Observation weights: none, growing with compute (1/10 at the least, 1 at the most), or the
#: inverse of each point's replicate noise (``fitting/noise.py``).
WEIGHTINGS = ("none", "compute", "noise")
#: Options whose ``None`` means something (not "use the default").
_NULLABLE = ("y", "family", "where", "final_only")


@dataclass(frozen=True)
class FitOptions:
    """Which data to fit and how.

    Data: ``y`` (the metric, or the column of a wide table), ``family`` (one name or several),
    ``where`` (an expression rows must satisfy), ``skip_fraction`` (the share of each training
    curve's first steps to drop), ``final_only`` (fit only each run's final value; default:
    only when the law does not use ``step``).

    Law: ``fix`` (parameters held fixed: a number, ``"published"`` or a saved fit's path),
    ``bounds`` (``{name: (lo, hi)}``).

    Objective: ``objective`` (``"huber"``: Huber on log residuals, as Hoffmann et al.;
    ``"least_squares"`` on log residuals; ``"asymmetric"``: Huber with predictions above a run
    costing 10x, a lower envelope, after kyo-takano's ``chinchilla`` toolkit), ``weighting``
    (``"none"``, or ``"compute"``: each run weighted from 1/10 for the least compute to 1 for
    the most, geometric in compute, so the fit leans on the runs nearest the extrapolation, as
    Choshen et al.'s Hitchhiker's guide advises; or ``"noise"``: each run weighted by the
    inverse of its replicate noise plus the law's misfit, :mod:`scalinglab.fitting.noise`),
    ``replicates`` (run tables holding replicates of the fitted runs, e.g. the same spec
    trained again: their noise enters prediction intervals and flags transient points).

    Estimator: ``huber_delta`` (Huber's delta on log residuals, 1e-3 as Hoffmann et al.),
    ``n_starts`` (local searches from the best grid points), ``bootstrap`` (replicates of the
    run-resampling bootstrap, 0 to skip), ``influence`` (leave-one-run-out diagnostics),
    ``calibrate`` (widen prediction intervals by the error of nested backtests), ``seed``.
    """

    y: str | None = None
    family: str | tuple[str, ...] | None = None
    where: str | None = None
    fix: Mapping[str, float | str] = field(default_factory=dict)
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    bootstrap: int = 200
    huber_delta: float = 1e-3
    objective: str = "huber"
    weighting: str = "none"
    replicates: tuple[str, ...] = ()
    skip_fraction: float = 0.1
    final_only: bool | None = None
    n_starts: int = 8
    influence: bool = True
    calibrate: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        # One family given as a list is one family: the fit and its JSON say so the same way.
        family = self.family
        if family is not None and not isinstance(family, str):
            family = tuple(str(f) for f in family)
            family = family[0] if len(family) == 1 else (family or None)
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "fix", dict(self.fix or {}))
        replicates = (self.replicates,) if isinstance(self.replicates, str) else self.replicates
        if not all(isinstance(r, str | os.PathLike) for r in replicates or ()):
            raise InputError("must be paths of run tables", option="replicates")
        object.__setattr__(self, "replicates", tuple(os.fspath(r) for r in replicates or ()))
        object.__setattr__(
            self,
            "bounds",
            {k: (float(lo), float(hi)) for k, (lo, hi) in (self.bounds or {}).items()},
        )
        self._check()

    def _check(self) -> None:
        if not _is_int(self.bootstrap) or not 0 <= self.bootstrap <= MAX_BOOTSTRAP:
            raise InputError(
                f"must be a whole number from 0 to {MAX_BOOTSTRAP:,}, got {self.bootstrap!r}",
                option="bootstrap",
            )
        if not _is_int(self.n_starts) or self.n_starts < 1:
            raise InputError(
                f"must be a whole number >= 1, got {self.n_starts!r}", option="n_starts"
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise InputError(
                f"must be a non-negative whole number, got {self.seed!r}", option="seed"
            )
        if not (isinstance(self.huber_delta, int | float) and math.isfinite(self.huber_delta)
                and self.huber_delta > 0):  # fmt: skip
            raise InputError(
                f"must be a positive finite number, got {self.huber_delta!r}", option="huber_delta"
            )
        if not (isinstance(self.skip_fraction, int | float) and 0 <= self.skip_fraction < 1):
            raise InputError(
                f"must be in [0, 1), got {self.skip_fraction!r}", option="skip_fraction"
            )
        if self.objective not in OBJECTIVES:
            raise InputError(
                f"must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}",
                option="objective",
            )
        if self.weighting not in WEIGHTINGS:
            raise InputError(
                f"must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}",
                option="weighting",
            )
        for name, (lo, hi) in self.bounds.items():
            if math.isnan(lo) or math.isnan(hi) or not lo < hi:
                raise InputError(f"{name}={lo:g}:{hi:g}: expected lo < hi", option="bound")

    @classmethod
    def of(
        cls, options: FitOptions | Mapping[str, Any] | None = None, **overrides: Any
    ) -> FitOptions:
        """Options from an object, a mapping or keywords (keywords win).

        An unknown name is a :class:`TypeError`, as for any function's keyword.
        """
        if options is None:
            base = cls()
        elif isinstance(options, FitOptions):
            base = options
        else:
            base = cls(**dict(options))
        return base.replace(**overrides) if overrides else base

    def replace(self, **changes: Any) -> FitOptions:
        """A copy with some options changed."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(
                f"unknown fit option(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})"
            )
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["family"] = list(self.family) if isinstance(self.family, tuple) else self.family
        doc["bounds"] = {k: list(v) for k, v in self.bounds.items()}
        doc["replicates"] = list(self.replicates)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FitOptions:
        """Options saved with :meth:`to_json` (unknown keys, e.g. of newer versions, ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        # null is "not set" (older files, or an infinite bound written as strict JSON)
        known = {k: v for k, v in doc.items() if k in names and (v is not None or k in _NULLABLE)}
        if "bounds" in known:
            known["bounds"] = {
                k: (-math.inf if lo is None else lo, math.inf if hi is None else hi)
                for k, (lo, hi) in known["bounds"].items()
            }
        return cls(**known)


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)
