"""The README's CLI transcript and Python snippet are real: replay them and compare."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(after: str, fence: str) -> str:
    text = README.read_text(encoding="utf-8").split(after, 1)[1]
    return text.split(fence, 1)[1].split("```", 1)[0]


def _transcript() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) pairs of the first console block."""
    steps: list[tuple[str, list[str]]] = []
    pending = ""
    for line in _block("## The CLI in two minutes", "```console\n").splitlines():
        if pending:
            pending += " " + line.strip().rstrip("\\")
            if not line.endswith("\\"):
                steps.append((pending, []))
                pending = ""
        elif line.startswith("$ "):
            command = line[2:].split("  #")[0].strip()
            if command.endswith("\\"):
                pending = command.rstrip("\\")
            else:
                steps.append((command, []))
        else:
            steps[-1][1].append(line)
    return steps


def test_cli_transcript_of_the_readme(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"weights")
    env = {**os.environ}
    for command, expected in _transcript():
        words = shlex.split(command)
        if words[0] == "export":
            key, value = words[1].split("=", 1)
            env[key] = value
            continue
        assert words[0] == "modelreg"
        result = subprocess.run([sys.executable, "-m", "registry_core.cli", *words[1:]], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.rstrip("\n").splitlines() == expected, command


def test_python_snippet_of_the_readme(tmp_path: Path, monkeypatch) -> None:
    test_cli_transcript_of_the_readme(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_block("## The Python API", "```python\n"), "README.md", "exec"), namespace)
    catalog = namespace["catalog"]
    assert namespace["created"]["version"] == 3
    assert catalog.resolve("churn@staging")["version"] == 3


def test_ci_runs_the_readme_test_command_from_the_lock():
    """CI calls exactly the README's test command, and that command installs from the lock file."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    command = next(line for line in readme.splitlines() if line.endswith("python -m pytest"))
    assert "-c requirements.lock" in command
    ci = (root / ".ci" / "run").read_text().splitlines()
    assert command in ci


def test_lock_pins_every_declared_dependency():
    """Every package pyproject.toml names (with all extras) has an exact version in requirements.lock."""
    import re
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    pinned = {}
    for line in (root / "requirements.lock").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            pinned[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    names = {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.\-]+", d).group(0)).lower() for d in declared}
    assert sorted(n for n in names if n not in pinned) == []
