"""One sanitiser turns results into strict JSON for the CLI and the HTML report."""

import json

import numpy as np

from scalinglab.jsonable import to_jsonable


def test_numpy_values_become_python_and_non_finite_floats_become_null():
    doc = {"a": np.float64(1.5), "b": [float("nan"), np.inf], 3: np.arange(2), "c": (np.int64(4),)}
    out = to_jsonable(doc)
    assert out == {"a": 1.5, "b": [None, None], "3": [0, 1], "c": [4]}
    assert json.loads(json.dumps(out, allow_nan=False)) == out
