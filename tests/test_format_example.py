"""The hand-written catalog of docs/catalog-format.md works exactly as the page says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "catalog-format.md"


def _example() -> str:
    section = DOC.read_text(encoding="utf-8").split("## A complete hand-written catalog", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_hand_written_example_from_the_docs(tmp_path: Path) -> None:
    script = _example().replace("modelreg ", f"{sys.executable} -m registry_core.cli ")
    script = script.replace("python -c", f"{sys.executable} -c")
    env = {**os.environ, "MODELREG_USER": "carol@example.com"}
    result = subprocess.run(["bash", "-euc", script], cwd=tmp_path, capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "churn@1"
    assert lines[1] == "0 error(s), 0 warning(s)"
