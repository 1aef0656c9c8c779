"""The product code type-checks: mypy with the ``[tool.mypy]`` configuration of pyproject.toml.

Run as a subprocess of this interpreter (the venv's mypy, pinned in the ``dev`` extra), from the
repository root so the configuration and its ``files`` apply, as ``make lint`` runs it. The cache lives
under /tmp, one per checkout, so the repository gets no ``.mypy_cache`` and a re-run takes a fraction
of a second; a cold run takes several seconds, hence ``slow``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(tempfile.gettempdir()) / f"regos-admin-mypy-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
TIMEOUT_S = 600


@pytest.mark.slow
def test_mypy_finds_no_errors(on_mongodb: bool) -> None:
    if on_mongodb:
        pytest.skip("no database involved: covered by the SQLite pass")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(CACHE_DIR)],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mypy exited with {result.returncode}:\n{output}"
    assert "Success: no issues found" in result.stdout, output
