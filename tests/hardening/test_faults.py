"""Writers killed with SIGKILL at every file-system step of register, log-metrics, promote and approve.

Each kill leaves a catalog that readers see exactly as before or exactly as after the command, that
``validate`` reports leftovers of (as warnings, never errors), that ``modelreg gc --older-than 0``
cleans completely and idempotently, and on which running the command again succeeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from registry_core import Catalog

from .conftest import add_figure
from .corpus import ALICE, BOB

KILLER = Path(__file__).with_name("killer.py")
REGISTRY = """\
format: 1
policies:
  staging:
    approvals: 1
    approvers: [lead]
roles:
  lead: [alice@example.com]
"""


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> dict[str, dict]:
    """Run the four commands under the killer in parallel; returns each one's report."""
    where = tmp_path_factory.mktemp("faults")
    base = where / "base"
    Catalog.init(base, user=BOB)
    (base / "registry.yaml").write_text(REGISTRY)
    (where / "a.bin").write_bytes(b"weights")
    (where / "m.csv").write_text("metric,value,step\nloss,0.5,1\nloss,0.4,2\n")
    bob = Catalog(base, user=BOB)
    bob.register("fraud", metrics={"test": {"roc_auc": 0.9}}, artifacts=[where / "a.bin"])
    bob.register("fraud", metrics={"test": {"roc_auc": 0.92}})
    bob.promote("fraud", 1, "production")
    request = bob.promote("fraud", 2, "staging")["request"]
    commands = {
        "register": (["register", "fraud", "--artifact", str(where / "a.bin"), "--metric", "test:roc_auc=0.95",
                      "--param", "lr=0.2"], BOB),
        "log-metrics": (["log-metrics", "fraud@1", str(where / "m.csv")], BOB),
        "promote": (["promote", "fraud", "2", "production", "--reason", "killed?"], BOB),
        "approve": (["approve", "fraud", request, "--reason", "ok"], ALICE),
    }
    procs = {name: subprocess.Popen([sys.executable, str(KILLER), str(base), str(where / name), json.dumps(args),
                                     user, *(["--count-cache"] if name == "promote" else [])],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, (args, user) in commands.items()}
    reports = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
        reports[name] = json.loads(out)
        add_figure(f"processes killed mid-{name} (one per write step)", len(reports[name]["kills"]))
    return reports


def _state(seen: dict) -> dict:
    return {key: value for key, value in seen.items() if key != "events"}


@pytest.mark.time_limit(420)
@pytest.mark.parametrize("command", ["register", "log-metrics", "promote", "approve"])
def test_a_writer_killed_at_any_step_leaves_a_valid_catalog(killed, command):
    report = killed[command]
    before, after = report["untouched"], report["completed"]
    assert report["exit"] == 0 and _state(before) != _state(after)
    assert len(report["kills"]) >= 4
    errors_before = [p for p in report["untouched_problems"] if p[1] == "error"]
    for kill in report["kills"]:
        where = f"{command} killed before {kill['call']} {kill['path']} (step {kill['k']})"
        # Readers see the catalog as before or as after, never half of it.
        assert _state(kill["seen"]) in (_state(before), _state(after)), where
        assert before["events"] <= kill["seen"]["events"] <= after["events"], where
        # validate never calls the leftovers errors; it reports them as warnings.
        assert [p for p in kill["problems"] if p[1] == "error"] == errors_before, where
        # gc removes exactly the leftovers, touches nothing readers see, and a second gc finds nothing.
        assert not [p for p in kill["problems_after_gc"] if "leftover" in p[2] or "without manifest" in p[2]], where
        assert [p for p in kill["problems_after_gc"] if p[1] == "error"] == errors_before, where
        assert kill["seen_after_gc"] == kill["seen"] and kill["gc_again"] == [], where
        assert all(not path.startswith(("/", "..")) and ".modelreg" not in path for path in kill["removed"]), where
        # If the command had not taken effect, running it again works.
        if "retry_exit" in kill:
            assert kill["retry_exit"] == 0 and _state(kill["seen_after_retry"]) == _state(after), where
