"""A corpus of broken and hostile catalogs, built by code.

``build_base`` writes a healthy catalog with the real writer (three models: ``fraud`` and ``churn`` that
every case leaves alone, and ``victim`` whose files the cases break).  Each :class:`Case` then damages a
copy in one way and says which file ``validate`` (or ``verify``) must name and with what problem.  Next
to every catalog sits ``outside/`` with a secret file: cases point links and artifact paths at it, and the
checks assert that its content never shows and that it is never read (its access time stays put).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from registry_core import Catalog

ALICE, BOB = "alice@example.com", "bob@example.com"
SECRET = "TOPSECRET-7c1e9a5b-do-not-leak"
SECRET_FILE = "secret.txt"
VICTIM_V2 = "models/victim/versions/2"
MANIFEST = f"{VICTIM_V2}/manifest.yaml"
METRICS = f"{VICTIM_V2}/metrics"
EVENTS = "models/victim/events"

REGISTRY = """\
format: 1
name: Hardening corpus
stages:
  - name: staging
  - name: production
    exclusive: true
  - name: archived
metrics:
  roc_auc: {goal: max}
  log_loss: {goal: min}
policies:
  production:
    approvals: 1
    approvers: [lead]
aliases:
  champion: {setters: [lead]}
roles:
  lead: [alice@example.com]
  data-scientist: [bob@example.com]
auth:
  trusted_header: X-Forwarded-Email
"""

# What every case must leave intact: (reference, version it resolves to).
INTACT = {"fraud@production": 2, "fraud@staging": 3, "fraud@champion": 2, "fraud@1": 1, "churn@latest": 1}
INTACT_VERSIONS = {"fraud": [1, 2, 3], "churn": [1]}


def build_base(root: Path, scratch: Path) -> None:
    """A healthy catalog written through the real API (the index is built too, so cases update it)."""
    Catalog.init(root, name="Hardening corpus", user=BOB)
    (root / "registry.yaml").write_text(REGISTRY)
    bob, alice = Catalog(root, user=BOB), Catalog(root, user=ALICE)
    scratch.mkdir(parents=True, exist_ok=True)
    curve = [{"metric": "log_loss", "value": 1.0 / step, "dataset": "train", "step": step} for step in range(1, 6)]
    for version, auc in ((1, 0.85), (2, 0.9), (3, 0.88)):
        weights = scratch / f"fraud-{version}.bin"
        weights.write_bytes(f"weights of fraud v{version}".encode())
        bob.register("fraud", params={"lr": 0.1 * version, "depth": 4 + version},
                     metrics=[{"metric": "roc_auc", "value": auc, "dataset": "test"}, *curve],
                     artifacts=[weights], datasets=["train=transactions@2026-10"],
                     parents=[f"fraud@{version - 1}"] if version > 1 else None, description=f"fraud v{version}")
    bob.promote("fraud", 1, "staging")
    alice.approve("fraud", bob.promote("fraud", 1, "production")["request"])
    bob.promote("fraud", 2, "staging")
    alice.approve("fraud", bob.promote("fraud", 2, "production", reason="better")["request"])
    bob.promote("fraud", 3, "staging")
    bob.promote("fraud", 3, "production", reason="pending on purpose")
    alice.alias("fraud", 2, "champion")
    bob.register("churn", params={"C": 1.0}, metrics={"test": {"roc_auc": 0.7}})
    (root / "models/churn/model.yaml").write_text("name: churn\ndescription: Who leaves\nowner: bob@example.com\n")
    for version in (1, 2):
        weights = scratch / f"victim-{version}.bin"
        weights.write_bytes(f"weights of victim v{version}".encode())
        bob.register("victim", params={"n": version}, metrics={"test": {"roc_auc": 0.6 + version / 10}},
                     artifacts=[weights], description=f"victim v{version}")
    (root / "models/victim/model.yaml").write_text("name: victim\ndescription: Broken in every way\n")
    bob.promote("victim", 1, "staging")
    Catalog(root).refresh()


# -- small writers used by the cases ---------------------------------------------------------------
def event_id(moment: dt.datetime | None = None) -> str:
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(4)


def _event_text(ident: str, body: str) -> str:
    return f"id: {ident}\nat: {dt.datetime.now(dt.UTC).isoformat()}\nby: mallory@example.com\n{body}"


def add_event(root: Path, body: str, ident: str | None = None, name: str | None = None) -> str:
    """Write an event file to victim's events; ``body`` is the YAML after id/at/by."""
    ident = ident or event_id()
    (root / EVENTS / f"{name or ident}.yaml").write_text(_event_text(ident, body))
    return f"{EVENTS}/{name or ident}.yaml"


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def good_table() -> pa.Table:
    return pa.table({"metric": ["recall"], "value": [0.5], "dataset": ["test"]})


def _edit(rel: str, change: Callable[[str], str]) -> Callable[[Path, Path], None]:
    def build(root: Path, outside: Path) -> None:
        path = root / rel
        path.write_text(change(path.read_text()))
    return build


def _write(rel: str, data: bytes | str | Callable[[Path, Path], bytes | str]) -> Callable[[Path, Path], None]:
    def build(root: Path, outside: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        content = data(root, outside) if callable(data) else data
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
    return build


def _link(rel: str, target: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    def build(root: Path, outside: Path) -> None:
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target(root, outside))
    return build


def _both(*steps: Callable[[Path, Path], None]) -> Callable[[Path, Path], None]:
    def build(root: Path, outside: Path) -> None:
        for step in steps:
            step(root, outside)
    return build


def _secret(root: Path, outside: Path) -> Path:
    return outside / SECRET_FILE


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
PYTHON_TAG = "!!python/object/apply:os.system ['touch PWNED']"
NOT_UTF8 = b"model: victim\nversion: 2\ncreated_at: 2026-10-01T00:00:00Z\ndescription: caf\xe9 \xff\xfe\n"
HUGE = "description: '" + "x" * 1_100_000 + "'\n"
DEEP = "[" * 100_000 + "]" * 100_000


def _skewed_event(root: Path, outside: Path) -> None:
    ident = event_id()
    (root / EVENTS / f"{ident}.yaml").write_text(
        f"id: {ident}\nat: 1999-01-01T00:00:00Z\nby: bob@example.com\naction: promote\nversion: 2\nstage: staging\n")


def _manifest_without(key: str) -> Callable[[str], str]:
    return lambda text: "\n".join(line for line in text.splitlines() if not line.startswith(f"{key}:")) + "\n"


@dataclass(frozen=True)
class Case:
    """One way to break a catalog, and the problem it must produce."""

    id: str
    kind: str  # registry, model, manifest, artifact, metrics, event, structure
    build: Callable[[Path, Path], None]
    path: str  # the problem's path must contain this
    message: str  # a regular expression the problem's message must match
    severity: str = "error"
    via: str = "validate"  # or "verify"


CASES: list[Case] = [
    # registry.yaml
    Case("registry-malformed-yaml", "registry", _write("registry.yaml", "format: 1\nstages: [staging, {name: x\n"),
         "registry.yaml", r"invalid YAML"),
    Case("registry-truncated", "registry", _edit("registry.yaml", lambda t: t[: t.index("{goal: max}") + 7]),
         "registry.yaml", r"invalid YAML"),
    Case("registry-wrong-type", "registry", _write("registry.yaml", "format: 1\nstages: production\n"),
         "registry.yaml", r"'stages' must be a non-empty list"),
    Case("registry-not-a-mapping", "registry", _write("registry.yaml", "- format\n- 1\n"),
         "registry.yaml", r"expected a mapping"),
    Case("registry-unknown-key", "registry", _edit("registry.yaml", lambda t: t + "colour: blue\n"),
         "registry.yaml", r"unknown key 'colour'", "warning"),
    Case("registry-unknown-gate-key", "registry",
         _edit("registry.yaml", lambda t: t.replace("    approvals: 1\n",
                                                    "    approvals: 1\n    gates: [{metric: roc_auc, minimum: 1}]\n")),
         "registry.yaml", r"unknown gate key"),
    Case("registry-future-format", "registry", _edit("registry.yaml", lambda t: t.replace("format: 1", "format: 9")),
         "registry.yaml", r"unsupported format"),
    Case("registry-python-tag", "registry", _edit("registry.yaml", lambda t: t.replace(
        "name: Hardening corpus", f"name: {PYTHON_TAG}")), "registry.yaml", r"constructor"),
    Case("registry-alias-bomb", "registry", _write("registry.yaml", "format: 1\n" + ALIAS_BOMB),
         "registry.yaml", r"alias bomb"),
    Case("registry-huge", "registry", _write("registry.yaml", "format: 1\n" + HUGE), "registry.yaml", r"larger than"),
    Case("registry-not-utf8", "registry", _write("registry.yaml", b"format: 1\nname: \xff\xfe\n"),
         "registry.yaml", r"not UTF-8"),
    Case("registry-symlink-outside", "registry", _link("registry.yaml", _secret), "registry.yaml", r"symbolic link"),
    # model.yaml
    Case("model-not-a-mapping", "model", _write("models/victim/model.yaml", "- a\n- b\n"),
         "models/victim/model.yaml", r"expected a mapping"),
    Case("model-name-mismatch", "model", _write("models/victim/model.yaml", "name: other\n"),
         "models/victim/model.yaml", r"does not match its folder"),
    Case("model-truncated", "model", _write("models/victim/model.yaml", "name: victim\ndescription: \"unterminat"),
         "models/victim/model.yaml", r"invalid YAML"),
    Case("model-unknown-key", "model", _write("models/victim/model.yaml", "name: victim\ncolour: red\n"),
         "models/victim/model.yaml", r"unknown key 'colour'", "warning"),
    Case("model-bad-policy", "model",
         _write("models/victim/model.yaml", "name: victim\npolicies:\n  production: {approvals: -1}\n"),
         "models/victim/model.yaml", r"approvals must be a non-negative integer"),
    # manifest.yaml
    Case("manifest-missing-required", "manifest", _edit(MANIFEST, _manifest_without("created_at")),
         MANIFEST, r"missing required key 'created_at'"),
    Case("manifest-wrong-types", "manifest",
         _edit(MANIFEST, lambda t: t.replace("params:", "params: [1, 2]\nx_params:")),
         MANIFEST, r"'params' must be a mapping"),
    Case("manifest-version-mismatch", "manifest", _edit(MANIFEST, lambda t: t.replace("version: 2", "version: 7")),
         MANIFEST, r"does not match its folder"),
    Case("manifest-model-mismatch", "manifest", _edit(MANIFEST, lambda t: t.replace("model: victim", "model: fraud")),
         MANIFEST, r"does not match its folder"),
    Case("manifest-truncated", "manifest", _edit(MANIFEST, lambda t: t[: t.index("artifacts:") + 30]),
         MANIFEST, r"invalid YAML|must be|expected|missing"),
    Case("manifest-empty", "manifest", _write(MANIFEST, ""), MANIFEST, r"expected a mapping"),
    Case("manifest-not-utf8", "manifest", _write(MANIFEST, NOT_UTF8), MANIFEST, r"not UTF-8"),
    Case("manifest-python-tag", "manifest", _edit(MANIFEST, lambda t: t.replace(
        "description: victim v2", "description: !!python/object/new:subprocess.Popen [[touch, PWNED]]")),
         MANIFEST, r"constructor"),
    Case("manifest-alias-bomb", "manifest", _write(MANIFEST, ALIAS_BOMB), MANIFEST, r"alias bomb"),
    Case("manifest-huge", "manifest", _write(MANIFEST, HUGE), MANIFEST, r"larger than"),
    Case("manifest-deep-nesting", "manifest", _write(MANIFEST, DEEP), MANIFEST, r"nested"),
    Case("manifest-impossible-date", "manifest", _edit(MANIFEST, lambda t: t.replace(
        "created_at:", "created_at: 2026-13-45\nx_created_at:")), MANIFEST, r"month must be in 1\.\.12"),
    Case("manifest-unknown-key", "manifest", _edit(MANIFEST, lambda t: t + "colour: red\n"),
         MANIFEST, r"unknown key 'colour'", "warning"),
    Case("manifest-bad-parent-ref", "manifest", _edit(MANIFEST, lambda t: t + "lineage: {parents: ['../x@1']}\n"),
         MANIFEST, r"invalid model name"),
    # artifacts
    Case("artifact-path-escapes", "artifact", _edit(MANIFEST, lambda t: t.replace(
        "path: artifacts/victim-2.bin", f"path: ../../../../../outside/{SECRET_FILE}")),
         MANIFEST, r"must be relative and stay inside"),
    Case("artifact-absolute-path", "artifact", lambda root, outside: _edit(MANIFEST, lambda t: t.replace(
        "path: artifacts/victim-2.bin", f"path: {outside / SECRET_FILE}"))(root, outside),
         MANIFEST, r"must be relative and stay inside"),
    Case("artifact-symlink-outside", "artifact", _link(f"{VICTIM_V2}/artifacts/victim-2.bin", _secret),
         MANIFEST, r"link"),
    Case("artifact-symlinked-folder", "artifact", _link(f"{VICTIM_V2}/artifacts", lambda root, outside: outside),
         MANIFEST, r"link"),
    Case("artifact-missing", "artifact",
         lambda root, outside: (root / VICTIM_V2 / "artifacts/victim-2.bin").unlink(), MANIFEST, r"missing"),
    Case("artifact-tampered", "artifact", _write(f"{VICTIM_V2}/artifacts/victim-2.bin", "evil weights"),
         "victim-2.bin", r"mismatch", via="verify"),
    # metric tables
    Case("metrics-wrong-schema", "metrics", _write(f"{METRICS}/bad.parquet", lambda r, o: parquet_bytes(
        pa.table({"name": ["auc"], "score": [0.5]}))), f"{METRICS}/bad.parquet", r"missing required column"),
    Case("metrics-wrong-type", "metrics", _write(f"{METRICS}/bad.parquet", lambda r, o: parquet_bytes(
        pa.table({"metric": ["auc"], "value": ["high"]}))), f"{METRICS}/bad.parquet", r"cannot be read as double"),
    Case("metrics-nan", "metrics", _write(f"{METRICS}/bad.parquet", lambda r, o: parquet_bytes(
        pa.table({"metric": ["auc"], "value": [float("nan")]}))), f"{METRICS}/bad.parquet", r"not a finite"),
    Case("metrics-inf", "metrics", _write(f"{METRICS}/bad.parquet", lambda r, o: parquet_bytes(
        pa.table({"metric": ["auc"], "value": [float("-inf")]}))), f"{METRICS}/bad.parquet", r"not a finite"),
    Case("metrics-null-metric", "metrics", _write(f"{METRICS}/bad.parquet", lambda r, o: parquet_bytes(
        pa.table({"metric": pa.array([None], pa.string()), "value": [1.0]}))), f"{METRICS}/bad.parquet",
         r"empty values"),
    Case("metrics-extra-column", "metrics", _write(f"{METRICS}/bad.parquet", lambda r, o: parquet_bytes(
        pa.table({"metric": ["auc"], "value": [1.0], "secret": ["x"]}))), f"{METRICS}/bad.parquet",
         r"unknown column"),
    Case("metrics-duplicate-rows", "metrics", _write(f"{METRICS}/dup.parquet", lambda r, o: parquet_bytes(
        pa.table({"metric": ["loss", "loss"], "value": [1.0, 2.0], "step": [1, 1]}))), METRICS,
         r"2 rows for loss step 1", "warning"),
    Case("metrics-truncated", "metrics", lambda root, outside: _write(
        f"{METRICS}/bad.parquet", parquet_bytes(good_table())[:-40])(root, outside), f"{METRICS}/bad.parquet",
         r"unreadable Parquet|could not be read"),
    Case("metrics-garbage", "metrics", _write(f"{METRICS}/bad.parquet", os.urandom(4096)),
         f"{METRICS}/bad.parquet", r"unreadable Parquet|could not be read"),
    Case("metrics-empty-file", "metrics", _write(f"{METRICS}/bad.parquet", b""), f"{METRICS}/bad.parquet",
         r"unreadable Parquet|could not be read"),
    Case("metrics-not-parquet", "metrics", _write(f"{METRICS}/metrics.csv", "metric,value\nauc,1\n"),
         f"{METRICS}/metrics.csv", r"not a \.parquet", "warning"),
    Case("metrics-symlink-outside", "metrics", _link(f"{METRICS}/stolen.parquet", _secret),
         f"{METRICS}/stolen.parquet", r"symbolic link"),
    # events
    Case("event-missing-version", "event", lambda root, outside: add_event(
        root, "action: promote\nversion: 99\nstage: staging\n"), EVENTS, r"victim@99, which does not exist"),
    Case("event-unknown-action", "event", lambda root, outside: add_event(root, "action: deploy\nversion: 1\n"),
         EVENTS, r"unknown action 'deploy'"),
    Case("event-unknown-stage", "event", lambda root, outside: add_event(
        root, "action: promote\nversion: 1\nstage: prod\n"), EVENTS, r"unknown stage 'prod'"),
    Case("event-unknown-request", "event", lambda root, outside: add_event(
        root, f"action: approve\nversion: 1\nrequest: {event_id()}\n"), EVENTS, r"answers unknown request"),
    Case("event-duplicate-id", "event", lambda root, outside: add_event(
        root, "action: promote\nversion: 2\nstage: staging\n",
        ident=sorted(p.stem for p in (root / EVENTS).iterdir())[0], name=event_id()), EVENTS,
         r"does not match the file name"),
    Case("event-clock-skew", "event", _skewed_event, EVENTS, r"clock skew", "warning"),
    Case("event-bad-id", "event", lambda root, outside: add_event(
        root, "action: promote\nversion: 2\nstage: staging\n", ident="zzz-last-forever"), EVENTS,
         r"is not an event id"),
    Case("event-huge-version", "event", lambda root, outside: add_event(
        root, "action: promote\nversion: 99999999999999999999999\nstage: staging\n"), EVENTS,
         r"'version' must be a positive integer"),
    Case("event-wrong-types", "event", lambda root, outside: add_event(root, "action: promote\nversion: two\n"),
         EVENTS, r"'version' must be a positive integer"),
    Case("event-missing-keys", "event", lambda root, outside: _write(f"{EVENTS}/{event_id()}.yaml",
                                                                     "action: promote\n")(root, outside),
         EVENTS, r"missing required key"),
    Case("event-python-tag", "event", lambda root, outside: add_event(
        root, f"action: promote\nversion: 1\nstage: staging\nreason: {PYTHON_TAG}\n"), EVENTS, r"constructor"),
    Case("event-not-utf8", "event", _write(f"{EVENTS}/{event_id()}.yaml", b"id: x\nby: \xff\n"), EVENTS,
         r"not UTF-8"),
    Case("event-not-yaml-name", "event", _write(f"{EVENTS}/notes.txt", "hello"), f"{EVENTS}/notes.txt",
         r"not an event file", "warning"),
    # folders, links, leftovers
    Case("version-without-manifest", "structure", _write("models/victim/versions/3/metrics/m.parquet",
                                                         lambda r, o: parquet_bytes(good_table())),
         "models/victim/versions/3", r"without manifest\.yaml", "warning"),
    Case("version-folder-leading-zero", "structure", _write("models/victim/versions/02/manifest.yaml", "model: v\n"),
         "models/victim/versions/02", r"positive integer"),
    Case("version-folder-unicode-digits", "structure", _write("models/victim/versions/\u0661/manifest.yaml",
                                                              "model: v\n"),
         "models/victim/versions/\u0661", r"positive integer"),
    Case("version-folder-overflow", "structure", _write(
        "models/victim/versions/99999999999999999999999/manifest.yaml",
        "model: victim\nversion: 99999999999999999999999\ncreated_at: 2026-10-01T00:00:00Z\n"),
         "models/victim/versions/99999999999999999999999", r"positive integer"),
    Case("leftover-temp-file", "structure", _write(f"{EVENTS}/.tmp-{event_id()}.yaml.123.abcd", "id: half"),
         f"{EVENTS}/.tmp-", r"leftover temporary file", "warning"),
    Case("manifest-symlink-outside", "structure", _link(MANIFEST, _secret), MANIFEST, r"symbolic link"),
    Case("model-folder-symlink-outside", "structure", _link("models/evil", lambda root, outside: outside / "evil"),
         "models/evil", r"symbolic link"),
    Case("events-folder-symlink-outside", "structure", _link(EVENTS, lambda root, outside: outside / "events"),
         EVENTS, r"symbolic link"),
    Case("model-names-differ-in-case", "structure", _write("models/VICTIM/versions/1/manifest.yaml",
                                                           "model: VICTIM\nversion: 1\ncreated_at: 2026-10-01\n"),
         "models/", r"'(victim|VICTIM)' only in case"),
    Case("model-folder-reserved-name", "structure", _write("models/con/versions/1/manifest.yaml",
                                                           "model: con\nversion: 1\ncreated_at: 2026-10-01\n"),
         "models/con", r"invalid model folder name"),
    Case("model-folder-invalid-name", "structure", _write("models/bad name!/versions/1/manifest.yaml", "x: 1\n"),
         "models/bad name!", r"invalid model folder name"),
    Case("stray-file-in-model-folder", "structure", _write("models/victim/notes.md", "hi"),
         "models/victim/notes.md", r"unexpected entry", "warning"),
]

KINDS = sorted({case.kind for case in CASES})

# Odd but legal: no error may come of these, and nothing may break (each once broke or could break a reader).
ODDITIES: dict[str, Callable[[Path, Path], None]] = {
    "mixed-type-mapping-keys": _edit(MANIFEST, lambda t: t.replace(
        "params:", "params: {a: {b: [1, {c: .nan}]}, 1: 2, 2026-01-01: x}\nx_params:")),
    "markup-in-a-reason": lambda root, outside: add_event(
        root, "action: promote\nversion: 2\nstage: staging\nreason: '<script>x</script> [y](javascript:z)'\n"),
    "gates-of-any-shape": lambda root, outside: add_event(
        root, "action: promote\nversion: 2\nstage: staging\ngates: [{}, {passed: [1], value: abc, gate: {x: 1}}]\n"),
    "odd-metric-and-dataset-names": _write(f"{METRICS}/odd.parquet", lambda r, o: parquet_bytes(pa.table(
        {"metric": ["a|b[c]", "\u00e9t\u00e9"], "value": [1e308, -0.0], "dataset": ["x|y", ""]}))),
    "binary-date-and-inf-tags": _edit(
        MANIFEST, lambda t: t + "tags: {blob: !!binary aGVsbG8=, when: 2026-01-01, n: .inf}\n"),
    "dataset-version-not-a-string": _edit(
        MANIFEST, lambda t: t + "lineage: {datasets: [{name: d, version: {a: 1}}]}\n"),
    "a-stage-listed-twice-and-a-numeric-stage": _edit("registry.yaml", lambda t: t.replace(
        "  - name: archived\n", "  - name: archived\n  - name: staging\n  - name: '2'\n")),
}


def prepare_outside(outside: Path) -> None:
    """The secret file (atime set to the epoch: any read moves it) and a fake catalog to lure links."""
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / SECRET_FILE
    secret.write_text(SECRET + "\n")
    fake = outside / "evil/versions/1"
    fake.mkdir(parents=True, exist_ok=True)
    (fake / "manifest.yaml").write_text(f"model: evil\nversion: 1\ncreated_at: 2026-10-01\ndescription: {SECRET}\n")
    (outside / "events").mkdir(exist_ok=True)
    (outside / "events" / f"{event_id()}.yaml").write_text(f"reason: {SECRET}\n")
    old = dt.datetime.now().timestamp() - 3600
    for path in [secret, fake / "manifest.yaml", *(outside / "events").iterdir()]:
        os.utime(path, (0, old))


def outside_state(outside: Path) -> dict[str, tuple[float, float, int]]:
    """(atime, mtime, size) of everything under ``outside``: reading or writing there changes it."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(outside):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            stat = path.lstat()
            state[str(path.relative_to(outside))] = (stat.st_atime if path.is_file() else 0, stat.st_mtime,
                                                     stat.st_size)
    return state


def materialize(case: Case, base: Path, where: Path) -> tuple[Path, Path]:
    """Copy the base catalog to ``where/catalog``, add ``where/outside``, apply the case."""
    root, outside = where / "catalog", where / "outside"
    shutil.copytree(base, root, symlinks=True)
    prepare_outside(outside)
    case.build(root, outside)
    return root, outside
