"""The index cache (issue 13, items 3-5): ours only, rebuilt when damaged, never needed to read.

- a ``.modelreg`` that is a link (or not a folder) is never followed: reads use an index in the temp
  folder, ``validate`` reports it, writes are refused, and nothing appears in the link's target;
- every kind of damage to every file of a generation means one warning, a rebuild and right answers,
  and a damaged segment is never carried into the next generation;
- a read-only or full disk (simulated by fault injection in a child process, and a real read-only
  bind mount where the machine allows one) still answers ``list``, ``resolve`` and ``validate``; a
  write says in one line that the catalog is read-only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from registry_core import Catalog
from registry_core.index import generation as index

from .conftest import add_figure

READS = [["list", "--format", "json"], ["resolve", "fraud-detector@production"], ["resolve", "churn@latest"],
         ["list", "fraud-detector", "--format", "json"], ["validate", "--format", "json"]]


def answers(cli, root: Path) -> dict[str, tuple[int, str]]:
    return {" ".join(argv): (r.code, r.out) for argv in READS for r in [cli(*argv, catalog=root)]}


def current(root: Path) -> Path:
    base = root / ".modelreg" / "index"
    return base / (base / "CURRENT").read_text().strip()


# -- 3. the cache is ours and only ours ---------------------------------------------------------------------
def _as_link(root: Path, outside: Path) -> None:
    (root / ".modelreg").symlink_to(outside, target_is_directory=True)


def _as_file(root: Path, outside: Path) -> None:
    (root / ".modelreg").write_text("not a folder")


def _as_link_to_file(root: Path, outside: Path) -> None:
    (outside / "f").write_text("x")
    (root / ".modelreg").symlink_to(outside / "f")


def _as_foreign(root: Path, outside: Path) -> None:
    (root / ".modelreg").mkdir()
    os.chown(root / ".modelreg", 12345, 12345)


NOT_OURS = {"link to a folder": _as_link, "a file": _as_file, "link to a file": _as_link_to_file,
            "owned by another user": _as_foreign}


@pytest.mark.parametrize("kind", sorted(NOT_OURS))
def test_a_cache_that_is_not_ours_is_never_used(kind, cli, fraud_builder, tmp_path):
    if kind == "owned by another user" and os.geteuid() != 0:
        pytest.skip("chown needs root")
    expected = answers(cli, fraud_builder.root)
    shutil.rmtree(fraud_builder.root / ".modelreg")
    outside = tmp_path / "outside"
    (outside / "index" / "g-1-aaaa").mkdir(parents=True)  # an old folder "there" that must survive
    index._MEMOS.clear()
    NOT_OURS[kind](fraud_builder.root, outside)
    got = answers(cli, fraud_builder.root)
    for argv, (code, out) in got.items():
        if argv.startswith("validate"):
            problems = json.loads(out)
            assert code == 1 and [p["path"] for p in problems if p["severity"] == "error"] == [".modelreg"]
        else:
            assert (code, out) == expected[argv], argv
    register = cli("register", "churn", catalog=fraud_builder.root)
    assert register.code == 1 and ".modelreg" in register.err and len(register.err.strip().splitlines()) == 1
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) in (
        ["index", "index/g-1-aaaa"], ["f", "index", "index/g-1-aaaa"])
    add_figure("cache: .modelreg not ours, refused (kinds)", 1)


# -- 4. a damaged cache rebuilds itself ---------------------------------------------------------------------
def _truncate(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(max(1, path.stat().st_size // 2))


def _junk(path: Path) -> None:
    path.write_bytes(b"{junk" + os.urandom(64))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _tail(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-12:-4] = b"\xff" * 8  # the footer's length and the bytes before the magic
    path.write_bytes(bytes(data))


DAMAGE = {"truncated": _truncate, "junk": _junk, "empty": _empty, "footer bytes": _tail}


def _targets(folder: Path) -> list[str]:
    """One file of each kind in a generation: a segment per table, the derived tables, the state."""
    kinds: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        kinds.setdefault(name.split("-")[0] if path.name.count("-") >= 2 else name, name)
    return sorted(kinds.values())


def test_damage_targets_cover_every_kind(fraud_builder):
    Catalog(fraud_builder.root).refresh()
    names = _targets(current(fraud_builder.root))
    for expected in ("stages.parquet", "structure.json", "files.arrow", "dirs.arrow", "meta.json", "state.json"):
        assert expected in names
    assert any(n.startswith("headline-") for n in names) and any(n.startswith("versions-") for n in names)
    assert any(n.startswith("metrics-") for n in names) and any(n.startswith("events-") for n in names)


@pytest.mark.time_limit(300)
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_any_damaged_cache_file_means_one_warning_a_rebuild_and_right_answers(damage, cli, fraud_builder):
    expected = answers(cli, fraud_builder.root)
    template = fraud_builder.root.parent / "template"
    shutil.copytree(fraud_builder.root, template, symlinks=True)
    cases = 0
    for name in _targets(current(template)):
        shutil.rmtree(fraud_builder.root)
        shutil.copytree(template, fraud_builder.root, symlinks=True)
        DAMAGE[damage](current(fraud_builder.root) / name)
        index._MEMOS.clear()  # what a new process meets (the copy restores the same generation's name)
        index._DAMAGED.clear()
        first = cli(*READS[0], catalog=fraud_builder.root)
        assert (first.code, first.out) == expected[" ".join(READS[0])], f"{damage} {name}: {first.err}"
        warned = [line for line in first.err.splitlines() if "rebuilt" in line]
        assert len(warned) <= 1 and first.err.strip() == "\n".join(warned), f"{damage} {name}: {first.err}"
        assert warned, f"{damage} {name}: rebuilt without saying so"
        for argv in (READS[1], READS[4]):
            again = cli(*argv, catalog=fraud_builder.root)
            assert (again.code, again.out) == expected[" ".join(argv)], f"{damage} {name} {argv}"
            assert "rebuilt" not in again.err  # said once
        cases += 1
    add_figure("cache: damaged files rebuilt (file x kind of damage)", cases)


@pytest.mark.parametrize("meta", ["older format", "newer format", "format missing", "not an object",
                                  "generation gone"])
def test_meta_json_of_another_format_rebuilds_silently_and_damage_says_so(meta, cli, fraud_builder):
    """An older INDEX_FORMAT is an upgrade (silent); a meta.json without a format, or a generation that
    CURRENT names but that is gone, is damage (one warning); both answer as a fresh index does."""
    expected = answers(cli, fraud_builder.root)
    folder = current(fraud_builder.root)
    written = json.loads((folder / "meta.json").read_text())
    if meta == "generation gone":
        shutil.rmtree(folder)
    else:
        changed = {"older format": {**written, "format": index.INDEX_FORMAT - 1},
                   "newer format": {**written, "format": index.INDEX_FORMAT + 1},
                   "format missing": {k: v for k, v in written.items() if k != "format"},
                   "not an object": [written]}[meta]
        (folder / "meta.json").write_text(json.dumps(changed))
    index._MEMOS.clear()
    index._DAMAGED.clear()
    first = cli(*READS[0], catalog=fraud_builder.root)
    assert (first.code, first.out) == expected[" ".join(READS[0])], first.err
    warned = [line for line in first.err.splitlines() if "rebuilt" in line]
    if meta.endswith("format"):
        assert first.err == "", first.err
    else:
        assert len(warned) == 1 and first.err.strip() == warned[0] and "meta.json" in warned[0], first.err
    again = cli(*READS[1], catalog=fraud_builder.root)
    assert (again.code, again.out, again.err) == (*expected[" ".join(READS[1])], "")
    assert current(fraud_builder.root) != folder


def test_a_damaged_segment_is_never_carried_into_the_next_generation(fraud_builder, tmp_path):
    """In the same process (no first-open check), a change after the damage builds on the damaged
    generation: the damaged segment must not be linked into the new one."""
    cat = Catalog(fraud_builder.root)
    cat.refresh()
    folder = current(fraud_builder.root)
    segment = next(folder.glob("versions-*.parquet"))
    _truncate(segment)
    fraud_builder.version("churn", 9, "2026-11-20T10:00:00Z", created_by="bob@example.com")
    with pytest.warns(index.CacheRebuilt):
        generation = cat.refresh()
    assert generation.folder != folder
    for path in generation.folder.glob("*.parquet"):
        pq.read_table(path)  # every file of the new generation reads whole
        assert path.stat().st_ino != segment.stat().st_ino
    assert 9 in [v["version"] for v in cat.versions("churn")]


def test_damage_inside_a_segment_found_by_a_query_rebuilds_and_answers(fraud_builder, monkeypatch):
    """Damage the first-open check cannot see (inside a data page) fails a query: rebuilt, asked again."""
    cat = Catalog(fraud_builder.root)
    expected = cat.sql("SELECT model, version FROM versions ORDER BY ALL")
    folder = cat.refresh().folder
    segment = next(folder.glob("versions-*.parquet"))
    real = index.Views.cursor
    calls = []

    class Damaged:
        """A cursor whose query fails as DuckDB does on a damaged data page of ``segment``."""

        def __init__(self, con):
            self.con = con

        def execute(self, *args):
            raise duckdb.IOException(f"Could not read {segment}: corrupt page")

        def close(self):
            self.con.close()

    def failing_once(self):
        con = real(self)
        if not calls:
            calls.append(1)
            return Damaged(con)
        return con

    monkeypatch.setattr(index.Views, "cursor", failing_once)
    with pytest.warns(index.CacheRebuilt):
        got = cat.sql("SELECT model, version FROM versions ORDER BY ALL")
    assert got == expected and cat.refresh().folder != folder


# -- 5. read-only and full disks can still be read ----------------------------------------------------------
FAULTS = """
import errno, os, sys, builtins
import duckdb
import pyarrow.parquet as pq
ROOT = os.path.realpath(sys.argv[1])
CODE = errno.{code}

def inside(path):
    try:
        return os.path.realpath(os.fspath(path)).startswith(ROOT)
    except TypeError:
        return False

def refuse(path):
    raise OSError(CODE, os.strerror(CODE), os.fspath(path))

real_mkdir, real_open, real_bopen, real_write = os.mkdir, os.open, builtins.open, pq.write_table

def mkdir(path, *a, **k):
    if inside(path) and not os.path.isdir(path):
        refuse(path)
    return real_mkdir(path, *a, **k)

def open_(path, flags, *a, **k):
    if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        refuse(path)
    return real_open(path, flags, *a, **k)

def bopen(file, mode="r", *a, **k):
    if isinstance(file, (str, bytes, os.PathLike)) and inside(file) and any(c in mode for c in "wax+"):
        refuse(file)
    return real_bopen(file, mode, *a, **k)

def write_table(table, where, *a, **k):
    if inside(where):
        refuse(where)
    return real_write(table, where, *a, **k)

os.mkdir, os.open, builtins.open, pq.write_table = mkdir, open_, bopen, write_table
from registry_core.cli import main
sys.exit(main(["--catalog", sys.argv[1], *sys.argv[2:]]))
"""


def _run(code: str, root: Path, *argv: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", FAULTS.format(code=code), str(root), *argv], env=env,
                          capture_output=True, text=True, timeout=120)


def _prepare(cli, builder, index_state: str, tmp_path: Path) -> dict[str, tuple[int, str]]:
    """An index on disk that is stale (a version added after it was built) or missing; the answers a
    fresh index gives (on a copy of the catalog)."""
    Catalog(builder.root).refresh()
    if index_state == "missing":
        shutil.rmtree(builder.root / ".modelreg")
    builder.version("churn", 9, "2026-11-20T10:00:00Z", created_by="bob@example.com")
    copy = tmp_path / "copy"
    shutil.copytree(builder.root, copy, symlinks=True, ignore=shutil.ignore_patterns(".modelreg"))
    expected = answers(cli, copy)
    assert '"latest": 9' in expected["list --format json"][1].replace(" ", "").replace('"latest":9', '"latest": 9')
    index._MEMOS.clear()
    return expected


@pytest.mark.time_limit(240)
@pytest.mark.parametrize("code", ["EROFS", "ENOSPC"])
@pytest.mark.parametrize("index_state", ["stale", "missing"])
def test_reads_work_on_a_disk_that_cannot_be_written(code, index_state, cli, fraud_builder, tmp_path):
    expected = _prepare(cli, fraud_builder, index_state, tmp_path)
    before = sorted(p.relative_to(fraud_builder.root) for p in fraud_builder.root.rglob("*"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for argv in READS:
        result = _run(code, fraud_builder.root, *argv, tmp=tmp)
        assert (result.returncode, result.stdout) == expected[" ".join(argv)], f"{argv}: {result.stderr}"
        assert "rror" not in result.stderr, result.stderr
    write = _run(code, fraud_builder.root, "register", "churn", tmp=tmp)
    assert write.returncode == 1 and len(write.stderr.strip().splitlines()) == 1, write.stderr
    assert ("read-only" if code == "EROFS" else "no space left") in write.stderr
    assert sorted(p.relative_to(fraud_builder.root) for p in fraud_builder.root.rglob("*")) == before
    add_figure("read-only/full disk: commands checked (fault injection)", len(READS) + 1)


API_WRITES = """
from registry_core import Catalog
from registry_core.errors import CatalogError
catalog = Catalog(sys.argv[1], user="bob@example.com")
calls = {
    "register": lambda: catalog.register("churn"),
    "log_metrics": lambda: catalog.log_metrics("churn@1", {"auc": 0.5}),
    "promote": lambda: catalog.promote("churn", 1, "staging", reason="try"),
    "alias": lambda: catalog.alias("churn", 1, "best"),
    "describe": lambda: catalog.describe("churn@1", "new words"),
    "tag": lambda: catalog.tag("churn@1", {"team": "x"}),
}
for name, call in calls.items():
    try:
        call()
        print(name, "wrote")
    except CatalogError as exc:
        print(name, "CatalogError", exc)
    except Exception as exc:
        print(name, type(exc).__name__, exc)
"""


@pytest.mark.time_limit(120)
@pytest.mark.parametrize("code", ["EROFS", "ENOSPC", "EDQUOT"])
def test_api_writes_say_the_catalog_is_read_only_or_full(code, fraud_builder, tmp_path):
    """Catalog's write methods raise a CatalogError naming the catalog and the file, not a bare OSError."""
    Catalog(fraud_builder.root).refresh()
    before = sorted(p.relative_to(fraud_builder.root) for p in fraud_builder.root.rglob("*"))
    script = FAULTS.format(code=code).split("from registry_core.cli import main")[0] + API_WRITES
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", script, str(fraud_builder.root)], env=env,
                            capture_output=True, text=True, timeout=100)
    lines = result.stdout.splitlines()
    assert len(lines) == 6, result
    said = "is read-only" if code == "EROFS" else "no space left for"
    for line in lines:
        _call, kind, message = line.split(" ", 2)
        assert kind == "CatalogError", line
        assert f"{fraud_builder.root}" in message and said in message, line
    assert sorted(p.relative_to(fraud_builder.root) for p in fraud_builder.root.rglob("*")) == before
    add_figure("read-only/full disk: API writes checked (fault injection)", len(lines))


def _mount_allowed() -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind / /mnt 2>/dev/null && echo ok"],
                           capture_output=True, text=True) if shutil.which("unshare") else None
    return bool(probe and probe.stdout.strip() == "ok")


@pytest.mark.time_limit(240)
def test_a_real_read_only_bind_mount(cli, fraud_builder, tmp_path):
    """The same on a real read-only mount (a private mount namespace, gone when the child ends)."""
    if not _mount_allowed():
        pytest.skip("mounting is not permitted here (needs root or user namespaces)")
    expected = _prepare(cli, fraud_builder, "stale", tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    root = str(fraud_builder.root)
    script = textwrap.dedent(f"""
        mount --bind {root} {root} && mount -o remount,bind,ro {root} || exit 99
        touch {root}/probe 2>/dev/null && exit 98
        for args in {' '.join("'" + ' '.join(a) + "'" for a in READS)}; do
            modelreg --catalog {root} $args > "{tmp}/out-$(echo $args | tr ' @/' '___')" 2>>"{tmp}/err"
            echo $? >> "{tmp}/codes"
        done
        modelreg --catalog {root} register churn 2> "{tmp}/write-err"; echo $? > "{tmp}/write-code"
    """)
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=200)
    assert done.returncode == 0, done.stderr
    assert (tmp / "codes").read_text().split() == [str(expected[" ".join(a)][0]) for a in READS]
    for argv in READS:
        out = (tmp / f"out-{' '.join(argv).replace(' ', '_').replace('@', '_').replace('/', '_')}").read_text()
        assert out == expected[" ".join(argv)][1], argv
    assert (tmp / "err").read_text() == ""
    assert (tmp / "write-code").read_text().strip() == "1"
    assert "read-only" in (tmp / "write-err").read_text()
    add_figure("read-only bind mount: commands checked", len(READS) + 1)


def test_git_ignores_a_modelreg_link_in_a_new_catalog(empty_catalog, tmp_path):
    """The ignore rule written by ``init`` matches a link too (``.modelreg/`` matched only folders)."""
    root = empty_catalog.root
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".modelreg").rename(tmp_path / "old-cache") if (root / ".modelreg").exists() else None
    (root / ".modelreg").symlink_to(tmp_path, target_is_directory=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    assert ".modelreg" not in status and "registry.yaml" in status
