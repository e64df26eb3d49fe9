"""A long-running process watches the catalog (registry_core/index/watch.py) instead of stat-ing it."""

from __future__ import annotations

import sys
import time

import pytest

from registry_core import Catalog
from registry_core.index import scan, watch

pytest.importorskip("watchdog")


def eventually(predicate, timeout: float = 10.0) -> bool:
    """inotify's events reach the watcher thread a little after the write."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def watched(fraud_builder):
    cat = Catalog(fraud_builder.root)
    assert cat.watch()
    assert eventually(lambda: cat._watcher.ready)
    cat.refresh()
    cat.refresh(full=True)  # settled (the first build's clock tick), then nothing pending
    eventually(lambda: cat._watcher.take() is None, 2.0)
    yield cat
    cat._watcher.stop()


def test_nothing_changed_means_no_stat(watched, monkeypatch):
    calls = []
    monkeypatch.setattr(scan, "ctimes", lambda paths: calls.append(len(paths)) or [])
    first = watched.refresh()
    assert watched.refresh() == first
    assert calls == []


def test_a_new_version_and_an_in_place_rewrite_are_seen(watched, fraud_builder):
    fraud_builder.version("churn", 2)
    assert eventually(lambda: watched.sql("SELECT max(version) AS v FROM versions WHERE model = 'churn'")
                      == [{"v": 2}])
    manifest = fraud_builder.root / "models/fraud-detector/versions/2/manifest.yaml"
    text = manifest.read_text()
    with open(manifest, "r+") as handle:  # in place: its folder does not change, inotify sees the write
        handle.write(text.replace("Velocity features", "Velocity featureZ"))
    query = "SELECT description FROM versions WHERE model = 'fraud-detector' AND version = 2"
    assert eventually(lambda: watched.sql(query) == [{"description": "Velocity featureZ"}])


def test_a_write_through_the_catalog_is_seen_at_once(watched):
    session = watched.as_user("alice@example.com")  # as the dashboard's sessions do
    session.register("brand-new", metrics={"test": {"roc_auc": 0.9}})
    assert [m["model"] for m in watched.models()].count("brand-new") == 1


def test_without_watchdog_reads_check_on_their_own(fraud_builder, monkeypatch):
    monkeypatch.setitem(sys.modules, "watchdog.observers", None)
    assert watch.start(fraud_builder.root) is None
    cat = Catalog(fraud_builder.root)
    assert not cat.watch()
    cat.refresh()
    fraud_builder.version("churn", 2)
    assert cat.sql("SELECT max(version) AS v FROM versions WHERE model = 'churn'") == [{"v": 2}]


def test_paths_map_to_what_must_be_checked(tmp_path):
    watcher = watch.Watcher(tmp_path)
    assert watcher.take() == "catalog"  # the first answer: changes made while setting up are unknown
    assert watcher.take() == "catalog"  # (not set up: reads check on their own)
    watcher._observer = type("Alive", (), {"is_alive": lambda self: True})()
    assert watcher.take() is None
    watcher.changed(str(tmp_path / ".modelreg" / "index" / ".clock"))
    assert watcher.take() is None
    watcher.changed(str(tmp_path / "models" / "a" / "versions" / "3" / "manifest.yaml"))
    watcher.changed(str(tmp_path / "models" / "b" / "events"))
    assert watcher.take() == frozenset({"a", "b"})
    watcher.changed(str(tmp_path / "registry.yaml"))
    assert watcher.take() == "catalog"
    watcher.put_back(frozenset({"c"}))
    assert watcher.take() == frozenset({"c"})


def test_a_process_keeps_few_watchers(tmp_path, monkeypatch):
    """inotify instances are few and shared by every process of the user: the oldest watcher is stopped."""
    monkeypatch.setattr(watch, "_WATCHERS", {})
    watchers = []
    for n in range(watch.MAX_WATCHERS + 1):
        (tmp_path / str(n)).mkdir()
        watchers.append(watch.start(tmp_path / str(n)))
    assert watch.start(tmp_path / "1") is watchers[1]
    assert len(watch._WATCHERS) == watch.MAX_WATCHERS
    assert watchers[0].take() == "catalog" and not watchers[0].ready
    for watcher in watchers:
        watcher.stop()
