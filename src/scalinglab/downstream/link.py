"""From loss to a downstream metric: Gadre et al.'s link, its siblings, the two-stage prediction.

Gadre et al. (2024, eq. 5) relate a model's validation loss L to its average top-1 error on
downstream tasks by ``Err(L) = eps - k * exp(-gamma * L)``: error falls toward ``eps - k*exp(...)``
as loss falls, and saturates at ``eps`` (chance) for bad models. Chaining it after a loss law
predicts a planned model's downstream error from small runs: (N, D) -> loss -> error.
Uncertainty is carried through both stages by pairing bootstrap replicates: replicate i of
the loss law feeds replicate i of the link.

Per task, :func:`link_candidates` offers the links that :mod:`scalinglab.downstream.predict`
chooses among by cross-extrapolation, each written for a metric's *shortfall* (``1 - acc``,
the error, ``-logprob``; :mod:`.metrics`):

* ``exponential``: Gadre et al.'s form, ``eps - k*exp(-gamma*loss)``;
* ``sigmoid``: a floor at chance and a fitted ceiling, ``(1 - chance) - h*sigmoid(s*(L0 -
  loss)/w)``; accuracy rises from chance to ``chance + h`` around the loss L0 (``m`` times the
  data's median loss) over a width ``w/s`` (w: a tenth of the data's loss range). Written on
  the data's own scale so that the estimator's default grid and bounds (0 to 10) cover every
  task, from a rise over the whole range (s = 0.1) to one over a hundredth of it;
* ``power``: for continuous shortfalls (the negative log-probability of the correct answer),
  ``A*loss^alpha``: Schaeffer et al. (2024) show that such continuous metrics, unlike accuracy
  after its chain of transformations, follow the loss smoothly.

Links are written in ``neg_loss`` (= -loss), so that "the largest values" of the link's
variable, which the nested holdouts of :mod:`scalinglab.fitting.selection` hold out, are the
best models: the ones a prediction reaches for. With ``via="flops"`` the same shapes are laws of
compute (``c + a*flops^-b`` and a sigmoid in log compute).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..fitting.api import fit
from ..fitting.result import FitResult
from ..laws.base import Law
from ..planning.replicates import interval, parameter_sets
from ..runs import RunTable, read_runs
from ..runs.schema import CANONICAL

ERROR_LINK = Law.from_formula(
    "eps - k*exp(-gamma*loss)",
    name="loss_to_error",
    variables=["loss"],
    bounds={"gamma": (0.0, 20.0)},
    grids={"gamma": (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)},
    reference=(
        "Gadre et al. 2024, Language models scale reliably with over-training and on downstream "
        "tasks (eq. 5): Err(L) = eps - k*exp(-gamma*L)"
    ),
    description="Average top-1 error as a function of validation loss.",
)

#: Links by name, in the order cross-extrapolation tries them (the first is used alone when
#: the runs are too few to choose).
LINKS = ("exponential", "sigmoid", "power")
#: The variable of a link through loss (see the module docstring).
NEG_LOSS = "neg_loss"


def link_formula(
    name: str,
    *,
    via: str = "loss",
    chance: float | None = None,
    centre: float = 1.0,
    width: float = 1.0,
) -> str:
    """The formula of link ``name`` for a shortfall, through ``via`` (``loss`` or ``flops``).

    ``chance`` is the metric's value at chance (the sigmoid's floor); ``centre`` and ``width``
    the data's median and range of loss (or of log compute), which scale the sigmoid.

    Example:
        >>> link_formula("sigmoid", chance=0.25, centre=3.0, width=1.5)
        '0.75 - h*sigmoid(s*(m*3 + neg_loss)/1.5)'
        >>> link_formula("exponential", via="flops")
        'c + a*flops**-b'
    """
    if name not in LINKS:
        raise InputError(f"unknown link {name!r} (known: {', '.join(LINKS)})", option="link")
    if via not in ("loss", "flops"):
        raise InputError(f"must be loss or flops, got {via!r}", option="via")
    if name == "sigmoid" and chance is None:
        raise InputError("the sigmoid link needs the metric's chance level", option="chance")
    top = f"{1.0 - chance:.6g}" if chance is not None else ""
    c, w = f"{centre:.4g}", f"{width:.4g}"
    if via == "flops":
        return {
            "exponential": "c + a*flops**-b",
            "sigmoid": f"{top} - h*sigmoid(s*(log(flops) - m*{c})/{w})",
            "power": "a*flops**-b",
        }[name]
    return {
        "exponential": f"eps - k*exp(gamma*{NEG_LOSS})",
        "sigmoid": f"{top} - h*sigmoid(s*(m*{c} + {NEG_LOSS})/{w})",
        "power": f"A*(-{NEG_LOSS})**alpha",
    }[name]


def link_candidates(kind: str, requested: str | Sequence[str] = "auto") -> list[str]:
    """The links to try for a metric of ``kind`` (:class:`~.metrics.Metric`'s): bounded
    metrics take ``exponential`` and ``sigmoid``, log-probabilities ``power``."""
    if requested == "auto":
        return ["power"] if kind == "logprob" else ["exponential", "sigmoid"]
    names = [requested] if isinstance(requested, str) else list(requested)
    names = [n.strip() for name in names for n in name.split(",") if n.strip()]
    for n in names:
        if n not in LINKS:
            raise InputError(f"unknown link {n!r} (known: auto, {', '.join(LINKS)})",
                             option="link")  # fmt: skip
    return names


def readable(formula: str) -> str:
    """A link's formula with ``neg_loss`` written as ``(-loss)``."""
    return formula.replace(NEG_LOSS, "(-loss)")


#: The 17 tasks of Gadre et al.'s headline downstream average (their ``SUBSET``, chosen as the
#: tasks where 0.154B models trained with M=20 are above chance), from mlfoundations/scaling.
GADRE_17_TASKS = (
    "bigbench_operators",
    "pubmed_qa_labeled",
    "hellaswag_zeroshot",
    "boolq",
    "arc_easy",
    "coqa",
    "bigbench_dyck_languages",
    "lambada_openai",
    "bigbench_novel_concepts",
    "winograd",
    "bigbench_cs_algorithms",
    "commonsense_qa",
    "bigbench_qa_wikidata",
    "hellaswag",
    "copa",
    "squad",
    "piqa",
)


def average_error(
    runs: Any,
    *,
    loss: str,
    tasks: Sequence[str] | None = None,
    prefix: str = "acc_",
) -> pd.DataFrame:
    """One row per run: its sizes, its ``loss`` metric and its average top-1 error over ``tasks``.

    Error is ``1 - accuracy`` averaged over the tasks (metrics ``acc_<task>``); ``tasks=None``
    uses every ``acc_*`` metric in the table. Runs missing a task are dropped.
    """
    table = read_runs(runs)
    df = table.df[table.df["step"].isna()]
    metrics = set(table.metrics())
    if loss not in metrics:
        raise InputError(f"unknown metric {loss!r}; metrics: {', '.join(sorted(metrics))}")
    names = (
        [f"{prefix}{t}" for t in tasks]
        if tasks is not None
        else sorted(m for m in metrics if m.startswith(prefix))
    )
    missing = [n for n in names if n not in metrics]
    if missing or not names:
        raise InputError(f"no accuracy metric(s) {', '.join(missing) or prefix + '*'} in the runs")
    keys = ["family", "run_id"]
    sizes = df.groupby(keys, sort=False)[["params", "tokens", "flops"]].first()
    extras = [c for c in df.columns if c not in CANONICAL and pd.api.types.is_numeric_dtype(df[c])]
    if extras:
        sizes = sizes.join(df.groupby(keys, sort=False)[extras].first())
    wide = df[df["metric"].isin([loss, *names])].pivot_table(
        index=keys, columns="metric", values="value"
    )
    wide = wide.dropna(subset=[loss, *names])
    out = sizes.join(wide[[loss]].rename(columns={loss: "loss"}), how="inner")
    out["error"] = 1.0 - wide[names].mean(axis=1)
    out = out.dropna(subset=["loss", "error"]).reset_index()
    out.attrs["tasks"] = [n[len(prefix) :] for n in names]
    return out


def error_table(pairs: pd.DataFrame) -> RunTable:
    """A RunTable of (loss, error) pairs, one per run: ``value`` is the error, ``loss`` a variable."""
    need = {"loss", "error"}
    if not need <= set(pairs.columns):
        raise InputError("the loss-to-error link needs columns loss and error")
    df = pd.DataFrame(
        {
            "family": pairs.get("family", "runs"),
            "run_id": pairs.get("run_id", pd.Series(range(len(pairs)))).astype(str),
            "params": pairs.get("params", np.nan),
            "tokens": pairs.get("tokens", np.nan),
            "flops": pairs.get("flops", np.nan),
            "step": np.nan,
            "metric": "error",
            "value": pairs["error"].to_numpy(dtype=float),
            "loss": pairs["loss"].to_numpy(dtype=float),
        }
    )
    return RunTable(df, "<loss-error pairs>")


def fit_error_link(
    pairs: pd.DataFrame, *, bootstrap: int = 200, seed: int = 0, **options: Any
) -> FitResult:
    """Fit ``Err(L) = eps - k*exp(-gamma*L)`` to (loss, error) pairs (see :func:`average_error`)."""
    if len(pairs) < 4:
        raise InputError(
            f"the loss-to-error link has 3 parameters: need at least 4 runs, got {len(pairs)}"
        )
    return fit(error_table(pairs), ERROR_LINK, y="error", bootstrap=bootstrap, seed=seed, **options)


def chain(
    loss_fit: FitResult,
    error_fit: FitResult,
    at: dict[str, Any] | pd.DataFrame,
    *,
    interval_level: float = 0.9,
) -> pd.DataFrame:
    """Predict loss, then error, at new (N, D); intervals propagate both fits' bootstraps.

    Columns: the loss law's variables, ``loss``, ``loss_lo``, ``loss_hi``, ``error``,
    ``error_lo``, ``error_hi``. Replicate i of the loss law is paired with replicate i of the
    link (cycled when their counts differ).

    Example:
        >>> chain(loss_fit, link, {"params": 6.9e9, "tokens": 1.38e11})   # doctest: +SKIP
    """
    points = (
        at.copy()
        if isinstance(at, pd.DataFrame)
        else pd.DataFrame({k: np.atleast_1d(v) for k, v in at.items()})
    )
    missing = [v for v in loss_fit.law.variables if v not in points.columns]
    if missing:
        raise InputError(
            f"chained prediction needs {', '.join(loss_fit.law.variables)}; missing {', '.join(missing)}"
        )
    data = {v: points[v].to_numpy(dtype=float) for v in loss_fit.law.variables}
    loss_sets = parameter_sets(loss_fit)
    link_sets = parameter_sets(error_fit)
    losses = np.asarray(loss_sets.evaluate(data), dtype=float)  # (S1, n)
    s1, s2 = loss_sets.size, link_sets.size
    # Row 0 is the estimate of each; pair replicates 1.. with 1.., cycling the shorter.
    pair = (
        np.concatenate([[0], 1 + (np.arange(s1 - 1) % max(s2 - 1, 1))])
        if s2 > 1
        else np.zeros(s1, int)
    )
    link_values = {k: v[pair] for k, v in link_sets.values.items()}
    with np.errstate(all="ignore"):
        errors = np.asarray(error_fit.law.evaluate({"loss": losses}, link_values), dtype=float)
    out = points[list(loss_fit.law.variables)].copy()
    out["loss"] = losses[0]
    out["error"] = errors[0]
    for name, values in (("loss", losses), ("error", errors)):
        spans = np.array([interval(values[:, j], interval_level) for j in range(values.shape[1])])
        out[f"{name}_lo"], out[f"{name}_hi"] = spans[:, 0], spans[:, 1]
    out = out[
        [*loss_fit.law.variables, "loss", "loss_lo", "loss_hi", "error", "error_lo", "error_hi"]
    ]
    out.attrs["warnings"] = loss_fit.extrapolation_warnings(points)
    return out
