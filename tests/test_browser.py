"""The report in a real browser: headless Chromium renders it from a file, with no console errors.

Debian's ``chromium`` is installed by the test itself when missing (``apt-get install -y
chromium``, which needs root and the Debian package registry); where that is not possible the
test is skipped and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import scalinglab as sl
from scalinglab.analysis import analyse
from scalinglab.report import render_report

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def install_chromium() -> str | None:
    """One attempt at Debian's package; returns why it failed, or None."""
    if shutil.which("apt-get") is None:
        return "no apt-get on this machine"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "installing it needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` timed out"
        if done.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {done.stderr.strip().splitlines()[-1:]}"
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        why = install_chromium()
        found = find_chromium()
        if found is None:
            pytest.skip(f"headless Chromium is not available and could not be installed: {why}")
    return found


@pytest.fixture(scope="module")
def report_file(shared_data, tmp_path_factory) -> Path:
    runs = sl.read_runs(shared_data / "chinchilla_epoch.csv")
    report = render_report(analyse(runs, where="value < 3.42", bootstrap=50, flops=[5.76e23]))
    return report.write(tmp_path_factory.mktemp("browser") / "report.html")


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def console_messages(stderr: str) -> list[str]:
    """Lines Chromium logs for the page's console (errors, CSP violations, failed loads)."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Refused to" in line]


@pytest.mark.slow
def test_report_renders_in_headless_chromium_without_console_errors(
    chromium, report_file, tmp_path
):
    url = report_file.resolve().as_uri()
    dom = run_chromium(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    for fig_id in (
        "fig-fit-0-flops",
        "fig-isoflop",
        "fig-frontier",
        "fig-parity-0",
        "fig-bootstrap-0",
    ):
        assert f'id="{fig_id}"' in dom.stdout
    assert len(re.findall(r'<img src="data:image/png;base64,', dom.stdout)) == 8
    assert "Compute-optimal allocation" in dom.stdout

    shot = tmp_path / "report.png"
    done = run_chromium(chromium, tmp_path / "profile-shot", "--window-size=1280,2400",
                        f"--screenshot={shot}", url)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_messages(done.stderr) == []
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 50_000

    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        colours = image.convert("RGB").resize((320, 600)).getcolors(maxcolors=1_000_000)
    assert len(colours) > 200, "the page rendered figures, not a blank screen"
