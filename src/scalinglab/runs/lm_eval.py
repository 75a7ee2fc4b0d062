"""EleutherAI lm-evaluation-harness result files, read as run-table rows.

``lm_eval --output_path`` writes one JSON document per evaluation (lm-eval 0.4)::

    {"results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.75, "acc_stderr,none": 0.0089,
                              "acc_norm,none": 0.71, "acc_norm_stderr,none": 0.0093}, ...},
     "n-shot": {"arc_easy": 0}, "n-samples": {"arc_easy": {"original": 2376, "effective": 2376}},
     "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-160m", ...},
     "model_name": "EleutherAI/pythia-160m", "model_num_parameters": 162322944, ...}

Metric keys are ``<metric>,<filter>``; lm-eval 0.3 wrote plain ``acc`` and ``acc_stderr``.
Each measured value becomes one row:

* ``metric``: ``<metric>_<task>`` (``acc_arc_easy``, ``acc_norm_hellaswag``; lm-eval's
  ``exact_match`` is written ``exact``, scalinglab's exact-match prefix), with a filter other
  than ``none`` appended (``exact_gsm8k_strict_match``); group averages (``mmlu``) too;
* ``value``; extra columns ``stderr`` (empty where lm-eval wrote ``N/A``), ``n_samples`` (the
  effective number of items) and ``n_shot``;
* the run: ``run_id`` = the model's name (``model_name``, else ``pretrained=`` in
  ``config.model_args``, else the file's name), ``family`` = that name less its size
  (``EleutherAI/pythia-160m`` -> ``EleutherAI/pythia``), ``params`` = ``model_num_parameters``
  where recorded, else the ``params=`` given to :func:`~scalinglab.runs.read_runs`. Tokens are
  not in the file: give ``tokens=`` to read them with the runs.

A ``.json`` file is taken for lm-eval results when it is one JSON object with a ``results``
object (:func:`looks_like_lm_eval`).

Example:
    >>> t = read_runs("results_2024-05-01.json", tokens=300e9)     # doctest: +SKIP
    >>> t.metrics()[:2]                                            # doctest: +SKIP
    ['acc_arc_easy', 'acc_norm_arc_easy']
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .files import open_regular_file, parse_json, read_text
from .schema import RawTable

#: Bytes read to tell an lm-eval document from JSON lines.
_SNIFF_BYTES = 1 << 16
#: A size at the end of a model's name: -160m, _1.4b, -7B, -70M-deduped.
_SIZE = re.compile(r"[-_.]?\d+(?:\.\d+)?[kKmMbBtT](?=$|[-_])")
#: lm-eval's names that scalinglab spells otherwise.
_RENAMED = {"exact_match": "exact"}
#: Entries of a task's results that are not measurements.
_NOT_METRICS = {"alias", "name", "sample_len", "sample_count", "samples", " ", ""}


def looks_like_lm_eval(path: Path) -> bool:
    """A ``.json`` file holding one object with a ``results`` object (not JSON lines)."""
    if path.suffix.lower() != ".json":
        return False
    with open_regular_file(path, name=path.name) as fh:
        head = fh.read(_SNIFF_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not head.startswith("{") or '"results"' not in head:
        return False
    first = head.split("\n", 1)[0].strip()
    if first == "{" or not first.endswith("}"):
        return True  # one document over several lines: not JSON lines
    try:  # one line holding a whole object: lm-eval's results dumped compactly, or JSON lines
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and isinstance(record.get("results"), dict)


def read_raw(path: Path, overrides: Mapping[str, Any]) -> tuple[RawTable, list[str]]:
    """The rows of one lm-eval result file (see the module docstring), before validation."""
    name = path.name
    doc = parse_json(read_text(path, name=name), name=name)
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise InputError("not an lm-evaluation-harness result file: no 'results' object",
                         file=name)  # fmt: skip
    model = _model_name(doc, path)
    family = _SIZE.sub("", model) or model
    params = doc.get("model_num_parameters")
    params = float(params) if isinstance(params, int | float) and params > 0 else math.nan
    if math.isnan(params) and not any(
        overrides.get(s) is not None for s in ("params", "tokens", "flops")
    ):
        raise InputError(
            "the lm-evaluation-harness results record no model_num_parameters: give the model's "
            "size (read_runs(..., params=...), or --params)",
            file=name,
        )
    n_shot = doc.get("n-shot") if isinstance(doc.get("n-shot"), dict) else {}
    n_samples = doc.get("n-samples") if isinstance(doc.get("n-samples"), dict) else {}
    records, skipped = [], []
    tasks = dict(doc["results"])
    for group, values in (doc.get("groups") or {}).items():
        tasks.setdefault(group, values)  # group averages, where results lacks them
    for task, values in tasks.items():
        if not isinstance(values, dict):
            raise InputError(f"results[{task!r}] is not an object", file=name)
        for key, value in values.items():
            metric, filt = _split(key)
            if metric in _NOT_METRICS or metric.endswith("_stderr"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                    value):  # fmt: skip
                skipped.append(f"{task}/{key}")
                continue
            stderr = values.get(f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr")
            records.append({
                "family": family, "run_id": model, "params": params,
                "metric": _metric_name(metric, task, filt), "value": float(value),
                "stderr": float(stderr) if isinstance(stderr, int | float)
                and not isinstance(stderr, bool) and math.isfinite(stderr) else np.nan,
                "n_samples": _effective(n_samples.get(task)),
                "n_shot": float(n_shot[task]) if isinstance(n_shot.get(task), int | float) else np.nan,
            })  # fmt: skip
    if not records:
        raise InputError("the lm-evaluation-harness results hold no numeric metric", file=name)
    notes = [f"lm-evaluation-harness results of {model}: {len(records)} metric(s) of "
             f"{len(tasks)} task(s)"]  # fmt: skip
    if skipped:
        notes.append(f"skipped {len(skipped)} non-numeric value(s): {', '.join(skipped[:5])}")
    frame = pd.DataFrame(records)
    return RawTable(frame, np.arange(1, len(frame) + 1), name, family), notes


def _model_name(doc: Mapping[str, Any], path: Path) -> str:
    name = doc.get("model_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    args = (doc.get("config") or {}).get("model_args")
    if isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    if isinstance(args, dict) and isinstance(args.get("pretrained"), str):
        return args["pretrained"]
    return path.stem


def _split(key: str) -> tuple[str, str]:
    metric, _, filt = key.partition(",")
    return metric.strip(), filt.strip()


def _metric_name(metric: str, task: str, filt: str) -> str:
    base = f"{_RENAMED.get(metric, metric)}_{task}"
    if filt and filt != "none":
        base += "_" + re.sub(r"\W+", "_", filt).strip("_")
    return base


def _effective(entry: Any) -> float:
    if isinstance(entry, dict):
        entry = entry.get("effective", entry.get("original"))
    return (
        float(entry) if isinstance(entry, int | float) and not isinstance(entry, bool) else np.nan
    )


__all__ = ["looks_like_lm_eval", "read_raw"]
