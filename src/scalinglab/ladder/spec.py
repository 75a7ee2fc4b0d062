"""Sweep specs: a TOML file that expands into a list of :class:`RunConfig`.

Two steps: :func:`validate_spec` checks the parsed document and returns a typed
:class:`LadderSpec` (bad input is an :class:`InputError` naming the file and the key);
:func:`expand_spec` turns it into runs. :func:`parse_spec` does both from the text.

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

    [[replicates]]                      # more seeds of some grid points (same family)
    sizes = [{d_model = 64, n_layers = 2}]  # sizes of the grid
    tokens = [1e7]                      # or tokens_per_param = [...]; budgets of the grid
    seeds = [1, 2, 3]                   # initialisation seeds of the extra runs
    data_seed = "seed"                  # batch order: "seed" (follows each seed) or an integer
                                        # (one order for every replicate: init noise alone)

    [evaluate]                          # measurements of the model during training
    metrics = ["probes", "quant", "tasks"]
    at = [0.5, 1.0]                     # fractions of each run's steps
    keep_weights = false                # save the weights there (weights/step<N>.pt)
    runs = "all"                        # or "grid" (not the replicates and variants)

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
from itertools import product
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..expr import Expression
from ..runs.schedules import SCHEDULES
from .config import RunConfig
from .sizing import (
    ModelShape,
    default_heads,
    non_embedding_params,
    shape_for_params,
    total_params,
)

TOP_KEYS = {
    "name", "description", "model", "budget", "train", "corpus", "schedule_variants",
    "replicates", "evaluate",
}  # fmt: skip
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
#: The kinds of budget, in the order error messages list them.
BUDGET_KINDS = ("tokens_per_param", "tokens", "flops")
BUDGET_KEYS = set(BUDGET_KINDS)
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
VARIANT_BUDGET_KINDS = ("tokens_per_param", "tokens")
VARIANT_KEYS = {"size", "schedules", *VARIANT_BUDGET_KINDS}
REPLICATE_KEYS = {"sizes", "seeds", "data_seed", *VARIANT_BUDGET_KINDS}
EVALUATE_KEYS = {"metrics", "at", "keep_weights", "runs"}
#: Measurements a run can take of itself (ladder/evaluation.py).
EVALUATOR_NAMES = ("probes", "quant", "tasks")
SIZE_KEYS = {"d_model", "n_layers", "n_heads", "params"}
LR_NAMES = {"d_model", "n_layers", "params", "params_total", "tokens", "batch_size", "seq_len"}


@dataclass(frozen=True)
class Budget:
    """How long each run of a size trains, in one of three ways (``kind``).

    ``tokens_per_param``: tokens = ratio x params, per size; ``tokens``: the same absolute
    budgets for every size; ``flops``: IsoFLOP, tokens = C / (6 params).

    Example:
        >>> Budget("flops", (6e12,)).tokens_for(ModelShape(64, 2, 2, seq_len=64))
        [10139519]
    """

    kind: str
    values: tuple[float, ...]

    def tokens_for(self, shape: ModelShape) -> list[int]:
        n = non_embedding_params(shape)
        if self.kind == "tokens_per_param":
            return [int(v * n) for v in self.values]
        if self.kind == "tokens":
            return [int(v) for v in self.values]
        return [int(c / (6.0 * n)) for c in self.values]


@dataclass(frozen=True)
class ScheduleVariant:
    """One size and budget trained under several schedules, beside the main grid."""

    shape: ModelShape
    budget: Budget
    schedules: tuple[str, ...]


@dataclass(frozen=True)
class Replicates:
    """Extra seeds of some points of the grid: sizes x budgets x seeds."""

    shapes: tuple[ModelShape, ...]
    budget: Budget
    seeds: tuple[int, ...]
    data_seed: int | None  # None: the batch order follows each run's seed


@dataclass(frozen=True)
class Evaluation:
    """What the runs measure of themselves (``[evaluate]``), and which runs do."""

    metrics: tuple[str, ...] = ()
    at: tuple[float, ...] = (1.0,)
    keep_weights: bool = False
    runs: str = "all"  # "all" or "grid"


@dataclass(frozen=True)
class LadderSpec:
    """A checked spec, every value typed: what :func:`expand_spec` turns into runs.

    Example:
        >>> spec = validate_spec({"name": "demo", "model": {"params": [1e5, 1e6]},
        ...                       "budget": {"tokens_per_param": [20]}})
        >>> spec.budget, [run.run_id.split("-")[1] for run in expand_spec(spec)]
        (Budget(kind='tokens_per_param', values=(20,)), ['d64L2', 'd160L3'])
    """

    name: str  # the run table's `family`
    # [model] and [budget]: the main grid, every size x every budget
    shapes: tuple[ModelShape, ...]
    budget: Budget | None  # None: only schedule variants
    # [train]
    batch_size: int
    min_steps: int
    lr: float | Expression  # a number, or a rule over LR_NAMES
    lr_multipliers: tuple[float, ...]
    schedule: str
    seeds: tuple[int, ...]
    run_knobs: dict[str, Any]  # the RUN_KNOBS the spec sets, as given
    # [corpus]
    corpus: str | None
    val_fraction: float  # as given (an int stays one): run ids hash it
    corpus_dtype: str | None
    # [[schedule_variants]]
    variants: tuple[ScheduleVariant, ...] = ()
    # [[replicates]] and [evaluate]
    replicates: tuple[Replicates, ...] = ()
    evaluation: Evaluation = Evaluation()
    source: str = "<spec>"  # the file, for error messages


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


# ---- validate: a parsed TOML document -> LadderSpec --------------------------------------


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


def _budget(table: dict, kinds: tuple[str, ...], where: str, file: str) -> Budget:
    given = [k for k in kinds if k in table]
    if len(given) != 1:
        raise InputError(f"[{where}] needs exactly one of {', '.join(kinds)}", file=file)
    kind = given[0]
    return Budget(kind, tuple(_as_list(table[kind], kind, file)))


def _lr_rule(rule, file: str) -> float | Expression:
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        return float(rule)
    if not isinstance(rule, str):
        raise InputError("lr must be a number or a rule (a formula string)", file=file, column="lr")
    try:
        expr = Expression(rule, what="lr rule")
    except InputError as exc:
        raise InputError(exc.message, file=file, column="lr") from None
    extra = sorted(expr.names - LR_NAMES)
    if extra:
        raise InputError(
            f"lr rule uses unknown name {extra[0]!r}; known: {sorted(LR_NAMES)}",
            file=file,
            column="lr",
        )
    return expr


def _lr_multipliers(train: dict, file: str) -> tuple[float, ...]:
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
            file=file,
            column="lr_multipliers",
        )
    return tuple(float(m) for m in multipliers)


def _schedules(names, key: str, file: str) -> tuple[str, ...]:
    names = names if isinstance(names, list) else [names]
    for name in names:
        if name not in SCHEDULES:
            raise InputError(
                f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}", file=file, column=key
            )
    return tuple(names)


def _seeds(train: dict, file: str) -> tuple[int, ...]:
    key = "seeds" if "seeds" in train else "seed"
    seeds = train.get("seeds", [train.get("seed", 0)])
    if not isinstance(seeds, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds
    ):
        raise InputError("seeds must be a list of integers, e.g. [0, 1]", file=file, column=key)
    return tuple(seeds)


def _variant(table: dict, model: dict, file: str) -> ScheduleVariant:
    _check_keys(table, VARIANT_KEYS, "schedule_variants", file)
    return ScheduleVariant(
        shape=_shape(table.get("size", {}), model, file),
        budget=_budget(table, VARIANT_BUDGET_KINDS, "schedule_variants", file),
        schedules=_schedules(table.get("schedules", list(SCHEDULES)), "schedules", file),
    )


def _replicates(table: dict, model: dict, file: str) -> Replicates:
    _check_keys(table, REPLICATE_KEYS, "replicates", file)
    sizes = table.get("sizes")
    if not isinstance(sizes, list) or not sizes:
        raise InputError("[[replicates]] needs sizes = [...]", file=file, column="sizes")
    data_seed = table.get("data_seed", "seed")
    if data_seed != "seed" and (not isinstance(data_seed, int) or isinstance(data_seed, bool)):
        raise InputError('data_seed must be "seed" or an integer', file=file, column="data_seed")
    return Replicates(
        shapes=tuple(_shape(s, model, file) for s in sizes),
        budget=_budget(table, VARIANT_BUDGET_KINDS, "replicates", file),
        seeds=_seeds({"seeds": table.get("seeds", [])}, file) if table.get("seeds") else (),
        data_seed=None if data_seed == "seed" else data_seed,
    )


def _evaluation(table: dict, file: str) -> Evaluation:
    _check_keys(table, EVALUATE_KEYS, "evaluate", file)
    metrics = table.get("metrics", [])
    if not isinstance(metrics, list) or any(m not in EVALUATOR_NAMES for m in metrics):
        raise InputError(
            f"metrics must be a list of {', '.join(EVALUATOR_NAMES)}", file=file, column="metrics"
        )
    at = table.get("at", [1.0])
    if not isinstance(at, list) or not all(
        isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= 1 for f in at
    ):
        raise InputError("at must be fractions in (0, 1], e.g. [0.5, 1.0]", file=file, column="at")
    runs = table.get("runs", "all")
    if runs not in ("all", "grid"):
        raise InputError('runs must be "all" or "grid"', file=file, column="runs")
    return Evaluation(tuple(metrics), tuple(float(f) for f in at),
                      bool(table.get("keep_weights", False)), runs)  # fmt: skip


def validate_spec(doc: dict, *, source: str = "<spec>") -> LadderSpec:
    """Check a parsed spec (``tomllib.loads`` of the file) and type its values.

    Bad input raises :class:`InputError` naming ``source`` and the key at fault.
    """
    _check_keys(doc, TOP_KEYS, "the spec", source)
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise InputError(
            'the spec needs name = "..." (letters, digits, _ . -)', file=source, column="name"
        )
    model, train = doc.get("model", {}), doc.get("train", {})
    budget, corpus = doc.get("budget", {}), doc.get("corpus", {})
    _check_keys(model, MODEL_KEYS, "model", source)
    _check_keys(train, TRAIN_KEYS, "train", source)
    _check_keys(corpus, CORPUS_KEYS, "corpus", source)
    sizes = list(model.get("sizes", [])) + [
        {"params": p} for p in _as_list(model.get("params", []), "params", source)
    ]
    if not sizes:
        raise InputError("[model] needs sizes = [...] or params = [...]", file=source)
    shapes = tuple(_shape(s, model, source) for s in sizes)
    if budget:  # an empty [budget] is no budget: the spec may have variants only
        _check_keys(budget, BUDGET_KEYS, "budget", source)
    variants = doc.get("schedule_variants", [])
    if not isinstance(variants, list):
        raise InputError(
            "schedule_variants must be an array of tables [[schedule_variants]]", file=source
        )
    return LadderSpec(
        name=name,
        shapes=shapes,
        budget=_budget(budget, BUDGET_KINDS, "budget", source) if budget else None,
        batch_size=int(train.get("batch_size", 32)),
        min_steps=int(train.get("min_steps", 0)),
        lr=_lr_rule(train.get("lr", 3e-3), source),
        lr_multipliers=_lr_multipliers(train, source),
        schedule=_schedules(train.get("schedule", "cosine"), "schedule", source)[0],
        seeds=_seeds(train, source),
        run_knobs={k: train[k] for k in RUN_KNOBS if k in train},
        corpus=corpus.get("source"),
        val_fraction=corpus.get("val_fraction", 0.01),
        corpus_dtype=corpus.get("dtype"),
        variants=tuple(_variant(v, model, source) for v in variants),
        replicates=tuple(_replicates(r, model, source) for r in _tables(doc, "replicates", source)),
        evaluation=_evaluation(doc.get("evaluate", {}), source),
        source=source,
    )


def _tables(doc: dict, key: str, file: str) -> list[dict]:
    tables = doc.get(key, [])
    if not isinstance(tables, list):
        raise InputError(f"{key} must be an array of tables [[{key}]]", file=file)
    return tables


# ---- expand: LadderSpec -> runs -------------------------------------------------------------


def _lr_for(spec: LadderSpec, shape: ModelShape, tokens: int, batch: int) -> float:
    if not isinstance(spec.lr, Expression):
        return spec.lr
    env = {
        "d_model": shape.d_model,
        "n_layers": shape.n_layers,
        "batch_size": batch,
        "params": non_embedding_params(shape),
        "tokens": tokens,
        "seq_len": shape.seq_len,
        "params_total": total_params(shape),
    }
    value = float(spec.lr({k: float(v) for k, v in env.items()}))
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"lr rule gives {value} for d_model={shape.d_model}", file=spec.source)
    return value


def _batch_for(spec: LadderSpec, shape: ModelShape, budgets: list[int]) -> int:
    # One batch per size, so a size's budgets differ in steps only: halve it until the
    # smallest budget of that size gets min_steps steps.
    batch = spec.batch_size
    while batch > 1 and min(budgets) // (batch * shape.seq_len) < spec.min_steps:
        batch //= 2
    return batch


def _run(
    spec: LadderSpec,
    shape: ModelShape,
    tokens: int,
    batch: int,
    schedule: str,
    seed: int,
    lr_scale: float = 1.0,
) -> RunConfig:
    if tokens < batch * shape.seq_len:
        raise InputError(
            f"budget of {tokens} tokens is less than one batch for d_model={shape.d_model}"
            f" (batch {batch} x seq_len {shape.seq_len})",
            file=spec.source,
        )
    try:
        return RunConfig(
            family=spec.name,
            shape=shape,
            tokens=tokens,
            batch_size=batch,
            lr=lr_scale * _lr_for(spec, shape, tokens, batch),
            schedule=schedule,
            seed=seed,
            corpus=spec.corpus,
            val_fraction=spec.val_fraction,
            corpus_dtype=spec.corpus_dtype,
            **spec.run_knobs,
        )
    except TypeError as exc:
        raise InputError(f"bad value in [train]: {exc}", file=spec.source) from None
    except InputError as exc:  # RunConfig's own checks, which know no file
        raise InputError(exc.message, file=spec.source, column=exc.column) from None


def expand_spec(spec: LadderSpec) -> list[RunConfig]:
    """The runs of a checked spec: the grid, then the schedule variants, each run once.

    The grid is every size x budget x seed x LR multiple. A size trains with one batch size
    (the first budgets seen for it decide, see ``min_steps``); a variant equal to a grid run
    is that run.
    """
    batch_of: dict[ModelShape, int] = {}
    runs: list[RunConfig] = []
    n_grid = 0
    if spec.budget:
        for shape in spec.shapes:
            budgets = spec.budget.tokens_for(shape)
            batch = batch_of.setdefault(shape, _batch_for(spec, shape, budgets))
            for tokens, seed, scale in product(budgets, spec.seeds, spec.lr_multipliers):
                runs.append(_run(spec, shape, tokens, batch, spec.schedule, seed, lr_scale=scale))
    n_grid = len(runs)
    for rep in spec.replicates:
        for shape in rep.shapes:
            budgets = rep.budget.tokens_for(shape)
            batch = batch_of.setdefault(shape, _batch_for(spec, shape, budgets))
            for tokens, seed in product(budgets, rep.seeds):
                run = _run(spec, shape, tokens, batch, spec.schedule, seed)
                run.data_seed = rep.data_seed
                run.run_id = run.default_run_id()
                runs.append(run)
    for variant in spec.variants:
        budgets = variant.budget.tokens_for(variant.shape)
        batch = batch_of.setdefault(variant.shape, _batch_for(spec, variant.shape, budgets))
        for tokens, schedule, seed in product(budgets, variant.schedules, spec.seeds):
            run = _run(spec, variant.shape, tokens, batch, schedule, seed)
            run.main_grid = False
            if schedule != spec.schedule:
                run.family = f"{spec.name}-{schedule}"
                run.run_id = run.default_run_id()
            runs.append(run)
    if not runs:
        raise InputError(
            "the spec expands to no runs: give [budget] or [[schedule_variants]]",
            file=spec.source,
        )
    unique: dict[str, RunConfig] = {}
    for r in runs:  # a variant equal to a grid run is the same run: train it once
        key = r.digest()
        if key in unique:
            unique[key].main_grid = unique[key].main_grid or r.main_grid
        else:
            unique[key] = r
    grid = {(r.shape, r.tokens) for r in runs[:n_grid]}
    ev = spec.evaluation
    for r in unique.values():
        if ev.metrics or ev.keep_weights:
            on_grid = r.main_grid and (r.shape, r.tokens) in grid and r.seed in spec.seeds
            if ev.runs == "all" or on_grid:
                r.evaluate, r.evaluate_at, r.keep_weights = ev.metrics, ev.at, ev.keep_weights
    return list(unique.values())


def parse_spec(text: str, *, source: str = "<spec>") -> Sweep:
    """Expand spec text into runs; bad input raises :class:`InputError` naming the spot.

    Example:
        >>> sweep = parse_spec('''
        ... name = "demo"
        ... [model]
        ... sizes = [{d_model = 64, n_layers = 2}]
        ... [budget]
        ... tokens = [1e7, 2e7]
        ... ''')
        >>> [run.steps for run in sweep.runs]
        [1220, 2441]
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        row = int(m.group(1)) if m else None
        raise InputError(f"not valid TOML: {exc}", file=source, row=row) from None
    spec = validate_spec(doc, source=source)
    return Sweep(
        name=spec.name,
        runs=expand_spec(spec),
        corpus=spec.corpus,
        val_fraction=float(spec.val_fraction),
        corpus_dtype=spec.corpus_dtype,
        source=source,
        text=text,
    )


def load_spec(path: str | Path) -> Sweep:
    """Read and expand a spec file (see :func:`parse_spec`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read the spec: {exc.strerror}", file=str(path)) from None
    return parse_spec(text, source=str(path))
