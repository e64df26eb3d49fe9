"""docs/ci.md's workflow is valid YAML whose modelreg commands parse with the current CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from registry_core.cli import build_parser

DOCS = Path(__file__).resolve().parent.parent / "docs"


def workflow() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", (DOCS / "ci.md").read_text(), flags=re.S)
    return next(yaml.safe_load(b) for b in blocks if "jobs:" in b)


def commands() -> list[str]:
    found = []
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                line = re.sub(r"\$\{\{[^}]*\}\}", "X", line)
                found += [m.strip() for m in re.findall(r"(modelreg [^|>;&)]*)", line) if "modelreg[" not in m]
    return found


def test_workflow_has_the_three_jobs_steps():
    jobs = workflow()["jobs"]
    assert set(jobs) == {"review", "deploy"}
    assert jobs["review"]["steps"][0]["with"]["fetch-depth"] == 0
    text = " ".join(commands())
    for command in ("validate", "verify", "diff", "resolve", "pull"):
        assert f" {command} " in f"{text} ", command


@pytest.mark.parametrize("line", commands())
def test_every_modelreg_command_in_the_workflow_parses(line):
    words = [w.replace('"', "") for w in shlex.split(line.replace("$MODEL", "fraud-detector"))]
    args = build_parser().parse_args(words[1:])
    assert args.command in line
