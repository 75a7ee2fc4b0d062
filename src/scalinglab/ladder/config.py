"""One run of a ladder: every knob, as a plain dataclass that round-trips through JSON."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from ..errors import InputError
from ..runs.schedules import SCHEDULES
from .sizing import ModelShape, flops_per_token, human, non_embedding_params, total_params

COMPILE_MIN_FLOPS = 3e15  # compile="auto" compiles GPU runs of at least this many FLOPs


@dataclass
class RunConfig:
    """Everything that decides what one training run computes (and a few run-time knobs)."""

    family: str
    shape: ModelShape
    tokens: int  # training-token budget
    batch_size: int = 32  # sequences per optimizer step
    lr: float = 3e-3
    schedule: str = "cosine"
    warmup: float = 0.05  # fraction of steps
    min_lr_ratio: float = 0.1
    decay_fraction: float = 0.2  # WSD cool-down length, fraction of steps
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 0  # initialisation (and, unless data_seed is set, the order of batches)
    data_seed: int | None = None  # the order of batches, apart from the initialisation
    eval_every: int = 100
    eval_tokens: int = 262_144  # the fixed held-out set evaluated every eval_every steps
    final_eval_tokens: int = 1_048_576  # the final evaluation's set (capped by the split)
    log_every: int = 1
    ckpt_every: int = 200
    corpus: str | None = None  # None: the installed Python source
    val_fraction: float = 0.01
    corpus_dtype: str | None = None  # for raw .bin token files: uint8 (default) or uint16
    compile: str = "auto"  # "auto" (GPU runs of COMPILE_MIN_FLOPS or more), "yes", "no"
    dtype: str = "auto"  # "auto" (bf16 autocast on GPU), "bf16", "fp32"
    main_grid: bool = True  # False for schedule variants outside the size x budget grid
    # Measurements of the model at fractions of training (ladder/evaluation.py), and whether to
    # keep its weights there: they do not change what the run trains.
    evaluate: tuple[str, ...] = ()  # "quant", "tasks", "probes"
    evaluate_at: tuple[float, ...] = ()  # fractions of the run's steps; 1.0 = the final model
    keep_weights: bool = False
    run_id: str = field(default="")

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if self.tokens < self.shape.seq_len * self.batch_size:
            raise InputError(
                f"token budget {self.tokens} is smaller than one batch "
                f"({self.batch_size} x {self.shape.seq_len})"
            )
        if not self.lr > 0 or self.batch_size < 1:
            raise InputError("lr must be positive and batch_size at least 1")
        self.evaluate = tuple(self.evaluate)
        self.evaluate_at = tuple(float(f) for f in self.evaluate_at)
        if not self.run_id:
            self.run_id = self.default_run_id()

    # ---- derived quantities -------------------------------------------------------------
    @property
    def steps(self) -> int:
        return max(1, self.tokens // (self.batch_size * self.shape.seq_len))

    @property
    def tokens_trained(self) -> int:
        return self.steps * self.batch_size * self.shape.seq_len

    @property
    def batch_seed(self) -> int:
        """The seed of the order of batches: ``data_seed`` when set, else ``seed``."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def evaluation_steps(self) -> list[int]:
        """The steps at which :attr:`evaluate` runs (and weights are kept), in order."""
        return sorted({min(self.steps, max(1, round(f * self.steps))) for f in self.evaluate_at})

    @property
    def params(self) -> int:
        return non_embedding_params(self.shape)

    @property
    def params_total(self) -> int:
        return total_params(self.shape)

    @property
    def flops(self) -> float:
        return 6.0 * self.params * self.tokens_trained

    @property
    def flops_attn(self) -> float:
        return flops_per_token(self.shape, attention=True) * self.tokens_trained

    def compiles_on(self, device_type: str) -> bool:
        """Whether the run is compiled on ``device_type`` ("cuda", "cpu", ...).

        Compiling costs tens of seconds per shape: on a GPU it repays itself on long runs only.
        """
        return self.compile == "yes" or (
            self.compile == "auto"
            and device_type == "cuda"
            and self.flops_attn >= COMPILE_MIN_FLOPS
        )

    def digest(self) -> str:
        """Hash of what the run computes (not of run-time knobs such as logging)."""
        skip = {
            "run_id",
            "eval_every",
            "log_every",
            "ckpt_every",
            "compile",
            "main_grid",
            "family",
            "evaluate",
            "evaluate_at",
            "keep_weights",
        }
        d = {k: v for k, v in self.to_dict().items() if k not in skip}
        if d.get("data_seed") is None:  # runs made before data_seed existed keep their ids
            d.pop("data_seed", None)
        return hashlib.blake2b(json.dumps(d, sort_keys=True).encode(), digest_size=4).hexdigest()

    def default_run_id(self) -> str:
        s = self.shape
        data = "" if self.data_seed is None else f"-data{self.data_seed}"
        return (
            f"{self.family}-d{s.d_model}L{s.n_layers}-{human(self.tokens_trained)}tok-"
            f"{self.schedule}-s{self.seed}{data}-{self.digest()}"
        )

    # ---- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = self.shape.to_dict()
        d["evaluate"], d["evaluate_at"] = list(self.evaluate), list(self.evaluate_at)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        d = dict(d)
        d["shape"] = ModelShape(**d["shape"])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
