"""Sweep specs: a TOML file that expands into a list of :class:`RunConfig`.

Format (every key optional except ``name`` and the sizes; see docs/ladder.md)::

    name = "demo"                       # the sweep; becomes the run table's `family`

    [model]
    seq_len = 256
    positions = "rope"                  # or "learned"
    tied_embeddings = true
    sizes = [{d_model = 64, n_layers = 2}, {params = 1e6}]   # width/depth or target params
    # params = [1e5, 1e6]               # shorthand for target sizes

    [budget]                            # exactly one of:
    tokens_per_param = [5, 10, 20]      #   per size, tokens = ratio * params
    # tokens = [1e7, 2e7]               #   absolute budgets, for every size
    # flops = [1e15, 1e16]              #   IsoFLOP: tokens = C / (6 params), budgets x sizes

    [train]
    batch_size = 32                     # sequences per step
    min_steps = 0                       # per size, halve the batch until its smallest budget
                                        # has min_steps steps (one batch per size)
    lr = "3e-3 * (256 / d_model)**0.5"  # a number, or a rule over d_model, n_layers, params, ...
    lr_multipliers = [1]                # an LR sweep: every run at each multiple of lr
    schedule = "cosine"                 # cosine | wsd | constant
    seeds = [0]
    ...                                 # warmup, min_lr_ratio, decay_fraction, weight_decay,
                                        # beta1, beta2, grad_clip, eval_every, eval_tokens,
                                        # log_every, ckpt_every, compile, dtype

    [corpus]
    source = "python"                   # or a text file, a folder, a .npy / .bin token file
    val_fraction = 0.01

    [[schedule_variants]]               # the same budget under several schedules
    size = {d_model = 128, n_layers = 2}
    tokens_per_param = 20               # or tokens = ...
    schedules = ["cosine", "wsd", "constant"]
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..expr import Expression
from .config import RunConfig
from .sizing import (
    ModelShape,
    default_heads,
    non_embedding_params,
    shape_for_params,
    total_params,
)

TOP_KEYS = {"name", "description", "model", "budget", "train", "corpus", "schedule_variants"}
MODEL_KEYS = {
    "seq_len",
    "positions",
    "tied_embeddings",
    "mlp_ratio",
    "vocab_size",
    "sizes",
    "params",
    "aspect",
}
BUDGET_KEYS = {"tokens_per_param", "tokens", "flops"}
#: Training knobs passed through to every run's config when the spec sets them.
RUN_KNOBS = (
    "warmup",
    "min_lr_ratio",
    "decay_fraction",
    "weight_decay",
    "beta1",
    "beta2",
    "grad_clip",
    "eval_every",
    "eval_tokens",
    "final_eval_tokens",
    "log_every",
    "ckpt_every",
    "compile",
    "dtype",
)
TRAIN_KEYS = {
    "batch_size", "min_steps", "lr", "lr_multipliers", "schedule", "seeds", "seed", *RUN_KNOBS
}  # fmt: skip
CORPUS_KEYS = {"source", "val_fraction", "dtype"}
VARIANT_KEYS = {"size", "tokens_per_param", "tokens", "schedules"}
SIZE_KEYS = {"d_model", "n_layers", "n_heads", "params"}
LR_NAMES = {"d_model", "n_layers", "params", "params_total", "tokens", "batch_size", "seq_len"}


@dataclass
class Sweep:
    """A parsed spec: its name, the runs it expands to, and the corpus settings."""

    name: str
    runs: list[RunConfig]
    corpus: str | None = None
    val_fraction: float = 0.01
    corpus_dtype: str | None = None
    source: str = ""
    text: str = field(default="", repr=False)


def _check_keys(table: dict, allowed: set[str], where: str, file: str) -> None:
    if not isinstance(table, dict):
        raise InputError(f"[{where}] must be a table", file=file)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r} in {where}; allowed: {', '.join(sorted(allowed))}",
            file=file,
            column=unknown[0],
        )


def _as_list(value, key: str, file: str) -> list:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise InputError(f"{key} must be positive numbers, got {v!r}", file=file, column=key)
    return values


def _shape(size: dict, model: dict, file: str) -> ModelShape:
    _check_keys(size, SIZE_KEYS, "a size", file)
    common = {
        k: model[k]
        for k in ("seq_len", "positions", "tied_embeddings", "mlp_ratio", "vocab_size")
        if k in model
    }
    if "params" in size:
        if set(size) - {"params"}:
            raise InputError("a size gives either params or d_model/n_layers, not both", file=file)
        target = _as_list(size["params"], "params", file)[0]
        return shape_for_params(float(target), aspect=float(model.get("aspect", 64.0)), **common)
    if "d_model" not in size or "n_layers" not in size:
        raise InputError("a size needs d_model and n_layers (or params)", file=file)
    d, n_layers = size["d_model"], size["n_layers"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (d, n_layers)):
        raise InputError(
            f"impossible size {size}: d_model and n_layers must be integers", file=file
        )
    return ModelShape(
        d_model=d,
        n_layers=n_layers,
        n_heads=size.get("n_heads", default_heads(d) if d > 0 else 1),
        **common,
    )


def _lr_for(rule, shape: ModelShape, tokens: int, batch: int, file: str) -> float:
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        return float(rule)
    if not isinstance(rule, str):
        raise InputError("lr must be a number or a rule (a formula string)", file=file, column="lr")
    expr = Expression(rule, what="lr rule")
    extra = sorted(expr.names - LR_NAMES)
    if extra:
        raise InputError(
            f"lr rule uses unknown name {extra[0]!r}; known: {sorted(LR_NAMES)}",
            file=file,
            column="lr",
        )
    env = {
        "d_model": shape.d_model,
        "n_layers": shape.n_layers,
        "batch_size": batch,
        "params": non_embedding_params(shape),
        "tokens": tokens,
        "seq_len": shape.seq_len,
        "params_total": total_params(shape),
    }
    value = float(expr({k: float(v) for k, v in env.items()}))
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"lr rule gives {value} for d_model={shape.d_model}", file=file)
    return value


def _budgets(budget: dict, shape: ModelShape, file: str, where: str = "budget") -> list[int]:
    _check_keys(
        budget, BUDGET_KEYS | VARIANT_KEYS if where != "budget" else BUDGET_KEYS, where, file
    )
    given = [k for k in ("tokens_per_param", "tokens", "flops") if k in budget]
    if len(given) != 1:
        raise InputError(
            f"[{where}] needs exactly one of tokens_per_param, tokens, flops", file=file
        )
    key = given[0]
    n = non_embedding_params(shape)
    values = _as_list(budget[key], key, file)
    if key == "tokens_per_param":
        return [int(v * n) for v in values]
    if key == "tokens":
        return [int(v) for v in values]
    return [int(c / (6.0 * n)) for c in values]


def parse_spec(text: str, *, source: str = "<spec>") -> Sweep:
    """Expand spec text into runs; bad input raises :class:`InputError` naming the spot."""
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        row = int(m.group(1)) if m else None
        raise InputError(f"not valid TOML: {exc}", file=source, row=row) from None
    _check_keys(spec, TOP_KEYS, "the spec", source)
    name = spec.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(
            'the spec needs name = "..." (letters, digits, _ . -)', file=source, column="name"
        )
    model, train = spec.get("model", {}), spec.get("train", {})
    budget, corpus = spec.get("budget", {}), spec.get("corpus", {})
    _check_keys(model, MODEL_KEYS, "model", source)
    _check_keys(train, TRAIN_KEYS, "train", source)
    _check_keys(corpus, CORPUS_KEYS, "corpus", source)
    sizes = list(model.get("sizes", [])) + [
        {"params": p} for p in _as_list(model.get("params", []), "params", source)
    ]
    if not sizes:
        raise InputError("[model] needs sizes = [...] or params = [...]", file=source)
    shapes = [_shape(s, model, source) for s in sizes]

    seeds = train.get("seeds", [train.get("seed", 0)])
    knobs = {k: train[k] for k in RUN_KNOBS if k in train}
    base = {
        "corpus": corpus.get("source"),
        "val_fraction": corpus.get("val_fraction", 0.01),
        "corpus_dtype": corpus.get("dtype"),
        **knobs,
    }
    batch0, min_steps = int(train.get("batch_size", 32)), int(train.get("min_steps", 0))
    lr_rule, schedule = train.get("lr", 3e-3), train.get("schedule", "cosine")
    multipliers = train.get("lr_multipliers", [1.0])
    if (
        not isinstance(multipliers, list)
        or not multipliers
        or not all(
            isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0 for m in multipliers
        )
    ):
        raise InputError(
            "lr_multipliers must be a list of positive numbers, e.g. [0.5, 1, 2]",
            file=source,
            column="lr_multipliers",
        )

    batch_of: dict[ModelShape, int] = {}

    def batch_for(shape: ModelShape, budgets: list[int]) -> int:
        # One batch per size, so a size's budgets differ in steps only: halve it until the
        # smallest budget of that size gets min_steps steps.
        if shape not in batch_of:
            batch = batch0
            while batch > 1 and min(budgets) // (batch * shape.seq_len) < min_steps:
                batch //= 2
            batch_of[shape] = batch
        return batch_of[shape]

    def make(
        shape: ModelShape, tokens: int, sched: str, seed: int, main: bool, scale: float = 1.0
    ) -> RunConfig:
        batch = batch_of[shape]
        if tokens < batch * shape.seq_len:
            raise InputError(
                f"budget of {tokens} tokens is less than one batch for d_model={shape.d_model}"
                f" (batch {batch} x seq_len {shape.seq_len})",
                file=source,
            )
        lr = scale * _lr_for(lr_rule, shape, tokens, batch, source)
        try:
            return RunConfig(
                family=name,
                shape=shape,
                tokens=tokens,
                batch_size=batch,
                lr=lr,
                schedule=sched,
                seed=int(seed),
                main_grid=main,
                **base,
            )
        except TypeError as exc:
            raise InputError(f"bad value in [train]: {exc}", file=source) from None

    runs: list[RunConfig] = []
    if budget:
        for shape in shapes:
            budgets = _budgets(budget, shape, source)
            batch_for(shape, budgets)
            for tokens in budgets:
                for seed in seeds:
                    for scale in multipliers:
                        runs.append(make(shape, tokens, schedule, seed, True, float(scale)))
    variants = spec.get("schedule_variants", [])
    if not isinstance(variants, list):
        raise InputError(
            "schedule_variants must be an array of tables [[schedule_variants]]", file=source
        )
    for v in variants:
        _check_keys(v, VARIANT_KEYS, "schedule_variants", source)
        shape = _shape(v.get("size", {}), model, source)
        scheds = v.get("schedules", ["cosine", "wsd", "constant"])
        budgets = _budgets({k: v[k] for k in v if k in BUDGET_KEYS}, shape, source)
        batch_for(shape, budgets)
        for tokens in budgets:
            for sched in scheds:
                for seed in seeds:
                    run = make(shape, tokens, sched, seed, False)
                    if sched != schedule:
                        run.family = f"{name}-{sched}"
                        run.run_id = run.default_run_id()
                    runs.append(run)
    if not runs:
        raise InputError(
            "the spec expands to no runs: give [budget] or [[schedule_variants]]", file=source
        )
    unique: dict[str, RunConfig] = {}
    for r in runs:  # a variant equal to a grid run is the same run: train it once
        key = r.digest()
        if key in unique:
            unique[key].main_grid = unique[key].main_grid or r.main_grid
        else:
            unique[key] = r
    return Sweep(
        name=name,
        runs=list(unique.values()),
        corpus=corpus.get("source"),
        val_fraction=float(corpus.get("val_fraction", 0.01)),
        corpus_dtype=corpus.get("dtype"),
        source=source,
        text=text,
    )


def load_spec(path: str | Path) -> Sweep:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read the spec: {exc.strerror}", file=str(path)) from None
    return parse_spec(text, source=str(path))
