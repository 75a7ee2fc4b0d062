"""Next-line tasks from held-out files: problems built exactly, scored exactly, sampled fast."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: threads only add contention

from scalinglab.errors import InputError  # noqa: E402
from scalinglab.ladder.corpus import load_corpus  # noqa: E402
from scalinglab.ladder.model import GPT  # noqa: E402
from scalinglab.ladder.sizing import ModelShape  # noqa: E402
from scalinglab.ladder.tasks import (  # noqa: E402
    PASS_KS,
    _CachedDecoder,
    _pass_at_k,
    build_tasks,
    task_metrics,
    task_results,
)

pytestmark = pytest.mark.torch


def tagged_split(n_files: int = 6, n_lines: int = 30) -> bytes:
    """Files joined by NUL as the corpus writes its splits; every line names its file."""
    files = [
        "".join(f"f{f}_v{i} = compute({i}, {f})\n" for i in range(n_lines)).encode()
        for f in range(n_files)
    ]
    return b"\0".join(files) + b"\0"


class Oracle:
    """A causal LM that always predicts the byte that follows in the split (teacher forcing)."""

    def __init__(self, split: bytes, tasks, margin: float = 60.0) -> None:
        self.split = np.frombuffer(split, dtype=np.uint8)
        self.start = {
            bytes(p): int(o) - tasks.context
            for p, o in zip(tasks.prefixes, tasks.offsets, strict=True)
        }
        self.context = tasks.context
        self.margin = margin

    def parameters(self):
        return iter([torch.zeros(1)])

    def __call__(self, x):
        logits = torch.zeros(*x.shape, 256)
        for r, row in enumerate(x.numpy().astype(np.uint8)):
            start = self.start[bytes(row[: self.context])]
            nxt = self.split[start + 1 : start + 1 + x.shape[1]]
            logits[r, np.arange(len(nxt)), torch.tensor(nxt.astype(np.int64))] = self.margin
        return logits


class Uniform(Oracle):
    """Equal logits for every byte: 1/256 each."""

    def __init__(self) -> None:
        pass

    def __call__(self, x):
        return torch.zeros(*x.shape, 256)


def test_problems_are_the_lines_of_the_split_and_their_context():
    split = tagged_split()
    tasks = build_tasks(split, 12, seed=3, context=50)
    data = np.frombuffer(split, dtype=np.uint8)
    for prefix, target, offset in zip(tasks.prefixes, tasks.targets, tasks.offsets, strict=True):
        assert bytes(data[offset - 50 : offset]) == bytes(prefix) and prefix[-1] == ord("\n")
        assert bytes(data[offset : offset + len(target) + 1]) == target + b"\n"
    assert len(set(tasks.files)) == 6  # one problem per file before a second from any


def test_each_choice_set_has_exactly_one_true_line_and_distractors_from_other_files():
    tasks = build_tasks(tagged_split(), 12, seed=3, context=50)
    for target, choices, answer in zip(tasks.targets, tasks.choices, tasks.answers, strict=True):
        assert len(choices) == 4 and len(set(choices)) == 4
        assert [c == target for c in choices].count(True) == 1 and choices[answer] == target
        file_of = target.split(b"_")[0]
        assert all(c.split(b"_")[0] != file_of for c in choices if c != target)
    assert sorted(np.bincount(tasks.answers, minlength=4)) != [0, 0, 0, 12]  # shuffled


def test_tasks_are_deterministic_in_the_seed():
    a, b, c = (build_tasks(tagged_split(), 8, seed=s, context=50) for s in (1, 1, 2))
    assert a.targets == b.targets and a.choices == b.choices
    assert np.array_equal(a.prefixes, b.prefixes) and a.targets != c.targets


def test_refusals_name_what_is_missing():
    # 6 files x 30 lines, less each file's first line and the two that start within 50 bytes
    with pytest.raises(InputError, match=r"^n_problems the validation split has 172 qualifying"):
        build_tasks(tagged_split(), 500, context=50)
    with pytest.raises(InputError, match="the validation split holds one file"):
        build_tasks(tagged_split(n_files=1), 3, context=50)
    with pytest.raises(InputError, match="^context must be a whole number of at least 1, got 0$"):
        build_tasks(tagged_split(), 3, context=0)


def test_tasks_from_a_corpus_read_its_validation_split(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "src"
    folder.mkdir()
    for f in range(40):
        (folder / f"m{f}.py").write_text(tagged_split(1, 40 + f).decode().rstrip("\0"))
    corpus = load_corpus(folder, val_fraction=0.3)
    tasks = build_tasks(corpus, 10, seed=0, context=64)
    assert tasks.n_problems == 10 and tasks.source.endswith(" val")
    val = bytes(np.asarray(corpus.val))
    assert all(t + b"\n" in val for t in tasks.targets)


@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_the_cached_decoder_gives_the_logits_of_the_plain_forward_pass(positions):
    torch.manual_seed(0)
    model = GPT(ModelShape(d_model=32, n_layers=2, n_heads=2, seq_len=64, positions=positions))
    model.eval()
    prefixes = torch.randint(0, 256, (3, 40))
    new = torch.randint(0, 256, (6, 8))  # 2 samples of each of 3 problems
    with torch.no_grad():
        decoder = _CachedDecoder(model, prefixes, 2, 9)
        sequences = prefixes.repeat_interleave(2, dim=0)
        torch.testing.assert_close(decoder.first_logits(), model(sequences)[:, -1])
        for i in range(8):
            logits = decoder.step(new[:, i], i)
            sequences = torch.cat([sequences, new[:, i : i + 1]], dim=1)
            torch.testing.assert_close(logits, model(sequences)[:, -1], atol=1e-5, rtol=1e-5)


def test_a_model_that_always_predicts_the_right_byte_scores_one():
    split = tagged_split()
    tasks = build_tasks(split, 10, seed=0, context=40)
    metrics = task_metrics(Oracle(split, tasks), tasks, device="cpu", n_samples=4)
    assert metrics["acc_mc_next_line"] == 1.0 and metrics["exact_next_line"] == 1.0
    assert metrics["prob_mc_next_line"] == pytest.approx(1.0, abs=1e-12)
    assert metrics["logprob_next_line"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["pass@1_next_line"] == metrics["pass@4_next_line"] == 1.0
    assert metrics["correct_samples_next_line"] == 40 and metrics["solved_next_line"] == 1.0
    assert "pass@8_next_line" not in metrics  # k > n is not estimable


def test_a_uniform_model_scores_exactly_by_line_length():
    tasks = build_tasks(tagged_split(), 10, seed=0, context=40)
    results = task_results(Uniform(), tasks, device="cpu", n_samples=0)
    lengths = np.array([[len(c) + 1 for c in row] for row in tasks.choices])  # with newline
    np.testing.assert_allclose(results.choice_logprobs, -lengths * math.log(256), rtol=1e-6)
    true = lengths[np.arange(10), tasks.answers]
    weights = 256.0 ** -(lengths - lengths.min(axis=1, keepdims=True))
    metrics = results.metrics()
    assert metrics["prob_mc_next_line"] == pytest.approx(
        np.mean(weights[np.arange(10), tasks.answers] / weights.sum(axis=1)), rel=1e-5
    )
    shortest = np.sort(lengths, axis=1)
    strictly = (true == shortest[:, 0]) & (shortest[:, 1] > shortest[:, 0])
    assert metrics["acc_mc_next_line"] == np.mean(strictly)
    assert metrics["logprob_next_line"] == pytest.approx(-np.mean(true) * math.log(256), rel=1e-6)
    assert metrics["exact_next_line"] == 0.0 and "pass@1_next_line" not in metrics


def test_samples_are_reproducible_and_counted_per_problem():
    torch.manual_seed(0)
    model = GPT(ModelShape(d_model=32, n_layers=1, n_heads=2, seq_len=128))
    tasks = build_tasks(tagged_split(), 4, seed=0, context=60)
    a = task_results(model, tasks, device="cpu", n_samples=8, temperature=1.0, seed=5)
    b = task_results(model, tasks, device="cpu", n_samples=8, temperature=1.0, seed=5)
    assert np.array_equal(a.correct_samples, b.correct_samples)
    assert a.greedy == b.greedy and all(len(g) <= tasks.max_line + 1 for g in a.greedy)
    assert set(a.metrics()) >= {f"pass@{k}_next_line" for k in PASS_KS if k <= 8}
    assert model.training  # the model is handed back in the mode it came in


def test_a_short_model_reads_a_shorter_context():
    model = GPT(ModelShape(d_model=16, n_layers=1, n_heads=1, seq_len=64))
    tasks = build_tasks(tagged_split(), 3, seed=0, context=60)
    results = task_results(model, tasks, device="cpu", n_samples=2)
    assert results.context == 64 - (tasks.max_line + 1)
    with pytest.raises(InputError, match="^model the model reads 16 bytes"):
        task_results(GPT(ModelShape(d_model=16, n_layers=1, n_heads=1, seq_len=16)), tasks)


def test_pass_at_k_is_the_exact_combinatorial_value():
    for n, c, k in [(10, 0, 1), (10, 3, 1), (10, 3, 4), (10, 8, 3), (128, 5, 100), (20, 20, 7)]:
        exact = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert float(_pass_at_k(n, np.array([c]), k)[0]) == pytest.approx(
            exact, rel=1e-12, abs=1e-15
        )
