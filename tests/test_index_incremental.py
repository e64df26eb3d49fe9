"""The incremental index answers exactly what a fresh build answers, whatever happened to the files.

Property: after any sequence of file changes made by hand (versions added, manifests edited in place or
broken, metric tables added, rewritten or deleted, events added and removed, registry.yaml and model.yaml
edited, leftovers of interrupted writes), every view of the index refreshed step by step equals the same
view of an index built from scratch on a copy of the catalog.  Steps follow each other within the same
clock tick, so edits the file system cannot tell apart by time are exercised too.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from builders import ALICE, BOB, CatalogBuilder, fraud_catalog
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from registry_core import Catalog
from registry_core.index import generation as index
from registry_core.index import scan, yamlrows

VIEWS = ["models", "versions", "metrics", "headline", "params", "lineage", "events", "stages", "requests",
         "aliases", "_spans", "_events", "_versions", "_lineage", "_requests", "_model_files", "_problems"]
MODELS = ["fraud-detector", "churn"]


def snapshot(root: Path, cat: Catalog | None = None) -> dict[str, list]:
    """Every view, sorted; problem messages that quote an absolute path quote it from the catalog root.

    With ``cat`` (just refreshed by the caller), its generation is read as it is, without a check."""
    cat = cat or Catalog(root)
    with cat.snapshot(check=False):
        views = {view: cat.sql(f"SELECT * FROM {view} ORDER BY ALL") for view in VIEWS}
    for row in views["_problems"]:
        row["message"] = row["message"].replace(str(root), "<root>")
    return views


def fresh(root: Path, where: Path) -> dict[str, list]:
    """The views of an index built from nothing, on a copy of the catalog without its .modelreg/."""
    copy = where / "fresh"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns(".modelreg"))
    return snapshot(copy)


def metric_rows(seed: int, steps: bool) -> list[dict]:
    rows = [{"metric": "roc_auc", "value": 0.8 + seed / 1000, "dataset": "test"},
            {"metric": "roc_auc", "value": 0.79 + seed / 1000, "dataset": "validation"},
            {"metric": "recall", "value": 0.7, "dataset": "test", "slice": "region=eu"}]
    if steps:
        rows += [{"metric": "loss", "value": 1 / (s + seed), "dataset": "train", "step": s} for s in range(1, 4)]
    return rows


def versions_of(b: CatalogBuilder, model: str) -> list[int]:
    folder = b.root / "models" / model / "versions"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.exists() else []


def apply(b: CatalogBuilder, op: str, model: str, n: int) -> None:
    """One change made by hand; ``n`` picks among existing things and varies the content."""
    root = b.root
    existing = versions_of(b, model)
    pick = existing[n % len(existing)] if existing else None
    vdir = root / "models" / model / "versions" / str(pick)
    if op == "add_version":
        version = (existing[-1] if existing else 0) + 1
        b.version(model, version, f"2026-11-{1 + n % 27:02d}T10:00:00Z", created_by=BOB,
                  params={"lr": n / 100, "depth": n % 7, "opt": ["adam", "sgd"][n % 2]},
                  lineage={"datasets": [{"name": "tx", "version": str(n % 3), "role": "train"}],
                           "parents": [f"{model}@{pick}"] if pick else []},
                  metrics=metric_rows(n, steps=bool(n % 2)))
    elif op == "edit_manifest_same_size" and pick and (vdir / "manifest.yaml").exists():
        path = vdir / "manifest.yaml"
        text = path.read_text()
        swapped = text.replace("adam", "Adam") if "adam" in text else text.replace("sgd", "Sgd")
        path.write_text(swapped)  # in place, same size
    elif op == "edit_manifest" and pick and (vdir / "manifest.yaml").exists():
        path = vdir / "manifest.yaml"
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict):  # broken by an earlier step: repaired by hand
            data = {"model": model, "version": pick, "created_at": "2026-11-02T10:00:00Z"}
        data["description"] = f"edited {n}"
        data.setdefault("params", {})["extra"] = n
        path.write_text(yaml.safe_dump(data))
    elif op == "break_manifest" and pick and (vdir / "manifest.yaml").exists():
        (vdir / "manifest.yaml").write_text("model: [unterminated\n")
    elif op == "remove_manifest" and pick:
        (vdir / "manifest.yaml").unlink(missing_ok=True)
    elif op == "add_metrics" and pick:
        b.metrics(model, pick, metric_rows(n + 50, steps=True), name=f"extra-{n}.parquet")
    elif op == "rewrite_metrics" and pick and (vdir / "metrics" / "metrics.parquet").exists():
        b.metrics(model, pick, metric_rows(n + 7, steps=False))
    elif op == "odd_metrics" and pick and (vdir / "metrics").exists():
        table = pa.table({"metric": ["roc_auc"], "value": [n], "dataset": ["test"]})  # int values, fewer columns
        pq.write_table(table, vdir / "metrics" / f"odd-{n}.parquet")
    elif op == "broken_metrics" and pick:
        (vdir / "metrics").mkdir(parents=True, exist_ok=True)
        (vdir / "metrics" / f"bad-{n}.parquet").write_bytes(b"PAR1 not really")
    elif op == "remove_metrics" and pick and (vdir / "metrics").exists():
        for table in sorted((vdir / "metrics").iterdir())[:1]:
            table.unlink()
    elif op == "promote" and pick:
        stage = ["staging", "production", "archived"][n % 3]
        b.event(model, "promote", f"2026-11-{1 + n % 27:02d}T12:{n % 60:02d}:00Z", ALICE, version=pick, stage=stage,
                reason=f"step {n}")
    elif op == "alias" and pick:
        b.event(model, "alias", f"2026-11-{1 + n % 27:02d}T13:00:00Z", ALICE, version=pick, alias="champion")
    elif op == "remove_event":
        events = sorted((root / "models" / model / "events").glob("*.yaml"))
        if events:
            events[n % len(events)].unlink()
    elif op == "edit_model_yaml":
        b.model(model, description=f"described {n}", owner=ALICE,
                policies={"staging": {"approvals": n % 2}} if n % 3 else None)
    elif op == "edit_registry":
        b.registry({"format": 1, "stages": [{"name": "staging", "exclusive": bool(n % 2)},
                                             {"name": "production", "exclusive": True}, {"name": "archived"}]})
    elif op == "pending_version":
        (root / "models" / model / "versions" / str((existing[-1] if existing else 0) + 1) / "metrics").mkdir(
            parents=True, exist_ok=True)
    elif op == "leftover":
        target = vdir if pick else root / "models" / model
        if target.exists():
            (target / f".tmp-manifest.yaml.{n}").write_text("half")
    elif op == "remove_version" and pick:
        shutil.rmtree(vdir)
    elif op == "new_model":
        b.version(f"extra-{n % 3}", 1, metrics=metric_rows(n, steps=False))


OPS = ["add_version", "edit_manifest_same_size", "edit_manifest", "break_manifest", "remove_manifest",
       "add_metrics", "rewrite_metrics", "odd_metrics", "broken_metrics", "remove_metrics", "promote", "alias",
       "remove_event", "edit_model_yaml", "edit_registry", "pending_version", "leftover", "remove_version",
       "new_model"]
#: edits that rewrite a write-once file in place (its folder's ctime does not move)
IN_PLACE = {"edit_manifest_same_size", "edit_manifest", "break_manifest", "rewrite_metrics"}
STEPS = st.lists(st.tuples(st.sampled_from(OPS), st.sampled_from(MODELS), st.integers(0, 200)),
                 min_size=1, max_size=8)


@pytest.mark.slow
# no shrinking (each example builds indexes: shrinking would take minutes); the failing steps are in the message
@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "20")), deadline=None, database=None,
          phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, compare_every=st.sampled_from([1, 3]), new_process=st.booleans(),
       check=st.sampled_from(["full", "catalog", "models"]))
def test_incremental_equals_fresh_build(steps, compare_every, new_process, check):
    """Whatever the scope of the checks, what they guarantee together is a fresh build's answer.

    ``full``: one full check.  ``catalog``: a catalog-wide check (folders only), then a check of each
    model whose write-once files were rewritten in place (the catalog check alone does not see those,
    and must not lose them either).  ``models``: one model-scoped check per model, one after the other.
    """
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        b = fraud_catalog(where / "cat")
        Catalog(b.root).refresh()
        edited: set[str] = set()
        for i, (op, model, n) in enumerate(steps, 1):
            apply(b, op, model, n)
            if op in IN_PLACE:
                edited.add(model)
            elif op == "new_model":  # (a second time: version 1 of that model rewritten in place)
                edited.add(f"extra-{n % 3}")
            if i % compare_every == 0 or i == len(steps):
                if new_process:
                    index._MEMOS.clear()  # what a new process meets: the file state read back from disk
                cat = Catalog(b.root)
                if check == "full":
                    cat.refresh(full=True)
                elif check == "catalog":
                    cat.refresh()
                    for name in sorted(edited):
                        cat.refresh([name])
                else:
                    for name in sorted(p.name for p in (b.root / "models").iterdir()):
                        cat.refresh([name])
                edited.clear()
                assert snapshot(b.root, cat) == fresh(b.root, where), \
                    f"after {steps[:i]} (new process: {new_process}, check: {check})"


def test_compaction_keeps_answers(tmp_path, monkeypatch):
    """With at most two batches, every refresh merges; the answers stay those of a fresh build."""
    monkeypatch.setattr(index, "MAX_BATCHES", 2)
    b = fraud_catalog(tmp_path / "cat")
    for n in range(6):
        apply(b, "add_version", MODELS[n % 2], n)
        apply(b, "add_metrics", MODELS[0], n)
        apply(b, "edit_manifest", MODELS[1], n)  # in place: seen by a full check
        Catalog(b.root).refresh(full=True)
    generation = Catalog(b.root).refresh(full=True)
    assert len({s.split("-")[1] for s in generation.tables["versions"]}) <= 3
    assert snapshot(b.root) == fresh(b.root, tmp_path)


def test_parallel_yaml_workers_read_the_same(tmp_path, monkeypatch):
    """The worker processes of a big first build give the rows a single process gives."""
    b = fraud_catalog(tmp_path / "cat")
    for n in range(8):
        apply(b, "add_version", MODELS[n % 2], n)
        apply(b, "promote", MODELS[n % 2], n)
    apply(b, "break_manifest", MODELS[0], 3)
    expected = fresh(b.root, tmp_path)
    monkeypatch.setattr(yamlrows, "PARALLEL_FROM", 1)
    assert snapshot(b.root) == expected


def _yaml_infos(root: Path) -> list[scan.FileInfo]:
    return [info for listing in scan.scan(root).listings.values() for info in listing.files
            if info.kind in yamlrows.YAML_KINDS]


def _read_by_workers(root: Path, infos: list[scan.FileInfo], monkeypatch) -> yamlrows.Result:
    monkeypatch.setattr(yamlrows, "PARALLEL_FROM", 1)
    monkeypatch.setattr(yamlrows.os, "cpu_count", lambda: 3)
    feed = yamlrows.Feed(root)
    for info in infos:  # one at a time, as a walk finds them
        feed.add([info])
    assert len(feed.workers) == 2
    return feed.finish(infos)()


def test_yaml_workers_read_their_share_themselves(fraud_builder, monkeypatch):
    """A worker that fails has its share read by the caller, which would hide a broken worker: here
    the caller must read nothing."""
    infos = _yaml_infos(fraud_builder.root)
    expected = yamlrows._read_yaml_chunk(str(fraud_builder.root), infos)
    read_here: list = []
    monkeypatch.setattr(yamlrows, "_read_yaml_chunk", lambda *args: read_here.append(args))
    tables, problems, ok = _read_by_workers(fraud_builder.root, infos, monkeypatch)
    assert read_here == []
    assert tables["versions"].num_rows == sum(info.kind == "manifest" for info in infos) > 0
    assert (problems, ok) == (expected[1], expected[2])
    for name, table in expected[0].items():
        assert tables[name].sort_by("_source").equals(table.sort_by("_source"))


def test_a_failed_yaml_worker_has_its_files_read_by_the_caller(fraud_builder, monkeypatch):
    infos = _yaml_infos(fraud_builder.root)
    expected = yamlrows._read_yaml_chunk(str(fraud_builder.root), infos)
    monkeypatch.setattr(yamlrows, "_WORKER", "import sys; sys.exit(3)")
    tables, problems, ok = _read_by_workers(fraud_builder.root, infos, monkeypatch)
    assert (problems, ok) == (expected[1], expected[2])
    assert tables["events"].num_rows == expected[0]["events"].num_rows > 0


def test_a_feed_asked_for_other_files_reads_them_itself(fraud_builder, monkeypatch):
    monkeypatch.setattr(yamlrows, "PARALLEL_FROM", 1)
    monkeypatch.setattr(yamlrows.os, "cpu_count", lambda: 2)
    infos = _yaml_infos(fraud_builder.root)
    feed = yamlrows.Feed(fraud_builder.root)
    feed.add(infos)
    workers = feed.workers
    _, _, ok = feed.finish(infos[:3])()
    assert set(ok) == {info.path for info in infos[:3]}
    assert feed.workers == [] and all(worker.proc.returncode is not None for worker in workers)


def test_a_yaml_worker_does_not_import_pandas(fraud_builder):
    """pyarrow imports pandas (~180 ms) on its first conversion of Python objects unless told not to."""
    infos = [list(info) for info in _yaml_infos(fraud_builder.root) if info.kind == "manifest"]
    probe = "; import sys; sys.stderr.write(repr(sorted(m for m in sys.modules if m.split('.')[0] == 'pandas')))"
    lines = [json.dumps(str(fraud_builder.root)), json.dumps(infos[:2]), json.dumps(infos[2:])]
    done = subprocess.run([sys.executable, "-c", yamlrows._WORKER + probe], capture_output=True, check=True,
                          input="\n".join(lines).encode() + b"\n")
    assert done.stderr.decode() == "[]"
    assert pickle.loads(done.stdout)[0]["versions"].num_rows == len(infos)


def test_nothing_changed_writes_nothing(fraud_builder):
    Catalog(fraud_builder.root).refresh()
    # files changed in the clock tick of that build are untrusted and read once more...
    settled = Catalog(fraud_builder.root).refresh()
    # ...after which an open that finds nothing changed keeps the generation
    assert Catalog(fraud_builder.root).refresh().folder == settled.folder


def test_only_changed_files_are_read(fraud_builder, monkeypatch):
    """A new version re-reads its own files and none of the others."""
    Catalog(fraud_builder.root).refresh()
    Catalog(fraud_builder.root).refresh()  # settles files recorded in the clock tick of the first build
    read: list[str] = []
    original = yamlrows.read_manifest

    def spy(root, info, rows, problems):
        read.append(info.path)
        return original(root, info, rows, problems)

    monkeypatch.setattr(yamlrows, "read_manifest", spy)
    apply(fraud_builder, "add_version", "fraud-detector", 5)
    Catalog(fraud_builder.root).refresh()
    assert read == ["models/fraud-detector/versions/4/manifest.yaml"]


def test_a_reader_keeps_its_generation_while_others_rebuild(fraud_builder):
    """Generations are immutable: an open reader's answers stay whole while new generations appear."""
    reader = Catalog(fraud_builder.root)
    with reader.snapshot() as generation:
        before = reader.sql("SELECT count(*) AS n FROM versions")[0]["n"]
        for n in range(3):
            apply(fraud_builder, "add_version", "fraud-detector", n)
            Catalog(fraud_builder.root).refresh()
        assert generation.folder.exists()
        assert reader.sql("SELECT count(*) AS n FROM versions")[0]["n"] == before
    assert reader.sql("SELECT count(*) AS n FROM versions")[0]["n"] == before + 3


@pytest.mark.parametrize("damage", ["delete_cache", "delete_generation", "garbage_current", "garbage_state"])
def test_a_damaged_or_missing_cache_is_rebuilt(fraud_builder, damage):
    Catalog(fraud_builder.root).refresh()
    expected = snapshot(fraud_builder.root)
    base = fraud_builder.root / ".modelreg" / "index"
    current = base / (base / "CURRENT").read_text().strip()
    if damage == "delete_cache":
        shutil.rmtree(fraud_builder.root / ".modelreg")
    elif damage == "delete_generation":
        shutil.rmtree(current)
    elif damage == "garbage_current":
        (base / "CURRENT").write_text("../../../etc")
    else:
        (current / "files.arrow").write_bytes(b"not arrow")
        index._MEMOS.clear()  # what a new process sees
    assert snapshot(fraud_builder.root) == expected


def test_a_previous_generation_collected_mid_build_means_a_full_build(fraud_builder, monkeypatch):
    """Another process may remove an old generation while this one links segments out of it."""
    Catalog(fraud_builder.root).refresh()
    expected_before = snapshot(fraud_builder.root)
    apply(fraud_builder, "add_version", "fraud-detector", 1)
    calls = []

    def vanished(src, dst):
        calls.append(src)
        raise FileNotFoundError(src)

    with monkeypatch.context() as patch:
        patch.setattr(index.os, "link", vanished)
        generation = Catalog(fraud_builder.root).refresh()
    assert calls and generation.folder.exists()
    after = snapshot(fraud_builder.root)
    assert after == fresh(fraud_builder.root, fraud_builder.root.parent)
    assert len(after["versions"]) == len(expected_before["versions"]) + 1


FAULT_POINTS = ["_write_batches", "_compact", "_derive", "save"]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, fault_at=st.integers(0, 7), point=st.sampled_from(FAULT_POINTS),
       fault=st.sampled_from([OSError(28, "No space left on device"), KeyboardInterrupt()]))
def test_a_refresh_that_fails_half_way_leaves_the_next_one_correct(steps, fault_at, point, fault):
    """A refresh interrupted after it merged batches (a full disk, Ctrl-C in a notebook) must not
    leave this process's last good state changed: the next refresh in the same process still answers
    what a fresh build answers.  With at most two batches every refresh compacts."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        where = Path(tmp)
        patch.setattr(index, "MAX_BATCHES", 2)
        b = fraud_catalog(where / "cat")
        Catalog(b.root).refresh(full=True)
        for i, (op, model, n) in enumerate(steps):
            apply(b, op, model, n)
            if i == fault_at % len(steps):
                owner = index._State if point == "save" else index._Build
                real = getattr(owner, point)

                def failing(*args, _real=real, **kwargs):
                    if point in ("_compact", "_write_batches"):
                        _real(*args, **kwargs)  # the records are rewritten, then it fails
                    raise fault

                with patch.context() as inner:
                    inner.setattr(owner, point, failing)
                    with contextlib.suppress(type(fault)):  # (a step that changed nothing builds nothing)
                        Catalog(b.root).refresh(full=True)
            Catalog(b.root).refresh(full=True)
        assert snapshot(b.root) == fresh(b.root, where), f"{steps}, {point} failed at step {fault_at}"
