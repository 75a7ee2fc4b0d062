"""The vectorised checks agree with the plain definitions they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.runs.checks import first_duplicate
from scalinglab.runs.sizes import clean_text


def plain_first_duplicate(frame: pd.DataFrame) -> int | None:
    dup = frame.duplicated().to_numpy()
    return int(np.argmax(dup)) if dup.any() else None


@pytest.mark.parametrize("seed", range(200))
def test_first_duplicate_is_pandas_duplicated(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    frame = pd.DataFrame(
        {
            "family": rng.choice(["f", "g", " f"], n) if seed % 3 else np.full(n, "f"),
            "run_id": rng.choice(["a", "b", "c", "a "], n),
            "step": rng.choice([np.nan, 100.0, 200.0, 300.0], n),
            "metric": rng.choice(["loss", "acc"], n) if seed % 2 else np.full(n, "loss"),
        }
    )
    if seed % 4 == 0:  # written run by run, step by step: the path that proves uniqueness
        frame = frame.drop_duplicates().sort_values(["family", "run_id", "step", "metric"])
    texts = {c: clean_text(frame[c].astype("str")) for c in ("family", "run_id", "metric")}
    expected = plain_first_duplicate(
        frame.assign(**{c: t.values.to_numpy() for c, t in texts.items()})
    )
    columns = [texts["family"], texts["run_id"], frame["step"].reset_index(drop=True)]
    assert first_duplicate([*columns, texts["metric"]]) == expected


def test_rows_equal_in_every_column_are_duplicates():
    same = clean_text(pd.Series(["a", "a"], dtype="str"))
    assert first_duplicate([same, pd.Series([np.nan, np.nan]), same]) == 1
    assert first_duplicate([same, pd.Series([1.0, 2.0]), same]) is None
