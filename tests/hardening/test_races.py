"""Many processes writing the same model at once: no write lost, no version shared, one holder per
exclusive stage, every event on record."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from registry_core import Catalog

from .conftest import add_figure

WORKER = Path(__file__).with_name("worker.py")
WRITERS, ROUNDS = 6, 3
APPROVERS = 6


def _start(args_list: list[list[str]]) -> list[dict]:
    start = time.time() + 2.0  # every process imports first, then all begin at once
    procs = [subprocess.Popen([sys.executable, str(WORKER), *args[:3], str(start), *args[3:]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in args_list]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out))
    return results


@pytest.mark.time_limit(360)
def test_writers_racing_on_one_model_lose_nothing(tmp_path):
    root = tmp_path / "catalog"
    Catalog.init(root, user="setup@example.com")
    names = [f"w{i}" for i in range(WRITERS)]
    results = _start([[str(root), name, str(ROUNDS)] for name in names])
    cat = Catalog(root)

    # No version number shared, none lost: every register got its own number and it exists, complete.
    versions = [v for r in results for v in r["versions"]]
    assert len(versions) == len(set(versions)) == WRITERS * ROUNDS
    assert sorted(v["version"] for v in cat.versions("shared")) == sorted(versions)
    rows = cat.sql("SELECT version, count(*) AS n FROM metrics WHERE model = 'shared' GROUP BY version")
    assert {r["version"]: r["n"] for r in rows} == {v: 4 for v in versions}  # 1 registered + 3 logged
    assert all(Path(table).is_file() for r in results for table in r["tables"])

    # Every event on record: one file per promotion and alias move, each readable.
    promotions = [p for r in results for p in r["promotions"]]
    assert all(status == "promoted" for _, _, status in promotions)
    events = cat.history("shared")
    assert len(events) == len(promotions) + sum(r["aliases"] for r in results)
    assert len(list((root / "models/shared/events").glob("*.yaml"))) == len(events)

    # One holder of the exclusive stage: the version of the last production promotion; the rest archived.
    last = max((e for e in events if e["action"] == "promote" and e["stage"] == "production"), key=lambda e: e["id"])
    stages = {r["version"]: r["stage"] for r in cat.sql("SELECT version, stage FROM versions WHERE model = 'shared'")}
    assert [v for v, s in stages.items() if s == "production"] == [last["version"]]
    assert all(s == "archived" for v, s in stages.items() if v != last["version"])
    # Each writer's alias points at its own last version.
    aliases = {r["alias"]: r["version"] for r in cat.sql("SELECT alias, version FROM aliases")}
    assert aliases == {f"w-{n}": r["versions"][-1] for n, r in zip(names, results)}
    assert cat.validate() == []

    attempted = len(versions) + sum(len(r["tables"]) for r in results) + len(promotions) \
        + sum(r["aliases"] for r in results)
    logged = [t for t in (root / "models/shared/versions").glob("*/metrics/*.parquet") if t.name != "metrics.parquet"]
    found = len(cat.versions("shared")) + len(logged) + len(events)
    assert found == attempted
    add_figure("processes raced on one model", WRITERS)
    add_figure("racing writes (register, log, 2 promotes, alias each)", attempted)
    add_figure("racing writes lost", attempted - found)


@pytest.mark.time_limit(360)
def test_approvers_racing_on_one_request_promote_once(tmp_path):
    root = tmp_path / "catalog"
    Catalog.init(root, user="setup@example.com")
    approvers = [f"a{i}" for i in range(APPROVERS)]
    settings = yaml.safe_load((root / "registry.yaml").read_text())
    settings["policies"] = {"production": {"approvals": 2, "approvers": ["lead"]}}
    settings["roles"] = {"lead": [f"{a}@example.com" for a in approvers]}
    (root / "registry.yaml").write_text(yaml.safe_dump(settings))
    bob = Catalog(root, user="bob@example.com")
    bob.register("gated")
    request = bob.promote("gated", 1, "production")["request"]
    results = _start([[str(root), name, "0", request] for name in approvers])

    statuses = [r["status"] for r in results]
    assert statuses.count("promoted") == 1 and statuses.count("pending") == 1, results
    assert all(r["kind"] == "Conflict" for r in results if r["status"] == "refused"), results
    cat = Catalog(root)
    actions = [e["action"] for e in cat.history("gated")]
    assert sorted(actions) == ["approve", "approve", "promote", "request"]
    assert cat.resolve("gated@production")["version"] == 1 and cat.requests("gated") == []
    assert cat.validate() == []
    add_figure("processes racing to approve one request", APPROVERS)
