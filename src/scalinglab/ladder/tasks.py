"""Downstream tasks for byte-level code models, with exact answers, from held-out Python files.

The ladder's validation split is whole Python files joined by a NUL byte
(:data:`~scalinglab.ladder.corpus.DOC_SEPARATOR`, which never occurs in source), so file
boundaries are recoverable and a problem can be posed inside one file and answered with lines
of others. Two tasks share one set of problems, each a line of a held-out file:

* **next-line completion**: the model reads the ``context`` bytes just before the line (the
  same length for every problem; earlier files and their separators included, exactly as the
  model saw text in training) and must write the line and its newline. Scored by exact match,
  greedily (``exact_next_line``) and from ``n_samples`` completions sampled at a temperature,
  whose count of correct ones ``c`` of ``n`` gives the unbiased pass@k of Chen et al. (2021,
  *Evaluating Large Language Models Trained on Code*): ``1 - C(n-c, k) / C(n, k)``.
* **multiple-choice next line**: the true line against ``n_choices - 1`` lines of *other* files,
  each scored by its log-likelihood (bytes of the line and its newline) after the same
  context. Accuracy (``acc_mc_next_line``, chance ``1/n_choices``) and the probability of the
  true line among the choices (``prob_mc_next_line``); the log-likelihood of the true line
  itself (``logprob_next_line``) is the continuous metric Schaeffer et al. (2024) find far
  more predictable than accuracy.

Metrics of :func:`task_metrics` (one number each, for the run table):

=============================  ==================================================================
``acc_mc_next_line``           share of problems whose true line scores highest (chance 1/4)
``prob_mc_next_line``          mean probability of the true line among the choices (softmax of
                               their log-likelihoods)
``logprob_next_line``          mean log-likelihood of the true line and its newline, nats per line
``exact_next_line``            share of problems whose greedy completion is the true line
``pass@K_next_line``           unbiased pass@K from ``n_samples`` samples, K in 1, 2, 4, ... 100
``correct_samples_next_line``  correct samples summed over problems (``pass@1 * n * problems``)
``solved_next_line``           share of problems with at least one correct sample (pass@n)
``samples_next_line``          samples drawn per problem (``n``)
``problems_next_line``         problems
=============================  ==================================================================

Per-problem counts (for PassUntil-style estimates of tiny pass rates and for coverage laws
fitted on problem-level bootstraps) come with :func:`task_results` (``correct_samples``).

Generation keeps a key/value cache: the shared context of a problem is encoded once and read
by all of its samples (no copy per sample), and each sample adds only its own new keys.
Measured on one H200 (torch 2.11, bf16 autocast, 448-byte contexts, up to 61 new bytes): 200
problems x 128 samples plus greedy and multiple choice take 2.9 s for the ladder's largest
model (14.2M non-embedding parameters) and 0.22 s for its smallest (0.44M), 9.4 GiB peak; an
untrained model, which rarely writes a newline, is the worst case (every sample runs 61 steps).

Example:
    >>> from scalinglab.ladder.corpus import load_corpus                      # doctest: +SKIP
    >>> tasks = build_tasks(load_corpus(), n_problems=200, seed=0)
    >>> task_metrics(model, tasks, device="cuda", autocast=autocast)["pass@8_next_line"]
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .corpus import DOC_SEPARATOR, Corpus

#: The k of the pass@k metrics (those at most the number of samples are reported).
PASS_KS = (1, 2, 4, 8, 16, 32, 64, 100)
NEWLINE = ord("\n")
_SPACE = (ord(" "), ord("\t"), ord("\r"))
#: Device memory the per-sample key/value cache of one batch of problems may take: at most this,
#: and on a GPU at most a quarter of its free memory.
CACHE_BYTES = 16 << 30


@dataclass(frozen=True)
class Tasks:
    """Next-line problems from held-out files (:func:`build_tasks`): one line each.

    ``prefixes[i]`` are the ``context`` bytes before problem i's line, ``targets[i]`` the line
    (without its newline), ``choices[i]`` the lines of the multiple-choice version, of which
    ``choices[i][answers[i]]`` is the true one and the others come from other files.
    """

    prefixes: np.ndarray
    targets: tuple[bytes, ...]
    choices: tuple[tuple[bytes, ...], ...]
    answers: np.ndarray
    offsets: np.ndarray
    files: np.ndarray
    seed: int
    source: str = ""

    @property
    def n_problems(self) -> int:
        return len(self.targets)

    @property
    def context(self) -> int:
        return int(self.prefixes.shape[1])

    @property
    def n_choices(self) -> int:
        return len(self.choices[0])

    @property
    def max_line(self) -> int:
        """The longest line to write or score, in bytes (without its newline)."""
        return max(len(c) for row in self.choices for c in row)

    def to_json(self) -> dict[str, Any]:
        return {
            "problems": self.n_problems,
            "context_bytes": self.context,
            "choices": self.n_choices,
            "files": int(len(np.unique(self.files))),
            "max_line_bytes": self.max_line,
            "seed": self.seed,
            "source": self.source,
        }


def build_tasks(
    corpus: Corpus | np.ndarray | bytes,
    n_problems: int = 200,
    seed: int = 0,
    *,
    context: int = 448,
    max_line: int = 60,
    min_chars: int = 4,
    n_choices: int = 4,
) -> Tasks:
    """Next-line problems from the validation split of ``corpus`` (deterministic in ``seed``).

    A line qualifies when it ends with a newline, is not its file's first line, has at most
    ``max_line`` bytes and at least ``min_chars`` that are not blanks, and starts at least
    ``context`` bytes into the split. Problems are drawn at random among qualifying lines, one
    per file while files last; each gets ``n_choices - 1`` distinct distractor lines drawn
    from other files. ``context + max_line + 1`` should not exceed the models' ``seq_len``
    (448 + 61 = 509 fits the ladder's 512; shorter models read a shorter context).

    ``corpus``: a :class:`~scalinglab.ladder.corpus.Corpus` (its ``val`` split), or the bytes
    of a split (files joined by NUL).

    Example:
        >>> tasks = build_tasks(b"\\0".join([b"a = 1\\nb = 2\\nc = 3\\n"] * 3), 2,
        ...                     context=4, n_choices=2)
        >>> tasks.n_problems, tasks.targets[0] in tasks.choices[0]
        (2, True)
    """
    for name, value, least in (("n_problems", n_problems, 1), ("context", context, 1),
                               ("max_line", max_line, 1), ("n_choices", n_choices, 2)):  # fmt: skip
        if not isinstance(value, int | np.integer) or value < least:
            raise InputError(f"must be a whole number of at least {least}, got {value!r}",
                             option=name)  # fmt: skip
    if isinstance(corpus, Corpus):
        data, source = np.asarray(corpus.val, dtype=np.uint8), f"corpus {corpus.fingerprint} val"
    else:
        buffer = corpus if isinstance(corpus, np.ndarray) else np.frombuffer(corpus, np.uint8)
        data, source = np.asarray(buffer, dtype=np.uint8), "bytes"
    starts, ends, file_of = _candidate_lines(data, context, max_line, min_chars)
    if len(starts) < n_problems:
        raise InputError(
            f"the validation split has {len(starts)} qualifying line(s) (at most {max_line} "
            f"bytes, {min_chars}+ non-blank, {context} bytes of context before them); "
            f"{n_problems} problem(s) asked for",
            option="n_problems",
        )
    if len(np.unique(file_of)) < 2:
        raise InputError(
            "the validation split holds one file: multiple-choice distractors come from other "
            "files, so at least two are needed",
            option="corpus",
        )
    rng = np.random.default_rng(seed)
    picked = _pick_one_per_file(rng.permutation(len(starts)), file_of, n_problems)
    picked = np.sort(picked)
    line = [bytes(data[starts[i] : ends[i]]) for i in range(len(starts))]
    choices, answers = [], []
    for i in picked:
        options = [line[i], *_distractors(rng, line, file_of, i, n_choices - 1)]
        order = rng.permutation(n_choices)
        choices.append(tuple(options[j] for j in order))
        answers.append(int(np.flatnonzero(order == 0)[0]))
    prefixes = np.stack([data[starts[i] - context : starts[i]] for i in picked])
    return Tasks(
        prefixes=prefixes,
        targets=tuple(line[i] for i in picked),
        choices=tuple(choices),
        answers=np.asarray(answers),
        offsets=starts[picked],
        files=file_of[picked],
        seed=seed,
        source=source,
    )


def _candidate_lines(
    data: np.ndarray, context: int, max_line: int, min_chars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (the newline's position) and file of every qualifying line."""
    newlines = np.flatnonzero(data == NEWLINE)
    starts, ends = newlines[:-1] + 1, newlines[1:]  # between two newlines: no newline inside
    separators = np.concatenate([[0], np.cumsum(data == DOC_SEPARATOR[0])])  # before position i
    blank = np.isin(data, _SPACE) | (data == DOC_SEPARATOR[0])
    filled = np.concatenate([[0], np.cumsum(~blank)])
    keep = (
        (ends - starts <= max_line)
        & (separators[ends] == separators[starts])  # no file boundary inside the line
        & (filled[ends] - filled[starts] >= min_chars)
        & (starts >= context)
    )
    return starts[keep], ends[keep], separators[starts[keep]]


def _pick_one_per_file(order: np.ndarray, file_of: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` of ``order``, taking one line per file before a second from any."""
    _, first = np.unique(file_of[order], return_index=True)
    firsts = order[np.sort(first)]
    if len(firsts) >= n:
        return firsts[:n]
    rest = order[~np.isin(order, firsts)]
    return np.concatenate([firsts, rest[: n - len(firsts)]])


def _distractors(
    rng: np.random.Generator, line: list[bytes], file_of: np.ndarray, i: int, n: int
) -> list[bytes]:
    """``n`` distinct lines of files other than line ``i``'s, none equal to it."""
    others = np.flatnonzero(file_of != file_of[i])
    chosen: list[bytes] = []
    for j in rng.permutation(others):
        if line[j] != line[i] and line[j] not in chosen:
            chosen.append(line[j])
            if len(chosen) == n:
                return chosen
    raise InputError(
        f"too few distinct lines in other files for {n} distractors", option="n_choices"
    )


# -- scoring ----------------------------------------------------------------------------------
@dataclass
class TaskResults:
    """Per-problem outcomes of the two tasks (:func:`task_results`)."""

    #: Log-likelihood (nats) of each choice and its newline after the context, (P, n_choices).
    choice_logprobs: np.ndarray
    answers: np.ndarray
    #: Whether the greedy completion is the true line, (P,).
    greedy_correct: np.ndarray
    #: The greedy completions, up to their first newline (inclusive).
    greedy: list[bytes]
    #: Correct samples of each problem, (P,), out of ``n_samples``.
    correct_samples: np.ndarray
    n_samples: int
    temperature: float
    context: int

    def metrics(self, ks: Sequence[int] = PASS_KS) -> dict[str, float]:
        """The run-table metrics (see the module docstring)."""
        scores = self.choice_logprobs
        rows = np.arange(len(scores))
        true = scores[rows, self.answers]
        others = np.where(np.arange(scores.shape[1]) == self.answers[:, None], -np.inf, scores)
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        out = {
            "acc_mc_next_line": float(np.mean(true > others.max(axis=1))),
            "prob_mc_next_line": float(np.mean(shifted[rows, self.answers] / shifted.sum(axis=1))),
            "logprob_next_line": float(np.mean(true)),
            "exact_next_line": float(np.mean(self.greedy_correct)),
        }
        if self.n_samples:
            for k in ks:
                if k <= self.n_samples:
                    out[f"pass@{k}_next_line"] = float(
                        np.mean(_pass_at_k(self.n_samples, self.correct_samples, k))
                    )
            out["correct_samples_next_line"] = float(self.correct_samples.sum())
            out["solved_next_line"] = float(np.mean(self.correct_samples > 0))
            out["samples_next_line"] = float(self.n_samples)
        out["problems_next_line"] = float(len(scores))
        return out


def _pass_at_k(n: int, c: np.ndarray, k: int) -> np.ndarray:
    """Chen et al.'s unbiased pass@k, ``1 - prod_{i=n-c+1}^{n} (1 - k/i)`` (the product form
    of ``1 - C(n-c,k)/C(n,k)``, exact and stable); the same estimator as
    :func:`scalinglab.downstream.passk.pass_at_k` (the ladder may not import that layer: a test
    checks that the two agree)."""
    c = np.asarray(c, dtype=np.int64)
    i = np.arange(1, n + 1, dtype=float)
    with np.errstate(divide="ignore"):  # log(0) for i <= k: those products are 0
        log_terms = np.concatenate([[0.0], np.cumsum(np.log1p(-np.minimum(k / i, 1.0))[::-1])])
    # sum over i = n-c+1 .. n of log(1 - k/i): the last c terms; -inf (pass@k = 1) once n-c < k
    return np.where(n - c < k, 1.0, -np.expm1(log_terms[c]))


def task_metrics(
    model: Any,
    tasks: Tasks,
    *,
    device: Any = None,
    autocast: Callable[[], Any] | None = None,
    n_samples: int = 128,
    temperature: float = 0.8,
    seed: int = 0,
) -> dict[str, float]:
    """The tasks' metrics for ``model`` (see the module docstring for names and units).

    ``model``: the ladder's :class:`~scalinglab.ladder.model.GPT` (generation then reads a
    key/value cache), or any causal LM ``model(tokens) -> logits`` of shape (B, T, 256) with
    an optional ``shape.seq_len``. ``autocast``: a factory of the precision context (the
    training loop's), e.g. ``lambda: torch.autocast("cuda", torch.bfloat16)``.
    ``n_samples = 0`` skips sampling (no pass@k).
    """
    return task_results(
        model, tasks, device=device, autocast=autocast, n_samples=n_samples,
        temperature=temperature, seed=seed,
    ).metrics()  # fmt: skip


def task_results(
    model: Any,
    tasks: Tasks,
    *,
    device: Any = None,
    autocast: Callable[[], Any] | None = None,
    n_samples: int = 128,
    temperature: float = 0.8,
    seed: int = 0,
) -> TaskResults:
    """Per-problem outcomes of both tasks for ``model`` (arguments as :func:`task_metrics`)."""
    import torch

    if not isinstance(n_samples, int | np.integer) or n_samples < 0:
        raise InputError(f"must be a whole number >= 0, got {n_samples!r}", option="n_samples")
    if not (
        isinstance(temperature, float | int) and temperature > 0 and math.isfinite(temperature)
    ):
        raise InputError(f"must be a positive number, got {temperature!r}", option="temperature")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    precision = autocast or contextlib.nullcontext
    max_new = tasks.max_line + 1  # the line and its newline
    seq_len = getattr(getattr(model, "shape", None), "seq_len", None)
    context = tasks.context if seq_len is None else min(tasks.context, seq_len - max_new)
    if context < 1:
        raise InputError(
            f"the model reads {seq_len} bytes: too few for a {max_new}-byte line after context",
            option="model",
        )
    prefixes = torch.as_tensor(tasks.prefixes[:, tasks.context - context :], device=device).long()
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad(), precision():
            scores = _choice_logprobs(model, prefixes, tasks.choices)
            targets = _targets(tasks.targets, max_new, device)
            greedy = _generate(model, prefixes, 1, 0.0, max_new, seed)
            greedy_ok = _matches(greedy, targets)
            correct = torch.zeros(tasks.n_problems, dtype=torch.long, device=device)
            if n_samples:
                per_batch = _problems_per_batch(model, n_samples, max_new, device)
                for lo in range(0, tasks.n_problems, per_batch):
                    hi = min(lo + per_batch, tasks.n_problems)
                    sampled = _generate(
                        model, prefixes[lo:hi], n_samples, temperature, max_new, seed + lo
                    )
                    correct[lo:hi] = _matches(sampled, targets[lo:hi]).sum(dim=1)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    texts = greedy[:, 0].cpu().numpy()
    return TaskResults(
        choice_logprobs=scores,
        answers=np.asarray(tasks.answers),
        greedy_correct=greedy_ok[:, 0].cpu().numpy(),
        greedy=[_until_newline(row) for row in texts],
        correct_samples=correct.cpu().numpy(),
        n_samples=int(n_samples),
        temperature=float(temperature),
        context=int(context),
    )


def _until_newline(row: np.ndarray) -> bytes:
    stop = np.flatnonzero(row == NEWLINE)
    return bytes(row[: stop[0] + 1] if len(stop) else row)


def _targets(lines: Sequence[bytes], width: int, device: Any):
    """(P, width) int tensor of each line and its newline, -1 after it."""
    import torch

    out = torch.full((len(lines), width), -1, dtype=torch.long)
    for i, line in enumerate(lines):
        out[i, : len(line) + 1] = torch.tensor(list(line) + [NEWLINE])
    return out.to(device)


def _matches(generated, targets):
    """(P, S) bool: sample s of problem p wrote exactly the line and its newline."""
    wanted = targets[:, None, :]
    return ((generated == wanted) | (wanted < 0)).all(dim=-1)


def _choice_logprobs(model: Any, prefixes, choices: Sequence[Sequence[bytes]]) -> np.ndarray:
    """Log-likelihood of each choice and its newline after its problem's context, (P, C)."""
    import torch

    n_problems, context = prefixes.shape
    n_choices = len(choices[0])
    width = max(len(c) for row in choices for c in row) + 1
    rows, lengths = [], []
    for row in choices:
        for text in row:
            body = list(text) + [NEWLINE]
            lengths.append(len(body))
            rows.append(body + [0] * (width - len(body)))
    tails = torch.tensor(rows, dtype=torch.long, device=prefixes.device)
    sequences = torch.cat([prefixes.repeat_interleave(n_choices, dim=0), tails], dim=1)
    lengths_t = torch.tensor(lengths, device=prefixes.device)
    out = torch.empty(len(sequences), dtype=torch.float64)
    batch = max(1, (1 << 19) // sequences.shape[1])  # logits of ~0.5M positions per forward
    positions = torch.arange(width, device=prefixes.device)
    for lo in range(0, len(sequences), batch):
        x = sequences[lo : lo + batch]
        logits = model(x[:, :-1])[:, context - 1 :].float()  # predictions of the tail's bytes
        logp = torch.log_softmax(logits, dim=-1).gather(-1, x[:, context:, None])[..., 0]
        mask = positions[None, :] < lengths_t[lo : lo + batch, None]
        out[lo : lo + batch] = (logp * mask).sum(dim=1).double().cpu()
    return out.view(n_problems, n_choices).numpy()


def _problems_per_batch(model: Any, n_samples: int, max_new: int, device: Any) -> int:
    """Problems whose samples' key/value cache fits in :data:`CACHE_BYTES` (a quarter of the
    GPU's free memory at most): fewer, larger batches launch fewer kernels per byte."""
    import torch

    shape = getattr(model, "shape", None)
    if shape is None:
        return max(1, 4096 // n_samples)
    budget = CACHE_BYTES
    if device.type == "cuda":
        budget = min(budget, torch.cuda.mem_get_info(device)[0] // 4)
    # keys and values of the new bytes (fp32 at most), and the attention scores over the context
    per_sample = 2 * shape.n_layers * max_new * shape.d_model * 4 + 3 * shape.n_heads * (
        shape.seq_len * 4
    )
    return max(1, int(budget // (per_sample * n_samples)))


def _generate(model: Any, prefixes, n_samples: int, temperature: float, max_new: int, seed: int):
    """(P, S, max_new) bytes generated after each prefix; temperature 0 is greedy.

    Sampling draws from softmax(logits / temperature) by the Gumbel-max trick, with noise from
    a generator seeded by ``seed``: the same seed gives the same samples on the same device.
    """
    import torch

    n_problems = prefixes.shape[0]
    generator = torch.Generator(device=prefixes.device)
    generator.manual_seed(seed)
    kind = _CachedDecoder if hasattr(model, "blocks") else _Recomputing
    decoder = kind(model, prefixes, n_samples, max_new)
    logits = decoder.first_logits()  # (P*S, V)
    out = torch.full(
        (n_problems * n_samples, max_new), -1, dtype=torch.long, device=prefixes.device
    )
    done = torch.zeros(n_problems * n_samples, dtype=torch.bool, device=prefixes.device)
    for i in range(max_new):
        if temperature == 0.0:
            token = logits.argmax(dim=-1)
        else:
            u = torch.rand(logits.shape, generator=generator, device=logits.device)
            gumbel = -torch.log(-torch.log(u.clamp_min(1e-20)))
            token = (logits.float() / temperature + gumbel).argmax(dim=-1)
        out[:, i] = torch.where(done, -1, token)
        done |= token == NEWLINE
        if i + 1 == max_new or bool(done.all()):
            break
        logits = decoder.step(token, i)
    return out.view(n_problems, n_samples, max_new)


class _Recomputing:
    """Generation for any causal LM: the whole sequence is read again at every step."""

    def __init__(self, model: Any, prefixes, n_samples: int, max_new: int) -> None:
        self.model = model
        self.sequences = prefixes.repeat_interleave(n_samples, dim=0)

    def first_logits(self):
        return self.model(self.sequences)[:, -1]

    def step(self, token, i: int):
        import torch

        self.sequences = torch.cat([self.sequences, token[:, None]], dim=1)
        return self.model(self.sequences)[:, -1]


class _CachedDecoder:
    """Generation for the ladder's GPT with a key/value cache (the model's own modules).

    Every problem's context is encoded once by the model's own forward pass (its keys and
    values captured there); the S samples of a problem all attend to that one copy, stacked as
    S queries of one attention call, and each sample keeps only the keys and values of its
    own new bytes. All contexts have the same length, so every sample writes position
    ``context + i`` at step i, and rotary (or learned) positions are those of one row.
    ``tests/test_ladder_tasks.py`` checks the logits against the plain forward pass.
    """

    def __init__(self, model: Any, prefixes, n_samples: int, max_new: int) -> None:
        import torch

        from .model import _apply_rotary

        self.model, self.apply_rotary = model, _apply_rotary
        self.n_problems, self.context = prefixes.shape
        self.n_samples = n_samples
        shape = model.shape
        self.heads, self.head_dim = shape.n_heads, shape.head_dim
        captured: list[torch.Tensor] = []
        hooks = [block.attn.qkv.register_forward_hook(lambda _m, _i, out: captured.append(out))
                 for block in model.blocks]  # fmt: skip
        try:
            self.logits = model(prefixes)[:, -1]
        finally:
            for hook in hooks:
                hook.remove()
        p, t, h, d = self.n_problems, self.context, self.heads, self.head_dim
        self.keys, self.values = [], []  # the contexts': (P, H, T, D) per layer
        for qkv in captured:
            qkv = qkv.view(p, t, 3, h, d)
            k = qkv[:, :, 1:2] if model.pos is not None else self._rotate(qkv[:, :, 1:2], 0, t)
            self.keys.append(k[:, :, 0].transpose(1, 2))
            self.values.append(qkv[:, :, 2].transpose(1, 2))
        dtype = captured[0].dtype
        # the samples' own: (P, H, S, max_new, D) per layer
        self.new_keys = [torch.empty(p, h, n_samples, max_new, d, dtype=dtype, device=prefixes.device)
                         for _ in model.blocks]  # fmt: skip
        self.new_values = [torch.empty_like(k) for k in self.new_keys]

    def _rotate(self, x, start: int, length: int):
        m = self.model
        return self.apply_rotary(
            x, m.rot_cos[start : start + length], m.rot_sin[start : start + length]
        )

    def first_logits(self):
        return self.logits.repeat_interleave(self.n_samples, dim=0)

    def step(self, token, i: int):
        """Logits after writing ``token`` (P*S,) at position ``context + i``."""
        import torch
        import torch.nn.functional as F

        m = self.model
        p, s, h, d = self.n_problems, self.n_samples, self.heads, self.head_dim
        position = self.context + i
        x = m.embed(token)[:, None, :]  # (P*S, 1, d_model)
        if m.pos is not None:
            x = x + m.pos.weight[position]
        scale = 1.0 / math.sqrt(d)
        for layer, block in enumerate(m.blocks):
            qkv = block.attn.qkv(block.norm1(x)).view(p * s, 1, 3, h, d)
            qk = qkv[:, :, :2] if m.pos is not None else self._rotate(qkv[:, :, :2], position, 1)
            q, k = (z[:, 0].view(p, s, h, d).transpose(1, 2) for z in qk.unbind(2))  # (P, H, S, D)
            v = qkv[:, 0, 2].view(p, s, h, d).transpose(1, 2)
            self.new_keys[layer][:, :, :, i] = k
            self.new_values[layer][:, :, :, i] = v
            own_k = self.new_keys[layer][:, :, :, : i + 1]  # (P, H, S, i+1, D)
            own_v = self.new_values[layer][:, :, :, : i + 1]
            shared = torch.matmul(q, self.keys[layer].transpose(-1, -2))  # (P, H, S, T)
            own = torch.matmul(own_k, q[..., None])[..., 0]  # (P, H, S, i+1)
            weights = torch.softmax(torch.cat([shared, own], dim=-1).float() * scale, dim=-1)
            w_shared, w_own = weights.to(q.dtype).split([self.context, i + 1], dim=-1)
            y = torch.matmul(w_shared, self.values[layer])
            y = y + torch.matmul(w_own[..., None, :], own_v)[..., 0, :]  # (P, H, S, D)
            y = y.transpose(1, 2).reshape(p * s, 1, h * d)
            x = x + block.attn.proj(y)
            x = x + block.out(F.gelu(block.fc(block.norm2(x)), approximate="tanh"))
        return m.head(m.norm(x))[:, -1]


__all__ = ["PASS_KS", "TaskResults", "Tasks", "build_tasks", "task_metrics", "task_results"]
