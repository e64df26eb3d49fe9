"""The fast paths of the index build (libyaml hooks, YAML worker processes) against the plain path (#17).

``MODELREG_PLAIN=1`` is the reference: a generated catalog big enough to start the YAML workers, with
YAML the lean builder handles and YAML it hands back to PyYAML (anchors, merge keys, tags, broken
files), must index to the same views either way.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from unittest import mock

from builders import ALICE, BOB, CatalogBuilder

from registry_core import Catalog
from registry_core.format import fastpaths, yamlio
from registry_core.index import yamlrows

VIEWS = ["models", "versions", "metrics", "headline", "params", "lineage", "events", "stages", "requests",
         "aliases", "_model_files", "_problems"]
ODD_MANIFESTS = [
    "model: {m}\nversion: {v}\ncreated_at: 2026-10-01T10:00:00Z\nparams: &p {{lr: 0.1, depth: 3}}\n"
    "tags: {{copy: *p}}\n",
    "model: {m}\nversion: {v}\ncreated_at: 2026-10-01T10:00:00Z\nparams:\n  <<: {{lr: 0.2}}\n  depth: 4\n",
    "model: {m}\nversion: {v}\ncreated_at: 2026-10-01 10:00:00\nparams: {{x: !!str 12, y: 1e3, z: null, w: yes}}\n",
    "model: {m}\nversion: {v}\ncreated_at: 2026-10-01T10:00:00Z\nparams: [unclosed\n",
    "model: {m}\nversion: {v}\ncreated_at: 2026-10-01T10:00:00Z\ndescription: \"caf\\xe9 \\u2603\"\n",
]


def generated(root: Path, versions: int = 1600) -> Path:
    """Two models, ``versions`` versions, events every few versions: ~1,800 YAML files (the workers start)."""
    rng = random.Random(17)
    b = CatalogBuilder(root)
    for model in ("alpha", "beta"):
        b.model(model, description=f"the {model} model", owner=ALICE)
    for n in range(1, versions + 1):
        model, version = ("alpha", "beta")[n % 2], n // 2 + 1
        if n % 50 == 7:
            odd = ODD_MANIFESTS[(n // 50) % len(ODD_MANIFESTS)]
            b.write_yaml(f"models/{model}/versions/{version}/manifest.yaml", odd.format(m=model, v=version))
            continue
        b.version(model, version, f"2026-10-{1 + n % 28:02d}T10:00:00Z", created_by=BOB,
                  params={"lr": rng.random(), "layers": rng.randint(1, 9), "name": f"run-{n}", "on": n % 3 == 0},
                  lineage={"datasets": [{"name": "tx", "version": f"2026-{1 + n % 9:02d}"}]},
                  metrics=[{"metric": "roc_auc", "value": rng.random(), "dataset": "test"}] if n % 10 == 0 else None)
        if n % 9 == 0:
            b.event(model, "promote", f"2026-11-{1 + n % 28:02d}T11:00:00Z", ALICE, version=version,
                    stage="staging")
    return root


def views(root: Path) -> dict[str, list]:
    cat = Catalog(root)
    with cat.snapshot():
        out = {view: cat.sql(f"SELECT * FROM {view} ORDER BY ALL") for view in VIEWS}
    for row in out["_problems"]:
        row["message"] = row["message"].replace(str(root), "<root>")
    return out


def test_the_switch_reads_the_environment(monkeypatch):
    monkeypatch.delenv(fastpaths.ENV, raising=False)
    assert fastpaths.enabled()
    for value in ("1", "true", "YES", "on"):
        monkeypatch.setenv(fastpaths.ENV, value)
        assert not fastpaths.enabled()
    monkeypatch.setenv(fastpaths.ENV, "0")
    assert fastpaths.enabled()


def test_fast_and_plain_builds_index_the_same_catalog_alike(tmp_path, monkeypatch):
    fast_root = generated(tmp_path / "fast" / "cat")
    plain_root = tmp_path / "plain" / "cat"
    shutil.copytree(fast_root, plain_root)
    workers = []
    original = yamlrows._Worker.__init__

    def counting(self, *args, **kwargs):
        workers.append(self)
        original(self, *args, **kwargs)

    with mock.patch.object(yamlrows._Worker, "__init__", counting), \
            mock.patch.object(yamlio, "_fast_load", wraps=yamlio._fast_load) as lean:
        monkeypatch.delenv(fastpaths.ENV, raising=False)
        fast = views(fast_root)
        assert workers and lean.called          # the fast paths ran
        workers.clear()
        lean.reset_mock()
        monkeypatch.setenv(fastpaths.ENV, "1")
        plain = views(plain_root)
        assert not workers and not lean.called  # ... and here they did not
    assert len(fast["versions"]) > 1500 and fast["_problems"]
    for view in VIEWS:
        assert fast[view] == plain[view], view
