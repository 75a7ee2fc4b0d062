"""Per task: a link from loss (or compute) to a metric, chosen by cross-extrapolation, and
predictions with intervals that carry the loss law's and the link's uncertainty together.

For each downstream metric (:mod:`.metrics`) :func:`fit_task_link` pairs every run's metric
with its loss at the same step (or takes its compute), reports a task whose best run is within
noise of chance as *at chance* and one that worsens with scale as *inverse scaling*
(:mod:`.trend`), and otherwise fits the link candidates (:mod:`.link`) with
``scalinglab.fit(table, "link1,link2")``: the machinery that chooses loss laws, which refits
each candidate with its best runs held out and weighs them by how well they predicted those.

:meth:`TaskLink.predict` then answers at a loss, or, given a loss law, at new (N, D):
every bootstrap replicate of the loss law is crossed with every replicate of the link
(S1 x S2 predictions), so the interval holds both fits' uncertainty; ``pred_lo``/``pred_hi``
add the scatter of single runs around the link (the larger of its residual scatter and its
nested extrapolation errors, in log shortfall).

:func:`backtest_tasks` is the protocol of issue 15: per family and task, hold out the largest
model, fit the loss law and the link on the others, predict its metric through the loss law.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import fit
from ..fitting.data import Runs, select
from ..fitting.holdout import holdout_mask
from ..fitting.result import FitResult
from ..planning.replicates import check_level, parameter_sets
from ..runs import RunTable
from .link import NEG_LOSS, link_candidates, link_formula, readable
from .metrics import Metric, chance_margin, check_chance, is_downstream, parse_metric
from .trend import trend

#: Fewest (run, step) pairs a link is fitted to.
MIN_PAIRS = 4
#: The noise draws behind a prediction interval (per point).
NOISE_DRAWS = 4000


def metric_pairs(table: RunTable, metric: str, *, via: str = "loss", loss: str | None = None
                 ) -> pd.DataFrame:  # fmt: skip
    """One row per (run, step) that measured ``metric``: its sizes, ``x`` (the loss at the
    same step, or the run's compute), ``value`` and, where the table has one, ``stderr``."""
    df = table.df
    rows = df[df["metric"] == metric]
    if rows.empty:
        raise InputError(f"no rows of metric {metric!r} (metrics: {', '.join(table.metrics())})",
                         option="metric")  # fmt: skip
    keep = ["family", "run_id", "step", "params", "tokens", "flops", "value"]
    keep += [c for c in ("stderr",) if c in rows.columns]
    pairs = rows[keep].copy()
    if via == "flops":
        pairs["x"] = pairs["flops"]
    else:
        if loss is None:
            raise InputError("a link through loss needs the loss metric's name", option="loss")
        if loss not in set(table.metrics()):
            raise InputError(f"no rows of metric {loss!r} (metrics: {', '.join(table.metrics())})",
                             option="loss")  # fmt: skip
        x = df.loc[df["metric"] == loss, ["family", "run_id", "step", "value"]]
        x = x.rename(columns={"value": "x"})
        # steps as text: a final row (NaN) joins a final row
        for frame in (pairs, x):
            frame["_step"] = frame["step"].astype(str)
        pairs = pairs.merge(x.drop(columns="step"), on=["family", "run_id", "_step"], how="inner")
        pairs = pairs.drop(columns="_step")
    pairs = pairs[np.isfinite(pairs["x"].to_numpy(dtype=float))]
    if via == "flops" and (pairs["x"] <= 0).any():
        raise InputError("a link through compute needs positive flops", option="via")
    return pairs.reset_index(drop=True)


@dataclass
class TaskLink(Answer):
    """One task's link: its status, the fit, and how to predict the metric."""

    metric: Metric
    via: str
    loss: str | None
    status: str  # fitted, at chance, inverse scaling, not fitted
    reason: str
    chance: float | None
    fit: FitResult | None
    pairs: pd.DataFrame
    #: Standard deviation of one run's log shortfall around the link (prediction intervals).
    noise_sd: float = 0.0
    #: Candidate links by formula, and their weights in the fit.
    links: dict[str, str] = field(default_factory=dict)
    trend: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{self.metric.name} via {self.loss or self.via}"

    @property
    def weights(self) -> dict[str, float]:
        """Weight of each link in the fit (one link fitted alone: weight 1)."""
        if self.fit is None:
            return {}
        if self.fit.selection is None:
            return {self.links.get(self.fit.law.formula, self.fit.law.name): 1.0}
        return {self.links.get(c.label, c.label): c.weight
                for c in self.fit.selection.candidates if c.weight > 0}  # fmt: skip

    @property
    def link(self) -> str:
        """The chosen link(s): ``sigmoid`` or ``0.59 sigmoid + 0.41 exponential``."""
        w = self.weights
        if len(w) <= 1:
            return next(iter(w), "-")
        return " + ".join(f"{v:.2f} {k}" for k, v in sorted(w.items(), key=lambda kv: -kv[1]))

    def to_json(self) -> dict[str, Any]:
        x = self.pairs["x"].to_numpy(dtype=float) if len(self.pairs) else np.array([np.nan])
        doc: dict[str, Any] = {
            "metric": self.metric.name,
            "kind": self.metric.kind,
            "via": self.loss or self.via,
            "status": self.status,
            "reason": self.reason,
            "chance": self.chance,
            "link": self.link,
            "weights": self.weights,
            "n_points": int(len(self.pairs)),
            "x_range": [float(np.nanmin(x)), float(np.nanmax(x))],
            "best_observed": float(self.pairs["value"].max() if self.metric.kind != "error"
                                   else self.pairs["value"].min()) if len(self.pairs) else None,
            "trend": dict(self.trend),
            "noise_sd": self.noise_sd,
            "warnings": list(self.warnings),
        }  # fmt: skip
        if self.fit is not None:
            doc["fit"] = {
                "formula": readable(self.fit.law.formula) if self.fit.selection is None
                else " + ".join(f"{w:.2f} [{readable(f)}]" for f, w in
                                ((c.label, c.weight) for c in self.fit.selection.candidates)
                                if w > 0),
                "params": dict(self.fit.params),
                "n_runs": self.fit.n_runs,
            }  # fmt: skip
        return doc

    def summary(self) -> str:
        doc = self.to_json()
        lines = [
            self.title,
            f"  status  {self.status}" + (f": {self.reason}" if self.reason else ""),
        ]
        if self.fit is not None:
            lines.append(f"  link    {self.link}: {doc['fit']['formula']}")
            if self.fit.selection is not None:
                lines += ["  " + line for line in self.fit.selection.summary_lines()]
        lines += [f"  WARNING {w}" for w in self.warnings]
        return "\n".join(lines)

    # -- prediction ------------------------------------------------------------------------
    def predict(
        self,
        at: Mapping[str, Any] | pd.DataFrame,
        *,
        loss_fit: FitResult | None = None,
        interval: float = 0.9,
        seed: int = 0,
    ) -> pd.DataFrame:
        """The metric at new points, with intervals.

        ``at``: ``loss`` values (a link through loss: the link's uncertainty only), or the loss
        law's variables with ``loss_fit`` (the chained prediction), or ``flops`` (or params and
        tokens) for a link through compute. Columns: the inputs; ``loss``, ``loss_lo``,
        ``loss_hi`` when chained (the loss law's prediction interval); ``value``; ``lo``, ``hi``:
        every bootstrap replicate of the loss law crossed with every replicate of the link;
        ``pred_lo``, ``pred_hi``: one run's interval, which adds the loss law's prediction error
        (its extrapolation error past the data, as ``FitResult.predict`` counts it) and the
        scatter of runs around the link (:attr:`noise_sd`). Values stay in the metric's range.
        """
        check_level(interval)
        points = at.copy() if isinstance(at, pd.DataFrame) else pd.DataFrame(
            {k: np.atleast_1d(v) for k, v in at.items()})  # fmt: skip
        out = points.copy()
        x, x_noise = self._x_draws(points, loss_fit)  # (S1, n), (n,) log-SD beyond replicates
        rng = np.random.default_rng(seed)
        x_draws = _draws(x, x_noise, rng)
        if loss_fit is not None and self.via == "loss":
            out["loss"] = x[0]
            out["loss_lo"], out["loss_hi"] = _quantiles(x_draws, interval)
        if self.fit is None:  # at chance, inverse scaling, not fitted: nothing to predict
            for c in ("value", "lo", "hi", "pred_lo", "pred_hi"):
                out[c] = np.nan
            return out
        sets = parameter_sets(self.fit)
        band = self._shortfall(sets.values, x)  # (S2, S1, n)
        out["value"] = self._metric(band[0, 0])
        crossed = band.reshape(-1, band.shape[-1])[1:]
        out["lo"], out["hi"] = _quantiles(self._metric(crossed), interval)
        pick = rng.integers(0, sets.size, size=len(x_draws))
        one = {k: v[pick] for k, v in sets.values.items()}  # (D, 1): one set per draw
        y = self._shortfall(one, x_draws, crossed_sets=False)
        y = y * np.exp(self.noise_sd * rng.standard_normal(y.shape))
        out["pred_lo"], out["pred_hi"] = _quantiles(self._metric(y), interval)
        return out

    def _shortfall(self, values: Mapping[str, np.ndarray], x: np.ndarray, *,
                   crossed_sets: bool = True) -> np.ndarray:  # fmt: skip
        """The link's shortfall: every parameter set at every row of ``x`` (crossed: (S2, S1,
        n)), or parameter set i at row i of ``x`` ((D, n))."""
        variable = NEG_LOSS if self.via == "loss" else "flops"
        data = {variable: -x if self.via == "loss" else x}
        if crossed_sets:
            data = {variable: data[variable][None, :, :]}
            values = {k: v[:, :, None] for k, v in values.items()}
        with np.errstate(all="ignore"):
            y = np.asarray(self.fit.law.evaluate(data, values), dtype=float)  # type: ignore[union-attr]
        # A link's shortfall is NaN only where one it combines (geometric mean) falls to or
        # below 0: that link predicts a perfect score there, and so does their mean.
        y = np.where(np.isnan(y), 0.0, y)
        shape = (next(iter(values.values())).shape[0], *x.shape) if crossed_sets else x.shape
        return np.broadcast_to(y, shape)

    def _metric(self, shortfall: np.ndarray) -> np.ndarray:
        """Metric values, kept in the metric's range (a shortfall is at least 0; a bounded
        one at most 1)."""
        y = np.maximum(shortfall, 0.0)
        if self.metric.bounded:
            y = np.minimum(y, 1.0)
        return self.metric.from_shortfall(y)

    def _x_draws(
        self, points: pd.DataFrame, loss_fit: FitResult | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The link's input at each point as (S1, n) (row 0 the estimate, rows 1.. the loss
        law's replicates) and the log-SD of one run's loss beyond them (0 when given)."""
        n = len(points)
        if self.via == "flops":
            if "flops" in points:
                flops = points["flops"].to_numpy(dtype=float)
            elif {"params", "tokens"} <= set(points):
                flops = 6.0 * points["params"].to_numpy(dtype=float) * points["tokens"].to_numpy(
                    dtype=float)  # fmt: skip
            else:
                raise InputError("a link through compute predicts at `flops` (or params and "
                                 "tokens)", option="at")  # fmt: skip
            return flops[None, :], np.zeros(n)
        if loss_fit is None:
            if "loss" not in points:
                raise InputError("give `loss` values, or a loss law to predict them from sizes",
                                 option="at")  # fmt: skip
            return points["loss"].to_numpy(dtype=float)[None, :], np.zeros(n)
        missing = [v for v in loss_fit.law.variables if v not in points]
        if missing:
            raise InputError(f"the loss law needs {', '.join(missing)}", option="at")
        data = {v: points[v].to_numpy(dtype=float) for v in loss_fit.law.variables}
        losses = np.asarray(parameter_sets(loss_fit).evaluate(data), dtype=float)
        return losses, np.sqrt(_loss_noise(loss_fit, points, losses))


def _loss_noise(loss_fit: FitResult, points: pd.DataFrame, losses: np.ndarray) -> np.ndarray:
    """Variance of one run's log loss beyond the spread of the loss law's replicates: the
    scatter of runs, at least the error the law makes this far past its data, and at least the
    disagreement of the laws a chosen fit combines (as ``FitResult.predict`` counts them)."""
    with np.errstate(all="ignore"):
        logs = np.log(losses[1:]) if len(losses) > 1 else np.zeros((1, losses.shape[1]))
        spread = np.nanvar(logs, axis=0) if len(losses) > 1 else np.zeros(losses.shape[1])
    total = spread + loss_fit.residuals.get("robust_sd", 0.0) ** 2
    if loss_fit.extrapolation is not None:
        total = np.maximum(total, loss_fit.extrapolation.variance(loss_fit.decades_beyond(points)))
    if loss_fit.selection is not None:
        data = {v: points[v].to_numpy(dtype=float) for v in loss_fit.law.variables}
        total = np.maximum(total, loss_fit.selection.disagreement(data))
    return np.maximum(total - spread, 0.0)


def _draws(x: np.ndarray, log_sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """NOISE_DRAWS values of the input per point: a random replicate (the estimate when there
    are none) times its log-normal noise."""
    rows = x[1:] if len(x) > 1 else x
    picked = rows[rng.integers(0, len(rows), size=NOISE_DRAWS)]
    return picked * np.exp(log_sd[None, :] * rng.standard_normal(picked.shape))


def _quantiles(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    q = ((1 - level) / 2, 1 - (1 - level) / 2)
    values = np.where(np.isfinite(values), values, np.nan)
    if values.shape[0] == 0 or np.all(np.isnan(values)):
        nan = np.full(values.shape[1:], np.nan)
        return nan, nan
    with np.errstate(all="ignore"):
        lo, hi = np.nanquantile(values, q, axis=0)
    return lo, hi


def fit_task_link(
    runs: Runs,
    metric: str,
    *,
    via: str = "loss",
    loss: str | None = None,
    link: str | Sequence[str] = "auto",
    chance: float | None = None,
    ceiling: float | None = None,
    family: str | None = None,
    where: str | None = None,
    bootstrap: int = 200,
    seed: int = 0,
) -> TaskLink:
    """Fit the link from ``loss`` (a metric of the runs, e.g. ``val_loss``; or ``via="flops"``)
    to ``metric`` (see :mod:`.metrics`), choosing among ``link`` candidates by
    cross-extrapolation (``"auto"``: exponential and sigmoid for bounded metrics, power for
    log-probabilities).

    ``chance``: the metric at chance (default: the task's known level, 0 for exact match and
    pass@k); ``ceiling``: the best score the task allows (checked against chance).

    Raises:
        InputError: unknown metric, a value outside the metric's range, chance at or above the
            ceiling.

    Example:
        >>> t = fit_task_link("../shared/data/overtrain_gadre.csv", "acc_arc_easy",  # doctest: +SKIP
        ...                   loss="loss_c4_val", family="rpj")
        >>> t.link, t.predict({"loss": [2.4]})                                     # doctest: +SKIP
    """
    table = select(runs, family=family, where=where)
    m = parse_metric(metric)
    if via not in ("loss", "flops"):
        raise InputError(f"must be loss or flops, got {via!r}", option="via")
    pairs = metric_pairs(table, metric, via=via, loss=loss)
    m.check(pairs["value"], where=[f"run {r!r}" for r in pairs["run_id"]])
    level = m.chance(chance)
    check_chance(level if m.kind != "error" else (None if level is None else 1 - level), ceiling)
    candidates = link_candidates(m.kind, link)
    quality = -pairs["x"].to_numpy(dtype=float) if via == "loss" else np.log(pairs["x"])
    score = -m.shortfall(pairs["value"])  # higher is better, whatever the kind
    stderr = pairs["stderr"] if "stderr" in pairs else None
    margin = chance_margin(m, stderr) if m.bounded else 0.0
    moves = trend(quality, score, margin)
    base = dict(metric=m, via=via, loss=loss if via == "loss" else None, chance=level,
                pairs=pairs, trend=moves)  # fmt: skip
    if len(pairs) < MIN_PAIRS:
        return TaskLink(**base, status="not fitted", fit=None,
                        reason=f"{len(pairs)} run(s) measured it; a link needs {MIN_PAIRS}")  # fmt: skip
    if level is not None and m.bounded:
        values = pairs["value"].to_numpy(dtype=float)
        best = float(values.min() if m.kind == "error" else values.max())
        if abs(best - level) < margin or (best < level) != (m.kind == "error"):
            return TaskLink(**base, status="at chance", fit=None, reason=(
                f"the best run scores {best:.4g}, within {margin:.3g} of chance ({level:.4g}): "
                "no signal to fit"))  # fmt: skip
    if moves["verdict"] == "inverse scaling":
        return TaskLink(**base, status="inverse scaling", fit=None, reason=(
            f"the metric falls as models improve (rank correlation {moves['spearman']:.2f}); a "
            "link that can only improve would not describe it"))  # fmt: skip
    return _fit_links(table, m, pairs, candidates, base, level, bootstrap, seed)


def _fit_links(table, m: Metric, pairs, candidates, base, level, bootstrap, seed) -> TaskLink:
    via = base["via"]
    x = pairs["x"].to_numpy(dtype=float)
    floor = 0.5 / (m.items() or 2000)  # a perfect score: half an item below it, not log(0)
    y = np.maximum(m.shortfall(pairs["value"]), floor if m.bounded else 1e-6)
    scale = x if via == "loss" else np.log(x)
    # the sigmoid's scale: s = 1 rises over the data's whole range, s = 10 over a tenth of it
    centre, width = float(np.median(scale)), float(np.ptp(scale)) / 10 or 0.1
    chance_shortfall = None if level is None else float(m.shortfall(level))
    formulas = {
        link_formula(name, via=via, chance=None if chance_shortfall is None else 1 - chance_shortfall,
                     centre=centre, width=width): name
        for name in candidates
        if not (name == "sigmoid" and level is None)
    }  # fmt: skip
    notes = (
        []
        if len(formulas) == len(candidates)
        else ["the sigmoid link needs a chance level: give `chance`"]
    )
    frame = pd.DataFrame({
        "family": pairs["family"].astype(str).to_numpy(),
        "run_id": (pairs["run_id"].astype(str) + np.where(
            pairs["step"].isna(), "", "@" + pairs["step"].astype(str))).to_numpy(),
        "params": pairs["params"].to_numpy(dtype=float),
        "tokens": pairs["tokens"].to_numpy(dtype=float),
        "flops": pairs["flops"].to_numpy(dtype=float),
        "step": np.nan, "metric": m.shortfall_name, "value": y,
    })  # fmt: skip
    if via == "loss":
        frame[NEG_LOSS] = -x
    link_table = RunTable(frame, table.source, [])
    law = ",".join(formulas) if len(formulas) > 1 else next(iter(formulas))
    try:
        with warnings.catch_warnings():  # numpy's on NaN nested scores: handled below
            warnings.simplefilter("ignore", RuntimeWarning)
            result = fit(link_table, law, y=m.shortfall_name, bootstrap=bootstrap, seed=seed,
                         influence=False)  # fmt: skip
    except InputError as exc:  # too few runs to cross-extrapolate, or no link extrapolated
        # to the held-out runs inside its range (each nested fit predicting a held-out run at
        # or past a perfect score): the links are compared as if too few runs were there
        alone = []
        for formula in formulas:
            try:
                alone.append(fit(link_table, formula, y=m.shortfall_name, bootstrap=bootstrap,
                                 seed=seed, influence=False))  # fmt: skip
            except InputError:
                continue
        if not alone:
            return TaskLink(**base, status="not fitted", fit=None, reason=str(exc))
        # links of equal parameter counts, compared by their scatter around the runs
        result = min(alone, key=lambda f: (f.residuals.get("rms_log", math.inf), -len(alone)))
        notes.append(f"{formulas[result.law.formula]} chosen by its fit to the runs, not by "
                     f"cross-extrapolation: {exc}")  # fmt: skip
    nested = []
    if result.selection is not None:
        nested = [e for cut in result.selection.nested.get("errors", []) for e in cut
                  if e is not None and math.isfinite(e)]  # fmt: skip
    noise = max(result.residuals.get("robust_sd", 0.0) or 0.0,
                float(np.sqrt(np.mean(np.square(nested)))) if nested else 0.0)  # fmt: skip
    kept = [w for w in result.warnings if "weakly identified" not in w]
    return TaskLink(**base, status="fitted", reason="", fit=result, noise_sd=noise,
                    links=formulas, warnings=notes + kept)  # fmt: skip


# -- the held-out protocol ----------------------------------------------------------------------
@dataclass
class TaskBacktest(Answer):
    """Held-out predictions of every task: one row per (family, task, held-out run)."""

    points: pd.DataFrame
    loss_fits: dict[str, FitResult]
    holdout: str
    interval: float
    title = "downstream backtest"

    @property
    def fitted(self) -> pd.DataFrame:
        """Predictions of fitted tasks whose metric is a fraction (errors in points)."""
        p = self.points
        return p[(p["status"] == "fitted") & (p["kind"] != "logprob")]

    def to_json(self) -> dict[str, Any]:
        f = self.fitted

        def stat(column: str, how: str = "mean") -> float | None:
            return float(getattr(f[column], how)()) if len(f) else None

        logprob = self.points[
            (self.points["status"] == "fitted") & (self.points["kind"] == "logprob")
        ]
        doc = {
            "holdout": self.holdout,
            "interval": self.interval,
            "tasks": int(self.points["metric"].nunique()),
            "predictions": int(len(f)),
            "mean_abs_error_points": stat("abs_error_points"),
            "median_abs_error_points": stat("abs_error_points", "median"),
            "coverage": stat("inside"),
            "mean_abs_error_points_at_actual_loss": stat("abs_error_points_at_actual_loss"),
            "coverage_at_actual_loss": stat("inside_at_actual_loss"),
            "logprob_predictions": int(len(logprob)),
            "logprob_mean_abs_error_nats": float((logprob["predicted"] - logprob["actual"]).abs()
                                                 .mean()) if len(logprob) else None,
            "logprob_coverage": float(logprob["inside"].mean()) if len(logprob) else None,
            "status_counts": self.points.drop_duplicates(["family", "metric"])["status"]
            .value_counts().to_dict(),
            "loss_errors": {k: float(v) for k, v in self.points.drop_duplicates("family")
                            .set_index("family")["loss_rel_error"].items()},
            "rows": self.points.to_dict(orient="records"),
        }  # fmt: skip
        return doc

    def to_frame(self) -> pd.DataFrame:
        return self.points.copy()

    def average(self, metrics: Sequence[str]) -> pd.DataFrame:
        """The held-out runs' average over ``metrics`` (accuracies, as Gadre et al. average
        their 17 tasks' top-1 error): actual, predicted (tasks at chance count at chance) and
        the relative error of the average error ``1 - accuracy``, chained and at actual loss."""
        p = self.points[self.points["metric"].isin(list(metrics))]
        rows = []
        for (fam, run), g in p.groupby(["family", "run_id"], sort=False):
            row = {"family": fam, "run_id": run, "tasks": len(g),
                   "actual_error": float(1 - g["actual"].mean())}  # fmt: skip
            for suffix in ("", "_at_actual_loss"):
                pred = np.where(g["status"] == "fitted", g[f"predicted{suffix}"], g["chance"])
                error = float(1 - np.nanmean(pred.astype(float)))
                row[f"predicted_error{suffix}"] = error
                row[f"rel_error{suffix}"] = error / row["actual_error"] - 1
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        d = self.to_json()
        lines = [
            f"{self.title}: holdout {self.holdout}, {d['tasks']} task(s)",
            f"  status            {d['status_counts']}",
        ]
        if d["predictions"]:
            lines += [
                f"  predictions       {d['predictions']} (fitted tasks x held-out runs; "
                "fractions, in points)",
                f"  mean abs. error   {d['mean_abs_error_points']:.2f} points "
                f"(median {d['median_abs_error_points']:.2f}); {d['coverage']:.0%} inside their "
                f"{self.interval:.0%} interval",
                f"  at actual loss    {d['mean_abs_error_points_at_actual_loss']:.2f} points; "
                f"{d['coverage_at_actual_loss']:.0%} inside",
            ]
        if d["logprob_predictions"]:
            lines.append(f"  log-probabilities {d['logprob_predictions']}: mean abs. error "
                         f"{d['logprob_mean_abs_error_nats']:.3g} nats; "
                         f"{d['logprob_coverage']:.0%} inside")  # fmt: skip
        lines += [f"  loss law error    {k}: {v:+.2%}" for k, v in d["loss_errors"].items()]
        return "\n".join(lines)


def backtest_tasks(
    runs: Runs,
    metrics: Sequence[str] | None = None,
    *,
    loss: str,
    holdout: str = "largest:1",
    loss_law: str = "chinchilla",
    link: str | Sequence[str] = "auto",
    family: str | Sequence[str] | None = None,
    where: str | None = None,
    chance: float | None = None,
    interval: float = 0.9,
    bootstrap: int = 200,
    seed: int = 0,
) -> TaskBacktest:
    """Per family: hold out runs (``largest:1``: the largest model), fit ``loss_law`` to the
    rest's ``loss`` and each task's link to the rest's metric, and predict the held-out runs'
    metric through the predicted loss (columns ``predicted``, ``lo``, ``hi``) and, to tell the
    two stages apart, through their actual loss (``*_at_actual_loss``). Errors are in points
    (percentage points of fractions; for log-probabilities, hundredths of a nat), and the
    summary's points average the fractions only.

    ``metrics``: default every downstream metric of the runs.

    Example:
        >>> bt = backtest_tasks("../shared/data/overtrain_gadre.csv", loss="loss_c4_val")  # doctest: +SKIP
        >>> print(bt.summary())                                                           # doctest: +SKIP
    """
    check_level(interval)
    table = select(runs, family=list(family) if isinstance(family, list | tuple) else family,
                   where=where)  # fmt: skip
    names = list(metrics) if metrics else [m for m in table.metrics() if is_downstream(m)]
    if not names:
        raise InputError("the runs hold no downstream metric (acc_*, err_*, pass@k_*, ...)",
                         option="metric")  # fmt: skip
    for name in names:
        parse_metric(name)
    rows, loss_fits = [], {}
    for fam in sorted(table.df["family"].astype(str).unique()):
        part = table.filter(family=fam)
        final = part.df[(part.df["metric"] == loss) & part.df["step"].isna()]
        if final.empty:
            continue
        held = holdout_mask(final.reset_index(drop=True), holdout)
        held_ids = set(final["run_id"][held].astype(str))
        if not held_ids or len(held_ids) == final["run_id"].nunique():
            continue
        train = RunTable(part.df[~part.df["run_id"].astype(str).isin(held_ids)], part.source, [])
        loss_fit = fit(train, loss_law, y=loss, bootstrap=bootstrap, seed=seed)
        loss_fits[fam] = loss_fit
        targets = final[held][["run_id", "params", "tokens", "flops", "value"]]
        targets = targets.rename(columns={"value": "actual_loss"}).reset_index(drop=True)
        predicted_loss = loss_fit.predict(targets[list(loss_fit.law.variables)])["value"]
        loss_error = float(np.mean(predicted_loss.to_numpy() / targets["actual_loss"] - 1))
        for name in names:
            rows += _task_rows(part, train, fam, name, targets, loss_fit, loss_error, loss=loss,
                               link=link, chance=chance, interval=interval,
                               bootstrap=bootstrap, seed=seed)  # fmt: skip
    if not rows:
        raise InputError(f"no family has runs of {loss!r} to hold out with {holdout!r}",
                         option="holdout")  # fmt: skip
    return TaskBacktest(pd.DataFrame(rows), loss_fits, holdout, interval)


def _task_rows(part, train, fam, name, targets, loss_fit, loss_error, **kw) -> list[dict]:
    m = parse_metric(name)
    held = part.df[(part.df["metric"] == name) & part.df["step"].isna()]
    actual = held.set_index(held["run_id"].astype(str))["value"]
    if not len(actual):
        return []
    task = fit_task_link(train, name, loss=kw["loss"], link=kw["link"], chance=kw["chance"],
                         bootstrap=kw["bootstrap"], seed=kw["seed"])  # fmt: skip
    chained = task.predict(targets, loss_fit=loss_fit, interval=kw["interval"], seed=kw["seed"])
    direct = task.predict({"loss": targets["actual_loss"].to_numpy()}, interval=kw["interval"],
                          seed=kw["seed"])  # fmt: skip
    scale = 100.0  # points: percentage points of a fraction, centi-nats of a log-probability
    out = []
    for i, run in enumerate(targets["run_id"].astype(str)):
        if run not in actual.index:
            continue
        a = float(actual[run])
        row = {"family": fam, "metric": name, "kind": m.kind, "run_id": run,
               "status": task.status, "link": task.link, "chance": task.chance,
               "actual": a, "loss_rel_error": loss_error}  # fmt: skip
        for suffix, frame in (("", chained), ("_at_actual_loss", direct)):
            p, lo, hi = (float(frame[c].iloc[i]) for c in ("value", "pred_lo", "pred_hi"))
            row[f"predicted{suffix}"], row[f"lo{suffix}"], row[f"hi{suffix}"] = p, lo, hi
            row[f"abs_error_points{suffix}"] = abs(p - a) * scale
            row[f"inside{suffix}"] = bool(lo <= a <= hi) if math.isfinite(lo) else False
        out.append(row)
    return out


__all__ = ["TaskBacktest", "TaskLink", "backtest_tasks", "fit_task_link", "metric_pairs"]
