"""The corpus: deterministic, de-duplicated, split by content hash, cached, fingerprinted."""

import numpy as np
import pytest

from scalinglab.errors import InputError
from scalinglab.ladder import corpus as corpus_mod
from scalinglab.ladder.corpus import load_corpus


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "cache"))


def _tree(root, files):
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_duplicates_are_dropped_and_the_split_is_by_content(tmp_path):
    files = {f"f{i}.py": f"print({i})\n" * (i + 1) for i in range(200)}
    files["copy/f3.py"] = files["f3.py"]  # same content, other path
    c = load_corpus(_tree(tmp_path / "a", files), val_fraction=0.1)
    assert c.meta["files"] == 201 and c.meta["unique_files"] == 200
    assert 5 <= c.meta["val_files"] <= 40
    assert c.train.dtype == np.uint8 and c.vocab_size == 256
    text = bytes(c.train) + bytes(c.val)
    assert text.count(b"\x00") == 200  # one separator per unique file


def test_fingerprint_ignores_paths_and_order(tmp_path):
    files = {f"f{i}.py": f"x = {i}\n" for i in range(50)}
    a = load_corpus(_tree(tmp_path / "a", files))
    b = load_corpus(_tree(tmp_path / "b", {f"zz/{k}": v for k, v in reversed(files.items())}))
    assert a.fingerprint == b.fingerprint
    assert bytes(a.train) == bytes(b.train)
    c = load_corpus(_tree(tmp_path / "c", {**files, "new.py": "y = 1\n"}))
    assert c.fingerprint != a.fingerprint


def test_cache_is_a_memory_map_reused_across_loads(tmp_path):
    root = _tree(tmp_path / "a", {f"f{i}.py": "pass\n" * i for i in range(1, 30)})
    a = load_corpus(root)
    assert isinstance(a.train, np.memmap)
    b = load_corpus(root)
    assert b.fingerprint == a.fingerprint and b.train.filename == a.train.filename


def test_default_corpus_is_the_installed_python_source():
    dirs = corpus_mod.python_source_dirs()
    assert dirs and all(d.is_dir() for d in dirs)
    assert any((d / "json" / "__init__.py").exists() for d in dirs)  # the stdlib is in


def test_token_files_npy_and_bin(tmp_path):
    tokens = np.arange(10_000, dtype=np.int64) % 1000
    np.save(tmp_path / "t.npy", tokens)
    c = load_corpus(tmp_path / "t.npy", val_fraction=0.1)
    assert c.vocab_size == 1000 and c.train.dtype == np.uint16
    assert c.n_train == 9000 and c.val.shape[0] == 1000
    (np.arange(5000) % 256).astype(np.uint8).tofile(tmp_path / "t.bin")
    c = load_corpus(tmp_path / "t.bin")
    assert c.vocab_size == 256 and c.n_train + c.val.shape[0] == 5000


def test_a_single_text_file(tmp_path):
    f = tmp_path / "book.txt"
    f.write_text("hello world\n" * 100)
    c = load_corpus(f)
    assert c.n_train + c.val.shape[0] > 1000


def test_bad_corpus_inputs_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_corpus(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        load_corpus(tmp_path / "empty")
    np.save(tmp_path / "f.npy", np.ones(100, dtype=np.float32))
    with pytest.raises(InputError, match="not integers"):
        load_corpus(tmp_path / "f.npy")
    with pytest.raises(InputError, match="val_fraction"):
        load_corpus(tmp_path / "f.npy", val_fraction=0.9)
