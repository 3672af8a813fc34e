"""The code base stays ruff-clean (lint and format), so style drift fails the suite, not review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from placewise.config import REPO_ROOT

RUFF = str(Path(sys.executable).parent / "ruff")


def test_ruff_finds_no_lint_errors():
    result = subprocess.run(
        [RUFF, "check", "."], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_format_leaves_every_file_unchanged():
    result = subprocess.run(
        [RUFF, "format", "--check", "."], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:]
