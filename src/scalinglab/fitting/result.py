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
from ..laws.base import Law
from ..runs.sizes import parse_size
from .extrapolation import SIZE_COLUMNS, ExtrapolationError, decades_beyond
from .options import FitOptions
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
            lo = [float(np.nanquantile(frame[n], alpha / 2)) for n in names]
            hi = [float(np.nanquantile(frame[n], 1 - alpha / 2)) for n in names]
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
        adds the scatter of single runs around the law (robust SD of the log residuals), the
        error of the law itself growing with the distance past the data
        (:attr:`extrapolation`, in decades of params, tokens or compute) and, for a law chosen
        by cross-extrapolation, the disagreement between the laws it combines; ``decades``:
        that distance.
        ``at`` maps variables to numbers or arrays (human sizes like ``"70B"`` accepted).
        """
        points = _points(at, self.law.variables)
        data = {v: points[v].to_numpy(dtype=float) for v in self.law.variables}
        out = points.copy()
        out["value"] = self.law.evaluate(data, self.params).reshape(-1) * np.ones(len(points))
        q = ((1 - interval) / 2, 1 - (1 - interval) / 2)
        decades = self.decades_beyond(points)
        if self.samples is not None and len(self.samples):
            cols = {n: self.samples[:, i : i + 1] for i, n in enumerate(self.law.parameter_names)}
            draws = np.broadcast_to(self.law.evaluate(data, cols), (len(self.samples), len(points)))
            with np.errstate(all="ignore"):
                log_draws = np.log(draws)
            out["lo"], out["hi"] = np.exp(np.nanquantile(log_draws, q, axis=0))
        else:  # no bootstrap: the prediction interval holds the run and law errors only
            with np.errstate(all="ignore"):
                log_draws = np.log(out["value"].to_numpy(dtype=float))[None, :]
            out["lo"] = out["hi"] = np.nan
        # A run's log error: the scatter of runs around the law, and the parameters' spread
        # (the bootstrap draws); where the fit knows how its law errs past the data (measured
        # on real studies and on nested extrapolations of these runs, which include both),
        # at least that; and at least the disagreement of the laws a chosen fit combines
        # (a lower bound of its error, not an addition: the nested errors include it).
        with np.errstate(all="ignore"):
            spread = np.nanvar(log_draws, axis=0) if len(log_draws) > 1 else np.zeros(len(points))
        total = spread + self.residuals.get("robust_sd", 0.0) ** 2
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
        out["pred_lo"], out["pred_hi"] = np.exp(np.nanquantile(sums, q, axis=0))
        out["decades"] = decades
        out.attrs["warnings"] = self.extrapolation_warnings(points)
        return out

    def decades_beyond(self, points: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
        """How far past the fitted data each point lies, in decades of params, tokens or
        compute (whichever is largest; 0 inside the data)."""
        largest = {c: hi for c, (_, hi) in self.data_range.items() if c in SIZE_COLUMNS}
        frame = points if isinstance(points, pd.DataFrame) else pd.DataFrame(
            {k: np.atleast_1d(v) for k, v in points.items()}
        )  # fmt: skip
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
                    f"extrapolating {top / hi:.0f}x beyond the largest {var} in the data ({hi:.3g}): "
                    "treat the interval as optimistic"
                )
            if lo > 0 and 0 < bottom < lo / FAR_EXTRAPOLATION:
                found.append(
                    f"extrapolating {lo / bottom:.0f}x below the smallest {var} in the data ({lo:.3g})"
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
            else f"law        {self.law.name}: {self.y} = {self.law.formula}"
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
        lines += [f"note       {n}" for n in self.notes]
        lines += [f"WARNING    {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The DESIGN.md fit object, plus what is needed to reload it."""
        ci = self.conf_int()
        return {
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
            "law_spec": self.law.to_dict(),
            "bootstrap": None if self.samples is None else self.samples.tolist(),
        }

    @classmethod
    def from_json(cls, source: str | Path | Mapping[str, Any]) -> FitResult:
        """Reload a fit saved with :meth:`to_json` (a dict, a JSON string or a file path)."""
        doc, origin = _load_json(source)
        try:
            law = Law.from_dict(doc["law_spec"])
            samples = doc.get("bootstrap")
            return cls(
                law=law,
                params={k: float(v) for k, v in doc["params"].items()},
                objective=float(doc["loss"]),
                n_points=int(doc["n_points"]),
                n_runs=int(doc.get("n_runs", doc["n_points"])),
                converged=bool(doc["converged"]),
                y=doc.get("y", "value"),
                data_range={
                    k: (float(v[0]), float(v[1])) for k, v in doc.get("data_range", {}).items()
                },
                fixed=dict(doc.get("fixed", {})),
                warnings=list(doc.get("warnings", [])),
                notes=list(doc.get("notes", [])),
                options=FitOptions.from_json(doc.get("options") or {}),
                source=(doc.get("options") or {}).get("source"),
                solver=dict(doc.get("solver") or {}),
                residuals=dict(doc.get("residuals", {})),
                samples=None if samples is None else np.asarray(samples, dtype=float),
                timing=dict(doc.get("timing", {})),
                extrapolation=_extrapolation(doc),
                selection=None
                if doc.get("selection") is None
                else Selection.from_json(doc["selection"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a scalinglab fit: {exc}", file=origin) from None

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1))
        return path


def _extrapolation(doc: Mapping[str, Any]) -> ExtrapolationError | None:
    saved = doc.get("extrapolation", doc.get("calibration"))  # "calibration": scalinglab 0.1
    return None if saved is None else ExtrapolationError.from_json(saved)


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _load_json(source: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    if isinstance(source, Mapping):
        return dict(source), None
    text = str(source)
    if text.lstrip().startswith("{"):
        return json.loads(text), None
    path = Path(text)
    if not path.exists():
        raise InputError("no such fit file", file=text)
    try:
        return json.loads(path.read_text()), text
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not a scalinglab fit: not valid JSON ({exc.msg}, line {exc.lineno})", file=text
        ) from None


def _points(at: Mapping[str, Any] | pd.DataFrame, variables: tuple[str, ...]) -> pd.DataFrame:
    frame = at.copy() if isinstance(at, pd.DataFrame) else pd.DataFrame(
        {k: np.atleast_1d(v) for k, v in at.items()}
    )  # fmt: skip
    missing = [v for v in variables if v not in frame.columns]
    if missing:
        raise InputError(f"prediction needs {', '.join(variables)}; missing {', '.join(missing)}")
    for v in variables:
        frame[v] = [_size(x, v) for x in frame[v]]
    return frame[list(variables)]


def _size(x: Any, column: str) -> float:
    if isinstance(x, int | float | np.number):
        return float(x)
    try:
        return parse_size(str(x))
    except ValueError as exc:
        raise InputError(str(exc), column=column) from None


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
