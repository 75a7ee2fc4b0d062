"""Fixtures shared by the test suite.

``shared_data``: the directory of real scaling data (``../shared/data`` next to the repo root),
read in place and never copied; tests using it are skipped when it is absent.
``write_file``: writes a small text fixture into the test's temporary directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data (public scaling data); skips the test when it is absent."""
    if not (SHARED_DATA / "chinchilla_epoch.csv").is_file():
        pytest.skip(f"shared scaling data not found at {SHARED_DATA} (expected ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_data() -> Path:
    """Path to tests/data (small hand-made fixture files)."""
    return TEST_DATA


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """``write_file(text, name="runs.csv")`` -> path of a new file holding ``text``."""

    def write(text: str, name: str = "runs.csv") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write
