"""RunTable: the one in-memory table of observations every later step reads.

Example:
    >>> import pandas as pd
    >>> t = RunTable.from_frame(pd.DataFrame({"params": ["70B", "1B"], "tokens": ["1.4T", "20B"],
    ...                                       "metric": "loss", "value": [1.94, 2.8]}))
    >>> len(t), t.metrics(), float(t.df["flops"].iloc[0])
    (2, ['loss'], 5.88e+23)
"""

from __future__ import annotations

import hashlib
import html
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..expr import Expression
from .schema import CANONICAL, RawTable, to_canonical

DATAFRAME_SOURCE = "<DataFrame>"


class RunTable:
    """Observations in canonical long form, with notes saying what was done to them.

    Attributes:
        df: ``family, run_id, params, tokens, flops, step, metric, value`` then extra columns.
            ``step`` is NaN for a final value.
        source: file name(s), or ``"<DataFrame>"``.
        notes: what reading and filtering did, for the user ("flops derived as ...").
    """

    def __init__(
        self, df: pd.DataFrame, source: str = DATAFRAME_SOURCE, notes: list[str] | None = None
    ):
        missing = [c for c in CANONICAL if c not in df.columns]
        if missing:
            raise InputError(f"not a canonical run table: missing column(s) {', '.join(missing)}")
        self.df = df.reset_index(drop=True)
        self.source = source
        self.notes = list(notes or [])

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, y: str | list[str] | None = None, family: str = "runs"
    ) -> RunTable:
        """Validate a user DataFrame (rows are named by their 1-based position)."""
        raw = RawTable(frame, np.arange(1, len(frame) + 1), DATAFRAME_SOURCE, family)
        df, _, notes = to_canonical(raw, y=y)
        return cls(df, DATAFRAME_SOURCE, notes)

    # ----------------------------------------------------------------------------- queries
    def metrics(self) -> list[str]:
        """Metric names, sorted."""
        return sorted(self.df["metric"].unique().tolist())

    def families(self) -> list[str]:
        """Family names, sorted."""
        return sorted(self.df["family"].unique().tolist())

    def variables(self) -> list[str]:
        """Numeric columns usable as law variables: params, tokens, flops, step, numeric extras."""
        skip = {"family", "run_id", "metric", "value"}
        return [
            c
            for c in self.df.columns
            if c not in skip
            and pd.api.types.is_numeric_dtype(self.df[c].dtype)
            and not pd.api.types.is_bool_dtype(self.df[c].dtype)
        ]

    def filter(
        self,
        *,
        family: str | list[str] | None = None,
        where: str | None = None,
        metric: str | list[str] | None = None,
    ) -> RunTable:
        """A new table of the matching rows; each filter's removed rows are counted in notes.

        ``where`` is a scalinglab expression over the columns (``"params >= 1B and value < 4"``).

        Example:
            >>> t = read_runs("runs.csv")                             # doctest: +SKIP
            >>> t.filter(family="chinchilla", where="value < 4.9")   # doctest: +SKIP
        """
        df, notes = self.df, list(self.notes)
        for column, wanted, known in (
            ("family", family, self.families()),
            ("metric", metric, self.metrics()),
        ):
            if wanted is None:
                continue
            names = [wanted] if isinstance(wanted, str) else list(wanted)
            unknown = [n for n in names if n not in known]
            if unknown:
                plural = "families" if column == "family" else "metrics"
                raise InputError(f"unknown {column} {unknown[0]!r}; {plural}: {', '.join(known)}")
            keep = df[column].isin(names).to_numpy()
            notes.append(f"{column} {_names(names)} removed {(~keep).sum()} of {len(df)} rows")
            df = df[keep]
        if where is not None:
            keep = self._where_mask(df, where)
            notes.append(f"where {where!r} removed {(~keep).sum()} of {len(df)} rows")
            df = df[keep]
        return RunTable(df, self.source, notes)

    @staticmethod
    def _where_mask(df: pd.DataFrame, where: str) -> np.ndarray:
        expr = Expression(where, what="where")
        unknown = sorted(expr.names - set(df.columns))
        if unknown:
            raise InputError(
                f"where {where!r} refers to unknown column(s) {', '.join(unknown)}; "
                f"columns: {', '.join(df.columns)}"
            )
        env = {c: df[c].to_numpy() for c in expr.names}
        mask = np.asarray(expr(env))
        if mask.dtype != bool:
            raise InputError(f"where {where!r} is not a condition (it gives {mask.dtype} values)")
        if mask.ndim == 0:
            mask = np.full(len(df), bool(mask))
        if not mask.any():
            raise InputError(f"where {where!r} matches none of the {len(df)} rows")
        return mask

    def observations(
        self,
        y: str | None = None,
        *,
        skip_fraction: float = 0.1,
        final_only: bool | None = None,
    ) -> pd.DataFrame:
        """Rows of one metric ready for fitting.

        Columns: every numeric variable (params, tokens, flops, step, numeric extras), ``value``,
        ``run_id`` and ``family``. A run's final rows (empty step) are used when it has them.
        A run with only per-step (checkpoint) rows keeps the steps after the first
        ``skip_fraction`` of its training (step > skip_fraction * last step): early-training
        losses bend scaling fits (Choshen et al. 2024, "A Hitchhiker's Guide to Scaling Law
        Estimation", drop the first 10%). ``final_only=True`` uses only final rows,
        ``False`` only per-step rows. What was dropped is appended to :attr:`notes`.

        Example:
            >>> obs = read_runs("runs.csv").observations("loss")   # doctest: +SKIP
        """
        if not 0.0 <= skip_fraction < 1.0:
            raise InputError(f"skip_fraction must be in [0, 1), got {skip_fraction}")
        metric = self._one_metric(y)
        rows = self.df[self.df["metric"] == metric]
        final = rows["step"].isna().to_numpy()
        key = rows["family"].astype(str) + "\x00" + rows["run_id"].astype(str)
        runs_with_final = set(key[final])
        has_final = key.isin(runs_with_final).to_numpy()
        notes: list[str] = []
        if final_only is True:
            keep = final
            if (~final).any():
                notes.append(f"{metric}: final_only ignored {(~final).sum()} per-step rows")
        elif final_only is False:
            keep = ~final
            if final.any():
                notes.append(f"{metric}: final_only=False ignored {final.sum()} final rows")
        else:
            keep = final | ~has_final
            shadowed = ~final & has_final
            if shadowed.any():
                notes.append(
                    f"{metric}: ignored {shadowed.sum()} per-step rows of runs that have a final value"
                )
        steps = keep & ~final
        if steps.any() and skip_fraction > 0:
            last = rows["step"].where(steps).groupby(key).transform("max").to_numpy()
            early = steps & (rows["step"].to_numpy() <= skip_fraction * last)
            if early.any():
                n_runs = key[early].nunique()
                notes.append(
                    f"{metric}: dropped {early.sum()} per-step rows in the first "
                    f"{skip_fraction:.0%} of training of {n_runs} runs"
                )
            keep = keep & ~early
        if not keep.any():
            kind = (
                "final" if final_only is True else "per-step" if final_only is False else "usable"
            )
            raise InputError(f"no {kind} rows for metric {metric!r}")
        self.notes.extend(n for n in notes if n not in self.notes)  # repeated calls say it once
        cols = [*self.variables(), "value", "run_id", "family"]
        out = rows.loc[keep, cols].reset_index(drop=True)
        out.attrs["notes"] = notes
        out.attrs["metric"] = metric
        return out

    def _one_metric(self, y: str | None) -> str:
        metrics = self.metrics()
        if y is None:
            if len(metrics) == 1:
                return metrics[0]
            raise InputError(f"several metrics; choose one with y: {', '.join(metrics)}")
        if y not in metrics:
            raise InputError(f"unknown metric {y!r}; metrics: {', '.join(metrics)}")
        return y

    # ---------------------------------------------------------------------------- summaries
    def summary(self) -> dict[str, Any]:
        """Counts and ranges, JSON-ready.

        Example:
            >>> read_runs("runs.csv").summary()["n_runs"]   # doctest: +SKIP
            245
        """
        df = self.df
        out: dict[str, Any] = {
            "source": self.source,
            "n_rows": len(df),
            "n_runs": int(df[["family", "run_id"]].drop_duplicates().shape[0]),
            "families": self.families(),
            "metrics": self.metrics(),
            "n_final_rows": int(df["step"].isna().sum()),
        }
        for c in ("params", "tokens", "flops"):
            out[c] = {"min": float(df[c].min()), "max": float(df[c].max())}
        return out

    def data_hash(self) -> str:
        """SHA-256 of the canonical rows (order-independent), for fit provenance."""
        df = self.df.sort_values(["family", "run_id", "metric", "step"], na_position="first")
        text = df.to_csv(index=False, float_format="%.17g")
        return hashlib.sha256(text.encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"RunTable({s['n_rows']} rows, {s['n_runs']} runs, families: {_short(s['families'])}, "
            f"metrics: {_short(s['metrics'])}, source: {self.source})"
        )

    def _repr_html_(self) -> str:
        s = self.summary()
        ranges = ", ".join(
            f"{c} {s[c]['min']:.3g}&ndash;{s[c]['max']:.3g}" for c in ("params", "tokens", "flops")
        )
        head = (
            f"<p><b>RunTable</b> ({html.escape(self.source)}): {s['n_rows']} rows, "
            f"{s['n_runs']} runs; families: {html.escape(_short(s['families']))}; "
            f"metrics: {html.escape(_short(s['metrics']))}; {ranges}</p>"
        )
        return head + self.df.to_html(max_rows=10, float_format="{:.4g}".format, border=0)


def _names(names: list[str]) -> str:
    # str() first: numpy strings (np.str_) would otherwise print as "np.str_('...')".
    names = [str(n) for n in names]
    return repr(names[0]) if len(names) == 1 else repr(names)


def _short(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
