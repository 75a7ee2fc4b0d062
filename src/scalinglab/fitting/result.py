"""The result of a fit: the one object that predictions, plans and reports read.

Like statsmodels' results, it explains itself (:meth:`FitResult.summary`), gives intervals
(:meth:`FitResult.conf_int`) and predictions as a DataFrame (:meth:`FitResult.predict`), and
round-trips through JSON (:meth:`FitResult.to_json` / :meth:`FitResult.from_json`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..jsonable import to_jsonable
from ..laws.base import Law
from ..runs.files import write_atomic
from ..runs.sizes import parse_size
from .extrapolation import SIZE_COLUMNS, ExtrapolationError, decades_beyond
from .noise import NoiseModel
from .options import FitOptions
from .saved import SCHEMA_VERSION, check_consistency, read_fit_document
from .selected import Selection

#: A prediction this many times beyond the data's largest value gets a warning.
FAR_EXTRAPOLATION = 10.0
#: Draws of (law + run noise) behind a prediction interval, and a cap on their cells.
PREDICTION_DRAWS, MAX_DRAW_CELLS = 4000, 20_000_000


@dataclass
class FitResult(Answer):
    """Fitted parameters of a law, with their bootstrap distribution and diagnostics.

    Example:
        >>> import scalinglab as sl                                       # doctest: +SKIP
        >>> fit = sl.fit("runs.csv", law="chinchilla")                    # doctest: +SKIP
        >>> fit.params["alpha"], fit.conf_int().loc["alpha"].tolist()     # doctest: +SKIP
        >>> fit.predict({"params": 7e10, "tokens": 1.4e12})               # doctest: +SKIP
    """

    law: Law
    params: dict[str, float]
    objective: float
    n_points: int
    n_runs: int
    converged: bool
    y: str
    data_range: dict[str, tuple[float, float]]
    fixed: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What was fitted and how.
    options: FitOptions = field(default_factory=FitOptions)
    residuals: dict[str, float] = field(default_factory=dict)
    #: Bootstrap replicates, shape (B, n_parameters), columns in ``law.parameter_names`` order.
    samples: np.ndarray | None = None
    timing: dict[str, float] = field(default_factory=dict)
    #: How the prediction error grows with the distance past the data (the shipped prior, or
    #: updated by nested extrapolations of these runs with ``calibrate=True`` or ``law="auto"``).
    extrapolation: ExtrapolationError | None = None
    #: The cross-extrapolation that chose the law (``law="auto"`` or a list of candidates).
    selection: Selection | None = None
    #: Where the runs came from (a file, a store), for figures that redraw the data.
    source: str | None = None
    #: How the search stopped: ``status`` and ``message`` (as scipy's OptimizeResult),
    #: ``iterations``, ``grid_points``.
    solver: dict[str, Any] = field(default_factory=dict)
    #: The replicate noise of the runs against their compute, and the law's misfit beyond it
    #: (fits with ``weighting="noise"`` or ``replicates``; :mod:`.noise`).
    noise: NoiseModel | None = None

    #: Renderers registered from the layer above (``scalinglab.report`` registers ``"html"``,
    #: Jupyter's view, and ``"plot"``, the figure), so this layer knows nothing of HTML or
    #: matplotlib.
    views: ClassVar[dict[str, Callable[..., Any]]] = {}

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.law.name} fit of {self.y}"

    @property
    def status(self) -> int | None:
        """Why the search stopped, as a code (scipy's habit); see :attr:`message`."""
        return self.solver.get("status")

    @property
    def message(self) -> str:
        """Why the search stopped, in words."""
        return self.solver.get("message", "converged" if self.converged else "not converged")

    # -- parameters and intervals -----------------------------------------------------------
    @property
    def derived(self) -> dict[str, float]:
        """Derived quantities of the law (e.g. Kaplan's Nc) at the fitted parameters."""
        return {k: float(v) for k, v in self.law.derive(self.params).items()}

    def _sample_frame(self) -> pd.DataFrame | None:
        if self.samples is None or len(self.samples) == 0:
            return None
        frame = pd.DataFrame(self.samples, columns=self.law.parameter_names)
        for name, values in self.law.derive({c: frame[c].to_numpy() for c in frame}).items():
            frame[name] = np.asarray(values, dtype=float)
        return frame

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Percentile bootstrap intervals, one row per parameter (``lo``, ``hi``) at ``1-alpha``.

        Fixed parameters have a zero-width interval. Without a bootstrap, intervals are NaN.
        """
        frame = self._sample_frame()
        names = [*self.law.parameter_names, *self.law.derived]
        if frame is None:
            lo = hi = [math.nan] * len(names)
        else:
            lo = [float(_quantiles(frame[n], alpha / 2)) for n in names]
            hi = [float(_quantiles(frame[n], 1 - alpha / 2)) for n in names]
        return pd.DataFrame({"lo": lo, "hi": hi}, index=pd.Index(names, name="parameter"))

    def parameter_table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Estimate, interval and status of every parameter (and derived quantity)."""
        ci = self.conf_int(alpha)
        values = {**self.params, **self.derived}
        ci.insert(0, "value", [values[n] for n in ci.index])
        ci["fixed"] = [n in self.fixed for n in ci.index]
        return ci

    # -- prediction -------------------------------------------------------------------------
    def predict(
        self, at: Mapping[str, Any] | pd.DataFrame, *, interval: float = 0.9, seed: int = 0
    ) -> pd.DataFrame:
        """Predicted value at new points, with intervals.

        Columns: the law's variables, ``value``; ``lo``/``hi``: the bootstrap interval of the
        law itself; ``pred_lo``/``pred_hi``: a prediction interval for one run there, which
        adds the scatter of single runs around the law (robust SD of the log residuals; where
        replicate noise is known, the law's misfit plus the noise at the point's compute), the
        error of the law itself growing with the distance past the data
        (:attr:`extrapolation`, in decades of params, tokens, compute or another positive
        variable of the law) and, for a law chosen by cross-extrapolation, the disagreement
        between the laws it combines; ``decades``: that distance.
        ``at`` maps variables to numbers or arrays (human sizes like ``"70B"`` accepted).
        """
        points = prediction_points(at, self.law.variables)
        data = {v: points[v].to_numpy(dtype=float) for v in self.law.variables}
        out = points.copy()
        q = ((1 - interval) / 2, 1 - (1 - interval) / 2)
        decades = self.decades_beyond(points)
        # Far from its data a law may overflow or leave its domain, and so may its draws: the
        # answer is then inf or NaN (the CLI refuses such a point), not a numpy warning.
        with np.errstate(all="ignore"):
            out["value"] = self.law.evaluate(data, self.params).reshape(-1) * np.ones(len(points))
            if self.samples is not None and len(self.samples):
                cols = {n: self.samples[:, i : i + 1]
                        for i, n in enumerate(self.law.parameter_names)}  # fmt: skip
                draws = np.broadcast_to(
                    self.law.evaluate(data, cols), (len(self.samples), len(points))
                )
                log_draws = np.log(draws)
                out["lo"], out["hi"] = np.exp(_quantiles(log_draws, q))
            else:  # no bootstrap: the prediction interval holds the run and law errors only
                log_draws = np.log(out["value"].to_numpy(dtype=float))[None, :]
                out["lo"] = out["hi"] = np.nan
            # A run's log error: the scatter of runs around the law, and the parameters'
            # spread (the bootstrap draws); where the fit knows how its law errs past the data
            # (measured on real studies and on nested extrapolations of these runs, which
            # include both), at least that; and at least the disagreement of the laws a
            # chosen fit combines (a lower bound of its error, not an addition: the nested
            # errors include it).
            spread = _variance(log_draws) if len(log_draws) > 1 else np.zeros(len(points))
            scatter = self.residuals.get("robust_sd", 0.0) ** 2
            if self.noise is not None:  # the noise of a run at its scale, where it is known
                known = self.noise.run_variance(points)
                scatter = scatter if known is None else known
            total = spread + scatter
            if self.extrapolation is not None:
                total = np.maximum(total, self.extrapolation.variance(decades))
            if self.selection is not None:  # how much the laws combined disagree, at least
                total = np.maximum(total, self.selection.disagreement(data))
            noise_var = np.maximum(total - spread, 0.0)
            # Several noise draws per replicate: with one, the quantiles of a few hundred sums
            # wander, and could even fall inside the law's own interval.
            copies = max(1, min(math.ceil(PREDICTION_DRAWS / len(log_draws)),
                                MAX_DRAW_CELLS // max(log_draws.size, 1)))  # fmt: skip
            sums = np.repeat(log_draws, copies, axis=0)
            sums += np.random.default_rng(seed).standard_normal(sums.shape) * np.sqrt(noise_var)
            out["pred_lo"], out["pred_hi"] = np.exp(_quantiles(sums, q))
        out["decades"] = decades
        out.attrs["warnings"] = self.extrapolation_warnings(points)
        return out

    def decades_beyond(self, points: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
        """How far past the fitted data each point lies, in decades of params, tokens,
        compute or another positive variable of the law (whichever is largest; 0 inside the
        data)."""
        axes = {*SIZE_COLUMNS, *self.law.variables}
        largest = {c: hi for c, (_, hi) in self.data_range.items() if c in axes}
        frame = points if isinstance(points, pd.DataFrame) else pd.DataFrame(
            {k: np.atleast_1d(v) for k, v in points.items()}
        )  # fmt: skip
        with np.errstate(over="ignore"):  # 6ND of absurd sizes is inf: infinitely far
            return decades_beyond(frame, largest) * np.ones(len(frame))

    def extrapolation_warnings(self, points: pd.DataFrame) -> list[str]:
        """Warnings for points far outside the range of the fitted data."""
        found = []
        for var in self.law.variables:
            lo, hi = self.data_range.get(var, (math.nan, math.nan))
            top = float(np.max(points[var]))
            bottom = float(np.min(points[var]))
            if hi > 0 and top > FAR_EXTRAPOLATION * hi:
                found.append(
                    f"extrapolating {_times(top / hi)} beyond the largest {var} in the data "
                    f"({hi:.3g}): treat the interval as optimistic"
                )
            if lo > 0 and 0 < bottom < lo / FAR_EXTRAPOLATION:
                found.append(
                    f"extrapolating {_times(lo / bottom)} below the smallest {var} in the data "
                    f"({lo:.3g})"
                )
        return found

    def plot(self, **options: Any) -> Any:
        """The data, the fitted law and its interval band: a matplotlib Figure.

        Drawn by :func:`scalinglab.report.plot_fit` (registered when ``scalinglab.report`` is
        imported, as ``import scalinglab`` does on first use of ``sl.fit``). Options:
        ``runs`` (the data; default the fit's source file when it exists), ``x`` (``"flops"``,
        ``"params"``, ``"tokens"``), ``extrapolate_to`` (a value of x or the point asked
        about, drawn dashed), ``interval``, ``ax``.

        Example:
            >>> fig = fit.plot(runs=runs, extrapolate_to={"params": 70e9, "tokens": 1.4e12})  # doctest: +SKIP
            >>> fig.savefig("fit.pdf")                                                       # doctest: +SKIP
        """
        if "plot" not in self.views:
            raise RuntimeError("figures are drawn by scalinglab.report: import it first")
        return self.views["plot"](self, **options)

    def _repr_html_(self) -> str:
        """Jupyter's rich view (the report's fit card once ``scalinglab.report`` is imported)."""
        view = self.views.get("html")
        return view(self) if view else f"<pre>{html.escape(self.summary())}</pre>"

    def to_frame(self) -> pd.DataFrame:
        """Estimate, 95% interval and status of every parameter (:meth:`parameter_table`)."""
        return self.parameter_table()

    # -- text and JSON ----------------------------------------------------------------------
    def summary(self, alpha: float = 0.05) -> str:
        """A readable report: parameters with intervals, data, objective and warnings."""
        table = self.parameter_table(alpha)
        members = self.selection.members if self.selection is not None else []
        law_line = (
            f"law        {self.law.name}: log {self.y} = the weighted mean of their logs"
            if members
            else f"law        {self.law.name}: {self.y} = {self.law.display_formula()}"
        )
        lines = [
            law_line,
            f"data       {self.n_points} points from {self.n_runs} runs"
            + "".join(f"; {v} {lo:.3g}..{hi:.3g}" for v, (lo, hi) in self.data_range.items()),
            f"objective  {self.objective:.6g} (sum of Huber(delta={self.options.huber_delta})"
            " on log residuals)" + ("" if self.converged else f"  NOT CONVERGED: {self.message}"),
        ]
        if self.residuals:
            lines.append(
                "residuals  median |rel. error| "
                f"{self.residuals['median_abs_rel_error']:.2%}, max {self.residuals['max_abs_rel_error']:.2%}"
            )
        n_boot = 0 if self.samples is None else len(self.samples)
        lines.append(f"{'parameter':<12}{'value':>14}{f'{1 - alpha:.0%} interval':>34}")
        # a combination's parameters are its members' (named p_m1, p_m2, ...): by member
        headers = {f"_m{k}": f"{m.label} (weight {m.weight:.2f}): {self.y} = {m.law.formula}"
                   for k, m in enumerate(members, start=1)}  # fmt: skip
        for name, row in table.iterrows():
            suffix = str(name)[str(name).rfind("_m") :] if members else ""
            if suffix in headers:
                lines.append(f"member     {headers.pop(suffix)}")
            interval = "fixed" if row["fixed"] else f"[{row['lo']:.5g}, {row['hi']:.5g}]"
            if not row["fixed"] and n_boot == 0:
                interval = "(no bootstrap)"
            shown = str(name).removesuffix(suffix) if suffix else str(name)
            lines.append(f"{shown:<12}{row['value']:>14.6g}{interval:>34}")
        if n_boot:
            lines.append(f"intervals  percentile bootstrap over runs, {n_boot} replicates")
        if self.selection is not None:
            lines += self.selection.summary_lines()
        if self.extrapolation is not None:
            lines.append(f"intervals  {self.extrapolation.describe()}")
        if self.noise is not None:
            lines.append(f"noise      {self.noise.describe()}")
        lines += [f"note       {n}" for n in self.notes]
        lines += [f"WARNING    {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The DESIGN.md fit object, plus what is needed to reload it."""
        ci = self.conf_int()
        return {
            "schema_version": SCHEMA_VERSION,
            "law": self.law.name,
            "formula": self.law.formula,
            "y": self.y,
            "params": dict(self.params),
            "ci": {n: [_num(r.lo), _num(r.hi)] for n, r in ci.iterrows()},
            "derived": self.derived,
            "fixed": dict(self.fixed),
            "n_points": self.n_points,
            "n_runs": self.n_runs,
            "loss": self.objective,
            "converged": bool(self.converged),
            "status": self.status,
            "message": self.message,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "residuals": dict(self.residuals),
            "data_range": {k: list(v) for k, v in self.data_range.items()},
            "options": {
                **self.options.to_json(),
                "grid_points": self.solver.get("grid_points"),
                "source": self.source,
            },
            "solver": dict(self.solver),
            "timing": dict(self.timing),
            "extrapolation": None if self.extrapolation is None else self.extrapolation.to_json(),
            "selection": None if self.selection is None else self.selection.to_json(),
            "noise": None if self.noise is None else self.noise.to_json(),
            "law_spec": self.law.to_dict(),
            "bootstrap": None if self.samples is None else self.samples.tolist(),
        }

    @classmethod
    def from_json(cls, source: str | Path | Mapping[str, Any]) -> FitResult:
        """Reload a fit saved with :meth:`to_json` (a dict, a JSON string or a file path).

        A file is read through scalinglab's guarded open and every document is checked
        against the FIT file schema (:mod:`scalinglab.fitting.saved`) before it is used.

        Raises:
            InputError: not a regular file, not JSON, or not a scalinglab fit (one line
                naming the file and the key at fault).
        """
        doc, origin = read_fit_document(source)
        law = _saved_law(doc["law_spec"], "law_spec", origin)
        check_consistency(doc, law, origin)
        options = doc.get("options") or {}
        try:
            fit_options = FitOptions.from_json(options)
        except InputError as exc:
            raise InputError(f"not a scalinglab fit: options: {exc}", file=origin) from None
        samples = doc.get("bootstrap")
        return cls(
            law=law,
            params={k: float(v) for k, v in doc["params"].items()},
            objective=_float(doc["loss"]),
            n_points=int(doc["n_points"]),
            n_runs=int(doc.get("n_runs", doc["n_points"])),
            converged=doc["converged"],
            y=doc.get("y", "value"),
            data_range={
                k: (float(lo), float(hi)) for k, (lo, hi) in doc.get("data_range", {}).items()
            },
            fixed={k: float(v) for k, v in doc.get("fixed", {}).items()},
            warnings=list(doc.get("warnings", [])),
            notes=list(doc.get("notes", [])),
            options=fit_options,
            source=options.get("source"),
            solver=dict(doc.get("solver") or {}),
            residuals={k: _float(v) for k, v in doc.get("residuals", {}).items()},
            samples=None if samples is None else _replicates(samples),
            timing={k: _float(v) for k, v in doc.get("timing", {}).items()},
            extrapolation=_extrapolation(doc),
            selection=_selection(doc.get("selection"), origin),
            noise=None if doc.get("noise") is None else NoiseModel.from_json(doc["noise"]),
        )

    def save(self, path: str | Path) -> Path:
        """Write the fit as a FIT file (strict JSON; atomically: the old file or the new one,
        never half of it). Returns ``path``."""
        return write_atomic(path, json.dumps(to_jsonable(self.to_json()), indent=1))


def _saved_law(spec: Mapping[str, Any], key: str, origin: str | None) -> Law:
    """The law of a saved fit, made through the same limits as a formula on the command line."""
    try:
        return Law.from_dict(spec)
    except InputError as exc:
        raise InputError(f"not a scalinglab fit: {key}: {exc}", file=origin) from None


def _selection(doc: Mapping[str, Any] | None, origin: str | None) -> Selection | None:
    if doc is None:
        return None
    for k, member in enumerate(doc.get("members", [])):
        key = f"selection.members[{k}]"
        law = _saved_law(member["law_spec"], f"{key}.law_spec", origin)
        if sorted(member["params"]) != sorted(law.parameter_names):
            raise InputError(
                f"not a scalinglab fit: {key}.params: not the parameters of its law "
                f"({', '.join(law.parameter_names)})",
                file=origin,
            )
    return Selection.from_json(doc)


def _extrapolation(doc: Mapping[str, Any]) -> ExtrapolationError | None:
    saved = doc.get("extrapolation", doc.get("calibration"))  # "calibration": scalinglab 0.1
    return None if saved is None else ExtrapolationError.from_json(saved)


def _times(ratio: float) -> str:
    """``250x``, ``1.2e+07x``; a ratio beyond the float range as such."""
    if not math.isfinite(ratio):
        return "more than 1e308x"
    return f"{ratio:.0f}x" if ratio < 1e6 else f"{ratio:.3g}x"


def _replicates(rows: list[list[float | None]]) -> np.ndarray:
    """Saved bootstrap replicates; a non-finite cell (null, or 0.1's NaN) is a failed one."""
    samples = np.array(rows, dtype=float)
    samples[~np.isfinite(samples)] = np.nan
    return samples


def _float(x: float | None) -> float:
    """A number of a saved fit; null (a value that was not finite) is NaN."""
    return math.nan if x is None else float(x)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def prediction_points(
    at: Mapping[str, Any] | pd.DataFrame, variables: tuple[str, ...]
) -> pd.DataFrame:
    """The points to predict at, one column per variable, as finite numbers.

    ``at`` maps variables to numbers, arrays or human sizes (``"70B"``); other keys are not
    used. Sizes (params, tokens, flops) must be positive, as in a run table.

    Raises:
        InputError: a variable missing, or a value that is not a number, not finite, or a
            size that is not positive (named as ``at`` with the variable).
    """
    frame = at.copy() if isinstance(at, pd.DataFrame) else pd.DataFrame(
        {k: np.atleast_1d(v) for k, v in at.items()}
    )  # fmt: skip
    missing = [v for v in variables if v not in frame.columns]
    if missing:
        raise InputError(f"prediction needs {', '.join(variables)}; missing {', '.join(missing)}")
    for v in variables:
        frame[v] = [_size(x, v) for x in frame[v]]
    return frame[list(variables)]


def _size(x: Any, variable: str) -> float:
    if isinstance(x, bool | np.bool_):
        raise InputError(f"{variable}={x!r}: not a number", option="at")
    if isinstance(x, int | float | np.number):
        number = float(x)
    else:
        try:
            number = parse_size(str(x))
        except ValueError as exc:
            raise InputError(f"{variable}: {exc}", option="at") from None
    if not math.isfinite(number):
        raise InputError(f"{variable}={x}: not a finite number", option="at")
    if variable in SIZE_COLUMNS and number <= 0:
        raise InputError(f"{variable}={x}: a size must be positive", option="at")
    return number


def _quantiles(values: Any, q: Any, axis: int = 0) -> np.ndarray:
    """``np.nanquantile`` along ``axis``, NaN where a slice holds nothing but NaN (numpy would
    print "All-NaN slice encountered" on the user's stderr for each)."""
    values = np.asarray(values, dtype=float)
    empty = np.isnan(values).all(axis=axis)
    if np.any(empty):
        values = np.where(np.expand_dims(empty, axis), 0.0, values)
    with np.errstate(all="ignore"):  # inf - inf between two infinite draws
        out = np.nanquantile(values, q, axis=axis)
    return np.where(empty, np.nan, out)


def _variance(values: np.ndarray) -> np.ndarray:
    """``np.nanvar`` of each column, NaN for a column of NaN only (without numpy's warning)."""
    empty = np.isnan(values).all(axis=0)
    with np.errstate(all="ignore"):
        return np.where(empty, np.nan, np.nanvar(np.where(empty, 0.0, values), axis=0))


@dataclass
class BacktestResult(Answer):
    """Per-point predictions for held-out runs and their summary
    (made by :func:`scalinglab.fitting.backtest.backtest`)."""

    fit: FitResult
    points: pd.DataFrame  # run_id, variables, actual, predicted, lo, hi, rel_error, inside
    holdout: str
    interval: float
    warnings: list[str] = field(default_factory=list)

    @property
    def mare(self) -> float:
        """Mean absolute relative error of the held-out predictions."""
        return float(np.mean(np.abs(self.points["rel_error"])))

    @property
    def coverage(self) -> float:
        """Share of held-out values inside their prediction interval."""
        return float(np.mean(self.points["inside"]))

    @property
    def verdict(self) -> str:
        grade = "good" if self.mare < 0.02 else "fair" if self.mare < 0.05 else "poor"
        return (
            f"{grade}: mean |relative error| {self.mare:.2%} on {len(self.points)} held-out point(s); "
            f"{self.coverage:.0%} inside their {self.interval:.0%} prediction interval"
        )

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"backtest of {self.fit.law.name}, holdout {self.holdout}"

    def to_frame(self) -> pd.DataFrame:
        """One row per held-out run: sizes, actual, predicted, interval, error, inside."""
        return self.points.copy()

    def summary(self) -> str:
        """The held-out runs and the verdict, as text."""
        lines = [self.title, self.points.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
                 self.verdict]  # fmt: skip
        lines += [f"WARNING: {w}" for w in [*self.warnings, *self.fit.warnings]]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "law": self.fit.law.name,
            "holdout": self.holdout,
            "n_train": self.fit.n_points,
            "n_holdout": len(self.points),
            "mean_abs_rel_error": self.mare,
            "coverage": self.coverage,
            "interval": self.interval,
            "verdict": self.verdict,
            "points": self.points.to_dict(orient="records"),
            "fit": {k: v for k, v in self.fit.to_json().items() if k != "bootstrap"},
            "warnings": list(self.warnings),
        }
