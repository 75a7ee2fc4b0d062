"""Replicate noise: how much a run's result moves when the same run is trained again.

Runs that share every setting but a seed are *replicates* of one point: the same family,
params and tokens, and the same value in every other column of the run table that is neither
a seed (``seed``, ``data_seed``, ``*_seed``, ``replicate``), an id nor a measurement
(:data:`NOT_SETTINGS`). Replicates come from one table (seeds of a ladder) or from several
(the same spec trained again: ``replicate_noise(runs, ["rerun.csv"])``); the runs of another
table count where they match a point of the first, on the settings both tables have
(and without ``family`` when the two share no family name: a replicate spec may carry another
name).

* **Measured**: the sample variance of log(value) over a point's replicates (k = n - 1 degrees
  of freedom), the noise a law fitted on log values sees.
* **Modelled**: log Var = a + b log10(compute) (compute 6ND, else ``flops``), by weighted least
  squares on the log sample variances of the replicated points, each corrected for the bias of
  a log chi-square (E log s^2 = log sigma^2 + psi(k/2) - log(k/2)) and weighted by the inverse
  of its variance, psi'(k/2). Outside the replicated range the model keeps its edge value.
* **Used**: where a point has replicates, its measured variance moderated toward the model,
  (nu0 s0^2 + k s^2) / (nu0 + k), as limma moderates gene-wise variances (Smyth 2004), with
  the prior degrees of freedom nu0 estimated from how far the log variances scatter around the
  model beyond their sampling error; elsewhere the model. Two replicates give one degree of
  freedom, a variance known only within a factor of about 1,000 (90%): it cannot stand alone.

A fit with ``weighting="noise"`` weights each run by 1 / (its point's variance + the law's
misfit), the random-effects weights of meta-analysis (DerSimonian & Laird 1986): the misfit,
the scatter of the law beyond the replicate noise, keeps runs whose noise is far below it from
dominating. A point whose replicates disagree more than the law's scatter (a chi-square test,
Bonferroni over the replicated points) is named in a warning: a *transient*, such as the two
smallest models of the bundled ladder at 50M tokens, 16% and 5% apart in two trainings.

Example:
    >>> noise = replicate_noise("data/ladder/runs.csv",                      # doctest: +SKIP
    ...                         ["../shared/data/ladder_rerun_h200/runs.csv"], y="val_loss")
    >>> noise.points[["params", "tokens", "n", "mean", "sd"]]                # doctest: +SKIP
    >>> noise.model.variance(1e15) ** 0.5        # SD of log val_loss at 1e15 FLOPs  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..runs import RunTable, read_runs
from .engine import Problem, best_fit

#: Columns naming a replicate's seeds: differ between replicates by design.
SEED_COLUMNS = ("seed", "data_seed", "init_seed", "replicate")
#: Columns that are results or bookkeeping, not settings (they may differ between replicates);
#: ``flops`` is a function of params and tokens that tables derive in different ways.
NOT_SETTINGS = frozenset({
    "run_id", "step", "metric", "value", "flops", "lr", "status", "elapsed_s", "tokens_per_s",
    "wall_time", "runtime", "timestamp", "date", "device", "host", "hostname",
})  # fmt: skip
#: Family-wise false-flag rate of the tests that name a transient point or a differing run.
FAMILY_LEVEL = 0.05


def is_seed_column(name: str) -> bool:
    """A seed or replicate column (``seed``, ``data_seed``, ``*_seed``), or a logger's own
    (``_timestamp``): never a setting that tells points apart.

    Example:
        >>> [is_seed_column(c) for c in ("seed", "data_seed", "init_seed", "d_model")]
        [True, True, True, False]
    """
    return name in SEED_COLUMNS or name.endswith("_seed") or name.startswith(("seed_", "_"))


def setting_columns(frame: pd.DataFrame, by: Sequence[str] | None = None) -> list[str]:
    """The columns whose values make a point: ``by``, or every column but seeds, ids and
    measurements (:data:`NOT_SETTINGS`)."""
    if by:
        missing = [c for c in by if c not in frame.columns]
        if missing:
            raise InputError(
                f"no column {missing[0]!r} to group replicates by; columns: "
                f"{', '.join(frame.columns)}",
                option="by",
            )
        return list(dict.fromkeys(by))
    return [c for c in frame.columns if c not in NOT_SETTINGS and not is_seed_column(c)]


def final_results(table: RunTable, y: str | None = None) -> pd.DataFrame:
    """One row per run: its final value of metric ``y`` (its last checkpoint when it has no
    final row) with all its columns.

    Example:
        >>> from scalinglab.runs import read_runs                            # doctest: +SKIP
        >>> final_results(read_runs("data/ladder/runs.csv"), "val_loss").shape  # doctest: +SKIP
        (20, 21)
    """
    metrics = table.metrics()
    if y is None:
        if len(metrics) != 1:
            raise InputError(f"several metrics; choose one with `y`: {', '.join(metrics)}")
        y = metrics[0]
    if y not in metrics:
        raise InputError(f"unknown metric {y!r}; metrics: {', '.join(metrics)}", file=table.source)
    rows = table.df[table.df["metric"] == y]
    last = np.nan_to_num(rows["step"].to_numpy(dtype=float), nan=np.inf)  # final rows last
    rows = rows.iloc[np.argsort(last, kind="stable")]
    out = rows.groupby(["family", "run_id"], sort=False).tail(1).reset_index(drop=True)
    out.attrs["metric"] = y
    return out


def noise_compute(frame: pd.DataFrame | Mapping[str, Any]) -> tuple[np.ndarray | None, str]:
    """The compute the noise model is a function of, and its name: 6ND when params and tokens
    are known, else ``flops``, ``params``, ``tokens`` or ``step`` (None when none is)."""
    cols = set(frame.columns if isinstance(frame, pd.DataFrame) else frame)

    def values(c: str) -> np.ndarray:
        return np.asarray(frame[c], dtype=float).reshape(-1)

    if {"params", "tokens"} <= cols:
        return 6.0 * values("params") * values("tokens"), "6ND"
    for c in ("flops", "params", "tokens", "step"):
        if c in cols:
            return values(c), c
    return None, ""


def _key(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One text key per row from ``columns`` (numbers to 10 significant digits, so that the
    same setting written by two programs matches)."""
    parts = []
    for c in columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            parts.append(s.map(lambda v: "" if pd.isna(v) else f"{float(v):.10g}"))
        else:
            parts.append(s.astype(object).map(lambda v: "" if pd.isna(v) else str(v)))
    if not parts:
        return pd.Series([""] * len(frame), index=frame.index)
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    return key


# -- the model of noise against scale --------------------------------------------------------
def _log_chi2_bias(dof: np.ndarray) -> np.ndarray:
    from scipy.special import digamma

    return digamma(dof / 2) - np.log(dof / 2)


def _trigamma(x: np.ndarray | float) -> np.ndarray:
    from scipy.special import polygamma

    return polygamma(1, x)


def _prior_dof(excess: float) -> float:
    """nu0 with psi'(nu0/2) = excess (Smyth 2004, eq. 13); infinite when there is no excess."""
    if not excess > 0:
        return math.inf
    from scipy.optimize import brentq

    return 2.0 * brentq(lambda x: float(_trigamma(x)) - excess, 1e-8, 1e8)


@dataclass(frozen=True)
class NoiseModel:
    """Variance of log(value) of one run against its compute: ln Var = intercept + slope *
    log10(compute), held at its edge value outside ``compute_range``.

    ``prior_dof``: how many degrees of freedom the model is worth against a point's own
    replicates (infinite: the model alone). ``misfit_var``: the law's scatter beyond the noise,
    set by a fit (:func:`with_replicate_noise`), added to a run's variance in predictions.

    Example:
        >>> m = NoiseModel(intercept=-30.0, slope=1.5, prior_dof=2.0, n_points=4,
        ...                compute_range=(1e14, 1e16))
        >>> [f"{v:.3g}" for v in m.variance([1e13, 1e15, 1e17])]
        ['9.36e-14', '2.96e-12', '9.36e-11']
    """

    intercept: float
    slope: float
    prior_dof: float
    n_points: int
    compute_range: tuple[float, float]
    compute: str = "6ND"
    misfit_var: float = 0.0

    def variance(self, compute: Any) -> np.ndarray:
        """The modelled variance of log(value) at ``compute``."""
        c = np.clip(np.asarray(compute, dtype=float), *self.compute_range)
        return np.exp(self.intercept + self.slope * np.log10(c))

    def moderated(self, var_log: np.ndarray, dof: np.ndarray, compute: np.ndarray) -> np.ndarray:
        """A point's variance: its measured one (``dof`` > 0) moderated toward the model."""
        prior = self.variance(compute)
        if math.isinf(self.prior_dof):
            return prior
        k = np.asarray(dof, dtype=float)
        measured = np.where(k > 0, np.nan_to_num(var_log), 0.0)
        return (self.prior_dof * prior + k * measured) / (self.prior_dof + k)

    def run_variance(self, points: pd.DataFrame | Mapping[str, Any]) -> np.ndarray | None:
        """A new run's scatter around the law at ``points``: the law's misfit plus the noise at
        their compute; None when the points do not say the compute the model was fitted on."""
        compute, name = noise_compute(points)
        if compute is None or name != self.compute:
            return None
        return self.misfit_var + self.variance(compute)

    def describe(self) -> str:
        per_decade = math.exp(self.slope / 2)
        return (
            f"replicate noise: SD of log value {self.variance(self.compute_range[0]) ** 0.5:.2%} "
            f"at {self.compute} {self.compute_range[0]:.3g} to "
            f"{self.variance(self.compute_range[1]) ** 0.5:.2%} at {self.compute_range[1]:.3g} "
            f"(x{per_decade:.2f} per decade; {self.n_points} replicated points); law misfit "
            f"beyond it {self.misfit_var**0.5:.2%}"
        )

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["compute_range"] = list(self.compute_range)
        doc["prior_dof"] = None if math.isinf(self.prior_dof) else self.prior_dof
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> NoiseModel:
        """The model saved by :meth:`to_json` (a saved fit's ``noise``)."""
        try:
            lo, hi = (float(v) for v in doc["compute_range"])
            model = cls(
                intercept=float(doc["intercept"]), slope=float(doc["slope"]),
                prior_dof=math.inf if doc.get("prior_dof") is None else float(doc["prior_dof"]),
                n_points=int(doc["n_points"]), compute_range=(lo, hi),
                compute=str(doc.get("compute", "6ND")), misfit_var=float(doc.get("misfit_var", 0)),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a scalinglab fit: noise: {exc}") from None
        if not (0 < lo <= hi and math.isfinite(hi) and model.misfit_var >= 0):
            raise InputError("not a scalinglab fit: noise: bad compute_range or misfit_var")
        return model


def fit_noise_model(
    compute: np.ndarray,
    var_log: np.ndarray,
    dof: np.ndarray,
    *,
    suspects: np.ndarray | None = None,
    compute_name: str = "6ND",
) -> tuple[NoiseModel | None, np.ndarray]:
    """The model of log variance against log10 compute, from measured variances with ``dof``
    degrees of freedom each (points of 0 dof or 0 variance are left out).

    ``suspects``: points that may be outliers of the model (the differences a reproducibility
    check tests); those whose variance exceeds the model's beyond the Bonferroni-corrected
    chi-square quantile are left out in turn, and the model refitted, until none changes.
    Returns the model (None without a usable point) and the mask of points left out.

    Example:
        >>> c = np.geomspace(1e14, 1e16, 8)
        >>> v = 1e-4 * (c / 1e14) ** -1.0              # noise falling as 1/compute
        >>> model, _ = fit_noise_model(c, v, np.full(8, 50.0))
        >>> round(model.slope / math.log(10), 1)       # -1 decade of variance per decade
        -1.0
    """
    from scipy.stats import chi2

    compute, var_log, dof = (np.asarray(a, dtype=float) for a in (compute, var_log, dof))
    usable = (dof > 0) & (var_log > 0) & np.isfinite(var_log) & (compute > 0)
    suspects = np.zeros(len(dof), bool) if suspects is None else np.asarray(suspects, bool)
    left_out = np.zeros(len(dof), bool)
    for _ in range(20):
        model = _fit_line(compute, var_log, dof, usable & ~left_out, compute_name)
        if model is None or not suspects.any():
            return model, left_out
        m = int((usable & suspects).sum())
        stat = dof * var_log / model.variance(compute)
        limit = chi2.isf(FAMILY_LEVEL / max(m, 1), np.maximum(dof, 1))
        now = usable & suspects & (stat > limit)
        if (now == left_out).all() or (usable & ~now).sum() == 0:
            return model, left_out
        left_out = now
    return model, left_out


def _fit_line(
    compute: np.ndarray, var_log: np.ndarray, dof: np.ndarray, use: np.ndarray, name: str
) -> NoiseModel | None:
    if not use.any():
        return None
    x = np.log10(compute[use])
    k = dof[use]
    z = np.log(var_log[use]) - _log_chi2_bias(k)  # unbiased log variance (Smyth 2004)
    w = 1.0 / _trigamma(k / 2)  # the variance of log s^2 with k degrees of freedom
    if use.sum() >= 3 and np.ptp(x) > 0.1:
        design = np.stack([np.ones_like(x), x], axis=1)
        sw = np.sqrt(w)
        coef = np.linalg.lstsq(design * sw[:, None], z * sw, rcond=None)[0]
        n_coef = 2
    else:
        coef = np.array([np.sum(w * z) / np.sum(w), 0.0])
        n_coef = 1
    resid = z - (coef[0] + coef[1] * x)
    n = len(z)
    excess = (np.sum(resid**2) / (n - n_coef) - np.mean(_trigamma(k / 2))) if n > n_coef else 0.0
    return NoiseModel(
        intercept=float(coef[0]), slope=float(coef[1]), prior_dof=_prior_dof(float(excess)),
        n_points=int(n), compute_range=(float(compute[use].min()), float(compute[use].max())),
        compute=name,
    )  # fmt: skip


# -- replicates of one or several tables -----------------------------------------------------
@dataclass
class ReplicateNoise(Answer):
    """The points of a run table, their replicates and the noise model.

    ``points``: one row per point: its settings that vary, ``compute``, ``n`` replicates,
    ``mean``, ``sd``, ``min``, ``max`` of the value, ``var_log`` (measured variance of
    log(value); NaN below 2 replicates), ``var`` (used: moderated or modelled), ``noise``
    (``replicates`` or ``model``). ``runs``: one row per run: ``point``, ``run_id``, ``table``
    (0 the first table), ``value``.
    """

    y: str
    key: list[str]
    points: pd.DataFrame
    runs: pd.DataFrame
    model: NoiseModel | None
    tables: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"replicate noise of {self.y}"

    @property
    def replicated(self) -> pd.DataFrame:
        """The points with at least two replicates."""
        return self.points[self.points["n"] >= 2]

    def run_variance(self, family: pd.Series, run_id: pd.Series) -> np.ndarray:
        """The variance of each run of the first table (by family and run id), NaN if unknown."""
        first = self.runs[self.runs["table"] == 0]
        point = dict(zip(_key(first, ["family", "run_id"]), first["point"], strict=True))
        ids = _key(pd.DataFrame({"family": family, "run_id": run_id}), ["family", "run_id"])
        var = self.points["var"].to_numpy(dtype=float)
        return np.array([var[point[k]] if k in point else np.nan for k in ids])

    def transient_warnings(self, scatter: float, *, weighted: bool = False) -> list[str]:
        """Points whose replicates disagree more than ``scatter`` (SD of log residuals of the
        law) allows: one-sided chi-square test, Bonferroni over the replicated points."""
        from scipy.stats import chi2

        rep = self.replicated
        if rep.empty or not scatter > 0:
            return []
        k = rep["n"].to_numpy(dtype=float) - 1
        stat = k * rep["var_log"].to_numpy(dtype=float) / scatter**2
        flagged = rep[stat > chi2.isf(FAMILY_LEVEL / len(rep), k)]
        found = []
        for i, row in flagged.iterrows():
            ids = self.runs.loc[self.runs["point"] == i, "run_id"].unique()
            found.append(
                f"point {self.describe_point(row)} (run {', '.join(map(str, ids))}): its "
                f"{int(row['n'])} replicates disagree beyond the law's scatter ({self.y} "
                f"{row['min']:.4g}..{row['max']:.4g}, SD of log {row['var_log'] ** 0.5:.1%} "
                f"against the law's {scatter:.2%}): a transient"
                + (", weighted down by its noise" if weighted else "")
            )
        return found

    def describe_point(self, row: pd.Series) -> str:
        return ", ".join(
            f"{c}={row[c]:,.6g}" if isinstance(row[c], int | float | np.number) else f"{c}={row[c]}"
            for c in self.shown_columns
        )

    @property
    def shown_columns(self) -> list[str]:
        """The settings that tell points apart: family, params, tokens, and those that differ
        between points of the same family, params and tokens (a schedule, a learning rate)."""
        base = [c for c in ("family", "params", "tokens") if c in self.key]
        if not base:
            return list(self.key)
        groups = self.points.groupby(base, dropna=False)
        return base + [
            c for c in self.key
            if c not in base and (groups[c].nunique(dropna=False) > 1).any()
        ]  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """One row per point (:attr:`points`)."""
        return self.points.copy()

    def to_json(self) -> dict[str, Any]:
        return {
            "y": self.y,
            "tables": list(self.tables),
            "key": list(self.key),
            "n_points": len(self.points),
            "n_replicated": len(self.replicated),
            "model": None if self.model is None else self.model.to_json(),
            "points": self.points.to_dict(orient="records"),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        table = self.points[[*self.shown_columns, "n", "mean", "sd", "min", "max", "noise"]]
        lines = [self.title, table.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
        if self.model is not None:
            lines.append(self.model.describe())
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, _stamp: tuple[int, int]) -> RunTable:
    return read_runs(path)


def read_table(source: Any) -> RunTable:
    """A run table from a path (read once per file version: nested fits reuse it) or anything
    :func:`~scalinglab.runs.read_runs` reads."""
    if isinstance(source, str | os.PathLike) and os.path.isfile(source):
        st = os.stat(source)
        return _read_cached(os.fspath(source), (st.st_mtime_ns, st.st_size))
    return read_runs(source)


def source_name(source: Any, table: RunTable) -> str:
    """A table's name in messages: the path it was read from, else its own source."""
    return os.fspath(source) if isinstance(source, str | os.PathLike) else table.source


def replicate_noise(
    runs: Any,
    replicates: Sequence[Any] = (),
    *,
    y: str | None = None,
    family: str | list[str] | None = None,
    where: str | None = None,
    by: Sequence[str] | None = None,
) -> ReplicateNoise:
    """Points of ``runs`` (after ``family`` and ``where``), their replicates in ``runs`` and
    in each table of ``replicates``, and the noise model (see the module's text).

    ``by``: the columns that make a point (default: every setting, :func:`setting_columns`).
    """
    table = read_table(runs)
    if family is not None or where is not None:
        table = table.filter(family=family, where=where)
    main = final_results(table, y)
    metric = main.attrs["metric"]
    key = setting_columns(main, by)
    main_key = _key(main, key)
    point_of, first = pd.factorize(main_key)
    frames = [main.assign(point=point_of, table=0)]
    notes, names = [], [source_name(runs, table)]
    for t, source in enumerate(replicates, start=1):
        other = read_table(source)
        names.append(source_name(source, other))
        try:
            extra = final_results(other, metric)
        except InputError as exc:
            raise InputError(exc.message, file=other.source, option="replicates") from None
        shared = [c for c in key if c in extra.columns]
        if "family" in shared and by is None and not set(extra["family"]) & set(main["family"]):
            shared.remove("family")
            notes.append(
                f"{names[t]}: no family in common with {names[0]}: its runs match "
                "on the other settings"
            )
        if not {"params", "tokens"} & set(shared) and not by:
            raise InputError(
                "the replicate table has neither params nor tokens to match runs on",
                file=other.source,
            )
        lookup = pd.Series(point_of, index=_key(main, shared).to_numpy())
        distinct = lookup.groupby(level=0).nunique()
        ambiguous = set(distinct.index[distinct > 1])  # the shared settings fit two points
        lookup = lookup[~lookup.index.duplicated()]
        extra_key = _key(extra, shared)
        keep = extra_key.isin(lookup.index) & ~extra_key.isin(ambiguous)
        if (~keep).any():
            notes.append(
                f"{names[t]}: {(~keep).sum()} of {len(extra)} runs match no point of "
                f"{names[0]}{' (or several)' if ambiguous else ''}; not used"
            )
        matched = extra[keep.to_numpy()]
        frames.append(matched.assign(point=lookup[extra_key[keep]].to_numpy(), table=t))
    runs_frame = pd.concat(
        [f[["point", "table", "family", "run_id", "value"]] for f in frames], ignore_index=True
    )
    value = runs_frame["value"].to_numpy(dtype=float)
    if not np.all(value > 0):
        raise InputError(
            f"{metric}: replicate noise is measured on log values; some are not positive"
        )
    points = _point_table(main, key, point_of, runs_frame)
    compute, compute_name = noise_compute(points)
    warnings: list[str] = []
    if compute is None:
        raise InputError("replicate noise needs params and tokens (or flops) to model it by scale")
    points["compute"] = compute
    dof = points["n"].to_numpy(dtype=float) - 1
    model, _ = fit_noise_model(
        compute, points["var_log"].to_numpy(), dof, compute_name=compute_name
    )
    if model is None:
        points["var"], points["noise"] = np.nan, "none"
        if (dof > 0).any():
            warnings.append("every point's replicates are identical: no noise measured")
    else:
        points["var"] = model.moderated(points["var_log"].to_numpy(), dof, compute)
        points["noise"] = np.where(dof > 0, "replicates", "model")
    return ReplicateNoise(metric, key, points, runs_frame, model, names, notes, warnings)


def _point_table(
    main: pd.DataFrame, key: list[str], point_of: np.ndarray, runs: pd.DataFrame
) -> pd.DataFrame:
    """Settings and replicate statistics of every point, in order of first appearance."""
    first = main.groupby(point_of, sort=True).head(1)
    settings = first[key].reset_index(drop=True)
    log_value = np.log(runs["value"].to_numpy(dtype=float))
    grouped = runs.assign(log_value=log_value).groupby("point", sort=True)
    stats = pd.DataFrame({
        "n": grouped["value"].size(),
        "mean": grouped["value"].mean(),
        "sd": grouped["value"].std(ddof=1),
        "min": grouped["value"].min(),
        "max": grouped["value"].max(),
        "var_log": grouped["log_value"].var(ddof=1),
    }).reset_index(drop=True)  # fmt: skip
    return pd.concat([settings, stats], axis=1)


# -- the fit's side --------------------------------------------------------------------------
def with_replicate_noise(
    problem: Problem, obs: pd.DataFrame, table: RunTable, replicates: Sequence[str], weighted: bool
) -> tuple[Problem, ReplicateNoise, NoiseModel]:
    """The noise of the fitted runs (replicates in ``table`` and in ``replicates`` files) and,
    when ``weighted``, the problem with each observation weighted by 1 / (its point's noise +
    the law's misfit), normalised to a mean of 1.

    The misfit tau^2, the law's scatter beyond the noise, is DerSimonian & Laird's (1986)
    moment estimate from a fit weighted by 1 / noise alone: (Q - df) / (sum w - sum w^2 / sum w)
    with Q the weighted sum of squared log residuals and df the observations less the free
    parameters, at least 0. Returns the problem, the noise and its model with the misfit set
    (what the fit keeps for its prediction intervals).
    """
    metric = obs.attrs.get("metric")
    noise = replicate_noise(table, list(replicates), y=metric)
    if noise.model is None:
        why = (
            f"no point of metric {metric!r} has two differing replicates (runs differing only "
            "in seed, in the table or in `replicates`): the noise of these runs is unknown"
        )
        if replicates:
            raise InputError(f"given, but {why}", option="replicates")
        raise InputError(f"noise needs replicates: {why}", option="weighting")
    var = noise.run_variance(obs["family"], obs["run_id"])
    var = np.where(np.isfinite(var) & (var > 0), var, np.nanmax(var))
    w = 1.0 / var
    first = dataclasses.replace(problem, weights=w / w.mean())
    best, _ = best_fit(first, n_starts=4)
    with np.errstate(all="ignore"):
        resid = np.log(first.model(best.u)[0]) - first.log_y
    q, df = float(np.nansum(w * resid**2)), len(resid) - len(problem.space.free)
    misfit = max(0.0, (q - df) / (w.sum() - (w**2).sum() / w.sum())) if df > 0 else 0.0
    if weighted:
        weights = 1.0 / (var + misfit)
        problem = dataclasses.replace(problem, weights=weights / weights.mean())
    return problem, noise, dataclasses.replace(noise.model, misfit_var=misfit)
