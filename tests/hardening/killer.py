"""Kill a real ``modelreg`` process at every file-system step of one command.

Run as a script: ``python killer.py BASE WORKDIR ARGS_JSON USER [--count-cache]``.  For k = 1, 2, ... it copies the
catalog BASE to WORKDIR/k, forks, and in the child runs ``modelreg --catalog WORKDIR/k ARGS`` with the
file-system calls that write (mkdir, open for writing, fsync, link, rename, replace, unlink, rmdir,
copyfile) counted; just before the k-th one the child reports it and blocks, and this process kills it
with SIGKILL.  The loop ends when a child finishes its command before reaching step k.  Steps inside
``.modelreg/`` (the index build, the same code under every command) are counted only with
``--count-cache``, which the test passes for one command.

Then every killed copy is examined the way a user would after a crash (``observe`` with the readers,
``validate``, ``gc --older-than 0``, and running the command again if it had not taken effect), and one
JSON document is printed for the test to assert on (the checks run here so that the four commands'
examinations use both cores).

Forking after the imports (and before any DuckDB connection exists) keeps each kill to the cost of the
command itself; the child is still a separate process killed by the kernel, which is the point.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import registry_core.cli  # imported before forking, so children start warm
from registry_core import Catalog
from registry_core.format.layout import CACHE_DIR

WRITE_MODES = set("wxa+")


def _install_hooks(stop_at: int, report_fd: int, count_cache: bool) -> None:
    state = {"count": 0, "inside": False}
    cache_fds: set[int] = set()

    def in_cache(name: str, args: tuple) -> bool:
        """Steps of the index build (the same code under every command) are counted for one command only."""
        if count_cache or not args:
            return False
        if name == "fsync":
            return args[0] in cache_fds
        return f"{CACHE_DIR}/" in str(args[0])

    def hooked(name: str, original):
        def wrapper(*args, **kwargs):
            if state["inside"]:
                return original(*args, **kwargs)
            if name == "open":
                mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
                if not (isinstance(mode, str) and WRITE_MODES & set(mode)):
                    return original(*args, **kwargs)
            if in_cache(name, args):
                result = original(*args, **kwargs)
                if name == "open":
                    cache_fds.add(result.fileno())
                return result
            state["count"] += 1
            if state["count"] == stop_at:
                os.write(report_fd, json.dumps([stop_at, name, str(args[0]) if args else ""]).encode() + b"\n")
                time.sleep(3600)  # killed here
            state["inside"] = True
            try:
                return original(*args, **kwargs)
            finally:
                state["inside"] = False
        return wrapper

    for module, name in ((os, "mkdir"), (os, "fsync"), (os, "link"), (os, "rename"), (os, "replace"),
                         (os, "unlink"), (os, "rmdir"), (shutil, "copyfile")):
        setattr(module, name, hooked(name, getattr(module, name)))
    opener = hooked("open", builtins.open)
    builtins.open = opener
    io.open = opener


def _child(catalog: Path, args: list[str], stop_at: int, report_fd: int, count_cache: bool) -> None:
    _install_hooks(stop_at, report_fd, count_cache)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    code = registry_core.cli.main(["--catalog", str(catalog), *args])
    os._exit(code)


def kill_everywhere(base: Path, workdir: Path, args: list[str], count_cache: bool, limit: int = 500) -> dict:
    points = []
    for k in range(1, limit + 1):
        target = workdir / str(k)
        shutil.copytree(base, target, symlinks=True)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_fd)
            try:
                _child(target, args, k, write_fd, count_cache)
            finally:
                os._exit(70)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            line = pipe.readline()
        if line:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            points.append(json.loads(line))
            continue
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return {"points": points, "completed": str(target), "exit": code}
    raise SystemExit(f"the command did not finish within {limit} steps")


def observe(cat: Catalog) -> dict:
    """What readers see, without ids or times (which differ between runs)."""
    rows = cat.sql("""SELECT v.model, v.version, v.stage, (SELECT count(*) FROM metrics m
                      WHERE m.model = v.model AND m.version = v.version) AS metric_rows
                      FROM versions v ORDER BY v.model, v.version""")
    return {
        "events": cat.sql("SELECT count(*) AS n FROM events")[0]["n"],
        "versions": [[r["model"], r["version"], r["stage"], r["metric_rows"]] for r in rows],
        "requests": sorted([r["model"], r["version"], r["stage"], r["approvals"]] for r in cat.requests()),
        "aliases": sorted([r["model"], r["alias"], r["version"]] for r in cat.sql("SELECT * FROM aliases")),
        "artifacts_ok": all(r["ok"] for r in cat.verify()),
    }


def state(seen: dict) -> dict:
    """The observation without the event count (an approval written without its promote event already
    moves the version: the replay treats the last needed approval as the promotion)."""
    return {key: value for key, value in seen.items() if key != "events"}


def problems(cat: Catalog) -> list[list[str]]:
    return sorted([p["path"], p["severity"], p["message"]] for p in cat.validate())


def examine(root: Path, args: list[str], untouched: dict) -> dict:
    """After a crash: what readers see, what validate says, what gc removes, and whether a retry works."""
    from registry_core import Catalog

    cat = Catalog(root)
    found = {"seen": observe(cat), "problems": problems(cat)}
    found["removed"] = cat.gc(older_than_s=0)
    found["seen_after_gc"] = observe(cat)
    found["problems_after_gc"] = problems(cat)
    found["gc_again"] = cat.gc(older_than_s=0)
    if state(found["seen"]) == state(untouched):
        with open(os.devnull, "w") as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                found["retry_exit"] = registry_core.cli.main(["--catalog", str(root), *args])
            finally:
                sys.stdout = stdout
        found["seen_after_retry"] = observe(cat)
    return found


def main(base: Path, workdir: Path, args: list[str], count_cache: bool) -> dict:
    run = kill_everywhere(base, workdir, args, count_cache)
    untouched_copy = workdir / "untouched"
    shutil.copytree(base, untouched_copy, symlinks=True)
    untouched = observe(Catalog(untouched_copy))
    report = {"args": args, "untouched": untouched, "untouched_problems": problems(Catalog(untouched_copy)),
              "exit": run["exit"], "completed": observe(Catalog(Path(run["completed"]))), "kills": []}
    for k, call, path in run["points"]:
        report["kills"].append({"k": k, "call": call, "path": path,
                                **examine(workdir / str(k), args, untouched)})
    return report


if __name__ == "__main__":
    os.environ["MODELREG_USER"] = sys.argv[4]
    report = main(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[5:] == ["--count-cache"])
    print(json.dumps(report, default=str))
