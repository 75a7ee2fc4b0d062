"""The training text: real bytes already on every machine, tokenized and cached.

Default corpus: the ``.py`` files of the running interpreter's standard library and
site-packages. It needs no network, is real human-written text, and is large enough for small
ladders (about 31 MB on a bare Python, hundreds of MB where ML stacks are installed). Files are
de-duplicated by content hash and split into train / validation by that hash, so the split does
not depend on paths or on the order files are found. Tokens are bytes (vocab 256). Since
site-packages differs between machines, the corpus ``fingerprint`` (a hash of the sorted file
hashes and the split) is recorded in every run.

Users may instead pass a text file, a directory of text files, or a token file (``.npy``, or
raw ``.bin`` of uint8 / uint16 tokens); token files are split by their last ``val_fraction``.

Cache layout: ``$SCALINGLAB_CACHE/corpus/<fingerprint>/{train.bin,val.bin,meta.json}`` (default
``~/.cache/scalinglab``), written to a temporary folder then renamed, so concurrent workers
never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

DOC_SEPARATOR = b"\x00"  # NUL never occurs in Python source: a clean document boundary
CORPUS_VERSION = 1


@dataclass
class Corpus:
    """Train and validation token arrays (memory-mapped) and what they came from."""

    train: np.ndarray
    val: np.ndarray
    vocab_size: int
    fingerprint: str
    meta: dict

    @property
    def n_train(self) -> int:
        return int(self.train.shape[0])


def cache_root() -> Path:
    root = os.environ.get("SCALINGLAB_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "scalinglab"


def python_source_dirs() -> list[Path]:
    """The stdlib and site-packages folders of the running interpreter, de-duplicated."""
    paths = sysconfig.get_paths()
    found: list[Path] = []
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = paths.get(key)
        if p and Path(p).is_dir():
            found.append(Path(p).resolve())
    for p in sys.path:  # site-packages folders that sysconfig does not name (venvs, user site)
        if p.endswith("site-packages") and Path(p).is_dir():
            found.append(Path(p).resolve())
    unique: list[Path] = []
    for p in sorted(set(found)):
        if not any(p != q and q in p.parents for q in found):  # skip folders nested in others
            unique.append(p)
    return unique


def _walk_files(root: Path, suffixes: tuple[str, ...] | None) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            if suffixes is None or name.endswith(suffixes):
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    out.append(path)
    return out


def _listing_key(files: list[Path], val_fraction: float) -> str:
    """A cheap key (paths, sizes, mtimes) that finds the cached fingerprint without reading."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"v{CORPUS_VERSION}:{val_fraction}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _is_val(digest: bytes, val_fraction: float) -> bool:
    return int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction


def _build_from_files(files: list[Path], val_fraction: float, source: str) -> Corpus:
    contents: dict[bytes, bytes] = {}
    for f in files:
        try:
            data = f.read_bytes()
        except OSError:
            continue
        if not data:
            continue
        digest = hashlib.blake2b(data, digest_size=16).digest()
        contents.setdefault(digest, data)  # de-duplicate by content
    if not contents:
        raise InputError("the corpus is empty: no readable non-empty files", file=source)
    order = sorted(contents)  # by content hash: independent of paths and discovery order
    fp = hashlib.blake2b(digest_size=8)
    fp.update(f"v{CORPUS_VERSION}:{val_fraction}".encode())
    for d in order:
        fp.update(d)
    fingerprint = fp.hexdigest()
    target = cache_root() / "corpus" / fingerprint
    if not (target / "meta.json").exists():
        train_parts = [contents[d] for d in order if not _is_val(d, val_fraction)]
        val_parts = [contents[d] for d in order if _is_val(d, val_fraction)]
        if not val_parts:  # tiny corpora: hold out the last file so validation is never empty
            val_parts = [train_parts.pop()]
        meta = {
            "source": source,
            "files": len(files),
            "unique_files": len(order),
            "val_files": len(val_parts),
            "val_fraction": val_fraction,
            "version": CORPUS_VERSION,
        }
        _write_cache(
            target,
            DOC_SEPARATOR.join(train_parts) + DOC_SEPARATOR,
            DOC_SEPARATOR.join(val_parts) + DOC_SEPARATOR,
            meta,
        )
    return _open_cache(target, fingerprint)


def _write_cache(target: Path, train: bytes, val: bytes, meta: dict) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "train_tokens": len(train), "val_tokens": len(val), "vocab_size": 256}
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    (tmp / "train.bin").write_bytes(train)
    (tmp / "val.bin").write_bytes(val)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    try:
        os.replace(tmp, target)
    except OSError:  # another worker won the race: its copy is identical
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def _open_cache(target: Path, fingerprint: str) -> Corpus:
    meta = json.loads((target / "meta.json").read_text())
    dtype = np.dtype(meta.get("dtype", "uint8"))
    train = np.memmap(target / "train.bin", dtype=dtype, mode="r")
    val = np.memmap(target / "val.bin", dtype=dtype, mode="r")
    return Corpus(train, val, int(meta["vocab_size"]), fingerprint, meta)


def python_corpus(val_fraction: float = 0.01) -> Corpus:
    """The default corpus: this interpreter's installed Python source."""
    files: list[Path] = []
    for d in python_source_dirs():
        files.extend(_walk_files(d, (".py",)))
    index = cache_root() / "corpus" / "index"
    key_file = index / (_listing_key(files, val_fraction) + ".json")
    if key_file.exists():
        fingerprint = json.loads(key_file.read_text())["fingerprint"]
        target = cache_root() / "corpus" / fingerprint
        if (target / "meta.json").exists():
            return _open_cache(target, fingerprint)
    corpus = _build_from_files(files, val_fraction, "python-source")
    index.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"fingerprint": corpus.fingerprint}))
    os.replace(tmp, key_file)
    return corpus


def _token_file_corpus(path: Path, val_fraction: float, dtype: str | None) -> Corpus:
    if path.suffix == ".npy":
        tokens = np.load(path, mmap_mode="r")
    else:
        tokens = np.memmap(path, dtype=np.dtype(dtype or "uint8"), mode="r")
    if tokens.ndim != 1 or tokens.size < 16:
        raise InputError("a token file must hold a 1-D array of at least 16 tokens", file=str(path))
    if not np.issubdtype(tokens.dtype, np.integer):
        raise InputError(f"token file has dtype {tokens.dtype}, not integers", file=str(path))
    vocab = int(tokens.max()) + 1
    if int(tokens.min()) < 0 or vocab > 65536:
        raise InputError("token ids must lie in [0, 65535]", file=str(path))
    dtype_out = np.uint8 if vocab <= 256 else np.uint16
    n_val = max(1, int(round(tokens.size * val_fraction)))
    h = hashlib.blake2b(digest_size=8)
    h.update(f"tokens-v{CORPUS_VERSION}:{val_fraction}:{tokens.dtype}:{tokens.size}".encode())
    h.update(np.ascontiguousarray(tokens).view(np.uint8).data)
    fingerprint = h.hexdigest()
    target = cache_root() / "corpus" / fingerprint
    if not (target / "meta.json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        np.asarray(tokens[:-n_val], dtype=dtype_out).tofile(tmp / "train.bin")
        np.asarray(tokens[-n_val:], dtype=dtype_out).tofile(tmp / "val.bin")
        meta = {
            "source": str(path),
            "train_tokens": int(tokens.size - n_val),
            "val_tokens": n_val,
            "vocab_size": max(vocab, 256) if vocab <= 256 else vocab,
            "dtype": np.dtype(dtype_out).name,
            "val_fraction": val_fraction,
            "version": CORPUS_VERSION,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.replace(tmp, target)
        except OSError:
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()
    return _open_cache(target, fingerprint)


def load_corpus(
    source: str | os.PathLike | None = None, *, val_fraction: float = 0.01, dtype: str | None = None
) -> Corpus:
    """``None`` or ``"python"``: the installed Python source; else a path (see module doc)."""
    if not 0.0 < val_fraction < 0.5:
        raise InputError(f"val_fraction must lie in (0, 0.5), not {val_fraction}")
    if source is None or str(source) == "python":
        return python_corpus(val_fraction)
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError("corpus path does not exist", file=str(path))
    if path.is_dir():
        files = _walk_files(path, None)
        return _build_from_files(files, val_fraction, str(path.resolve()))
    if path.suffix in (".npy", ".bin"):
        return _token_file_corpus(path, val_fraction, dtype)
    return _build_from_files([path], val_fraction, str(path.resolve()))
