"""SPEC 1 and 2: several processes writing the same catalog at once."""

import json
import subprocess
import sys
import textwrap
import time

import yaml

from registry_core import Catalog
from registry_core.format.manifests import check_manifest

WORKER = textwrap.dedent("""
    import sys, time
    from registry_core import Catalog
    root, worker, count, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    cat = Catalog(root, user=f"worker{worker}@example.com")
    while time.time() < start:   # start together
        time.sleep(0.005)
    for i in range(count):
        cat.register("shared", params={"worker": worker, "i": i}, metrics={"test": {"acc": worker + i / 100}})
""")


READER = textwrap.dedent("""
    import json, pathlib, sys
    from registry_core import Catalog
    root, stop = sys.argv[1], pathlib.Path(sys.argv[2])
    cat = Catalog(root, user="reader@example.com")
    errors, reads = [], 0
    while not stop.exists():
        errors += [p for p in cat.problems() if p["severity"] == "error"]
        orphans = cat.sql("SELECT DISTINCT version FROM metrics ANTI JOIN versions USING (model, version)")
        assert orphans == [], orphans
        reads += 1
    print(json.dumps({"errors": errors, "reads": reads}))
""")


def _run_workers(root, workers, count):
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(w), str(count), str(start)],
                              stderr=subprocess.PIPE, text=True) for w in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def test_four_processes_register_ten_versions_each(empty_catalog, tmp_path):
    """... while a fifth process reads: it never sees a half-written file or metrics of an unfinished version."""
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(empty_catalog.root), str(stop)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _run_workers(empty_catalog.root, workers=4, count=10)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["errors"] == [] and seen["reads"] >= 1
    versions_dir = empty_catalog.root / "models/shared/versions"
    folders = sorted(int(p.name) for p in versions_dir.iterdir())
    assert folders == list(range(1, 41))
    seen = set()
    for number in folders:
        manifest = yaml.safe_load((versions_dir / str(number) / "manifest.yaml").read_text())
        assert check_manifest(manifest, "shared", number) == ([], [])
        seen.add((manifest["params"]["worker"], manifest["params"]["i"]))
        assert manifest["created_by"] == f"worker{manifest['params']['worker']}@example.com"
    assert seen == {(w, i) for w in range(4) for i in range(10)}   # nothing lost, nothing doubled
    cat = Catalog(empty_catalog.root)
    assert cat.validate() == []
    rows = cat.sql("SELECT version, count(*) AS n FROM metrics WHERE model = 'shared' GROUP BY version")
    assert sorted(r["version"] for r in rows) == list(range(1, 41)) and {r["n"] for r in rows} == {1}


def test_concurrent_cli_registrations(empty_catalog):
    procs = [subprocess.Popen(["modelreg", "--catalog", str(empty_catalog.root), "--user", f"u{i}",
                               "register", "cli-model", "--metric", f"acc={i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    assert sorted(outputs) == [f"cli-model@{n}" for n in range(1, 5)]


PROMOTER = textwrap.dedent("""
    import sys, time
    from registry_core import Catalog, RegistryError
    root, version, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    cat = Catalog(root, user="lead@example.com")
    while time.time() < start:
        time.sleep(0.005)
    cat.promote("m", version, "production", reason=f"race {version}")
""")


def test_concurrent_promotions_leave_one_exclusive_holder(empty_catalog):
    for _ in range(4):
        empty_catalog.register("m")
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", PROMOTER, str(empty_catalog.root), str(v), str(start)],
                              stderr=subprocess.PIPE, text=True) for v in range(1, 5)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    cat = Catalog(empty_catalog.root)
    stages = cat.sql("SELECT stage, version FROM stages WHERE model = 'm' ORDER BY version")
    assert [s["stage"] for s in stages].count("production") == 1
    assert [s["stage"] for s in stages].count("archived") == 3
    last = cat.history("m")[0]
    assert cat.resolve("m@production")["version"] == last["version"]
