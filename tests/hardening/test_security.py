"""Security: safe bounded YAML, names that cannot escape, a query sandbox, inert artifacts, trusted
identity only when configured, and policy enforced in the core for every entry point."""

from __future__ import annotations

import ast
import os
import pickle
import types
from pathlib import Path

import pytest
import yaml

from registry_core import Catalog, RegistryError
from registry_core import catalog as catalog_module
from registry_core.errors import InvalidInput, PolicyRefused
from registry_core.format.yamlio import MAX_BYTES, Loader, load_file, loads

from .checks import run_cli
from .conftest import add_figure
from .corpus import ALICE, BOB, REGISTRY

ROOT = Path(__file__).resolve().parents[2]
MALLORY = "mallory@example.com"


@pytest.fixture
def guarded(tmp_path):
    """A catalog with production gated (one approval by a lead), fraud@1 in production, fraud@2 in staging."""
    root = tmp_path / "catalog"
    Catalog.init(root, user=BOB)
    (root / "registry.yaml").write_text(REGISTRY)
    bob = Catalog(root, user=BOB)
    bob.register("fraud", metrics={"test": {"roc_auc": 0.9}})
    bob.register("fraud", metrics={"test": {"roc_auc": 0.91}})
    Catalog(root, user=ALICE).promote("fraud", 1, "production", force=True, reason="bootstrap")
    bob.promote("fraud", 2, "staging")
    return root


# -- YAML ------------------------------------------------------------------------------------------
def test_yaml_goes_through_a_safe_loader_only():
    assert issubclass(Loader, yaml.SafeLoader) or Loader is getattr(yaml, "CSafeLoader", None)
    for tag in ("!!python/object/apply:os.system ['touch PWNED']", "!!python/name:os.system",
                "!!python/object/new:subprocess.Popen [[touch, PWNED]]", "!!binary aGVsbG8="):
        if "binary" in tag:
            assert loads(f"a: {tag}".encode(), Path("x.yaml")) == {"a": b"hello"}  # data, not code
            continue
        with pytest.raises(InvalidInput, match=r"x\.yaml: invalid YAML"):
            loads(f"a: {tag}".encode(), Path("x.yaml"))
    assert not Path("PWNED").exists()


def test_a_file_over_the_size_limit_is_refused_without_being_read(tmp_path):
    big = tmp_path / "manifest.yaml"
    big.write_bytes(b"a: " + b"x" * MAX_BYTES)
    os.utime(big, (0, big.stat().st_mtime))  # any read would move the access time
    with pytest.raises(InvalidInput, match="larger than"):
        load_file(big)
    assert big.stat().st_atime == 0


def _python_files() -> list[Path]:
    files = [*(ROOT / "registry_core").glob("*.py"), *(ROOT / "dashboard" / "pages").glob("*.py"),
             *(ROOT / "dashboard").glob("*.py")]
    return [f for f in [*files, ROOT / "app.py"] if f.exists()]


# Modules that turn bytes into code or objects. yamlrows.py unpickles what its own worker process
# pickled (safe-loaded YAML trees over a pipe), never a file of the catalog.
LOADERS = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "torch", "skops"}
ALLOWED = {("registry_core/index/yamlrows.py", "pickle")}


def test_no_code_path_unpickles_evaluates_or_runs_catalog_content():
    found = []
    for path in _python_files():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module.split(".")[0]]
            found += [(rel, n) for n in names if n in LOADERS and (rel, n) not in ALLOWED]
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
                if name in ("eval", "exec", "unsafe_load", "full_load") or (owner == "os" and name in (
                        "system", "popen", "execv", "execvp", "spawnv")):
                    found.append((rel, name))
                if name == "load" and owner == "yaml":
                    loader = {k.arg: k.value for k in node.keywords}.get("Loader")
                    if not (isinstance(loader, ast.Name) and loader.id == "Loader" and rel.endswith("yamlio.py")):
                        found.append((rel, "yaml.load without the safe Loader"))
                if any(k.arg == "shell" and getattr(k.value, "value", False) for k in node.keywords):
                    found.append((rel, "shell=True"))
    assert found == []


@pytest.mark.time_limit(300)
def test_artifacts_are_hashed_never_loaded_or_run(tmp_path):
    marker = tmp_path / "RAN"

    class Trap:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps(Trap()))
    script = folder / "run.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    (folder / "__init__.py").write_text(f"open({str(marker)!r}, 'w')\n")
    root = tmp_path / "catalog"
    Catalog.init(root, user=BOB)
    gated = REGISTRY.replace("    approvals: 1\n", "    gates: [{check: artifacts_verified}]\n")
    (root / "registry.yaml").write_text(gated)
    cat = Catalog(root, user=ALICE)
    cat.register("m", artifacts=[folder], metrics={"auc": 0.9})
    for args in (["show", "m@1"], ["verify"], ["resolve", "m@1", "--format", "json"], ["validate"],
                 ["promote", "m", "1", "production"], ["lineage", "m@1"], ["list", "m"]):
        assert run_cli(root, *args, user=ALICE).code == 0, args
    cat.get("m@1")
    assert all(r["ok"] for r in cat.verify())
    assert not marker.exists()


# -- names and paths -------------------------------------------------------------------------------
HOSTILE_NAMES = ["../escape", "a/b", "/abs", "..", ".hidden", "con", "x" * 101, "a\x00b", "caf\u00e9", "", "a b",
                 "-x", "..\\x", "a\nb", "~root", "$HOME"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_refused_before_anything_is_written(guarded, name):
    parent = guarded.parent
    before = sorted(str(p) for p in parent.rglob("*") if ".modelreg" not in p.parts)
    cat = Catalog(guarded, user=ALICE)
    attempts = [
        lambda: cat.register(name),
        lambda: cat.resolve(f"{name}@1"),
        lambda: cat.log_metrics(f"{name}@1", {"a": 1.0}),
        lambda: cat.promote(name, 1, "production", force=True, reason="x"),
        lambda: cat.promote("fraud", 2, name),
        lambda: cat.alias("fraud", 2, name),
        lambda: cat.alias(name, 2, "champion"),
        lambda: cat.approve("fraud", name),
        lambda: cat.rollback(name, "production", reason="x"),
        lambda: cat.versions(name),
        *([lambda: cat.history(name)] if name else []),  # history("") is everyone's history
    ]
    for attempt in attempts:
        with pytest.raises(RegistryError):
            attempt()
    result = run_cli(guarded, "register", "--", name, user=ALICE)
    assert result.code == 1 and result.err.startswith("error: ") and result.err.count("\n") == 1, result
    after = sorted(str(p) for p in parent.rglob("*") if ".modelreg" not in p.parts)
    assert after == before
    add_figure("hostile names refused (x 11 entry points + CLI)", 1)


# -- the query sandbox -------------------------------------------------------------------------------
ESCAPES = [
    "SELECT * FROM read_csv('{secret}')", "SELECT * FROM read_text('{secret}')", "SELECT * FROM '{secret}'",
    "SELECT * FROM glob('/*')", "SELECT * FROM read_parquet('{root}/.modelreg/index/*/versions.parquet')",
    "SELECT * FROM main._versions", "SELECT * FROM main.versions", "SELECT * FROM sniff_csv('{secret}')",
    "SELECT * FROM parquet_metadata('{root}/models/fraud/versions/1/metrics/metrics.parquet')",
    "COPY (SELECT * FROM versions) TO '{out}'", "COPY versions TO '{out}'", "EXPORT DATABASE '{out}'",
    "ATTACH '{out}' AS x", "INSTALL httpfs", "LOAD httpfs", "SET enable_external_access = true",
    "SELECT 1; COPY (SELECT 1) TO '{out}'", "CREATE TABLE t AS SELECT 1", "INSERT INTO versions VALUES (1)",
    "DROP VIEW versions", "PRAGMA enable_profiling", "CALL pragma_version()", "SELECT * FROM duckdb_secrets()",
    "SELECT * FROM read_json_auto('{secret}')", "SELECT * FROM read_blob('{secret}')",
]


@pytest.mark.time_limit(300)
def test_query_cannot_read_write_attach_or_load(guarded, tmp_path, monkeypatch):
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nTOPSECRET\n")
    out = tmp_path / "stolen.csv"
    monkeypatch.chdir(tmp_path)
    listing = sorted(os.listdir(tmp_path))
    cat = Catalog(guarded, user=BOB)
    for sql in ESCAPES:
        with pytest.raises(InvalidInput):
            cat.query(sql.format(secret=secret, root=guarded, out=out))
        result = run_cli(guarded, "query", sql.format(secret=secret, root=guarded, out=out))
        assert result.code == 1 and "TOPSECRET" not in result.out + result.err
    assert sorted(os.listdir(tmp_path)) == listing
    assert len(cat.query("SELECT * FROM versions")) == 2  # the views themselves still answer
    add_figure("query escapes refused", len(ESCAPES))


def test_a_runaway_query_is_stopped(guarded, monkeypatch):
    monkeypatch.setattr(catalog_module, "QUERY_TIMEOUT_S", 1.0)
    with pytest.raises(InvalidInput, match="longer than 1 s"):
        Catalog(guarded).query("SELECT count(*) FROM range(1000000000000) a, versions")


# -- identity in the dashboard ----------------------------------------------------------------------
def _fake_streamlit(headers: dict) -> types.SimpleNamespace:
    return types.SimpleNamespace(user=types.SimpleNamespace(to_dict=dict),
                                 context=types.SimpleNamespace(headers=headers))


def test_the_dashboard_trusts_an_identity_header_only_when_registry_yaml_names_it(monkeypatch):
    from dashboard import identity
    from registry_core.format.settings import parse_settings

    monkeypatch.setenv("MODELREG_USER", "server@example.com")
    forged = {"X-Forwarded-Email": ALICE, "X-Remote-User": ALICE}
    monkeypatch.setattr(identity, "st", _fake_streamlit(forged))
    plain = parse_settings({"format": 1}, "registry.yaml")
    assert identity.resolve_identity(plain).user == "server@example.com"  # no header is trusted by default
    trusting = parse_settings({"format": 1, "auth": {"trusted_header": "X-Forwarded-Email"}}, "registry.yaml")
    assert identity.resolve_identity(trusting).user == ALICE
    monkeypatch.setattr(identity, "st", _fake_streamlit({"X-Remote-User": ALICE}))
    who = identity.resolve_identity(trusting)  # configured but absent: read-only, no fallback to the server's user
    assert who.user is None and not who.can_act


# -- policy --------------------------------------------------------------------------------------------
@pytest.mark.time_limit(300)
def test_policy_is_enforced_by_the_core_for_every_entry_point(guarded):
    bob, mallory = Catalog(guarded, user=BOB), Catalog(guarded, user=MALLORY)
    events = guarded / "models/fraud/events"
    before = sorted(os.listdir(events))
    with pytest.raises(PolicyRefused):
        mallory.promote("fraud", 2, "production", force=True, reason="mine now")
    forced = run_cli(guarded, "promote", "fraud", "2", "production", "--force", "--reason", "x", user=MALLORY)
    assert forced.code == 3 and forced.err.startswith("error: refused"), forced
    assert sorted(os.listdir(events)) == before
    request = bob.promote("fraud", 2, "production")["request"]
    before = sorted(os.listdir(events))
    refused = {
        "approve": lambda: mallory.approve("fraud", request),
        "approve own request": lambda: bob.approve("fraud", request),
        "reject": lambda: mallory.reject("fraud", request),
        "cancel": lambda: mallory.cancel("fraud", request),
        "rollback": lambda: mallory.rollback("fraud", "production", reason="mine now"),
        "alias": lambda: mallory.alias("fraud", 2, "champion"),
    }
    for name, attempt in refused.items():
        with pytest.raises(PolicyRefused):
            attempt()
    for args, user in ((["approve", "fraud", request], MALLORY), (["approve", "fraud", request], BOB),
                       (["reject", "fraud", request], MALLORY), (["cancel", "fraud", request], MALLORY),
                       (["rollback", "fraud", "--reason", "x"], MALLORY),
                       (["alias", "fraud", "2", "champion"], MALLORY)):
        result = run_cli(guarded, *args, user=user)
        assert result.code == 3 and result.err.startswith("error: refused"), (args, result)
    assert sorted(os.listdir(events)) == before  # nothing written by any refused attempt
    add_figure("policy refusals checked (API and CLI)", 2 * len(refused) + 2)


# The dashboard acts only through Catalog methods, which run the same policy code as the CLI.
WRITERS = {"registry_core.store.atomic", "registry_core.lifecycle.registration", "registry_core.store.locking"}
WRITING_NAMES = {"promote", "answer", "rollback", "set_alias", "write_once", "write_replace", "register",
                 "log_metrics", "_write", "_event"}


def test_the_dashboard_has_no_write_path_around_the_core():
    for path in [ROOT / "app.py", *(ROOT / "dashboard" / "pages").glob("*.py"), *(ROOT / "dashboard").glob("*.py")]:
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not {a.name for a in node.names} & WRITERS, path
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("registry_core"):
                assert node.module not in WRITERS, path
                assert not {a.name for a in node.names} & WRITING_NAMES, (path, node.module)
