"""Where along the data does a power law hold? Local exponents, regimes, learning-curve regions.

* The **local exponent** ``k(x) = -d log(L - E) / d log x`` of the reducible loss, measured on
  the data (a 3-point log-log regression around each point). A power law has a constant k.
* **Regimes** (Bahri et al. 2021, *Explaining Neural Scaling Laws*): ``k ~ 1`` is the
  *variance-limited* regime (loss falls as 1/x, as when one quantity is large and the other
  grows); ``0 < k < ~0.75`` the *resolution-limited* regime (the usual small exponents of
  language models); ``k ~ 0`` a plateau; ``k < 0`` inverse scaling. A jump in k is a break:
  try ``bnsl``.
* **Learning-curve regions** (Hestness et al. 2017): *small-data* (at the small end, flatter
  than the fitted power law: near the best-guess error), *power-law*, and *irreducible* (the
  reducible loss is a small share of the loss: the curve has flattened onto E).
* :func:`loss_decomposition`: irreducible vs reducible loss of a fitted law (Henighan et al.
  2020: reducible loss = KL(true || model), irreducible = entropy of the data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..answer import Answer
from ..errors import InputError
from ..fitting.api import fit, select
from ..laws.pretraining import henighan

#: Local exponents within these bands get these names (Bahri et al. 2021).
VARIANCE_LIMITED = (0.75, 1.5)
PLATEAU = 0.02
#: A learning curve is "irreducible" where the reducible loss is below this share of the loss.
IRREDUCIBLE_SHARE = 0.1
#: "Small-data" where the local exponent is below this fraction of the fitted one, at the small end.
SMALL_DATA_FRACTION = 0.5
#: Far beyond the data: the law's limit (irreducible loss) is read there.
_INFINITY = 1e40


def regime_name(k: float) -> str:
    """Name of the regime of a local exponent ``k`` of the reducible loss."""
    if not math.isfinite(k):
        return "undetermined"
    if k < -PLATEAU:
        return "inverse scaling"
    if k <= PLATEAU:
        return "plateau"
    if k < VARIANCE_LIMITED[0]:
        return "resolution-limited"
    if k <= VARIANCE_LIMITED[1]:
        return "variance-limited"
    return "steeper than 1/x"


def local_exponents(x: Any, y: Any, floor: float = 0.0, window: int = 3) -> pd.DataFrame:
    """``k = -d log(y - floor) / d log x`` at each point (x sorted), from a ``window``-point fit.

    Example:
        >>> x = np.geomspace(1e6, 1e9, 7)
        >>> t = local_exponents(x, 2.0 + 50 * x**-0.3, floor=2.0)
        >>> bool(np.allclose(t["exponent"], 0.3))
        True
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    reducible = y - floor
    lx = np.log(x)
    with np.errstate(all="ignore"):
        ly = np.where(reducible > 0, np.log(reducible), np.nan)
    half = max(1, window // 2)
    k = np.full(len(x), np.nan)
    for i in range(len(x)):
        lo, hi = max(0, i - half), min(len(x), i + half + 1)
        xs, ys = lx[lo:hi], ly[lo:hi]
        ok = np.isfinite(ys)
        if ok.sum() >= 2 and np.ptp(xs[ok]) > 0:
            k[i] = -np.polyfit(xs[ok], ys[ok], 1)[0]
    return pd.DataFrame(
        {
            "x": x,
            "value": y,
            "reducible": reducible,
            "exponent": k,
            "regime": [regime_name(v) for v in k],
        }
    )


def find_breaks(exponents: pd.DataFrame, min_change: float = 0.1) -> list[dict[str, float]]:
    """Points where the local exponent changes by more than ``min_change`` and by half or more.

    Compares the exponent just before and just after each interior point.
    """
    k = exponents["exponent"].to_numpy()
    x = exponents["x"].to_numpy()
    breaks = []
    for i in range(1, len(k) - 1):
        before, after = k[i - 1], k[i + 1]
        if not (math.isfinite(before) and math.isfinite(after)):
            continue
        change = after - before
        if abs(change) > min_change and abs(change) >= 0.5 * max(abs(before), abs(after)):
            if breaks and breaks[-1]["index"] == i - 1:
                continue  # the same break seen from the neighbouring point
            breaks.append(
                {
                    "index": i,
                    "x": float(x[i]),
                    "exponent_before": float(before),
                    "exponent_after": float(after),
                }
            )
    return breaks


def learning_curve_regions(
    x: Any,
    y: Any,
    floor: float,
    exponent: float,
    *,
    irreducible_share: float = IRREDUCIBLE_SHARE,
    small_data_fraction: float = SMALL_DATA_FRACTION,
) -> list[str]:
    """Hestness et al.'s region of each point (x sorted): small-data, power-law or irreducible.

    ``floor`` and ``exponent`` are the fitted power law's E and b (``hestness`` law).
    """
    table = local_exponents(x, y, floor)
    share = (table["reducible"] / table["value"]).to_numpy()
    k = table["exponent"].to_numpy()
    regions = ["irreducible" if s < irreducible_share else "power-law" for s in share]
    for i in range(len(k)):  # small-data: a run of flat points from the small end
        if (
            regions[i] == "power-law"
            and math.isfinite(k[i])
            and k[i] < small_data_fraction * exponent
        ):
            regions[i] = "small-data"
        else:
            break
    return regions


def loss_decomposition(fit: Any, at: Any) -> pd.DataFrame:
    """Irreducible and reducible loss of a fitted law at points ``at``.

    The irreducible loss is the law's limit when every variable grows without bound (E,
    L_inf); the reducible loss is the rest (Henighan et al. 2020).
    """
    pred = fit.predict(at)
    limit = {v: np.asarray(_INFINITY) for v in fit.law.variables}
    irreducible = float(np.asarray(fit.law.evaluate(limit, fit.params)).reshape(-1)[0])
    if not math.isfinite(irreducible):
        irreducible = 0.0
    out = pred[[*fit.law.variables, "value"]].copy()
    out["irreducible"] = irreducible
    out["reducible"] = out["value"] - irreducible
    out["reducible_share"] = out["reducible"] / out["value"]
    return out


@dataclass
class RegimeReport(Answer):
    """Local exponents along one variable, with the fitted floor, regimes and breaks."""

    x: str
    points: pd.DataFrame  # x, value, reducible, exponent, regime, region
    floor: float
    exponent: float
    breaks: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    title = "local exponents of the reducible loss"

    def to_frame(self) -> pd.DataFrame:
        """One row per point along x (:attr:`points`)."""
        return self.points.copy()

    def to_json(self) -> dict[str, Any]:
        return {
            "x": self.x,
            "floor": self.floor,
            "exponent": self.exponent,
            "points": self.points.to_dict(orient="records"),
            "breaks": list(self.breaks),
            "regimes": self.points["regime"].value_counts().to_dict(),
            "regions": self.points["region"].value_counts().to_dict(),
            "warnings": list(self.warnings),
        }


def regimes(
    runs: Any,
    *,
    x: str = "params",
    y: str | None = None,
    family: str | list[str] | None = None,
    where: str | None = None,
    floor: float | None = None,
    max_points: int = 16,
) -> RegimeReport:
    """Local exponents, regimes, breaks and learning-curve regions of ``value`` along ``x``.

    Runs sharing an ``x`` are reduced to their lowest value (the envelope: the best run at
    that scale, as in Chinchilla's approach 1). The floor E comes from a ``henighan:x`` fit of
    the envelope unless given.
    """
    from ..runs import RunTable

    table = select(runs, family=family, where=where)
    obs = table.observations(y)
    if x not in obs.columns:
        raise InputError(
            f"no column {x!r} to follow; columns: {', '.join(c for c in obs.columns if c not in ('value',))}",
            file=table.source,
        )
    values = obs[x].to_numpy(dtype=float)
    if not np.all(values > 0):
        raise InputError(f"regimes need positive values of {x}", file=table.source, column=x)
    warnings: list[str] = []
    # Scattered scales (every run its own x) are grouped into log-spaced bins first.
    key = values
    if len(np.unique(values)) > max_points:
        edges = np.geomspace(values.min(), values.max() * (1 + 1e-12), max_points + 1)
        key = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, max_points - 1)
        warnings.append(
            f"{len(np.unique(values))} distinct {x} values grouped into {max_points} log-spaced bins"
        )
    # grouped by the key array itself: assigning it as a column would copy a frame of many
    # extra columns (pandas warns of fragmentation beyond 100)
    best = obs.loc[obs["value"].groupby(np.asarray(key), sort=True).idxmin()].sort_values(x)
    if len(best) < 4:
        raise InputError(
            f"regimes need 4 or more distinct values of {x} (got {len(best)})", file=table.source
        )
    metric = obs.attrs.get("metric")
    sub = table.df[table.df["metric"] == metric] if metric else table.df
    sub = sub[sub["run_id"].astype(str).isin(best["run_id"].astype(str))]
    sub = sub[np.isin(sub["value"].to_numpy(), best["value"].to_numpy())]
    envelope = RunTable(sub, table.source, list(table.notes))
    law_fit = fit(envelope, henighan(x), y=y, bootstrap=0, influence=False)
    exponent = law_fit.params["alpha"]
    if floor is None:
        floor = law_fit.params["L_inf"]
    warnings += law_fit.warnings
    points = local_exponents(best[x].to_numpy(), best["value"].to_numpy(), floor)
    points["region"] = learning_curve_regions(points["x"], points["value"], floor, exponent)
    breaks = find_breaks(points)
    if breaks:
        warnings.append(
            f"the local exponent changes at {len(breaks)} point(s): one power law does not fit "
            "the whole range; try law bnsl"
        )
    return RegimeReport(x, points, float(floor), float(exponent), breaks, warnings)
